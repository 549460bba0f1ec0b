/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-transport.h"

#include <libsoup/soup.h>
#include <string.h>

#include "lmd-body-spool.h"
#include "lmd-http-body.h"
#include "lmd-http-call.h"
#include "lmd-http-deepgram-dialect.h"
#include "lmd-http-dialect.h"
#include "lmd-http-health.h"
#include "lmd-http-jobs.h"
#include "lmd-http-metrics.h"
#include "lmd-http-models.h"
#include "lmd-http-static.h"
#include "lmd-http-upload-budget.h"
#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-http-auth.h"
#include "lmd-http-forwarder.h"
#include "lmd-http-listener.h"
#include "lmd-http-refusal.h"
#include "lmd-http-relay.h"
#include "lmd-http-response.h"
#include "lmd-http-stream.h"
#include "lmd-json.h"
#include "lmd-log.h"
#include "lmd-plugin.h"
#include "lmd-router.h"
#include "lmd-static-state.h"
#include "lmd-transport.h"
#include "lmd-worker-picker.h"
#include "lmd-worker-secret.h"

struct _LmdHttpTransport {
  GObject parent_instance;

  char *host;          /* owned */
  guint port;          /* configured; 0 = any */
  guint bound_port;    /* the port actually bound, once listening */
  char *role;          /* owned: "all", "api" or "asr" */
  gboolean forwards;   /* role api: requests go to asr workers */
  guint64 max_body_bytes;
  LmdHttpUploadBudget *uploads; /* owned: bodies being received, and their memory */
  guint client_timeout_s; /* a connection idle this long while we wait for it is closed */
  LmdHttpConnectionLimits connection_limits; /* enforced by the listener's connection tracker */
  SoupServer *server;  /* owned */
  LmdRouter *router;   /* borrowed from the daemon */
  guint in_flight;     /* paused messages waiting for the router */
  gint64 started_at;   /* monotonic µs */
  LmdHttpMetrics *metrics; /* owned: counters of the transcription endpoints */
  LmdStreamConfig stream_config;
  LmdHttpStreams *streams;  /* owned; live transcription over WebSocket */
  /* role api */
  guint worker_timeout_s;
  guint quarantine_ms;
  char *spool_dir;             /* owned: [api] spool_dir, NULL = the system temp directory */
  LmdWorkerPicker *picker;     /* owned */
  GStrv stream_urls;           /* owned: [api] asr_streaming_base_url, nullable */
  LmdState *stream_state;      /* owned, nullable: a static list for streams only */
  LmdWorkerPicker *stream_picker; /* owned, nullable */
  LmdHttpForwarder *forwarder; /* owned */
  guint forwarded;             /* batch requests at a worker now */
  double audio_seconds_forwarded; /* as the workers' answers report it */
  GHashTable *relays;          /* owned: LmdHttpRelay (owned ref) → RelayEntry (owned) */
  /* [server] worker_secret: role api sends it to its workers, role asr requires it */
  LmdWorkerSecret *worker_secret; /* owned, nullable */
};

/* A relayed stream's admission: its license ticket and how to turn bytes into seconds. */
typedef struct {
  LmdLicenseTicket *ticket; /* owned, nullable */
  double bytes_per_second;
} RelayEntry;

static void lmd_http_transport_iface_init (LmdTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdHttpTransport, lmd_http_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_TRANSPORT, lmd_http_transport_iface_init))

/* What the router callback needs. */
typedef struct {
  LmdHttpTransport *self;   /* owned ref: kept while the router works on the request */
  SoupServerMessage *msg;   /* owned ref */
  LmdHttpCall *call;           /* borrowed: lives as long as msg */
  LmdTranscribeRequest *request_copy; /* owned: id and options for the response */
  gsize file_size;
} PendingResponse;

/* Role api: answers @error now and stops the body's way to a worker (the rest of the body is
 * still read, and dropped: HTTP/1.1 gives no other way to answer). */
static void
stream_fail (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, const GError *error)
{
  lmd_body_spool_abort (call->spool, error);
  g_cancellable_cancel (call->cancellable); /* the admission or the worker's request */
  if (!lmd_http_call_is_answered (call) && !call->disconnected)
    {
      /* before the whole body is in, libsoup sends the answer once it has read (and dropped)
       * the rest, and calls no handler; after, the message is held waiting for it */
      lmd_http_call_respond_error (msg, error, 0);
      lmd_http_call_resume (msg);
    }
}

static void
spool_chunk (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, GBytes *chunk)
{
  g_autoptr (GError) error = NULL;

  if (lmd_http_call_is_answered (call) || call->too_large)
    return;
  if (call->body_bytes > self->max_body_bytes)
    {
      call->too_large = TRUE;
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, call->request_id,
                       "body passed the limit of %" G_GUINT64_FORMAT " bytes; discarding the rest",
                       self->max_body_bytes);
      error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                           "the body is larger than the limit of %" G_GUINT64_FORMAT " MB",
                           self->max_body_bytes / (1024 * 1024));
      stream_fail (self, msg, call, error);
      return;
    }
  if (!lmd_body_spool_append (call->spool, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk), &error))
    {
      g_autoptr (GError) answer = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                               "the request body could not be spooled (%s); retry later",
                                               error->message);
      stream_fail (self, msg, call, answer);
    }
}

static void
on_got_body (SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (call != NULL && call->uploading)
    {
      call->uploading = FALSE;
      lmd_http_upload_budget_end_upload (call->self->uploads);
    }
  if (call != NULL && call->spool != NULL)
    lmd_body_spool_finish (call->spool);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (call == NULL)
    return;
  call->body_bytes += g_bytes_get_size (chunk);
  if (call->spool != NULL)
    {
      spool_chunk (call->self, msg, call, chunk);
      return;
    }
  if (call->body == NULL || call->body_failed)
    return; /* not a transcription request: its body is not kept */
  if (!call->too_large && call->body_bytes <= call->self->max_body_bytes)
    {
      g_autoptr (GError) error = NULL;
      if (!lmd_http_body_append (call->body, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk), &error))
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, call->request_id, "the body cannot be stored: %s",
                           error->message);
          call->body_failed = TRUE;
          lmd_http_body_discard (call->body);
        }
    }
  else if (!call->too_large)
    {
      /* Keep reading (HTTP/1.1 gives no other way to answer) but stop storing. */
      call->too_large = TRUE;
      lmd_http_body_discard (call->body);
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, call->request_id,
                       "body passed the limit of %" G_GUINT64_FORMAT " bytes; discarding the rest",
                       call->self->max_body_bytes);
    }
}

