/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-forwarder.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-http-call.h"
#include "lmd-json.h"
#include "lmd-log.h"
#include "lmd-spool-input-stream.h"

struct _LmdHttpForwarder {
  LmdWorkerPicker *picker; /* borrowed */
  SoupSession *session;    /* owned */
};

/* One forwarded request, across its (at most two) attempts. */
typedef struct {
  LmdHttpForwarder *self;      /* borrowed: the transport frees the forwarder after its requests */
  SoupServerMessage *msg;      /* owned ref */
  char *request_id;            /* owned */
  char *model;                 /* owned, nullable */
  LmdBodySpool *body;          /* owned ref, nullable: the body, arriving or arrived */
  goffset content_length;      /* the client's Content-Length, -1 = chunked */
  GCancellable *cancellable;   /* owned ref, nullable */
  char *worker_url;            /* owned: the worker of the current attempt */
  SoupMessage *out;            /* owned: the current attempt */
  guint attempt;               /* 1 or 2 */
  gboolean request_written;    /* the current attempt's whole request is written to its worker */
  LmdHttpForwardDone done;
  gpointer user_data;
} Forward;

/* Headers that describe one hop, or that the worker must not see (it trusts the api). */
static const char *const hop_headers[] = {
  "Connection", "Keep-Alive", "Transfer-Encoding", "TE", "Trailer", "Upgrade", "Host",
  "Content-Length", "Authorization", "Proxy-Authorization", "Expect", "X-Request-ID",
};

LmdHttpForwarder *
lmd_http_forwarder_new (LmdWorkerPicker *picker, guint worker_timeout_s)
{
  LmdHttpForwarder *self = g_new0 (LmdHttpForwarder, 1);

  self->picker = picker;
  /* libsoup's default of 2 connections per host would queue requests in the api */
  self->session = soup_session_new_with_options ("max-conns", 1024, "max-conns-per-host", 256,
                                                 "timeout", worker_timeout_s,
                                                 "user-agent", "lightning-mediad-api", NULL);
  return self;
}

void
lmd_http_forwarder_free (LmdHttpForwarder *self)
{
  if (self == NULL)
    return;
  soup_session_abort (self->session);
  g_clear_object (&self->session);
  g_free (self);
}

SoupSession *
lmd_http_forwarder_get_session (LmdHttpForwarder *self)
{
  return self->session;
}

static void
forward_free (Forward *f)
{
  g_object_unref (f->msg);
  g_free (f->request_id);
  g_free (f->model);
  g_clear_pointer (&f->body, lmd_body_spool_unref);
  g_clear_object (&f->cancellable);
  g_free (f->worker_url);
  g_clear_object (&f->out);
  g_free (f);
}

static void
finish_with_error (Forward *f, GError *error)
{
  f->done (f->msg, 0, 0, error, f->user_data);
  g_error_free (error);
  forward_free (f);
}

static double
answer_duration (SoupMessage *out, GBytes *body)
{
  const char *type = soup_message_headers_get_content_type (soup_message_get_response_headers (out), NULL);
  g_autoptr (JsonNode) root = NULL;
  gsize len;
  const char *data = g_bytes_get_data (body, &len);
  JsonObject *o;

  if (type == NULL || g_ascii_strcasecmp (type, "application/json") != 0 || len == 0)
    return 0;
  root = lmd_json_parse (data, (gssize) len, LMD_JSON_MAX_DOCUMENT_BYTES, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  o = json_node_get_object (root);
  if (json_object_has_member (o, "duration"))
    return json_object_get_double_member_with_default (o, "duration", 0);
  if (json_object_has_member (o, "metadata") && JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "metadata")))
    return json_object_get_double_member_with_default (json_object_get_object_member (o, "metadata"),
                                                       "duration", 0);
  return 0;
}

static void send_attempt (Forward *f);

static void
on_request_written (SoupMessage *out, gpointer user_data)
{
  Forward *f = user_data;

  if (out == f->out)
    f->request_written = TRUE;
}

static void
relay_answer (Forward *f, GBytes *body)
{
  SoupMessageHeaders *from = soup_message_get_response_headers (f->out);
  SoupMessageHeaders *to = soup_server_message_get_response_headers (f->msg);
  const char *type = soup_message_headers_get_one (from, "Content-Type");
  const char *retry = soup_message_headers_get_one (from, "Retry-After");
  const char *allow = soup_message_headers_get_one (from, "Allow");
  guint status = soup_message_get_status (f->out);
  LmdHttpCall *call = lmd_http_call_get (f->msg);

  if (call != NULL && lmd_http_call_is_answered (call))
    {
      /* the client has its answer (refused while the worker had the request): it stands */
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, f->request_id, "worker %s answered %u after the request was "
                       "answered; its answer is dropped", f->worker_url, status);
      f->done (f->msg, status, 0, NULL, f->user_data);
      forward_free (f);
      return;
    }
  if (retry != NULL)
    soup_message_headers_replace (to, "Retry-After", retry);
  if (allow != NULL)
    soup_message_headers_replace (to, "Allow", allow);
  soup_server_message_set_status (f->msg, status, NULL);
  soup_message_headers_set_content_type (to, type != NULL ? type : "application/octet-stream", NULL);
  /* the worker's answer is relayed without a copy */
  soup_message_body_truncate (soup_server_message_get_response_body (f->msg));
  soup_message_body_append_bytes (soup_server_message_get_response_body (f->msg), body);
  f->done (f->msg, status, status == SOUP_STATUS_OK ? answer_duration (f->out, body) : 0, NULL,
           f->user_data);
  forward_free (f);
}

