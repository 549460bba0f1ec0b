/* SPDX-License-Identifier: MIT */
/*
 * lmd-live-pool.c — a GThreadPool whose items are (function, data) pairs.
 */
#include "lmd-live-pool.h"

struct _LmdLivePool {
  GThreadPool *pool;   /* owned; items are Turn * */
  gint queued;         /* atomic: the frames gauge */
};

typedef struct {
  LmdLivePoolFunc func;
  gpointer data;
} Turn;

static void
run_turn (gpointer item, gpointer user_data)
{
  Turn *turn = item;

  turn->func (turn->data);
  g_free (turn);
}

LmdLivePool *
lmd_live_pool_new (guint max_threads)
{
  LmdLivePool *self;

  g_return_val_if_fail (max_threads >= 1, NULL);
  self = g_atomic_rc_box_new0 (LmdLivePool);
  self->pool = g_thread_pool_new (run_turn, NULL, (int) max_threads, FALSE, NULL);
  return self;
}

LmdLivePool *
lmd_live_pool_ref (LmdLivePool *self)
{
  return g_atomic_rc_box_acquire (self);
}

static void
live_pool_clear (LmdLivePool *self)
{
  /* every session holds a reference, so no turn is queued; this may run on one of the
   * pool's own threads (a turn held the last reference), hence no waiting */
  g_thread_pool_free (self->pool, TRUE, FALSE);
}

void
lmd_live_pool_unref (LmdLivePool *self)
{
  g_atomic_rc_box_release_full (self, (GDestroyNotify) live_pool_clear);
}

void
lmd_live_pool_push (LmdLivePool *self, LmdLivePoolFunc func, gpointer data)
{
  Turn *turn = g_new (Turn, 1);

  turn->func = func;
  turn->data = data;
  g_thread_pool_push (self->pool, turn, NULL);
}

void
lmd_live_pool_add_queued (LmdLivePool *self, gint delta)
{
  g_atomic_int_add (&self->queued, delta);
}

guint
lmd_live_pool_get_queued (LmdLivePool *self)
{
  return (guint) MAX (g_atomic_int_get (&self->queued), 0);
}
