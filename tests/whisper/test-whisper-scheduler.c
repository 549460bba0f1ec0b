/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-scheduler.c — the batching scheduler (lmw-scheduler.h) on a compute backend
 * (argv[1]: fixture, argv[2]: backend, "cuda-emu" or "cpu"), against each request run alone
 * on a stream of its own.  Skipped when the backend can't run here.
 *
 * Asserts (TAP):
 *   - 32 requests of different lengths (1 to 29 s of the sample, and two of 31 and 40 s: two
 *     windows), greedy,
 *     eight with beam search (2 to 5 beams) and a few with word timestamps, started at once on a
 *     scheduler of 32 slots: every one gives exactly the tokens (and word times) it gives
 *     alone; the encoder ran batches of several windows and the decoder steps of many rows
 *     (sequences of different requests and positions in one step); on a backend with the
 *     table-driven step (cuda-emu) its one-token steps ran from the row table, recorded once
 *     per row count and replayed afterwards, and greedy rows had their next token picked on
 *     the backend with the search's filters instead of returning logits, and beams their
 *     beam_size + 1 candidates, and windows their first token and no-speech probability,
 *     and the beams of a request were served by one read of its cross K/V (on cpu: none of
 *     these); every window's no-speech probability is the one it has alone within 1e-6; four
 *     of them fall back to sampling (whose first logits come back);
 *   - a request cancelled after a few decoder steps ends with "cancelled", its slot comes back,
 *     and the others (still batched with it until then) give their tokens alone;
 *   - with both slots of a scheduler held, a request whose time runs out while it waits for
 *     a slot ends with "cancelled" without taking one;
 *   - 2 slots and 6 requests at once, cuda_graphs off: they wait for a slot (FIFO), every one
 *     succeeds with its tokens alone, and every slot comes back; the row-table steps ran
 *     directly, none recorded;
 *   - a beam wider than the beam caches is refused with a clear message;
 *   - with int8 cross K/V (cross_kv_q8): 4 concurrent requests, 2 of them beam searches, give
 *     the tokens each gives alone on a stream with int8 K/V, their steps replayed from the row
 *     table with beams on one read; on cpu such a scheduler is refused with a clear message.
 */
#include "lmw-backend.h"
#include "lmw-context.h"
#include "lmw-scheduler.h"
#include "lmw-state.h"
#include "lmw-test.h"

#include <math.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define N_REQ 32
#define MAX_TOK 1024

static lmw_model *model;
static const char *backend;
static float *pcm;
static size_t pcm_n;

typedef struct {
  /* input */
  size_t n_samples;
  int beam;
  bool words;
  bool fallback;    /* temperature fallback on (0.5 and 1.0, best of 2) */
  int abort_after;  /* > 0: abort from the abort_after-th check on */
  /* output */
  int tokens[MAX_TOK];
  int n_tokens;
  int64_t word_times[2 * MAX_TOK];
  int n_words;
  float no_speech[MAX_TOK]; /* of each segment's window */
  int fallbacks;            /* windows decoded again at a temperature */
  int n_segments;
  int rc;
  char message[256];
  double waited_ms;
  int checks;
} request;

static lmw_scheduler *sched;
static pthread_barrier_t start;

static float *
audio_of (size_t n)
{
  float *a = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    a[i] = pcm[i % pcm_n];
  return a;
}

static lmw_params
params_of (const request *r)
{
  lmw_params p = lmw_default_params ();
  p.n_threads = 1;
  p.language = "en";
  p.max_tokens = 8;
  p.temperature_inc = r->fallback ? 0.5f : 0.0f;
  p.best_of = 2;
  p.beam_size = r->beam;
  p.word_timestamps = r->words;
  p.timestamps = true;
  return p;
}

static void
collect (request *r, const lmw_result *res)
{
  r->n_tokens = 0;
  r->n_words = 0;
  r->n_segments = 0;
  r->fallbacks = res->n_fallbacks;
  for (int i = 0; i < res->n_segments; i++) {
    if (r->n_segments < MAX_TOK)
      r->no_speech[r->n_segments++] = res->segments[i].no_speech_prob;
    for (int j = 0; j < res->segments[i].n_tokens && r->n_tokens < MAX_TOK; j++)
      r->tokens[r->n_tokens++] = res->segments[i].tokens[j];
    for (int j = 0; j < res->segments[i].n_words && r->n_words < MAX_TOK; j++) {
      r->word_times[2 * r->n_words] = res->segments[i].words[j].t0_ms;
      r->word_times[2 * r->n_words + 1] = res->segments[i].words[j].t1_ms;
      r->n_words++;
    }
  }
}

