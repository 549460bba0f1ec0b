/* SPDX-License-Identifier: MIT */
/*
 * test-job-store.c — LmdJob and the built-in LmdLocalJobStore on a real directory: job
 * descriptions round-trip, bounds, one process per spool, resuming after a reopen, documents.
 */
#include <glib/gstdio.h>
#include <utime.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-job.h"
#include "lmd-local-job-store.h"
#include "lmd-test-fixtures.h"

static GKeyFile *
spool_config (const char *dir, const char *extra)
{
  GKeyFile *config = g_key_file_new ();
  g_autofree char *text = g_strdup_printf ("[jobs]\ndir=%s\n%s", dir, extra != NULL ? extra : "");
  g_autoptr (GError) error = NULL;

  g_key_file_load_from_data (config, text, -1, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  return config;
}

static LmdJobStore *
open_store (GKeyFile *config, GError **error)
{
  LmdJobStore *store = LMD_JOB_STORE (lmd_local_job_store_new ());

  if (!lmd_job_store_setup (store, config, error))
    g_clear_object (&store);
  return store;
}

static LmdJob *
make_job (const char *audio)
{
  LmdJob *job = lmd_job_new ("req-test", "https://example.com/hook");

  job->audio = g_bytes_new (audio, strlen (audio));
  g_free (job->options.language);
  job->options.language = g_strdup ("de");
  job->options.word_timestamps = TRUE;
  job->options.callback_url = g_strdup (job->callback_url);
  return job;
}

/* A dialect's job (a Deepgram callback) keeps its result format, arguments and method
 * through the store, so the process that runs it writes the dialect's document. */
static void
test_job_meta_format (void)
{
  g_autoptr (LmdJob) job = make_job ("abc");
  g_autofree char *meta = NULL;
  g_autoptr (LmdJob) back = NULL;
  g_autoptr (GError) error = NULL;

  job->callback_method = g_strdup ("PUT");
  job->result_format = g_strdup ("deepgram");
  job->result_args = g_strdup ("model=nova-3&utterances=true&keyterm=a%20b");
  job->options.multichannel = TRUE;
  job->options.hash_audio = TRUE;
  meta = lmd_job_to_meta_json (job);
  back = lmd_job_from_meta_json (meta, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->callback_method, ==, "PUT");
  g_assert_cmpstr (back->result_format, ==, "deepgram");
  g_assert_cmpstr (back->result_args, ==, "model=nova-3&utterances=true&keyterm=a%20b");
  g_assert_true (back->options.multichannel);
  g_assert_true (back->options.hash_audio);
}

static void
test_job_meta (void)
{
  g_autoptr (LmdJob) job = make_job ("abc");
  g_autofree char *meta = NULL;
  g_autoptr (LmdJob) back = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (lmd_job_id_is_valid (job->id));
  g_assert_false (lmd_job_id_is_valid ("job_../../etc/passwd"));
  g_assert_false (lmd_job_id_is_valid ("job_0123456789ABCDEF0123456789ABCDEF"));
  g_assert_false (lmd_job_id_is_valid (NULL));
  job->url = g_strdup ("https://example.com/a.wav");
  meta = lmd_job_to_meta_json (job);
  back = lmd_job_from_meta_json (meta, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->id, ==, job->id);
  g_assert_cmpstr (back->request_id, ==, "req-test");
  g_assert_cmpstr (back->callback_url, ==, "https://example.com/hook");
  g_assert_cmpstr (back->url, ==, "https://example.com/a.wav");
  g_assert_cmpstr (back->options.language, ==, "de");
  g_assert_true (back->options.word_timestamps);
  g_assert_true (back->options.punctuate);
  g_assert_null (back->audio);
  /* a job of the project's own shape names no result format */
  g_assert_null (back->callback_method);
  g_assert_null (back->result_format);
  g_assert_null (back->result_args);
  g_assert_null (lmd_job_from_meta_json ("{\"id\":\"job_x\"}", NULL));
  g_assert_null (lmd_job_from_meta_json ("[1,2]", NULL));
  g_assert_null (lmd_job_from_meta_json ("not json", NULL));
}

/* A stored job whose members are of the wrong kind (a hand-edited spool file, a Redis value
 * written by something else) is read with defaults for those members, without GLib criticals
 * (fatal in tests); found by fuzz/fuzz-job.c. */
static void
test_job_meta_wrong_kinds (void)
{
  static const char *const documents[] = {
    "{\"id\":\"job_0123456789abcdef0123456789abcdef\",\"callback_url\":\"https://e.x/h\"}",
    "{\"id\":\"job_0123456789abcdef0123456789abcdef\",\"callback_url\":\"https://e.x/h\","
    "\"options\":[1],\"created_us\":[2]}",
    "{\"id\":\"job_0123456789abcdef0123456789abcdef\",\"callback_url\":\"https://e.x/h\","
    "\"created_us\":{},\"options\":{\"punctuate\":[],\"diarize\":{},\"beam_size\":[3],"
    "\"num_speakers\":\"two\",\"vad\":[true],\"vad_threshold\":{\"x\":1}}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (documents); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (LmdJob) job = lmd_job_from_meta_json (documents[i], &error);

      g_assert_no_error (error);
      g_assert_cmpstr (job->id, ==, "job_0123456789abcdef0123456789abcdef");
      g_assert_cmpint (job->created_at, ==, 0);
      g_assert_true (job->options.punctuate);
      g_assert_false (job->options.diarize);
      g_assert_cmpint (job->options.beam_size, ==, 0);
      g_assert_cmpint (job->options.num_speakers, ==, 0);
      g_assert_cmpint (job->options.vad.enabled, !=, 1);
    }
}

static void
test_job_documents (void)
{
  g_autofree char *processing = lmd_job_document_processing ("job_1");
  g_autofree char *completed = lmd_job_document_completed ("job_1", "{\"text\":\"hi\"}");
  g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                                          "url" LMD_ERROR_PARAM_SEPARATOR "could not fetch");
  g_autofree char *failed = lmd_job_document_failed ("job_1", error);

  g_assert_cmpstr (processing, ==, "{\"job_id\":\"job_1\",\"status\":\"processing\"}");
  g_assert_cmpstr (completed, ==, "{\"job_id\":\"job_1\",\"status\":\"completed\",\"result\":{\"text\":\"hi\"}}");
  g_assert_cmpstr (failed, ==, "{\"job_id\":\"job_1\",\"status\":\"failed\",\"error\":\"could not fetch\","
                               "\"code\":\"INVALID_PARAMETER\",\"param\":\"url\"}");
}

