/* SPDX-License-Identifier: MIT */
/*
 * lmw-scheduler.c — batching the requests of one device (see lmw-scheduler.h).
 *
 * Threads: each request's own thread (lmw_transcribe on its slot) queues jobs and sleeps until
 * they are done; the scheduler's thread takes every queued job at once, runs the batch on its
 * own stream and wakes them.  One mutex guards the queue, the slots and the statistics; the
 * batch itself runs without it.  A slot's own backend context is used only by its request's
 * thread (beam forks copy caches on it), the scheduler's stream only by the scheduler's thread;
 * a request syncs its context before queueing a job, and every batch ends with a sync, so the
 * two streams never touch a buffer at the same time.
 */
#include "lmw-scheduler.h"

#include "lmw-state.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum {
  JOB_ENCODE,
  JOB_STEP,  /* sequences for the next batched decoder step */
  JOB_ALONE, /* a decode that reports its cross-attention (alignment): run by itself */
} job_kind;

typedef struct job {
  job_kind kind;
  lmw_state *slot;
  lmw_step_seq seqs[LMW_MAX_BEAM];
  int n_seqs, rows;
  /* JOB_ALONE */
  const int *tokens;
  int n, n_past;
  float *logits;
  bool all_logits;
  /* result */
  int rc;
  lmw_error err;
  bool done;
  struct job *next;
} job;

typedef struct waiter {
  struct waiter *next;
  int n_beams;
} waiter;

struct lmw_scheduler {
  const lmw_model *model;  /* borrowed */
  lmw_scheduler_params p;
  lmw_state *work;         /* owned: the scheduler's stream */
  lmw_state **slots;       /* owned (p.slots) */
  bool *slot_busy;         /* (p.slots) */
  float **beam_k, **beam_v;/* owned (p.beam_caches), allocated on work */
  bool *beam_busy;
  size_t budget;

  pthread_t thread;
  bool thread_started;
  pthread_mutex_t lock;
  pthread_cond_t work_cv;  /* a job was queued, a slot released, stop */
  pthread_cond_t done_cv;  /* a batch finished */
  pthread_cond_t slot_cv;  /* a slot or beam cache was released, a waiter left */
  bool stop;
  job *head, *tail;        /* queued jobs */
  int n_queued;
  double first_at;         /* when the oldest queued job came */
  waiter *waiters;         /* FIFO of requests waiting for a slot */
  int in_use, beams_in_use;
  lmw_scheduler_stats stats;
};

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static struct timespec
abs_time (double ms_from_now)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  double ns = (double) ts.tv_nsec + ms_from_now * 1e6;
  ts.tv_sec += (time_t) (ns / 1e9);
  ts.tv_nsec = (long) fmod (ns, 1e9);
  return ts;
}

lmw_scheduler_params
lmw_scheduler_default_params (void)
{
  return (lmw_scheduler_params) {
    .slots = 8, .beam_caches = 8, .encoder_batch = 8, .max_rows = 256, .max_wait_ms = 2.0,
    .n_threads = 1, .cuda_graphs = true, .cross_kv_q8 = false,
  };
}

static int
step_rows (const lmw_model *model, const lmw_scheduler_params *p)
{
  return p->max_rows > model->hp.n_text_ctx ? p->max_rows : model->hp.n_text_ctx;
}