static void stream_start (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, GHashTable *query);
static void early_admit (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, GHashTable *query);
static void count_answer (LmdHttpTransport *self, LmdHttpCall *call, guint status);

/* Answers @error from the request's headers and reads none of its body (lmd-http-refusal.h). */
static void
refuse_from_headers (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call,
                     const GError *error, guint retry_after_s)
{
  lmd_http_call_respond_error (msg, error, retry_after_s);
  /* libsoup emits no request-finished for a message whose connection is taken */
  if (call->counted)
    count_answer (self, call, soup_server_message_get_status (msg));
  if (call->spool != NULL)
    lmd_body_spool_abort (call->spool, error);
  g_cancellable_cancel (call->cancellable);
  lmd_http_refuse_now (msg);
}

/* Runs after the headers are read and before the body: request id, body limit, and the
 * admission of a transcription request, so that a refusal (401/403/413/429/503) is answered
 * before any of its body is read. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  SoupMessageHeaders *req_headers = soup_server_message_get_request_headers (msg);
  const char *client_id = soup_message_headers_get_one (req_headers, "X-Request-ID");
  LmdHttpCall *call = lmd_http_call_attach (self, msg, client_id);
  gboolean transcribes, streams;
  const char *content_type = soup_message_headers_get_content_type (req_headers, NULL);

  /* the dialect is known before any answer, so that even a refusal has its shape */
  call->dialect = lmd_http_dialect_find (soup_server_message_get_method (msg), path, req_headers, query);
  transcribes = call->dialect != NULL;
  /* Deepgram's live GET /v1/listen: the stream's request id is a UUID too */
  if (((transcribes && call->dialect->uuid_request_ids) ||
       (g_str_equal (path, "/v1/listen") && soup_server_message_get_method (msg) == SOUP_METHOD_GET)) &&
      !g_uuid_string_is_valid (call->request_id))
    {
      g_free (call->request_id);
      call->request_id = g_uuid_string_random ();
    }
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "X-Request-ID",
                                call->request_id);
  /* The body is collected here rather than by libsoup, so it exists once (no flattening
   * copy) and never beyond the limit, and only for an admitted transcription request
   * (early_admit): other paths read no body.  It is kept in memory within the upload budget
   * ([limits] max_buffered_mb), else in a file (LmdHttpBody).  Role api keeps none of it in
   * memory: a transcription request's body goes to a spool file, and from there to a worker
   * while it arrives (stream_start). */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  if (self->worker_secret != NULL && g_str_equal (self->role, "asr") &&
      !(path != NULL && (g_str_equal (path, "/health") || g_str_equal (path, "/healthz") ||
                         g_str_equal (path, "/api/v1/health"))) &&
      !lmd_worker_secret_check (self->worker_secret, req_headers))
    {
      /* a worker answers its api processes only; refused before the body is read */
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_INVALID_LICENSE,
                                              "this is a transcription worker: it answers only "
                                              "requests that carry its api's worker secret (header "
                                              LMD_WORKER_SECRET_HEADER ")");
      call->counted = TRUE;
      refuse_from_headers (self, msg, call, error, 0);
      return;
    }
  streams = self->forwards && transcribes;
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
  g_signal_connect (msg, "got-body", G_CALLBACK (on_got_body), NULL);
  g_signal_connect (msg, "disconnected", G_CALLBACK (lmd_http_call_disconnected), NULL);

  if (soup_message_headers_get_encoding (req_headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      (guint64) soup_message_headers_get_content_length (req_headers) > self->max_body_bytes)
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                                              "the body (%" G_GOFFSET_FORMAT " bytes) is larger than the limit of %" G_GUINT64_FORMAT " MB",
                                              soup_message_headers_get_content_length (req_headers),
                                              self->max_body_bytes / (1024 * 1024));
      call->counted = TRUE;
      refuse_from_headers (self, msg, call, error, 0);
      return;
    }
  if (transcribes && content_type != NULL &&
      (g_ascii_strcasecmp (content_type, "application/json") == 0 || g_str_has_suffix (content_type, "+json")) &&
      soup_message_headers_get_encoding (req_headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      soup_message_headers_get_content_length (req_headers) > LMD_JSON_MAX_REQUEST_BYTES)
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                                              "a JSON body (%" G_GOFFSET_FORMAT " bytes) is longer than the limit of %u bytes",
                                              soup_message_headers_get_content_length (req_headers),
                                              LMD_JSON_MAX_REQUEST_BYTES);
      call->counted = TRUE;
      refuse_from_headers (self, msg, call, error, 0);
      return;
    }
  if (transcribes && !lmd_http_upload_budget_begin_upload (self->uploads))
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                              "%u uploads are in progress, the limit; retry later",
                                              lmd_http_upload_budget_get_uploads (self->uploads));
      call->counted = TRUE;
      refuse_from_headers (self, msg, call, error, 0);
      return;
    }
  call->uploading = transcribes;
  if (streams)
    stream_start (self, msg, call, query);
  else if (transcribes)
    early_admit (self, msg, call, query);
}

