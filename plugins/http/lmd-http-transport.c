/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-transport.h"

#include <errno.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/socket.h>

#include "lmd-body-spool.h"
#include "lmd-http-body.h"
#include "lmd-http-upload-budget.h"
#include "lmd-build-config.h"
#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-histogram.h"
#include "lmd-http-auth.h"
#include "lmd-http-forwarder.h"
#include "lmd-http-job-lookup.h"
#include "lmd-http-listener.h"
#include "lmd-http-refusal.h"
#include "lmd-http-relay.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-http-stream.h"
#include "lmd-job.h"
#include "lmd-job-store.h"
#include "lmd-json.h"
#include "lmd-json-writer.h"
#include "lmd-log.h"
#include "lmd-plugin.h"
#include "lmd-router.h"
#include "lmd-static-state.h"
#include "lmd-transport.h"
#include "lmd-url-fetcher.h"
#include "lmd-vad-stats.h"
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
  GHashTable *requests_by_status; /* guint status → guint64 count, transcription endpoints */
  guint64 errors_total;
  LmdStreamConfig stream_config;
  LmdHttpStreams *streams;  /* owned; live transcription over WebSocket */
  LmdHistogram *e2e_latency;   /* owned: request received → answered (s) */
  LmdHistogram *processing;    /* owned: transcription (or the worker's answer) (s) */
  double rtf_sum;              /* processing time / audio time, summed */
  guint64 rtf_count;
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

/* State of one HTTP request, attached to its SoupServerMessage. */
typedef struct {
  LmdHttpTransport *self;   /* borrowed: the transport owns the server that owns the message */
  char *request_id;         /* owned */
  gint64 started_at;
  guint64 body_bytes;
  gboolean too_large;
  LmdHttpBody *body;         /* owned, nullable: an admitted transcription request's body,
                              * collected chunk by chunk (in memory or a file) */
  gboolean uploading;        /* counted in the upload budget until its body is in */
  gboolean body_failed;      /* the body could not be stored (disk full) */
  LmdBodySpool *spool;       /* owned, role api: the body on its way to a worker, instead of body */
  gboolean paused;           /* role api: the body is in, the message waits for the worker */
  gboolean answered;         /* role api: the response is set (possibly before the body is in) */
  LmdLicenseTicket *ticket;  /* owned: admission by the license service, until answered */
  gboolean admitted;         /* admitted from the headers, before its body was read */
  double audio_seconds;      /* transcribed, for usage metering */
  gboolean counted;         /* a transcription endpoint: counts in metrics */
  gboolean disconnected;
  GCancellable *cancellable; /* owned */
  gint64 processing_started; /* monotonic µs, 0 = not started */
  GSource *watch;            /* owned, nullable: the client's socket, while the message is paused */
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

/* The request's body (in memory or spooled), once nothing reads it any more. */
static void
http_call_release_body (HttpCall *call)
{
  g_clear_pointer (&call->body, lmd_http_body_free);
  if (call->uploading)
    {
      call->uploading = FALSE;
      lmd_http_upload_budget_end_upload (call->self->uploads);
    }
  if (call->spool != NULL)
    {
      g_autoptr (GError) ended = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the request has ended");
      lmd_body_spool_abort (call->spool, ended);
      g_clear_pointer (&call->spool, lmd_body_spool_unref);
    }
}

static void
http_call_free (HttpCall *call)
{
  /* a message dropped without finishing still releases its admission */
  if (call->ticket != NULL)
    lmd_license_complete (lmd_router_get_license (call->self->router), g_steal_pointer (&call->ticket),
                          call->audio_seconds, 499);
  g_free (call->request_id);
  g_clear_object (&call->cancellable);
  if (call->watch != NULL)
    {
      g_source_destroy (call->watch);
      g_source_unref (call->watch);
    }
  http_call_release_body (call);
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

static void set_error_response (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call,
                                const GError *error);
static void on_disconnected (SoupServerMessage *msg, gpointer user_data);

/* libsoup does no I/O on a paused message, so a client that closes its connection while its
 * request is worked on would go unnoticed until the answer is written.  While paused, the
 * socket is watched: the end of the stream (or a reset) means the client left, and the work
 * is cancelled (for an api, that closes its connection to the worker, whose own watch then
 * stops the transcription).  A client that half-closes its side after sending a request
 * counts as gone too. */
static gboolean
on_client_socket (int fd, GIOCondition condition, gpointer user_data)
{
  SoupServerMessage *msg = user_data;
  HttpCall *call = get_call (msg);
  char byte;
  gssize n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&call->watch, g_source_unref);
  if (n > 0)
    return G_SOURCE_REMOVE; /* more from the client (a pipelined request): nothing to tell */
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "the client closed its connection; stopping the request");
  on_disconnected (msg, NULL);
  /* libsoup finishes the message when it tries to answer on the closed socket */
  soup_server_message_set_status (msg, 499, "Client Closed Request");
  call->paused = FALSE;
  soup_server_message_unpause (msg);
  return G_SOURCE_REMOVE;
}

