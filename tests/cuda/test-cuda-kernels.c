/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-kernels.c — every launcher of backends/cuda/lmw-cuda-kernels.h against the CPU
 * reference backend (its portable kernels) or plain loops, on odd shapes: lengths that are not
 * multiples of a warp, a block or a tile, padded row strides, batch strides, one key, causal
 * masks, head sizes below, at and above 64, f32 and f16 operands.
 *
 * Built twice from this one file: against the emulated kernels (the meson test cuda-kernels,
 * where device memory is host memory, exactly sized so that ASan sees any out-of-bounds index),
 * and with -DLMW_TEST_GPU against the nvcc build on a machine with a GPU (scripts/gpu-check.sh).
 *
 * Asserts (TAP), errors relative to the largest |value| of the reference:
 *   f32 -> f16 bit-identical to lmw_fp32_to_fp16 on normal, subnormal, overflowing and special
 *   values; f16 -> f32 exact for all 65536 patterns;
 *   layernorm, softmax, gelu, bias/GELU/residual epilogues, conv stem <= 1e-5
 *   (2e-5 when the device's fast math takes part), their f16 copies equal to the rounded f32
 *   results; im2col, get_rows exact;
 *   attention and cross-attention <= 1e-5 against the CPU backend fed the same (f16-rounded)
 *   keys and values (<= 2e-3 on tensor cores: f16 K/V, heads up to 64, more than 16 rows,
 *   where queries and probabilities are rounded to f16 too), through the three kernels (few
 *   query rows split over warps, flash tiles, flash on tensor cores),
 *   at and past the few-rows limit, up to 1500 keys; rows and columns outside the output
 *   untouched;
 *   argmax and top-k identical indices and values to a plain sort (ties: lower column first,
 *   NaN never chosen), log-sum-exp <= 1e-5;
 *   bad arguments rejected with LMW_CUDA_EINVAL and nothing written.
 */
#include "lmw-backend.h"
#include "lmw-cpu.h"
#include "lmw-cuda-kernels.h"
#include "lmw-cuda-test-mem.h"
#include "lmw-test.h"
#define LMW_TEST_SEED 0x9e3779b97f4a7c15ull
#include "lmw-test-random.h"

#include <math.h>
#include <stdint.h>

#ifdef LMW_TEST_GPU
#include <cuda_runtime_api.h>
#define TOL 2e-5
#else
#define TOL 1e-5
#endif

/* ---- data ------------------------------------------------------------------------------- */

static uint16_t *
to_f16 (const float *x, size_t n)
{
  uint16_t *h = malloc (2 * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    h[i] = lmw_fp32_to_fp16 (x[i]);
  return h;
}

static const lmw_backend_ops *cpu;
static void *cpu_ctx;

/* largest |got - want| over (rows, cols) with strides, divided by the largest |want| (>= 1e-30) */
static double
rel_err (const float *got, int ldg, const float *want, int ldw, int rows, int cols)
{
  double md = 0.0, mw = 1e-30;
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) {
      double w = want[(size_t) r * ldw + c], g = got[(size_t) r * ldg + c];
      double d = fabs (g - w);
      if (!(d <= md)) /* NaN counts */
        md = isnan (d) ? INFINITY : d;
      if (fabs (w) > mw)
        mw = fabs (w);
    }
  return md / mw;
}

/* every f16 value of h equals the f32 value of f rounded */
static bool
f16_matches (const uint16_t *h, int ldh, const float *f, int ldf, int rows, int cols)
{
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      if (h[(size_t) r * ldh + c] != lmw_fp32_to_fp16 (f[(size_t) r * ldf + c]))
        return false;
  return true;
}

/* the padding columns (cols .. ld) of every row still hold the sentinel */
static bool
padding_untouched (const float *x, int ld, int rows, int cols, float sentinel)
{
  for (int r = 0; r < rows; r++)
    for (int c = cols; c < ld; c++)
      if (x[(size_t) r * ld + c] != sentinel)
        return false;
  return true;
}

static float *
filled (size_t n, float v)
{
  float *x = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    x[i] = v;
  return x;
}

#define SENTINEL 12345.0f

/* ---- conversion ------------------------------------------------------------------------- */

static void
test_convert (void)
{
  size_t n = 4099;
  float *x = malloc (sizeof (float) * n);
  for (size_t i = 0; i < n; i++) {
    float v = frand ();
    switch (i % 8) {
    case 0: x[i] = v; break;
    case 1: x[i] = v * 1e-5f; break;          /* f16 subnormals */
    case 2: x[i] = v * 1e-8f; break;          /* flush to (signed) zero */
    case 3: x[i] = v * 70000.0f; break;       /* overflow past 65504 */
    case 4: x[i] = 65519.0f + v; break;       /* the rounding edge of the largest half */
    case 5: x[i] = (float) (int) (v * 2048) + 0.5f; break; /* ties to even */
    case 6: x[i] = i % 16 == 6 ? INFINITY : -INFINITY; break;
    default: x[i] = v * 300.0f; break;
    }
  }
  x[7] = NAN;
  float *dx = dev_dup (x, sizeof (float) * n);
  uint16_t *dh = dev_alloc (2 * n);
  uint16_t *h = malloc (2 * n);
  TEST_OK (lmw_cuda_f32_to_f16 (dh, dx, n, NULL) == LMW_CUDA_OK, "f32_to_f16 launches");
  from_dev (h, dh, 2 * n);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    uint16_t want = lmw_fp32_to_fp16 (x[i]);
    bool both_nan = (want & 0x7c00) == 0x7c00 && (want & 0x3ff) && (h[i] & 0x7c00) == 0x7c00 &&
                    (h[i] & 0x3ff);
    if (h[i] != want && !both_nan)
      bad++;
  }
  TEST_OK (bad == 0, "f32_to_f16 rounds as lmw_fp32_to_fp16 (%zu of %zu differ)", bad, n);

  size_t m = 65536;
  uint16_t *all = malloc (2 * m);
  for (size_t i = 0; i < m; i++)
    all[i] = (uint16_t) i;
  uint16_t *dall = dev_dup (all, 2 * m);
  float *df = dev_alloc (sizeof (float) * m);
  float *f = malloc (sizeof (float) * m);
  TEST_OK (lmw_cuda_f16_to_f32 (df, dall, m, NULL) == LMW_CUDA_OK, "f16_to_f32 launches");
  from_dev (f, df, sizeof (float) * m);
  bad = 0;
  for (size_t i = 0; i < m; i++) {
    float want = lmw_fp16_to_fp32 ((uint16_t) i);
    if (!(f[i] == want || (isnan (f[i]) && isnan (want))) || signbit (f[i]) != signbit (want))
      bad++;
  }
  TEST_OK (bad == 0, "f16_to_f32 exact on every half (%zu differ)", bad);
  TEST_OK (lmw_cuda_f32_to_f16 (dh, dx, 0, NULL) == LMW_CUDA_OK, "n = 0 is a no-op");
  dev_free (dx), dev_free (dh), dev_free (dall), dev_free (df);
  free (x), free (h), free (all), free (f);
}

