/* SPDX-License-Identifier: MIT */
/*
 * lmw-pool.h — a fixed pool of worker threads that run numbered tasks of one parallel loop.
 * The calling thread takes part in the loop; lmw_pool_run returns when every task is done.
 * One caller at a time (the backend context's owner).
 */
#ifndef LMW_POOL_H
#define LMW_POOL_H

typedef struct lmw_pool lmw_pool;

/* fn (arg, task, thread): thread is 0 for the caller, 1 .. n_threads - 1 for the workers */
typedef void (*lmw_pool_fn) (void *arg, int task, int thread);

/* NULL on failure; n_threads = 1 starts no thread */
lmw_pool *lmw_pool_new (int n_threads);
void lmw_pool_free (lmw_pool *pool);
int lmw_pool_n_threads (const lmw_pool *pool);
void lmw_pool_run (lmw_pool *pool, lmw_pool_fn fn, void *arg, int n_tasks);

#endif /* LMW_POOL_H */