static void
test_local_lifecycle (void)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-spool-XXXXXX", NULL);
  g_autoptr (GKeyFile) config = spool_config (dir, NULL);
  g_autoptr (GError) error = NULL;
  LmdJobStore *store = open_store (config, &error);
  g_autoptr (LmdJob) first = make_job ("first audio");
  g_autoptr (LmdJob) second = make_job ("second audio");
  g_autoptr (LmdJob) taken = NULL;
  g_autofree char *doc = NULL;

  g_assert_no_error (error);
  g_assert_null (lmd_job_store_lookup (store, first->id, &error));
  g_assert_no_error (error);
  g_assert_true (lmd_job_store_submit (store, first, &error));
  g_assert_true (lmd_job_store_submit (store, second, &error));
  g_assert_no_error (error);
  doc = lmd_job_store_lookup (store, first->id, &error);
  {
    g_autofree char *expected = lmd_job_document_processing (first->id);
    g_assert_cmpstr (doc, ==, expected);
  }

  /* the first is taken and completed; then the process "dies" (the store is dropped) */
  taken = lmd_job_store_take (store, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (taken->id, ==, first->id);
  g_assert_cmpmem (g_bytes_get_data (taken->audio, NULL), g_bytes_get_size (taken->audio), "first audio", 11);
  g_assert_cmpstr (taken->options.language, ==, "de");
  g_assert_true (lmd_job_store_complete (store, first->id, "{\"job_id\":\"x\",\"status\":\"completed\"}", &error));
  g_clear_object (&store);

  /* reopened: both resume in order; the first with its document (callback only) */
  store = open_store (config, &error);
  g_assert_no_error (error);
  g_clear_pointer (&taken, lmd_job_free);
  taken = lmd_job_store_take (store, &error);
  g_assert_cmpstr (taken->id, ==, first->id);
  g_assert_cmpstr (taken->document, ==, "{\"job_id\":\"x\",\"status\":\"completed\"}");
  g_assert_null (taken->audio);
  g_assert_true (lmd_job_store_release (store, first->id, &error));
  g_clear_pointer (&taken, lmd_job_free);
  taken = lmd_job_store_take (store, &error);
  g_assert_cmpstr (taken->id, ==, second->id);
  g_assert_nonnull (taken->audio);
  g_clear_pointer (&taken, lmd_job_free);
  g_assert_null (lmd_job_store_take (store, &error));
  g_assert_no_error (error);
  /* a released job's document stays until its TTL */
  g_free (doc);
  doc = lmd_job_store_lookup (store, first->id, &error);
  g_assert_cmpstr (doc, ==, "{\"job_id\":\"x\",\"status\":\"completed\"}");
  g_clear_object (&store);
  lmd_test_rm_rf (dir);
}