/* A client that stops sending (or reading) for client_timeout_s loses its connection, so slow
 * or stalled clients cannot pin connections forever.  The timeout only applies while the
 * server waits on that socket: a request paused for inference is not affected. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  GSocket *socket = lmd_http_listener_get_socket (msg);

  if (socket != NULL)
    g_socket_set_timeout (socket, self->client_timeout_s);
}

/* Releases the request's license ticket (once), recording its usage. */
static void
complete_ticket (LmdHttpTransport *self, LmdHttpCall *call, guint status)
{
  LmdLicenseTicket *ticket = g_steal_pointer (&call->ticket);

  if (ticket != NULL)
    lmd_license_complete (lmd_router_get_license (self->router), ticket, call->audio_seconds, status);
}

static void
on_request_aborted (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (call != NULL)
    complete_ticket (user_data, call, 499); /* the client closed the connection */
}

/* A transcription request answered with @status, in the metrics. */
static void
count_answer (LmdHttpTransport *self, LmdHttpCall *call, guint status)
{
  lmd_http_metrics_count_answer (self->metrics, status, call->started_at);
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  LmdHttpCall *call = lmd_http_call_get (msg);
  guint status = soup_server_message_get_status (msg);

  if (call == NULL)
    return;
  complete_ticket (self, call, status);
  /* the answer is out: the message itself may outlive the request (the connection tracker
   * keeps the last one of a kept-alive connection), its body need not */
  lmd_http_call_release_body (call);
  if (call->counted)
    count_answer (self, call, status);
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, call->request_id, "%s %s → %u (%.3f s)%s",
                   soup_server_message_get_method (msg),
                   g_uri_get_path (soup_server_message_get_uri (msg)), status,
                   (g_get_monotonic_time () - call->started_at) / 1e6,
                   call->disconnected ? " (client disconnected)" : "");
}

static void
respond_not_found (LmdHttpTransport *self, SoupServerMessage *msg)
{
  g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_NOT_FOUND, "no such path: %s",
                                          g_uri_get_path (soup_server_message_get_uri (msg)));
  lmd_http_call_respond_error (msg, error, 0);
}

/* ---- health and metrics ---------------------------------------------------------------- */

static void
health_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  LmdHttpHealthInput input = {
    .router = self->router,
    .role = self->role,
    .forwards = self->forwards,
    .workers_live = self->forwards ? lmd_worker_picker_count_live (self->picker) : 0,
    .uptime_s = (g_get_monotonic_time () - self->started_at) / 1e6,
  };

  if (lmd_http_require_method (msg, SOUP_METHOD_GET))
    lmd_http_health_respond (msg, path, query, &input);
}

static void
metrics_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  LmdHttpMetricsGauges gauges = {
    .router = self->router,
    .forwards = self->forwards,
    .connections = lmd_http_listener_get_connections (self->server),
    .uploads = self->uploads,
  };

  if (!lmd_http_require_method (msg, SOUP_METHOD_GET))
    return;
  if (self->forwards)
    {
      /* an api process: the work it has at workers, and the stream frames it holds */
      GHashTableIter iter;
      gpointer relay;

      gauges.active = self->forwarded;
      gauges.streams = g_hash_table_size (self->relays);
      g_hash_table_iter_init (&iter, self->relays);
      while (g_hash_table_iter_next (&iter, &relay, NULL))
        gauges.stream_queue += lmd_http_relay_get_pending (relay);
      gauges.audio_seconds_total = self->audio_seconds_forwarded;
      gauges.workers_live = lmd_worker_picker_count_live (self->picker);
    }
  else
    {
      gauges.active = lmd_router_get_active (self->router);
      gauges.queued = lmd_router_get_queued (self->router);
      gauges.streams = self->streams != NULL ? lmd_http_streams_get_active (self->streams) : 0;
      gauges.stream_queue = self->streams != NULL ? lmd_http_streams_get_queue_depth (self->streams) : 0;
      gauges.audio_seconds_total = lmd_router_get_audio_seconds_total (self->router);
    }
  lmd_http_metrics_respond (self->metrics, msg, &gauges);
}

/* ---- transcription ------------------------------------------------------------------------ */

/* A transcription (local, or at a worker) ended with @audio_seconds of audio. */
static void
observe_processing (LmdHttpTransport *self, LmdHttpCall *call, double audio_seconds)
{
  double seconds;

  if (call->processing_started == 0)
    return;
  seconds = (g_get_monotonic_time () - call->processing_started) / 1e6;
  lmd_http_metrics_observe_processing (self->metrics, seconds, audio_seconds);
}

static void
forward_done (SoupServerMessage *msg, guint status, double audio_seconds, const GError *error,
              gpointer user_data)
{
  LmdHttpTransport *self = user_data; /* owned ref */
  LmdHttpCall *call = lmd_http_call_get (msg);

  self->forwarded--;
  if (call != NULL && call->disconnected)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "client went away before the worker answered");
  else if (call != NULL && !lmd_http_call_is_answered (call))
    {
      if (error != NULL)
        lmd_http_call_respond_error (msg, error, 0);
      else
        {
          call->audio_seconds = audio_seconds;
          self->audio_seconds_forwarded += audio_seconds;
          if (status == SOUP_STATUS_OK)
            observe_processing (self, call, audio_seconds);
        }
      lmd_http_call_resume (msg);
    }
  g_object_unref (self);
}

/* Role api, once admitted: the request goes to a worker as it is (the worker parses and
 * validates it), its body streamed from the spool while the client still sends it. */
static void
forward_request (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, GHashTable *query)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  goffset length = soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
                       ? soup_message_headers_get_content_length (headers)
                       : -1;
  const char *model = query != NULL ? g_hash_table_lookup (query, "model") : NULL;

  if (lmd_router_is_draining (self->router))
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                              "the server is shutting down");
      stream_fail (self, msg, call, error);
      return;
    }
  if (length >= 0)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "%s %s: %" G_GOFFSET_FORMAT " bytes, forwarding",
                     soup_server_message_get_method (msg), g_uri_get_path (soup_server_message_get_uri (msg)),
                     length);
  else
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "%s %s: chunked body, forwarding",
                     soup_server_message_get_method (msg), g_uri_get_path (soup_server_message_get_uri (msg)));
  self->forwarded++;
  call->processing_started = g_get_monotonic_time ();
  lmd_http_forwarder_forward (self->forwarder, msg, call->request_id, model, call->spool, length,
                              call->cancellable, forward_done, g_object_ref (self));
}

