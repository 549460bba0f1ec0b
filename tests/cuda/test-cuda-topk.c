/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-topk.c — the beam search's choice on the device (backends/cuda/lmw-cuda-topk.h)
 * against the host search's own steps, written out here as lmw-search.c runs them: the
 * filters applied to a copy of the logits (the row's bitset, timestamps below pick_ts_lo,
 * LMW_PICK_NO_TEXT, the timestamp rule, LMW_PICK_EOT_LAST), the log-softmax with its f64 sum in
 * the order of LMW_PICK_LANES, and the insertion of every finite log-probability into a sorted
 * list of k (top_k).  Random logits of a whisper-sized vocabulary (51865 tokens, eot 50257,
 * timestamps from 50364), rounded to a coarse grid so that many are equal.
 *
 * Built like test-cuda-step.c: against the emulated kernels (meson test cuda-topk, and
 * -reverse, -random), and with -DLMW_TEST_GPU against the nvcc build (scripts/gpu-check.sh).
 *
 * Asserts (TAP):
 *   every row's k best tokens are the host's, in the host's order (equal log-probabilities:
 *   the lower token first), for k from 2 to LMW_PICK_K_MAX, with the timestamp rule firing on
 *   one row, LMW_PICK_NO_TEXT, LMW_PICK_EOT_LAST dropping eot where another token is left and
 *   keeping it where none is, and a row with fewer allowed tokens than k (token -1, -inf
 *   after them); their log-probabilities equal the host's bit for bit under emulation (within
 *   1e-6 on a GPU, whose exp may differ in the last bit);
 *   padding rows, rows without a bitset and greedy rows (pick_k 0) are left alone, and results
 *   go only to [pick_at, pick_at + k);
 *   with LMW_PICK_WANT (pick_k 0, 1 and 3), the wanted token's log-probability under the
 *   unfiltered softmax (the no-speech probability of a window's first row) equals the host's
 *   (bit for bit under emulation), and pick_k 1 is the greedy choice;
 *   step_pick leaves the rows with pick_k > 0 or LMW_PICK_WANT alone;
 *   bad arguments are rejected with LMW_CUDA_EINVAL, zero rows succeed.
 */
#include "lmw-backend.h"
#include "lmw-cuda-step.h"
#include "lmw-cuda-test-mem.h"
#include "lmw-cuda-topk.h"
#include "lmw-test.h"

#include <math.h>
#include <stdint.h>

#ifdef LMW_TEST_GPU
#include <cuda_runtime_api.h>
#define LP_TOL 1e-6
#else
#define LP_TOL 0.0
#endif

enum { NV = 51865, EOT = 50257, TB = 50364 };

static uint64_t rs = 0x9e3779b97f4a7c15ull;

static float
frand (void)
{
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (float) ((rs >> 40) / (double) (1ull << 24)) * 2.0f - 1.0f;
}

/* ---- the host search, step by step (lmw-search.c) ---------------------------------------- */

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

static void
log_softmax (float *out, const float *x, int n)
{
  float max = x[0];
  for (int i = 1; i < n; i++)
    max = x[i] > max ? x[i] : max;
  float lse = max + (float) log (lane_sum_exp (x, 0, n, max));
  for (int i = 0; i < n; i++)
    out[i] = x[i] - lse;
}

/* the row's filters on l (NV) in the search's order (apply_rules, then min_tokens) */
static void
ref_filter (float *l, const lmw_step_row *row, const uint32_t *bits)
{
  static float lp[NV];
  for (int i = 0; i < NV; i++)
    if (((bits[i >> 5] >> (i & 31)) & 1u) || (i >= TB && i < row->pick_ts_lo) ||
        ((row->pick_flags & LMW_PICK_NO_TEXT) && i < EOT))
      l[i] = -INFINITY;
  if (row->pick_flags & LMW_PICK_TS_RULE) {
    log_softmax (lp, l, NV);
    double ts_sum = lane_sum_exp (lp, TB, NV, 0.0f);
    float text_max = -INFINITY;
    for (int i = 0; i < TB; i++)
      text_max = lp[i] > text_max ? lp[i] : text_max;
    if (ts_sum > 0.0 && log (ts_sum) > text_max)
      for (int i = 0; i < TB; i++)
        l[i] = -INFINITY;
  }
  if (row->pick_flags & LMW_PICK_EOT_LAST)
    for (int i = 0; i < NV; i++)
      if (i != EOT && l[i] != -INFINITY) {
        l[EOT] = -INFINITY;
        break;
      }
}

/* top_k of lmw-search.c: the k best finite entries, best first, the first of equal ones */
static int
ref_top_k (const float *lp, int n, int k, int *idx)
{
  int cnt = 0;
  for (int i = 0; i < n; i++) {
    if (lp[i] == -INFINITY)
      continue;
    if (cnt < k)
      idx[cnt++] = i;
    else if (lp[i] > lp[idx[cnt - 1]])
      idx[cnt - 1] = i;
    else
      continue;
    for (int j = cnt - 1; j > 0 && lp[idx[j]] > lp[idx[j - 1]]; j--) {
      int t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  }
  return cnt;
}

/* ---- the test ---------------------------------------------------------------------------- */

enum { R = 15, WANT = 50362 };

static void
test_topk (void)
{
  size_t words = (NV + 31) / 32;
  uint32_t *bits = calloc (words, sizeof (uint32_t));   /* the search's: specials, symbols */
  uint32_t *few = calloc (words, sizeof (uint32_t));    /* all but 3 text tokens and eot */
  uint32_t *only_eot = calloc (words, sizeof (uint32_t));
  for (int i = 0; i < NV; i++) {
    if ((i > EOT && i < TB) || (i < EOT && frand () > 0.9f))
      bits[i >> 5] |= 1u << (i & 31);
    if (i != 7 && i != 4099 && i != 30001 && i != EOT)
      few[i >> 5] |= 1u << (i & 31);
    if (i != EOT)
      only_eot[i >> 5] |= 1u << (i & 31);
  }
  for (int i = 0; i < 3; i++) { /* the tie of row 5 is allowed */
    int t = i == 0 ? 17 : i == 1 ? 18 : 4000;
    bits[t >> 5] &= ~(1u << (t & 31));
  }
  float *x = malloc (sizeof (float) * (size_t) R * NV);
  for (size_t i = 0; i < (size_t) R * NV; i++) /* a coarse grid: many equal logits */
    x[i] = roundf (frand () * 24.0f) / 4.0f;
  for (int i = TB; i < NV; i++) /* row 1: likely timestamps (the rule drops the text) */
    x[1 * NV + i] += 3.0f;
  x[3 * NV + EOT] = 40.0f;      /* row 3: eot the best, EOT_LAST drops it */
  x[5 * NV + 17] = x[5 * NV + 18] = x[5 * NV + 4000] = 9.0f; /* row 5: a tie at the top */
  /* row, k, filters: lowest timestamp, flags, bitset (0 bits, 1 few, 2 only_eot, -1 none) */
  static const struct {
    int token, k, ts_lo, flags, set;
  } spec[R] = {
    { 1, 6, NV, 0, 0 },                                     /* beams after text, no timestamps */
    { 1, 3, TB, LMW_PICK_TS_RULE, 0 },                      /* the rule fires */
    { 1, 17, 50400, LMW_PICK_NO_TEXT | LMW_PICK_TS_RULE, 0 }, /* an open timestamp */
    { 1, 5, TB, LMW_PICK_TS_RULE | LMW_PICK_EOT_LAST, 0 },  /* min_tokens: eot waits */
    { 1, 2, NV, LMW_PICK_EOT_LAST, 2 },                     /* only eot left: kept */
    { 1, 4, NV, 0, 0 },                                     /* ties at the top */
    { 1, 6, NV, 0, 1 },                                     /* 4 tokens allowed, k 6 */
    { -1, 6, NV, 0, 0 },                                    /* padding */
    { 1, 6, NV, 0, -1 },                                    /* no pick */
    { 1, 0, NV, 0, 0 },                                     /* a greedy row */
    { 1, 9, TB, LMW_PICK_TS_RULE, 0 },
    { 1, 2, 50500, LMW_PICK_TS_RULE, 0 },
    { 1, 0, NV, LMW_PICK_WANT, 0 },                         /* a prompt's first row: no-speech */
    { 1, 1, TB, LMW_PICK_WANT | LMW_PICK_TS_RULE, 0 },      /* a one-row prompt, greedy */
    { 1, 3, TB, LMW_PICK_WANT, 0 },                         /* a one-row prompt, 2 beams */
  };
  uint32_t *dsets[3] = { dev_dup (bits, words * 4), dev_dup (few, words * 4),
                         dev_dup (only_eot, words * 4) };
  const uint32_t *hsets[3] = { bits, few, only_eot };
  lmw_step_row rows[R];
  memset (rows, 0, sizeof rows);
  int at = 3, n_out = 0; /* results start at 3, with a gap of one after each row */
  for (int r = 0; r < R; r++) {
    rows[r] = (lmw_step_row) { .token = spec[r].token,
                               .pick_suppress = spec[r].set >= 0 ? dsets[spec[r].set] : NULL,
                               .pick_ts_lo = spec[r].ts_lo, .pick_flags = spec[r].flags,
                               .pick_k = spec[r].k, .pick_at = at, .pick_want = WANT };
    at += spec[r].k + 2;
  }
  n_out = at + 2;
  lmw_pick_result *out = malloc (sizeof *out * (size_t) n_out);
  for (int i = 0; i < n_out; i++)
    out[i] = (lmw_pick_result) { -7, 1.0f };
  lmw_step_row *drows = dev_dup (rows, sizeof rows);
  float *dx = dev_dup (x, sizeof (float) * (size_t) R * NV);
  lmw_pick_result *dout = dev_dup (out, sizeof *out * (size_t) n_out);
  lmw_cuda_status st = lmw_cuda_step_topk (dout, dx, NV, drows, R, NV, EOT, TB, NULL);
  from_dev (out, dout, sizeof *out * (size_t) n_out);

  int bad_tok = 0, bad_lp = 0, bad_left = 0, first_bad = -1, n_want = 0;
  double worst = 0.0;
  bool *written = calloc ((size_t) n_out, sizeof (bool));
  static float l[NV], lp[NV];
  bool rule_fired = false, eot_dropped = false, eot_kept = false, short_row = false;
  for (int r = 0; r < R; r++) {
    bool want = spec[r].flags & LMW_PICK_WANT;
    bool picks = spec[r].token >= 0 && spec[r].set >= 0 && (spec[r].k > 1 || want);
    if (!picks)
      continue;
    if (want) { /* the token's log-probability before the filters, as transcribe takes it */
      log_softmax (lp, x + (size_t) r * NV, NV);
      const lmw_pick_result *o = &out[rows[r].pick_at + spec[r].k];
      written[rows[r].pick_at + spec[r].k] = true;
      double d = fabs ((double) o->logprob - lp[WANT]);
      bad_lp += o->token != WANT || !(d <= LP_TOL);
      worst = d > worst ? d : worst;
      n_want++;
    }
    memcpy (l, x + (size_t) r * NV, sizeof l);
    ref_filter (l, &rows[r], hsets[spec[r].set]);
    log_softmax (lp, l, NV);
    int idx[LMW_PICK_K_MAX];
    int cnt = spec[r].k > 0 ? ref_top_k (lp, NV, spec[r].k, idx) : 0;
    if (spec[r].k == 1) { /* greedy: the largest logit, the first of equal ones */
      idx[0] = 0;
      for (int i = 1; i < NV; i++)
        idx[0] = l[i] > l[idx[0]] ? i : idx[0];
      cnt = 1;
    }
    for (int j = 0; j < spec[r].k; j++) {
      const lmw_pick_result *o = &out[rows[r].pick_at + j];
      written[rows[r].pick_at + j] = true;
      int want_tok = j < cnt ? idx[j] : -1;
      if (o->token != want_tok) {
        bad_tok++;
        if (first_bad < 0) {
          first_bad = r;
          TEST_DIAG ("row %d candidate %d: token %d, the host's %d", r, j, o->token, want_tok);
        }
        continue;
      }
      double d = want_tok >= 0 ? fabs ((double) o->logprob - lp[want_tok]) : 0.0;
      bad_lp += want_tok >= 0 ? !(d <= LP_TOL) : o->logprob != -INFINITY;
      worst = d > worst ? d : worst;
    }
    if (r == 1)
      rule_fired = cnt > 0 && idx[0] >= TB && idx[cnt - 1] >= TB;
    if (r == 3)
      eot_dropped = cnt > 0 && idx[0] != EOT;
    if (r == 4)
      eot_kept = cnt == 1 && idx[0] == EOT && out[rows[r].pick_at + 1].token == -1;
    if (r == 6)
      short_row = cnt == 4 && out[rows[r].pick_at + 4].token == -1;
  }
  for (int i = 0; i < n_out; i++)
    if (!written[i])
      bad_left += out[i].token != -7 || out[i].logprob != 1.0f;
  TEST_OK (st == LMW_CUDA_OK && bad_tok == 0 && bad_lp == 0 && n_want == 3,
           "step_topk: the k best tokens of %d rows (k 1 .. %d) are the host search's, in its "
           "order, ties to the lower token, and a wanted token's log-probability before the "
           "filters is the host's (%d rows): %d tokens differ, %d log-probabilities beyond %.0e "
           "(worst %.2e)", R, LMW_PICK_K_MAX, n_want, bad_tok, bad_lp, LP_TOL, worst);
  TEST_OK (rule_fired && eot_dropped && eot_kept && short_row && out[rows[5].pick_at].token == 17 &&
             out[rows[5].pick_at + 1].token == 18 && out[rows[5].pick_at + 2].token == 4000,
           "the cases were exercised: timestamp rule %d, eot dropped %d and kept %d, fewer "
           "tokens than k %d, the tie 17 < 18 < 4000 (%d %d %d)", rule_fired, eot_dropped,
           eot_kept, short_row, out[rows[5].pick_at].token, out[rows[5].pick_at + 1].token,
           out[rows[5].pick_at + 2].token);
  TEST_OK (bad_left == 0, "padding rows, rows without a bitset and greedy rows are left alone, "
           "nothing written outside [pick_at, pick_at + k) (%d entries touched)", bad_left);

  /* step_pick on the same table: only the greedy row (9) is its */
  lmw_pick_result g[R];
  for (int r = 0; r < R; r++)
    g[r] = (lmw_pick_result) { -7, 1.0f };
  lmw_pick_result *dg = dev_dup (g, sizeof g);
  st = lmw_cuda_step_pick (dg, dx, NV, drows, R, NV, EOT, TB, NULL);
  from_dev (g, dg, sizeof g);
  int touched = 0;
  for (int r = 0; r < R; r++)
    touched += r != 9 && (g[r].token != -7 || g[r].logprob != 1.0f);
  memcpy (l, x + 9 * (size_t) NV, sizeof l);
  ref_filter (l, &rows[9], bits);
  log_softmax (lp, l, NV);
  int idx1;
  ref_top_k (lp, NV, 1, &idx1);
  TEST_OK (st == LMW_CUDA_OK && touched == 0 && g[9].token == idx1 &&
             fabs ((double) g[9].logprob - lp[idx1]) <= LP_TOL,
           "step_pick takes only its greedy row (token %d, the host's %d) and leaves the rows "
           "of step_topk alone (%d touched)", g[9].token, idx1, touched);
  dev_free (dg);
  for (int i = 0; i < 3; i++)
    dev_free (dsets[i]);
  dev_free (drows), dev_free (dx), dev_free (dout);
  free (bits), free (few), free (only_eot), free (x), free (out), free (written);
}

static void
test_bad_arguments (void)
{
  float *d = dev_alloc (sizeof (float) * 64);
  lmw_step_row *rows = dev_alloc (sizeof (lmw_step_row));
  lmw_pick_result *o = dev_alloc (sizeof (lmw_pick_result) * 4);
  TEST_OK (lmw_cuda_step_topk (o, d, 32, rows, 1, 64, 10, 20, NULL) == LMW_CUDA_EINVAL &&
             lmw_cuda_step_topk (o, d, 64, rows, 1, 64, 30, 20, NULL) == LMW_CUDA_EINVAL &&
             lmw_cuda_step_topk (NULL, d, 64, rows, 1, 64, 10, 20, NULL) == LMW_CUDA_EINVAL,
           "bad arguments are rejected (%s)", lmw_cuda_topk_last_error ());
  TEST_OK (lmw_cuda_step_topk (o, d, 64, rows, 0, 64, 10, 20, NULL) == LMW_CUDA_OK,
           "zero rows launch nothing and succeed");
  dev_free (d), dev_free (rows), dev_free (o);
}

int
main (void)
{
  skip_without_device ();
  test_topk ();
  test_bad_arguments ();
  return test_done ();
}