static void
on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Forward *f = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  guint status = body != NULL ? soup_message_get_status (f->out) : 0;

  lmd_worker_picker_end (f->self->picker, f->worker_url);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      finish_with_error (f, g_steal_pointer (&error));
      return;
    }
  if (body == NULL && f->body != NULL && lmd_body_spool_get_failure (f->body) != NULL)
    {
      /* the client's side failed (gone, over the limit): no worker is to blame */
      finish_with_error (f, g_error_copy (lmd_body_spool_get_failure (f->body)));
      return;
    }
  if (body == NULL || status == SOUP_STATUS_SERVICE_UNAVAILABLE)
    {
      if (body == NULL)
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, f->request_id, "worker %s failed%s: %s", f->worker_url,
                           f->request_written ? " after the whole request was written to it" : "",
                           error->message);
          lmd_worker_picker_report_failure (f->self->picker, f->worker_url);
        }
      if (body == NULL && f->request_written)
        {
          /* The worker had the whole request and may have started on it: the request itself
           * may be what brought it down (a worker only parses and decodes a body it has whole),
           * so it is never replayed on another one. */
          if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
            finish_with_error (f, g_error_new (LMD_ERROR, LMD_ERROR_TIMEOUT,
                                               "the transcription worker did not answer in time; "
                                               "the request was not sent to another worker"));
          else
            finish_with_error (f, g_error_new (LMD_ERROR, LMD_ERROR_BAD_GATEWAY,
                                               "the transcription worker closed the connection "
                                               "without answering (%s); the request was not sent to "
                                               "another worker", error->message));
          return;
        }
      else
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, f->request_id, "worker %s answered 503", f->worker_url);
      if (f->attempt < 2)
        {
          f->attempt++;
          send_attempt (f);
          return;
        }
      if (body == NULL)
        {
          finish_with_error (f, g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                             "the transcription workers failed (%s); retry later",
                                             error->message));
          return;
        }
    }
  relay_answer (f, body);
}

static void
send_attempt (Forward *f)
{
  GUri *in_uri = soup_server_message_get_uri (f->msg);
  SoupMessageHeaders *in_headers = soup_server_message_get_request_headers (f->msg);
  SoupMessageHeaders *out_headers;
  g_autofree char *previous = g_steal_pointer (&f->worker_url);
  g_autofree char *target = NULL;
  SoupMessageHeadersIter iter;
  const char *name, *value;

  f->worker_url = lmd_worker_picker_choose (f->self->picker, f->model, previous);
  if (f->worker_url == NULL && previous != NULL && f->attempt > 1)
    {
      /* no other worker: the same one once more is still a retry (it may have been a blip) */
      f->worker_url = lmd_worker_picker_choose (f->self->picker, f->model, NULL);
    }
  if (f->worker_url == NULL)
    {
      finish_with_error (f, g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                         "no transcription worker is available; retry later"));
      return;
    }
  target = g_strconcat (f->worker_url, g_uri_get_path (in_uri), g_uri_get_query (in_uri) != NULL ? "?" : "",
                        g_uri_get_query (in_uri) != NULL ? g_uri_get_query (in_uri) : "", NULL);
  g_clear_object (&f->out);
  f->request_written = FALSE;
  f->out = soup_message_new (soup_server_message_get_method (f->msg), target);
  if (f->out == NULL)
    {
      finish_with_error (f, g_error_new (LMD_ERROR, LMD_ERROR_INTERNAL, "bad worker URL %s", target));
      return;
    }
  /* the retry rule: see on_answer() */
  g_signal_connect (f->out, "wrote-body", G_CALLBACK (on_request_written), f);
  out_headers = soup_message_get_request_headers (f->out);
  soup_message_headers_iter_init (&iter, in_headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    {
      gboolean skip = FALSE;
      for (gsize i = 0; i < G_N_ELEMENTS (hop_headers) && !skip; i++)
        skip = g_ascii_strcasecmp (name, hop_headers[i]) == 0;
      if (!skip)
        soup_message_headers_append (out_headers, name, value);
    }
  soup_message_headers_replace (out_headers, "X-Request-ID", f->request_id);
  if (f->body != NULL)
    {
      /* each attempt reads the spool from its start, waiting for what has not arrived yet */
      g_autoptr (GInputStream) stream = lmd_spool_input_stream_new (f->body);
      soup_message_set_request_body (f->out, soup_message_headers_get_one (in_headers, "Content-Type"), stream,
                                     f->content_length);
    }
  /* a retried request must go to a fresh connection, never a pooled one to the dead worker */
  if (f->attempt > 1)
    soup_message_add_flags (f->out, SOUP_MESSAGE_NEW_CONNECTION);
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, f->request_id, "forwarding to %s (attempt %u, %" G_GUINT64_FORMAT
                   " bytes of the body in so far)", f->worker_url, f->attempt,
                   f->body != NULL ? lmd_body_spool_get_length (f->body) : 0);
  lmd_worker_picker_begin (f->self->picker, f->worker_url);
  soup_session_send_and_read_async (f->self->session, f->out, G_PRIORITY_DEFAULT, f->cancellable,
                                    on_answer, f);
}

void
lmd_http_forwarder_forward (LmdHttpForwarder *self, SoupServerMessage *msg, const char *request_id,
                            const char *model, LmdBodySpool *body, goffset content_length,
                            GCancellable *cancellable, LmdHttpForwardDone done, gpointer user_data)
{
  Forward *f = g_new0 (Forward, 1);

  f->self = self;
  f->msg = g_object_ref (msg);
  f->request_id = g_strdup (request_id);
  f->model = g_strdup (model);
  f->body = body != NULL ? lmd_body_spool_ref (body) : NULL;
  f->content_length = content_length;
  f->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  f->attempt = 1;
  f->done = done;
  f->user_data = user_data;
  send_attempt (f);
}