/* Pauses @msg while its request is worked on, watching its client. */
static void
call_hold (SoupServerMessage *msg)
{
  HttpCall *call = get_call (msg);
  GSocket *socket = soup_server_message_get_socket (msg);

  soup_server_message_pause (msg);
  if (call != NULL && call->watch == NULL && socket != NULL)
    {
      call->watch = g_unix_fd_source_new (g_socket_get_fd (socket), G_IO_IN | G_IO_HUP | G_IO_ERR);
      g_source_set_callback (call->watch, G_SOURCE_FUNC (on_client_socket), msg, NULL);
      g_source_attach (call->watch, g_main_context_get_thread_default ());
    }
}

/* The answer is set: libsoup sends it. */
static void
call_resume (SoupServerMessage *msg)
{
  HttpCall *call = get_call (msg);

  if (call != NULL && call->watch != NULL)
    {
      g_source_destroy (call->watch);
      g_clear_pointer (&call->watch, g_source_unref);
    }
  soup_server_message_unpause (msg);
}

/* Role api: the response of a streamed request is set.  Before the whole body is in, libsoup
 * sends it once the body has been read (and calls no handler); after, the message is paused
 * waiting for it. */
static void
stream_answered (SoupServerMessage *msg, HttpCall *call)
{
  call->answered = TRUE;
  if (call->paused)
    {
      call->paused = FALSE;
      call_resume (msg);
    }
}

/* Role api: answers @error now and stops the body's way to a worker (the rest of the body is
 * still read, and dropped: HTTP/1.1 gives no other way to answer). */
static void
stream_fail (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, const GError *error)
{
  lmd_body_spool_abort (call->spool, error);
  g_cancellable_cancel (call->cancellable); /* the admission or the worker's request */
  if (!call->answered && !call->disconnected)
    {
      set_error_response (self, msg, call, error);
      stream_answered (msg, call);
    }
}

static void
spool_chunk (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, GBytes *chunk)
{
  g_autoptr (GError) error = NULL;

  if (call->answered || call->too_large)
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
  HttpCall *call = get_call (msg);

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
  HttpCall *call = get_call (msg);

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

static void
on_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  HttpCall *call = get_call (msg);

  if (call != NULL && !call->disconnected)
    {
      call->disconnected = TRUE;
      g_cancellable_cancel (call->cancellable);
      if (call->spool != NULL)
        {
          g_autoptr (GError) gone = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "the client went away");
          lmd_body_spool_abort (call->spool, gone);
        }
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

static void stream_start (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, GHashTable *query);
static void early_admit (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, GHashTable *query,
                         LmdHttpDialect dialect);
static void count_answer (LmdHttpTransport *self, HttpCall *call, guint status);

/* Answers @error from the request's headers and reads none of its body (lmd-http-refusal.h). */
static void
refuse_from_headers (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call,
                     const GError *error, guint retry_after_s)
{
  set_error_response_full (self, msg, call, error, retry_after_s);
  call->answered = TRUE;
  /* libsoup emits no request-finished for a message whose connection is taken */
  if (call->counted)
    count_answer (self, call, soup_server_message_get_status (msg));
  if (call->spool != NULL)
    lmd_body_spool_abort (call->spool, error);
  g_cancellable_cancel (call->cancellable);
  lmd_http_refuse_now (msg);
}

/* The dialect of a transcription request (POST to one of its paths); FALSE for any other. */
static gboolean
transcription_dialect (SoupServerMessage *msg, const char *path, LmdHttpDialect *dialect)
{
  if (!g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_POST))
    return FALSE;
  if (g_str_equal (path, "/v1/listen"))
    *dialect = LMD_HTTP_DIALECT_LISTEN;
  else if (g_str_equal (path, "/api/v1/lightning/get_text"))
    *dialect = LMD_HTTP_DIALECT_GET_TEXT;
  else if (g_str_equal (path, "/v1/audio/transcriptions"))
    *dialect = LMD_HTTP_DIALECT_OPENAI;
  else
    return FALSE;
  return TRUE;
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
  HttpCall *call = g_new0 (HttpCall, 1);
  LmdHttpDialect dialect = LMD_HTTP_DIALECT_LISTEN;
  gboolean transcribes = transcription_dialect (msg, path, &dialect);
  gboolean streams;
  const char *content_type = soup_message_headers_get_content_type (req_headers, NULL);

  call->self = self;
  call->request_id = client_id != NULL && request_id_is_acceptable (client_id) ? g_strdup (client_id)
                                                                               : new_request_id ();
  call->started_at = g_get_monotonic_time ();
  call->cancellable = g_cancellable_new ();
  g_object_set_data_full (G_OBJECT (msg), CALL_KEY, call, (GDestroyNotify) http_call_free);
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
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), NULL);

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
    early_admit (self, msg, call, query, dialect);
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

