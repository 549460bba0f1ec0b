/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-relay.h"

#include "lmd-http-response.h"
#include "lmd-log.h"

#define MAX_PENDING_BYTES (1024 * 1024)
#define CLOSE_NORMAL 1000
#define CLOSE_POLICY 1008
#define CLOSE_INTERNAL 1011

typedef struct {
  SoupWebsocketDataType type;
  GBytes *data; /* owned */
} Frame;

struct _LmdHttpRelay {
  GObject parent_instance;

  LmdWorkerPicker *picker;          /* borrowed */
  SoupSession *session;             /* borrowed */
  char *request_id;                 /* owned */
  char *path_and_query;             /* owned: "/v1/listen/stream?..." */
  char *model;                      /* owned, nullable */
  SoupWebsocketConnection *client;  /* owned */
  SoupWebsocketConnection *worker;  /* owned, NULL until connected */
  char *worker_url;                 /* owned */
  GCancellable *cancellable;        /* owned: cancels the worker connection attempt */
  GQueue pending;                   /* Frame*, before the worker is connected */
  gsize pending_bytes;
  guint attempt;
  guint64 bytes_received;
  gboolean client_closed;
  gboolean worker_closed;           /* or never to be connected */
  gboolean closing_worker;          /* we asked the worker to close */
  gboolean done_called;
  gboolean holding;                 /* the client's signals are connected */
  gint64 opened_at;
  guint worker_timeout_s;           /* 0 = the worker's silence is never a failure */
  gint64 worker_heard_at;           /* monotonic µs: the worker's last frame or pong */
  guint liveness_id;                /* checks the worker's silence */
  LmdHttpRelayDone done;
  gpointer done_data;
};

G_DEFINE_FINAL_TYPE (LmdHttpRelay, lmd_http_relay, G_TYPE_OBJECT)

static void connect_worker (LmdHttpRelay *self);

static void
frame_free (Frame *f)
{
  g_bytes_unref (f->data);
  g_free (f);
}

static gboolean
is_open (SoupWebsocketConnection *conn)
{
  return conn != NULL && soup_websocket_connection_get_state (conn) == SOUP_WEBSOCKET_STATE_OPEN;
}

static void
maybe_done (LmdHttpRelay *self)
{
  if (self->done_called || !self->client_closed || !self->worker_closed)
    return;
  self->done_called = TRUE;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                   "relayed stream closed after %.1f s, %" G_GUINT64_FORMAT " bytes of audio",
                   (g_get_monotonic_time () - self->opened_at) / 1e6, self->bytes_received);
  if (self->done != NULL)
    self->done (self, self->done_data);
}

/* Sends {"type":"error",...} to the client, if it is still open, and closes it. */
static void
send_error_and_close (LmdHttpRelay *self, const char *code, const char *message, gushort close_code)
{
  g_autofree char *text = NULL;

  if (!is_open (self->client))
    return;
  text = lmd_http_stream_error_json (code, NULL, message);
  soup_websocket_connection_send_text (self->client, text);
  soup_websocket_connection_close (self->client, close_code, NULL);
}

/* Logs the failure, sends an error message to the client and closes it. */
static void
fail_client (LmdHttpRelay *self, const char *code, const char *message, gushort close_code)
{
  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id, "relayed stream: %s", message);
  send_error_and_close (self, code, message, close_code);
}

static void
close_worker (LmdHttpRelay *self, gushort code)
{
  g_cancellable_cancel (self->cancellable);
  if (is_open (self->worker))
    {
      self->closing_worker = TRUE;
      soup_websocket_connection_close (self->worker, code, NULL);
    }
}

/* ---- worker side ------------------------------------------------------------------------ */

static void
on_worker_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  LmdHttpRelay *self = user_data;

  self->worker_heard_at = g_get_monotonic_time ();
  if (is_open (self->client))
    soup_websocket_connection_send_message (self->client, type, message);
}

