/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-jobs"

#include "lmd-job-runner.h"

#include "lmd-error.h"
#include "lmd-job-format.h"
#include "lmd-log.h"
#include "lmd-url-fetcher.h"

struct _LmdJobRunner {
  GObject parent_instance;

  LmdJobStore *store;   /* owned ref */
  LmdRouter *router;    /* owned ref */
  LmdJobConfig config;
  guint capacity;       /* jobs transcribed at once, at most */
  guint transcribing;
  guint busy;           /* store calls and callback posts under way */
  gboolean taking;
  gboolean started;
  gboolean stopped;
  guint poll_id;
  guint touch_id;
  gint64 last_take_warning;
  GHashTable *owned;    /* job id → RunJob (owned): jobs taken and not released */
};

G_DEFINE_FINAL_TYPE (LmdJobRunner, lmd_job_runner, G_TYPE_OBJECT)

/* A job this process owns.  At most one operation (transcription, store call, post, retry
 * timer) is under way for it at a time. */
typedef struct {
  LmdJobRunner *runner; /* borrowed: the runner owns the table that owns this */
  LmdJob *job;          /* owned */
  char *document;       /* owned, once transcribed */
  guint attempt;        /* callback posts made */
  guint retry_id;
} RunJob;

static void maybe_take (LmdJobRunner *self);
static void deliver (RunJob *rj);
static void transcribe (RunJob *rj);

static void
run_job_free (RunJob *rj)
{
  if (rj->retry_id != 0)
    g_source_remove (rj->retry_id);
  lmd_job_free (rj->job);
  g_free (rj->document);
  g_free (rj);
}

/* Forgets a job without releasing it: the store hands it out again later. */
static void
drop (RunJob *rj, const char *why)
{
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id, "leaving job %s in the store (%s)",
                   rj->job->id, why);
  g_hash_table_remove (rj->runner->owned, rj->job->id);
}

/* ---- release ------------------------------------------------------------------------------ */

static void
release_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunJob *rj = user_data;
  LmdJobRunner *self = rj->runner;
  g_autoptr (GError) error = NULL;

  self->busy--;
  if (!lmd_job_store_op_finish (LMD_JOB_STORE (source), result, &error))
    LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, rj->job->request_id, "cannot release job %s: %s",
                     rj->job->id, error->message);
  g_hash_table_remove (self->owned, rj->job->id);
  maybe_take (self);
  g_object_unref (self);
}

static void
release (RunJob *rj)
{
  LmdJobRunner *self = rj->runner;

  self->busy++;
  lmd_job_store_release_async (self->store, rj->job->id, release_done, rj);
  g_object_ref (self);
}

/* Forgets a job another process owns now (LMD_JOB_STORE_ERROR_CLAIM_LOST): its result and
 * its callback are that process's; nothing is stored or posted from here. */
static void
forget_lost (RunJob *rj, const GError *error)
{
  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, rj->job->request_id,
                   "job %s was taken over by another process while this one did not renew its "
                   "claim (stopped or stalled): dropping its result, no callback from here (%s)",
                   rj->job->id, error->message);
  g_hash_table_remove (rj->runner->owned, rj->job->id);
}

/* ---- callback delivery -------------------------------------------------------------------- */

typedef struct {
  char *url;
  char *method;
  char *document;
  LmdFetchLimits limits;
} Post;

static void
post_free (Post *post)
{
  g_free (post->url);
  g_free (post->method);
  g_free (post->document);
  g_free (post);
}

static void
post_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Post *post = data;
  GError *error = NULL;
  guint status = lmd_url_send_json (post->url, post->method, post->document, &post->limits, &error);

  if (status == 0)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, status);
}

static gboolean
retry_cb (gpointer data)
{
  RunJob *rj = data;

  rj->retry_id = 0;
  deliver (rj);
  return G_SOURCE_REMOVE;
}

