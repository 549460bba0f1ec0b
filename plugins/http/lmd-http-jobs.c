/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-jobs.h"

#include <string.h>

#include "lmd-error.h"
#include "lmd-http-call.h"
#include "lmd-http-job-lookup.h"
#include "lmd-http-response.h"
#include "lmd-job.h"
#include "lmd-job-store.h"
#include "lmd-log.h"
#include "lmd-url-fetcher.h"

/* What the job store's callbacks need. */
typedef struct {
  LmdHttpTransport *self;   /* owned ref */
  SoupServerMessage *msg;   /* owned ref */
  LmdHttpCall *call;        /* borrowed: lives as long as msg */
  char *job_id;             /* owned */
} PendingJob;

static void
pending_job_finish (PendingJob *pending)
{
  lmd_http_transport_end_work (pending->self);
  if (!pending->call->disconnected)
    lmd_http_call_resume (pending->msg);
  g_free (pending->job_id);
  g_object_unref (pending->msg);
  g_object_unref (pending->self);
  g_free (pending);
}

static PendingJob *
pending_job_new (LmdHttpTransport *self, SoupServerMessage *msg, const char *job_id)
{
  PendingJob *pending = g_new0 (PendingJob, 1);

  pending->self = g_object_ref (self);
  pending->msg = g_object_ref (msg);
  pending->call = lmd_http_call_get (msg);
  pending->job_id = g_strdup (job_id);
  lmd_http_transport_begin_work (self);
  lmd_http_call_hold (msg);
  return pending;
}

static void
job_submitted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingJob *pending = user_data;
  g_autoptr (GError) error = NULL;

  if (!lmd_job_store_submit_finish (LMD_JOB_STORE (source), result, &error))
    lmd_http_call_respond_error (pending->msg, error, 0);
  else
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, pending->call->request_id, "accepted job %s (%s store)",
                       pending->job_id, lmd_job_store_get_name (LMD_JOB_STORE (source)));
      pending->call->dialect->write_job_accepted (pending->msg, pending->job_id, pending->call->request_id);
    }
  pending_job_finish (pending);
}

void
lmd_http_jobs_submit (LmdHttpTransport *self, SoupServerMessage *msg, const LmdTranscribeRequest *request)
{
  LmdRouter *router = lmd_http_transport_get_router (self);
  LmdHttpCall *call = lmd_http_call_get (msg);
  LmdJobStore *store = lmd_router_get_job_store (router);
  const LmdLimits *limits = lmd_router_get_limits (router);
  g_autoptr (GError) error = NULL;
  LmdJob *job;

  g_return_if_fail (call != NULL && call->dialect != NULL && call->dialect->write_job_accepted != NULL);

  if (!lmd_url_check_destination (request->options.callback_url, limits->allow_private_urls,
                                  "callback_url", &error) ||
      (request->url != NULL &&
       !lmd_url_check_destination (request->url, limits->allow_private_urls, "url", &error)))
    {
      lmd_http_call_respond_error (msg, error, 0);
      lmd_http_call_resume (msg);
      return;
    }
  if (store == NULL || lmd_router_is_draining (router))
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                           store == NULL ? "asynchronous jobs are not available on this server"
                                         : "the server is shutting down");
      lmd_http_call_respond_error (msg, error, 0);
      lmd_http_call_resume (msg);
      return;
    }
  job = lmd_job_new (call->request_id, request->options.callback_url);
  job->audio = request->audio != NULL ? g_bytes_ref (request->audio) : NULL;
  job->url = g_strdup (request->url);
  lmd_transcribe_options_clear (&job->options);
  lmd_transcribe_options_copy (&job->options, &request->options);
  if (call->dialect->prepare_job != NULL)
    call->dialect->prepare_job (job, msg, request);
  lmd_job_store_submit_async (store, job, job_submitted, pending_job_new (self, msg, job->id));
}

