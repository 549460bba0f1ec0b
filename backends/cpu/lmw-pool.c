/* SPDX-License-Identifier: MIT */
/*
 * lmw-pool.c — worker threads for the CPU backend's parallel loops.
 *
 * One atomic word holds the current loop's task count and the next task number; each
 * lmw_pool_run stores (fn, arg), clears its done counter, then publishes the word.  The
 * caller and the workers claim tasks with one fetch-and-add on that word: the value it returns
 * says both whether a task was left and which loop it belongs to, so a worker that comes late
 * (descheduled on a busy machine, or still waking up) either claims a task of the loop being
 * run or nothing.  The caller takes part, and waits only for the tasks that were claimed to
 * finish (the done counter), never for a worker to wake up: on an oversubscribed machine a
 * worker that isn't running costs the loop nothing, the caller does its share.
 *
 * Workers spin on the word for SPIN_NS after their last task, so that the back-to-back loops
 * of one decoder step find them awake, then sleep on a condition variable; lmw_pool_run wakes
 * sleepers only when there are some (no lock otherwise).  Spinning is bounded in time, not in
 * pause instructions, whose cost differs tenfold between processors (and under a hypervisor).
 */
#include "lmw-pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* how long an idle worker (or a caller waiting for a claimed task) spins before sleeping */
#define SPIN_NS 50000
/* pause instructions between two reads of the clock while spinning */
#define SPIN_BATCH 16

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause ()
#else
#define cpu_relax() ((void) 0)
#endif

/* the loop word: task count in the high half, next task number in the low half (it may run
 * past the count by one failed claim per thread, far below 2^32) */
#define WORD(n, next) (((uint64_t) (uint32_t) (n) << 32) | (uint32_t) (next))
#define WORD_N(w) ((int) ((w) >> 32))
#define WORD_NEXT(w) ((int) ((w) & 0xffffffffu))

struct lmw_pool {
  int n_threads;
  pthread_t *threads; /* owned, n_threads - 1 */
  _Atomic uint64_t word; /* WORD (n_tasks, next task) of the current loop */
  atomic_int done;       /* tasks of the current loop finished */
  lmw_pool_fn fn;        /* set before word is published; stable until done == n_tasks */
  void *arg;
  pthread_mutex_t mutex;
  pthread_cond_t wake;   /* workers: tasks were published */
  pthread_cond_t finished; /* caller: the last claimed task finished */
  atomic_int sleepers;   /* workers waiting on wake */
  atomic_bool caller_waiting;
  atomic_bool quit;
};

typedef struct {
  lmw_pool *pool;
  int index;
} worker_arg;

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool
tasks_left (lmw_pool *pool)
{
  uint64_t w = atomic_load (&pool->word);
  return WORD_NEXT (w) < WORD_N (w);
}

/* claims and runs tasks of whatever loop is current until none is left */
static void
run_tasks (lmw_pool *pool, int thread)
{
  for (;;) {
    uint64_t w = atomic_fetch_add (&pool->word, 1);
    int n = WORD_N (w), t = WORD_NEXT (w);
    if (t >= n)
      return;
    /* task t is claimed and not done: the loop (fn, arg) stays as published */
    pool->fn (pool->arg, t, thread);
    if (atomic_fetch_add (&pool->done, 1) + 1 == n && atomic_load (&pool->caller_waiting)) {
      pthread_mutex_lock (&pool->mutex);
      pthread_cond_signal (&pool->finished);
      pthread_mutex_unlock (&pool->mutex);
    }
  }
}