static void
post_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunJob *rj = user_data;
  LmdJobRunner *self = rj->runner;
  g_autoptr (GError) error = NULL;
  gssize status = g_task_propagate_int (G_TASK (result), &error);
  guint64 wait_s;

  self->busy--;
  if (status >= 200 && status < 300)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id,
                       "callback of job %s delivered (attempt %u, HTTP %d)", rj->job->id,
                       rj->attempt, (int) status);
      release (rj);
      goto out;
    }
  if (rj->attempt >= self->config.callback_attempts)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, rj->job->request_id,
                       "giving up the callback of job %s after %u attempts (last: %s)",
                       rj->job->id, rj->attempt, error != NULL ? error->message : "");
      if (error == NULL)
        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, rj->job->request_id, "the last answer was HTTP %d",
                         (int) status);
      release (rj);
      goto out;
    }
  if (self->stopped)
    {
      drop (rj, "shutting down before the callback was delivered");
      goto out;
    }
  wait_s = self->config.callback_backoff_s;
  for (guint i = 1; i < rj->attempt && wait_s < self->config.callback_backoff_max_s; i++)
    wait_s *= 2;
  wait_s = MIN (wait_s, (guint64) self->config.callback_backoff_max_s);
  if (error != NULL)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id,
                     "callback of job %s failed (attempt %u: %s); retrying in %" G_GUINT64_FORMAT " s",
                     rj->job->id, rj->attempt, error->message, wait_s);
  else
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id,
                     "callback of job %s answered HTTP %d (attempt %u); retrying in %" G_GUINT64_FORMAT " s",
                     rj->job->id, (int) status, rj->attempt, wait_s);
  rj->retry_id = g_timeout_add ((guint) (wait_s * 1000), retry_cb, rj);
out:
  g_object_unref (self);
}

static void
post (RunJob *rj)
{
  LmdJobRunner *self = rj->runner;
  const LmdLimits *limits = lmd_router_get_limits (self->router);
  g_autoptr (GTask) task = NULL;
  Post *post;

  post = g_new0 (Post, 1);
  post->url = g_strdup (rj->job->callback_url);
  post->method = g_strdup (g_strcmp0 (rj->job->callback_method, "PUT") == 0 ? "PUT" : "POST");
  post->document = g_strdup (rj->document);
  post->limits.timeout_s = self->config.callback_timeout_s;
  post->limits.allow_private = limits->allow_private_urls;
  rj->attempt++;
  self->busy++;
  g_object_ref (self);
  task = g_task_new (NULL, NULL, post_done, rj);
  g_task_set_task_data (task, post, (GDestroyNotify) post_free);
  g_task_run_in_thread (task, post_thread);
}

/* The claim is checked (and renewed) right before each post: an owner that was stopped while
 * its job was handed over posts nothing. */
static void
fence_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunJob *rj = user_data;
  LmdJobRunner *self = rj->runner;
  g_autoptr (GError) error = NULL;

  self->busy--;
  if (lmd_job_store_op_finish (LMD_JOB_STORE (source), result, &error))
    post (rj);
  else if (g_error_matches (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST))
    forget_lost (rj, error);
  else
    {
      /* the store cannot say (unreachable): post all the same, at least once */
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id,
                       "cannot renew the claim of job %s before its callback (%s); posting it",
                       rj->job->id, error->message);
      post (rj);
    }
  g_object_unref (self);
}

static void
deliver (RunJob *rj)
{
  LmdJobRunner *self = rj->runner;

  self->busy++;
  g_object_ref (self); /* unref in fence_done */
  lmd_job_store_touch_async (self->store, rj->job->id, fence_done, rj);
}

/* ---- transcription ------------------------------------------------------------------------ */

static void
complete_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunJob *rj = user_data;
  LmdJobRunner *self = rj->runner;
  g_autoptr (GError) error = NULL;

  self->busy--;
  if (!lmd_job_store_op_finish (LMD_JOB_STORE (source), result, &error))
    {
      if (g_error_matches (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST))
        forget_lost (rj, error);
      else
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, rj->job->request_id, "cannot store the result of job %s: %s",
                           rj->job->id, error->message);
          drop (rj, "its result could not be stored");
        }
    }
  else
    deliver (rj); /* also while shutting down: one attempt, no retries */
  g_object_unref (self);
}

