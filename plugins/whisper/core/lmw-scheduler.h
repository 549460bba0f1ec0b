/* SPDX-License-Identifier: MIT */
/*
 * lmw-scheduler.h — one scheduler per GPU: the requests of one model on one device share its
 * compute through batches (plain C, pthreads).
 *
 * At creation the scheduler takes all the device memory it will ever use: the model's weights
 * (shared with every other stream of the device), its own stream with scratch for a batch
 * (encoder_batch windows, max_rows decoder rows), and `slots` request slots, each a state with
 * its window's cross-attention K/V and its self-attention K/V cache, plus a pool of
 * `beam_caches` self-attention caches lent to beam searches.  Nothing is allocated on the
 * device afterwards, so a request never fails for device memory: when every slot is taken (or
 * the beam caches a beam search needs are), lmw_scheduler_acquire waits in FIFO order.
 *
 * A request runs lmw_transcribe on the state it acquired, on its own thread, as usual; its
 * encode and decode calls become jobs for the scheduler's thread, which runs, each iteration:
 *   - the encoder once over the windows of every waiting encode job (up to encoder_batch);
 *   - one decoder step over every row of every waiting decode job (all requests, all beams,
 *     prompts included, up to max_rows), sequences joining and leaving between steps
 *     (continuous batching).
 * An iteration starts when every slot in use has a job waiting, or max_wait_ms after the first
 * job arrived: a lone request waits for nobody, and a request among others waits at most
 * max_wait_ms for company.  Results are those of the same request alone up to float rounding
 * (the products are row-independent: the tokens are the same on every backend whose products
 * are, which the tests check).
 */
#ifndef LMW_SCHEDULER_H
#define LMW_SCHEDULER_H

#include "lmw-context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmw_scheduler lmw_scheduler;

typedef struct {
  int slots;          /* request slots (cross + self K/V each); 1 .. 1024 */
  int beam_caches;    /* self-attention caches lent to beam searches; a beam of B needs B */
  int encoder_batch;  /* windows per encoder pass; 1 .. 64 */
  int max_rows;       /* decoder rows per step (raised to n_text_ctx, one whole prompt) */
  double max_wait_ms; /* how long a job waits for the other slots' jobs */
  int n_threads;      /* the backend's threads (CPU backends) */
  bool cuda_graphs;   /* decoder steps of one-token rows recorded once per row count (a CUDA
                       * graph) and replayed, where the backend can (graph_run) */
  bool cross_kv_q8;   /* the slots keep their cross K/V as int8 rows (lmw-cross-kv.c); the
                       * scheduler is refused on a backend without them */
} lmw_scheduler_params;

/* slots 8, beam_caches 8, encoder_batch 8, max_rows 256, max_wait_ms 2, n_threads 1,
 * cuda_graphs true, cross_kv_q8 false */
lmw_scheduler_params lmw_scheduler_default_params (void);

/* Device bytes the scheduler of `params` takes for `model` beyond the weights: its stream's
 * scratch and the slots' and beam caches' buffers (what the memory budget adds up). */
size_t lmw_scheduler_budget_bytes (const lmw_model *model, const lmw_scheduler_params *params);

/* Creates the scheduler and its thread on backend `backend`, device `device`, allocating every
 * buffer now.  (transfer full) (nullable: NULL with err filled, e.g. when the budget does not
 * fit the device) */
lmw_scheduler *lmw_scheduler_new (const lmw_model *model, const char *backend, int device,
                                  const lmw_scheduler_params *params, lmw_error *err);
/* Stops the thread and frees everything; every acquired state must have been released. */
void lmw_scheduler_free (lmw_scheduler *s);

/* Non-zero: stop waiting (the request was cancelled or timed out). */
typedef int (*lmw_abort_fn) (void *user_data);

/* A slot for one request, with n_beams beam caches lent when n_beams > 1 (a beam search of
 * that width).  Waits (FIFO) while none is free; abort (nullable) is asked every 20 ms while
 * waiting and before each of the request's jobs: non-zero ends the wait, and later the
 * request's transcription, with an error whose message is "cancelled".  *waited_ms (nullable)
 * gets the time spent waiting.  (transfer full: give it back with lmw_scheduler_release)
 * (nullable: NULL with err filled when aborted, or when n_beams exceeds beam_caches) */
lmw_state *lmw_scheduler_acquire (lmw_scheduler *s, int n_beams, lmw_abort_fn abort,
                                  void *abort_user_data, double *waited_ms, lmw_error *err);
void lmw_scheduler_release (lmw_scheduler *s, lmw_state *slot);

#define LMW_SCHED_ROW_BUCKETS 10 /* decoder step sizes: 1, 2, 4, ... 256, more */

typedef struct {
  int slots, slots_in_use, waiting; /* waiting: requests queued for a slot */
  int beam_caches, beam_caches_in_use;
  uint64_t acquired;                /* slots handed out so far */
  double wait_ms_total;             /* time they waited, in all */
  double wait_ms_max;
  uint64_t steps[LMW_SCHED_ROW_BUCKETS]; /* decoder steps of <= 1, 2, 4 .. 256, more rows */
  uint64_t step_rows;               /* rows of all steps */
  uint64_t encoder_batches;         /* encoder passes */
  uint64_t encoder_windows;         /* windows they encoded */
  uint64_t cancelled;               /* jobs ended by abort */
  uint64_t table_steps[3];          /* steps run from a row table (lmw-decode-table.c): [0]
                                     * directly, [1] recorded as a graph, [2] replayed */
  uint64_t rows_picked;             /* rows whose next token was chosen on the backend */
  uint64_t rows_topk;               /* rows whose best tokens (a beam's candidates, a window's
                                     * first token) were chosen on the backend */
  uint64_t prompts_picked;          /* windows whose first token and no-speech probability
                                     * came from the backend */
  uint64_t rows_cross_shared;       /* rows of table steps served by another row's read of
                                     * their cross K/V (a request's beams) */
  size_t memory_bytes;              /* the budget taken at creation (without the weights) */
} lmw_scheduler_stats;

void lmw_scheduler_get_stats (lmw_scheduler *s, lmw_scheduler_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* LMW_SCHEDULER_H */