/* ---- layer norm ------------------------------------------------------------------------- */

static void
test_layernorm_shape (int N, int C, int ldi, bool with_wb)
{
  int ldo = C + 3, ldh = C + 5;
  float *x = rand_floats ((size_t) N * ldi, 3.0f);
  for (size_t i = 0; i < (size_t) N * ldi; i++)
    x[i] += 0.75f; /* a mean far from zero */
  float *w = rand_floats (C, 1.0f), *b = rand_floats (C, 0.5f);
  float *want = malloc (sizeof (float) * N * C);
  for (int r = 0; r < N; r++)
    memcpy (want + (size_t) r * C, x + (size_t) r * ldi, sizeof (float) * C);
  float *ones = filled (C, 1.0f), *zeros = filled (C, 0.0f);
  cpu->layernorm (cpu_ctx, want, want, with_wb ? w : ones, with_wb ? b : zeros, N, C, 1e-5f);

  float *dx = dev_dup (x, sizeof (float) * N * ldi);
  float *dw = dev_dup (w, sizeof (float) * C), *db = dev_dup (b, sizeof (float) * C);
  float *o = filled ((size_t) N * ldo, SENTINEL);
  float *dout = dev_dup (o, sizeof (float) * N * ldo);
  uint16_t *dh = dev_alloc (2 * (size_t) N * ldh);
  uint16_t *h = malloc (2 * (size_t) N * ldh);
  lmw_cuda_status st = lmw_cuda_layernorm (dout, ldo, dh, ldh, dx, ldi, with_wb ? dw : NULL,
                                           with_wb ? db : NULL, N, C, 1e-5f, NULL);
  from_dev (o, dout, sizeof (float) * N * ldo);
  from_dev (h, dh, 2 * (size_t) N * ldh);
  double e = rel_err (o, ldo, want, C, N, C);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL && padding_untouched (o, ldo, N, C, SENTINEL),
           "layernorm (%d, %d) ld %d%s: rel err %.2e", N, C, ldi, with_wb ? "" : " no w/b", e);
  TEST_OK (f16_matches (h, ldh, o, ldo, N, C), "layernorm (%d, %d): f16 copy = rounded f32", N, C);

  /* in place, f32 only */
  st = lmw_cuda_layernorm (dx, ldi, NULL, 0, dx, ldi, with_wb ? dw : NULL, with_wb ? db : NULL,
                           N, C, 1e-5f, NULL);
  from_dev (x, dx, sizeof (float) * N * ldi);
  e = rel_err (x, ldi, want, C, N, C);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL, "layernorm (%d, %d) in place: rel err %.2e", N, C, e);
  dev_free (dx), dev_free (dw), dev_free (db), dev_free (dout), dev_free (dh);
  free (x), free (w), free (b), free (want), free (ones), free (zeros), free (o), free (h);
}

/* ---- epilogues, gelu, softmax ----------------------------------------------------------- */

