/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-transport.h"

#include <libsoup/soup.h>
#include <string.h>

#include "lmd-build-config.h"
#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-http-auth.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-http-stream.h"
#include "lmd-json-writer.h"
#include "lmd-log.h"
#include "lmd-plugin.h"
#include "lmd-router.h"
#include "lmd-transport.h"

struct _LmdHttpTransport {
  GObject parent_instance;

  char *host;          /* owned */
  guint port;          /* configured; 0 = any */
  guint bound_port;    /* the port actually bound, once listening */
  char *role;          /* owned: "all" or "asr" */
  guint64 max_body_bytes;
  guint client_timeout_s; /* a connection idle this long while we wait for it is closed */
  SoupServer *server;  /* owned */
  LmdRouter *router;   /* borrowed from the daemon */
  guint in_flight;     /* paused messages waiting for the router */
  gint64 started_at;   /* monotonic µs */
  GHashTable *requests_by_status; /* guint status → guint64 count, transcription endpoints */
  guint64 errors_total;
  LmdStreamConfig stream_config;
  LmdHttpStreams *streams;  /* owned; live transcription over WebSocket */
};

static void lmd_http_transport_iface_init (LmdTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdHttpTransport, lmd_http_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_TRANSPORT, lmd_http_transport_iface_init))

/* State of one HTTP request, attached to its SoupServerMessage. */
typedef struct {
  LmdHttpTransport *self;   /* borrowed: the transport owns the server that owns the message */
  char *request_id;         /* owned */
  gint64 started_at;
  guint64 body_bytes;
  gboolean too_large;
  GByteArray *body;          /* owned: the request body, collected chunk by chunk */
  LmdLicenseTicket *ticket;  /* owned: admission by the license service, until answered */
  double audio_seconds;      /* transcribed, for usage metering */
  gboolean counted;         /* a transcription endpoint: counts in metrics */
  gboolean disconnected;
  GCancellable *cancellable; /* owned */
} HttpCall;

/* What the router callback needs. */
typedef struct {
  LmdHttpTransport *self;   /* owned ref: kept while the router works on the request */
  SoupServerMessage *msg;   /* owned ref */
  HttpCall *call;           /* borrowed: lives as long as msg */
  LmdHttpDialect dialect;
  LmdTranscribeRequest *request_copy; /* owned: id and options for the response */
  gsize file_size;
} PendingResponse;

#define CALL_KEY "lmd-http-call"

static void
http_call_free (HttpCall *call)
{
  /* a message dropped without finishing still releases its admission */
  if (call->ticket != NULL)
    lmd_license_complete (lmd_router_get_license (call->self->router), g_steal_pointer (&call->ticket),
                          call->audio_seconds, 499);
  g_free (call->request_id);
  g_clear_object (&call->cancellable);
  g_clear_pointer (&call->body, g_byte_array_unref);
  g_free (call);
}

static HttpCall *
get_call (SoupServerMessage *msg)
{
  return g_object_get_data (G_OBJECT (msg), CALL_KEY);
}

static gboolean
request_id_is_acceptable (const char *id)
{
  gsize len = strlen (id);

  if (len == 0 || len > 128)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-_.:", *p) == NULL)
      return FALSE;
  return TRUE;
}

static char *
new_request_id (void)
{
  g_autofree char *uuid = g_uuid_string_random ();
  GString *id = g_string_new ("req_");

  for (const char *p = uuid; *p != '\0'; p++)
    if (*p != '-')
      g_string_append_c (id, *p);
  return g_string_free (id, FALSE);
}

static void
on_got_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  HttpCall *call = get_call (msg);

  if (call == NULL)
    return;
  call->body_bytes += g_bytes_get_size (chunk);
  if (!call->too_large && call->body_bytes <= call->self->max_body_bytes)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (chunk, &len);
      g_byte_array_append (call->body, data, (guint) len);
    }
  else if (!call->too_large)
    {
      /* Keep reading (HTTP/1.1 gives no other way to answer) but stop storing. */
      call->too_large = TRUE;
      g_byte_array_set_size (call->body, 0);
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, call->request_id,
                       "body passed the limit of %" G_GUINT64_FORMAT " bytes; discarding the rest",
                       call->self->max_body_bytes);
    }
}