static void
test_local_bounds (void)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-spool-XXXXXX", NULL);
  g_autoptr (GKeyFile) config = spool_config (dir, "max_pending=2\nmax_mb=1\n");
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdJobStore) store = open_store (config, &error);
  g_autoptr (LmdJobStore) second = NULL;
  g_autoptr (LmdJob) a = make_job ("a");
  g_autoptr (LmdJob) b = make_job ("b");
  g_autoptr (LmdJob) c = make_job ("c");
  g_autoptr (LmdJob) big = lmd_job_new ("req-big", "https://example.com/hook");
  g_autoptr (LmdJob) half = lmd_job_new ("req-half", "https://example.com/hook");
  g_autoptr (LmdJob) taken = NULL;

  g_assert_no_error (error);
  /* one process per spool */
  second = open_store (config, &error);
  g_assert_null (second);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "in use"));
  g_clear_error (&error);

  big->audio = g_bytes_new_take (g_malloc0 (2 * 1024 * 1024), 2 * 1024 * 1024);
  g_assert_false (lmd_job_store_submit (store, big, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
  g_clear_error (&error);

  half->audio = g_bytes_new_take (g_malloc0 (700 * 1024), 700 * 1024);
  g_assert_true (lmd_job_store_submit (store, half, &error));
  g_assert_false (lmd_job_store_submit (store, half, &error)); /* 1.4 MB in all */
  g_assert_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE);
  g_clear_error (&error);
  g_assert_true (lmd_job_store_submit (store, a, &error));
  g_assert_false (lmd_job_store_submit (store, b, &error)); /* max_pending */
  g_assert_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE);
  g_clear_error (&error);
  /* completing frees the audio bytes, releasing frees the slot */
  taken = lmd_job_store_take (store, &error);
  g_assert_cmpstr (taken->id, ==, half->id);
  g_assert_true (lmd_job_store_complete (store, half->id, "{}", &error));
  g_assert_true (lmd_job_store_release (store, half->id, &error));
  g_assert_true (lmd_job_store_submit (store, c, &error));
  g_assert_no_error (error);
  g_clear_object (&store);
  lmd_test_rm_rf (dir);
}

static void
test_local_expiry (void)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-spool-XXXXXX", NULL);
  g_autoptr (GKeyFile) config = spool_config (dir, "result_ttl_s=1\n");
  g_autoptr (GError) error = NULL;
  LmdJobStore *store = open_store (config, &error);
  g_autoptr (LmdJob) job = make_job ("x");
  g_autoptr (LmdJob) taken = NULL;
  g_autofree char *done = NULL;

  g_assert_true (lmd_job_store_submit (store, job, &error));
  taken = lmd_job_store_take (store, &error);
  g_assert_true (lmd_job_store_complete (store, job->id, "{}", &error));
  g_assert_true (lmd_job_store_release (store, job->id, &error));
  g_clear_object (&store);
  /* a document older than the TTL is gone after a reopen */
  done = g_strdup_printf ("%s/done/%s.json", dir, job->id);
  {
    struct utimbuf old = { 0, 0 };
    g_assert_cmpint (g_utime (done, &old), ==, 0);
  }
  store = open_store (config, &error);
  g_assert_null (lmd_job_store_lookup (store, job->id, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (done, G_FILE_TEST_EXISTS));
  g_clear_object (&store);
  lmd_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/job/meta", test_job_meta);
  g_test_add_func ("/job/meta-format", test_job_meta_format);
  g_test_add_func ("/job/meta-wrong-kinds", test_job_meta_wrong_kinds);
  g_test_add_func ("/job/documents", test_job_documents);
  g_test_add_func ("/job-store/local/lifecycle", test_local_lifecycle);
  g_test_add_func ("/job-store/local/bounds", test_local_bounds);
  g_test_add_func ("/job-store/local/expiry", test_local_expiry);
  return g_test_run ();
}
