/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-beam.c — the batched decoder step of beam search on one fixture model
 * (argv[1]: tiny-en-random or tiny-v3-random) and the fixture speech.
 *
 * Asserts (TAP):
 *   - lmw_decode_batch of B = 1 .. 5 rows, each with its own history (different tokens in its
 *     own self-attention cache) and its own new token, gives for every row the logits of
 *     lmw_decode run on that row alone, within 1e-5 of the largest logit, and writes the same
 *     K/V into each row's cache at the new position; the rows it is not given are untouched;
 *   - beam search with 5 beams (with and without timestamps) gives the same tokens, log-probs,
 *     decoder token count and cache copies whether the beams of a step run batched (the
 *     default) or one at a time through lmw_decode (lmw_search.beam_sequential, the way beam
 *     search decoded before the batched step existed);
 *   - bad arguments (no rows, too many rows, a token out of range, two rows sharing a cache,
 *     a position past the context, no audio encoded) fail with LMW_ERR_ARG;
 *   - min_tokens: with end-of-text made the most likely first token (its logit raised after
 *     the prompt, blank suppression off), a free greedy decoding writes nothing; min_tokens N
 *     with max_tokens N writes exactly N tokens, and 1 makes the first token another one.
 * The models have random weights: the text is meaningless, the arithmetic is what is checked.
 */
#include "lmw-context.h"
#include "lmw-model.h"
#include "lmw-search.h"
#include "lmw-test.h"

#define N_ROWS 5

static lmw_model *model;
static float *pcm;
static size_t n_samples;

/* a state with the fixture speech encoded, or NULL */
static lmw_state *
encoded_state (void)
{
  lmw_error err = { 0 };
  lmw_state *st = lmw_state_new (model, 2, &err);
  float *mel = NULL;
  int n_frames = 0;
  if (st == NULL || lmw_mel_compute (model, pcm, n_samples, 2, &mel, &n_frames, &err) != 0 ||
      lmw_encode (st, mel, n_frames, 0, &err) != 0) {
    TEST_DIAG ("encoding failed: %s", err.message);
    lmw_state_free (st);
    st = NULL;
  }
  free (mel);
  return st;
}

/* <|startoftranscript|> [<|en|> <|transcribe|>] [<|notimestamps|>] into tok; returns the count */
static int
prompt_tokens (int *tok, bool timestamps)
{
  const lmw_special_tokens *sp = &model->sp;
  int n = 0;
  tok[n++] = sp->sot;
  if (sp->multilingual) {
    tok[n++] = lmw_language_token (model, "en");
    tok[n++] = sp->transcribe;
  }
  if (!timestamps)
    tok[n++] = sp->notimestamps;
  return n;
}

