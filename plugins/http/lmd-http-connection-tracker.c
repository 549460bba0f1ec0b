/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-connection-tracker.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "lmd-config.h"
#include "lmd-http-listener.h"
#include "lmd-json-writer.h"
#include "lmd-log.h"

/* how long a refused or timed-out connection may still send before it is closed */
#define LINGER_MS 2000
/* connections lingering at once, at most; beyond, they are closed at once */
#define MAX_LINGERING 64

typedef enum {
  CONN_READING,  /* waiting for the request headers (header deadline) */
  CONN_BUSY,     /* headers in: the request is read (body deadline), worked on or answered */
  CONN_IDLE,     /* kept alive between two requests (peer watched, idle deadline) */
  CONN_UPGRADED, /* taken over by a WebSocket handler: counted until its socket closes */
  CONN_CLOSING,  /* refused (taken from libsoup once connected), or taken: answered, lingering */
} ConnState;

typedef struct {
  LmdHttpConnectionTracker *tracker; /* borrowed: owns this record */
  GSocket *socket;                   /* owned ref; the key */
  char *client;                      /* owned: the peer's address */
  ConnState state;
  SoupServerMessage *msg;            /* owned ref, nullable: the current message, or the last one while idle */
  guint deadline_id;                 /* header, body, idle or linger deadline */
  gint64 body_deadline_us;           /* monotonic: the body's deadline, moved on by each chunk */
  GSource *watch;                    /* owned, nullable: the peer's socket (idle, closing) */
  GIOStream *stolen;                 /* owned, nullable: the connection taken from libsoup */
} Connection;

typedef enum {
  LIMIT_PROCESS,
  LIMIT_CLIENT,
  LIMIT_HEADERS,
  LIMIT_BODY,
  N_LIMITS,
} LimitKind;

struct _LmdHttpConnectionTracker {
  SoupServer *server;             /* borrowed */
  GSocket *listening;             /* owned ref: the server's listening socket */
  LmdHttpConnectionLimits limits;
  guint max_connections;          /* in force */
  guint max_lingering;            /* refused or timed-out connections answered and lingering */
  guint64 accepted;               /* connections seen since the start */
  guint64 accepted_at_sweep;      /* the same at the last sweep */
  gboolean pending_at_sweep;      /* connections were waiting in the backlog at the last sweep */
  GHashTable *connections;        /* GSocket (borrowed key) → Connection (owned) */
  GHashTable *per_client;         /* address (owned) → open connections (GUINT_TO_POINTER) */
  guint lingering;
  gulong started_id, finished_id, aborted_id;
  guint sweep_id;
  guint64 hits[N_LIMITS];         /* connections each limit refused or cut, since the start */
  gint64 logged_at[N_LIMITS];     /* monotonic µs of the last line about each limit */
  guint unlogged[N_LIMITS];       /* events of each limit since its last line */
};

static void connection_close (Connection *conn, const char *answer);

guint
lmd_http_connection_limits_default_max (void)
{
  struct rlimit rl;
  rlim_t soft;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
    soft = 1048576;
  else
    soft = rl.rlim_cur;
  /* a quarter (at least 32) for everything else: model files, spool files, sockets to workers */
  return soft > 64 ? (guint) (soft - MAX (soft / 4, 32)) : (guint) MAX (soft / 2, 1);
}

gboolean
lmd_http_connection_limits_load (LmdHttpConnectionLimits *limits, GKeyFile *config,
                                 const char *group, GError **error)
{
  gint64 header, keepalive, max, per_client, body, body_rate;

  if (!lmd_config_get_int (config, group, "header_timeout_s", 30, &header, error) ||
      !lmd_config_get_int (config, group, "keepalive_timeout_s", 15, &keepalive, error) ||
      !lmd_config_get_int (config, group, "max_connections", 0, &max, error) ||
      !lmd_config_get_int (config, group, "max_connections_per_client", 256, &per_client, error) ||
      !lmd_config_get_int (config, group, "body_timeout_s", 60, &body, error) ||
      !lmd_config_get_int (config, group, "body_min_rate_bytes", 1000, &body_rate, error))
    return FALSE;
  if (body < 1 || body > 86400 || body_rate < 0 || body_rate > 1000000000)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] body_timeout_s must be 1..86400 and body_min_rate_bytes 0..1000000000", group);
      return FALSE;
    }
  if (header < 1 || header > 3600 || keepalive < 1 || keepalive > 3600)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] header_timeout_s and keepalive_timeout_s: must be 1..3600", group);
      return FALSE;
    }
  if (max < 0 || max > 1000000 || per_client < 0 || per_client > 1000000)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] max_connections and max_connections_per_client: must be 0..1000000", group);
      return FALSE;
    }
  limits->header_timeout_s = (guint) header;
  limits->keepalive_timeout_s = (guint) keepalive;
  limits->max_connections = (guint) max;
  limits->max_connections_per_client = (guint) per_client;
  limits->body_timeout_s = (guint) body;
  limits->body_min_rate_bytes = (guint) body_rate;
  return TRUE;
}