static void
on_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  HttpCall *call = get_call (msg);

  if (call != NULL && !call->disconnected)
    {
      call->disconnected = TRUE;
      g_cancellable_cancel (call->cancellable);
    }
}

static void
set_error_response_full (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call,
                         const GError *error, guint retry_after_s)
{
  LmdErrorCode code = lmd_error_classify (error);
  gint64 expires_at = 0;

  LMD_LOG_REQUEST (code == LMD_ERROR_INTERNAL ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_INFO,
                   call != NULL ? call->request_id : NULL, "%s %s → %u %s: %s",
                   soup_server_message_get_method (msg),
                   g_uri_get_path (soup_server_message_get_uri (msg)), lmd_error_http_status (code),
                   lmd_error_code_name (code), error->message);
  if ((code == LMD_ERROR_LICENSE_EXPIRED || code == LMD_ERROR_QUOTA_EXCEEDED) &&
      lmd_router_get_license (self->router) != NULL)
    {
      LmdLicenseStatus status;
      lmd_license_get_status (lmd_router_get_license (self->router), &status);
      expires_at = status.valid_until;
    }
  lmd_http_respond_error (msg, self->router, error, call != NULL ? call->request_id : NULL,
                          retry_after_s, expires_at);
}

static void
set_error_response (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, const GError *error)
{
  set_error_response_full (self, msg, call, error, 0);
}

/* Runs after the headers are read and before the body: request id, body limit. */
static void
early_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  SoupMessageHeaders *req_headers = soup_server_message_get_request_headers (msg);
  const char *client_id = soup_message_headers_get_one (req_headers, "X-Request-ID");
  HttpCall *call = g_new0 (HttpCall, 1);

  call->self = self;
  call->request_id = client_id != NULL && request_id_is_acceptable (client_id) ? g_strdup (client_id)
                                                                               : new_request_id ();
  call->started_at = g_get_monotonic_time ();
  call->cancellable = g_cancellable_new ();
  g_object_set_data_full (G_OBJECT (msg), CALL_KEY, call, (GDestroyNotify) http_call_free);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "X-Request-ID",
                                call->request_id);
  /* The body is collected here rather than by libsoup, so it exists once in memory (no
   * flattening copy) and never beyond the limit.  The declared length is reserved up front,
   * but only when it is within the limit (else the request is refused below). */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  call->body = g_byte_array_sized_new (
      soup_message_headers_get_encoding (req_headers) == SOUP_ENCODING_CONTENT_LENGTH &&
              (guint64) soup_message_headers_get_content_length (req_headers) <= self->max_body_bytes
          ? (guint) soup_message_headers_get_content_length (req_headers)
          : 0);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), NULL);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), NULL);

  if (soup_message_headers_get_encoding (req_headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      (guint64) soup_message_headers_get_content_length (req_headers) > self->max_body_bytes)
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                                              "the body (%" G_GOFFSET_FORMAT " bytes) is larger than the limit of %" G_GUINT64_FORMAT " MB",
                                              soup_message_headers_get_content_length (req_headers),
                                              self->max_body_bytes / (1024 * 1024));
      call->counted = TRUE;
      set_error_response (self, msg, call, error);
      /* the connection can't be reused: the body was never read */
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
    }
}

/* A client that stops sending (or reading) for client_timeout_s loses its connection, so slow
 * or stalled clients cannot pin connections forever.  The timeout only applies while the
 * server waits on that socket: a request paused for inference is not affected. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);

  if (socket != NULL)
    g_socket_set_timeout (socket, self->client_timeout_s);
}

/* Releases the request's license ticket (once), recording its usage. */
static void
complete_ticket (LmdHttpTransport *self, HttpCall *call, guint status)
{
  LmdLicenseTicket *ticket = g_steal_pointer (&call->ticket);

  if (ticket != NULL)
    lmd_license_complete (lmd_router_get_license (self->router), ticket, call->audio_seconds, status);
}