static void
transcribe_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingResponse *pending = user_data;
  LmdHttpTransport *self = pending->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTranscript) transcript = lmd_router_transcribe_finish (LMD_ROUTER (source), result, &error);

  self->in_flight--;
  if (pending->call->disconnected)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, pending->call->request_id,
                     "client went away before the answer; dropping it");
  else
    {
      if (transcript != NULL)
        {
          pending->call->audio_seconds = transcript->duration;
          observe_processing (self, pending->call, transcript->duration);
        }
      if (transcript != NULL)
        pending->call->dialect->write_transcript (pending->msg, transcript, pending->request_copy,
                                                  pending->file_size);
      else
        lmd_http_call_respond_error (pending->msg, error, 0);
      lmd_http_call_resume (pending->msg);
    }
  lmd_transcribe_request_free (pending->request_copy);
  g_object_unref (pending->msg);
  g_object_unref (pending->self);
  g_free (pending);
}

/* ---- asynchronous jobs -------------------------------------------------------------------- */

/* GET /v1/jobs/{job_id} */
static void
jobs_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer user_data)
{
  LmdHttpTransport *self = user_data;

  if (lmd_http_require_method (msg, SOUP_METHOD_GET))
    lmd_http_jobs_lookup (self, msg, path,
                          self->forwards ? lmd_http_forwarder_get_session (self->forwarder) : NULL,
                          self->worker_timeout_s);
}

/* A request waiting for the license service's answer (the message is paused meanwhile). */
typedef struct {
  LmdHttpTransport *self;   /* owned ref */
  SoupServerMessage *msg;   /* owned ref */
  GHashTable *query;        /* owned ref, nullable */
  gboolean early;           /* asked from the headers: the body is not read yet */
} AdmitWait;

/* Runs the admitted request: the message is paused, and stays so while the router works. */
static void
transcribe_admitted (LmdHttpTransport *self, SoupServerMessage *msg, GHashTable *query)
{
  LmdHttpCall *call = lmd_http_call_get (msg);
  g_autoptr (LmdTranscribeRequest) request = lmd_transcribe_request_new (call->request_id);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  PendingResponse *pending;

  if (call->too_large)
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                           "the body is larger than the limit of %" G_GUINT64_FORMAT " MB",
                           self->max_body_bytes / (1024 * 1024));
      lmd_http_call_respond_error (msg, error, 0);
      lmd_http_call_resume (msg);
      return;
    }
  if (call->body == NULL && !call->body_failed)
    body = g_bytes_new (NULL, 0);
  else if (call->body_failed || (body = lmd_http_body_finish (call->body, &error)) == NULL)
    {
      g_autoptr (GError) answer = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                               "the request body could not be stored (%s); retry later",
                                               error != NULL ? error->message : "no room for it");
      lmd_http_call_respond_error (msg, answer, 0);
      lmd_http_call_resume (msg);
      return;
    }
  if (!call->dialect->parse_request (request, msg, query, body, self->router, &error))
    {
      lmd_http_call_respond_error (msg, error, 0);
      lmd_http_call_resume (msg);
      return;
    }
  if (!lmd_http_auth_allows_engine (lmd_router_get_license (self->router), call->ticket,
                                    self->router,
                                    lmd_router_find_engine (self->router, request->options.model),
                                    &error))
    {
      lmd_http_call_respond_error (msg, error, 0);
      lmd_http_call_resume (msg);
      return;
    }
  if (call->dialect->write_job_accepted != NULL && request->options.callback_url != NULL)
    {
      lmd_http_jobs_submit (self, msg, request);
      return;
    }
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "%s %s: %s%s, language %s, model %s",
                   soup_server_message_get_method (msg),
                   g_uri_get_path (soup_server_message_get_uri (msg)),
                   request->url != NULL ? "url " : "", request->url != NULL ? request->url : "audio",
                   request->options.language,
                   request->options.model != NULL ? request->options.model : "(default)");

  pending = g_new0 (PendingResponse, 1);
  pending->self = g_object_ref (self);
  pending->msg = g_object_ref (msg);
  pending->call = call;
  pending->file_size = request->audio != NULL ? g_bytes_get_size (request->audio) : 0;
  pending->request_copy = lmd_transcribe_request_new (request->request_id);
  lmd_transcribe_options_clear (&pending->request_copy->options);
  lmd_transcribe_options_copy (&pending->request_copy->options, &request->options);

  self->in_flight++;
  call->processing_started = g_get_monotonic_time ();
  lmd_router_transcribe_async (self->router, g_steal_pointer (&request), call->cancellable,
                               transcribe_done, pending);
}