/* One line when a limit is hit, then at most one a second, saying how many more it hit. */
static void
log_limit (LmdHttpConnectionTracker *self, LimitKind kind, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
log_limit (LmdHttpConnectionTracker *self, LimitKind kind, const char *format, ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;
  va_list args;

  self->hits[kind]++;
  if (self->logged_at[kind] != 0 && now - self->logged_at[kind] < G_USEC_PER_SEC)
    {
      self->unlogged[kind]++;
      return;
    }
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  if (self->unlogged[kind] > 0)
    LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, NULL, "%s (and %u more since the last line)", text,
                     self->unlogged[kind]);
  else
    LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, NULL, "%s", text);
  self->logged_at[kind] = now;
  self->unlogged[kind] = 0;
}

static void
clear_timers (Connection *conn)
{
  g_clear_handle_id (&conn->deadline_id, g_source_remove);
  if (conn->watch != NULL)
    {
      g_source_destroy (conn->watch);
      g_clear_pointer (&conn->watch, g_source_unref);
    }
}

static void
set_msg (Connection *conn, SoupServerMessage *msg)
{
  if (conn->msg != NULL)
    {
      g_signal_handlers_disconnect_by_data (conn->msg, conn);
      g_clear_object (&conn->msg);
    }
  if (msg != NULL)
    conn->msg = g_object_ref (msg);
}

static void
connection_free (Connection *conn)
{
  LmdHttpConnectionTracker *self = conn->tracker;
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_client, conn->client));

  clear_timers (conn);
  set_msg (conn, NULL);
  if (count > 1)
    g_hash_table_insert (self->per_client, g_strdup (conn->client), GUINT_TO_POINTER (count - 1));
  else
    g_hash_table_remove (self->per_client, conn->client);
  if (conn->stolen != NULL)
    {
      self->lingering--;
      g_socket_close (conn->socket, NULL);
      g_object_unref (conn->stolen);
    }
  g_object_unref (conn->socket);
  g_free (conn->client);
  g_free (conn);
}

static void
connection_drop (Connection *conn)
{
  g_hash_table_remove (conn->tracker->connections, conn->socket);
}

static gboolean
on_linger_deadline (gpointer user_data)
{
  Connection *conn = user_data;

  conn->deadline_id = 0;
  connection_drop (conn);
  return G_SOURCE_REMOVE;
}

/* Closing: what the client still sends is dropped until it closes its side. */
static gboolean
on_linger_readable (int fd, GIOCondition condition, gpointer user_data)
{
  Connection *conn = user_data;
  char buffer[4096];
  gssize n = recv (fd, buffer, sizeof buffer, MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n > 0)
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&conn->watch, g_source_unref);
  connection_drop (conn);
  return G_SOURCE_REMOVE;
}

/* Takes the connection from libsoup (which frees its own state for it), writes @answer
 * (nullable: a raw HTTP response) and closes it, gracefully when it answered. */