static void
on_request_aborted (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  HttpCall *call = get_call (msg);

  if (call != NULL)
    complete_ticket (user_data, call, 499); /* the client closed the connection */
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  HttpCall *call = get_call (msg);
  guint status = soup_server_message_get_status (msg);

  if (call == NULL)
    return;
  complete_ticket (self, call, status);
  if (call->counted)
    {
      gpointer key = GUINT_TO_POINTER (status);
      guint64 *count = g_hash_table_lookup (self->requests_by_status, key);
      if (count == NULL)
        {
          count = g_new0 (guint64, 1);
          g_hash_table_insert (self->requests_by_status, key, count);
        }
      (*count)++;
      if (status >= 500)
        self->errors_total++;
    }
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, call->request_id, "%s %s → %u (%.3f s)%s",
                   soup_server_message_get_method (msg),
                   g_uri_get_path (soup_server_message_get_uri (msg)), status,
                   (g_get_monotonic_time () - call->started_at) / 1e6,
                   call->disconnected ? " (client disconnected)" : "");
}

static gboolean
require_method (LmdHttpTransport *self, SoupServerMessage *msg, const char *method)
{
  if (g_str_equal (soup_server_message_get_method (msg), method))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", method);
  lmd_http_respond_json (msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                         g_strdup_printf ("{\"error\":\"use %s for this path\",\"code\":\"METHOD_NOT_ALLOWED\"}", method));
  return FALSE;
}

static void
respond_not_found (LmdHttpTransport *self, SoupServerMessage *msg)
{
  HttpCall *call = get_call (msg);
  g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_NOT_FOUND, "no such path: %s",
                                          g_uri_get_path (soup_server_message_get_uri (msg)));
  set_error_response (self, msg, call, error);
}

/* ---- health and metrics ---------------------------------------------------------------- */