static gboolean
transcribe_again_cb (gpointer data)
{
  RunJob *rj = data;

  rj->retry_id = 0;
  if (rj->runner->stopped)
    drop (rj, "shutting down");
  else
    transcribe (rj);
  return G_SOURCE_REMOVE;
}

static void
transcribe_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RunJob *rj = user_data;
  LmdJobRunner *self = rj->runner;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTranscript) transcript = lmd_router_transcribe_finish (LMD_ROUTER (source), result, &error);

  self->transcribing--;
  if (transcript == NULL && (self->stopped || lmd_router_is_draining (self->router)) &&
      (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
       g_error_matches (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE)))
    {
      drop (rj, "shutting down");
      goto out;
    }
  if (transcript == NULL && g_error_matches (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE))
    {
      /* the router filled up with other requests meanwhile: the job waits its turn */
      rj->retry_id = g_timeout_add (self->config.poll_ms, transcribe_again_cb, rj);
      goto out;
    }
  /* the job's own document, or its dialect's (lmd-job-format.h) */
  rj->document = lmd_job_format_write (rj->job, transcript, error);
  if (transcript != NULL)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id, "job %s completed (%.2f s of audio)",
                     rj->job->id, transcript->duration);
  else
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id, "job %s failed: %s %s", rj->job->id,
                     lmd_error_code_name (lmd_error_classify (error)), error->message);
  self->busy++;
  g_object_ref (self);
  lmd_job_store_complete_async (self->store, rj->job->id, rj->document, complete_done, rj);
out:
  maybe_take (self);
  g_object_unref (self);
}

static void
transcribe (RunJob *rj)
{
  LmdJobRunner *self = rj->runner;
  LmdTranscribeRequest *request = lmd_transcribe_request_new (rj->job->request_id);

  request->audio = rj->job->audio != NULL ? g_bytes_ref (rj->job->audio) : NULL;
  request->url = g_strdup (rj->job->url);
  lmd_transcribe_options_clear (&request->options);
  lmd_transcribe_options_copy (&request->options, &rj->job->options);
  self->transcribing++;
  g_object_ref (self);
  lmd_router_transcribe_async (self->router, request, NULL, transcribe_done, rj);
}

/* ---- taking jobs -------------------------------------------------------------------------- */

static void
take_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LmdJobRunner *self = user_data;
  g_autoptr (GError) error = NULL;
  LmdJob *job = lmd_job_store_take_finish (self->store, result, &error);
  RunJob *rj;

  self->busy--;
  self->taking = FALSE;
  if (job == NULL)
    {
      /* a store that is unreachable is said so once a minute, not at every poll */
      if (error != NULL && g_get_monotonic_time () - self->last_take_warning > 60 * G_USEC_PER_SEC)
        {
          self->last_take_warning = g_get_monotonic_time ();
          g_warning ("cannot take jobs from the %s store: %s", lmd_job_store_get_name (self->store),
                     error->message);
        }
      goto out;
    }
  if (self->stopped || g_hash_table_contains (self->owned, job->id))
    {
      lmd_job_free (job);
      goto out;
    }
  rj = g_new0 (RunJob, 1);
  rj->runner = self;
  rj->job = job;
  g_hash_table_insert (self->owned, job->id, rj);
  if (job->document != NULL)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, job->request_id,
                       "took job %s, finished already: delivering its callback", job->id);
      rj->document = g_steal_pointer (&job->document);
      deliver (rj);
    }
  else
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, job->request_id, "took job %s (%s)", job->id,
                       job->url != NULL ? "audio URL" : "stored audio");
      transcribe (rj);
    }
  maybe_take (self);
out:
  g_object_unref (self);
}

