/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-backend.c — the CPU backend's operations against naive double-precision loops,
 * with the AVX2 kernels and with the portable ones, 1 and 2 threads.
 *
 * Asserts (TAP), relative to the max |value| of the naive result:
 *   - matmul for f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1 weights, for M in {1, 3, 5, 7, 13, 64}
 *     and odd N (tails of the 6x16 tile), with and without bias: <= 1e-5;
 *   - the quantised row formats decode as documented (round trip of known blocks);
 *   - attention, plain and causal with a past offset, several heads, and over the longest key
 *     sequence the loader allows (LMW_BACKEND_MAX_KEYS): <= 1e-5;
 *   - layernorm, softmax, gelu (against erf): <= 1e-5;
 *   - conv1d (kernel 3, stride 1 and 2, both input layouts): <= 1e-5;
 *   - f16 conversion round trips every half value.
 */
#include "lmw-backend.h"
#include "lmw-cpu-int8.h"
#include "lmw-cpu.h"
#include "lmw-test.h"
#define LMW_TEST_SEED 88172645463325252ull
#include "lmw-test-random.h"

#include <stdint.h>

/* quantises a row of K floats (multiple of 32) into `type` */
static void
quantize_row (uint8_t *dst, lmw_type type, const float *x, int K)
{
  for (int b = 0; b < K / 32; b++) {
    const float *v = x + b * 32;
    float amax = 0, vmin = v[0], vmax = v[0];
    for (int j = 0; j < 32; j++) {
      amax = fabsf (v[j]) > amax ? fabsf (v[j]) : amax;
      vmin = v[j] < vmin ? v[j] : vmin;
      vmax = v[j] > vmax ? v[j] : vmax;
    }
    uint16_t h;
    switch (type) {
    case LMW_TYPE_Q8_0: {
      float d = amax / 127;
      h = lmw_fp32_to_fp16 (d);
      memcpy (dst, &h, 2);
      for (int j = 0; j < 32; j++)
        dst[2 + j] = (uint8_t) (int8_t) lrintf (d ? v[j] / d : 0);
      dst += 34;
      break;
    }
    case LMW_TYPE_Q4_0: {
      float d = amax / 7;
      h = lmw_fp32_to_fp16 (d);
      memcpy (dst, &h, 2);
      for (int j = 0; j < 16; j++) {
        int lo = (int) lrintf (d ? v[j] / d : 0) + 8, hi = (int) lrintf (d ? v[j + 16] / d : 0) + 8;
        lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
        hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
        dst[2 + j] = (uint8_t) (lo | hi << 4);
      }
      dst += 18;
      break;
    }
    case LMW_TYPE_Q4_1:
    case LMW_TYPE_Q5_1: {
      int levels = type == LMW_TYPE_Q4_1 ? 15 : 31;
      float d = (vmax - vmin) / levels;
      uint16_t hd = lmw_fp32_to_fp16 (d), hm = lmw_fp32_to_fp16 (vmin);
      memcpy (dst, &hd, 2);
      memcpy (dst + 2, &hm, 2);
      uint32_t qh = 0;
      uint8_t *qs = dst + (type == LMW_TYPE_Q4_1 ? 4 : 8);
      for (int j = 0; j < 16; j++) {
        int lo = (int) lrintf (d ? (v[j] - vmin) / d : 0), hi = (int) lrintf (d ? (v[j + 16] - vmin) / d : 0);
        lo = lo < 0 ? 0 : lo > levels ? levels : lo;
        hi = hi < 0 ? 0 : hi > levels ? levels : hi;
        qs[j] = (uint8_t) ((lo & 15) | (hi & 15) << 4);
        qh |= (uint32_t) ((lo >> 4) & 1) << j | (uint32_t) ((hi >> 4) & 1) << (j + 16);
      }
      if (type == LMW_TYPE_Q5_1)
        memcpy (dst + 4, &qh, 4);
      dst += type == LMW_TYPE_Q4_1 ? 20 : 24;
      break;
    }
    case LMW_TYPE_Q5_0: {
      float d = amax / 15;
      h = lmw_fp32_to_fp16 (d);
      memcpy (dst, &h, 2);
      uint32_t qh = 0;
      for (int j = 0; j < 16; j++) {
        int lo = (int) lrintf (d ? v[j] / d : 0) + 16, hi = (int) lrintf (d ? v[j + 16] / d : 0) + 16;
        lo = lo < 0 ? 0 : lo > 31 ? 31 : lo;
        hi = hi < 0 ? 0 : hi > 31 ? 31 : hi;
        dst[6 + j] = (uint8_t) ((lo & 15) | (hi & 15) << 4);
        qh |= (uint32_t) ((lo >> 4) & 1) << j | (uint32_t) ((hi >> 4) & 1) << (j + 16);
      }
      memcpy (dst + 2, &qh, 4);
      dst += 22;
      break;
    }
    default:
      break;
    }
  }
}

