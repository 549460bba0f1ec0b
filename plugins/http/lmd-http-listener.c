/* SPDX-License-Identifier: MIT */
#include "lmd-http-listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "lmd-build-config.h"
#include "lmd-http-connection-tracker.h"
#include "lmd-log.h"

#define TRACKER_KEY "lmd-http-connection-tracker"
#define ACCEPTOR_KEY "lmd-http-acceptor"
/* on the remote address of a connection handed to libsoup: its GSocket (owned) */
#define SOCKET_KEY "lmd-http-socket"

/* Connections accepted per wake-up of the listening socket at most; what is left waits for
 * the next turn.  Each connection's header deadline starts when it is accepted: accepting
 * thousands in one turn, faster than their requests can be read, would make clients that sent
 * their headers on time miss header_timeout_s on a slow (instrumented) daemon.  256 takes a
 * burst of 2,000 in 8 turns: /health answered within about a second of it. */
#define ACCEPT_BATCH 256
/* After a failed accept() (out of descriptors) the listening socket stays readable: accepting
 * waits this long before trying again, rather than spinning. */
#define ACCEPT_RETRY_MS 100

/* The listening side of one server.  libsoup 3.2's own listener accepts one connection per
 * main-loop turn, and every turn costs time in proportion to the connections already open:
 * a burst of N connections took time in N^2 to accept (2,000 at once delayed /health by 7 to
 * 11 s).  This one accepts the connections waiting (up to ACCEPT_BATCH) per turn and hands
 * each to libsoup with soup_server_accept_iostream(). */
typedef struct {
  SoupServer *server;         /* not owned: the acceptor is the server's data */
  GSocket *socket;            /* owned: the listening socket */
  GSource *source;            /* owned, nullable: readable on @socket */
  GSource *retry;             /* owned, nullable: waiting after a failed accept() */
  gint64 failure_logged_us;   /* when a failed accept() was last logged */
  guint failures_unlogged;
} Acceptor;

static void acceptor_watch (Acceptor *self);

/* The kernel's cap on a listening socket's backlog (net.core.somaxconn), which libsoup's
 * own listening sockets leave at GLib's default of 10: a burst of connections beyond that
 * would be reset instead of answered. */
static int
system_backlog (void)
{
  g_autofree char *text = NULL;
  gint64 value = 0;

  if (g_file_get_contents ("/proc/sys/net/core/somaxconn", &text, NULL, NULL))
    value = g_ascii_strtoll (g_strstrip (text), NULL, 10);
  return value > 0 && value <= G_MAXINT ? (int) value : SOMAXCONN;
}

/* (transfer full) a socket listening on @address with the system's largest backlog */
static GSocket *
listening_socket (GSocketAddress *address, GError **error)
{
  GSocketFamily family = g_socket_address_get_family (address);
  g_autoptr (GSocket) socket = g_socket_new (family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);

  if (socket == NULL)
    return NULL;
  if (family == G_SOCKET_FAMILY_IPV6)
    g_socket_set_option (socket, IPPROTO_IPV6, IPV6_V6ONLY, TRUE, NULL);
  if (!g_socket_bind (socket, address, TRUE, error))
    return NULL;
  g_socket_set_listen_backlog (socket, system_backlog ());
  if (!g_socket_listen (socket, error))
    return NULL;
  /* accept() never waits: a listener woken for a connection another one took gives up */
  g_socket_set_blocking (socket, FALSE);
  return g_steal_pointer (&socket);
}

GInetAddress *
lmd_http_listener_parse_host (const char *host, GError **error)
{
  GInetAddress *address = g_inet_address_new_from_string (host);

  if (address == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "host '%s' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or ::)", host);
  return address;
}

SoupServer *
lmd_http_listener_new_server (void)
{
  /* the trailing space makes libsoup append its own product token */
  return soup_server_new ("server-header", "lightning-mediad/" LMD_VERSION " ", NULL);
}

/* Hands @client to libsoup: a GSocketConnection of it with its addresses; the socket rides on
 * the remote address, where lmd_http_listener_get_socket() finds it. */
static void
acceptor_hand_over (Acceptor *self, GSocket *client)
{
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (GSocketAddress) local = g_socket_get_local_address (client, NULL);
  g_autoptr (GSocketAddress) remote = g_socket_get_remote_address (client, NULL);

  if (local == NULL || remote == NULL)
    {
      /* gone already (reset while it waited in the backlog) */
      g_socket_close (client, NULL);
      return;
    }
  g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  g_object_set_data_full (G_OBJECT (remote), SOCKET_KEY, g_object_ref (client), g_object_unref);
  connection = g_socket_connection_factory_create_connection (client);
  soup_server_accept_iostream (self->server, G_IO_STREAM (connection), local, remote, NULL);
}

static gboolean
acceptor_retry (gpointer user_data)
{
  Acceptor *self = user_data;

  g_clear_pointer (&self->retry, g_source_unref);
  acceptor_watch (self);
  return G_SOURCE_REMOVE;
}