static float
gelu_ref (float v)
{
  return 0.5f * v * (1.0f + erff (v * (float) M_SQRT1_2));
}

static void
test_bias_act (int M, int N, unsigned flags, bool broadcast, bool with_bias)
{
  int ldx = broadcast ? 0 : N + 2, ldo = N + 1, ldh = N + 4;
  size_t xn = broadcast ? (size_t) N : (size_t) M * ldx;
  float *x = rand_floats (xn, 2.0f), *bias = rand_floats (N, 1.0f);
  float *o = rand_floats ((size_t) M * ldo, 1.0f);
  for (int r = 0; r < M; r++)
    for (int c = N; c < ldo; c++)
      o[(size_t) r * ldo + c] = SENTINEL;
  float *want = malloc (sizeof (float) * M * N);
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) {
      float v = x[(size_t) r * ldx + c] + (with_bias ? bias[c] : 0.0f);
      if (flags & LMW_CUDA_GELU)
        v = gelu_ref (v);
      if (flags & LMW_CUDA_ACCUMULATE)
        v += o[(size_t) r * ldo + c];
      want[(size_t) r * N + c] = v;
    }
  float *dx = dev_dup (x, sizeof (float) * xn), *db = dev_dup (bias, sizeof (float) * N);
  float *dout = dev_dup (o, sizeof (float) * M * ldo);
  uint16_t *dh = dev_alloc (2 * (size_t) M * ldh);
  uint16_t *h = malloc (2 * (size_t) M * ldh);
  lmw_cuda_status st = lmw_cuda_bias_act (dout, ldo, dh, ldh, dx, ldx, with_bias ? db : NULL, M,
                                          N, flags, NULL);
  from_dev (o, dout, sizeof (float) * M * ldo);
  from_dev (h, dh, 2 * (size_t) M * ldh);
  double e = rel_err (o, ldo, want, N, M, N);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL && padding_untouched (o, ldo, M, N, SENTINEL) &&
             f16_matches (h, ldh, o, ldo, M, N),
           "bias_act (%d, %d) flags %u%s%s: rel err %.2e, f16 copy = rounded f32", M, N, flags,
           broadcast ? " broadcast row" : "", with_bias ? "" : " no bias", e);
  dev_free (dx), dev_free (db), dev_free (dout), dev_free (dh);
  free (x), free (bias), free (o), free (want), free (h);
}

/* out == x: in place, with and without the residual (x + x) */
static void
test_bias_act_in_place (int M, int N, unsigned flags)
{
  int ld = N + 3;
  float *x = rand_floats ((size_t) M * ld, 2.0f), *bias = rand_floats (N, 1.0f);
  float *want = malloc (sizeof (float) * M * N);
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) {
      float v = x[(size_t) r * ld + c] + bias[c];
      if (flags & LMW_CUDA_GELU)
        v = gelu_ref (v);
      if (flags & LMW_CUDA_ACCUMULATE)
        v += x[(size_t) r * ld + c];
      want[(size_t) r * N + c] = v;
    }
  float *dx = dev_dup (x, sizeof (float) * M * ld), *db = dev_dup (bias, sizeof (float) * N);
  lmw_cuda_status st = lmw_cuda_bias_act (dx, ld, NULL, 0, dx, ld, db, M, N, flags, NULL);
  from_dev (x, dx, sizeof (float) * M * ld);
  double e = rel_err (x, ld, want, N, M, N);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL, "bias_act (%d, %d) flags %u in place: rel err %.2e", M,
           N, flags, e);
  TEST_OK (lmw_cuda_bias_act (dx, ld, NULL, 0, dx, 0, db, M, N, flags, NULL) == LMW_CUDA_EINVAL,
           "bias_act in place from a broadcast row is rejected");
  dev_free (dx), dev_free (db);
  free (x), free (bias), free (want);
}

static void
test_gelu (size_t n)
{
  float *x = rand_floats (n, 4.0f);
  float *want = malloc (sizeof (float) * n);
  memcpy (want, x, sizeof (float) * n);
  cpu->gelu (cpu_ctx, want, n);
  float *dx = dev_dup (x, sizeof (float) * n);
  lmw_cuda_status st = lmw_cuda_gelu (dx, n, NULL);
  from_dev (x, dx, sizeof (float) * n);
  double e = rel_err (x, 0, want, 0, 1, (int) n);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL, "gelu n %zu: rel err %.2e", n, e);
  dev_free (dx);
  free (x), free (want);
}