size_t
lmw_scheduler_budget_bytes (const lmw_model *model, const lmw_scheduler_params *p)
{
  const lmw_hparams *hp = &model->hp;
  size_t T = (size_t) hp->n_audio_ctx, C = (size_t) hp->n_audio_state, L = (size_t) hp->n_text_layer;
  size_t Tt = (size_t) hp->n_text_ctx, W = (size_t) (p->encoder_batch > 0 ? p->encoder_batch : 1);
  size_t R = (size_t) step_rows (model, p);
  /* f32 K, f16 K and V (f32 V without f16 ops), or int8 K and V with their scales */
  size_t cross = L * T * C * 4 + 2 * (p->cross_kv_q8 ? LMW_CROSS_Q8_BYTES (L * T * C) : L * T * C * 2);
  size_t self = 2 * L * Tt * C * 4;
  size_t srows = W * T > 2 * T ? W * T : 2 * T;
  srows = srows > R ? srows : R;
  size_t scratch = (size_t) hp->n_mels * 2 * T * W * 4 + 2 * W * T * C * 4 + R * C * 4 +
                   5 * srows * C * 4 + srows * 4 * C * 4 + R * (size_t) hp->n_vocab * 4;
  /* the front end on the backend: a window's samples and maximum, a slot's window of frames */
  size_t front = (2 * T * 160 + 400 + 1) * 4;
  size_t slot_mel = (size_t) hp->n_mels * 2 * T * 4;
  return (size_t) p->slots * (cross + self + front + slot_mel) + (cross + self + scratch + front) +
         (size_t) p->beam_caches * self;
}

/* ---- the scheduler's thread ------------------------------------------------------------- */

static void
job_fail (job *j, const char *msg)
{
  j->rc = -1;
  lmw_set_error (&j->err, LMW_ERR_ARG, "%s", msg);
}

static int
bucket_of (int rows)
{
  int b = 0;
  while (b < LMW_SCHED_ROW_BUCKETS - 1 && rows > (1 << b))
    b++;
  return b;
}

/* encode jobs js[0 .. n), in batches of encoder_batch */
static void
run_encodes (lmw_scheduler *s, job **js, int n)
{
  lmw_state *batch[64];
  for (int i = 0; i < n;) {
    int B = n - i < s->p.encoder_batch ? n - i : s->p.encoder_batch;
    for (int b = 0; b < B; b++)
      batch[b] = js[i + b]->slot;
    lmw_error err = { 0 };
    int rc = lmw_encoder_forward_batch (s->work, batch, B, &err);
    for (int b = 0; b < B; b++) {
      js[i + b]->rc = rc;
      js[i + b]->err = err;
    }
    pthread_mutex_lock (&s->lock);
    s->stats.encoder_batches++;
    s->stats.encoder_windows += (uint64_t) B;
    pthread_mutex_unlock (&s->lock);
    i += B;
  }
}

/* a decode that reports its cross-attention: the scheduler's stream borrows the slot's K/V,
 * cache and callback and runs lmw_decode as a stream of its own would */
static void
run_alone (lmw_scheduler *s, job *j)
{
  lmw_state *w = s->work, *sl = j->slot;
  float *own_k = w->self_k, *own_v = w->self_v, *own_ck = w->cross_k, *own_cv = w->cross_v;
  uint16_t *own_kh = w->cross_kh, *own_vh = w->cross_vh;
  bool own_q8 = w->cross_q8;
  w->self_k = sl->self_k;
  w->self_v = sl->self_v;
  w->cross_k = sl->cross_k;
  w->cross_v = sl->cross_v;
  w->cross_kh = sl->cross_kh;
  w->cross_vh = sl->cross_vh;
  w->cross_q8 = sl->cross_q8;
  w->n_cached = sl->n_cached;
  w->have_audio = sl->have_audio;
  w->xattn_cb = sl->xattn_cb;
  w->xattn_user_data = sl->xattn_user_data;
  j->rc = lmw_decode (w, j->tokens, j->n, j->n_past, j->logits, j->all_logits, &j->err);
  w->ops->sync (w->be); /* the slot's stream reads the cache next */
  w->self_k = own_k;
  w->self_v = own_v;
  w->cross_k = own_ck;
  w->cross_v = own_cv;
  w->cross_kh = own_kh;
  w->cross_vh = own_vh;
  w->cross_q8 = own_q8;
  w->xattn_cb = NULL;
  w->xattn_user_data = NULL;
  w->have_audio = false;
  w->n_cached = 0;
}

