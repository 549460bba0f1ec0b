/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-step.c — the table-driven decoder step kernels (backends/cuda/lmw-cuda-step.h)
 * against the CPU reference backend, on odd shapes: rows at mixed positions (0, 1, mid-cache,
 * the last of a 448 context), each with its own cache, padding rows, a layer offset, heads of
 * 40, 64 and 128, keys from 1 to 1500, rows sharing one window's K/V and rows with their own.
 *
 * Built like test-cuda-kernels.c: against the emulated kernels (meson test cuda-step, device
 * memory exactly sized for ASan), and with -DLMW_TEST_GPU against the nvcc build
 * (scripts/gpu-check.sh, which builds every tests/cuda/test-*.c).
 *
 * Asserts (TAP), errors relative to the largest |value| of the reference:
 *   step_embed equals the f16 token row plus the positional row exactly; padding rows and
 *   tokens outside the vocabulary give zeros;
 *   step_self_attention stores each row's key and value at its position of its own cache (bit
 *   for bit), leaves every other cache row (and a padding row's cache) untouched, and its output
 *   is within 1e-5 of the CPU backend's attention of that row to keys 0 .. pos; padding rows
 *   give zeros;
 *   step_cross_attention within 1e-5 of the CPU backend's attention on the same f16-rounded
 *   keys and values;
 *   step_pick gives the search's greedy choice (the filters of lmw-search.c for a token after
 *   the first, written out here) with its log-probability within 1e-5, the timestamp rule
 *   firing where the timestamps are likelier, the lower index of a tie, and leaves padding rows
 *   and rows without a pick alone;
 *   bad arguments rejected with LMW_CUDA_EINVAL.
 */
#include "lmw-backend.h"
#include "lmw-cpu.h"
#include "lmw-cuda-step.h"
#include "lmw-cuda-test-mem.h"
#include "lmw-test.h"

#include <math.h>
#include <stdint.h>

#ifdef LMW_TEST_GPU
#include <cuda_runtime_api.h>
#define TOL 2e-5
#else
#define TOL 1e-5
#endif

static uint64_t rs = 0x2545f4914f6cdd1dull;

static float
frand (void)
{
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (float) ((rs >> 40) / (double) (1ull << 24)) * 2.0f - 1.0f;
}

static float *
rand_floats (size_t n, float scale)
{
  float *x = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    x[i] = frand () * scale;
  return x;
}

static double
rel_err (const float *got, const float *want, size_t n)
{
  double md = 0.0, mw = 1e-30;
  for (size_t i = 0; i < n; i++) {
    double d = fabs ((double) got[i] - want[i]);
    if (!(d <= md))
      md = isnan (d) ? INFINITY : d;
    if (fabs (want[i]) > mw)
      mw = fabs (want[i]);
  }
  return md / mw;
}

static const lmw_backend_ops *cpu;
static void *cpu_ctx;

/* ---- embedding -------------------------------------------------------------------------- */