static void
test_softmax (int rows, int cols, int ld, float scale)
{
  float *x = rand_floats ((size_t) rows * ld, 6.0f);
  float *want = malloc (sizeof (float) * rows * cols);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++)
      want[(size_t) r * cols + c] = x[(size_t) r * ld + c] * scale;
  for (int r = 0; r < rows; r++)
    for (int c = cols; c < ld; c++)
      x[(size_t) r * ld + c] = SENTINEL;
  cpu->softmax (cpu_ctx, want, rows, cols);
  float *dx = dev_dup (x, sizeof (float) * rows * ld);
  lmw_cuda_status st = lmw_cuda_softmax (dx, ld, rows, cols, scale, NULL);
  from_dev (x, dx, sizeof (float) * rows * ld);
  double e = rel_err (x, ld, want, cols, rows, cols);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL && padding_untouched (x, ld, rows, cols, SENTINEL),
           "softmax (%d, %d) ld %d scale %g: rel err %.2e", rows, cols, ld, scale, e);
  dev_free (dx);
  free (x), free (want);
}

/* ---- conv stem -------------------------------------------------------------------------- */

/* mel_layout: input (C_in, T_in) as the mel is stored; else (T_in, C_in) as activations are */
static void
test_conv (int T_in, int C_in, int C_out, int stride, lmw_type wt, bool mel_layout)
{
  size_t cs = mel_layout ? (size_t) T_in : 1, ts = mel_layout ? 1 : (size_t) C_in;
  int K = 3 * C_in, T_out = (T_in - 1) / stride + 1, ldo = C_out + 3, ldh = C_out + 1;
  float *x = rand_floats ((size_t) T_in * C_in, 1.0f);
  float *wf = rand_floats ((size_t) C_out * K, 0.3f);
  float *bias = rand_floats (C_out, 0.2f);
  uint16_t *wh = to_f16 (wf, (size_t) C_out * K);
  if (wt == LMW_TYPE_F16)
    round_f16 (wf, (size_t) C_out * K);
  lmw_weight w = {LMW_TYPE_F32, C_out, K, sizeof (float) * K, wf};
  float *want = malloc (sizeof (float) * T_out * C_out);
  cpu->conv1d_k3 (cpu_ctx, want, x, cs, ts, &w, bias, T_in, C_in, stride);
  cpu->gelu (cpu_ctx, want, (size_t) T_out * C_out);

  float *dx = dev_dup (x, sizeof (float) * T_in * C_in);
  void *dw = wt == LMW_TYPE_F16 ? dev_dup (wh, 2 * (size_t) C_out * K)
                                : dev_dup (wf, sizeof (float) * C_out * K);
  float *db = dev_dup (bias, sizeof (float) * C_out);
  float *o = filled ((size_t) T_out * ldo, SENTINEL);
  float *dout = dev_dup (o, sizeof (float) * T_out * ldo);
  uint16_t *dh = dev_alloc (2 * (size_t) T_out * ldh);
  uint16_t *h = malloc (2 * (size_t) T_out * ldh);
  lmw_cuda_status st = lmw_cuda_conv1d_k3 (dout, ldo, dh, ldh, dx, cs, ts, dw, wt, K, db, T_in,
                                           C_in, C_out, stride, LMW_CUDA_GELU, NULL);
  from_dev (o, dout, sizeof (float) * T_out * ldo);
  from_dev (h, dh, 2 * (size_t) T_out * ldh);
  double e = rel_err (o, ldo, want, C_out, T_out, C_out);
  TEST_OK (st == LMW_CUDA_OK && e <= TOL && padding_untouched (o, ldo, T_out, C_out, SENTINEL) &&
             f16_matches (h, ldh, o, ldo, T_out, C_out),
           "conv1d_k3 T %d C_in %d C_out %d stride %d %s %s + gelu: rel err %.2e", T_in, C_in,
           C_out, stride, wt == LMW_TYPE_F16 ? "f16" : "f32", mel_layout ? "(C, T)" : "(T, C)", e);

  /* im2col: exact gather, rounded to f16 */
  int ldc = K + 5;
  uint16_t *dcols = dev_alloc (2 * (size_t) T_out * ldc);
  uint16_t *cols = malloc (2 * (size_t) T_out * ldc);
  st = lmw_cuda_im2col_k3 (dcols, ldc, dx, cs, ts, T_in, C_in, stride, NULL);
  from_dev (cols, dcols, 2 * (size_t) T_out * ldc);
  size_t bad = 0;
  for (int t = 0; t < T_out; t++)
    for (int k = 0; k < K; k++) {
      int c = k / 3, ti = t * stride + k % 3 - 1;
      float v = ti >= 0 && ti < T_in ? x[c * cs + ti * ts] : 0.0f;
      bad += cols[(size_t) t * ldc + k] != lmw_fp32_to_fp16 (v);
    }
  TEST_OK (st == LMW_CUDA_OK && bad == 0, "im2col_k3 T %d C_in %d stride %d: %zu wrong", T_in,
           C_in, stride, bad);
  dev_free (dx), dev_free (dw), dev_free (db), dev_free (dout), dev_free (dh), dev_free (dcols);
  free (x), free (wf), free (bias), free (wh), free (want), free (o), free (h), free (cols);
}

/* ---- attention -------------------------------------------------------------------------- */

/* f16 K/V, heads up to 64 and more than 16 query rows run on tensor cores, with the queries
 * and the probabilities rounded to f16 as well: a few 1e-4 from the f32 reference */
#define TOL_TC 2e-3

