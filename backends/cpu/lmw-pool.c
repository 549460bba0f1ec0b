/* SPDX-License-Identifier: MIT */
/*
 * lmw-pool.c — worker threads for the CPU backend's parallel loops.
 *
 * Each lmw_pool_run publishes (fn, arg, n_tasks) under the mutex and bumps a generation
 * counter; workers and the caller take task numbers from an atomic counter until none is
 * left; the caller waits until every worker has finished the generation.  Workers spin
 * briefly before sleeping on the condition variable so that the many short operations of
 * token-by-token decoding don't pay a wake-up each.
 */
#include "lmw-pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#define SPIN_ITERS 4000

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause ()
#else
#define cpu_relax() ((void) 0)
#endif

struct lmw_pool {
  int n_threads;
  pthread_t *threads; /* owned, n_threads - 1 */
  pthread_mutex_t mutex;
  pthread_cond_t wake;
  pthread_cond_t done;
  atomic_int generation;
  atomic_int next_task;
  atomic_int busy;     /* workers still inside the current generation */
  lmw_pool_fn fn;      /* set under mutex before generation changes */
  void *arg;
  int n_tasks;
  bool quit;
};

typedef struct {
  lmw_pool *pool;
  int index;
} worker_arg;

static void
run_tasks (lmw_pool *pool, int thread)
{
  for (;;) {
    int t = atomic_fetch_add (&pool->next_task, 1);
    if (t >= pool->n_tasks)
      break;
    pool->fn (pool->arg, t, thread);
  }
}

static void *
worker_main (void *p)
{
  worker_arg wa = *(worker_arg *) p;
  free (p);
  lmw_pool *pool = wa.pool;
  int seen = 0;
  for (;;) {
    int spins = 0;
    while (atomic_load (&pool->generation) == seen && spins < SPIN_ITERS) {
      cpu_relax ();
      spins++;
    }
    pthread_mutex_lock (&pool->mutex);
    while (atomic_load (&pool->generation) == seen && !pool->quit)
      pthread_cond_wait (&pool->wake, &pool->mutex);
    if (pool->quit) {
      pthread_mutex_unlock (&pool->mutex);
      return NULL;
    }
    seen = atomic_load (&pool->generation);
    pthread_mutex_unlock (&pool->mutex);

    run_tasks (pool, wa.index);

    pthread_mutex_lock (&pool->mutex);
    if (atomic_fetch_sub (&pool->busy, 1) == 1)
      pthread_cond_signal (&pool->done);
    pthread_mutex_unlock (&pool->mutex);
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
  pthread_mutex_init (&pool->mutex, NULL);
  pthread_cond_init (&pool->wake, NULL);
  pthread_cond_init (&pool->done, NULL);
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
  pool->quit = true;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->mutex);
  for (int i = 0; i < pool->n_threads - 1; i++)
    pthread_join (pool->threads[i], NULL);
  free (pool->threads);
  pthread_mutex_destroy (&pool->mutex);
  pthread_cond_destroy (&pool->wake);
  pthread_cond_destroy (&pool->done);
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
  pthread_mutex_lock (&pool->mutex);
  pool->fn = fn;
  pool->arg = arg;
  pool->n_tasks = n_tasks;
  atomic_store (&pool->next_task, 0);
  atomic_store (&pool->busy, pool->n_threads - 1);
  atomic_fetch_add (&pool->generation, 1);
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->mutex);

  run_tasks (pool, 0);

  int spins = 0;
  while (atomic_load (&pool->busy) > 0 && spins < SPIN_ITERS) {
    cpu_relax ();
    spins++;
  }
  pthread_mutex_lock (&pool->mutex);
  while (atomic_load (&pool->busy) > 0)
    pthread_cond_wait (&pool->done, &pool->mutex);
  pthread_mutex_unlock (&pool->mutex);
}