static void
run_step (lmw_scheduler *s, job **js, int n, lmw_step_seq *seqs)
{
  int n_seqs = 0, rows = 0;
  for (int i = 0; i < n; i++) {
    memcpy (seqs + n_seqs, js[i]->seqs, sizeof *seqs * (size_t) js[i]->n_seqs);
    n_seqs += js[i]->n_seqs;
    rows += js[i]->rows;
  }
  lmw_error err = { 0 };
  int rc = lmw_decode_step (s->work, seqs, n_seqs, &err);
  for (int i = 0; i < n; i++) {
    js[i]->rc = rc;
    js[i]->err = err;
  }
  pthread_mutex_lock (&s->lock);
  s->stats.steps[bucket_of (rows)]++;
  s->stats.step_rows += (uint64_t) rows;
  memcpy (s->stats.table_steps, s->work->graph_steps, sizeof s->stats.table_steps);
  s->stats.rows_picked = s->work->step_picked;
  s->stats.rows_topk = s->work->step_topk_rows;
  s->stats.prompts_picked = s->work->step_first_picked;
  s->stats.rows_cross_shared = s->work->step_cross_shared;
  pthread_mutex_unlock (&s->lock);
}

/* runs the jobs of one iteration: the encoder over every window, then decoder steps of at
 * most step_rows rows over every sequence */
static void
run_jobs (lmw_scheduler *s, job *list, int n)
{
  job **enc = malloc (sizeof (job *) * (size_t) n);
  job **dec = malloc (sizeof (job *) * (size_t) n);
  lmw_step_seq *seqs = malloc (sizeof *seqs * (size_t) n * LMW_MAX_BEAM);
  if (enc == NULL || dec == NULL || seqs == NULL) {
    for (job *j = list; j != NULL; j = j->next)
      job_fail (j, "the scheduler is out of host memory");
    goto out;
  }
  int n_enc = 0, n_dec = 0;
  for (job *j = list; j != NULL; j = j->next) {
    lmw_state *sl = j->slot;
    if (sl->abort_cb != NULL && sl->abort_cb (sl->abort_user_data)) {
      job_fail (j, "cancelled");
      pthread_mutex_lock (&s->lock);
      s->stats.cancelled++;
      pthread_mutex_unlock (&s->lock);
      continue;
    }
    if (j->kind == JOB_ENCODE)
      enc[n_enc++] = j;
    else if (j->kind == JOB_ALONE)
      run_alone (s, j);
    else
      dec[n_dec++] = j;
  }
  if (n_enc > 0)
    run_encodes (s, enc, n_enc);
  int R = s->work->step_rows;
  for (int i = 0; i < n_dec;) {
    int rows = 0, k = i;
    while (k < n_dec && rows + dec[k]->rows <= R)
      rows += dec[k++]->rows;
    run_step (s, dec + i, k - i, seqs);
    i = k;
  }
out:
  free (enc);
  free (dec);
  free (seqs);
}

static void *
scheduler_thread (void *data)
{
  lmw_scheduler *s = data;
  pthread_mutex_lock (&s->lock);
  for (;;) {
    while (!s->stop && s->head == NULL)
      pthread_cond_wait (&s->work_cv, &s->lock);
    if (s->head == NULL)
      break; /* stopping, nothing left */
    /* company: every slot in use has a job queued, or max_wait_ms has passed */
    double deadline = s->first_at + s->p.max_wait_ms;
    while (!s->stop && s->n_queued < s->in_use && now_ms () < deadline) {
      struct timespec ts = abs_time (deadline - now_ms ());
      pthread_cond_timedwait (&s->work_cv, &s->lock, &ts);
    }
    job *list = s->head;
    int n = s->n_queued;
    s->head = s->tail = NULL;
    s->n_queued = 0;
    pthread_mutex_unlock (&s->lock);
    run_jobs (s, list, n);
    pthread_mutex_lock (&s->lock);
    for (job *j = list, *next; j != NULL; j = next) {
      next = j->next; /* j lives on its request's stack: not touched once done */
      j->done = true;
    }
    pthread_cond_broadcast (&s->done_cv);
  }
  pthread_mutex_unlock (&s->lock);
  return NULL;
}