static void
health_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  gboolean draining = lmd_router_is_draining (self->router);
  g_autofree char *engines_why = NULL;
  LmdEngineState engines = lmd_router_get_engines_state (self->router, &engines_why);
  gboolean ready = !draining && engines == LMD_ENGINE_READY;
  gboolean detailed = FALSE;
  LmdLicense *license = lmd_router_get_license (self->router);
  LmdLicenseStatus license_status = { 0 };
  LmdJsonWriter *w;

  if (!require_method (self, msg, SOUP_METHOD_GET))
    return;
  if (license != NULL)
    lmd_license_get_status (license, &license_status);
  if (g_str_equal (path, "/healthz"))
    {
      const char *body = ready ? "true" : "false";
      soup_server_message_set_status (msg, ready ? 200 : 503, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, body, strlen (body));
      return;
    }
  if (query != NULL && g_hash_table_contains (query, "detailed"))
    lmd_parse_boolean (g_hash_table_lookup (query, "detailed"), &detailed);

  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "status");
  if (g_str_equal (self->role, "asr"))
    {
      g_autoptr (GPtrArray) models = lmd_router_list_models (self->router);
      lmd_json_writer_string (w, draining ? "draining" : engines == LMD_ENGINE_LOADING ? "loading"
                                 : engines == LMD_ENGINE_FAILED ? "unhealthy" : "ready");
      if (!ready)
        {
          lmd_json_writer_key (w, "reason");
          lmd_json_writer_string (w, draining ? "shutting down" : engines_why);
        }
      lmd_json_writer_key (w, "model");
      lmd_json_writer_string (w, models->len > 0 ? models->pdata[0] : NULL);
      lmd_json_writer_key (w, "device");
      lmd_json_writer_string (w, "cpu");
    }
  else
    {
      lmd_json_writer_string (w, ready ? "healthy" : !draining && engines == LMD_ENGINE_LOADING ? "loading"
                                 : "unhealthy");
      if (!ready)
        {
          lmd_json_writer_key (w, "reason");
          lmd_json_writer_string (w, draining ? "shutting down" : engines_why);
        }
    }
  if (detailed)
    {
      g_autoptr (GPtrArray) models = lmd_router_list_models (self->router);
      lmd_json_writer_key (w, "components");
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "api_server");
      lmd_json_writer_string (w, ready ? "healthy" : "unhealthy");
      lmd_json_writer_key (w, "lightning_asr");
      lmd_json_writer_string (w, ready ? "healthy" : !draining && engines == LMD_ENGINE_LOADING ? "loading"
                                 : "unhealthy");
      lmd_json_writer_key (w, "license_proxy");
      lmd_json_writer_string (w, license == NULL                 ? "disabled"
                                 : license_status.development_mode ? "development"
                                 : !license_status.license_valid   ? "unhealthy"
                                 : license_status.grace_period_active ? "grace_period"
                                                                      : "healthy");
      lmd_json_writer_key (w, "redis");
      lmd_json_writer_string (w, "disabled");
      lmd_json_writer_end_object (w);
      lmd_json_writer_key (w, "uptime_seconds");
      lmd_json_writer_double (w, (g_get_monotonic_time () - self->started_at) / 1e6, 1);
      lmd_json_writer_key (w, "version");
      lmd_json_writer_string (w, LMD_VERSION);
      lmd_json_writer_key (w, "role");
      lmd_json_writer_string (w, self->role);
      lmd_json_writer_key (w, "models");
      lmd_json_writer_begin_array (w);
      for (guint i = 0; i < models->len; i++)
        lmd_json_writer_string (w, models->pdata[i]);
      lmd_json_writer_end_array (w);
      if (license != NULL)
        {
          lmd_json_writer_key (w, "license");
          lmd_json_writer_begin_object (w);
          lmd_json_writer_key (w, "license_valid");
          lmd_json_writer_boolean (w, license_status.license_valid);
          lmd_json_writer_key (w, "valid_until");
          if (license_status.valid_until > 0)
            {
              g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (license_status.valid_until);
              g_autofree char *iso = g_date_time_format_iso8601 (t);
              lmd_json_writer_string (w, iso);
            }
          else
            lmd_json_writer_null (w);
          lmd_json_writer_key (w, "grace_period_active");
          lmd_json_writer_boolean (w, license_status.grace_period_active);
          lmd_json_writer_key (w, "development_mode");
          lmd_json_writer_boolean (w, license_status.development_mode);
          lmd_json_writer_end_object (w);
        }
      lmd_json_writer_key (w, "active_requests");
      lmd_json_writer_int (w, lmd_router_get_active (self->router));
      lmd_json_writer_key (w, "queued_requests");
      lmd_json_writer_int (w, lmd_router_get_queued (self->router));
    }
  lmd_json_writer_end_object (w);
  lmd_http_respond_json (msg, ready ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE,
                         lmd_json_writer_finish (w));
}

static void
metrics_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  GString *out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  gsize len;

  if (!require_method (self, msg, SOUP_METHOD_GET))
    {
      g_string_free (out, TRUE);
      return;
    }
  g_string_append_printf (out,
                          "# HELP asr_active_requests Batch requests being transcribed now.\n"
                          "# TYPE asr_active_requests gauge\nasr_active_requests %u\n"
                          "# HELP asr_batch_queue_depth Batch requests admitted and waiting for a worker.\n"
                          "# TYPE asr_batch_queue_depth gauge\nasr_batch_queue_depth %u\n"
                          "# HELP asr_active_streams Streaming sessions open now.\n"
                          "# TYPE asr_active_streams gauge\nasr_active_streams %u\n"
                          "# HELP asr_stream_queue_depth Audio frames of live streams received and not yet decoded.\n"
                          "# TYPE asr_stream_queue_depth gauge\nasr_stream_queue_depth %u\n",
                          lmd_router_get_active (self->router), lmd_router_get_queued (self->router),
                          self->streams != NULL ? lmd_http_streams_get_active (self->streams) : 0,
                          self->streams != NULL ? lmd_http_streams_get_queue_depth (self->streams) : 0);
  g_string_append (out, "# HELP asr_requests_total Transcription requests answered, by HTTP status.\n"
                        "# TYPE asr_requests_total counter\n");
  g_hash_table_iter_init (&iter, self->requests_by_status);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_string_append_printf (out, "asr_requests_total{code=\"%u\"} %" G_GUINT64_FORMAT "\n",
                            GPOINTER_TO_UINT (key), *(guint64 *) value);
  g_string_append_printf (out,
                          "# HELP asr_errors_total Transcription requests that failed on the server side.\n"
                          "# TYPE asr_errors_total counter\nasr_errors_total %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_audio_seconds_total Seconds of audio transcribed.\n"
                          "# TYPE asr_audio_seconds_total counter\nasr_audio_seconds_total %.3f\n",
                          self->errors_total, lmd_router_get_audio_seconds_total (self->router));
  len = out->len;
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}