/* A transcription request answered with @status, in the metrics. */
static void
count_answer (LmdHttpTransport *self, HttpCall *call, guint status)
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
  if (status == SOUP_STATUS_OK)
    lmd_histogram_observe (self->e2e_latency, (g_get_monotonic_time () - call->started_at) / 1e6);
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
  /* the answer is out: the message itself may outlive the request (the connection tracker
   * keeps the last one of a kept-alive connection), its body need not */
  http_call_release_body (call);
  if (call->counted)
    count_answer (self, call, status);
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

/* What this process's engines compute on: the first GPU an engine names (else the first
 * engine's device, "cpu" without engines), the most device memory one of them reports (the
 * engines of one backend share the device's weights and report the same total), and their
 * decoder steps by batch size added up.  Free device->name. */
static void
engines_device (LmdHttpTransport *self, LmdEngineDevice *device)
{
  g_autoptr (GPtrArray) models = lmd_router_list_models (self->router);

  memset (device, 0, sizeof *device);
  for (guint i = 0; i < models->len; i++)
    {
      LmdEngine *engine = lmd_router_find_engine (self->router, models->pdata[i]);
      LmdEngineDevice d;

      if (engine == NULL)
        continue;
      lmd_engine_get_device (engine, &d);
      if (device->name == NULL || (d.gpu && !device->gpu))
        {
          g_free (device->name);
          device->name = g_steal_pointer (&d.name);
          device->gpu = d.gpu;
        }
      device->memory_bytes = MAX (device->memory_bytes, d.memory_bytes);
      for (guint b = 1; b <= LMD_ENGINE_MAX_BATCH; b++)
        device->batches[b] += d.batches[b];
      g_free (d.name);
    }
  if (device->name == NULL)
    device->name = g_strdup ("cpu");
}

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
  gboolean no_worker = FALSE;
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
  if (self->forwards && ready && lmd_worker_picker_count_live (self->picker) == 0)
    {
      /* an api with no worker cannot serve: a load balancer should look elsewhere */
      ready = FALSE;
      no_worker = TRUE;
    }
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
      {
        LmdEngineDevice device;

        engines_device (self, &device);
        lmd_json_writer_string (w, device.name);
        g_free (device.name);
      }
    }
  else
    {
      lmd_json_writer_string (w, ready ? "healthy" : !draining && engines == LMD_ENGINE_LOADING ? "loading"
                                 : "unhealthy");
      if (!ready)
        {
          lmd_json_writer_key (w, "reason");
          lmd_json_writer_string (w, draining ? "shutting down"
                                     : no_worker ? "no transcription worker is live" : engines_why);
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
      lmd_json_writer_string (w, self->forwards ? (no_worker ? "unhealthy" : "healthy")
                                 : draining || engines == LMD_ENGINE_FAILED ? "unhealthy"
                                 : engines == LMD_ENGINE_LOADING ? "loading" : "healthy");
      lmd_json_writer_key (w, "license_proxy");
      lmd_json_writer_string (w, license == NULL                 ? "disabled"
                                 : license_status.development_mode ? "development"
                                 : !license_status.license_valid   ? "unhealthy"
                                 : license_status.grace_period_active ? "grace_period"
                                                                      : "healthy");
      lmd_json_writer_key (w, "redis");
      {
        /* the worker registry's connection, else the shared limits' (role all) */
        const char *redis = lmd_router_get_state (self->router) != NULL
                              ? lmd_state_get_store_health (lmd_router_get_state (self->router))
                              : "disabled";
        if (g_str_equal (redis, "disabled") && g_strcmp0 (license_status.limits_store, "redis") == 0)
          redis = license_status.limits_shared ? "healthy" : "unhealthy";
        lmd_json_writer_string (w, redis);
      }
      lmd_json_writer_end_object (w);
      if (self->forwards)
        {
          lmd_json_writer_key (w, "workers");
          lmd_json_writer_int (w, lmd_worker_picker_count_live (self->picker));
        }
      lmd_json_writer_key (w, "uptime_seconds");
      lmd_json_writer_double (w, (g_get_monotonic_time () - self->started_at) / 1e6, 1);
      lmd_json_writer_key (w, "version");
      lmd_json_writer_string (w, LMD_VERSION);
      lmd_json_writer_key (w, "role");
      lmd_json_writer_string (w, self->role);
      if (!self->forwards)
        {
          LmdEngineDevice device;

          engines_device (self, &device);
          lmd_json_writer_key (w, "device");
          lmd_json_writer_string (w, device.name);
          g_free (device.name);
        }
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
          /* where the per-key limits are counted: "local", or the shared store ("redis"),
           * "local_fallback" while it is unreachable */
          lmd_json_writer_key (w, "limits");
          lmd_json_writer_string (w, license_status.limits_store == NULL ? "local"
                                     : license_status.limits_shared ? license_status.limits_store
                                                                    : "local_fallback");
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
  guint active, queued, streams, stream_queue;

  if (!require_method (self, msg, SOUP_METHOD_GET))
    {
      g_string_free (out, TRUE);
      return;
    }
  if (self->forwards)
    {
      /* an api process: the work it has at workers, and the stream frames it holds */
      active = self->forwarded;
      queued = 0;
      streams = g_hash_table_size (self->relays);
      stream_queue = 0;
      g_hash_table_iter_init (&iter, self->relays);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        stream_queue += lmd_http_relay_get_pending (key);
    }
  else
    {
      active = lmd_router_get_active (self->router);
      queued = lmd_router_get_queued (self->router);
      streams = self->streams != NULL ? lmd_http_streams_get_active (self->streams) : 0;
      stream_queue = self->streams != NULL ? lmd_http_streams_get_queue_depth (self->streams) : 0;
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
                          active, queued, streams, stream_queue);
  if (lmd_http_listener_get_connections (self->server) != NULL)
    lmd_http_connection_tracker_render_metrics (lmd_http_listener_get_connections (self->server), out);
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
                          self->errors_total,
                          self->forwards ? self->audio_seconds_forwarded
                                         : lmd_router_get_audio_seconds_total (self->router));
  lmd_histogram_render (self->processing, out, "asr_processing_duration_seconds",
                        self->forwards ? "Time from forwarding a request to the worker's answer."
                                       : "Time spent transcribing a request, queueing included.");
  lmd_histogram_render (self->e2e_latency, out, "asr_e2e_latency_seconds",
                        "Time from receiving a request to answering it (successful requests).");
  {
    char sum[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf (out,
                            "# HELP asr_real_time_factor Processing time divided by audio duration.\n"
                            "# TYPE asr_real_time_factor summary\n"
                            "asr_real_time_factor_sum %s\nasr_real_time_factor_count %" G_GUINT64_FORMAT "\n",
                            g_ascii_formatd (sum, sizeof sum, "%.6f", self->rtf_sum), self->rtf_count);
  }
  if (lmd_router_get_license (self->router) != NULL)
    {
      LmdLicenseStatus status;
      lmd_license_get_status (lmd_router_get_license (self->router), &status);
      if (status.limits_store != NULL)
        g_string_append_printf (out,
                                "# HELP license_limits_shared Per-key limits counted in the shared store (1) or, while it is unreachable, in this process (0).\n"
                                "# TYPE license_limits_shared gauge\nlicense_limits_shared %d\n"
                                "# HELP license_limits_local_admissions_total Admissions decided by this process alone because the shared limit store was unreachable.\n"
                                "# TYPE license_limits_local_admissions_total counter\nlicense_limits_local_admissions_total %" G_GUINT64_FORMAT "\n",
                                status.limits_shared ? 1 : 0, status.limits_local_admissions);
    }
  g_string_append_printf (out,
                          "# HELP asr_uploads_in_progress Request bodies being received now.\n"
                          "# TYPE asr_uploads_in_progress gauge\nasr_uploads_in_progress %u\n"
                          "# HELP asr_upload_memory_bytes Memory reserved for request bodies now.\n"
                          "# TYPE asr_upload_memory_bytes gauge\nasr_upload_memory_bytes %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_uploads_spooled_total Request bodies written to a file because max_buffered_mb was reached.\n"
                          "# TYPE asr_uploads_spooled_total counter\nasr_uploads_spooled_total %" G_GUINT64_FORMAT "\n",
                          lmd_http_upload_budget_get_uploads (self->uploads),
                          lmd_http_upload_budget_get_reserved (self->uploads),
                          lmd_http_upload_budget_get_spooled_total (self->uploads));
  if (!self->forwards)
    {
      LmdEngineDevice device;
      guint64 cumulative = 0, rows = 0;

      engines_device (self, &device);
      g_string_append_printf (out,
                              "# HELP asr_gpu_memory_bytes Device memory the engines hold (weights and buffers; under cuda-emu the emulated device's); 0 on the CPU.\n"
                              "# TYPE asr_gpu_memory_bytes gauge\nasr_gpu_memory_bytes %" G_GUINT64_FORMAT "\n"
                              "# HELP asr_decoder_batch_size Rows (sequences) of each decoder step: 1 for greedy and sampling, the live beams for beam search.\n"
                              "# TYPE asr_decoder_batch_size histogram\n",
                              device.memory_bytes);
      for (guint b = 1; b <= LMD_ENGINE_MAX_BATCH; b++)
        {
          cumulative += device.batches[b];
          rows += device.batches[b] * b;
          if ((b & (b - 1)) == 0) /* buckets 1, 2, 4, 8, 16 */
            g_string_append_printf (out, "asr_decoder_batch_size_bucket{le=\"%u\"} %" G_GUINT64_FORMAT "\n",
                                    b, cumulative);
        }
      g_string_append_printf (out,
                              "asr_decoder_batch_size_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n"
                              "asr_decoder_batch_size_sum %" G_GUINT64_FORMAT "\n"
                              "asr_decoder_batch_size_count %" G_GUINT64_FORMAT "\n",
                              cumulative, rows, cumulative);
      g_free (device.name);
    }
  if (!self->forwards)
    {
      double vad_seconds, skipped_seconds;
      char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];

      lmd_vad_stats_get (&vad_seconds, &skipped_seconds);
      g_string_append_printf (out,
                              "# HELP asr_vad_seconds_total Time spent in voice-activity detection.\n"
                              "# TYPE asr_vad_seconds_total counter\nasr_vad_seconds_total %s\n"
                              "# HELP asr_vad_skipped_audio_seconds_total Seconds of audio left out of decoding as silence.\n"
                              "# TYPE asr_vad_skipped_audio_seconds_total counter\nasr_vad_skipped_audio_seconds_total %s\n",
                              g_ascii_formatd (a, sizeof a, "%.6f", vad_seconds),
                              g_ascii_formatd (b, sizeof b, "%.3f", skipped_seconds));
    }
  if (self->forwards)
    g_string_append_printf (out, "# HELP asr_workers_live Transcription workers this api process can use.\n"
                                 "# TYPE asr_workers_live gauge\nasr_workers_live %u\n",
                            lmd_worker_picker_count_live (self->picker));
  len = out->len;
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}