/* queues j and waits until the scheduler's thread has run it */
static int
submit (lmw_scheduler *s, job *j, lmw_error *err)
{
  lmw_state *sl = j->slot;
  if (sl->abort_cb != NULL && sl->abort_cb (sl->abort_user_data)) {
    lmw_set_error (err, LMW_ERR_ARG, "cancelled");
    return -1;
  }
  sl->ops->sync (sl->be); /* the slot's own copies (beam forks) land before the batch reads */
  j->next = NULL;
  j->done = false;
  j->rc = 0;
  pthread_mutex_lock (&s->lock);
  if (s->tail != NULL)
    s->tail->next = j;
  else {
    s->head = j;
    s->first_at = now_ms ();
  }
  s->tail = j;
  s->n_queued++;
  pthread_cond_signal (&s->work_cv);
  while (!j->done)
    pthread_cond_wait (&s->done_cv, &s->lock);
  pthread_mutex_unlock (&s->lock);
  if (j->rc != 0 && err != NULL)
    *err = j->err;
  return j->rc;
}

int
lmw_scheduler_encode (lmw_scheduler *s, lmw_state *slot, lmw_error *err)
{
  job j = { .kind = JOB_ENCODE, .slot = slot };
  return submit (s, &j, err);
}

int
lmw_scheduler_decode (lmw_scheduler *s, lmw_state *slot, const int *tokens, int n, int n_past,
                      float *const *cache_k, float *const *cache_v, float *logits,
                      bool all_logits, lmw_error *err)
{
  if (cache_k != NULL) /* n beams of one token each */
    return lmw_scheduler_decode_beams (s, slot, tokens, n, n_past, cache_k, cache_v, logits,
                                       NULL, NULL, err);
  job j = { .kind = JOB_STEP, .slot = slot };
  lmw_step_seq base = {
    .cross_k = slot->cross_k, .cross_v = slot->cross_v,
    .cross_kh = slot->cross_kh, .cross_vh = slot->cross_vh, .cross_q8 = slot->cross_q8,
  };
  if (cache_k == NULL && slot->xattn_cb != NULL) {
    j.kind = JOB_ALONE;
    j.tokens = tokens;
    j.n = n;
    j.n_past = n_past;
    j.logits = logits;
    j.all_logits = all_logits;
  } else {
    lmw_step_seq *q = &j.seqs[0];
    *q = base;
    q->tokens = tokens;
    q->n = n;
    q->n_past = n_past;
    q->self_k = slot->self_k;
    q->self_v = slot->self_v;
    q->logits_rows = logits == NULL ? 0 : all_logits ? n : 1;
    q->logits = logits;
    j.n_seqs = 1;
    j.rows = n;
  }
  return submit (s, &j, err);
}

int
lmw_scheduler_decode_prompt (lmw_scheduler *s, lmw_state *slot, const int *tokens, int n,
                             int n_past, float *logits, const lmw_pick *pick,
                             lmw_pick_result *picked, lmw_error *err)
{
  job j = { .kind = JOB_STEP, .slot = slot, .n_seqs = 1, .rows = n };
  j.seqs[0] = (lmw_step_seq) {
    .tokens = tokens, .n = n, .n_past = n_past, .self_k = slot->self_k, .self_v = slot->self_v,
    .cross_k = slot->cross_k, .cross_v = slot->cross_v, .cross_kh = slot->cross_kh,
    .cross_vh = slot->cross_vh, .cross_q8 = slot->cross_q8, .logits_rows = n, .logits = logits,
    .pick = pick,
    .picked = picked,
  };
  return submit (s, &j, err);
}

