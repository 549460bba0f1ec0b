/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-cross-f16.c — the CPU backend's cross-attention on f16 keys and values
 * (backends/cpu/lmw-cpu-cross.c, contract version 4), which the engine uses for quantised
 * models, for every f32 kernel set this machine can run plus the portable one, 1 and 2 threads.
 *
 * Asserts (TAP):
 *   - to_f16 gives lmw_fp32_to_fp16's bits for random values of every magnitude, subnormal
 *     halves, zeros of both signs, the largest finite half and values that overflow it;
 *   - cross_attention of 1, 5 and 8 query rows (a range of heads per thread) and of 9 and 19 rows (the f32
 *     attention on converted copies) against 1500, 37 and 1 keys, K/V rows wider than H * D,
 *     matches the backend's own attention on the same K/V rounded to f16: worst difference
 *     relative to the largest |value| <= 1e-5 (only the f32 summation order differs);
 *   - lmw_cpu_cross_heads (a range of heads in one pass over K and V, what each thread runs),
 *     called for the first and the second half of the heads, gives the bits of
 *     lmw_cpu_cross_head run head by head, for every shape of up to 8 rows.
 */
#include "lmw-backend.h"
#include "lmw-cpu-cross.h"
#include "lmw-cpu.h"
#include "lmw-test.h"
#include "lmw-test-random.h"

#include <stdint.h>

static void
check_to_f16 (const lmw_backend_ops *ops, void *ctx, const char *set, int threads)
{
  size_t n = 3 * (1u << 20) + 13; /* large enough for the threaded split, odd tail */
  float *x = malloc (sizeof (float) * n);
  uint16_t *got = malloc (sizeof (uint16_t) * n);
  for (size_t i = 0; i < n; i++) /* magnitudes from 2^-30 to 2^18 */
    x[i] = frand_lcg () * ldexpf (1.0f, (int) (i % 49) - 30);
  static const float special[] = { 0.0f, -0.0f, 65504.0f, -65504.0f, 65519.0f, 65520.0f,
                                   1e6f, -1e6f, 5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f,
                                   6.097555e-05f, 6.1035156e-05f, -3.0517578e-05f };
  memcpy (x, special, sizeof special);
  ops->to_f16 (ctx, got, x, n);
  size_t bad = 0, first = n;
  for (size_t i = 0; i < n; i++)
    if (got[i] != lmw_fp32_to_fp16 (x[i]) && bad++ == 0)
      first = i;
  TEST_OK (bad == 0, "[%s, %d threads] to_f16 of %zu values: lmw_fp32_to_fp16's bits (%zu "
           "differ, the first at %.9g)", set, threads, n, bad, bad ? x[first] : 0.0);
  free (x);
  free (got);
}

