/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-connection.h — one hiredis asynchronous connection on the GLib main loop.
 *
 * Parses REDIS_URL (`redis://[[user]:password@]host[:port][/db]`), connects without blocking
 * (hiredis's GLib adapter: the socket is a GSource on the thread-default main context),
 * sends AUTH and SELECT first, and reconnects after any disconnection or failed attempt with
 * exponential backoff (100 ms doubling up to [redis] reconnect_max_ms, default 2000).  While
 * it is down, command() refuses at once (returns FALSE) instead of queueing: callers keep
 * their own state and redo their work on the next "ready" callback.
 *
 * A reply callback runs on the main context exactly once for every accepted command, with
 * NULL when the connection went away first; the reply is only valid during the callback.
 */
#pragma once

#include <glib-object.h>
#include <hiredis/hiredis.h>

G_BEGIN_DECLS

#define LMD_TYPE_REDIS_CONNECTION (lmd_redis_connection_get_type ())
G_DECLARE_FINAL_TYPE (LmdRedisConnection, lmd_redis_connection, LMD, REDIS_CONNECTION, GObject)

typedef void (*LmdRedisReplyFunc) (LmdRedisConnection *conn, redisReply *reply, gpointer user_data);
/* Called each time the connection is (re-)established and authenticated. */
typedef void (*LmdRedisReadyFunc) (LmdRedisConnection *conn, gpointer user_data);

/* (transfer full) a connection for @url, or NULL with @error set (G_KEY_FILE_ERROR_INVALID_VALUE)
 * when the URL is not one of the forms above.  Nothing happens before start(). */
LmdRedisConnection *lmd_redis_connection_new (const char *url, guint reconnect_max_ms, GError **error);
void lmd_redis_connection_set_ready_func (LmdRedisConnection *self, LmdRedisReadyFunc func,
                                          gpointer user_data);
void lmd_redis_connection_start (LmdRedisConnection *self);
gboolean lmd_redis_connection_is_connected (LmdRedisConnection *self);
/* "host:port/db" without the password, for logs */
const char *lmd_redis_connection_get_display_name (LmdRedisConnection *self);

/* Sends @argc arguments (binary-safe); FALSE (callback never called) when not connected.
 * @func may be NULL to ignore the reply. */
gboolean lmd_redis_connection_command_argv (LmdRedisConnection *self, LmdRedisReplyFunc func,
                                            gpointer user_data, int argc, const char **argv,
                                            const size_t *argvlen);
/* Same, with NUL-terminated string arguments ending with NULL. */
gboolean lmd_redis_connection_command (LmdRedisConnection *self, LmdRedisReplyFunc func,
                                       gpointer user_data, ...) G_GNUC_NULL_TERMINATED;
/* Runs the main context until every accepted command has its reply, at most @timeout_ms. */
void lmd_redis_connection_flush (LmdRedisConnection *self, guint timeout_ms);

G_END_DECLS