static void
job_looked_up (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingJob *pending = user_data;
  g_autoptr (GError) error = NULL;
  char *document = lmd_job_store_lookup_finish (LMD_JOB_STORE (source), result, &error);

  if (document != NULL)
    lmd_http_respond_json (pending->msg, SOUP_STATUS_OK, document);
  else
    {
      g_autoptr (GError) answer = NULL;

      if (error == NULL)
        answer = g_error_new (LMD_ERROR, LMD_ERROR_NOT_FOUND,
                              "no such job: %s (unknown, or its result expired)", pending->job_id);
      else if (error->domain == LMD_ERROR)
        answer = g_error_copy (error);
      else
        answer = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE, "the job store failed: %s",
                              error->message);
      lmd_http_call_respond_error (pending->msg, answer, 0);
    }
  pending_job_finish (pending);
}

static void
job_found_at_worker (LmdHttpJobLookupResult result, GBytes *document, gpointer user_data)
{
  PendingJob *pending = user_data;

  if (pending->call->disconnected)
    ;
  else if (result == LMD_HTTP_JOB_LOOKUP_FOUND)
    {
      soup_server_message_set_status (pending->msg, SOUP_STATUS_OK, NULL);
      soup_message_headers_set_content_type (soup_server_message_get_response_headers (pending->msg),
                                             "application/json", NULL);
      soup_message_body_append_bytes (soup_server_message_get_response_body (pending->msg), document);
    }
  else
    {
      g_autoptr (GError) error = NULL;

      if (result == LMD_HTTP_JOB_LOOKUP_NOT_FOUND)
        error = g_error_new (LMD_ERROR, LMD_ERROR_NOT_FOUND,
                             "no such job: %s (unknown, or its result expired)", pending->job_id);
      else
        error = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                             "the workers that hold jobs did not answer; retry later");
      lmd_http_call_respond_error (pending->msg, error, 0);
    }
  pending_job_finish (pending);
}

/* Role api without a shared job store: each worker keeps the jobs it accepted, so every live
 * worker is asked (LmdHttpJobLookup). */
static void
ask_workers_for_job (LmdHttpTransport *self, SoupServerMessage *msg, const char *job_id,
                     SoupSession *workers_session, guint worker_timeout_s)
{
  LmdRouter *router = lmd_http_transport_get_router (self);
  g_autoptr (GPtrArray) workers = lmd_state_list_workers (lmd_router_get_state (router));
  g_autoptr (GPtrArray) urls = g_ptr_array_new ();
  LmdHttpCall *call = lmd_http_call_get (msg);

  for (guint i = 0; i < workers->len; i++)
    g_ptr_array_add (urls, ((LmdWorkerInfo *) workers->pdata[i])->url);
  g_ptr_array_add (urls, NULL);
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, call->request_id, "job %s: asking %u worker(s)", job_id, workers->len);
  lmd_http_job_lookup_start (workers_session, (const char *const *) urls->pdata, job_id, call->request_id,
                             MIN (worker_timeout_s, 10), job_found_at_worker,
                             pending_job_new (self, msg, job_id));
}

void
lmd_http_jobs_lookup (LmdHttpTransport *self, SoupServerMessage *msg, const char *path,
                      SoupSession *workers, guint worker_timeout_s)
{
  LmdJobStore *store = lmd_router_get_job_store (lmd_http_transport_get_router (self));
  const char *job_id = g_str_has_prefix (path, "/v1/jobs/") ? path + strlen ("/v1/jobs/") : NULL;

  if (workers != NULL && store == NULL && lmd_job_id_is_valid (job_id))
    {
      ask_workers_for_job (self, msg, job_id, workers, worker_timeout_s);
      return;
    }
  if (!lmd_job_id_is_valid (job_id) || store == NULL)
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_NOT_FOUND, "no such job: %s", path);
      lmd_http_call_respond_error (msg, error, 0);
      return;
    }
  lmd_job_store_lookup_async (store, job_id, job_looked_up, pending_job_new (self, msg, job_id));
}