static void
test_embed (int R, int C, int n_vocab, int n_pos)
{
  float *emb = rand_floats ((size_t) n_vocab * C, 1.0f);
  uint16_t *embh = malloc (2 * (size_t) n_vocab * C);
  for (size_t i = 0; i < (size_t) n_vocab * C; i++)
    embh[i] = lmw_fp32_to_fp16 (emb[i]);
  float *pos = rand_floats ((size_t) n_pos * C, 0.5f);
  lmw_step_row *rows = calloc ((size_t) R, sizeof *rows);
  for (int r = 0; r < R; r++) {
    rows[r].token = r == 1 ? -1 : r == 2 ? n_vocab : (r * 7919) % n_vocab; /* padding; too big */
    rows[r].pos = (r * 31) % n_pos;
  }
  void *demb = dev_dup (embh, 2 * (size_t) n_vocab * C);
  float *dpos = dev_dup (pos, sizeof (float) * (size_t) n_pos * C);
  lmw_step_row *drows = dev_dup (rows, sizeof *rows * (size_t) R);
  float *dx = dev_alloc (sizeof (float) * (size_t) R * C);
  float *x = malloc (sizeof (float) * (size_t) R * C);
  lmw_cuda_status st = lmw_cuda_step_embed (dx, demb, LMW_TYPE_F16, n_vocab, dpos, n_pos, drows,
                                            R, C, NULL);
  from_dev (x, dx, sizeof (float) * (size_t) R * C);
  size_t bad = 0;
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) {
      bool live = rows[r].token >= 0 && rows[r].token < n_vocab;
      float want = live ? lmw_fp16_to_fp32 (embh[(size_t) rows[r].token * C + c]) +
                              pos[(size_t) rows[r].pos * C + c]
                        : 0.0f;
      bad += x[(size_t) r * C + c] != want;
    }
  TEST_OK (st == LMW_CUDA_OK && bad == 0, "step_embed R %d C %d: %zu values differ (padding and "
           "an out-of-range token give zeros)", R, C, bad);
  dev_free (demb), dev_free (dpos), dev_free (drows), dev_free (dx);
  free (emb), free (embh), free (pos), free (rows), free (x);
}

/* ---- self-attention --------------------------------------------------------------------- */

/* R rows at positions pos[r] (-1: padding), each with its own (L, Tt, C) cache, at layer 1 */
static void
test_self (int R, const int *pos, int Tt, int H, int D)
{
  int C = H * D, L = 2, layer = 1;
  size_t per = (size_t) L * Tt * C, off = (size_t) layer * Tt * C;
  float *q = rand_floats ((size_t) R * C, 1.5f), *k = rand_floats ((size_t) R * C, 1.5f);
  float *v = rand_floats ((size_t) R * C, 1.0f);
  float **kc = calloc ((size_t) R, sizeof *kc), **vc = calloc ((size_t) R, sizeof *vc);
  float **dkc = calloc ((size_t) R, sizeof *dkc), **dvc = calloc ((size_t) R, sizeof *dvc);
  lmw_step_row *rows = calloc ((size_t) R, sizeof *rows);
  for (int r = 0; r < R; r++) {
    kc[r] = rand_floats (per, 1.5f);
    vc[r] = rand_floats (per, 1.0f);
    dkc[r] = dev_dup (kc[r], sizeof (float) * per);
    dvc[r] = dev_dup (vc[r], sizeof (float) * per);
    rows[r] = (lmw_step_row) { .token = pos[r] < 0 ? -1 : 3 + r, .pos = pos[r] < 0 ? 0 : pos[r],
                               .self_k = dkc[r], .self_v = dvc[r] };
  }
  /* the reference: the new key and value stored, then attention to keys 0 .. pos */
  float *want = calloc ((size_t) R * C, sizeof (float));
  for (int r = 0; r < R; r++) {
    if (pos[r] < 0)
      continue;
    memcpy (kc[r] + off + (size_t) pos[r] * C, k + (size_t) r * C, sizeof (float) * C);
    memcpy (vc[r] + off + (size_t) pos[r] * C, v + (size_t) r * C, sizeof (float) * C);
    cpu->attention (cpu_ctx, want + (size_t) r * C, C, q + (size_t) r * C, C, kc[r] + off, C,
                    vc[r] + off, C, 1, pos[r] + 1, H, D, -1);
  }
  float *dq = dev_dup (q, sizeof (float) * R * C), *dk = dev_dup (k, sizeof (float) * R * C);
  float *dv = dev_dup (v, sizeof (float) * R * C), *dout = dev_alloc (sizeof (float) * R * C);
  lmw_step_row *drows = dev_dup (rows, sizeof *rows * (size_t) R);
  float *out = malloc (sizeof (float) * (size_t) R * C);
  lmw_cuda_status st = lmw_cuda_step_self_attention (dout, dq, dk, dv, drows, off, R, H, D, NULL);
  from_dev (out, dout, sizeof (float) * (size_t) R * C);
  size_t cache_bad = 0;
  float *got = malloc (sizeof (float) * per);
  for (int r = 0; r < R; r++) {
    from_dev (got, dkc[r], sizeof (float) * per);
    cache_bad += memcmp (got, kc[r], sizeof (float) * per) != 0;
    from_dev (got, dvc[r], sizeof (float) * per);
    cache_bad += memcmp (got, vc[r], sizeof (float) * per) != 0;
  }
  double e = rel_err (out, want, (size_t) R * C);
  char where[120] = "";
  for (int r = 0, n = 0; r < R && n < (int) sizeof where - 8; r++)
    n += snprintf (where + n, sizeof where - (size_t) n, "%s%d", r ? "," : "", pos[r]);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL && cache_bad == 0,
           "step_self_attention R %d (positions %s) H %d D %d: rel err %.2e, %zu caches not as "
           "expected", R, where, H, D, e, cache_bad);
  for (int r = 0; r < R; r++) {
    dev_free (dkc[r]), dev_free (dvc[r]);
    free (kc[r]), free (vc[r]);
  }
  dev_free (dq), dev_free (dk), dev_free (dv), dev_free (dout), dev_free (drows);
  free (q), free (k), free (v), free (kc), free (vc), free (dkc), free (dvc), free (rows);
  free (want), free (out), free (got);
}