static void
on_worker_pong (SoupWebsocketConnection *conn, GBytes *message, gpointer user_data)
{
  LmdHttpRelay *self = user_data;

  self->worker_heard_at = g_get_monotonic_time ();
}

/* The worker's connection is open but the worker has not answered a ping for
 * worker_timeout_s: it is stopped or hung; the client is told, as for a worker that died. */
static gboolean
check_worker_alive (gpointer user_data)
{
  LmdHttpRelay *self = user_data;
  gint64 silent_us = g_get_monotonic_time () - self->worker_heard_at;

  if (!is_open (self->worker) || silent_us < (gint64) self->worker_timeout_s * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  self->liveness_id = 0;
  lmd_worker_picker_report_failure (self->picker, self->worker_url);
  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id,
                   "worker %s silent for %.1f s, pings unanswered ([api] worker_timeout_s)", self->worker_url,
                   silent_us / 1e6);
  fail_client (self, "SERVICE_UNAVAILABLE", "the transcription worker stopped answering; the stream has ended",
               CLOSE_INTERNAL);
  close_worker (self, SOUP_WEBSOCKET_CLOSE_GOING_AWAY);
  return G_SOURCE_REMOVE;
}

static void
on_worker_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  LmdHttpRelay *self = user_data;
  gushort code = soup_websocket_connection_get_close_code (conn);

  g_object_ref (self);
  self->worker_closed = TRUE;
  g_clear_handle_id (&self->liveness_id, g_source_remove);
  if (is_open (self->client))
    {
      if (code == 0 || code == SOUP_WEBSOCKET_CLOSE_NO_STATUS || code == SOUP_WEBSOCKET_CLOSE_ABNORMAL)
        {
          lmd_worker_picker_report_failure (self->picker, self->worker_url);
          fail_client (self, "SERVICE_UNAVAILABLE",
                       "the transcription worker stopped answering; the stream has ended", CLOSE_INTERNAL);
        }
      else
        soup_websocket_connection_close (self->client, code, soup_websocket_connection_get_close_data (conn));
    }
  maybe_done (self);
  g_object_unref (self);
}

static void
on_worker_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LmdHttpRelay *self = user_data; /* owned ref */
  g_autoptr (GError) error = NULL;
  SoupWebsocketConnection *conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  Frame *f;

  lmd_worker_picker_end (self->picker, self->worker_url);
  if (conn == NULL)
    {
      if (self->client_closed || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          self->worker_closed = TRUE;
          maybe_done (self);
        }
      else
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id, "worker %s: no stream: %s",
                           self->worker_url, error->message);
          lmd_worker_picker_report_failure (self->picker, self->worker_url);
          if (self->attempt < 2)
            {
              self->attempt++;
              connect_worker (self);
            }
          else
            {
              self->worker_closed = TRUE;
              fail_client (self, "SERVICE_UNAVAILABLE", "no transcription worker could take the stream; retry later",
                           CLOSE_POLICY);
              maybe_done (self);
            }
        }
      g_object_unref (self);
      return;
    }
  self->worker = conn;
  soup_websocket_connection_set_max_incoming_payload_size (conn, 16 * 1024 * 1024);
  g_signal_connect_object (conn, "message", G_CALLBACK (on_worker_message), self, 0);
  g_signal_connect_object (conn, "closed", G_CALLBACK (on_worker_closed), self, 0);
  if (self->worker_timeout_s > 0)
    {
      /* a ping every third of the timeout (at most every 10 s); libsoup answers pongs itself */
      guint interval = CLAMP (self->worker_timeout_s / 3, 1, 10);
      self->worker_heard_at = g_get_monotonic_time ();
      g_signal_connect_object (conn, "pong", G_CALLBACK (on_worker_pong), self, 0);
      soup_websocket_connection_set_keepalive_interval (conn, interval);
      self->liveness_id = g_timeout_add_seconds (interval, check_worker_alive, self);
    }
  else
    soup_websocket_connection_set_keepalive_interval (conn, 0);
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "stream relayed to %s", self->worker_url);
  while ((f = g_queue_pop_head (&self->pending)) != NULL)
    {
      if (is_open (conn))
        soup_websocket_connection_send_message (conn, f->type, f->data);
      frame_free (f);
    }
  self->pending_bytes = 0;
  if (self->client_closed)
    close_worker (self, CLOSE_NORMAL);
  g_object_unref (self);
}