static double
attn_tol (lmw_type kv_type, int rows, int D)
{
  return kv_type == LMW_TYPE_F16 && D <= 64 && rows > 16 ? TOL_TC : TOL;
}

static void
test_attention (int B, int Tq, int Tk, int H, int D, int causal_past, lmw_type kv_type)
{
  int HD = H * D, ldq = HD + 3, ldk = HD + (kv_type == LMW_TYPE_F16 ? 8 : 5), ldv = ldk;
  int ldo = HD + 2, ldh = HD + 6;
  size_t q_bs = (size_t) Tq * ldq + 1, kv_bs = (size_t) Tk * ldk + (kv_type == LMW_TYPE_F16 ? 8 : 3);
  size_t o_bs = (size_t) Tq * ldo + 7, h_bs = (size_t) Tq * ldh;
  float *q = rand_floats (B * q_bs, 1.5f);
  float *k = rand_floats (B * kv_bs, 1.5f), *v = rand_floats (B * kv_bs, 1.0f);
  if (kv_type == LMW_TYPE_F16) {
    round_f16 (k, B * kv_bs);
    round_f16 (v, B * kv_bs);
  }
  float *want = malloc (sizeof (float) * Tq * HD * B);
  for (int b = 0; b < B; b++)
    cpu->attention (cpu_ctx, want + (size_t) b * Tq * HD, HD, q + b * q_bs, ldq, k + b * kv_bs,
                    ldk, v + b * kv_bs, ldv, Tq, Tk, H, D, causal_past);
  void *dk, *dv;
  uint16_t *kh = NULL, *vh = NULL;
  if (kv_type == LMW_TYPE_F16) {
    kh = to_f16 (k, B * kv_bs);
    vh = to_f16 (v, B * kv_bs);
    dk = dev_dup (kh, 2 * B * kv_bs);
    dv = dev_dup (vh, 2 * B * kv_bs);
  } else {
    dk = dev_dup (k, sizeof (float) * B * kv_bs);
    dv = dev_dup (v, sizeof (float) * B * kv_bs);
  }
  float *dq = dev_dup (q, sizeof (float) * B * q_bs);
  float *o = filled (B * o_bs, SENTINEL);
  float *dout = dev_dup (o, sizeof (float) * B * o_bs);
  uint16_t *dh = dev_alloc (2 * B * h_bs);
  uint16_t *h = malloc (2 * B * h_bs);
  lmw_cuda_status st =
    lmw_cuda_attention (dout, ldo, o_bs, dh, ldh, h_bs, dq, ldq, q_bs, dk, ldk, dv, ldv, kv_bs,
                        kv_type, B, Tq, Tk, H, D, causal_past, NULL);
  from_dev (o, dout, sizeof (float) * B * o_bs);
  from_dev (h, dh, 2 * B * h_bs);
  double e = 0.0;
  bool pad = true, f16 = true;
  for (int b = 0; b < B; b++) {
    double eb = rel_err (o + b * o_bs, ldo, want + (size_t) b * Tq * HD, HD, Tq, HD);
    e = eb > e ? eb : e;
    pad = pad && padding_untouched (o + b * o_bs, ldo, Tq, HD, SENTINEL);
    f16 = f16 && f16_matches (h + b * h_bs, ldh, o + b * o_bs, ldo, Tq, HD);
  }
  double tol = attn_tol (kv_type, Tq, D);
  TEST_OK (st == LMW_CUDA_OK && e <= tol && pad && f16,
           "attention B %d Tq %d Tk %d H %d D %d causal %d %s: rel err %.2e (<= %.0e)%s%s", B, Tq,
           Tk, H, D, causal_past, kv_type == LMW_TYPE_F16 ? "f16" : "f32", e, tol,
           pad ? "" : ", padding written", f16 ? "" : ", f16 copy differs");
  dev_free (dk), dev_free (dv), dev_free (dq), dev_free (dout), dev_free (dh);
  free (q), free (k), free (v), free (want), free (kh), free (vh), free (o), free (h);
}