/* ---- cross-attention -------------------------------------------------------------------- */

/* host twin of the int8 rows (LMW_CROSS_Q8_BYTES): dst bytes of x (rows, C), and x replaced
 * by the values they stand for */
static void
quantise_q8 (unsigned char *dst, float *x, size_t rows, int C)
{
  for (size_t r = 0; r < rows; r++) {
    unsigned char *row = dst + r * LMW_CROSS_Q8_BYTES (C);
    float *xr = x + r * C;
    for (int b = 0; b < C / 32; b++) {
      float m = 0.0f;
      for (int i = 0; i < 32; i++)
        m = fabsf (xr[b * 32 + i]) > m ? fabsf (xr[b * 32 + i]) : m;
      float sc = m / 127.0f;
      memcpy (row + C + 4 * b, &sc, 4);
      for (int i = 0; i < 32; i++) {
        float qv = sc > 0.0f ? rintf (xr[b * 32 + i] / sc) : 0.0f;
        row[b * 32 + i] = (unsigned char) (signed char) qv;
        xr[b * 32 + i] = (float) (signed char) row[b * 32 + i] * sc;
      }
    }
  }
}

/* R rows, row r on window win[r] (-1: padding) of n_win windows of (L, Tk, C) K/V, f16 or
 * int8 (q8); grouped: the rows' cross_lead as the table writer sets them (neighbours on one
 * window, at most LMW_STEP_GROUP_MAX; a padding row inside a run keeps its neighbours' window
 * so that it sits in their group), else every row on its own.  *reads_out (nullable) gets the
 * number of groups, the reads of each window's K/V per head. */