static void
connect_worker (LmdHttpRelay *self)
{
  g_autofree char *previous = g_steal_pointer (&self->worker_url);
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;

  self->worker_url = lmd_worker_picker_choose (self->picker, self->model, previous);
  if (self->worker_url == NULL && previous != NULL)
    self->worker_url = lmd_worker_picker_choose (self->picker, self->model, NULL);
  if (self->worker_url == NULL)
    {
      self->worker_closed = TRUE;
      fail_client (self, "SERVICE_UNAVAILABLE", "no transcription worker is available; retry later",
                   CLOSE_POLICY);
      maybe_done (self);
      return;
    }
  /* http://host:port → ws://host:port */
  url = g_str_has_prefix (self->worker_url, "https:")
            ? g_strconcat ("wss:", self->worker_url + 6, self->path_and_query, NULL)
            : g_strconcat ("ws:", self->worker_url + (g_str_has_prefix (self->worker_url, "http:") ? 5 : 0),
                           self->path_and_query, NULL);
  msg = soup_message_new (SOUP_METHOD_GET, url);
  if (msg == NULL)
    {
      self->worker_closed = TRUE;
      fail_client (self, "INTERNAL", "bad worker URL", CLOSE_INTERNAL);
      maybe_done (self);
      return;
    }
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", self->request_id);
  if (self->attempt > 1)
    soup_message_add_flags (msg, SOUP_MESSAGE_NEW_CONNECTION);
  lmd_worker_picker_begin (self->picker, self->worker_url);
  soup_session_websocket_connect_async (self->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        self->cancellable, on_worker_connected, g_object_ref (self));
}

/* ---- client side ------------------------------------------------------------------------ */

static void
on_client_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  LmdHttpRelay *self = user_data;

  if (type == SOUP_WEBSOCKET_DATA_BINARY)
    self->bytes_received += g_bytes_get_size (message);
  if (self->worker != NULL)
    {
      if (is_open (self->worker))
        soup_websocket_connection_send_message (self->worker, type, message);
      return;
    }
  if (self->worker_closed)
    return;
  if (self->pending_bytes + g_bytes_get_size (message) > MAX_PENDING_BYTES)
    {
      fail_client (self, "RATE_LIMIT_EXCEEDED",
                   "more than 1 MiB of audio arrived before the transcription worker was ready",
                   CLOSE_POLICY);
      return;
    }
  {
    Frame *f = g_new0 (Frame, 1);
    f->type = type;
    f->data = g_bytes_ref (message);
    g_queue_push_tail (&self->pending, f);
    self->pending_bytes += g_bytes_get_size (message);
  }
}

static void
on_client_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  LmdHttpRelay *self = user_data;
  gushort code = soup_websocket_connection_get_close_code (conn);

  g_object_ref (self);
  self->client_closed = TRUE;
  /* codes 1005/1006 describe a missing close frame and cannot be sent on */
  close_worker (self, code == 0 || code == SOUP_WEBSOCKET_CLOSE_NO_STATUS || code == SOUP_WEBSOCKET_CLOSE_ABNORMAL
                          ? SOUP_WEBSOCKET_CLOSE_GOING_AWAY
                          : code);
  maybe_done (self);
  g_object_unref (self);
}

/* ---- public ------------------------------------------------------------------------------ */