static void
test_cross_attention (int R, int nq, int Tk, int H, int D)
{
  int HD = H * D, ldq = HD + 1, ldkv = HD + 8, ldo = HD + 3, ldh = HD + 2;
  size_t rs_kv = (size_t) Tk * ldkv + 16;
  float *q = rand_floats ((size_t) R * nq * ldq, 1.5f);
  float *k = rand_floats (R * rs_kv, 1.5f), *v = rand_floats (R * rs_kv, 1.0f);
  round_f16 (k, R * rs_kv);
  round_f16 (v, R * rs_kv);
  float *want = malloc (sizeof (float) * R * nq * HD);
  for (int r = 0; r < R; r++)
    cpu->attention (cpu_ctx, want + (size_t) r * nq * HD, HD, q + (size_t) r * nq * ldq, ldq,
                    k + r * rs_kv, ldkv, v + r * rs_kv, ldkv, nq, Tk, H, D, -1);
  uint16_t *kh = to_f16 (k, R * rs_kv), *vh = to_f16 (v, R * rs_kv);
  uint16_t *dk = dev_dup (kh, 2 * R * rs_kv), *dv = dev_dup (vh, 2 * R * rs_kv);
  float *dq = dev_dup (q, sizeof (float) * R * nq * ldq);
  float *o = filled ((size_t) R * nq * ldo, SENTINEL);
  float *dout = dev_dup (o, sizeof (float) * R * nq * ldo);
  uint16_t *dh = dev_alloc (2 * (size_t) R * nq * ldh);
  uint16_t *h = malloc (2 * (size_t) R * nq * ldh);
  lmw_cuda_status st = lmw_cuda_cross_attention (dout, ldo, dh, ldh, dq, ldq, dk, dv, ldkv, rs_kv,
                                                 R, nq, Tk, H, D, NULL);
  from_dev (o, dout, sizeof (float) * R * nq * ldo);
  from_dev (h, dh, 2 * (size_t) R * nq * ldh);
  double e = rel_err (o, ldo, want, HD, R * nq, HD), tol = attn_tol (LMW_TYPE_F16, nq, D);
  TEST_OK (st == LMW_CUDA_OK && e <= tol && padding_untouched (o, ldo, R * nq, HD, SENTINEL) &&
             f16_matches (h, ldh, o, ldo, R * nq, HD),
           "cross_attention R %d nq %d Tk %d H %d D %d: rel err %.2e (<= %.0e)", R, nq, Tk, H, D,
           e, tol);
  dev_free (dk), dev_free (dv), dev_free (dq), dev_free (dout), dev_free (dh);
  free (q), free (k), free (v), free (want), free (kh), free (vh), free (o), free (h);
}

/* ---- get_rows --------------------------------------------------------------------------- */

static void
test_get_rows (lmw_type wt)
{
  int rows = 53, cols = 301, ldw = 307, n = 9, ldo = cols + 2;
  float *wf = rand_floats ((size_t) rows * ldw, 1.0f);
  uint16_t *wh = to_f16 (wf, (size_t) rows * ldw);
  int ids[9] = {0, 52, 7, 7, -1, 53, 31, 1, 100000};
  void *dw = wt == LMW_TYPE_F16 ? dev_dup (wh, 2 * (size_t) rows * ldw)
                                : dev_dup (wf, sizeof (float) * rows * ldw);
  int *dids = dev_dup (ids, sizeof ids);
  float *o = filled ((size_t) n * ldo, SENTINEL);
  float *dout = dev_dup (o, sizeof (float) * n * ldo);
  lmw_cuda_status st = lmw_cuda_get_rows (dout, ldo, dw, wt, ldw, rows, dids, n, cols, NULL);
  from_dev (o, dout, sizeof (float) * n * ldo);
  size_t bad = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < cols; c++) {
      bool ok = ids[i] >= 0 && ids[i] < rows;
      float want = !ok ? 0.0f
                   : wt == LMW_TYPE_F16 ? lmw_fp16_to_fp32 (wh[(size_t) ids[i] * ldw + c])
                                        : wf[(size_t) ids[i] * ldw + c];
      bad += o[(size_t) i * ldo + c] != want;
    }
  TEST_OK (st == LMW_CUDA_OK && bad == 0 && padding_untouched (o, ldo, n, cols, SENTINEL),
           "get_rows %s, ids out of range give zeros: %zu wrong",
           wt == LMW_TYPE_F16 ? "f16" : "f32", bad);
  dev_free (dw), dev_free (dids), dev_free (dout);
  free (wf), free (wh), free (o);
}

/* ---- argmax / top-k --------------------------------------------------------------------- */

static const float *sort_row;

static int
cmp_rank (const void *a, const void *b)
{
  int i = *(const int *) a, j = *(const int *) b;
  float x = sort_row[i], y = sort_row[j];
  bool xn = isnan (x), yn = isnan (y);
  if (xn != yn)
    return xn ? 1 : -1;
  if (!xn && x != y)
    return x > y ? -1 : 1;
  return i - j;
}