static void
test_cross_ex (int R, const int *win, int n_win, int Tk, int H, int D, bool grouped, bool q8)
{
  int C = H * D, L = 2, layer = 1;
  size_t per = (size_t) L * Tk * C, off = (size_t) layer * Tk * C;
  size_t bytes = q8 ? LMW_CROSS_Q8_BYTES (per) : 2 * per;
  float *q = rand_floats ((size_t) R * C, 1.5f);
  float **kf = calloc ((size_t) n_win, sizeof *kf), **vf = calloc ((size_t) n_win, sizeof *vf);
  void **dk = calloc ((size_t) n_win, sizeof *dk), **dv = calloc ((size_t) n_win, sizeof *dv);
  unsigned char *h = malloc (bytes);
  for (int w = 0; w < n_win; w++) {
    for (int kv = 0; kv < 2; kv++) {
      float *x = rand_floats (per, kv ? 1.0f : 1.5f);
      if (q8) {
        quantise_q8 (h, x, (size_t) L * Tk, C);
      } else {
        uint16_t *h16 = (uint16_t *) h;
        for (size_t i = 0; i < per; i++) {
          h16[i] = lmw_fp32_to_fp16 (x[i]);
          x[i] = lmw_fp16_to_fp32 (h16[i]);
        }
      }
      *(kv ? &vf[w] : &kf[w]) = x;
      *(kv ? &dv[w] : &dk[w]) = dev_dup (h, bytes);
    }
  }
  lmw_step_row *rows = calloc ((size_t) R, sizeof *rows);
  float *want = calloc ((size_t) R * C, sizeof (float));
  int lead = 0, groups = 0;
  for (int r = 0; r < R; r++) {
    int w = win[r] < 0 ? (r > 0 && grouped ? (win[r - 1] < 0 ? 0 : win[r - 1]) : 0) : win[r];
    rows[r] = (lmw_step_row) { .token = win[r] < 0 ? -1 : 1, .pos = r, .cross_k = dk[w],
                               .cross_v = dv[w] };
    rows[r].cross_q8 = q8;
    if (grouped && r > 0 && r - lead < LMW_STEP_GROUP_MAX && rows[lead].cross_k == rows[r].cross_k)
      rows[r].cross_lead = r - lead;
    else
      lead = r, groups++;
    if (win[r] >= 0)
      cpu->attention (cpu_ctx, want + (size_t) r * C, C, q + (size_t) r * C, C, kf[w] + off, C,
                      vf[w] + off, C, 1, Tk, H, D, -1);
  }
  float *dq = dev_dup (q, sizeof (float) * R * C), *dout = dev_alloc (sizeof (float) * R * C);
  lmw_step_row *drows = dev_dup (rows, sizeof *rows * (size_t) R);
  float *out = malloc (sizeof (float) * (size_t) R * C);
  for (size_t i = 0; i < (size_t) R * C; i++)
    out[i] = NAN; /* every output must be written */
  to_dev (dout, out, sizeof (float) * (size_t) R * C);
  lmw_cuda_status st = lmw_cuda_step_cross_attention (dout, dq, drows, off, Tk, R, H, D, NULL);
  from_dev (out, dout, sizeof (float) * (size_t) R * C);
  double e = rel_err (out, want, (size_t) R * C);
  char where[160] = "";
  for (int r = 0, n = 0; r < R && n < (int) sizeof where - 8; r++)
    n += snprintf (where + n, sizeof where - (size_t) n, "%s%d", r ? "," : "", win[r]);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL, "step_cross_attention %s K/V, R %d on windows %s%s "
           "(%d reads), Tk %d H %d D %d: rel err %.2e", q8 ? "int8" : "f16", R, where,
           grouped ? " grouped" : "", groups, Tk, H, D, e);
  for (int w = 0; w < n_win; w++) {
    dev_free (dk[w]), dev_free (dv[w]);
    free (kf[w]), free (vf[w]);
  }
  dev_free (dq), dev_free (dout), dev_free (drows);
  free (q), free (kf), free (vf), free (dk), free (dv), free (h), free (rows), free (want);
  free (out);
}

static void
test_cross (int R, const int *win, int n_win, int Tk, int H, int D)
{
  test_cross_ex (R, win, n_win, Tk, H, D, false, false);
}

/* groups of 1 .. 8 rows (and 11: split into 8 and 3), padding inside and after them, heads of
 * 64, 80 and 128, odd key counts up to 1500, on f16 and int8 K/V */