/* ---- transcription ------------------------------------------------------------------------ */

/* A transcription (local, or at a worker) ended with @audio_seconds of audio. */
static void
observe_processing (LmdHttpTransport *self, HttpCall *call, double audio_seconds)
{
  double seconds;

  if (call->processing_started == 0)
    return;
  seconds = (g_get_monotonic_time () - call->processing_started) / 1e6;
  lmd_histogram_observe (self->processing, seconds);
  if (audio_seconds > 0)
    {
      self->rtf_sum += seconds / audio_seconds;
      self->rtf_count++;
    }
}

static void
forward_done (SoupServerMessage *msg, guint status, double audio_seconds, const GError *error,
              gpointer user_data)
{
  LmdHttpTransport *self = user_data; /* owned ref */
  HttpCall *call = get_call (msg);

  self->forwarded--;
  if (call != NULL && call->disconnected)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id, "client went away before the worker answered");
  else if (call != NULL && !call->answered)
    {
      if (error != NULL)
        set_error_response (self, msg, call, error);
      else
        {
          call->audio_seconds = audio_seconds;
          self->audio_seconds_forwarded += audio_seconds;
          if (status == SOUP_STATUS_OK)
            observe_processing (self, call, audio_seconds);
        }
      stream_answered (msg, call);
    }
  g_object_unref (self);
}