static void
check_cross (const lmw_backend_ops *ops, void *ctx, const char *set, int threads, int Tq, int Tk,
             int H, int D, int ldkv)
{
  int C = H * D, ldo = C + 3;
  size_t nkv = (size_t) Tk * ldkv;
  float *q = malloc (sizeof (float) * (size_t) Tq * C);
  float *k = ops->alloc (ctx, sizeof (float) * nkv), *v = ops->alloc (ctx, sizeof (float) * nkv);
  uint16_t *kh = ops->alloc (ctx, sizeof (uint16_t) * nkv);
  uint16_t *vh = ops->alloc (ctx, sizeof (uint16_t) * nkv);
  float *want = calloc ((size_t) Tq * ldo, sizeof (float));
  float *got = calloc ((size_t) Tq * ldo, sizeof (float));
  for (size_t i = 0; i < (size_t) Tq * C; i++)
    q[i] = 2.0f * frand_lcg ();
  for (size_t i = 0; i < nkv; i++) { /* the reference reads the K/V rounded to f16 */
    k[i] = lmw_fp16_to_fp32 (lmw_fp32_to_fp16 (2.0f * frand_lcg ()));
    v[i] = lmw_fp16_to_fp32 (lmw_fp32_to_fp16 (frand_lcg ()));
  }
  ops->to_f16 (ctx, kh, k, nkv);
  ops->to_f16 (ctx, vh, v, nkv);
  ops->attention (ctx, want, ldo, q, C, k, ldkv, v, ldkv, Tq, Tk, H, D, -1);
  ops->cross_attention (ctx, got, ldo, q, C, kh, vh, ldkv, Tq, Tk, H, D);
  double worst = 0, mag = 0;
  for (int r = 0; r < Tq; r++)
    for (int c = 0; c < C; c++) {
      double w = want[(size_t) r * ldo + c], g = got[(size_t) r * ldo + c];
      double d = isnan (g) ? INFINITY : fabs (g - w);
      if (d > worst)
        worst = d;
      if (fabs (w) > mag)
        mag = fabs (w);
    }
  double rel = mag > 0 ? worst / mag : INFINITY;
  TEST_OK (rel <= 1e-5, "[%s, %d threads] cross_attention on f16 K/V, %d queries, %d keys, %d "
           "heads of %d, row stride %d: worst difference / max |value| %.3g", set, threads, Tq,
           Tk, H, D, ldkv, rel);
  if (Tq <= LMW_CPU_CROSS_MAX_Q && threads == 1) {
    /* the one-pass form against the per-head one, on this kernel set */
    lmw_cpu_kernels_force (set);
    const lmw_cpu_kernels *kern = lmw_cpu_kernels_get ();
    lmw_cpu_kernels_force (NULL);
    size_t n1 = lmw_cpu_cross_scratch_floats (Tq, Tk, D);
    size_t nall = lmw_cpu_cross_heads_scratch_floats (Tq, Tk, H, D);
    float *scratch = calloc (nall > n1 ? nall : n1, sizeof (float));
    float *one = calloc ((size_t) Tq * ldo, sizeof (float));
    float *all = calloc ((size_t) Tq * ldo, sizeof (float));
    for (int h = 0; h < H; h++)
      lmw_cpu_cross_head (kern, one, ldo, q, C, kh, vh, ldkv, Tq, Tk, h, D, scratch);
    lmw_cpu_cross_heads (kern, all, ldo, q, C, kh, vh, ldkv, Tq, Tk, 0, H / 2, D, scratch);
    lmw_cpu_cross_heads (kern, all, ldo, q, C, kh, vh, ldkv, Tq, Tk, H / 2, H, D, scratch);
    size_t differ = 0;
    for (size_t i = 0; i < (size_t) Tq * ldo; i++)
      differ += memcmp (&one[i], &all[i], sizeof (float)) != 0;
    TEST_OK (differ == 0, "[%s] lmw_cpu_cross_heads, %d queries, %d keys, %d heads of %d, row "
             "stride %d: the bits of lmw_cpu_cross_head per head (%zu of %d values differ)", set,
             Tq, Tk, H, D, ldkv, differ, Tq * ldo);
    free (scratch);
    free (one);
    free (all);
  }
  free (q);
  free (want);
  free (got);
  ops->free (ctx, k);
  ops->free (ctx, v);
  ops->free (ctx, kh);
  ops->free (ctx, vh);
}

static void
run_set (const char *set, int threads)
{
  if (!lmw_cpu_kernels_force (set)) {
    printf ("ok %d - # SKIP kernel set %s: not supported by this CPU\n", ++lmw_test_n, set);
    return;
  }
  const lmw_backend_ops *ops = lmw_backend_cpu ();
  char msg[160];
  void *ctx = ops->create (threads, msg, sizeof msg);
  lmw_cpu_kernels_force (NULL);
  TEST_OK (ctx != NULL && ops->to_f16 != NULL && ops->cross_attention != NULL,
           "[%s, %d threads] backend created with to_f16 and cross_attention: %s", set, threads,
           ctx ? ops->device_name (ctx) : msg);
  if (ctx == NULL || ops->to_f16 == NULL || ops->cross_attention == NULL)
    return;
  check_to_f16 (ops, ctx, set, threads);
  static const int shapes[][5] = {
    /* Tq, Tk, H, D, ldkv */
    { 1, 1500, 8, 64, 512 }, { 5, 1500, 8, 64, 520 }, { 8, 1500, 6, 64, 384 },
    { 9, 1500, 8, 64, 512 }, { 19, 37, 2, 32, 72 }, { 1, 37, 2, 32, 64 }, { 3, 1, 4, 16, 64 },
    { 2, 129, 12, 64, 768 },
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    check_cross (ops, ctx, set, threads, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3],
                 shapes[i][4]);
  ops->destroy (ctx);
}

int
main (void)
{
  static const char *sets[] = { "generic", "avx2", "avx512" };
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    run_set (sets[i], 1);
    run_set (sets[i], 2);
  }
  return test_done ();
}