/* r alone, on a stream of its own (with int8 cross K/V: q8) */
static int
run_alone_kv (request *r, bool q8)
{
  lmw_params p = params_of (r);
  lmw_error err = { 0 };
  lmw_state *st = lmw_state_new_backend (model, 1, backend, 0, &err);
  if (st != NULL && q8 && lmw_state_set_cross_q8 (st, &err) != 0) {
    lmw_state_free (st);
    st = NULL;
  }
  float *a = audio_of (r->n_samples);
  lmw_result res;
  int rc = st ? lmw_transcribe (st, &p, a, r->n_samples, &res, &err) : -1;
  if (rc == 0) {
    collect (r, &res);
    lmw_result_clear (&res);
  } else
    TEST_DIAG ("alone: %s", err.message);
  lmw_state_free (st);
  free (a);
  return rc;
}

static int
run_alone (request *r)
{
  return run_alone_kv (r, false);
}

static int
abort_cb (void *data)
{
  request *r = data;
  r->checks++;
  return r->abort_after > 0 && r->checks >= r->abort_after;
}

static void *
run_batched (void *data)
{
  request *r = data;
  lmw_params p = params_of (r);
  lmw_error err = { 0 };
  float *a = audio_of (r->n_samples);
  pthread_barrier_wait (&start);
  lmw_state *st = lmw_scheduler_acquire (sched, r->beam, abort_cb, r, &r->waited_ms, &err);
  lmw_result res;
  r->rc = st ? lmw_transcribe (st, &p, a, r->n_samples, &res, &err) : -1;
  if (r->rc == 0) {
    collect (r, &res);
    lmw_result_clear (&res);
  }
  snprintf (r->message, sizeof r->message, "%s", r->rc == 0 ? "" : err.message);
  lmw_scheduler_release (sched, st);
  free (a);
  return NULL;
}

/* runs reqs[0 .. n) at once on the scheduler */
static void
run_all (request *reqs, int n)
{
  pthread_t th[N_REQ];
  pthread_barrier_init (&start, NULL, (unsigned) n);
  for (int i = 0; i < n; i++)
    pthread_create (&th[i], NULL, run_batched, &reqs[i]);
  for (int i = 0; i < n; i++)
    pthread_join (th[i], NULL);
  pthread_barrier_destroy (&start);
}

static bool
same (const request *a, const request *b)
{
  return a->n_tokens == b->n_tokens &&
         memcmp (a->tokens, b->tokens, sizeof (int) * (size_t) a->n_tokens) == 0 &&
         a->n_words == b->n_words &&
         memcmp (a->word_times, b->word_times, sizeof (int64_t) * 2 * (size_t) a->n_words) == 0;
}

