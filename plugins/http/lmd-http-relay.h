/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-relay.h — an api process's live stream, relayed to an asr worker.
 *
 * The client's WebSocket is accepted by the api; the relay opens a WebSocket to the same
 * path and query on the worker the picker chooses (X-Request-ID passed on) and copies every
 * frame both ways, text as text and binary as binary, in order.  Frames that arrive before
 * the worker's connection is up are held, up to 1 MiB (beyond that: RATE_LIMIT_EXCEEDED and
 * close 1008); after that each frame is handed on as it comes, and the worker's own bounded
 * queue (max_queue_seconds) limits what a fast client can pile up.
 *
 * Endings.  A close from either side is passed on with its code.  A worker that cannot be
 * reached is tried once more on another; if none answers, or the worker's connection ends
 * without a close frame (the worker died), the client gets
 *   {"type":"error","code":"SERVICE_UNAVAILABLE","error":"..."}
 * and a close (1008 before the stream started, 1011 after), never silence.  A worker that
 * is alive but stopped (SIGSTOP, a hang) sends no close: the relay pings the worker's
 * connection and counts it dead once it has heard nothing, not even a pong, for the worker
 * timeout ([api] worker_timeout_s): the same error and close 1011.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-worker-picker.h"

G_BEGIN_DECLS

#define LMD_TYPE_HTTP_RELAY (lmd_http_relay_get_type ())
G_DECLARE_FINAL_TYPE (LmdHttpRelay, lmd_http_relay, LMD, HTTP_RELAY, GObject)

/* Called once, on the main context, when both connections are closed. */
typedef void (*LmdHttpRelayDone) (LmdHttpRelay *relay, gpointer user_data);

/* @picker and @session: borrowed, must outlive the relay; @client: a reference is taken. */
LmdHttpRelay *lmd_http_relay_new (LmdWorkerPicker *picker, SoupSession *session,
                                  SoupServerMessage *msg, SoupWebsocketConnection *client,
                                  const char *request_id);
/* A worker connection silent for @timeout_s (pings unanswered) counts as dead; 0 (the
 * default) never.  Before start(). */
void lmd_http_relay_set_worker_timeout (LmdHttpRelay *self, guint timeout_s);
/* Starts listening to the client: its frames are held (as before the worker is connected)
 * until start() or refuse().  For an admission that answers later.  Optional. */
void lmd_http_relay_hold (LmdHttpRelay *self, LmdHttpRelayDone done, gpointer user_data);
/* Connects to a worker and relays (holding the client first, unless hold() did). */
void lmd_http_relay_start (LmdHttpRelay *self, LmdHttpRelayDone done, gpointer user_data);
/* Instead of start(): sends {"type":"error","code":@code,"error":@message} to the client and
 * closes it (1008); the held frames are dropped. */
void lmd_http_relay_refuse (LmdHttpRelay *self, const char *code, const char *message);

/* Bytes of binary frames received from the client. */
guint64 lmd_http_relay_get_bytes_received (LmdHttpRelay *self);
/* Frames received from the client and not yet handed to the worker's connection. */
guint lmd_http_relay_get_pending (LmdHttpRelay *self);

G_END_DECLS
