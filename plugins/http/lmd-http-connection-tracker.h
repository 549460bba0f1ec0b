/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-connection-tracker.h — the daemon's own bookkeeping of the HTTP connections a
 * SoupServer holds, because libsoup 3.2 leaves these to the application:
 *
 *   - a keep-alive connection whose client closes it between two requests is never closed
 *     by libsoup (its descriptor stays in CLOSE-WAIT for good): the tracker watches every
 *     idle connection and closes it when its peer has gone;
 *   - an idle keep-alive connection is closed after [server] keepalive_timeout_s;
 *   - the request headers must arrive within [server] header_timeout_s of the connection
 *     (or of the first byte of the next request on a kept-alive one), else the connection
 *     gets 408 and is closed: a client sending one header byte a second no longer holds a
 *     connection forever;
 *   - a request body must arrive within [server] body_timeout_s of its headers, plus one
 *     second for every [server] body_min_rate_bytes received, else the request gets 408 and
 *     the connection is closed: libsoup's own timeout (client_timeout_s) starts again with
 *     every byte, so a body sent a byte a second held its connection and its upload slot
 *     for as long as the client kept sending;
 *   - at most [server] max_connections connections per process and
 *     [server] max_connections_per_client per client address: one more gets 503 (written
 *     before its request is read, "Connection: close") and is closed.  Each limit reached
 *     logs one line (at most one a second, with the count refused meanwhile);
 *   - libsoup stops accepting for good after one failed accept() (out of descriptors): given
 *     the listening socket, the tracker notices connections left waiting in the backlog and
 *     makes the server accept again (lmd-http-listener.c accepts on its own and retries
 *     itself, so it gives none).
 *
 * A connection the tracker closes is taken from libsoup (soup_server_message_steal_connection)
 * while libsoup waits on it, so libsoup frees its own state too.  A refused or timed-out
 * connection is closed gracefully: the answer, then the end of our side, then what the
 * client still sends is read and dropped for at most two seconds (so the client reads the
 * answer rather than a reset).  A WebSocket taken over by its handler keeps counting until
 * its socket is closed.
 *
 * Main context only.
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct {
  guint header_timeout_s;           /* request headers complete within this (1..3600) */
  guint keepalive_timeout_s;        /* idle keep-alive connection closed after this (1..3600) */
  guint max_connections;            /* per process; 0 = derived from the descriptor limit */
  guint max_connections_per_client; /* per client address; 0 = no limit */
  guint body_timeout_s;             /* a request body complete within this (1..86400) ... */
  guint body_min_rate_bytes;        /* ... plus 1 s per this many bytes received (0 = none) */
} LmdHttpConnectionLimits;

/* Reads the six keys of @group (the defaults: 30, 15, 0, 256, 60, 1000) and checks their
 * ranges. */
gboolean lmd_http_connection_limits_load (LmdHttpConnectionLimits *limits, GKeyFile *config,
                                          const char *group, GError **error);

/* The per-process limit 0 stands for: the soft RLIMIT_NOFILE less a quarter of it (at least
 * 32 descriptors) kept for everything else the process opens (half of it under 65). */
guint lmd_http_connection_limits_default_max (void);

typedef struct _LmdHttpConnectionTracker LmdHttpConnectionTracker;

/* (transfer full) tracks the connections of @server (borrowed: it must outlive the
 * tracker, and the tracker must be freed before the server disconnects its clients), which
 * listens on @listening (nullable; a non-blocking socket: the tracker makes the server
 * listen on it again when libsoup stopped accepting).  @limits is copied. */
LmdHttpConnectionTracker *lmd_http_connection_tracker_new (SoupServer *server, GSocket *listening,
                                                           const LmdHttpConnectionLimits *limits);
void lmd_http_connection_tracker_free (LmdHttpConnectionTracker *self);

/* Connections open now (refused ones still being closed included). */
guint lmd_http_connection_tracker_get_count (LmdHttpConnectionTracker *self);
/* The per-process limit in force (max_connections, or the one derived from the descriptors). */
guint lmd_http_connection_tracker_get_max (LmdHttpConnectionTracker *self);

/* Appends the Prometheus lines asr_http_connections (gauge), asr_http_connections_max (gauge)
 * and asr_http_connections_refused_total{limit} (counter) to @out. */
void lmd_http_connection_tracker_render_metrics (LmdHttpConnectionTracker *self, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdHttpConnectionTracker, lmd_http_connection_tracker_free)

G_END_DECLS
