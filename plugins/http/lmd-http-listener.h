/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-listener.h — the listening side shared by the transports that serve HTTP with
 * libsoup (the "http" transport and the license role's "license-server"): the server with
 * the project's Server header, listening on a configured host:port with the same error
 * messages, the port actually bound, the connection limits and timeouts the daemon enforces
 * itself (LmdHttpConnectionTracker), and the two ways of stopping (close the listening
 * sockets only; disconnect everything).
 *
 * Main context only.  The functions work on a SoupServer the transport owns: each
 * transport adds its own handlers between lmd_http_listener_new_server() and
 * lmd_http_listener_listen().
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

#include "lmd-http-connection-tracker.h"

G_BEGIN_DECLS

/* (transfer full) @host as an IP address, or NULL with @error (G_IO_ERROR_INVALID_ARGUMENT)
 * when it is not one: no name lookup. */
GInetAddress *lmd_http_listener_parse_host (const char *host, GError **error);

/* (transfer full) a server answering with "Server: lightning-mediad/VERSION", no handlers. */
SoupServer *lmd_http_listener_new_server (void);

/* Makes *@server listen on @address:@port (@port 0 picks a free one) with the system's
 * largest listen backlog (net.core.somaxconn), accepting up to 256 waiting connections at
 * each wake-up (libsoup's own listener takes one per main-loop turn), tracks its connections with @limits (see
 * lmd-http-connection-tracker.h) and stores the port actually bound in *@bound_port.  On
 * failure, @error says "cannot listen on @host:@port: " and why (@host is the configured
 * text, for the message only), and *@server is dropped and set to NULL: a transport that
 * could not start holds no server. */
gboolean lmd_http_listener_listen (SoupServer **server, GInetAddress *address, const char *host,
                                   guint port, const LmdHttpConnectionLimits *limits,
                                   guint *bound_port, GError **error);

/* (transfer none) (nullable) the socket of @msg's connection: soup_server_message_get_socket()
 * knows none for the connections the listener hands to libsoup (soup_server_accept_iostream()),
 * so everything that needs the socket asks here; NULL once the connection is closed. */
GSocket *lmd_http_listener_get_socket (SoupServerMessage *msg);

/* (transfer none) (nullable) the connection tracker of a listening @server. */
LmdHttpConnectionTracker *lmd_http_listener_get_connections (SoupServer *server);

/* Closes the listening sockets only: requests in flight still get their answers.
 * @server may be NULL (never started). */
void lmd_http_listener_close (SoupServer *server);

/* Disconnects *@server (every connection) and drops it; *@server may be NULL. */
void lmd_http_listener_clear (SoupServer **server);

G_END_DECLS