/* Role api, once admitted: the request goes to a worker as it is (the worker parses and
 * validates it), its body streamed from the spool while the client still sends it. */
static void
forward_request (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, GHashTable *query)
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
        lmd_http_respond_transcript (pending->msg, pending->dialect, transcript,
                                     pending->request_copy, pending->file_size);
      else
        set_error_response (self, pending->msg, pending->call, error);
      call_resume (pending->msg);
    }
  lmd_transcribe_request_free (pending->request_copy);
  g_object_unref (pending->msg);
  g_object_unref (pending->self);
  g_free (pending);
}

/* ---- asynchronous jobs -------------------------------------------------------------------- */

/* What the job store's callbacks need. */
typedef struct {
  LmdHttpTransport *self;   /* owned ref */
  SoupServerMessage *msg;   /* owned ref */
  HttpCall *call;           /* borrowed: lives as long as msg */
  char *job_id;             /* owned */
} PendingJob;

static void
pending_job_finish (PendingJob *pending)
{
  pending->self->in_flight--;
  if (!pending->call->disconnected)
    call_resume (pending->msg);
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
  pending->call = get_call (msg);
  pending->job_id = g_strdup (job_id);
  self->in_flight++;
  call_hold (msg);
  return pending;
}

static void
job_submitted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingJob *pending = user_data;
  g_autoptr (GError) error = NULL;

  if (!lmd_job_store_submit_finish (LMD_JOB_STORE (source), result, &error))
    set_error_response (pending->self, pending->msg, pending->call, error);
  else
    {
      LmdJsonWriter *w = lmd_json_writer_new ();

      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, pending->call->request_id, "accepted job %s (%s store)",
                       pending->job_id, lmd_job_store_get_name (LMD_JOB_STORE (source)));
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "job_id");
      lmd_json_writer_string (w, pending->job_id);
      lmd_json_writer_key (w, "status");
      lmd_json_writer_string (w, "processing");
      lmd_json_writer_key (w, "request_id");
      lmd_json_writer_string (w, pending->call->request_id);
      lmd_json_writer_end_object (w);
      lmd_http_respond_json (pending->msg, SOUP_STATUS_ACCEPTED, lmd_json_writer_finish (w));
    }
  pending_job_finish (pending);
}