static void
connection_close (Connection *conn, const char *answer)
{
  LmdHttpConnectionTracker *self = conn->tracker;
  SoupServerMessage *msg = conn->msg != NULL ? g_object_ref (conn->msg) : NULL;
  int fd = g_socket_get_fd (conn->socket);

  clear_timers (conn);
  conn->state = CONN_CLOSING;
  set_msg (conn, NULL);
  if (msg != NULL)
    {
      conn->stolen = soup_server_message_steal_connection (msg);
      g_object_unref (msg);
    }
  if (conn->stolen == NULL)
    {
      /* libsoup no longer holds it (or never did): close what is left */
      connection_drop (conn);
      return;
    }
  self->lingering++;
  g_socket_set_timeout (conn->socket, 0);
  if (answer == NULL || self->lingering > self->max_lingering)
    {
      connection_drop (conn);
      return;
    }
  /* a short answer on a fresh socket: it fits the send buffer, or the client is not reading */
  (void) send (fd, answer, strlen (answer), MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown (fd, SHUT_WR);
  conn->watch = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (conn->watch, G_SOURCE_FUNC (on_linger_readable), conn, NULL);
  g_source_attach (conn->watch, g_main_context_get_thread_default ());
  conn->deadline_id = g_timeout_add (LINGER_MS, on_linger_deadline, conn);
}

/* (transfer full) a whole response in the API's error format, with @param and @request_id
 * when not NULL. */
static char *
error_response (guint status, const char *reason, const char *code, const char *param,
                const char *request_id, const char *message)
{
  LmdJsonWriter *w = lmd_json_writer_new ();
  g_autofree char *body = NULL;
  g_autofree char *id_header = request_id != NULL ? g_strdup_printf ("X-Request-ID: %s\r\n", request_id) : NULL;

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, message);
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, code);
  if (param != NULL)
    {
      lmd_json_writer_key (w, "param");
      lmd_json_writer_string (w, param);
    }
  if (request_id != NULL)
    {
      lmd_json_writer_key (w, "request_id");
      lmd_json_writer_string (w, request_id);
    }
  if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
    {
      lmd_json_writer_key (w, "retry_after");
      lmd_json_writer_int (w, 1);
    }
  lmd_json_writer_end_object (w);
  body = lmd_json_writer_finish (w);
  return g_strdup_printf ("HTTP/1.1 %u %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                          "%s%sContent-Length: %zu\r\n\r\n%s",
                          status, reason, status == SOUP_STATUS_SERVICE_UNAVAILABLE ? "Retry-After: 1\r\n" : "",
                          id_header != NULL ? id_header : "", strlen (body), body);
}

/* (transfer full) a new request id, as the transports make them */
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

static gboolean
on_header_deadline (gpointer user_data)
{
  Connection *conn = user_data;
  LmdHttpConnectionTracker *self = conn->tracker;
  g_autofree char *message = g_strdup_printf ("the request headers did not arrive within %u s",
                                              self->limits.header_timeout_s);
  g_autofree char *answer = error_response (408, "Request Timeout", "TIMEOUT", NULL, NULL, message);

  conn->deadline_id = 0;
  log_limit (self, LIMIT_HEADERS,
             "connection from %s closed: request headers not complete within %u s ([server] header_timeout_s)",
             conn->client, self->limits.header_timeout_s);
  connection_close (conn, answer);
  return G_SOURCE_REMOVE;
}

static gboolean
on_idle_deadline (gpointer user_data)
{
  Connection *conn = user_data;

  conn->deadline_id = 0;
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, NULL, "keep-alive connection from %s idle for %u s: closed",
                   conn->client, conn->tracker->limits.keepalive_timeout_s);
  connection_close (conn, NULL);
  return G_SOURCE_REMOVE;
}

/* Idle: the peer sends the next request, or closes.  This runs before libsoup's own source
 * on the same socket (higher priority), so libsoup never reads the end of the stream of an
 * idle connection, which it would not close (libsoup 3.2). */
static gboolean
on_idle_readable (int fd, GIOCondition condition, gpointer user_data)
{
  Connection *conn = user_data;
  char byte;
  gssize n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&conn->watch, g_source_unref);
  if (n > 0)
    {
      /* the next request: libsoup reads it; its headers have the deadline */
      g_clear_handle_id (&conn->deadline_id, g_source_remove);
      conn->state = CONN_READING;
      conn->deadline_id = g_timeout_add (conn->tracker->limits.header_timeout_s * 1000, on_header_deadline, conn);
      return G_SOURCE_REMOVE;
    }
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, NULL, "keep-alive connection from %s closed by the client",
                   conn->client);
  connection_close (conn, NULL);
  return G_SOURCE_REMOVE;
}

#define BAD_LENGTH_KEY "lmd-http-bad-content-length"