static void
test_many (void)
{
  static request alone[N_REQ], batched[N_REQ];
  lmw_scheduler_params sp = lmw_scheduler_default_params ();
  sp.slots = N_REQ;
  sp.beam_caches = 26; /* every beam search at once */
  sp.encoder_batch = 8;
  sp.max_wait_ms = 20.0; /* the emulated device is slow: wait for the others to catch up */
  lmw_error err = { 0 };
  sched = lmw_scheduler_new (model, backend, 0, &sp, &err);
  TEST_OK (sched != NULL, "a scheduler of %d slots on %s (%s)", N_REQ, backend,
           sched ? "" : err.message);
  if (sched == NULL)
    return;
  for (int i = 0; i < N_REQ; i++) {
    request *r = &alone[i];
    memset (r, 0, sizeof *r);
    r->n_samples = i == 30 ? 31 * 16000 : i == 31 ? 40 * 16000 : (size_t) (16000 + i * 14400);
    /* beam searches of 2 to 5 beams among them (requests 2, 3, 9, 14, 16, 23, 25, 30) */
    r->beam = i % 11 == 3 ? 3 : i % 7 == 2 ? 2 + (i / 7) % 4 : 1;
    r->words = i % 8 == 5;
    r->fallback = i % 8 == 6; /* 6, 14 (3 beams), 22, 30 (2 beams) */
    batched[i] = *r;
  }
  int alone_ok = 0;
  for (int i = 0; i < N_REQ; i++)
    alone_ok += run_alone (&alone[i]) == 0;
  TEST_OK (alone_ok == N_REQ, "every request alone transcribed (%d of %d)", alone_ok, N_REQ);
  run_all (batched, N_REQ);
  int ok = 0, first_bad = -1;
  for (int i = 0; i < N_REQ; i++) {
    if (batched[i].rc == 0 && same (&batched[i], &alone[i]))
      ok++;
    else if (first_bad < 0)
      first_bad = i;
  }
  TEST_OK (ok == N_REQ, "32 concurrent requests give the tokens and word times each gives alone "
           "(%d of %d%s)", ok, N_REQ, first_bad >= 0 ? ", see below" : "");
  double ns_worst = 0.0;
  int ns_bad = 0;
  for (int i = 0; i < N_REQ; i++) {
    ns_bad += batched[i].n_segments != alone[i].n_segments;
    for (int k = 0; k < batched[i].n_segments && k < alone[i].n_segments; k++) {
      double d = fabs ((double) batched[i].no_speech[k] - alone[i].no_speech[k]);
      ns_worst = d > ns_worst || isnan (d) ? d : ns_worst;
    }
  }
  TEST_OK (ns_bad == 0 && ns_worst <= 1e-6, "every window's no-speech probability is the one "
           "it has alone within 1e-6 (largest difference %.3g)", ns_worst);
  int fell_back = 0;
  for (int i = 0; i < N_REQ; i++)
    fell_back += batched[i].fallback && batched[i].fallbacks > 0 && same (&batched[i], &alone[i]);
  TEST_OK (fell_back >= 2, "requests that fell back to sampling (the first logits fetched "
           "again after the first choice was made on the backend) gave their tokens alone "
           "(%d of 4)", fell_back);
  if (first_bad >= 0)
    TEST_DIAG ("request %d (%zu samples, beam %d): rc %d %s, %d tokens batched, %d alone",
               first_bad, batched[first_bad].n_samples, batched[first_bad].beam,
               batched[first_bad].rc, batched[first_bad].message, batched[first_bad].n_tokens,
               alone[first_bad].n_tokens);
  lmw_scheduler_stats stats;
  lmw_scheduler_get_stats (sched, &stats);
  uint64_t big = 0, steps = 0;
  for (int b = 0; b < LMW_SCHED_ROW_BUCKETS; b++) {
    steps += stats.steps[b];
    if (b >= 3)
      big += stats.steps[b];
  }
  TEST_DIAG ("%llu steps, %llu rows; %llu encoder passes over %llu windows",
             (unsigned long long) steps, (unsigned long long) stats.step_rows,
             (unsigned long long) stats.encoder_batches, (unsigned long long) stats.encoder_windows);
  TEST_OK (big > 0, "decoder steps of more than 4 rows ran (%llu)", (unsigned long long) big);
  TEST_OK (stats.encoder_windows > stats.encoder_batches,
           "the encoder ran several windows per pass (%llu windows in %llu passes)",
           (unsigned long long) stats.encoder_windows, (unsigned long long) stats.encoder_batches);
  TEST_OK (stats.slots_in_use == 0 && stats.beam_caches_in_use == 0,
           "every slot and beam cache came back");
  bool tables = strcmp (backend, "cpu") != 0; /* the backend has the step_* operations */
  TEST_DIAG ("one-token steps from the row table: %llu direct, %llu recorded, %llu replayed",
             (unsigned long long) stats.table_steps[0], (unsigned long long) stats.table_steps[1],
             (unsigned long long) stats.table_steps[2]);
  if (tables)
    TEST_OK (stats.table_steps[1] >= 2 && stats.table_steps[2] > stats.table_steps[1],
             "one-token steps ran from the row table, recorded once per row count (%llu) and "
             "replayed after (%llu)", (unsigned long long) stats.table_steps[1],
             (unsigned long long) stats.table_steps[2]);
  else
    TEST_OK (stats.table_steps[0] + stats.table_steps[1] + stats.table_steps[2] == 0,
             "the cpu backend keeps the per-sequence step");
  if (tables)
    TEST_OK (stats.rows_picked > 0, "greedy rows got their next token picked on the backend, "
             "not their logits (%llu rows)", (unsigned long long) stats.rows_picked);
  else
    TEST_OK (stats.rows_picked == 0, "the cpu backend returns logits for the search to filter");
  if (tables)
    TEST_OK (stats.rows_topk > stats.prompts_picked && stats.prompts_picked > 0,
             "beams got their candidates and windows their first token and no-speech "
             "probability from the backend, not their logits (%llu rows, %llu windows)",
             (unsigned long long) stats.rows_topk, (unsigned long long) stats.prompts_picked);
  else
    TEST_OK (stats.rows_topk == 0 && stats.prompts_picked == 0,
             "the cpu backend returns the beams' and the prompts' logits");
  if (tables)
    TEST_OK (stats.rows_cross_shared > 0, "the beams of a request read its cross K/V once in "
             "a table step (%llu rows served by another row's read)",
             (unsigned long long) stats.rows_cross_shared);

  /* cancellation mid-batch: 4 requests, the third aborted after a few checks */
  request c[4];
  for (int i = 0; i < 4; i++) {
    c[i] = alone[10 + i];
    c[i].rc = 0;
    c[i].checks = 0;
    c[i].abort_after = i == 2 ? 6 : 0;
  }
  run_all (c, 4);
  TEST_OK (c[2].rc != 0 && strcmp (c[2].message, "cancelled") == 0,
           "the cancelled request ends with \"cancelled\" (%s)", c[2].message);
  int others = 0;
  for (int i = 0; i < 4; i++)
    if (i != 2)
      others += c[i].rc == 0 && same (&c[i], &alone[10 + i]);
  TEST_OK (others == 3, "the requests batched with it give their tokens alone (%d of 3)", others);
  lmw_scheduler_get_stats (sched, &stats);
  TEST_OK (stats.slots_in_use == 0 && stats.cancelled >= 1, "its slot came back (%d in use, %llu "
           "jobs cancelled)", stats.slots_in_use, (unsigned long long) stats.cancelled);

  lmw_state *st = lmw_scheduler_acquire (sched, sp.beam_caches + 1, NULL, NULL, NULL, &err);
  TEST_OK (st == NULL && strstr (err.message, "beam caches") != NULL,
           "a beam wider than the beam caches is refused (%s)", err.message);
  lmw_scheduler_free (sched);
  sched = NULL;

  /* slots full: both slots held here, a request whose time runs out while it waits; then 2
   * slots and 6 requests */
  sp.slots = 2;
  sp.max_wait_ms = 2.0;
  sp.cuda_graphs = false; /* and the row table without graphs */
  sched = lmw_scheduler_new (model, backend, 0, &sp, &err);
  TEST_OK (sched != NULL, "a scheduler of 2 slots");
  if (sched == NULL)
    return;
  lmw_state *held[2];
  for (int i = 0; i < 2; i++)
    held[i] = lmw_scheduler_acquire (sched, 1, NULL, NULL, NULL, &err);
  request q[7];
  q[6] = alone[0];
  q[6].rc = 0;
  q[6].checks = 0;
  q[6].abort_after = 3; /* gives up at its third look while waiting (20 ms apart) */
  run_all (q + 6, 1);
  lmw_scheduler_get_stats (sched, &stats);
  TEST_OK (q[6].rc != 0 && strcmp (q[6].message, "cancelled") == 0 && stats.acquired == 2 &&
           stats.waiting == 0, "a request that gives up waiting for a slot ends with "
           "\"cancelled\" without one (%s; %llu handed out, %d waiting)", q[6].message,
           (unsigned long long) stats.acquired, stats.waiting);
  for (int i = 0; i < 2; i++)
    lmw_scheduler_release (sched, held[i]);
  for (int i = 0; i < 6; i++) {
    q[i] = alone[i * 3];
    q[i].rc = 0;
    q[i].checks = 0;
    q[i].abort_after = 0;
  }
  run_all (q, 6);
  int fine = 0;
  double max_wait = 0;
  for (int i = 0; i < 6; i++) {
    fine += q[i].rc == 0 && same (&q[i], &alone[i * 3]);
    max_wait = q[i].waited_ms > max_wait ? q[i].waited_ms : max_wait;
  }
  TEST_OK (fine == 6, "6 requests on 2 slots all succeed with their tokens alone (%d of 6)", fine);
  TEST_OK (max_wait > 0.0, "some waited for a slot (longest %.1f ms)", max_wait);
  lmw_scheduler_get_stats (sched, &stats);
  TEST_OK (stats.acquired == 8 && stats.slots_in_use == 0 && stats.waiting == 0,
           "8 slots handed out (2 held, 6 requests), none left in use or waiting (%llu, %d, %d)",
           (unsigned long long) stats.acquired, stats.slots_in_use, stats.waiting);
  if (tables)
    TEST_OK (stats.table_steps[0] > 0 && stats.table_steps[1] == 0 && stats.table_steps[2] == 0,
             "with cuda_graphs off the row-table steps run directly (%llu), none recorded",
             (unsigned long long) stats.table_steps[0]);
  lmw_scheduler_free (sched);
  sched = NULL;
}

