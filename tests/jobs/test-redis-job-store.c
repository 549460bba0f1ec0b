/* SPDX-License-Identifier: MIT */
/*
 * test-redis-job-store.c — the Redis job store's fencing of an owner that was stopped while
 * its job was handed to another process (lmd-job-store.h), on a real redis-server on a
 * loopback port, with two stores standing for two processes ([jobs] claim_timeout_s = 1).
 *
 *   /job-store/redis/fence-complete  A takes a job and goes silent; B takes it over; A's touch()
 *                                    and complete() fail with CLAIM_LOST and store nothing;
 *                                    B completes and releases it
 *   /job-store/redis/fence-callback  A completes and goes silent before its callback; B takes
 *                                    the job over with A's document; A's touch() before the post
 *                                    fails with CLAIM_LOST; B's succeeds
 */
#include <string.h>

#include "lmd-job.h"
#include "lmd-redis-job-store.h"
#include "lmd-test-redis.h"

static guint redis_port;

static LmdJobStore *
open_store (void)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autofree char *url = g_strdup_printf ("redis://127.0.0.1:%u", redis_port);
  g_autoptr (GError) error = NULL;
  LmdJobStore *store = g_object_new (LMD_TYPE_REDIS_JOB_STORE, NULL);

  g_key_file_set_string (config, "redis", "url", url);
  g_key_file_set_string (config, "redis", "prefix", "lmdtest:");
  g_key_file_set_string (config, "jobs", "claim_timeout_s", "1");
  g_assert_true (lmd_job_store_setup (store, config, &error));
  g_assert_no_error (error);
  return store;
}

static LmdJob *
make_job (void)
{
  LmdJob *job = lmd_job_new ("req-fence", "http://127.0.0.1:9/hook");

  job->audio = g_bytes_new_static ("audio", 5);
  job->options.callback_url = g_strdup (job->callback_url);
  return job;
}

/* waits past claim_timeout_s (1 s) without touching */
static void
go_silent (void)
{
  g_usleep (1300 * 1000);
}

static void
test_fence_complete (void)
{
  g_autoptr (LmdJobStore) a = open_store ();
  g_autoptr (LmdJobStore) b = open_store ();
  g_autoptr (LmdJob) job = make_job ();
  g_autoptr (LmdJob) taken_a = NULL;
  g_autoptr (LmdJob) taken_b = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *doc = NULL;

  g_assert_true (lmd_job_store_submit (a, job, &error));
  taken_a = lmd_job_store_take (a, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (taken_a->id, ==, job->id);
  g_assert_true (lmd_job_store_touch (a, job->id, &error));
  g_assert_no_error (error);

  go_silent ();
  taken_b = lmd_job_store_take (b, &error);
  g_assert_no_error (error);
  g_assert_nonnull (taken_b);
  g_assert_cmpstr (taken_b->id, ==, job->id);
  g_assert_nonnull (taken_b->audio);

  /* A runs again: fenced */
  g_assert_false (lmd_job_store_touch (a, job->id, &error));
  g_assert_error (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST);
  g_clear_error (&error);
  g_assert_false (lmd_job_store_complete (a, job->id, "{\"job_id\":\"a\",\"status\":\"completed\"}", &error));
  g_assert_error (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST);
  g_clear_error (&error);
  doc = lmd_job_store_lookup (b, job->id, &error);
  {
    g_autofree char *processing = lmd_job_document_processing (job->id);
    g_assert_cmpstr (doc, ==, processing);
  }

  /* B owns it: touch, complete, release */
  g_assert_true (lmd_job_store_touch (b, job->id, &error));
  g_assert_true (lmd_job_store_complete (b, job->id, "{\"job_id\":\"b\",\"status\":\"completed\"}", &error));
  g_assert_true (lmd_job_store_release (b, job->id, &error));
  g_assert_no_error (error);
  g_free (doc);
  doc = lmd_job_store_lookup (a, job->id, &error);
  g_assert_cmpstr (doc, ==, "{\"job_id\":\"b\",\"status\":\"completed\"}");
  /* nothing is handed out again */
  go_silent ();
  g_assert_null (lmd_job_store_take (a, &error));
  g_assert_null (lmd_job_store_take (b, &error));
  g_assert_no_error (error);
}

static void
test_fence_callback (void)
{
  g_autoptr (LmdJobStore) a = open_store ();
  g_autoptr (LmdJobStore) b = open_store ();
  g_autoptr (LmdJob) job = make_job ();
  g_autoptr (LmdJob) taken_a = NULL;
  g_autoptr (LmdJob) taken_b = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (lmd_job_store_submit (a, job, &error));
  taken_a = lmd_job_store_take (a, &error);
  g_assert_cmpstr (taken_a->id, ==, job->id);
  g_assert_true (lmd_job_store_complete (a, job->id, "{\"job_id\":\"a\",\"status\":\"completed\"}", &error));
  g_assert_no_error (error);

  go_silent ();
  taken_b = lmd_job_store_take (b, &error);
  g_assert_no_error (error);
  g_assert_nonnull (taken_b);
  g_assert_cmpstr (taken_b->document, ==, "{\"job_id\":\"a\",\"status\":\"completed\"}");

  /* the check before A's post */
  g_assert_false (lmd_job_store_touch (a, job->id, &error));
  g_assert_error (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST);
  g_clear_error (&error);
  /* B's post goes ahead, then B releases */
  g_assert_true (lmd_job_store_touch (b, job->id, &error));
  g_assert_true (lmd_job_store_release (b, job->id, &error));
  g_assert_no_error (error);
  go_silent ();
  g_assert_null (lmd_job_store_take (a, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  GSubprocess *redis;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* the store warns of each job it reclaims: expected here */
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  redis_port = lmd_test_free_port ();
  redis = lmd_test_redis_start (redis_port, NULL);
  if (redis == NULL)
    {
      g_test_skip ("redis-server is not installed");
      return g_test_run ();
    }
  g_test_add_func ("/job-store/redis/fence-complete", test_fence_complete);
  g_test_add_func ("/job-store/redis/fence-callback", test_fence_callback);
  status = g_test_run ();
  lmd_test_redis_stop (redis);
  return status;
}