/* RFC 9112 §6.3: a request whose Content-Length is not one non-negative decimal number (or
 * a list of the same number) cannot be framed: libsoup 3.2 would read a negative or
 * overflowing length (or the first of two) as "until the end of the stream".  Returns the
 * reason, or NULL when the header is absent or valid. */
static const char *
content_length_problem (SoupMessageHeaders *headers)
{
  const char *list = soup_message_headers_get_list (headers, "Content-Length");
  g_auto (GStrv) values = NULL;

  if (list == NULL)
    return NULL;
  values = g_strsplit (list, ",", -1);
  for (guint i = 0; values[i] != NULL; i++)
    {
      const char *v = g_strstrip (values[i]);
      gsize len = strlen (v);
      if (len == 0 || len > 18 || strspn (v, "0123456789") != len)
        return "Content-Length is not a non-negative number below 10^18";
      if (i > 0 && strcmp (v, values[0]) != 0)
        return "the request has several different Content-Length values";
    }
  return NULL;
}

/* An emission hook runs before every handler of "got-headers", libsoup's own (which calls
 * the early handlers) included: a request that cannot be framed gets a status at once, so
 * no handler sees it, and the tracker (a later handler) answers it and closes. */
static gboolean
content_length_hook (GSignalInvocationHint *hint, guint n_params, const GValue *params, gpointer data)
{
  SoupServerMessage *msg = g_value_get_object (&params[0]);
  const char *problem = content_length_problem (soup_server_message_get_request_headers (msg));

  if (problem != NULL && soup_server_message_get_status (msg) == 0)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_BAD_REQUEST, NULL);
      g_object_set_data (G_OBJECT (msg), BAD_LENGTH_KEY, (gpointer) problem);
    }
  return TRUE;
}

static gboolean
on_body_deadline (gpointer user_data)
{
  Connection *conn = user_data;
  LmdHttpConnectionTracker *self = conn->tracker;
  gint64 left = conn->body_deadline_us - g_get_monotonic_time ();
  const char *request_id;
  g_autofree char *message = NULL;
  g_autofree char *answer = NULL;

  conn->deadline_id = 0;
  if (left > 0)
    {
      /* chunks came meanwhile and moved the deadline on */
      conn->deadline_id = g_timeout_add ((guint) MIN ((left + 999) / 1000, G_MAXUINT), on_body_deadline, conn);
      return G_SOURCE_REMOVE;
    }
  if (conn->msg == NULL)
    return G_SOURCE_REMOVE;
  /* the transport named the request in its answer's headers */
  request_id = soup_message_headers_get_one (soup_server_message_get_response_headers (conn->msg), "X-Request-ID");
  if (self->limits.body_min_rate_bytes > 0)
    message = g_strdup_printf ("the request body did not arrive within %u s at %u bytes a second",
                               self->limits.body_timeout_s, self->limits.body_min_rate_bytes);
  else
    message = g_strdup_printf ("the request body did not arrive within %u s", self->limits.body_timeout_s);
  answer = error_response (408, "Request Timeout", "TIMEOUT", NULL, request_id, message);
  self->hits[LIMIT_BODY]++;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id,
                   "%s %s from %s → 408 TIMEOUT: %s ([server] body_timeout_s, body_min_rate_bytes); connection closed",
                   soup_server_message_get_method (conn->msg),
                   g_uri_get_path (soup_server_message_get_uri (conn->msg)), conn->client, message);
  connection_close (conn, answer);
  return G_SOURCE_REMOVE;
}

static void
on_body_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer user_data)
{
  Connection *conn = user_data;
  guint rate = conn->tracker->limits.body_min_rate_bytes;

  if (rate > 0)
    conn->body_deadline_us += (gint64) g_bytes_get_size (chunk) * G_USEC_PER_SEC / rate;
}

static void
on_body_done (SoupServerMessage *msg, gpointer user_data)
{
  Connection *conn = user_data;

  if (conn->state == CONN_BUSY)
    g_clear_handle_id (&conn->deadline_id, g_source_remove);
}

/* A request with a body: the deadline of the body starts with its headers. */
static void
start_body_deadline (Connection *conn, SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupEncoding encoding = soup_message_headers_get_encoding (headers);
  guint timeout_s = conn->tracker->limits.body_timeout_s;

  if (!(encoding == SOUP_ENCODING_CHUNKED ||
        (encoding == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length (headers) > 0)))
    return;
  conn->body_deadline_us = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  conn->deadline_id = g_timeout_add (timeout_s * 1000, on_body_deadline, conn);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_body_chunk), conn);
  g_signal_connect (msg, "got-body", G_CALLBACK (on_body_done), conn);
}