/* POST /v1/listen with callback_url: validates, stores the job, answers 202.  The license
 * ticket of the request is completed when the 202 is sent, like any other answer. */
static void
submit_job (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call,
            LmdTranscribeRequest *request)
{
  LmdJobStore *store = lmd_router_get_job_store (self->router);
  const LmdLimits *limits = lmd_router_get_limits (self->router);
  g_autoptr (GError) error = NULL;
  LmdJob *job;

  if (!lmd_url_check_destination (request->options.callback_url, limits->allow_private_urls,
                                  "callback_url", &error) ||
      (request->url != NULL &&
       !lmd_url_check_destination (request->url, limits->allow_private_urls, "url", &error)))
    {
      set_error_response (self, msg, call, error);
      call_resume (msg);
      return;
    }
  if (store == NULL || lmd_router_is_draining (self->router))
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                           store == NULL ? "asynchronous jobs are not available on this server"
                                         : "the server is shutting down");
      set_error_response (self, msg, call, error);
      call_resume (msg);
      return;
    }
  job = lmd_job_new (call->request_id, request->options.callback_url);
  job->audio = request->audio != NULL ? g_bytes_ref (request->audio) : NULL;
  job->url = g_strdup (request->url);
  lmd_transcribe_options_clear (&job->options);
  lmd_transcribe_options_copy (&job->options, &request->options);
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
      set_error_response (pending->self, pending->msg, pending->call, answer);
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
      set_error_response (pending->self, pending->msg, pending->call, error);
    }
  pending_job_finish (pending);
}

/* Role api without a shared job store: each worker keeps the jobs it accepted, so every live
 * worker is asked (LmdHttpJobLookup). */
static void
ask_workers_for_job (LmdHttpTransport *self, SoupServerMessage *msg, const char *job_id)
{
  g_autoptr (GPtrArray) workers = lmd_state_list_workers (lmd_router_get_state (self->router));
  g_autoptr (GPtrArray) urls = g_ptr_array_new ();
  HttpCall *call = get_call (msg);

  for (guint i = 0; i < workers->len; i++)
    g_ptr_array_add (urls, ((LmdWorkerInfo *) workers->pdata[i])->url);
  g_ptr_array_add (urls, NULL);
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, call->request_id, "job %s: asking %u worker(s)", job_id, workers->len);
  lmd_http_job_lookup_start (lmd_http_forwarder_get_session (self->forwarder), (const char *const *) urls->pdata,
                             job_id, call->request_id, MIN (self->worker_timeout_s, 10), job_found_at_worker,
                             pending_job_new (self, msg, job_id));
}