int
lmw_scheduler_decode_beams (lmw_scheduler *s, lmw_state *slot, const int *tokens, int B,
                            int n_past, float *const *cache_k, float *const *cache_v,
                            float *logits, const lmw_pick *picks, lmw_pick_result *picked,
                            lmw_error *err)
{
  job j = { .kind = JOB_STEP, .slot = slot, .n_seqs = B, .rows = B };
  int nv = slot->model->hp.n_vocab;
  for (int b = 0; b < B; b++) { /* B beams of one token each, at n_past */
    const lmw_pick *k = picks != NULL ? &picks[b] : NULL;
    j.seqs[b] = (lmw_step_seq) {
      .tokens = tokens + b, .n = 1, .n_past = n_past, .self_k = cache_k[b],
      .self_v = cache_v[b], .cross_k = slot->cross_k, .cross_v = slot->cross_v,
      .cross_kh = slot->cross_kh, .cross_vh = slot->cross_vh, .cross_q8 = slot->cross_q8,
      .logits_rows = 1, .logits = logits + (size_t) b * nv, .pick = k,
      .picked = k != NULL ? picked + (size_t) b * (k->k > 1 ? k->k : 1) : NULL,
    };
  }
  return submit (s, &j, err);
}

int
lmw_scheduler_decode_pick (lmw_scheduler *s, lmw_state *slot, const int *token, int n_past,
                           float *logits, const lmw_pick *pick, lmw_pick_result *picked,
                           lmw_error *err)
{
  job j = { .kind = JOB_STEP, .slot = slot, .n_seqs = 1, .rows = 1 };
  j.seqs[0] = (lmw_step_seq) {
    .tokens = token, .n = 1, .n_past = n_past, .self_k = slot->self_k, .self_v = slot->self_v,
    .cross_k = slot->cross_k, .cross_v = slot->cross_v, .cross_kh = slot->cross_kh,
    .cross_vh = slot->cross_vh, .cross_q8 = slot->cross_q8, .logits_rows = 1, .logits = logits,
    .pick = pick, .picked = picked,
  };
  return submit (s, &j, err);
}

/* ---- slots ------------------------------------------------------------------------------ */

lmw_state *
lmw_scheduler_acquire (lmw_scheduler *s, int n_beams, lmw_abort_fn abort, void *abort_user_data,
                       double *waited_ms, lmw_error *err)
{
  if (n_beams < 1)
    n_beams = 1;
  if (n_beams > 1 && n_beams > s->p.beam_caches) {
    lmw_set_error (err, LMW_ERR_ARG, "a beam of %d needs %d beam caches; the scheduler has %d",
                   n_beams, n_beams, s->p.beam_caches);
    return NULL;
  }
  int need_beams = n_beams > 1 ? n_beams : 0;
  double t0 = now_ms ();
  waiter w = { NULL, n_beams };
  pthread_mutex_lock (&s->lock);
  waiter **tail = &s->waiters;
  while (*tail != NULL)
    tail = &(*tail)->next;
  *tail = &w;
  s->stats.waiting++;
  for (;;) {
    if (s->waiters == &w && s->in_use < s->p.slots &&
        s->beams_in_use + need_beams <= s->p.beam_caches)
      break;
    if (abort != NULL && abort (abort_user_data)) {
      for (waiter **pp = &s->waiters; *pp != NULL; pp = &(*pp)->next)
        if (*pp == &w) {
          *pp = w.next;
          break;
        }
      s->stats.waiting--;
      pthread_cond_broadcast (&s->slot_cv);
      pthread_mutex_unlock (&s->lock);
      lmw_set_error (err, LMW_ERR_ARG, "cancelled");
      return NULL;
    }
    struct timespec ts = abs_time (20.0);
    pthread_cond_timedwait (&s->slot_cv, &s->lock, &ts);
  }
  s->waiters = w.next;
  s->stats.waiting--;
  int i = 0;
  while (s->slot_busy[i])
    i++;
  s->slot_busy[i] = true;
  s->in_use++;
  lmw_state *sl = s->slots[i];
  sl->beam_pool_n = 0;
  for (int c = 0; c < s->p.beam_caches && sl->beam_pool_n < need_beams; c++)
    if (!s->beam_busy[c]) {
      s->beam_busy[c] = true;
      sl->beam_pool_k[sl->beam_pool_n] = s->beam_k[c];
      sl->beam_pool_v[sl->beam_pool_n] = s->beam_v[c];
      sl->beam_pool_n++;
    }
  s->beams_in_use += need_beams;
  double waited = now_ms () - t0;
  s->stats.acquired++;
  s->stats.wait_ms_total += waited;
  if (waited > s->stats.wait_ms_max)
    s->stats.wait_ms_max = waited;
  pthread_cond_broadcast (&s->slot_cv); /* the next waiter may fit too */
  pthread_mutex_unlock (&s->lock);
  sl->abort_cb = abort;
  sl->abort_user_data = abort_user_data;
  sl->have_audio = false;
  sl->n_cached = 0;
  memset (sl->batches, 0, sizeof sl->batches);
  if (waited_ms != NULL)
    *waited_ms = waited;
  return sl;
}