static void
on_got_headers (SoupServerMessage *msg, gpointer user_data)
{
  Connection *conn = user_data;
  const char *problem = g_object_get_data (G_OBJECT (msg), BAD_LENGTH_KEY);

  if (problem != NULL)
    {
      g_autofree char *request_id = new_request_id ();
      g_autofree char *answer = error_response (400, "Bad Request", "INVALID_PARAMETER", "Content-Length",
                                                request_id, problem);
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id, "%s %s from %s → 400 INVALID_PARAMETER: %s; connection closed",
                       soup_server_message_get_method (msg),
                       g_uri_get_path (soup_server_message_get_uri (msg)), conn->client, problem);
      connection_close (conn, answer);
      return;
    }
  if (conn->state == CONN_READING)
    {
      g_clear_handle_id (&conn->deadline_id, g_source_remove);
      conn->state = CONN_BUSY;
      start_body_deadline (conn, msg);
    }
}

static void
on_msg_disconnected (SoupServerMessage *msg, gpointer user_data)
{
  Connection *conn = user_data;

  if (conn->state == CONN_CLOSING)
    return;
  if (g_socket_is_closed (conn->socket))
    {
      connection_drop (conn);
      return;
    }
  /* taken over (a WebSocket): no deadline of ours applies any more */
  clear_timers (conn);
  conn->state = CONN_UPGRADED;
  set_msg (conn, NULL);
}

/* A refused connection is taken before libsoup reads anything from it, so no handler runs
 * for its request: the "connected" handler that would start reading is skipped. */
static void
on_refused_connected (SoupServerMessage *msg, gpointer user_data)
{
  Connection *conn = user_data;
  LmdHttpConnectionTracker *self = conn->tracker;
  g_autofree char *answer = NULL;
  g_autofree char *message = NULL;

  g_signal_stop_emission_by_name (msg, "connected");
  message = g_strdup_printf ("the server has too many connections open (%s); retry later",
                             GPOINTER_TO_UINT (g_hash_table_lookup (self->per_client, conn->client)) >
                                     self->limits.max_connections_per_client &&
                                 self->limits.max_connections_per_client > 0
                               ? "from this address"
                               : "in all");
  answer = error_response (503, "Service Unavailable", "SERVICE_UNAVAILABLE", NULL, NULL, message);
  connection_close (conn, answer);
}

/* A 101 answer was written: the connection becomes a WebSocket.  The socket's timeout (the
 * transport's client_timeout_s) would apply to the WebSocket's own reads, since GLib fixes a
 * socket source's deadline when the source is made, and libsoup makes it right after this
 * signal: it is lifted first, so that only the stream's own idle timeout applies. */
static void
on_wrote_informational (SoupServerMessage *msg, gpointer user_data)
{
  Connection *conn = user_data;

  if (soup_server_message_get_status (msg) == SOUP_STATUS_SWITCHING_PROTOCOLS)
    g_socket_set_timeout (conn->socket, 0);
}

