/* SPDX-License-Identifier: MIT */
/*
 * lmw-search.c — decoding one window into tokens, with the standard logit filters:
 *   - suppress blank: at the first sampled position " " and <|endoftext|> are forbidden;
 *   - special tokens other than <|endoftext|> and the timestamps are never sampled;
 *   - suppress non-speech: the symbol tokens the reference suppresses ("-", "[", "(", ...);
 *   - timestamp rules (with timestamps): timestamps come in pairs, never decrease, the first
 *     is at most 1.00 s, and a timestamp is forced when their total probability exceeds that
 *     of every text token;
 *   - min_tokens (benchmarks): <|endoftext|> is forbidden before the min_tokens-th token
 *     while anything else is allowed.
 * Strategies:
 *   - greedy (temperature 0, beam_size <= 1): argmax;
 *   - sampling (temperature > 0): best_of candidates drawn from softmax (logits / T) with a
 *     seeded splitmix64 generator, decoded one after another from the shared prompt cache;
 *   - beam search (temperature 0, beam_size > 1): every live beam proposes its beam_size + 1
 *     best tokens; the beam_size best-scoring (sum log-prob) non-final candidates live on,
 *     candidates ending in <|endoftext|> are finished; it stops when beam_size are finished.
 *     Each beam owns a self-attention cache, and a beam forked twice from one parent gets a
 *     copy of the parent's rows (copy-on-fork: the first child takes the parent's buffer, no
 *     copy).  Every live beam's last token sits at the same position, so one step runs the
 *     decoder once for all of them (lmw_decode_batch: each weight matrix read once per step,
 *     each beam attending to its own cache); lmw_search.beam_sequential runs them one after
 *     another instead (the state pointed at each beam's cache), the reference it is tested
 *     against.
 * Candidates are ranked as the reference does: sum log-prob / number of tokens.
 * On a scheduler's slot the choices of temperature 0 are made where the logits are (greedy
 * picks, a beam's beam_size + 1 candidates, a window's first token: lmw-decode-pick.c,
 * lmw-decode-prompt.c) with the same filters, their f64 sums in the order of LMW_PICK_LANES,
 * which lmw_log_softmax and the timestamp rule here follow too; sampling stays here (its draw
 * walks a running sum in token order that a device could not reproduce bit for bit).
 */
#include "lmw-search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* token ids whose text is a non-speech symbol the reference suppresses */
static bool
is_non_speech (const lmw_model *m, int id)
{
  static const char *const symbols[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^",
    "_", "`", "{", "|", "}", "~", "「", "」", "『", "』", "<<", ">>", "<<<", ">>>", "--",
    "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]", "{{", "}}", "♪♪",
    "♪♪♪", "♩", "♪", "♫", "♬", "♭", "♮", "♯", "-", "'", NULL,
  };
  size_t len;
  const char *b = lmw_token_bytes (m, id, &len);
  if (b == NULL || len == 0)
    return false;
  const char *s = b;
  size_t l = len;
  if (s[0] == ' ') { /* " -" and " '" are allowed; others with a leading space are not */
    s++;
    l--;
    if (l == 1 && (s[0] == '-' || s[0] == '\''))
      return false;
  } else if (l == 1 && (s[0] == '-' || s[0] == '\'')) {
    return false;
  }
  for (int i = 0; symbols[i]; i++)
    if (strlen (symbols[i]) == l && memcmp (symbols[i], s, l) == 0)
      return true;
  return false;
}

/* the sum of exp ((double) (x[i] - sub)) over i in [lo, n), added in the order of
 * LMW_PICK_LANES (lmw-backend.h): the order of the backend's step_pick and step_topk, so that a
 * token chosen there has the bits of one chosen here */
static double
lane_sum_exp (const float *x, int lo, int n, float sub)
{
  double lane[LMW_PICK_LANES] = { 0.0 };
  for (int i = lo; i < n; i++)
    lane[i % LMW_PICK_LANES] += exp ((double) (x[i] - sub));
  for (int h = LMW_PICK_LANES / 2; h > 0; h /= 2)
    for (int l = 0; l < h; l++)
      lane[l] += lane[l + h];
  return lane[0];
}