static void
test_topk (int rows, int cols, int k)
{
  int ld = cols + 3;
  float *x = rand_floats ((size_t) rows * ld, 8.0f);
  for (int r = 0; r < rows; r++) {
    float *row = x + (size_t) r * ld;
    for (int c = 0; c < cols; c += 7)
      row[c] = (float) (int) row[c]; /* many ties */
    row[cols / 2] = NAN;
    if (r == 1)
      for (int c = 0; c < cols; c++)
        row[c] = c % 3 ? -INFINITY : 2.0f; /* ties at the top */
    if (r == 2)
      row[cols - 1] = 1e30f; /* the last column wins */
  }
  float *dx = dev_dup (x, sizeof (float) * rows * ld);
  int *didx = dev_alloc (sizeof (int) * rows * k);
  float *dval = dev_alloc (sizeof (float) * rows * k), *dlse = dev_alloc (sizeof (float) * rows);
  int *idx = malloc (sizeof (int) * rows * k);
  float *val = malloc (sizeof (float) * rows * k), *lse = malloc (sizeof (float) * rows);
  lmw_cuda_status st = k == 1 ? lmw_cuda_argmax (didx, dval, dlse, dx, ld, rows, cols, NULL)
                              : lmw_cuda_topk (didx, dval, dlse, dx, ld, rows, cols, k, NULL);
  from_dev (idx, didx, sizeof (int) * rows * k);
  from_dev (val, dval, sizeof (float) * rows * k);
  from_dev (lse, dlse, sizeof (float) * rows);
  int *order = malloc (sizeof (int) * cols);
  size_t bad = 0;
  double lse_err = 0.0;
  for (int r = 0; r < rows; r++) {
    const float *row = x + (size_t) r * ld;
    for (int c = 0; c < cols; c++)
      order[c] = c;
    sort_row = row;
    qsort (order, cols, sizeof (int), cmp_rank);
    for (int i = 0; i < k; i++)
      bad += idx[(size_t) r * k + i] != order[i] || val[(size_t) r * k + i] != row[order[i]];
  }
  TEST_OK (st == LMW_CUDA_OK && bad == 0, "%s rows %d cols %d k %d (ties, NaN, -inf): %zu wrong",
           k == 1 ? "argmax" : "topk", rows, cols, k, bad);

  /* log-sum-exp on rows without NaN */
  for (int r = 0; r < rows; r++)
    x[(size_t) r * ld + cols / 2] = 0.5f;
  to_dev (dx, x, sizeof (float) * rows * ld);
  st = lmw_cuda_topk (didx, NULL, dlse, dx, ld, rows, cols, k, NULL);
  from_dev (lse, dlse, sizeof (float) * rows);
  for (int r = 0; r < rows; r++) {
    const float *row = x + (size_t) r * ld;
    double m = -INFINITY, s = 0.0;
    for (int c = 0; c < cols; c++)
      m = row[c] > m ? row[c] : m;
    for (int c = 0; c < cols; c++)
      s += exp ((double) row[c] - m);
    double want = m + log (s), d = fabs (lse[r] - want) / fmax (1.0, fabs (want));
    lse_err = d > lse_err ? d : lse_err;
  }
  TEST_OK (st == LMW_CUDA_OK && lse_err <= TOL, "log-sum-exp rows %d cols %d: rel err %.2e", rows,
           cols, lse_err);
  dev_free (dx), dev_free (didx), dev_free (dval), dev_free (dlse);
  free (x), free (idx), free (val), free (lse), free (order);
}

/* ---- argument checks -------------------------------------------------------------------- */