void
lmw_scheduler_release (lmw_scheduler *s, lmw_state *sl)
{
  if (sl == NULL)
    return;
  sl->ops->sync (sl->be);
  pthread_mutex_lock (&s->lock);
  for (int p = 0; p < sl->beam_pool_n; p++)
    for (int c = 0; c < s->p.beam_caches; c++)
      if (s->beam_k[c] == sl->beam_pool_k[p])
        s->beam_busy[c] = false;
  s->beams_in_use -= sl->beam_pool_n;
  sl->beam_pool_n = 0;
  sl->abort_cb = NULL;
  sl->abort_user_data = NULL;
  sl->xattn_cb = NULL;
  s->slot_busy[sl->slot] = false;
  s->in_use--;
  pthread_cond_broadcast (&s->slot_cv);
  pthread_cond_signal (&s->work_cv); /* fewer slots to wait for */
  pthread_mutex_unlock (&s->lock);
}

void
lmw_scheduler_get_stats (lmw_scheduler *s, lmw_scheduler_stats *stats)
{
  pthread_mutex_lock (&s->lock);
  *stats = s->stats;
  stats->slots = s->p.slots;
  stats->slots_in_use = s->in_use;
  stats->beam_caches = s->p.beam_caches;
  stats->beam_caches_in_use = s->beams_in_use;
  stats->memory_bytes = s->budget;
  pthread_mutex_unlock (&s->lock);
}

/* ---- life cycle ------------------------------------------------------------------------- */