/* GET /v1/jobs/{job_id} */
static void
jobs_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
              gpointer user_data)
{
  LmdHttpTransport *self = user_data;
  HttpCall *call = get_call (msg);
  LmdJobStore *store = lmd_router_get_job_store (self->router);
  const char *job_id = g_str_has_prefix (path, "/v1/jobs/") ? path + strlen ("/v1/jobs/") : NULL;
  g_autoptr (GError) error = NULL;

  if (!require_method (self, msg, SOUP_METHOD_GET))
    return;
  if (self->forwards && store == NULL && lmd_job_id_is_valid (job_id))
    {
      ask_workers_for_job (self, msg, job_id);
      return;
    }
  if (!lmd_job_id_is_valid (job_id) || store == NULL)
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_NOT_FOUND, "no such job: %s", path);
      set_error_response (self, msg, call, error);
      return;
    }
  lmd_job_store_lookup_async (store, job_id, job_looked_up, pending_job_new (self, msg, job_id));
}

/* A request waiting for the license service's answer (the message is paused meanwhile). */
typedef struct {
  LmdHttpTransport *self;   /* owned ref */
  SoupServerMessage *msg;   /* owned ref */
  GHashTable *query;        /* owned ref, nullable */
  LmdHttpDialect dialect;
  gboolean early;           /* asked from the headers: the body is not read yet */
} AdmitWait;

