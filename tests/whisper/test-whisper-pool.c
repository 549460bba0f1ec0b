/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-pool.c — the CPU backend's thread pool (backends/cpu/lmw-pool.c) on 1 to 4
 * threads.
 *
 * Asserts (TAP):
 *   - 20000 loops of 1 to 37 tasks in a row (the back-to-back small loops of a decoder step):
 *     every task of every loop runs exactly once, with a thread number in range, and its write
 *     is visible when lmw_pool_run returns (a task counts its loop's number into a slot that
 *     the next loop checks);
 *   - loops separated by pauses longer than the workers spin (they go to sleep and are woken);
 *   - a task that runs long on a worker: lmw_pool_run waits for it (its write is seen);
 *   - with more threads than processors and a busy competing thread per processor (workers
 *     that are often not running), 3000 loops still run every task exactly once.
 */
#include "lmw-pool.h"
#include "lmw-test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define MAX_TASKS 64

typedef struct {
  int loop;                   /* this loop's number */
  int n_threads;
  atomic_int runs[MAX_TASKS]; /* times each task ran in this loop */
  int stamp[MAX_TASKS];       /* plain writes: the loop number, checked after the return */
  atomic_int bad_thread;
  int slow_task;              /* task that sleeps (-1: none) */
} loop_job;

static void
count_task (void *arg, int task, int thread)
{
  loop_job *j = arg;
  if (thread < 0 || thread >= j->n_threads)
    atomic_fetch_add (&j->bad_thread, 1);
  if (task == j->slow_task) {
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  atomic_fetch_add (&j->runs[task], 1);
  j->stamp[task] = j->loop;
}

/* runs `loops` loops; returns the number of task runs that were wrong (not exactly once, not
 * visible at return, or on a thread out of range); pause_us between loops */
static long
run_loops (lmw_pool *pool, int loops, int pause_us, bool slow)
{
  loop_job *j = calloc (1, sizeof *j);
  long wrong = 0;
  j->n_threads = lmw_pool_n_threads (pool);
  for (int l = 0; l < loops; l++) {
    int n = 1 + (l * 7919) % 37;
    j->loop = l + 1;
    j->slow_task = slow ? n - 1 : -1;
    for (int t = 0; t < MAX_TASKS; t++)
      atomic_store (&j->runs[t], 0);
    lmw_pool_run (pool, count_task, j, n);
    for (int t = 0; t < n; t++)
      wrong += atomic_load (&j->runs[t]) != 1 || j->stamp[t] != l + 1;
    for (int t = n; t < MAX_TASKS; t++)
      wrong += atomic_load (&j->runs[t]) != 0;
    if (pause_us > 0) {
      struct timespec ts = { 0, (long) pause_us * 1000 };
      nanosleep (&ts, NULL);
    }
  }
  wrong += atomic_load (&j->bad_thread);
  free (j);
  return wrong;
}

static atomic_bool stop_burners;

static void *
burner (void *p)
{
  (void) p;
  volatile unsigned long x = 0;
  while (!atomic_load (&stop_burners))
    x++;
  return NULL;
}

int
main (void)
{
  for (int threads = 1; threads <= 4; threads++) {
    lmw_pool *pool = lmw_pool_new (threads);
    TEST_OK (pool != NULL && lmw_pool_n_threads (pool) == threads, "pool of %d threads", threads);
    if (pool == NULL)
      continue;
    long wrong = run_loops (pool, 20000, 0, false);
    TEST_OK (wrong == 0, "%d threads, 20000 back-to-back loops of 1-37 tasks: every task once, "
             "its write seen at return (%ld wrong)", threads, wrong);
    wrong = run_loops (pool, 20, 2000, false);
    TEST_OK (wrong == 0, "%d threads, 20 loops 2 ms apart (workers asleep in between): every task "
             "once (%ld wrong)", threads, wrong);
    wrong = run_loops (pool, 4, 0, true);
    TEST_OK (wrong == 0, "%d threads, a task sleeping 20 ms: lmw_pool_run waits for it (%ld "
             "wrong)", threads, wrong);
    lmw_pool_free (pool);
  }
  /* oversubscribed: a spinning thread per processor competes with the workers */
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  if (cpus < 1)
    cpus = 1;
  if (cpus > 8)
    cpus = 8;
  pthread_t burners[8];
  int started = 0;
  for (long i = 0; i < cpus; i++)
    started += pthread_create (&burners[started], NULL, burner, NULL) == 0;
  lmw_pool *pool = lmw_pool_new (4);
  long wrong = pool ? run_loops (pool, 3000, 0, false) : -1;
  TEST_OK (wrong == 0, "4 threads against %d busy threads on %ld processors, 3000 loops: every "
           "task once (%ld wrong)", started, cpus, wrong);
  lmw_pool_free (pool);
  atomic_store (&stop_burners, true);
  for (int i = 0; i < started; i++)
    pthread_join (burners[i], NULL);
  return test_done ();
}