static void
watch_msg (Connection *conn, SoupServerMessage *msg)
{
  set_msg (conn, msg);
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), conn);
  /* before libsoup's own handler, which it connects once the request is read */
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (on_wrote_informational), conn);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_msg_disconnected), conn);
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpConnectionTracker *self = user_data;
  GSocket *socket = lmd_http_listener_get_socket (msg);
  Connection *conn;
  guint per_client;
  gboolean refuse = FALSE;

  if (socket == NULL)
    return;
  conn = g_hash_table_lookup (self->connections, socket);
  if (conn != NULL)
    {
      /* the next request on a kept-alive connection (its first bytes are in) */
      clear_timers (conn);
      conn->state = CONN_READING;
      watch_msg (conn, msg);
      conn->deadline_id = g_timeout_add (self->limits.header_timeout_s * 1000, on_header_deadline, conn);
      return;
    }

  self->accepted++;
  conn = g_new0 (Connection, 1);
  conn->tracker = self;
  conn->socket = g_object_ref (socket);
  {
    GSocketAddress *remote = soup_server_message_get_remote_address (msg);
    conn->client = remote != NULL && G_IS_INET_SOCKET_ADDRESS (remote)
                     ? g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)))
                     : g_strdup ("unknown");
  }
  per_client = GPOINTER_TO_UINT (g_hash_table_lookup (self->per_client, conn->client)) + 1;
  g_hash_table_insert (self->per_client, g_strdup (conn->client), GUINT_TO_POINTER (per_client));
  g_hash_table_insert (self->connections, socket, conn);

  if (g_hash_table_size (self->connections) > self->max_connections)
    {
      refuse = TRUE;
      log_limit (self, LIMIT_PROCESS,
                 "connection from %s refused with 503: %u connections open, the limit ([server] max_connections)",
                 conn->client, self->max_connections);
    }
  else if (self->limits.max_connections_per_client > 0 && per_client > self->limits.max_connections_per_client)
    {
      refuse = TRUE;
      log_limit (self, LIMIT_CLIENT,
                 "connection from %s refused with 503: %u connections open from this address, the limit ([server] max_connections_per_client)",
                 conn->client, self->limits.max_connections_per_client);
    }
  if (refuse)
    {
      conn->state = CONN_CLOSING;
      set_msg (conn, msg);
      g_signal_connect (msg, "connected", G_CALLBACK (on_refused_connected), conn);
      return;
    }
  conn->state = CONN_READING;
  watch_msg (conn, msg);
  conn->deadline_id = g_timeout_add (self->limits.header_timeout_s * 1000, on_header_deadline, conn);
}

static void
on_request_finished (SoupServer *server, SoupServerMessage *msg, gpointer user_data)
{
  LmdHttpConnectionTracker *self = user_data;
  GSocket *socket = lmd_http_listener_get_socket (msg);
  Connection *conn = socket != NULL ? g_hash_table_lookup (self->connections, socket) : NULL;

  if (conn == NULL || conn->msg != msg || conn->state == CONN_CLOSING || conn->state == CONN_UPGRADED)
    return;
  clear_timers (conn);
  if (g_socket_is_closed (socket))
    {
      connection_drop (conn);
      return;
    }
  /* Kept alive, unless libsoup closes it right after this signal (no keep-alive, an
   * aborted message): then "disconnected" drops the record.  The socket's own timeout
   * (client_timeout_s, set per request by the transport) must not fire while idle: libsoup
   * would not close the connection after it. */
  conn->state = CONN_IDLE;
  g_socket_set_timeout (socket, 0);
  conn->watch = g_unix_fd_source_new (g_socket_get_fd (socket), G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_priority (conn->watch, G_PRIORITY_HIGH);
  g_source_set_callback (conn->watch, G_SOURCE_FUNC (on_idle_readable), conn, NULL);
  g_source_attach (conn->watch, g_main_context_get_thread_default ());
  conn->deadline_id = g_timeout_add (self->limits.keepalive_timeout_s * 1000, on_idle_deadline, conn);
}

/* libsoup 3.2 stops accepting for good when accept() fails once (out of descriptors: its
 * listening source removes itself).  Connections waiting in the backlog at two sweeps in a
 * row with none accepted in between mean that happened: the server listens again on the
 * same socket.  (The socket is non-blocking, so a second listener never blocks in accept.) */
static void
check_accepting (LmdHttpConnectionTracker *self)
{
  gboolean pending;

  if (self->listening == NULL || g_socket_is_closed (self->listening))
    return;
  pending = (g_socket_condition_check (self->listening, G_IO_IN) & G_IO_IN) != 0;
  if (pending && self->pending_at_sweep && self->accepted == self->accepted_at_sweep)
    {
      g_autoptr (GError) error = NULL;
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, NULL,
                       "connections were no longer accepted (out of descriptors? %u connections open); "
                       "accepting again", g_hash_table_size (self->connections));
      if (!soup_server_listen_socket (self->server, self->listening, 0, &error))
        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, NULL, "cannot accept again: %s", error->message);
      pending = FALSE;
    }
  self->pending_at_sweep = pending;
  self->accepted_at_sweep = self->accepted;
}

/* Drops the records of connections whose socket was closed without a word to us (a
 * WebSocket that ended, a message libsoup disconnected after we let it go), and checks that
 * connections are still accepted. */