static void
make_weight (lmw_weight *w, uint8_t **storage, float *deq, lmw_type type, int N, int K)
{
  w->type = type;
  w->rows = N;
  w->cols = K;
  w->row_bytes = lmw_type_row_bytes (type, K);
  *storage = malloc (w->row_bytes * (size_t) N);
  float *row = malloc (sizeof (float) * K);
  for (int n = 0; n < N; n++) {
    for (int k = 0; k < K; k++)
      row[k] = frand ();
    uint8_t *dst = *storage + w->row_bytes * (size_t) n;
    if (type == LMW_TYPE_F32)
      memcpy (dst, row, sizeof (float) * K);
    else if (type == LMW_TYPE_F16)
      for (int k = 0; k < K; k++) {
        uint16_t h = lmw_fp32_to_fp16 (row[k]);
        memcpy (dst + 2 * k, &h, 2);
      }
    else
      quantize_row (dst, type, row, K);
    lmw_dequantize_row (deq + (size_t) n * K, type, dst, 0, K);
    if (type == LMW_TYPE_F32 || type == LMW_TYPE_F16 || type == LMW_TYPE_Q8_0 ||
        type == LMW_TYPE_Q5_1 || type == LMW_TYPE_Q5_0) {
      /* sanity of the decoder: dequantised values stay close to the originals */
      for (int k = 0; k < K; k++)
        if (fabsf (deq[(size_t) n * K + k] - row[k]) > 0.1f) {
          TEST_DIAG ("dequantisation off for %s: %g vs %g", lmw_type_name (type),
                     deq[(size_t) n * K + k], row[k]);
          break;
        }
    }
  }
  w->data = *storage;
  free (row);
}

static double
check_matmul (const lmw_backend_ops *ops, void *ctx, lmw_type type, int M, int N, int K, bool bias)
{
  lmw_weight w;
  uint8_t *storage;
  float *deq = malloc (sizeof (float) * N * K), *A = malloc (sizeof (float) * M * K);
  float *b = malloc (sizeof (float) * N), *C = malloc (sizeof (float) * M * N), *R = malloc (sizeof (float) * M * N);
  make_weight (&w, &storage, deq, type, N, K);
  for (int i = 0; i < M * K; i++)
    A[i] = frand ();
  for (int i = 0; i < N; i++)
    b[i] = frand ();
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = bias ? b[n] : 0;
      for (int k = 0; k < K; k++)
        s += (double) A[m * K + k] * deq[(size_t) n * K + k];
      R[m * N + n] = (float) s;
    }
  ops->matmul (ctx, C, N, A, K, &w, bias ? b : NULL, M);
  err_stats e = compare (C, R, (size_t) M * N);
  free (storage);
  free (deq);
  free (A);
  free (b);
  free (C);
  free (R);
  return e.rel;
}

static double
check_attention (const lmw_backend_ops *ops, void *ctx, int Tq, int Tk, int H, int D, int past)
{
  int C = H * D;
  float *q = malloc (sizeof (float) * Tq * C), *k = malloc (sizeof (float) * Tk * C);
  float *v = malloc (sizeof (float) * Tk * C), *o = malloc (sizeof (float) * Tq * C);
  float *r = malloc (sizeof (float) * Tq * C);
  double *s = malloc (sizeof (double) * Tk);
  for (int i = 0; i < Tq * C; i++)
    q[i] = frand () * 2;
  for (int i = 0; i < Tk * C; i++) {
    k[i] = frand () * 2;
    v[i] = frand ();
  }
  for (int h = 0; h < H; h++)
    for (int i = 0; i < Tq; i++) {
      int vis = past >= 0 && past + i + 1 < Tk ? past + i + 1 : Tk;
      double max = -1e300, sum = 0;
      for (int t = 0; t < vis; t++) {
        double d = 0;
        for (int e = 0; e < D; e++)
          d += (double) q[i * C + h * D + e] * k[t * C + h * D + e];
        s[t] = d / sqrt (D);
        max = s[t] > max ? s[t] : max;
      }
      for (int t = 0; t < vis; t++)
        sum += (s[t] = exp (s[t] - max));
      for (int e = 0; e < D; e++) {
        double acc = 0;
        for (int t = 0; t < vis; t++)
          acc += s[t] / sum * v[t * C + h * D + e];
        r[i * C + h * D + e] = (float) acc;
      }
    }
  ops->attention (ctx, o, C, q, C, k, C, v, C, Tq, Tk, H, D, past);
  err_stats e = compare (o, r, (size_t) Tq * C);
  free (q);
  free (k);
  free (v);
  free (o);
  free (r);
  free (s);
  return e.rel;
}