lmw_scheduler *
lmw_scheduler_new (const lmw_model *model, const char *backend, int device,
                   const lmw_scheduler_params *params, lmw_error *err)
{
  lmw_scheduler_params p = params != NULL ? *params : lmw_scheduler_default_params ();
  if (model == NULL || p.slots < 1 || p.slots > 1024 || p.beam_caches < 0 ||
      p.beam_caches > 4096 || p.encoder_batch < 1 || p.encoder_batch > 64 || p.max_rows < 1 ||
      p.max_rows > 65536 || !(p.max_wait_ms >= 0.0 && p.max_wait_ms <= 1000.0)) {
    lmw_set_error (err, LMW_ERR_ARG, "scheduler: slots must be 1..1024, beam_caches 0..4096, "
                   "encoder_batch 1..64, max_rows 1..65536 and max_wait_ms 0..1000");
    return NULL;
  }
  lmw_scheduler *s = calloc (1, sizeof *s);
  if (s == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return NULL;
  }
  s->model = model;
  s->p = p;
  s->budget = lmw_scheduler_budget_bytes (model, &p);
  pthread_mutex_init (&s->lock, NULL);
  pthread_cond_init (&s->work_cv, NULL);
  pthread_cond_init (&s->done_cv, NULL);
  pthread_cond_init (&s->slot_cv, NULL);
  s->slots = calloc ((size_t) p.slots, sizeof *s->slots);
  s->slot_busy = calloc ((size_t) p.slots, sizeof *s->slot_busy);
  s->beam_k = calloc ((size_t) p.beam_caches + 1, sizeof *s->beam_k);
  s->beam_v = calloc ((size_t) p.beam_caches + 1, sizeof *s->beam_v);
  s->beam_busy = calloc ((size_t) p.beam_caches + 1, sizeof *s->beam_busy);
  if (!s->slots || !s->slot_busy || !s->beam_k || !s->beam_v || !s->beam_busy) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    lmw_scheduler_free (s);
    return NULL;
  }
  lmw_error e = { 0 };
  s->work = lmw_state_new_sized (model, p.n_threads, backend, device, p.encoder_batch,
                                 step_rows (model, &p), true, &e);
  if (s->work == NULL)
    goto fail;
  s->work->step_table_on = true; /* where the backend has the step_* operations */
  s->work->step_graphs_on = p.cuda_graphs;
  /* the logits of a whole step, so that no step allocates */
  if (!s->work->host_memory &&
      lmw_state_output_buffer (s->work, NULL, (size_t) s->work->step_rows * model->hp.n_vocab) == NULL) {
    lmw_set_error (&e, LMW_ERR_NOMEM, "out of device memory for a step's logits");
    goto fail;
  }
  if (p.cross_kv_q8 && lmw_state_set_cross_q8 (s->work, &e) != 0)
    goto fail;
  for (int i = 0; i < p.slots; i++) {
    s->slots[i] = lmw_state_new_sized (model, p.n_threads, backend, device, 1, 0, false, &e);
    if (s->slots[i] == NULL || (p.cross_kv_q8 && lmw_state_set_cross_q8 (s->slots[i], &e) != 0))
      goto fail;
    s->slots[i]->sched = s;
    s->slots[i]->slot = i;
  }
  size_t per = (size_t) model->hp.n_text_layer * model->hp.n_text_ctx * model->hp.n_text_state;
  for (int c = 0; c < p.beam_caches; c++) {
    s->beam_k[c] = lmw_state_alloc_floats (s->work, per);
    s->beam_v[c] = lmw_state_alloc_floats (s->work, per);
    if (s->beam_k[c] == NULL || s->beam_v[c] == NULL) {
      lmw_set_error (&e, LMW_ERR_NOMEM, "out of %s memory for beam cache %d",
                     s->work->host_memory ? "host" : "device", c);
      goto fail;
    }
  }
  if (pthread_create (&s->thread, NULL, scheduler_thread, s) != 0) {
    lmw_set_error (&e, LMW_ERR_NOMEM, "cannot start the scheduler's thread");
    goto fail;
  }
  s->thread_started = true;
  return s;
fail:
  lmw_set_error (err, e.code ? e.code : LMW_ERR_NOMEM,
                 "scheduler of %d slots (%.1f MB of device memory besides the weights): %s",
                 p.slots, (double) s->budget / 1048576.0, e.message);
  lmw_scheduler_free (s);
  return NULL;
}

void
lmw_scheduler_free (lmw_scheduler *s)
{
  if (s == NULL)
    return;
  if (s->thread_started) {
    pthread_mutex_lock (&s->lock);
    s->stop = true;
    pthread_cond_broadcast (&s->work_cv);
    pthread_mutex_unlock (&s->lock);
    pthread_join (s->thread, NULL);
  }
  if (s->slots != NULL)
    for (int i = 0; i < s->p.slots; i++)
      lmw_state_free (s->slots[i]);
  if (s->work != NULL && s->beam_k != NULL)
    for (int c = 0; c < s->p.beam_caches; c++) {
      lmw_state_free_floats (s->work, s->beam_k[c]);
      lmw_state_free_floats (s->work, s->beam_v[c]);
    }
  lmw_state_free (s->work);
  free (s->slots);
  free (s->slot_busy);
  free (s->beam_k);
  free (s->beam_v);
  free (s->beam_busy);
  pthread_mutex_destroy (&s->lock);
  pthread_cond_destroy (&s->work_cv);
  pthread_cond_destroy (&s->done_cv);
  pthread_cond_destroy (&s->slot_cv);
  free (s);
}