static gboolean
on_sweep (gpointer user_data)
{
  LmdHttpConnectionTracker *self = user_data;
  GHashTableIter iter;
  gpointer key, value;

  check_accepting (self);
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Connection *conn = value;
      if (conn->stolen == NULL && g_socket_is_closed (conn->socket))
        g_hash_table_iter_remove (&iter);
    }
  return G_SOURCE_CONTINUE;
}

LmdHttpConnectionTracker *
lmd_http_connection_tracker_new (SoupServer *server, GSocket *listening,
                                 const LmdHttpConnectionLimits *limits)
{
  LmdHttpConnectionTracker *self;
  struct rlimit rl;
  guint64 soft = 1024;

  g_return_val_if_fail (SOUP_IS_SERVER (server), NULL);
  g_return_val_if_fail (listening == NULL || G_IS_SOCKET (listening), NULL);
  self = g_new0 (LmdHttpConnectionTracker, 1);
  self->server = server;
  self->listening = listening != NULL ? g_object_ref (listening) : NULL;
  self->limits = *limits;
  self->max_connections = limits->max_connections > 0 ? limits->max_connections
                                                      : lmd_http_connection_limits_default_max ();
  /* answered refusals hold a descriptor for up to LINGER_MS: a quarter of what the
   * connections leave, at most MAX_LINGERING */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    soft = rl.rlim_cur;
  self->max_lingering = soft > self->max_connections
                          ? (guint) CLAMP ((soft - self->max_connections) / 4, 4, MAX_LINGERING)
                          : 4;
  self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) connection_free);
  self->per_client = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->started_id = g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), self);
  self->finished_id = g_signal_connect (server, "request-finished", G_CALLBACK (on_request_finished), self);
  self->aborted_id = g_signal_connect (server, "request-aborted", G_CALLBACK (on_request_finished), self);
  self->sweep_id = g_timeout_add_seconds (1, on_sweep, self);
  {
    static gsize hooked = 0;
    if (g_once_init_enter (&hooked))
      {
        /* the class is made (its signals created) before its first message; kept for good */
        g_type_class_ref (SOUP_TYPE_SERVER_MESSAGE);
        g_signal_add_emission_hook (g_signal_lookup ("got-headers", SOUP_TYPE_SERVER_MESSAGE), 0,
                                    content_length_hook, NULL, NULL);
        g_once_init_leave (&hooked, 1);
      }
  }
  return self;
}

void
lmd_http_connection_tracker_free (LmdHttpConnectionTracker *self)
{
  if (self == NULL)
    return;
  g_signal_handler_disconnect (self->server, self->started_id);
  g_signal_handler_disconnect (self->server, self->finished_id);
  g_signal_handler_disconnect (self->server, self->aborted_id);
  g_source_remove (self->sweep_id);
  g_hash_table_unref (self->connections);
  g_clear_object (&self->listening);
  g_hash_table_unref (self->per_client);
  g_free (self);
}

guint
lmd_http_connection_tracker_get_count (LmdHttpConnectionTracker *self)
{
  return g_hash_table_size (self->connections);
}

guint
lmd_http_connection_tracker_get_max (LmdHttpConnectionTracker *self)
{
  return self->max_connections;
}

void
lmd_http_connection_tracker_render_metrics (LmdHttpConnectionTracker *self, GString *out)
{
  static const char *const names[N_LIMITS] = { "max_connections", "max_connections_per_client",
                                               "header_timeout_s", "body_timeout_s" };

  g_string_append_printf (out,
                          "# HELP asr_http_connections HTTP connections open now, WebSockets included.\n"
                          "# TYPE asr_http_connections gauge\nasr_http_connections %u\n"
                          "# HELP asr_http_connections_max Connections allowed at once ([server] max_connections, or derived from the open-files limit).\n"
                          "# TYPE asr_http_connections_max gauge\nasr_http_connections_max %u\n"
                          "# HELP asr_http_connections_refused_total Connections answered 503 (a connection limit) or 408 (header_timeout_s, body_timeout_s) and closed.\n"
                          "# TYPE asr_http_connections_refused_total counter\n",
                          g_hash_table_size (self->connections), self->max_connections);
  for (guint i = 0; i < N_LIMITS; i++)
    g_string_append_printf (out, "asr_http_connections_refused_total{limit=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            names[i], self->hits[i]);
}