/* [whisper] cuda_cross_kv = int8: the slots keep int8 cross K/V (the row table's int8 path,
 * beams grouped on them); each request gives the tokens it gives alone on a stream with int8
 * K/V.  On a backend without int8 cross-attention the scheduler is refused. */
static void
test_int8 (void)
{
  lmw_scheduler_params sp = lmw_scheduler_default_params ();
  sp.slots = 4;
  sp.beam_caches = 6;
  sp.max_wait_ms = 20.0;
  sp.cross_kv_q8 = true;
  lmw_error err = { 0 };
  sched = lmw_scheduler_new (model, backend, 0, &sp, &err);
  if (strcmp (backend, "cpu") == 0) {
    TEST_OK (sched == NULL && strstr (err.message, "int8 cross-attention K/V need a backend") != NULL,
             "int8 cross K/V on cpu: the scheduler is refused (%s)", err.message);
    lmw_scheduler_free (sched);
    sched = NULL;
    return;
  }
  TEST_OK (sched != NULL, "a scheduler of 4 slots with int8 cross K/V (%s)", err.message);
  if (sched == NULL)
    return;
  request alone[4], batched[4];
  const size_t secs[4] = { 3, 9, 17, 31 };
  int alone_ok = 0;
  for (int i = 0; i < 4; i++) {
    memset (&alone[i], 0, sizeof alone[i]);
    alone[i].n_samples = secs[i] * 16000;
    alone[i].beam = i % 2 ? 3 : 1;
    alone[i].words = i == 2;
    batched[i] = alone[i];
    alone_ok += run_alone_kv (&alone[i], true) == 0;
  }
  run_all (batched, 4);
  int ok = 0;
  for (int i = 0; i < 4; i++)
    ok += alone_ok == 4 && batched[i].rc == 0 && same (&batched[i], &alone[i]);
  lmw_scheduler_stats stats;
  lmw_scheduler_get_stats (sched, &stats);
  TEST_OK (ok == 4, "int8 cross K/V: 4 concurrent requests (2 with 3 beams) give the tokens "
           "and word times each gives alone on int8 K/V (%d of 4)", ok);
  TEST_OK (stats.table_steps[2] > 0 && stats.rows_cross_shared > 0, "their one-token steps "
           "replayed from the row table (%llu) with beam rows on one read of int8 K/V (%llu)",
           (unsigned long long) stats.table_steps[2],
           (unsigned long long) stats.rows_cross_shared);
  lmw_scheduler_free (sched);
  sched = NULL;
}

int
main (int argc, char **argv)
{
  const char *fixture = argc > 1 ? argv[1] : "tiny-en-random";
  backend = argc > 2 ? argv[2] : "cuda-emu";
  const char *dir = fixture_dir (fixture);
  char path[4300];
  lmw_error err = { 0 };
  char why[300] = "";
  if (lmw_backend_find (backend, why, sizeof why) == NULL) {
    char msg[400];
    snprintf (msg, sizeof msg, "backend %s: %s", backend, why);
    test_skip_all (msg);
  }
  snprintf (path, sizeof path, "%s/model.ggml.bin", dir);
  model = lmw_model_load_file (path, &err);
  TEST_OK (model != NULL, "model %s loaded", fixture);
  snprintf (path, sizeof path, "%s/../../audio/speech-sample.wav", dir);
  TEST_OK (lmw_wav_read (path, &pcm, &pcm_n, &err) == 0, "speech-sample.wav read");
  if (model != NULL && pcm != NULL) {
    test_many ();
    test_int8 ();
  }
  free (pcm);
  lmw_model_free (model);
  return test_done ();
}