static void
test_batch_logits (void)
{
  const lmw_hparams *hp = &model->hp;
  int nv = hp->n_vocab, C = hp->n_text_state, Tt = hp->n_text_ctx;
  size_t per = (size_t) hp->n_text_layer * Tt * C;
  lmw_state *st = encoded_state ();
  if (st == NULL) {
    TEST_OK (false, "fixture speech encoded");
    return;
  }
  float *own_k = st->self_k, *own_v = st->self_v;
  float *ck[N_ROWS], *cv[N_ROWS], *rk[N_ROWS], *rv[N_ROWS];
  int hist[N_ROWS][16], next[N_ROWS];
  int np = prompt_tokens (hist[0], false), n_past = np + 6;
  lmw_error err = { 0 };
  float *logits = malloc (sizeof (float) * (size_t) N_ROWS * nv);
  float *want = malloc (sizeof (float) * (size_t) N_ROWS * nv);
  bool alloc = logits && want;
  for (int b = 0; b < N_ROWS; b++) {
    ck[b] = calloc (per, sizeof (float));
    cv[b] = calloc (per, sizeof (float));
    rk[b] = calloc (per, sizeof (float));
    rv[b] = calloc (per, sizeof (float));
    alloc &= ck[b] && cv[b] && rk[b] && rv[b];
  }
  TEST_OK (alloc, "buffers for %d rows", N_ROWS);
  if (!alloc)
    goto out;
  /* row b: the prompt, then 6 text tokens of its own; its cache holds them all */
  bool filled = true;
  for (int b = 0; b < N_ROWS; b++) {
    prompt_tokens (hist[b], false);
    for (int i = 0; i < 6; i++)
      hist[b][np + i] = (311 + 977 * b + 131 * i) % model->sp.eot;
    st->self_k = ck[b];
    st->self_v = cv[b];
    st->n_cached = 0;
    filled &= lmw_decode (st, hist[b], n_past, 0, NULL, false, &err) == 0;
  }
  st->self_k = own_k;
  st->self_v = own_v;
  st->n_cached = 0;
  TEST_OK (filled, "%d rows' caches filled with different histories of %d tokens (%s)", N_ROWS,
           n_past, filled ? "ok" : err.message);
  if (!filled)
    goto out;
  for (int b = 0; b < N_ROWS; b++)
    next[b] = (4000 + 1543 * b) % model->sp.eot;
  double worst_all = 0.0, worst_kv = 0.0;
  for (int B = 1; B <= N_ROWS; B++) {
    /* reference: each row alone through lmw_decode on a copy of its cache */
    bool ok = true;
    for (int b = 0; b < B; b++) {
      memcpy (rk[b], ck[b], sizeof (float) * per);
      memcpy (rv[b], cv[b], sizeof (float) * per);
      st->self_k = rk[b];
      st->self_v = rv[b];
      st->n_cached = n_past;
      ok &= lmw_decode (st, &next[b], 1, n_past, want + (size_t) b * nv, false, &err) == 0;
    }
    st->self_k = own_k;
    st->self_v = own_v;
    st->n_cached = 0;
    /* the row after the last one given must stay as it is */
    float sentinel = B < N_ROWS ? ck[B][(size_t) n_past * C] : 0.0f;
    ok &= lmw_decode_batch (st, next, B, n_past, ck, cv, logits, &err) == 0;
    double worst = 0.0, kv = 0.0;
    for (int b = 0; ok && b < B; b++) {
      err_stats e = compare (logits + (size_t) b * nv, want + (size_t) b * nv, (size_t) nv);
      worst = e.rel > worst ? e.rel : worst;
      for (int l = 0; l < hp->n_text_layer; l++) {
        size_t off = (size_t) l * Tt * C + (size_t) n_past * C;
        err_stats ek = compare (ck[b] + off, rk[b] + off, (size_t) C);
        err_stats ev = compare (cv[b] + off, rv[b] + off, (size_t) C);
        kv = ek.rel > kv ? ek.rel : kv;
        kv = ev.rel > kv ? ev.rel : kv;
      }
    }
    bool untouched = B == N_ROWS || ck[B][(size_t) n_past * C] == sentinel;
    TEST_OK (ok && worst <= 1e-5 && kv <= 1e-5 && untouched,
             "B = %d: batched logits of every row = lmw_decode of the row alone, max rel err %.3g; "
             "new K/V rows max rel err %.3g%s", B, worst, kv, untouched ? "" : "; row B changed");
    worst_all = worst > worst_all ? worst : worst_all;
    worst_kv = kv > worst_kv ? kv : worst_kv;
  }
  TEST_DIAG ("B = 1 .. %d: max rel err of the logits %.3g, of the new K/V %.3g", N_ROWS, worst_all,
             worst_kv);

  /* bad arguments fail cleanly */
  int bad_tok[N_ROWS] = { 1, 2, 3, 4, 5 };
  float *shared_k[2] = { ck[0], ck[0] }, *shared_v[2] = { cv[0], cv[1] };
  lmw_error e1 = { 0 }, e2 = { 0 }, e3 = { 0 }, e4 = { 0 }, e5 = { 0 };
  bool r1 = lmw_decode_batch (st, bad_tok, 0, n_past, ck, cv, logits, &e1) != 0;
  bool r2 = lmw_decode_batch (st, bad_tok, LMW_MAX_BEAM + 1, n_past, ck, cv, logits, &e2) != 0;
  bad_tok[2] = nv;
  bool r3 = lmw_decode_batch (st, bad_tok, 3, n_past, ck, cv, logits, &e3) != 0;
  bad_tok[2] = 3;
  bool r4 = lmw_decode_batch (st, bad_tok, 2, n_past, shared_k, shared_v, logits, &e4) != 0;
  bool r5 = lmw_decode_batch (st, bad_tok, 2, Tt, ck, cv, logits, &e5) != 0;
  TEST_OK (r1 && r2 && r3 && r4 && r5 && e1.code == LMW_ERR_ARG && e2.code == LMW_ERR_ARG &&
           e3.code == LMW_ERR_ARG && e4.code == LMW_ERR_ARG && e5.code == LMW_ERR_ARG,
           "no rows, %d rows, a token out of range, a shared cache, position %d: LMW_ERR_ARG (%s)",
           LMW_MAX_BEAM + 1, Tt, e4.message);
out:
  st->self_k = own_k;
  st->self_v = own_v;
  for (int b = 0; b < N_ROWS; b++) {
    free (ck[b]);
    free (cv[b]);
    free (rk[b]);
    free (rv[b]);
  }
  free (logits);
  free (want);
  lmw_state_free (st);
}