/* ---- transcription ------------------------------------------------------------------------ */

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
        pending->call->audio_seconds = transcript->duration;
      if (transcript != NULL)
        lmd_http_respond_transcript (pending->msg, pending->dialect, transcript,
                                     pending->request_copy, pending->file_size);
      else
        set_error_response (self, pending->msg, pending->call, error);
      soup_server_message_unpause (pending->msg);
    }
  lmd_transcribe_request_free (pending->request_copy);
  g_object_unref (pending->msg);
  g_object_unref (pending->self);
  g_free (pending);
}

static void
transcribe_handler (LmdHttpTransport *self, SoupServerMessage *msg, GHashTable *query,
                    LmdHttpDialect dialect)
{
  HttpCall *call = get_call (msg);
  g_autoptr (LmdTranscribeRequest) request = lmd_transcribe_request_new (call->request_id);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  PendingResponse *pending;

  call->counted = TRUE;
  if (!require_method (self, msg, SOUP_METHOD_POST))
    return;
  {
    guint retry_after = 0;
    if (!lmd_http_auth_admit (lmd_router_get_license (self->router), msg, query, "batch",
                              call->request_id, &call->ticket, &retry_after, &error))
      {
        set_error_response_full (self, msg, call, error, retry_after);
        return;
      }
  }
  if (call->too_large)
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                           "the body is larger than the limit of %" G_GUINT64_FORMAT " MB",
                           self->max_body_bytes / (1024 * 1024));
      set_error_response (self, msg, call, error);
      return;
    }
  body = g_byte_array_free_to_bytes (g_steal_pointer (&call->body));
  if (!lmd_http_request_parse (request, msg, query, body, &error))
    {
      set_error_response (self, msg, call, error);
      return;
    }
  if (dialect == LMD_HTTP_DIALECT_OPENAI && request->options.model != NULL &&
      lmd_router_find_engine (self->router, request->options.model) == NULL)
    {
      /* OpenAI clients name their own models ("whisper-1"): serve them with the default. */
      g_clear_pointer (&request->options.model, g_free);
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
  pending->dialect = dialect;
  pending->file_size = request->audio != NULL ? g_bytes_get_size (request->audio) : 0;
  pending->request_copy = lmd_transcribe_request_new (request->request_id);
  lmd_transcribe_options_clear (&pending->request_copy->options);
  lmd_transcribe_options_copy (&pending->request_copy->options, &request->options);

  self->in_flight++;
  soup_server_message_pause (msg);
  lmd_router_transcribe_async (self->router, g_steal_pointer (&request), call->cancellable,
                               transcribe_done, pending);
}

static void
listen_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  if (!g_str_equal (path, "/v1/listen"))
    respond_not_found (user_data, msg);
  else
    transcribe_handler (user_data, msg, query, LMD_HTTP_DIALECT_LISTEN);
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
websocket_handler (SoupServer *server, SoupServerMessage *msg, const char *path,
                   SoupWebsocketConnection *conn, gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  HttpCall *call = get_call (msg);

  lmd_http_streams_accept (self->streams, msg, conn, call != NULL ? call->request_id : NULL);
}

static void
get_text_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  if (g_str_equal (path, "/api/v1/lightning/get_text") && is_websocket_upgrade (msg))
    return; /* the live dialect of the same path */
  if (!g_str_equal (path, "/api/v1/lightning/get_text"))
    respond_not_found (user_data, msg);
  else
    {
      transcribe_handler (user_data, msg, query, LMD_HTTP_DIALECT_GET_TEXT);
      /* This path also has a WebSocket handler, which libsoup tries (and answers 400) after
       * this one whenever the status is still unset, as it is on a message paused for the
       * router: a provisional status skips it, and the router's answer replaces it. */
      if (soup_server_message_get_status (msg) == 0)
        soup_server_message_set_status (msg, SOUP_STATUS_ACCEPTED, NULL);
    }
}