static void
test_bad_arguments (void)
{
  float *o = filled (64, SENTINEL);
  float *d = dev_dup (o, sizeof (float) * 64);
  uint16_t *dh = dev_alloc (128);
  TEST_OK (lmw_cuda_layernorm (d, 4, NULL, 0, d, 8, NULL, NULL, 2, 8, 1e-5f, NULL) ==
             LMW_CUDA_EINVAL,
           "layernorm: an output stride below C is rejected");
  TEST_OK (lmw_cuda_bias_act (NULL, 0, dh, 8, d, 8, NULL, 2, 8, LMW_CUDA_ACCUMULATE, NULL) ==
             LMW_CUDA_EINVAL,
           "bias_act: accumulate without an f32 output is rejected");
  TEST_OK (lmw_cuda_attention (d, 8, 0, NULL, 0, 0, d, 8, 0, d, 8, d, 8, 0, LMW_TYPE_F32, 1, 1, 1,
                               1, 256, -1, NULL) == LMW_CUDA_EINVAL,
           "attention: a head size above LMW_CUDA_ATTN_D_MAX is rejected");
  TEST_OK (lmw_cuda_attention (d, 8, 0, NULL, 0, 0, d, 8, 0, d, 8, d, 8, 0, LMW_TYPE_Q8_0, 1, 1, 1,
                               1, 8, -1, NULL) == LMW_CUDA_EINVAL,
           "attention: quantised K/V are rejected");
  TEST_OK (lmw_cuda_cross_attention (d, 12, NULL, 0, d, 12, dh + 1, dh, 16, 64, 1, 1, 2, 1, 12,
                                     NULL) == LMW_CUDA_EINVAL,
           "cross_attention: K/V unfit for 16-byte loads are rejected");
  TEST_OK (lmw_cuda_topk ((int *) d, NULL, NULL, d, 8, 1, 8, 9, NULL) == LMW_CUDA_EINVAL &&
             lmw_cuda_topk ((int *) d, NULL, NULL, d, 80, 1, 80, 65, NULL) == LMW_CUDA_EINVAL,
           "topk: k above cols or LMW_CUDA_TOPK_MAX is rejected");
  TEST_OK (lmw_cuda_conv1d_k3 (d, 8, NULL, 0, d, 1, 1, d, LMW_TYPE_F32, 3, NULL, 4, 1, 1, 3, 0,
                               NULL) == LMW_CUDA_EINVAL,
           "conv1d_k3: stride 3 is rejected");
  TEST_OK (strlen (lmw_cuda_last_error ()) > 0, "the last error is described: %s",
           lmw_cuda_last_error ());
  from_dev (o, d, sizeof (float) * 64);
  bool untouched = true;
  for (int i = 0; i < 64; i++)
    untouched = untouched && o[i] == SENTINEL;
  TEST_OK (untouched, "rejected launches wrote nothing");
  TEST_OK (lmw_cuda_softmax (d, 8, 0, 8, 1.0f, NULL) == LMW_CUDA_OK &&
             lmw_cuda_attention (d, 8, 0, NULL, 0, 0, d, 8, 0, d, 8, d, 8, 0, LMW_TYPE_F32, 0, 1,
                                 1, 1, 8, -1, NULL) == LMW_CUDA_OK,
           "zero rows or batches launch nothing and succeed");
  dev_free (d), dev_free (dh);
  free (o);
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

  test_convert ();

  test_layernorm_shape (1, 1, 1, true);
  test_layernorm_shape (37, 83, 91, true);
  test_layernorm_shape (6, 384, 384, false);
  test_layernorm_shape (3, 1280, 1281, true);

  for (unsigned flags = 0; flags < 4; flags++)
    test_bias_act (29, 71, flags, false, true);
  test_bias_act (5, 384, LMW_CUDA_ACCUMULATE, true, false);
  test_bias_act (1, 1, LMW_CUDA_GELU, false, true);
  test_bias_act_in_place (13, 57, LMW_CUDA_ACCUMULATE);
  test_bias_act_in_place (7, 33, LMW_CUDA_GELU);

  test_gelu (1);
  test_gelu (1000);
  test_softmax (7, 333, 340, 0.37f);
  test_softmax (3, 1, 1, 1.0f);
  test_softmax (2, 1500, 1500, -1.0f);

  test_conv (47, 13, 37, 1, LMW_TYPE_F16, true);
  test_conv (47, 13, 37, 2, LMW_TYPE_F32, false);
  test_conv (1, 5, 3, 2, LMW_TYPE_F16, false);
  test_conv (64, 40, 33, 2, LMW_TYPE_F16, false);

  test_attention (1, 1, 1, 1, 64, -1, LMW_TYPE_F32);
  test_attention (2, 19, 37, 3, 64, -1, LMW_TYPE_F32);
  test_attention (1, 70, 70, 2, 64, -1, LMW_TYPE_F16);
  test_attention (2, 7, 12, 2, 64, 5, LMW_TYPE_F16);
  test_attention (3, 1, 9, 2, 64, 8, LMW_TYPE_F32);
  test_attention (1, 33, 33, 1, 64, 0, LMW_TYPE_F32);
  test_attention (1, 5, 130, 2, 40, -1, LMW_TYPE_F16);
  test_attention (2, 17, 45, 2, 96, 28, LMW_TYPE_F16);
  test_attention (1, 3, 3, 3, 1, -1, LMW_TYPE_F32);
  /* few rows (the per-warp split kernel) against many keys, at and past its row limit */
  test_attention (2, 3, 700, 2, 64, 600, LMW_TYPE_F16);
  test_attention (1, 16, 1500, 2, 32, -1, LMW_TYPE_F32);
  test_attention (1, 17, 300, 1, 64, -1, LMW_TYPE_F32);
  test_attention (2, 8, 300, 2, 128, -1, LMW_TYPE_F16);
  test_attention (1, 9, 50, 1, 100, 20, LMW_TYPE_F32);
  test_attention (5, 1, 225, 2, 64, 224, LMW_TYPE_F16);
  /* tensor cores: several 64-row blocks, keys not a multiple of 32, causal, padded heads
   * (32, and 36 without 16-byte loads), batches */
  test_attention (2, 150, 97, 2, 64, -1, LMW_TYPE_F16);
  test_attention (1, 100, 130, 2, 64, 30, LMW_TYPE_F16);
  test_attention (1, 80, 1500, 2, 32, -1, LMW_TYPE_F16);
  test_attention (2, 33, 41, 3, 36, 8, LMW_TYPE_F16);
  test_attention (1, 17, 1, 1, 64, -1, LMW_TYPE_F16);

  test_cross_attention (3, 5, 45, 2, 64);
  test_cross_attention (2, 21, 67, 3, 64);
  test_cross_attention (1, 1, 1, 1, 8);
  test_cross_attention (2, 4, 33, 1, 128);
  test_cross_attention (1, 5, 1500, 2, 64);
  test_cross_attention (2, 16, 333, 2, 64);
  test_cross_attention (1, 9, 200, 1, 128);

  test_get_rows (LMW_TYPE_F16);
  test_get_rows (LMW_TYPE_F32);

  test_topk (5, 1031, 1);
  test_topk (4, 517, 5);
  test_topk (3, 300, 64);
  test_topk (3, 8, 7);

  test_bad_arguments ();

  cpu->destroy (cpu_ctx);
  return test_done ();
}