LmdHttpRelay *
lmd_http_relay_new (LmdWorkerPicker *picker, SoupSession *session, SoupServerMessage *msg,
                    SoupWebsocketConnection *client, const char *request_id)
{
  LmdHttpRelay *self = g_object_new (LMD_TYPE_HTTP_RELAY, NULL);
  GUri *uri = soup_server_message_get_uri (msg);
  const char *query = g_uri_get_query (uri);

  self->picker = picker;
  self->session = session;
  self->request_id = g_strdup (request_id);
  self->client = g_object_ref (client);
  self->path_and_query = g_strconcat (g_uri_get_path (uri), query != NULL ? "?" : "",
                                      query != NULL ? query : "", NULL);
  if (query != NULL)
    {
      g_autoptr (GHashTable) form = soup_form_decode (query);
      self->model = g_strdup (g_hash_table_lookup (form, "model"));
    }
  self->opened_at = g_get_monotonic_time ();
  return self;
}

void
lmd_http_relay_hold (LmdHttpRelay *self, LmdHttpRelayDone done, gpointer user_data)
{
  if (self->holding)
    return;
  self->holding = TRUE;
  self->done = done;
  self->done_data = user_data;
  /* the worker enforces frame sizes; the api passes on what the worker would accept */
  soup_websocket_connection_set_max_incoming_payload_size (self->client, 1024 * 1024);
  soup_websocket_connection_set_keepalive_interval (self->client, 0);
  g_signal_connect_object (self->client, "message", G_CALLBACK (on_client_message), self, 0);
  g_signal_connect_object (self->client, "closed", G_CALLBACK (on_client_closed), self, 0);
}

void
lmd_http_relay_start (LmdHttpRelay *self, LmdHttpRelayDone done, gpointer user_data)
{
  lmd_http_relay_hold (self, done, user_data);
  if (self->client_closed || self->worker_closed)
    {
      /* the client left while it was held (or it was refused): no worker needed */
      self->worker_closed = TRUE;
      maybe_done (self);
      return;
    }
  self->attempt = 1;
  connect_worker (self);
}

void
lmd_http_relay_refuse (LmdHttpRelay *self, const char *code, const char *message)
{
  g_object_ref (self);
  self->worker_closed = TRUE;
  g_queue_clear_full (&self->pending, (GDestroyNotify) frame_free);
  self->pending_bytes = 0;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "stream refused: %s", message);
  send_error_and_close (self, code, message, CLOSE_POLICY);
  maybe_done (self);
  g_object_unref (self);
}

guint64
lmd_http_relay_get_bytes_received (LmdHttpRelay *self)
{
  return self->bytes_received;
}

guint
lmd_http_relay_get_pending (LmdHttpRelay *self)
{
  return self->pending.length;
}

void
lmd_http_relay_set_worker_timeout (LmdHttpRelay *self, guint timeout_s)
{
  g_return_if_fail (LMD_IS_HTTP_RELAY (self));
  self->worker_timeout_s = timeout_s;
}

static void
lmd_http_relay_dispose (GObject *object)
{
  LmdHttpRelay *self = LMD_HTTP_RELAY (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->liveness_id, g_source_remove);
  if (self->client != NULL)
    g_signal_handlers_disconnect_by_data (self->client, self);
  if (self->worker != NULL)
    g_signal_handlers_disconnect_by_data (self->worker, self);
  if (is_open (self->worker))
    soup_websocket_connection_close (self->worker, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
  g_clear_object (&self->worker);
  g_clear_object (&self->client);
  G_OBJECT_CLASS (lmd_http_relay_parent_class)->dispose (object);
}

static void
lmd_http_relay_finalize (GObject *object)
{
  LmdHttpRelay *self = LMD_HTTP_RELAY (object);

  g_queue_clear_full (&self->pending, (GDestroyNotify) frame_free);
  g_free (self->request_id);
  g_free (self->path_and_query);
  g_free (self->model);
  g_free (self->worker_url);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (lmd_http_relay_parent_class)->finalize (object);
}

static void
lmd_http_relay_class_init (LmdHttpRelayClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lmd_http_relay_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_http_relay_finalize;
}

static void
lmd_http_relay_init (LmdHttpRelay *self)
{
  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->pending);
}