static void
admit_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AdmitWait *wait = user_data;
  LmdHttpTransport *self = wait->self;
  LmdHttpCall *call = lmd_http_call_get (wait->msg);
  g_autoptr (GError) error = NULL;
  LmdLicenseTicket *ticket = NULL;
  guint retry_after = 0;
  gboolean admitted = lmd_http_auth_admit_finish (lmd_router_get_license (self->router), result,
                                                  &ticket, &retry_after, &error);

  self->in_flight--;
  /* the call owns the ticket from here: whatever happens, it is completed exactly once */
  call->ticket = ticket;
  if (call->state == LMD_HTTP_CALL_FINISHED)
    {
      /* The exchange ended while the admission was asked: on the api a body over the limit is
       * refused (413) as it streams, and its answer goes out once the rest of the body is read,
       * without waiting for the admission.  Nothing is left to run: the admission is given
       * back now (not when the message is dropped, which a kept-alive connection delays), so
       * that it does not hold the key's concurrency slot. */
      guint status = soup_server_message_get_status (wait->msg);

      if (admitted)
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id,
                         "admitted after its answer (%u) was sent; the admission is given back", status);
      else
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id,
                         "refused after its answer (%u) was sent: %s", status, error->message);
      complete_ticket (self, call, status);
    }
  else if (call->spool != NULL)
    {
      /* role api: admitted while the body may still be arriving */
      if (call->disconnected)
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id,
                         "client went away while the license was checked; dropping the request");
      else if (lmd_http_call_is_answered (call))
        ; /* refused meanwhile (too large): the ticket is completed when the answer is sent */
      else if (!admitted && !lmd_body_spool_is_complete (call->spool))
        refuse_from_headers (self, wait->msg, call, error, retry_after); /* the rest is not read */
      else if (!admitted)
        {
          lmd_body_spool_abort (call->spool, error);
          lmd_http_call_respond_error (wait->msg, error, retry_after);
          lmd_http_call_resume (wait->msg);
        }
      else
        forward_request (self, wait->msg, call, wait->query);
    }
  else if (call->disconnected)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id,
                     "client went away while the license was checked; dropping the request");
  else if (!admitted && wait->early)
    refuse_from_headers (self, wait->msg, call, error, retry_after);
  else if (!admitted)
    {
      lmd_http_call_respond_error (wait->msg, error, retry_after);
      lmd_http_call_resume (wait->msg);
    }
  else if (wait->early)
    {
      /* admitted: now the body is read (a client that sent Expect: 100-continue gets its
       * 100 now), then the handler runs the request */
      SoupMessageHeaders *headers = soup_server_message_get_request_headers (wait->msg);
      call->admitted = TRUE;
      call->body = lmd_http_body_new (self->uploads,
                                      soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH
                                          ? soup_message_headers_get_content_length (headers)
                                          : -1,
                                      self->spool_dir);
      soup_server_message_unpause (wait->msg);
    }
  else
    transcribe_admitted (self, wait->msg, wait->query);
  g_clear_pointer (&wait->query, g_hash_table_unref);
  g_object_unref (wait->msg);
  g_object_unref (wait->self);
  g_free (wait);
}

static void
transcribe_handler (LmdHttpTransport *self, SoupServerMessage *msg, GHashTable *query)
{
  LmdHttpCall *call = lmd_http_call_get (msg);
  AdmitWait *wait;

  if (call->spool != NULL)
    {
      /* role api: admitted (or being admitted) since the headers came, the body is all in;
       * the message waits for the worker's answer */
      lmd_body_spool_finish (call->spool);
      lmd_http_call_hold (msg); /* nothing when it is answered already */
      return;
    }
  call->counted = TRUE;
  if (!lmd_http_require_method (msg, SOUP_METHOD_POST))
    return;
  if (call->admitted)
    {
      /* admitted from the headers (early_admit) */
      lmd_http_call_hold (msg);
      transcribe_admitted (self, msg, query);
      return;
    }
  /* admission may wait for a license service in another process: the message is paused
   * until it answers (and stays paused while the router works on it) */
  wait = g_new0 (AdmitWait, 1);
  wait->self = g_object_ref (self);
  wait->msg = g_object_ref (msg);
  wait->query = query != NULL ? g_hash_table_ref (query) : NULL;
  self->in_flight++;
  lmd_http_call_hold (msg);
  lmd_http_auth_admit_async (lmd_router_get_license (self->router), msg, query, "batch",
                             call->request_id, call->cancellable, admit_done, wait);
}

/* Role api, from the early handler: admission starts as soon as the headers are in, while the
 * body goes to the spool; admitted, the request is forwarded at once, its body streaming. */
static void
stream_start (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, GHashTable *query)
{
  g_autoptr (GError) error = NULL;
  AdmitWait *wait;

  call->counted = TRUE;
  call->spool = lmd_body_spool_new (self->spool_dir, &error);
  if (call->spool == NULL)
    {
      g_autoptr (GError) answer = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                               "the request body cannot be spooled (%s); retry later",
                                               error->message);
      lmd_http_call_respond_error (msg, answer, 0);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
      return;
    }
  wait = g_new0 (AdmitWait, 1);
  wait->self = g_object_ref (self);
  wait->msg = g_object_ref (msg);
  wait->query = query != NULL ? g_hash_table_ref (query) : NULL;
  self->in_flight++;
  lmd_http_auth_admit_async (lmd_router_get_license (self->router), msg, query, "batch", call->request_id,
                             call->cancellable, admit_done, wait);
}

/* A transcription request, from the early handler: the license admits it from its headers
 * while its body waits (the message is paused: the body stays in the client's socket); a
 * refusal is answered without reading the body, an admission lets libsoup read it. */
static void
early_admit (LmdHttpTransport *self, SoupServerMessage *msg, LmdHttpCall *call, GHashTable *query)
{
  AdmitWait *wait = g_new0 (AdmitWait, 1);

  call->counted = TRUE;
  wait->self = g_object_ref (self);
  wait->msg = g_object_ref (msg);
  wait->query = query != NULL ? g_hash_table_ref (query) : NULL;
  wait->early = TRUE;
  self->in_flight++;
  soup_server_message_pause (msg);
  lmd_http_auth_admit_async (lmd_router_get_license (self->router), msg, query, "batch",
                             call->request_id, call->cancellable, admit_done, wait);
}

/* A GET asking for a WebSocket upgrade: libsoup completes the handshake when the normal
 * handler of the path leaves the status unset, then calls the WebSocket handler. */
static gboolean
is_websocket_upgrade (SoupServerMessage *msg)
{
  const char *upgrade = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                      "Upgrade");

  return g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_GET) && upgrade != NULL &&
         g_ascii_strcasecmp (upgrade, "websocket") == 0;
}

static void
stream_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  if (is_websocket_upgrade (msg))
    return;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Upgrade", "websocket");
  lmd_http_respond_json (msg, 426 /* Upgrade Required */,
                         g_strdup ("{\"error\":\"this path streams audio over a WebSocket: connect "
                                   "with a WebSocket client\",\"code\":\"UPGRADE_REQUIRED\"}"));
}