static void
openai_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  if (!g_str_equal (path, "/v1/audio/transcriptions"))
    respond_not_found (user_data, msg);
  else
    transcribe_handler (user_data, msg, query, LMD_HTTP_DIALECT_OPENAI);
}

static void
default_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
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
  { "/v1/listen", listen_handler },
  { "/api/v1/lightning/get_text", get_text_handler },
  { "/v1/audio/transcriptions", openai_handler },
  { "/v1/listen/stream", stream_handler },
  { "/waves/v1/pulse/get_text", stream_handler },
};

/* WebSocket paths (live transcription); each also has a normal handler above. */
static const char *const websocket_paths[] = {
  "/v1/listen/stream", "/api/v1/lightning/get_text", "/waves/v1/pulse/get_text",
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
      !lmd_stream_config_load (&self->stream_config, config, error))
    return FALSE;
  self->port = (guint) port;
  g_free (self->host);
  self->host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
  g_free (self->role);
  self->role = lmd_config_get_string (config, "server", "role", "all");
  self->max_body_bytes = limits.max_body_bytes;
  return TRUE;
}

static gboolean
http_start (LmdTransport *transport, LmdRouter *router, GError **error)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);
  g_autoptr (GInetAddress) address = g_inet_address_new_from_string (self->host);
  g_autoptr (GSocketAddress) socket_address = NULL;

  if (address == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "host '%s' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or ::)", self->host);
      return FALSE;
    }
  self->router = router;
  self->server = soup_server_new ("server-header", "lightning-mediad/" LMD_VERSION " ", NULL);
  /* libsoup keeps one handler entry per path, holding both the early and the normal
   * callback: the early handler is registered on every path so it runs for every request. */
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      soup_server_add_early_handler (self->server, routes[i].path, early_handler, self, NULL);
      soup_server_add_handler (self->server, routes[i].path, routes[i].handler, self, NULL);
    }
  self->streams = lmd_http_streams_new (&self->stream_config, router);
  for (guint i = 0; i < G_N_ELEMENTS (websocket_paths); i++)
    soup_server_add_websocket_handler (self->server, websocket_paths[i], NULL, NULL,
                                       websocket_handler, self, NULL);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_finished), self);
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (on_request_aborted), self);

  socket_address = g_inet_socket_address_new (address, self->port);
  if (!soup_server_listen (self->server, socket_address, 0, error))
    {
      g_prefix_error (error, "cannot listen on %s:%u: ", self->host, self->port);
      g_clear_object (&self->server);
      return FALSE;
    }
  /* the bound port, read from the listening socket (port 0 picks a free one) */
  {
    GSList *listeners = soup_server_get_listeners (self->server);
    if (listeners != NULL)
      {
        g_autoptr (GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);
        if (local != NULL && G_IS_INET_SOCKET_ADDRESS (local))
          self->bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
      }
    g_slist_free (listeners);
  }
  self->started_at = g_get_monotonic_time ();
  return TRUE;
}

static void
http_stop (LmdTransport *transport)
{
  LmdHttpTransport *self = LMD_HTTP_TRANSPORT (transport);
  GSList *listeners;

  if (self->server == NULL)
    return;
  /* Close only the listening sockets: requests in flight still get their answers. */
  listeners = soup_server_get_listeners (self->server);
  for (GSList *l = listeners; l != NULL; l = l->next)
    g_socket_close (l->data, NULL);
  g_slist_free (listeners);
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

  return self->in_flight + (self->streams != NULL ? lmd_http_streams_get_active (self->streams) : 0);
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

  if (self->server != NULL)
    soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  g_clear_pointer (&self->streams, lmd_http_streams_unref);
  g_free (self->host);
  g_free (self->role);
  g_hash_table_unref (self->requests_by_status);
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
  self->requests_by_status = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
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