static void
test_cross_groups (bool q8)
{
  const int g8[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
  test_cross_ex (8, g8, 1, 1500, 2, 64, true, q8);
  const int mixed[] = { 0, 1, 1, 2, 2, 2, -1, 3, 3, 3, 3, 4, 4, 4, 4, 4, -1, -1 };
  test_cross_ex (18, mixed, 5, 333, 8, 80, true, q8);
  const int long11[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, -1, -1 };
  test_cross_ex (20, long11, 2, 97, 1, 128, true, q8);
  const int six[] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1 };
  test_cross_ex (13, six, 2, 1499, 3, 64, true, q8);
  const int pad[] = { 0, -1, 0, 0, -1, -1, -1, -1 };
  test_cross_ex (8, pad, 1, 31, 2, 128, true, q8);
}

/* the int8 rows of the device quantiser equal the host twin's, and the direct int8
 * cross-attention (a prompt's rows) matches the CPU's on the values they stand for */
static void
test_q8_direct (int Tq, int Tk, int H, int D)
{
  int C = H * D;
  size_t n = (size_t) Tk * C, bytes = LMW_CROSS_Q8_BYTES (n);
  float *k = rand_floats (n, 2.0f), *v = rand_floats (n, 1.0f), *q = rand_floats ((size_t) Tq * C, 1.5f);
  for (int i = 0; i < 32; i++)
    k[C + i] = 0.0f; /* a block of zeros: scale 0 */
  float *dkf = dev_dup (k, sizeof (float) * n), *dvf = dev_dup (v, sizeof (float) * n);
  void *dk = dev_alloc (bytes), *dv = dev_alloc (bytes);
  unsigned char *hk = malloc (bytes), *hv = malloc (bytes), *got = malloc (bytes);
  quantise_q8 (hk, k, (size_t) Tk, C);
  quantise_q8 (hv, v, (size_t) Tk, C);
  lmw_cuda_status s1 = lmw_cuda_cross_q8 (dk, dkf, Tk, C, NULL);
  lmw_cuda_status s2 = lmw_cuda_cross_q8 (dv, dvf, Tk, C, NULL);
  size_t bad = 0;
  from_dev (got, dk, bytes);
  bad += memcmp (got, hk, bytes) != 0;
  from_dev (got, dv, bytes);
  bad += memcmp (got, hv, bytes) != 0;
  TEST_OK (s1 == LMW_CUDA_OK && s2 == LMW_CUDA_OK && bad == 0, "cross_q8 (%d, %d): the int8 "
           "rows and scales equal the host quantiser's bit for bit (%zu differ)", Tk, C, bad);
  int ld = C + 8;
  float *qp = calloc ((size_t) Tq * ld, sizeof (float));
  for (int r = 0; r < Tq; r++)
    memcpy (qp + (size_t) r * ld, q + (size_t) r * C, sizeof (float) * C);
  float *want = calloc ((size_t) Tq * ld, sizeof (float)), *out = malloc (sizeof (float) * Tq * ld);
  cpu->attention (cpu_ctx, want, ld, qp, ld, k, C, v, C, Tq, Tk, H, D, -1);
  float *dq = dev_dup (qp, sizeof (float) * Tq * ld), *dout = dev_dup (want, sizeof (float) * Tq * ld);
  lmw_cuda_status s3 = lmw_cuda_cross_attention_q8 (dout, ld, dq, ld, dk, dv, Tq, Tk, H, D, NULL);
  from_dev (out, dout, sizeof (float) * Tq * ld);
  double e = rel_err (out, want, (size_t) Tq * ld);
  TEST_OK (s3 == LMW_CUDA_OK && e <= TOL, "cross_attention_q8 Tq %d Tk %d H %d D %d (row "
           "stride %d): rel err %.2e against the attention on the dequantised K/V", Tq, Tk, H,
           D, ld, e);
  dev_free (dkf), dev_free (dvf), dev_free (dk), dev_free (dv), dev_free (dq), dev_free (dout);
  free (k), free (v), free (q), free (hk), free (hv), free (got), free (qp), free (want), free (out);
}

/* ---- greedy pick ------------------------------------------------------------------------ */

/* the search's filters (lmw-search.c apply_filters, n_gen >= 1) on the row's fields, then the
 * arg-max and its log-probability, sums in f64 in index order */