static void
relay_done (LmdHttpRelay *relay, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  RelayEntry *entry = g_hash_table_lookup (self->relays, relay);

  if (entry != NULL && entry->ticket != NULL)
    lmd_license_complete (lmd_router_get_license (self->router), g_steal_pointer (&entry->ticket),
                          lmd_http_relay_get_bytes_received (relay) / entry->bytes_per_second, 200);
  g_hash_table_remove (self->relays, relay);
}

static void
relay_entry_free (RelayEntry *entry)
{
  /* tickets are released by relay_done(), or at finalize for streams cut by the exit */
  g_warn_if_fail (entry->ticket == NULL);
  g_free (entry);
}

/* A relayed stream waiting for its admission (which may ask another process or a shared
 * limit store); the relay holds the client's frames meanwhile. */
typedef struct {
  LmdHttpTransport *self; /* owned ref */
  LmdHttpRelay *relay;    /* owned ref */
} RelayAdmission;

static void
relay_admitted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  RelayAdmission *a = user_data;
  LmdHttpTransport *self = a->self;
  LmdLicense *license = lmd_router_get_license (self->router);
  RelayEntry *entry = g_hash_table_lookup (self->relays, a->relay);
  g_autoptr (GError) error = NULL;
  LmdLicenseTicket *ticket = NULL;
  guint retry_after = 0;
  gboolean admitted = lmd_http_auth_admit_finish (license, result, &ticket, &retry_after, &error);

  if (entry == NULL)
    {
      /* the transport let the relay go meanwhile (exit): nothing to run */
      if (ticket != NULL)
        lmd_license_complete (license, ticket, 0, 499);
    }
  else if (!admitted)
    {
      g_autofree char *sentence = lmd_error_get_sentence (error);
      lmd_http_relay_refuse (a->relay, lmd_error_code_name (lmd_error_classify (error)), sentence);
    }
  else
    {
      entry->ticket = ticket;
      lmd_http_relay_start (a->relay, relay_done, self);
    }
  g_object_unref (a->relay);
  g_object_unref (a->self);
  g_free (a);
}

/* Role api: admission here, then the stream goes to a worker frame by frame. */
static void
relay_stream (LmdHttpTransport *self, SoupServerMessage *msg, SoupWebsocketConnection *conn,
              const char *request_id)
{
  GUri *uri = soup_server_message_get_uri (msg);
  g_autoptr (GHashTable) query = g_uri_get_query (uri) != NULL ? soup_form_decode (g_uri_get_query (uri)) : NULL;
  RelayEntry *entry = g_new0 (RelayEntry, 1);
  LmdHttpRelay *relay;
  RelayAdmission *a;
  const char *rate = query != NULL ? g_hash_table_lookup (query, "sample_rate") : NULL;
  const char *encoding = query != NULL ? g_hash_table_lookup (query, "encoding") : NULL;

  /* the HTTP client timeout does not cut a stream (lifted by the connection tracker when the
   * 101 is written): the worker's idle timeout applies */
  entry->bytes_per_second = (rate != NULL ? g_ascii_strtod (rate, NULL) : 16000) *
                            (g_strcmp0 (encoding, "linear32") == 0                                       ? 4
                             : g_strcmp0 (encoding, "mulaw") == 0 || g_strcmp0 (encoding, "alaw") == 0 ? 1
                                                                                                           : 2);
  if (entry->bytes_per_second <= 0)
    entry->bytes_per_second = 32000;
  relay = lmd_http_relay_new (self->stream_picker != NULL ? self->stream_picker : self->picker,
                              lmd_http_forwarder_get_session (self->forwarder), msg, conn,
                              request_id);
  lmd_http_relay_set_worker_timeout (relay, self->worker_timeout_s);
  g_hash_table_insert (self->relays, relay, entry);
  /* frames that come while the admission is answered are held by the relay */
  lmd_http_relay_hold (relay, relay_done, self);
  if (lmd_router_is_draining (self->router))
    {
      lmd_http_relay_refuse (relay, "SERVICE_UNAVAILABLE", "the server is shutting down");
      return;
    }
  a = g_new0 (RelayAdmission, 1);
  a->self = g_object_ref (self);
  a->relay = g_object_ref (relay);
  lmd_http_auth_admit_async (lmd_router_get_license (self->router), msg, query, "streaming",
                             request_id, NULL, relay_admitted, a);
}

static void
websocket_handler (SoupServer *server, SoupServerMessage *msg, const char *path,
                   SoupWebsocketConnection *conn, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  LmdHttpCall *call = lmd_http_call_get (msg);

  if (self->forwards)
    relay_stream (self, msg, conn, call != NULL ? call->request_id : NULL);
  else
    lmd_http_streams_accept (self->streams, msg, conn, call != NULL ? call->request_id : NULL,
                             g_str_equal (path, "/v1/listen") ? &lmd_http_deepgram_stream_dialect : NULL);
}

/* WebSocket paths (live transcription); each also has a normal handler in routes[]. */
static const char *const websocket_paths[] = {
  "/v1/listen/stream", "/api/v1/lightning/get_text", "/waves/v1/pulse/get_text",
  "/v1/listen", /* Deepgram's live dialect */
};

static gboolean
path_has_websocket (const char *path)
{
  for (guint i = 0; i < G_N_ELEMENTS (websocket_paths); i++)
    if (g_str_equal (path, websocket_paths[i]))
      return TRUE;
  return FALSE;
}

/* The path of a request dialect (lmd-http-dialect.h): the early handler has found the
 * dialect of a POST; any other method is answered 405. */