static void
test_no_audio (void)
{
  lmw_error err = { 0 };
  lmw_state *st = lmw_state_new (model, 1, &err);
  int tok = 1;
  float *logits = malloc (sizeof (float) * (size_t) model->hp.n_vocab);
  float *k[1] = { st ? st->self_k : NULL }, *v[1] = { st ? st->self_v : NULL };
  bool failed = st && logits && lmw_decode_batch (st, &tok, 1, 0, k, v, logits, &err) != 0;
  TEST_OK (failed && err.code == LMW_ERR_ARG, "lmw_decode_batch before any audio: LMW_ERR_ARG (%s)",
           err.message);
  free (logits);
  lmw_state_free (st);
}

/* beam search of the fixture speech after the prompt, by hand, batched or beam by beam */
static int
beam_by_hand (const lmw_params *p, bool sequential, lmw_seq *out, lmw_search *stats)
{
  lmw_error err = { 0 };
  lmw_state *st = encoded_state ();
  lmw_search s;
  int tok[8], np = prompt_tokens (tok, p->timestamps), rc = -1;
  if (st == NULL || lmw_search_init (&s, st, p, &err) != 0) {
    lmw_state_free (st);
    return -1;
  }
  s.beam_sequential = sequential;
  if (lmw_decode (st, tok, np, 0, s.first_logits, false, &err) == 0) {
    s.n_prompt = np;
    rc = lmw_search_window (&s, 0.0f, out, &err);
  }
  if (rc != 0)
    TEST_DIAG ("beam search failed: %s", err.message);
  stats->n_decoded = s.n_decoded;
  stats->kv_copy_bytes = s.kv_copy_bytes;
  lmw_search_clear (&s);
  lmw_state_free (st);
  return rc;
}