static bool
allowed (const lmw_step_row *row, const uint32_t *bits, int i, int eot, int tb, bool no_text)
{
  return !((bits[i >> 5] >> (i & 31)) & 1u) && !(i >= tb && i < row->pick_ts_lo) &&
         !((row->pick_flags & LMW_PICK_NO_TEXT) && i < eot) && !(no_text && i < tb);
}

static float
ref_lse (const float *x, const lmw_step_row *row, const uint32_t *bits, int nv, int eot, int tb,
         bool no_text, int *arg)
{
  int best = -1;
  for (int i = 0; i < nv; i++)
    if (allowed (row, bits, i, eot, tb, no_text) && (best < 0 || x[i] > x[best]))
      best = i;
  double sum = 0.0;
  for (int i = 0; i < nv; i++)
    if (allowed (row, bits, i, eot, tb, no_text))
      sum += exp ((double) (x[i] - x[best]));
  *arg = best;
  return x[best] + (float) log (sum);
}

static lmw_pick_result
ref_pick (const float *x, const lmw_step_row *row, const uint32_t *bits, int nv, int eot, int tb)
{
  int arg;
  float lse = ref_lse (x, row, bits, nv, eot, tb, false, &arg);
  if (row->pick_flags & LMW_PICK_TS_RULE) {
    double ts = 0.0;
    float text = -INFINITY;
    for (int i = 0; i < nv; i++) {
      if (!allowed (row, bits, i, eot, tb, false))
        continue;
      float lp = x[i] - lse;
      if (i >= tb)
        ts += exp ((double) lp);
      else
        text = lp > text ? lp : text;
    }
    if (ts > 0.0 && log (ts) > text)
      lse = ref_lse (x, row, bits, nv, eot, tb, true, &arg);
  }
  return (lmw_pick_result) { arg, x[arg] - lse };
}

static void
test_pick (void)
{
  enum { R = 7, NV = 1001, EOT = 500, TB = 600 };
  size_t words = (NV + 31) / 32;
  uint32_t *bits = calloc (words, sizeof (uint32_t));
  for (int i = 0; i < NV; i++)
    if ((i > EOT && i < TB) || (i < EOT && frand () > 0.8f))
      bits[i >> 5] |= 1u << (i & 31);
  float *x = rand_floats ((size_t) R * NV, 3.0f);
  for (int i = TB; i < NV; i++) /* row 1: many likely timestamps (the rule drops the text) */
    x[NV + i] += 2.0f;
  x[3 * NV + 17] = x[3 * NV + 18] = 20.0f; /* row 3: a tie, the lower index wins */
  uint32_t *dbits = dev_dup (bits, words * sizeof (uint32_t));
  lmw_step_row rows[R];
  memset (rows, 0, sizeof rows);
  const int32_t lo[R] = { NV, TB, 700, TB, NV, NV, NV };
  const int32_t fl[R] = { 0, LMW_PICK_TS_RULE, LMW_PICK_NO_TEXT | LMW_PICK_TS_RULE,
                          LMW_PICK_TS_RULE, 0, 0, 0 };
  for (int r = 0; r < R; r++)
    rows[r] = (lmw_step_row) { .token = r == 5 ? -1 : 1, .pick_suppress = r == 6 ? NULL : dbits,
                               .pick_ts_lo = lo[r], .pick_flags = fl[r] };
  lmw_step_row *drows = dev_dup (rows, sizeof rows);
  float *dx = dev_dup (x, sizeof (float) * (size_t) R * NV);
  lmw_pick_result out[R];
  for (int r = 0; r < R; r++)
    out[r] = (lmw_pick_result) { -7, 1.0f };
  lmw_pick_result *dout = dev_dup (out, sizeof out);
  lmw_cuda_status st = lmw_cuda_step_pick (dout, dx, NV, drows, R, NV, EOT, TB, NULL);
  from_dev (out, dout, sizeof out);
  int bad = 0;
  double worst = 0.0;
  bool rule_fired = false;
  for (int r = 0; r < R; r++) {
    if (r >= 5) { /* padding, no pick: untouched */
      bad += out[r].token != -7 || out[r].logprob != 1.0f;
      continue;
    }
    rows[r].pick_suppress = bits;
    lmw_pick_result want = ref_pick (x + (size_t) r * NV, &rows[r], bits, NV, EOT, TB);
    bad += out[r].token != want.token;
    double d = fabs ((double) out[r].logprob - want.logprob);
    worst = d > worst ? d : worst;
    if (r == 1)
      rule_fired = want.token >= TB;
  }
  TEST_OK (st == LMW_CUDA_OK && bad == 0 && worst <= 1e-5 && rule_fired && out[3].token == 17,
           "step_pick: the filtered arg-max of %d rows as the search picks it (suppressed set, "
           "timestamps below a bound, no text, the timestamp rule, a tie; padding and rows "
           "without a pick untouched): %d wrong, log-probabilities within %.2e", R, bad, worst);
  dev_free (dbits), dev_free (drows), dev_free (dx), dev_free (dout);
  free (bits), free (x);
}