static void
dialect_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  if (!lmd_http_dialect_path_is_known (path))
    respond_not_found (user_data, msg);
  else if (path_has_websocket (path) && is_websocket_upgrade (msg))
    return; /* the live dialect of the same path */
  else
    {
      transcribe_handler (user_data, msg, query);
      /* A path that also has a WebSocket handler: libsoup tries it (and answers 400) after
       * this one whenever the status is still unset, as it is on a message paused for the
       * router: a provisional status skips it, and the router's answer replaces it. */
      if (path_has_websocket (path) && soup_server_message_get_status (msg) == 0)
        soup_server_message_set_status (msg, SOUP_STATUS_ACCEPTED, NULL);
    }
}

/* GET /v1/models, /v1/models/{id} (lmd-http-models.h) */
static void
models_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  g_autoptr (GError) error = NULL;
  gint64 started_unix = (g_get_real_time () - (g_get_monotonic_time () - self->started_at)) / G_USEC_PER_SEC;

  if (lmd_http_require_method (msg, SOUP_METHOD_GET) &&
      !lmd_http_models_respond (msg, self->router, path, started_unix, &error))
    lmd_http_call_respond_error (msg, error, 0);
}

/* the web page and /openapi.json (lmd-http-static.h), else 404 */
static void
default_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  if (lmd_http_static_has (lmd_http_static_get (), path))
    lmd_http_static_respond (lmd_http_static_get (), msg, path);
  else
    respond_not_found (user_data, msg);
}

static const struct {
  const char *path; /* NULL = every other path */
  SoupServerCallback handler;
} routes[] = {
  { NULL, default_handler },
  { "/health", health_handler },
  { "/healthz", health_handler },
  { "/api/v1/health", health_handler },
  { "/metrics", metrics_handler },
  { "/v1/listen", dialect_handler },
  { "/v1/jobs", jobs_handler },
  { "/api/v1/lightning/get_text", dialect_handler },
  { "/v1/audio/transcriptions", dialect_handler },
  { "/v1/audio/translations", dialect_handler },
  { "/v1/models", models_handler },
  { "/v1/listen/stream", stream_handler },
  { "/waves/v1/pulse/get_text", stream_handler },
};

/* ---- LmdTransport ----------------------------------------------------------------------- */

static gboolean
http_setup (LmdTransport *transport, GKeyFile *config, GError **error)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);
  LmdLimits limits;
  gint64 port, client_timeout;

  if (!lmd_config_get_int (config, "server", "port", 7100, &port, error) ||
      !lmd_config_get_int (config, "server", "client_timeout_s", 60, &client_timeout, error))
    return FALSE;
  if (client_timeout < 1 || client_timeout > 3600)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [server] client_timeout_s: must be 1..3600");
      return FALSE;
    }
  self->client_timeout_s = (guint) client_timeout;
  if (port < 0 || port > 65535)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [server] port: %" G_GINT64_FORMAT " is not a port number", port);
      return FALSE;
    }
  if (!lmd_limits_load (&limits, config, error) ||
      !lmd_http_connection_limits_load (&self->connection_limits, config, "server", error) ||
      !lmd_stream_config_load (&self->stream_config, config, error))
    return FALSE;
  self->port = (guint) port;
  g_free (self->host);
  self->host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
  g_free (self->role);
  self->role = lmd_config_get_string (config, "server", "role", "all");
  self->max_body_bytes = limits.max_body_bytes;
  if (!lmd_http_deepgram_dialect_configure (config, error))
    return FALSE;
  self->forwards = g_str_equal (self->role, "api");
  g_clear_pointer (&self->worker_secret, lmd_worker_secret_free);
  self->worker_secret = lmd_worker_secret_new_from_config (config);
  {
    gint64 worker_timeout, quarantine;
    if (!lmd_config_get_int (config, "api", "worker_timeout_s", limits.request_timeout_s + 10,
                             &worker_timeout, error) ||
        !lmd_config_get_int (config, "api", "failure_quarantine_ms", 5000, &quarantine, error))
      return FALSE;
    if (worker_timeout < 1 || worker_timeout > 86400 || quarantine < 0 || quarantine > 3600000)
      {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "config [api]: worker_timeout_s must be 1..86400, failure_quarantine_ms 0..3600000");
        return FALSE;
      }
    self->worker_timeout_s = (guint) worker_timeout;
    self->quarantine_ms = (guint) quarantine;
  }
  {
    gint64 max_uploads, buffered_mb;
    if (!lmd_config_get_int (config, "limits", "max_uploads", 64, &max_uploads, error) ||
        !lmd_config_get_int (config, "limits", "max_buffered_mb", 256, &buffered_mb, error))
      return FALSE;
    if (max_uploads < 1 || max_uploads > 100000 || buffered_mb < 0 || buffered_mb > 1024 * 1024)
      {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                     "config [limits]: max_uploads must be 1..100000, max_buffered_mb 0..1048576");
        return FALSE;
      }
    lmd_http_upload_budget_unref (self->uploads);
    self->uploads = lmd_http_upload_budget_new ((guint) max_uploads, (guint64) buffered_mb * 1024 * 1024);
  }
  g_free (self->spool_dir);
  self->spool_dir = lmd_config_get_string (config, "api", "spool_dir", NULL);
  if (self->spool_dir != NULL && self->spool_dir[0] == '\0')
    g_clear_pointer (&self->spool_dir, g_free);
  g_clear_pointer (&self->stream_urls, g_strfreev);
  self->stream_urls = lmd_config_get_list (config, "api", "asr_streaming_base_url");
  if (self->stream_urls[0] == NULL)
    g_clear_pointer (&self->stream_urls, g_strfreev);
  return TRUE;
}