static void
run_suite (const char *label, int threads)
{
  const lmw_backend_ops *ops = lmw_backend_cpu ();
  char msg[128];
  void *ctx = ops->create (threads, msg, sizeof msg);
  TEST_OK (ctx != NULL, "[%s, %d threads] backend created (kernels %s)", label, threads,
           lmw_cpu_kernels_get ()->name);
  static const lmw_type types[] = { LMW_TYPE_F32, LMW_TYPE_F16, LMW_TYPE_Q8_0, LMW_TYPE_Q4_0,
                                    LMW_TYPE_Q4_1, LMW_TYPE_Q5_0, LMW_TYPE_Q5_1 };
  static const int Ms[] = { 1, 3, 5, 7, 13, 64 };
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    double worst = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++) {
      double r1 = check_matmul (ops, ctx, types[t], Ms[i], 37, 96, true);
      double r2 = check_matmul (ops, ctx, types[t], Ms[i], 50, 288, false);
      worst = fmax (worst, fmax (r1, r2));
    }
    TEST_OK (worst <= 1e-5, "[%s] matmul %s: worst rel err %.3g", label, lmw_type_name (types[t]), worst);
  }
  double a1 = check_attention (ops, ctx, 70, 70, 3, 16, -1);
  double a2 = check_attention (ops, ctx, 5, 12, 2, 24, 7);
  double a3 = check_attention (ops, ctx, 1, 300, 4, 8, -1);
  double a4 = check_attention (ops, ctx, 9, 9, 2, 32, 0);
  TEST_OK (fmax (fmax (a1, a2), fmax (a3, a4)) <= 1e-5,
           "[%s] attention (plain, causal with past, single query): rel %.3g %.3g %.3g %.3g", label,
           a1, a2, a3, a4);
  /* the longest key sequence the model loader lets through, one query and a block of them */
  double m1 = check_attention (ops, ctx, 1, LMW_BACKEND_MAX_KEYS, 2, 8, -1);
  double m2 = check_attention (ops, ctx, 70, LMW_BACKEND_MAX_KEYS, 1, 8, -1);
  TEST_OK (fmax (m1, m2) <= 1e-5, "[%s] attention over LMW_BACKEND_MAX_KEYS = %d keys: rel %.3g %.3g",
           label, LMW_BACKEND_MAX_KEYS, m1, m2);

  /* layernorm, softmax, gelu */
  int N = 5, Cc = 77;
  float *x = malloc (sizeof (float) * N * Cc), *y = malloc (sizeof (float) * N * Cc);
  float *r = malloc (sizeof (float) * N * Cc), *g = malloc (sizeof (float) * Cc), *b = malloc (sizeof (float) * Cc);
  for (int i = 0; i < N * Cc; i++)
    x[i] = frand () * 3 + 0.5f;
  for (int i = 0; i < Cc; i++) {
    g[i] = frand ();
    b[i] = frand ();
  }
  for (int n = 0; n < N; n++) {
    double mean = 0, var = 0;
    for (int c = 0; c < Cc; c++)
      mean += x[n * Cc + c];
    mean /= Cc;
    for (int c = 0; c < Cc; c++)
      var += (x[n * Cc + c] - mean) * (x[n * Cc + c] - mean);
    var /= Cc;
    for (int c = 0; c < Cc; c++)
      r[n * Cc + c] = (float) ((x[n * Cc + c] - mean) / sqrt (var + 1e-5) * g[c] + b[c]);
  }
  ops->layernorm (ctx, y, x, g, b, N, Cc, 1e-5f);
  TEST_OK (compare (y, r, (size_t) N * Cc).rel <= 1e-5, "[%s] layernorm", label);
  for (int n = 0; n < N; n++) {
    double max = -1e300, sum = 0;
    for (int c = 0; c < Cc; c++)
      max = fmax (max, x[n * Cc + c]);
    for (int c = 0; c < Cc; c++)
      sum += exp (x[n * Cc + c] - max);
    for (int c = 0; c < Cc; c++)
      r[n * Cc + c] = (float) (exp (x[n * Cc + c] - max) / sum);
  }
  memcpy (y, x, sizeof (float) * N * Cc);
  ops->softmax (ctx, y, N, Cc);
  TEST_OK (compare (y, r, (size_t) N * Cc).rel <= 1e-5, "[%s] softmax", label);
  size_t ng = 100003;
  float *gx = malloc (sizeof (float) * ng), *gr = malloc (sizeof (float) * ng);
  for (size_t i = 0; i < ng; i++) {
    gx[i] = (float) ((double) i / ng * 20 - 10);
    gr[i] = (float) (0.5 * gx[i] * (1 + erf (gx[i] / sqrt (2.0))));
  }
  ops->gelu (ctx, gx, ng);
  err_stats ge = compare (gx, gr, ng);
  TEST_OK (ge.max_abs <= 2e-6 * 10, "[%s] gelu on [-10, 10]: max abs err %.3g", label, ge.max_abs);

  /* conv1d k3: input (C_in, T) channel-major and (T, C_in) time-major */
  int Ci = 5, Co = 19, T = 23;
  lmw_weight w;
  uint8_t *st;
  float *wd = malloc (sizeof (float) * Co * Ci * 3);
  make_weight (&w, &st, wd, LMW_TYPE_F16, Co, Ci * 3);
  float *in = malloc (sizeof (float) * Ci * T), *inT = malloc (sizeof (float) * Ci * T);
  float *out = malloc (sizeof (float) * T * Co), *ref = malloc (sizeof (float) * T * Co);
  for (int c = 0; c < Ci; c++)
    for (int t = 0; t < T; t++)
      inT[t * Ci + c] = in[c * T + t] = frand ();
  for (int stride = 1; stride <= 2; stride++) {
    int To = (T - 1) / stride + 1;
    for (int t = 0; t < To; t++)
      for (int o = 0; o < Co; o++) {
        double s = b[o % Cc];
        for (int c = 0; c < Ci; c++)
          for (int k = 0; k < 3; k++) {
            int ti = t * stride + k - 1;
            if (ti >= 0 && ti < T)
              s += (double) wd[(o * Ci + c) * 3 + k] * in[c * T + ti];
          }
        ref[t * Co + o] = (float) s;
      }
    float *bias = malloc (sizeof (float) * Co);
    for (int o = 0; o < Co; o++)
      bias[o] = b[o % Cc];
    ops->conv1d_k3 (ctx, out, in, (size_t) T, 1, &w, bias, T, Ci, stride);
    double e1 = compare (out, ref, (size_t) To * Co).rel;
    ops->conv1d_k3 (ctx, out, inT, 1, (size_t) Ci, &w, bias, T, Ci, stride);
    double e2 = compare (out, ref, (size_t) To * Co).rel;
    TEST_OK (e1 <= 1e-5 && e2 <= 1e-5, "[%s] conv1d stride %d: rel %.3g / %.3g", label, stride, e1, e2);
    free (bias);
  }
  free (st);
  free (wd);
  free (in);
  free (inT);
  free (out);
  free (ref);
  free (gx);
  free (gr);
  free (x);
  free (y);
  free (r);
  free (g);
  free (b);
  ops->destroy (ctx);
}

int
main (void)
{
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    if (((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff))
      continue; /* NaN payloads */
    if (lmw_fp32_to_fp16 (lmw_fp16_to_fp32 ((uint16_t) h)) != h)
      bad++;
  }
  TEST_OK (bad == 0, "f16 -> f32 -> f16 round trip of every non-NaN half (%d wrong)", bad);
  /* the f32 path, the reference (the integer products are checked against it in
   * test-whisper-int8.c) */
  lmw_cpu_int8_force ("off");
  run_suite ("native", 1);
  run_suite ("native", 2);
  lmw_cpu_kernels_force_generic (true);
  run_suite ("portable", 2);
  lmw_cpu_kernels_force_generic (false);
  return test_done ();
}
