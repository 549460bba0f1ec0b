/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-job-lookup.h"

#include "lmd-log.h"

struct _LmdHttpJobLookup {
  char *request_id;         /* owned */
  GCancellable *cancellable; /* owned: cancels the requests still out */
  guint timeout_id;
  guint outstanding;        /* requests not finished */
  guint not_found;          /* workers that answered 404 */
  guint asked;
  gboolean done;            /* the callback ran */
  LmdHttpJobLookupDone callback;
  gpointer user_data;
};

typedef struct {
  LmdHttpJobLookup *lookup; /* shared; freed by the last request */
  SoupMessage *msg;         /* owned */
  char *worker_url;         /* owned */
} Ask;

static void
lookup_finish (LmdHttpJobLookup *self, LmdHttpJobLookupResult result, GBytes *document)
{
  if (self->done)
    return;
  self->done = TRUE;
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_cancellable_cancel (self->cancellable); /* the others, if any */
  self->callback (result, document, self->user_data);
}

static void
lookup_free (LmdHttpJobLookup *self)
{
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_object_unref (self->cancellable);
  g_free (self->request_id);
  g_free (self);
}

static void
on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Ask *ask = user_data;
  LmdHttpJobLookup *self = ask->lookup;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  guint status = body != NULL ? soup_message_get_status (ask->msg) : 0;

  self->outstanding--;
  if (!self->done)
    {
      if (status == SOUP_STATUS_OK)
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id, "job found at %s", ask->worker_url);
          lookup_finish (self, LMD_HTTP_JOB_LOOKUP_FOUND, body);
        }
      else if (status == SOUP_STATUS_NOT_FOUND)
        self->not_found++;
      else
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "job lookup at %s: %s", ask->worker_url,
                         error != NULL ? error->message : soup_status_get_phrase (status));
      if (self->outstanding == 0)
        lookup_finish (self, self->not_found == self->asked ? LMD_HTTP_JOB_LOOKUP_NOT_FOUND
                                                            : LMD_HTTP_JOB_LOOKUP_UNAVAILABLE,
                       NULL);
    }
  g_object_unref (ask->msg);
  g_free (ask->worker_url);
  g_free (ask);
  if (self->outstanding == 0)
    lookup_free (self);
}

static gboolean
on_timeout (gpointer user_data)
{
  LmdHttpJobLookup *self = user_data;

  self->timeout_id = 0;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "job lookup: %u worker(s) did not answer in time",
                   self->outstanding);
  /* the requests still out end as cancelled, which counts as no answer */
  g_cancellable_cancel (self->cancellable);
  return G_SOURCE_REMOVE;
}

static gboolean
finish_empty (gpointer user_data)
{
  LmdHttpJobLookup *self = user_data;

  lookup_finish (self, LMD_HTTP_JOB_LOOKUP_UNAVAILABLE, NULL);
  lookup_free (self);
  return G_SOURCE_REMOVE;
}

void
lmd_http_job_lookup_start (SoupSession *session, const char *const *worker_urls, const char *job_id,
                           const char *request_id, guint timeout_s, LmdHttpJobLookupDone callback,
                           gpointer user_data)
{
  LmdHttpJobLookup *self = g_new0 (LmdHttpJobLookup, 1);

  self->request_id = g_strdup (request_id);
  self->cancellable = g_cancellable_new ();
  self->callback = callback;
  self->user_data = user_data;
  for (guint i = 0; worker_urls != NULL && worker_urls[i] != NULL; i++)
    {
      g_autofree char *url = g_strconcat (worker_urls[i], "/v1/jobs/", job_id, NULL);
      SoupMessage *msg = soup_message_new (SOUP_METHOD_GET, url);
      Ask *ask;

      if (msg == NULL)
        continue;
      if (request_id != NULL)
        soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", request_id);
      ask = g_new0 (Ask, 1);
      ask->lookup = self;
      ask->msg = msg;
      ask->worker_url = g_strdup (worker_urls[i]);
      self->outstanding++;
      self->asked++;
      soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, self->cancellable, on_answer, ask);
    }
  if (self->asked == 0)
    {
      g_idle_add (finish_empty, self);
      return;
    }
  self->timeout_id = g_timeout_add_seconds (timeout_s, on_timeout, self);
}