static gboolean
http_start (LmdTransport *transport, LmdRouter *router, GError **error)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);
  g_autoptr (GInetAddress) address = lmd_http_listener_parse_host (self->host, error);

  if (address == NULL)
    return FALSE;
  self->router = router;
  if (self->forwards)
    {
      if (lmd_router_get_state (router) == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                       "role api needs a worker registry (redis plugin or [api] asr_base_url)");
          return FALSE;
        }
      {
        /* the spool directory must take files before the first request needs one */
        g_autoptr (LmdBodySpool) probe = lmd_body_spool_new (self->spool_dir, error);
        if (probe == NULL)
          {
            g_prefix_error (error, "[api] spool_dir: ");
            return FALSE;
          }
      }
      self->picker = lmd_worker_picker_new (lmd_router_get_state (router), self->quarantine_ms);
      self->forwarder = lmd_http_forwarder_new (self->picker, self->worker_timeout_s);
      lmd_worker_secret_attach (self->worker_secret,
                                lmd_http_forwarder_get_session (self->forwarder));
      if (self->stream_urls != NULL)
        {
          /* streams go to their own workers (LIGHTNING_ASR_STREAMING_BASE_URL) */
          g_autoptr (GKeyFile) list = g_key_file_new ();
          g_autofree char *joined = g_strjoinv (",", self->stream_urls);
          g_key_file_set_string (list, "api", "asr_base_url", joined);
          self->stream_state = LMD_STATE (lmd_static_state_new ());
          if (!lmd_state_setup (self->stream_state, list, error))
            {
              g_prefix_error (error, "[api] asr_streaming_base_url: ");
              return FALSE;
            }
          lmd_state_start (self->stream_state);
          self->stream_picker = lmd_worker_picker_new (self->stream_state, self->quarantine_ms);
        }
    }
  self->server = lmd_http_listener_new_server ();
  /* libsoup keeps one handler entry per path, holding both the early and the normal
   * callback: the early handler is registered on every path so it runs for every request. */
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      soup_server_add_early_handler (self->server, routes[i].path, early_handler, self, NULL);
      soup_server_add_handler (self->server, routes[i].path, routes[i].handler, self, NULL);
    }
  self->streams = lmd_http_streams_new (&self->stream_config, router);
  for (guint i = 0; i < G_N_ELEMENTS (websocket_paths); i++)
    {
      /* Deepgram's browsers send their key as the subprotocol pair "token, <key>": the
       * answer must select "token" or the browser drops the connection */
      static char *deepgram_protocols[] = { "token", NULL };
      soup_server_add_websocket_handler (self->server, websocket_paths[i], NULL,
                                         g_str_equal (websocket_paths[i], "/v1/listen") ? deepgram_protocols : NULL,
                                         websocket_handler, self, NULL);
    }
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_finished), self);
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (on_request_aborted), self);

  if (!lmd_http_listener_listen (&self->server, address, self->host, self->port,
                                 &self->connection_limits, &self->bound_port, error))
    return FALSE;
  self->started_at = g_get_monotonic_time ();
  return TRUE;
}

static void
http_stop (LmdTransport *transport)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);

  /* Close only the listening sockets: requests in flight still get their answers. */
  lmd_http_listener_close (self->server);
}

static guint
http_get_port (LmdTransport *transport)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);

  return self->bound_port;
}

static guint
http_get_in_flight (LmdTransport *transport)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);

  return self->in_flight + self->forwarded + g_hash_table_size (self->relays) +
         (self->streams != NULL ? lmd_http_streams_get_active (self->streams) : 0);
}

static void
lmd_http_transport_iface_init (LmdTransportInterface *iface)
{
  iface->setup = http_setup;
  iface->start = http_start;
  iface->stop = http_stop;
  iface->get_port = http_get_port;
  iface->get_in_flight = http_get_in_flight;
}

static void
lmd_http_transport_finalize (GObject *object)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (object);

  lmd_http_listener_clear (&self->server);
  g_clear_pointer (&self->streams, lmd_http_streams_unref);
  {
    GHashTableIter iter;
    gpointer relay, value;
    g_hash_table_iter_init (&iter, self->relays);
    while (g_hash_table_iter_next (&iter, &relay, &value))
      {
        RelayEntry *entry = value;
        if (entry->ticket != NULL)
          lmd_license_complete (lmd_router_get_license (self->router), g_steal_pointer (&entry->ticket),
                                lmd_http_relay_get_bytes_received (relay) / entry->bytes_per_second, 499);
      }
  }
  g_hash_table_unref (self->relays);
  g_clear_pointer (&self->forwarder, lmd_http_forwarder_free);
  g_clear_pointer (&self->worker_secret, lmd_worker_secret_free); /* after the session */
  g_clear_pointer (&self->picker, lmd_worker_picker_free);
  g_clear_pointer (&self->stream_picker, lmd_worker_picker_free);
  g_clear_object (&self->stream_state);
  g_strfreev (self->stream_urls);
  lmd_http_metrics_free (self->metrics);
  g_free (self->host);
  g_free (self->role);
  g_free (self->spool_dir);
  lmd_http_upload_budget_unref (self->uploads);
  G_OBJECT_CLASS (lmd_http_transport_parent_class)->finalize (object);
}

static void
lmd_http_transport_class_init (LmdHttpTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_http_transport_finalize;
}

static void
lmd_http_transport_init (LmdHttpTransport *self)
{
  self->host = g_strdup ("127.0.0.1");
  self->role = g_strdup ("all");
  self->port = 7100;
  self->max_body_bytes = 100 * 1024 * 1024;
  self->uploads = lmd_http_upload_budget_new (64, 256 * 1024 * 1024);
  self->metrics = lmd_http_metrics_new ();
  self->relays = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref,
                                        (GDestroyNotify) relay_entry_free);
}

/* ---- for the endpoint modules of this plugin ---------------------------------------------- */

LmdRouter *
lmd_http_transport_get_router (LmdHttpTransport *self)
{
  return self->router;
}

LmdHttpUploadBudget *
lmd_http_transport_get_uploads (LmdHttpTransport *self)
{
  return self->uploads;
}

void
lmd_http_transport_begin_work (LmdHttpTransport *self)
{
  self->in_flight++;
}

void
lmd_http_transport_end_work (LmdHttpTransport *self)
{
  g_return_if_fail (self->in_flight > 0);
  self->in_flight--;
}

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "http", "HTTP transport (libsoup 3): REST API, health and metrics",
    lmd_http_transport_get_type,
  };
  return &info;
}