static gboolean
acceptor_ready (GSocket *socket, GIOCondition condition, gpointer user_data)
{
  Acceptor *self = user_data;

  for (guint i = 0; i < ACCEPT_BATCH; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GSocket) client = g_socket_accept (socket, NULL, &error);
      gint64 now;

      if (client != NULL)
        {
          acceptor_hand_over (self, client);
          continue;
        }
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
      if (g_socket_is_closed (socket))
        {
          g_clear_pointer (&self->source, g_source_unref);
          return G_SOURCE_REMOVE;
        }
      /* out of descriptors, most likely: the connections wait in the backlog meanwhile */
      now = g_get_monotonic_time ();
      if (now - self->failure_logged_us >= G_USEC_PER_SEC)
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, NULL,
                           "cannot accept a connection: %s (and %u more since the last line); "
                           "accepting again in %d ms", error->message, self->failures_unlogged,
                           ACCEPT_RETRY_MS);
          self->failure_logged_us = now;
          self->failures_unlogged = 0;
        }
      else
        self->failures_unlogged++;
      g_clear_pointer (&self->source, g_source_unref);
      self->retry = g_timeout_source_new (ACCEPT_RETRY_MS);
      g_source_set_callback (self->retry, acceptor_retry, self, NULL);
      g_source_attach (self->retry, g_main_context_get_thread_default ());
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
acceptor_watch (Acceptor *self)
{
  if (g_socket_is_closed (self->socket))
    return;
  self->source = g_socket_create_source (self->socket, G_IO_IN, NULL);
  g_source_set_callback (self->source, G_SOURCE_FUNC (acceptor_ready), self, NULL);
  g_source_attach (self->source, g_main_context_get_thread_default ());
}

/* Stops accepting: the sources go, the listening socket is closed. */
static void
acceptor_stop (Acceptor *self)
{
  if (self->source != NULL)
    g_source_destroy (self->source);
  g_clear_pointer (&self->source, g_source_unref);
  if (self->retry != NULL)
    g_source_destroy (self->retry);
  g_clear_pointer (&self->retry, g_source_unref);
  g_socket_close (self->socket, NULL);
}

static void
acceptor_free (Acceptor *self)
{
  acceptor_stop (self);
  g_object_unref (self->socket);
  g_free (self);
}

gboolean
lmd_http_listener_listen (SoupServer **server, GInetAddress *address, const char *host,
                          guint port, const LmdHttpConnectionLimits *limits, guint *bound_port,
                          GError **error)
{
  g_autoptr (GSocketAddress) socket_address = g_inet_socket_address_new (address, port);
  g_autoptr (GSocket) socket = listening_socket (socket_address, error);
  g_autoptr (GSocketAddress) local = NULL;
  Acceptor *acceptor;

  /* libsoup 3.2 keeps a connection alive after an answer only while the server has a listener
   * of its own (request_finished() in soup-server.c), so it gets the same socket: it accepts
   * in turn with the acceptor below, one connection per turn, and stops for good at its first
   * empty backlog, which the acceptor drains; it still counts as the server's listener */
  if (socket == NULL || !soup_server_listen_socket (*server, socket, 0, error))
    {
      g_prefix_error (error, "cannot listen on %s:%u: ", host, port);
      g_clear_object (server);
      return FALSE;
    }
  /* the bound port, read from the listening socket (port 0 picks a free one) */
  local = g_socket_get_local_address (socket, NULL);
  if (local != NULL && G_IS_INET_SOCKET_ADDRESS (local))
    *bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  /* the tracker gets no listening socket: failed accepts are retried here */
  g_object_set_data_full (G_OBJECT (*server), TRACKER_KEY, lmd_http_connection_tracker_new (*server, NULL, limits),
                          (GDestroyNotify) lmd_http_connection_tracker_free);
  acceptor = g_new0 (Acceptor, 1);
  acceptor->server = *server;
  acceptor->socket = g_steal_pointer (&socket);
  g_object_set_data_full (G_OBJECT (*server), ACCEPTOR_KEY, acceptor, (GDestroyNotify) acceptor_free);
  acceptor_watch (acceptor);
  return TRUE;
}

GSocket *
lmd_http_listener_get_socket (SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  GSocketAddress *remote;

  if (socket != NULL)
    return socket;
  remote = soup_server_message_get_remote_address (msg);
  socket = remote != NULL ? g_object_get_data (G_OBJECT (remote), SOCKET_KEY) : NULL;
  /* closed: libsoup has ended the connection (the client went away) */
  return socket != NULL && !g_socket_is_closed (socket) ? socket : NULL;
}

LmdHttpConnectionTracker *
lmd_http_listener_get_connections (SoupServer *server)
{
  return server != NULL ? g_object_get_data (G_OBJECT (server), TRACKER_KEY) : NULL;
}

void
lmd_http_listener_close (SoupServer *server)
{
  Acceptor *acceptor;

  if (server == NULL)
    return;
  acceptor = g_object_get_data (G_OBJECT (server), ACCEPTOR_KEY);
  if (acceptor != NULL)
    acceptor_stop (acceptor);
}

void
lmd_http_listener_clear (SoupServer **server)
{
  if (*server != NULL)
    {
      /* the tracker lets go of the connections before libsoup closes them */
      g_object_set_data (G_OBJECT (*server), TRACKER_KEY, NULL);
      g_object_set_data (G_OBJECT (*server), ACCEPTOR_KEY, NULL);
      soup_server_disconnect (*server);
    }
  g_clear_object (server);
}