static void
test_bad_arguments (void)
{
  float *d = dev_alloc (sizeof (float) * 64);
  lmw_step_row *rows = dev_alloc (sizeof (lmw_step_row));
  TEST_OK (lmw_cuda_step_self_attention (d, d, d, d, rows, 0, 1, 1, LMW_CUDA_ATTN_D_MAX + 1,
                                         NULL) == LMW_CUDA_EINVAL &&
             lmw_cuda_step_cross_attention (d, d, rows, 0, LMW_BACKEND_MAX_KEYS + 1, 1, 1, 8,
                                            NULL) == LMW_CUDA_EINVAL &&
             lmw_cuda_step_embed (d, d, LMW_TYPE_Q8_0, 4, d, 4, rows, 1, 8, NULL) ==
               LMW_CUDA_EINVAL &&
             lmw_cuda_step_cross_attention (d, NULL, rows, 0, 4, 1, 1, 8, NULL) ==
               LMW_CUDA_EINVAL,
           "bad arguments are rejected (%s)", lmw_cuda_step_last_error ());
  TEST_OK (lmw_cuda_step_self_attention (d, d, d, d, rows, 0, 0, 1, 8, NULL) == LMW_CUDA_OK,
           "zero rows launch nothing and succeed");
  dev_free (d), dev_free (rows);
}

int
main (void)
{
  skip_without_device ();
  lmw_cpu_kernels_force_generic (true);
  cpu = lmw_backend_cpu ();
  char err[256];
  cpu_ctx = cpu->create (1, err, sizeof err);
  if (!cpu_ctx)
    die (err);

  test_embed (5, 384, 1000, 448);
  test_embed (3, 67, 51, 7);

  const int p1[] = { 0 };
  test_self (1, p1, 448, 6, 64);
  const int p5[] = { 0, 1, 17, -1, 447 };
  test_self (5, p5, 448, 3, 64);
  const int p3[] = { 200, 5, 63 };
  test_self (3, p3, 256, 2, 40);
  test_self (3, p3, 256, 1, 128);

  const int w4[] = { 0, 0, 1, -1 };
  test_cross (4, w4, 2, 45, 3, 64);
  const int w3[] = { 2, 1, 0 };
  test_cross (3, w3, 3, 1500, 2, 64);
  const int w1[] = { 0 };
  test_cross (1, w1, 1, 1, 1, 40);
  test_cross (1, w1, 1, 333, 2, 128);
  test_cross_groups (false);
  test_cross_groups (true);
  test_q8_direct (11, 1500, 6, 64);
  test_q8_direct (3, 77, 8, 80);

  test_pick ();
  test_bad_arguments ();

  cpu->destroy (cpu_ctx);
  return test_done ();
}
