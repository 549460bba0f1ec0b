/* SPDX-License-Identifier: MIT */
/*
 * lmd-live-pool.h — the threads that decode live sessions (LmdLiveSession).
 *
 * A bounded set of threads shared by every live session of its owner (the WebSocket hub, a
 * GStreamer element's process).  A session runs on it in turns: one turn decodes at most
 * half a second of the session's audio and then yields, so one fast client cannot starve
 * the others; a session is never on two threads at once.
 *
 * Why not the router's inference pool: a batch request holds one of the router's threads
 * for the whole file (decode → feed → finish is one call that cannot yield), so a live
 * session queued behind it would wait up to [limits] request_timeout_s while its client
 * keeps sending audio in real time.  Live turns are short and must run within tens of
 * milliseconds; until batch work yields in turns too, live sessions keep threads of their
 * own, bounded by [streaming] workers.
 *
 * Thread-safe; reference counted.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdLivePool LmdLivePool;

/* Runs on a pool thread with the @data given to lmd_live_pool_push(). */
typedef void (*LmdLivePoolFunc) (gpointer data);

/* (transfer full) a pool of at most @max_threads threads (1 .. 256). */
LmdLivePool *lmd_live_pool_new (guint max_threads);
LmdLivePool *lmd_live_pool_ref (LmdLivePool *self);
/* The last reference waits for the turns already queued to run. */
void lmd_live_pool_unref (LmdLivePool *self);

/* Queues @func (@data) to run on a pool thread, in order of submission. */
void lmd_live_pool_push (LmdLivePool *self, LmdLivePoolFunc func, gpointer data);

/* The gauge of audio frames queued and not yet decoded, over all sessions of the pool:
 * sessions add and remove their frames. */
void lmd_live_pool_add_queued (LmdLivePool *self, gint delta);
guint lmd_live_pool_get_queued (LmdLivePool *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLivePool, lmd_live_pool_unref)

G_END_DECLS