static void
maybe_take (LmdJobRunner *self)
{
  const LmdLimits *limits = lmd_router_get_limits (self->router);

  if (!self->started || self->stopped || self->taking || lmd_router_is_draining (self->router))
    return;
  if (self->transcribing >= self->capacity ||
      lmd_router_get_active (self->router) + lmd_router_get_queued (self->router) >= limits->workers)
    return;
  self->taking = TRUE;
  self->busy++;
  lmd_job_store_take_async (self->store, take_done, g_object_ref (self));
}

static gboolean
poll_cb (gpointer data)
{
  maybe_take (data);
  return G_SOURCE_CONTINUE;
}

static void
touch_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LmdJobRunner *self = user_data;
  g_autoptr (GError) error = NULL;

  self->busy--;
  if (lmd_job_store_op_finish (LMD_JOB_STORE (source), result, &error))
    ;
  else if (g_error_matches (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST))
    g_info ("%s; its result will not be stored from here", error->message); /* complete() refuses it */
  else
    g_warning ("cannot renew a job's claim: %s", error->message);
  g_object_unref (self);
}

static gboolean
touch_cb (gpointer data)
{
  LmdJobRunner *self = data;
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->owned);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      self->busy++;
      lmd_job_store_touch_async (self->store, key, touch_done, g_object_ref (self));
    }
  return G_SOURCE_CONTINUE;
}

/* ---- public ------------------------------------------------------------------------------- */

LmdJobRunner *
lmd_job_runner_new (LmdJobStore *store, LmdRouter *router, GKeyFile *config, GError **error)
{
  g_autoptr (LmdJobRunner) self = g_object_new (LMD_TYPE_JOB_RUNNER, NULL);

  if (!lmd_job_config_load (&self->config, config, error))
    return NULL;
  self->store = g_object_ref (store);
  self->router = g_object_ref (router);
  self->capacity = MAX (lmd_router_get_limits (router)->workers, 1u);
  return g_steal_pointer (&self);
}

void
lmd_job_runner_start (LmdJobRunner *self)
{
  if (self->started)
    return;
  self->started = TRUE;
  self->poll_id = g_timeout_add (self->config.poll_ms, poll_cb, self);
  self->touch_id = g_timeout_add_seconds (MAX (self->config.claim_timeout_s / 3, 1u), touch_cb, self);
  g_info ("running jobs from the %s store, up to %u at once", lmd_job_store_get_name (self->store),
          self->capacity);
  maybe_take (self);
}

void
lmd_job_runner_stop (LmdJobRunner *self)
{
  GHashTableIter iter;
  gpointer value;

  if (self->stopped)
    return;
  self->stopped = TRUE;
  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->touch_id, g_source_remove);
  /* jobs waiting for a retry stay in the store: the next owner delivers them */
  g_hash_table_iter_init (&iter, self->owned);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      RunJob *rj = value;
      if (rj->retry_id != 0)
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, rj->job->request_id,
                           "leaving job %s in the store (shutting down)", rj->job->id);
          g_hash_table_iter_remove (&iter);
        }
    }
}

guint
lmd_job_runner_get_busy (LmdJobRunner *self)
{
  return self->busy + self->transcribing;
}

static void
lmd_job_runner_dispose (GObject *object)
{
  LmdJobRunner *self = LMD_JOB_RUNNER (object);

  g_clear_handle_id (&self->poll_id, g_source_remove);
  g_clear_handle_id (&self->touch_id, g_source_remove);
  if (self->owned != NULL)
    g_hash_table_remove_all (self->owned);
  G_OBJECT_CLASS (lmd_job_runner_parent_class)->dispose (object);
}

static void
lmd_job_runner_finalize (GObject *object)
{
  LmdJobRunner *self = LMD_JOB_RUNNER (object);

  g_clear_pointer (&self->owned, g_hash_table_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->router);
  lmd_job_config_clear (&self->config);
  G_OBJECT_CLASS (lmd_job_runner_parent_class)->finalize (object);
}

static void
lmd_job_runner_class_init (LmdJobRunnerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lmd_job_runner_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_job_runner_finalize;
}

static void
lmd_job_runner_init (LmdJobRunner *self)
{
  self->owned = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) run_job_free);
}