void
lmw_log_softmax (float *out, const float *x, int n)
{
  float max = x[0];
  for (int i = 1; i < n; i++)
    max = x[i] > max ? x[i] : max;
  double sum = lane_sum_exp (x, 0, n, max);
  float lse = max + (float) log (sum);
  for (int i = 0; i < n; i++)
    out[i] = x[i] - lse;
}

static int
argmax (const float *x, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

static void apply_rules (lmw_search *s, float *logits, const int *generated, int n_gen);

/* applies the filters to logits of the token after `generated` (n_gen sampled tokens) */
static void
apply_filters (lmw_search *s, float *logits, const int *generated, int n_gen)
{
  apply_rules (s, logits, generated, n_gen);
  if (n_gen < s->p->min_tokens) {
    /* end-of-text waits for min_tokens, unless the rules left nothing else */
    int eot = s->m->sp.eot, nv = s->m->hp.n_vocab;
    for (int i = 0; i < nv; i++)
      if (i != eot && logits[i] != -INFINITY) {
        logits[eot] = -INFINITY;
        break;
      }
  }
}

/* suppressed tokens and the timestamp rules */
static void
apply_rules (lmw_search *s, float *logits, const int *generated, int n_gen)
{
  const lmw_model *m = s->m;
  const lmw_special_tokens *sp = &m->sp;
  int nv = m->hp.n_vocab;
  for (int i = sp->eot + 1; i < sp->timestamp_begin; i++)
    logits[i] = -INFINITY;
  if (!s->p->timestamps)
    for (int i = sp->timestamp_begin; i < nv; i++)
      logits[i] = -INFINITY;
  if (s->p->suppress_blank && n_gen == 0) {
    logits[sp->eot] = -INFINITY;
    logits[220] = -INFINITY; /* " " */
  }
  if (s->p->suppress_non_speech)
    for (int i = 0; i < sp->eot; i++)
      if (s->non_speech[i])
        logits[i] = -INFINITY;
  if (!s->p->timestamps)
    return;
  /* timestamp rules */
  bool last_ts = n_gen >= 1 && generated[n_gen - 1] >= sp->timestamp_begin;
  bool penult_ts = n_gen < 2 || generated[n_gen - 2] >= sp->timestamp_begin;
  if (last_ts) {
    if (penult_ts) /* a pair just closed: next is text */
      for (int i = sp->timestamp_begin; i < nv; i++)
        logits[i] = -INFINITY;
    else /* one timestamp open: next is a timestamp or eot */
      for (int i = 0; i < sp->eot; i++)
        logits[i] = -INFINITY;
  }
  int last_t = -1;
  for (int i = n_gen - 1; i >= 0; i--)
    if (generated[i] >= sp->timestamp_begin) {
      last_t = generated[i];
      break;
    }
  if (last_t >= 0) /* timestamps never decrease; a segment is never empty */
    for (int i = sp->timestamp_begin; i < last_t + (last_ts && !penult_ts ? 0 : 1) && i < nv; i++)
      logits[i] = -INFINITY;
  if (n_gen == 0) {
    for (int i = 0; i < sp->timestamp_begin; i++)
      logits[i] = -INFINITY;
    for (int i = sp->timestamp_begin + 50 + 1; i < nv; i++) /* first timestamp <= 1.00 s */
      logits[i] = -INFINITY;
  }
  lmw_log_softmax (s->logprobs, logits, nv);
  double ts_sum = lane_sum_exp (s->logprobs, sp->timestamp_begin, nv, 0.0f);
  float text_max = -INFINITY;
  for (int i = 0; i < sp->timestamp_begin; i++)
    text_max = s->logprobs[i] > text_max ? s->logprobs[i] : text_max;
  if (ts_sum > 0.0 && log (ts_sum) > text_max)
    for (int i = 0; i < sp->timestamp_begin; i++)
      logits[i] = -INFINITY;
}

/* ---- sequences --------------------------------------------------------------------------- */

lmw_seq *
lmw_seq_new (int cap)
{
  lmw_seq *q = calloc (1, sizeof *q);
  if (q == NULL)
    return NULL;
  q->tokens = malloc (sizeof (int) * (size_t) cap);
  q->logprobs = malloc (sizeof (float) * (size_t) cap);
  if (q->tokens == NULL || q->logprobs == NULL) {
    lmw_seq_free (q);
    return NULL;
  }
  return q;
}

void
lmw_seq_free (lmw_seq *q)
{
  if (q == NULL)
    return;
  free (q->tokens);
  free (q->logprobs);
  free (q);
}

void
lmw_seq_copy (lmw_seq *dst, const lmw_seq *src)
{
  memcpy (dst->tokens, src->tokens, sizeof (int) * (size_t) src->n);
  memcpy (dst->logprobs, src->logprobs, sizeof (float) * (size_t) src->n);
  dst->n = src->n;
  dst->sum_logprob = src->sum_logprob;
  dst->finished = src->finished;
}

static double
seq_score (const lmw_seq *q)
{
  return q->sum_logprob / (q->n > 0 ? q->n : 1);
}

/* ---- set-up ------------------------------------------------------------------------------ */

int
lmw_search_init (lmw_search *s, lmw_state *st, const lmw_params *p, lmw_error *err)
{
  const lmw_model *m = st->model;
  int nv = m->hp.n_vocab;
  memset (s, 0, sizeof *s);
  s->st = st;
  s->m = m;
  s->p = p;
  s->max_tokens = p->max_tokens > 0 ? p->max_tokens : m->hp.n_text_ctx / 2;
  s->cap = s->max_tokens + 1;
  s->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t) p->seed;
  s->non_speech = calloc ((size_t) nv, sizeof (bool));
  s->logits = malloc (sizeof (float) * (size_t) nv);
  s->logprobs = malloc (sizeof (float) * (size_t) nv);
  s->first_logits = malloc (sizeof (float) * (size_t) nv);
  if (!s->non_speech || !s->logits || !s->logprobs || !s->first_logits) {
    lmw_search_clear (s);
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  for (int i = 0; i < m->sp.eot; i++)
    s->non_speech[i] = is_non_speech (m, i);
  if (st->sched != NULL && !st->host_memory && st->ops->version >= 6 &&
      st->ops->step_pick != NULL) {
    /* the filters of every token after the first (apply_filters with n_gen >= 1) that don't
     * depend on the tokens before it */
    size_t words = ((size_t) nv + 31) / 32;
    uint32_t *bits = calloc (words, sizeof (uint32_t));
    const lmw_special_tokens *sp = &m->sp;
    for (int i = 0; bits != NULL && i < nv; i++) {
      bool never = (i > sp->eot && i < sp->timestamp_begin) ||
                   (!p->timestamps && i >= sp->timestamp_begin) ||
                   (p->suppress_non_speech && i < sp->eot && s->non_speech[i]);
      if (never)
        bits[i >> 5] |= 1u << (i & 31);
    }
    s->pick_suppress = bits ? st->ops->alloc (st->be, words * sizeof (uint32_t)) : NULL;
    if (s->pick_suppress != NULL)
      st->ops->upload (st->be, s->pick_suppress, bits, words * sizeof (uint32_t));
    /* the first token's (apply_filters with n_gen 0): no blank, and with timestamps a
     * timestamp of at most 1.00 s (the timestamp rule changes nothing there: no text is left) */
    for (int i = 0; bits != NULL && i < nv; i++) {
      bool never = (p->suppress_blank && (i == sp->eot || i == 220)) ||
                   (p->timestamps && (i < sp->timestamp_begin || i > sp->timestamp_begin + 50));
      if (never)
        bits[i >> 5] |= 1u << (i & 31);
    }
    s->pick_first = bits != NULL && s->pick_suppress != NULL && st->ops->version >= 8 &&
                    st->ops->step_topk != NULL
                      ? st->ops->alloc (st->be, words * sizeof (uint32_t)) : NULL;
    if (s->pick_first != NULL)
      st->ops->upload (st->be, s->pick_first, bits, words * sizeof (uint32_t));
    free (bits); /* without the buffer the search filters the logits itself */
  }
  return 0;
}

void
lmw_search_clear (lmw_search *s)
{
  free (s->non_speech);
  free (s->logits);
  free (s->logprobs);
  free (s->first_logits);
  if (s->pick_suppress != NULL)
    s->st->ops->free (s->st->be, s->pick_suppress);
  if (s->pick_first != NULL)
    s->st->ops->free (s->st->be, s->pick_first);
  free (s->draft_logits);
  for (int i = s->n_pooled; i < s->n_beam_bufs; i++) {
    lmw_state_free_floats (s->st, s->beam_k[i]);
    lmw_state_free_floats (s->st, s->beam_v[i]);
  }
  memset (s, 0, sizeof *s);
}

/* ---- greedy and sampling ----------------------------------------------------------------- */

static uint64_t
splitmix64 (uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* a draw from softmax (logits / t) */
static int
sample (lmw_search *s, const float *logits, float t)
{
  int nv = s->m->hp.n_vocab;
  float max = -INFINITY;
  for (int i = 0; i < nv; i++)
    max = logits[i] > max ? logits[i] : max;
  double sum = 0.0;
  for (int i = 0; i < nv; i++)
    sum += exp ((double) (logits[i] - max) / t);
  double u = (double) (splitmix64 (&s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
  double c = 0.0;
  int last = argmax (logits, nv);
  for (int i = 0; i < nv; i++) {
    if (logits[i] == -INFINITY)
      continue;
    c += exp ((double) (logits[i] - max) / t);
    last = i;
    if (u < c)
      return i;
  }
  return last;
}

/* the filters of apply_filters for the token after generated (n_gen >= 1) that depend on the
 * tokens before it, for a pick on the backend (the others are in s->pick_suppress) */
static lmw_pick
pick_of (const lmw_search *s, const int *generated, int n_gen)
{
  const lmw_special_tokens *sp = &s->m->sp;
  int nv = s->m->hp.n_vocab;
  lmw_pick k = { s->pick_suppress, nv, n_gen < s->p->min_tokens ? LMW_PICK_EOT_LAST : 0, 0 };
  if (!s->p->timestamps)
    return k;
  k.ts_lo = sp->timestamp_begin;
  k.flags |= LMW_PICK_TS_RULE;
  bool last_ts = generated[n_gen - 1] >= sp->timestamp_begin;
  bool penult_ts = n_gen < 2 || generated[n_gen - 2] >= sp->timestamp_begin;
  if (last_ts && penult_ts)
    k.ts_lo = nv;
  else if (last_ts)
    k.flags |= LMW_PICK_NO_TEXT;
  for (int i = n_gen - 1; i >= 0; i--)
    if (generated[i] >= sp->timestamp_begin) {
      int lo = generated[i] + (last_ts && !penult_ts ? 0 : 1);
      k.ts_lo = lo > k.ts_lo ? lo : k.ts_lo;
      break;
    }
  return k;
}

lmw_pick
lmw_search_first_pick (const lmw_search *s, int want)
{
  const lmw_params *p = s->p;
  int B = p->beam_size < LMW_MAX_BEAM ? p->beam_size : LMW_MAX_BEAM;
  return (lmw_pick) { s->pick_first, p->timestamps ? s->m->sp.timestamp_begin : s->m->hp.n_vocab,
                      LMW_PICK_WANT | (p->min_tokens > 0 ? LMW_PICK_EOT_LAST : 0),
                      B > 1 ? B + 1 : 1, want };
}

/* One candidate, token by token.  Greedy with a draft (s->draft: the tokens this window is
 * expected to begin with, e.g. the previous decode of a growing utterance): when the token
 * just chosen is the draft's at its index, it and the next draft tokens (up to
 * LMW_DRAFT_ROWS) go through the decoder in one multi-row step, whose rows are the logits
 * after each; the following tokens are still chosen from those logits with every filter, and
 * while they equal the draft no decoder step is needed.  At the first difference the cache
 * positions past it are overwritten by the normal steps and drafting stops.  So the tokens
 * are those of the decoding without a draft, up to the rounding of a multi-row product. */
static int
decode_one (lmw_search *s, float t, lmw_seq *q, lmw_error *err)
{
  const lmw_model *m = s->m;
  int nv = m->hp.n_vocab, eot = m->sp.eot, np = s->n_prompt, Tt = m->hp.n_text_ctx;
  int rows_from = -1, n_rows = 0; /* draft_logits row r follows token rows_from + r */
  bool drafting = t == 0.0f && s->draft != NULL && s->n_draft > 0;
  memcpy (s->logits, s->first_logits, sizeof (float) * (size_t) nv);
  q->n = 0;
  q->sum_logprob = 0.0;
  q->finished = false;
  lmw_pick_result picked = { -1, 0.0f }; /* the token chosen on the backend, if any */
  if (t == 0.0f && s->first_pick_k == 1) /* the first one was, with the prompt */
    picked = s->first_pick[0];
  while (q->n < s->max_tokens && np + q->n < Tt) {
    int next;
    float lp;
    if (picked.token >= 0) {
      next = picked.token;
      lp = picked.logprob;
      s->n_picked++;
    } else {
      apply_filters (s, s->logits, q->tokens, q->n);
      next = t > 0.0f ? sample (s, s->logits, t) : argmax (s->logits, nv);
      lmw_log_softmax (s->logprobs, s->logits, nv);
      lp = s->logprobs[next];
    }
    q->sum_logprob += lp;
    if (next == eot) {
      q->finished = true;
      break;
    }
    q->logprobs[q->n] = lp;
    q->tokens[q->n++] = next;
    if (q->n >= s->max_tokens || np + q->n >= Tt)
      break;
    int j = q->n - 1; /* index of next */
    if (drafting && j < s->n_draft && next == s->draft[j]) {
      if (n_rows > 0 && j > rows_from && j < rows_from + n_rows) {
        /* already in the cache: the multi-row step ran it */
        memcpy (s->logits, s->draft_logits + (size_t) (j - rows_from) * nv, sizeof (float) * (size_t) nv);
        s->n_draft_kept++;
        picked.token = -1; /* the logits to filter are the draft step's */
        continue;
      }
      int c = s->n_draft - j;
      if (c > LMW_DRAFT_ROWS)
        c = LMW_DRAFT_ROWS;
      if (c > Tt - (np + j))
        c = Tt - (np + j);
      if (c > s->max_tokens - j)
        c = s->max_tokens - j;
      if (c > 1) {
        if (s->draft_logits == NULL &&
            (s->draft_logits = malloc (sizeof (float) * (size_t) LMW_DRAFT_ROWS * (size_t) nv)) == NULL) {
          lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
          return -1;
        }
        if (lmw_decode (s->st, s->draft + j, c, np + j, s->draft_logits, true, err) != 0)
          return -1;
        s->n_decoded += c;
        rows_from = j;
        n_rows = c;
        memcpy (s->logits, s->draft_logits, sizeof (float) * (size_t) nv);
        picked.token = -1;
        continue;
      }
    } else if (drafting && j < s->n_draft) {
      drafting = false; /* the decoding left the draft */
    }
    n_rows = 0;
    if (t == 0.0f && s->pick_suppress != NULL) { /* greedy on a scheduler: picked there */
      lmw_pick k = pick_of (s, q->tokens, q->n);
      if (lmw_decode_pick (s->st, next, np + j, s->logits, &k, &picked, err) != 0)
        return -1;
    } else {
      picked.token = -1;
      if (lmw_decode (s->st, &next, 1, np + j, s->logits, false, err) != 0)
        return -1;
    }
    s->n_decoded++;
  }
  return 0;
}

/* ---- beam search ------------------------------------------------------------------------- */

typedef struct {
  double score;
  float logprob;
  int src;
  int token;
} beam_cand;

static int
cand_cmp (const void *a, const void *b)
{
  const beam_cand *x = a, *y = b;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  if (x->src != y->src) /* deterministic order among equal scores */
    return x->src - y->src;
  return x->token - y->token;
}

/* the beam_size + 1 best entries of lp (n) into idx, best first */
static int
top_k (const float *lp, int n, int k, int *idx)
{
  int cnt = 0;
  for (int i = 0; i < n; i++) {
    if (lp[i] == -INFINITY)
      continue;
    if (cnt < k) {
      idx[cnt++] = i;
    } else if (lp[i] > lp[idx[cnt - 1]]) {
      idx[cnt - 1] = i;
    } else {
      continue;
    }
    for (int j = cnt - 1; j > 0 && lp[idx[j]] > lp[idx[j - 1]]; j--) {
      int tmp = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = tmp;
    }
  }
  return cnt;
}

static void
copy_rows (lmw_search *s, int dst, int src, int rows)
{
  const lmw_hparams *hp = &s->m->hp;
  size_t C = (size_t) hp->n_text_state, Tt = (size_t) hp->n_text_ctx;
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (int l = 0; l < hp->n_text_layer; l++) {
    size_t off = (size_t) l * Tt * C;
    lmw_state_copy_floats (s->st, s->beam_k[dst] + off, s->beam_k[src] + off, (size_t) rows * C);
    lmw_state_copy_floats (s->st, s->beam_v[dst] + off, s->beam_v[src] + off, (size_t) rows * C);
  }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  s->kv_copy_ms += (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
  s->kv_copy_bytes += 2 * sizeof (float) * (size_t) rows * C * (size_t) hp->n_text_layer;
}

static int
beam_search (lmw_search *s, int B, lmw_seq *out, lmw_error *err)
{
  lmw_state *st = s->st;
  const lmw_model *m = s->m;
  const lmw_hparams *hp = &m->hp;
  int nv = hp->n_vocab, eot = m->sp.eot, np = s->n_prompt, Tt = hp->n_text_ctx;
  size_t per = (size_t) hp->n_text_layer * Tt * hp->n_text_state;
  float *orig_k = st->self_k, *orig_v = st->self_v;
  int orig_n = st->n_cached;
  int rc = -1;
  lmw_seq *live[LMW_MAX_BEAM] = { 0 }, *next[LMW_MAX_BEAM] = { 0 }, *fin[LMW_MAX_BEAM] = { 0 };
  int buf[LMW_MAX_BEAM], nbuf[LMW_MAX_BEAM];
  int n_live = 1, n_fin = 0;
  beam_cand *cands = malloc (sizeof *cands * (size_t) B * (B + 1));
  int *idx = malloc (sizeof (int) * (size_t) (B + 1));
  float *step_logits = malloc (sizeof (float) * (size_t) B * nv); /* (B, n_vocab) */
  /* (B, B + 1): each beam's candidates when the backend chose them */
  lmw_pick_result *picked = malloc (sizeof *picked * (size_t) B * (B + 1));
  if (cands == NULL || idx == NULL || step_logits == NULL || picked == NULL)
    goto nomem;
  while (s->n_beam_bufs < B) { /* on the CPU, pages are only touched for the rows in use */
    if (s->n_beam_bufs < st->beam_pool_n) { /* a scheduler's slot: caches lent, never freed here */
      s->beam_k[s->n_beam_bufs] = st->beam_pool_k[s->n_beam_bufs];
      s->beam_v[s->n_beam_bufs] = st->beam_pool_v[s->n_beam_bufs];
      s->n_beam_bufs++;
      s->n_pooled++;
      continue;
    }
    s->beam_k[s->n_beam_bufs] = lmw_state_alloc_floats (st, per);
    s->beam_v[s->n_beam_bufs] = lmw_state_alloc_floats (st, per);
    if (!s->beam_k[s->n_beam_bufs] || !s->beam_v[s->n_beam_bufs]) {
      lmw_state_free_floats (st, s->beam_k[s->n_beam_bufs]);
      lmw_state_free_floats (st, s->beam_v[s->n_beam_bufs]);
      goto nomem;
    }
    s->n_beam_bufs++;
  }
  for (int i = 0; i < B; i++) {
    live[i] = lmw_seq_new (s->cap);
    next[i] = lmw_seq_new (s->cap);
    fin[i] = lmw_seq_new (s->cap);
    if (!live[i] || !next[i] || !fin[i])
      goto nomem;
  }
  /* the prompt's rows go to beam 0's cache */
  {
    size_t C = (size_t) hp->n_text_state;
    for (int l = 0; l < hp->n_text_layer; l++) {
      size_t off = (size_t) l * Tt * C;
      lmw_state_copy_floats (st, s->beam_k[0] + off, orig_k + off, (size_t) np * C);
      lmw_state_copy_floats (st, s->beam_v[0] + off, orig_v + off, (size_t) np * C);
    }
  }
  live[0]->n = 0;
  live[0]->sum_logprob = 0.0;
  buf[0] = 0;
  for (int step = 0; step < s->max_tokens && np + step < Tt; step++) {
    int nc = 0;
    if (step == 0) {
      if (s->first_pick_k != B + 1)
        memcpy (step_logits, s->first_logits, sizeof (float) * (size_t) nv);
    } else if (!s->beam_sequential) {
      /* every live beam has step tokens: their last ones all sit at np + step - 1; on a
       * scheduler's slot each beam's candidates are chosen where its logits are */
      int last[LMW_MAX_BEAM];
      float *ck[LMW_MAX_BEAM], *cv[LMW_MAX_BEAM];
      lmw_pick picks[LMW_MAX_BEAM];
      bool on_backend = s->pick_suppress != NULL;
      for (int b = 0; b < n_live; b++) {
        last[b] = live[b]->tokens[live[b]->n - 1];
        ck[b] = s->beam_k[buf[b]];
        cv[b] = s->beam_v[buf[b]];
        if (on_backend) {
          picks[b] = pick_of (s, live[b]->tokens, live[b]->n);
          picks[b].k = B + 1;
          picked[(size_t) b * (B + 1)].token = LMW_PICK_NOT_MADE;
        }
      }
      if (lmw_decode_batch_pick (st, last, n_live, np + step - 1, ck, cv, step_logits,
                                 on_backend ? picks : NULL, on_backend ? picked : NULL,
                                 err) != 0)
        goto out;
      s->n_decoded += n_live;
    } else {
      for (int b = 0; b < n_live; b++) {
        lmw_seq *q = live[b];
        st->self_k = s->beam_k[buf[b]];
        st->self_v = s->beam_v[buf[b]];
        st->n_cached = np + q->n - 1;
        int r = lmw_decode (st, &q->tokens[q->n - 1], 1, np + q->n - 1,
                            step_logits + (size_t) b * nv, false, err);
        s->n_decoded++;
        st->self_k = orig_k;
        st->self_v = orig_v;
        st->n_cached = orig_n;
        if (r != 0)
          goto out;
      }
    }
    for (int b = 0; b < n_live; b++) {
      lmw_seq *q = live[b];
      const lmw_pick_result *pr = picked + (size_t) b * (B + 1);
      if (step == 0 && s->first_pick_k == B + 1)
        pr = s->first_pick; /* chosen with the prompt */
      else if (!(step > 0 && !s->beam_sequential && s->pick_suppress != NULL))
        pr = NULL;
      if (pr != NULL && pr[0].token != LMW_PICK_NOT_MADE) { /* chosen on the backend */
        for (int j = 0; j < B + 1 && pr[j].token >= 0; j++)
          cands[nc++] = (beam_cand) { q->sum_logprob + pr[j].logprob, pr[j].logprob, b,
                                      pr[j].token };
        s->n_picked++;
        continue;
      }
      float *logits = step_logits + (size_t) b * nv;
      apply_filters (s, logits, q->tokens, q->n);
      lmw_log_softmax (s->logprobs, logits, nv);
      int k = top_k (s->logprobs, nv, B + 1, idx);
      for (int j = 0; j < k; j++)
        cands[nc++] = (beam_cand) { q->sum_logprob + s->logprobs[idx[j]], s->logprobs[idx[j]], b,
                                    idx[j] };
    }
    qsort (cands, (size_t) nc, sizeof *cands, cand_cmp);
    int saved = 0;
    bool parent_used[LMW_MAX_BEAM] = { false };
    int src_of[LMW_MAX_BEAM];
    for (int c = 0; c < nc && saved < B; c++) {
      const beam_cand *cd = &cands[c];
      const lmw_seq *par = live[cd->src];
      if (cd->token == eot) {
        if (n_fin < B) {
          lmw_seq_copy (fin[n_fin], par);
          fin[n_fin]->sum_logprob = cd->score;
          fin[n_fin]->finished = true;
          n_fin++;
        }
        continue;
      }
      lmw_seq *nq = next[saved];
      lmw_seq_copy (nq, par);
      nq->tokens[nq->n] = cd->token;
      nq->logprobs[nq->n] = cd->logprob;
      nq->n++;
      nq->sum_logprob = cd->score;
      src_of[saved] = cd->src;
      saved++;
    }
    /* caches: the first child of a parent takes its buffer, later ones copy its rows */
    bool buf_taken[LMW_MAX_BEAM] = { false };
    for (int j = 0; j < saved; j++)
      nbuf[j] = -1;
    for (int j = 0; j < saved; j++)
      if (!parent_used[src_of[j]]) {
        parent_used[src_of[j]] = true;
        nbuf[j] = buf[src_of[j]];
        buf_taken[nbuf[j]] = true;
      }
    for (int j = 0; j < saved; j++) {
      if (nbuf[j] >= 0)
        continue;
      int f = 0;
      while (buf_taken[f])
        f++;
      buf_taken[f] = true;
      nbuf[j] = f;
      /* the parent's cache holds its prompt and tokens, the last one included */
      copy_rows (s, f, buf[src_of[j]], np + next[j]->n - 1);
    }
    for (int j = 0; j < saved; j++) {
      lmw_seq *t = live[j];
      live[j] = next[j];
      next[j] = t;
      buf[j] = nbuf[j];
    }
    n_live = saved;
    if (n_fin >= B || n_live == 0)
      break;
  }
  /* finished candidates first, then the live ones up to beam_size, ranked by score */
  for (int b = 0; b < n_live && n_fin < B; b++)
    lmw_seq_copy (fin[n_fin++], live[b]);
  int best = 0;
  for (int i = 1; i < n_fin; i++)
    if (seq_score (fin[i]) > seq_score (fin[best]))
      best = i;
  if (n_fin > 0) {
    lmw_seq_copy (out, fin[best]);
  } else {
    out->n = 0;
    out->sum_logprob = 0.0;
    out->finished = true;
  }
  rc = 0;
  goto out;
nomem:
  lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the beams");
out:
  st->self_k = orig_k;
  st->self_v = orig_v;
  st->n_cached = orig_n;
  for (int i = 0; i < B; i++) {
    lmw_seq_free (live[i]);
    lmw_seq_free (next[i]);
    lmw_seq_free (fin[i]);
  }
  free (cands);
  free (idx);
  free (step_logits);
  free (picked);
  return rc;
}

int
lmw_search_window (lmw_search *s, float t, lmw_seq *out, lmw_error *err)
{
  const lmw_params *p = s->p;
  if (t <= 0.0f && p->beam_size > 1)
    return beam_search (s, p->beam_size < LMW_MAX_BEAM ? p->beam_size : LMW_MAX_BEAM, out, err);
  if (t <= 0.0f || p->best_of <= 1)
    return decode_one (s, t, out, err);
  lmw_seq *cand = lmw_seq_new (s->cap);
  if (cand == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < p->best_of; i++) {
    if (decode_one (s, t, i == 0 ? out : cand, err) != 0) {
      rc = -1;
      break;
    }
    if (i > 0 && seq_score (cand) > seq_score (out))
      lmw_seq_copy (out, cand);
  }
  lmw_seq_free (cand);
  return rc;
}
