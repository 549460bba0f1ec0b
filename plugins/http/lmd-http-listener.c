/* SPDX-License-Identifier: MIT */
#include "lmd-http-listener.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "lmd-build-config.h"
#include "lmd-http-connection-tracker.h"

#define TRACKER_KEY "lmd-http-connection-tracker"

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

gboolean
lmd_http_listener_listen (SoupServer **server, GInetAddress *address, const char *host,
                          guint port, const LmdHttpConnectionLimits *limits, guint *bound_port,
                          GError **error)
{
  g_autoptr (GSocketAddress) socket_address = g_inet_socket_address_new (address, port);
  g_autoptr (GSocket) socket = listening_socket (socket_address, error);
  GSList *listeners;

  if (socket == NULL || !soup_server_listen_socket (*server, socket, 0, error))
    {
      g_prefix_error (error, "cannot listen on %s:%u: ", host, port);
      g_clear_object (server);
      return FALSE;
    }
  /* the bound port, read from the listening socket (port 0 picks a free one) */
  listeners = soup_server_get_listeners (*server);
  if (listeners != NULL)
    {
      g_autoptr (GSocketAddress) local = g_socket_get_local_address (listeners->data, NULL);
      if (local != NULL && G_IS_INET_SOCKET_ADDRESS (local))
        *bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
  g_slist_free (listeners);
  g_object_set_data_full (G_OBJECT (*server), TRACKER_KEY, lmd_http_connection_tracker_new (*server, socket, limits),
                          (GDestroyNotify) lmd_http_connection_tracker_free);
  return TRUE;
}

LmdHttpConnectionTracker *
lmd_http_listener_get_connections (SoupServer *server)
{
  return server != NULL ? g_object_get_data (G_OBJECT (server), TRACKER_KEY) : NULL;
}

void
lmd_http_listener_close (SoupServer *server)
{
  GSList *listeners;

  if (server == NULL)
    return;
  listeners = soup_server_get_listeners (server);
  for (GSList *l = listeners; l != NULL; l = l->next)
    g_socket_close (l->data, NULL);
  g_slist_free (listeners);
}

void
lmd_http_listener_clear (SoupServer **server)
{
  if (*server != NULL)
    {
      /* the tracker lets go of the connections before libsoup closes them */
      g_object_set_data (G_OBJECT (*server), TRACKER_KEY, NULL);
      soup_server_disconnect (*server);
    }
  g_clear_object (server);
}