static void
test_beam_same_tokens (bool timestamps)
{
  lmw_params p = lmw_default_params ();
  p.n_threads = 2;
  p.language = "en";
  p.beam_size = 5;
  p.max_tokens = 48;
  p.timestamps = timestamps;
  lmw_seq *a = lmw_seq_new (p.max_tokens + 1), *b = lmw_seq_new (p.max_tokens + 1);
  lmw_search sa, sb;
  bool ok = a && b && beam_by_hand (&p, true, a, &sa) == 0 && beam_by_hand (&p, false, b, &sb) == 0;
  bool same = ok && a->n == b->n && a->finished == b->finished &&
              memcmp (a->tokens, b->tokens, sizeof (int) * (size_t) a->n) == 0;
  double lp = 0.0;
  for (int i = 0; same && i < a->n; i++) {
    double d = fabs ((double) a->logprobs[i] - b->logprobs[i]);
    lp = d > lp ? d : lp;
  }
  if (ok)
    TEST_DIAG ("%s: %d tokens (first %d, last %d), sum log-prob %.5f one at a time, %.5f batched",
               timestamps ? "timestamps" : "no timestamps", b->n, b->n ? b->tokens[0] : -1,
               b->n ? b->tokens[b->n - 1] : -1, a->sum_logprob, b->sum_logprob);
  TEST_OK (same && lp <= 1e-4 && fabs (a->sum_logprob - b->sum_logprob) <= 1e-3,
           "beam 5%s: batched steps give the same %d tokens as beams decoded one at a time "
           "(log-probs within %.2g)", timestamps ? " with timestamps" : "", ok ? b->n : -1, lp);
  TEST_OK (ok && sa.n_decoded == sb.n_decoded && sa.kv_copy_bytes == sb.kv_copy_bytes &&
           sb.kv_copy_bytes > 0,
           "same decoder work: %d tokens decoded, %zu cache bytes copied at forks",
           ok ? sb.n_decoded : -1, ok ? sb.kv_copy_bytes : (size_t) 0);
  lmw_seq_free (a);
  lmw_seq_free (b);
}

/* greedy decoding by hand of the fixture speech, end-of-text raised to the top after the
 * prompt; returns the tokens written, -1 on failure */
static int
greedy_eot_first (int min_tokens, int max_tokens, lmw_seq *out)
{
  lmw_params p = lmw_default_params ();
  lmw_error err = { 0 };
  lmw_state *st = encoded_state ();
  lmw_search s;
  int tok[8], np, rc = -1;

  p.n_threads = 2;
  p.language = "en";
  p.suppress_blank = false;
  p.min_tokens = min_tokens;
  p.max_tokens = max_tokens;
  np = prompt_tokens (tok, false);
  if (st == NULL || lmw_search_init (&s, st, &p, &err) != 0) {
    lmw_state_free (st);
    return -1;
  }
  if (lmw_decode (st, tok, np, 0, s.first_logits, false, &err) == 0) {
    s.first_logits[model->sp.eot] = 1e4f;
    s.n_prompt = np;
    rc = lmw_search_window (&s, 0.0f, out, &err);
  }
  lmw_search_clear (&s);
  lmw_state_free (st);
  return rc == 0 ? out->n : -1;
}

static void
test_min_tokens (void)
{
  lmw_seq *q = lmw_seq_new (64);
  int n;

  n = greedy_eot_first (0, 24, q);
  TEST_OK (n == 0 && q->finished, "end-of-text first: nothing written (%d tokens)", n);
  n = greedy_eot_first (24, 24, q);
  TEST_OK (n == 24 && !q->finished, "min_tokens = max_tokens = 24: %d tokens", n);
  n = greedy_eot_first (1, 24, q);
  TEST_OK (n >= 1 && q->tokens[0] != model->sp.eot, "min_tokens 1: the first token is text (%d tokens)", n);
  lmw_seq_free (q);
}

int
main (int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "tiny-en-random";
  const char *dir = fixture_dir (name);
  char path[4300];
  lmw_error err = { 0 };
  snprintf (path, sizeof path, "%s/model.ggml.bin", dir);
  model = lmw_model_load_file (path, &err);
  TEST_OK (model != NULL, "fixture %s loads (%s)", name, model ? "ok" : err.message);
  snprintf (path, sizeof path, "%s/../../audio/speech-sample.wav", dir);
  TEST_OK (model && lmw_wav_read (path, &pcm, &n_samples, &err) == 0, "speech-sample.wav read");
  if (model == NULL || pcm == NULL) {
    lmw_model_free (model);
    return test_done ();
  }
  test_batch_logits ();
  test_no_audio ();
  test_beam_same_tokens (false);
  test_beam_same_tokens (true);
  test_min_tokens ();
  lmw_model_free (model);
  free (pcm);
  return test_done ();
}