static void *
worker_main (void *p)
{
  worker_arg wa = *(worker_arg *) p;
  free (p);
  lmw_pool *pool = wa.pool;
  for (;;) {
    int64_t t0 = now_ns ();
    while (!tasks_left (pool) && !atomic_load (&pool->quit)) {
      for (int i = 0; i < SPIN_BATCH; i++)
        cpu_relax ();
      if (now_ns () - t0 > SPIN_NS)
        break;
    }
    if (!tasks_left (pool)) {
      pthread_mutex_lock (&pool->mutex);
      atomic_fetch_add (&pool->sleepers, 1);
      while (!tasks_left (pool) && !atomic_load (&pool->quit))
        pthread_cond_wait (&pool->wake, &pool->mutex);
      atomic_fetch_sub (&pool->sleepers, 1);
      pthread_mutex_unlock (&pool->mutex);
    }
    if (atomic_load (&pool->quit))
      return NULL;
    run_tasks (pool, wa.index);
  }
}

lmw_pool *
lmw_pool_new (int n_threads)
{
  if (n_threads < 1)
    n_threads = 1;
  lmw_pool *pool = calloc (1, sizeof *pool);
  if (pool == NULL)
    return NULL;
  pool->n_threads = 1;
  atomic_init (&pool->word, WORD (0, 0));
  pthread_mutex_init (&pool->mutex, NULL);
  pthread_cond_init (&pool->wake, NULL);
  pthread_cond_init (&pool->finished, NULL);
  if (n_threads > 1) {
    pool->threads = calloc ((size_t) n_threads - 1, sizeof *pool->threads);
    if (pool->threads == NULL) {
      lmw_pool_free (pool);
      return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
      worker_arg *wa = malloc (sizeof *wa);
      if (wa == NULL)
        break;
      wa->pool = pool;
      wa->index = i;
      if (pthread_create (&pool->threads[i - 1], NULL, worker_main, wa) != 0) {
        free (wa);
        break;
      }
      pool->n_threads++;
    }
  }
  return pool;
}

void
lmw_pool_free (lmw_pool *pool)
{
  if (pool == NULL)
    return;
  pthread_mutex_lock (&pool->mutex);
  atomic_store (&pool->quit, true);
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->mutex);
  for (int i = 0; i < pool->n_threads - 1; i++)
    pthread_join (pool->threads[i], NULL);
  free (pool->threads);
  pthread_mutex_destroy (&pool->mutex);
  pthread_cond_destroy (&pool->wake);
  pthread_cond_destroy (&pool->finished);
  free (pool);
}

int
lmw_pool_n_threads (const lmw_pool *pool)
{
  return pool->n_threads;
}

void
lmw_pool_run (lmw_pool *pool, lmw_pool_fn fn, void *arg, int n_tasks)
{
  if (n_tasks <= 0)
    return;
  if (pool->n_threads == 1 || n_tasks == 1) {
    for (int t = 0; t < n_tasks; t++)
      fn (arg, t, 0);
    return;
  }
  /* the previous loop is over (every task done), so nothing reads fn and arg now */
  pool->fn = fn;
  pool->arg = arg;
  atomic_store (&pool->done, 0);
  atomic_store (&pool->word, WORD (n_tasks, 0));
  if (atomic_load (&pool->sleepers) > 0) {
    pthread_mutex_lock (&pool->mutex);
    pthread_cond_broadcast (&pool->wake);
    pthread_mutex_unlock (&pool->mutex);
  }

  run_tasks (pool, 0);

  /* every task is claimed; wait for those still running on a worker */
  if (atomic_load (&pool->done) == n_tasks)
    return;
  int64_t t0 = now_ns ();
  while (atomic_load (&pool->done) < n_tasks) {
    for (int i = 0; i < SPIN_BATCH; i++)
      cpu_relax ();
    if (now_ns () - t0 > SPIN_NS)
      break;
  }
  if (atomic_load (&pool->done) == n_tasks)
    return;
  pthread_mutex_lock (&pool->mutex);
  atomic_store (&pool->caller_waiting, true);
  while (atomic_load (&pool->done) < n_tasks)
    pthread_cond_wait (&pool->finished, &pool->mutex);
  atomic_store (&pool->caller_waiting, false);
  pthread_mutex_unlock (&pool->mutex);
}