/* Runs the admitted request: the message is paused, and stays so while the router works. */
static void
transcribe_admitted (LmdHttpTransport *self, SoupServerMessage *msg, GHashTable *query,
                     LmdHttpDialect dialect)
{
  HttpCall *call = get_call (msg);
  g_autoptr (LmdTranscribeRequest) request = lmd_transcribe_request_new (call->request_id);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = NULL;
  PendingResponse *pending;

  if (call->too_large)
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                           "the body is larger than the limit of %" G_GUINT64_FORMAT " MB",
                           self->max_body_bytes / (1024 * 1024));
      set_error_response (self, msg, call, error);
      call_resume (msg);
      return;
    }
  if (call->body == NULL && !call->body_failed)
    body = g_bytes_new (NULL, 0);
  else if (call->body_failed || (body = lmd_http_body_finish (call->body, &error)) == NULL)
    {
      g_autoptr (GError) answer = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                               "the request body could not be stored (%s); retry later",
                                               error != NULL ? error->message : "no room for it");
      set_error_response (self, msg, call, answer);
      call_resume (msg);
      return;
    }
  if (!lmd_http_request_parse (request, msg, query, body, &error))
    {
      set_error_response (self, msg, call, error);
      call_resume (msg);
      return;
    }
  if (dialect == LMD_HTTP_DIALECT_OPENAI && request->options.model != NULL &&
      lmd_router_find_engine (self->router, request->options.model) == NULL)
    {
      /* OpenAI clients name their own models ("whisper-1"): serve them with the default. */
      g_clear_pointer (&request->options.model, g_free);
    }
  if (!lmd_http_auth_allows_engine (lmd_router_get_license (self->router), call->ticket,
                                    self->router,
                                    lmd_router_find_engine (self->router, request->options.model),
                                    &error))
    {
      set_error_response (self, msg, call, error);
      call_resume (msg);
      return;
    }
  if (dialect == LMD_HTTP_DIALECT_LISTEN && request->options.callback_url != NULL)
    {
      submit_job (self, msg, call, request);
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
  pending->dialect = dialect;
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
  HttpCall *call = get_call (wait->msg);
  g_autoptr (GError) error = NULL;
  LmdLicenseTicket *ticket = NULL;
  guint retry_after = 0;
  gboolean admitted = lmd_http_auth_admit_finish (lmd_router_get_license (self->router), result,
                                                  &ticket, &retry_after, &error);

  self->in_flight--;
  /* the call owns the ticket from here: whatever happens, it is completed exactly once */
  call->ticket = ticket;
  if (call->spool != NULL)
    {
      /* role api: admitted while the body may still be arriving */
      if (call->disconnected)
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, call->request_id,
                         "client went away while the license was checked; dropping the request");
      else if (call->answered)
        ; /* refused meanwhile (too large) */
      else if (!admitted && !lmd_body_spool_is_complete (call->spool))
        refuse_from_headers (self, wait->msg, call, error, retry_after); /* the rest is not read */
      else if (!admitted)
        {
          lmd_body_spool_abort (call->spool, error);
          set_error_response_full (self, wait->msg, call, error, retry_after);
          stream_answered (wait->msg, call);
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
      set_error_response_full (self, wait->msg, call, error, retry_after);
      call_resume (wait->msg);
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
    transcribe_admitted (self, wait->msg, wait->query, wait->dialect);
  g_clear_pointer (&wait->query, g_hash_table_unref);
  g_object_unref (wait->msg);
  g_object_unref (wait->self);
  g_free (wait);
}

static void
transcribe_handler (LmdHttpTransport *self, SoupServerMessage *msg, GHashTable *query,
                    LmdHttpDialect dialect)
{
  HttpCall *call = get_call (msg);
  AdmitWait *wait;

  if (call->spool != NULL)
    {
      /* role api: admitted (or being admitted) since the headers came, the body is all in;
       * the message waits for the worker's answer */
      lmd_body_spool_finish (call->spool);
      if (!call->answered)
        {
          call->paused = TRUE;
          call_hold (msg);
        }
      return;
    }
  call->counted = TRUE;
  if (!require_method (self, msg, SOUP_METHOD_POST))
    return;
  if (call->admitted)
    {
      /* admitted from the headers (early_admit) */
      call_hold (msg);
      transcribe_admitted (self, msg, query, dialect);
      return;
    }
  /* admission may wait for a license service in another process: the message is paused
   * until it answers (and stays paused while the router works on it) */
  wait = g_new0 (AdmitWait, 1);
  wait->self = g_object_ref (self);
  wait->msg = g_object_ref (msg);
  wait->query = query != NULL ? g_hash_table_ref (query) : NULL;
  wait->dialect = dialect;
  self->in_flight++;
  call_hold (msg);
  lmd_http_auth_admit_async (lmd_router_get_license (self->router), msg, query, "batch",
                             call->request_id, call->cancellable, admit_done, wait);
}

/* Role api, from the early handler: admission starts as soon as the headers are in, while the
 * body goes to the spool; admitted, the request is forwarded at once, its body streaming. */
static void
stream_start (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, GHashTable *query)
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
      set_error_response (self, msg, call, answer);
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
early_admit (LmdHttpTransport *self, SoupServerMessage *msg, HttpCall *call, GHashTable *query,
             LmdHttpDialect dialect)
{
  AdmitWait *wait = g_new0 (AdmitWait, 1);

  call->counted = TRUE;
  wait->self = g_object_ref (self);
  wait->msg = g_object_ref (msg);
  wait->query = query != NULL ? g_hash_table_ref (query) : NULL;
  wait->dialect = dialect;
  wait->early = TRUE;
  self->in_flight++;
  soup_server_message_pause (msg);
  lmd_http_auth_admit_async (lmd_router_get_license (self->router), msg, query, "batch",
                             call->request_id, call->cancellable, admit_done, wait);
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
  HttpCall *call = get_call (msg);

  if (self->forwards)
    relay_stream (self, msg, conn, call != NULL ? call->request_id : NULL);
  else
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
  { "/v1/jobs", jobs_handler },
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
      !lmd_http_connection_limits_load (&self->connection_limits, config, "server", error) ||
      !lmd_stream_config_load (&self->stream_config, config, error))
    return FALSE;
  self->port = (guint) port;
  g_free (self->host);
  self->host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
  g_free (self->role);
  self->role = lmd_config_get_string (config, "server", "role", "all");
  self->max_body_bytes = limits.max_body_bytes;
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
    soup_server_add_websocket_handler (self->server, websocket_paths[i], NULL, NULL,
                                       websocket_handler, self, NULL);
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
  lmd_histogram_free (self->e2e_latency);
  lmd_histogram_free (self->processing);
  g_free (self->host);
  g_free (self->role);
  g_free (self->spool_dir);
  lmd_http_upload_budget_unref (self->uploads);
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
  self->uploads = lmd_http_upload_budget_new (64, 256 * 1024 * 1024);
  self->requests_by_status = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->relays = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref,
                                        (GDestroyNotify) relay_entry_free);
  {
    static const double latency_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
    self->e2e_latency = lmd_histogram_new (latency_bounds, G_N_ELEMENTS (latency_bounds));
    self->processing = lmd_histogram_new (latency_bounds, G_N_ELEMENTS (latency_bounds));
  }
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
