/* SPDX-License-Identifier: MIT */
#include "lmd-http-listener.h"

#include "lmd-build-config.h"

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
                          guint port, guint *bound_port, GError **error)
{
  g_autoptr (GSocketAddress) socket_address = g_inet_socket_address_new (address, port);
  GSList *listeners;

  if (!soup_server_listen (*server, socket_address, 0, error))
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
  return TRUE;
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
    soup_server_disconnect (*server);
  g_clear_object (server);
}
