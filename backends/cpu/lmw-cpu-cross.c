/* SPDX-License-Identifier: MIT */
/*
 * lmw-cpu-cross.c — f16 conversion and cross-attention on f16 keys and values for the CPU
 * backend (see lmw-cpu-cross.h).  The threading (one task per head) is lmw-backend-cpu.c's.
 */
#include "lmw-cpu-cross.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* vcvtps2ph with rounding to nearest even: the same bits as lmw_fp32_to_fp16 for every finite
 * value, subnormals included (only the payload of a NaN may differ) */
__attribute__ ((target ("avx,f16c"))) static void
to_f16_f16c (uint16_t *dst, const float *src, size_t n)
{
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128 ((__m128i *) (dst + i),
                      _mm256_cvtps_ph (_mm256_loadu_ps (src + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; i++)
    dst[i] = lmw_fp32_to_fp16 (src[i]);
}
#define HAVE_F16C_PATH 1
#endif

void
lmw_cpu_cross_to_f16 (const lmw_cpu_kernels *kern, uint16_t *dst, const float *src, size_t n)
{
#ifdef HAVE_F16C_PATH
  /* every kernel set but the portable one needs F16C (lmw-cpu-kernels.c checks it) */
  if (strcmp (kern->name, "generic") != 0) {
    to_f16_f16c (dst, src, n);
    return;
  }
#endif
  (void) kern;
  for (size_t i = 0; i < n; i++)
    dst[i] = lmw_fp32_to_fp16 (src[i]);
}

size_t
lmw_cpu_cross_scratch_floats (int Tq, int Tk, int D)
{
  return (size_t) Tq * Tk + (size_t) LMW_CPU_CROSS_KEYS * D + (size_t) D;
}

void
lmw_cpu_cross_head (const lmw_cpu_kernels *kern, float *out, int ldo, const float *q, int ldq,
                    const uint16_t *k, const uint16_t *v, int ldkv, int Tq, int Tk, int h, int D,
                    float *scratch)
{
  float *S = scratch;                                  /* (Tq, Tk) scores, then weights */
  float *blk = S + (size_t) Tq * Tk;                   /* (LMW_CPU_CROSS_KEYS, D) f32 rows */
  float *acc = blk + (size_t) LMW_CPU_CROSS_KEYS * D;  /* (D) */
  const uint16_t *kh = k + (size_t) h * D, *vh = v + (size_t) h * D;
  float scale = 1.0f / sqrtf ((float) D);

  /* S = Q K^T, LMW_CPU_CROSS_KEYS keys at a time, each block converted once for every row */
  for (int t0 = 0; t0 < Tk; t0 += LMW_CPU_CROSS_KEYS) {
    int nb = Tk - t0 < LMW_CPU_CROSS_KEYS ? Tk - t0 : LMW_CPU_CROSS_KEYS;
    for (int t = 0; t < nb; t++)
      kern->convert_row (blk + (size_t) t * D, LMW_TYPE_F16, kh + (size_t) (t0 + t) * ldkv, 0, D);
    for (int r = 0; r < Tq; r++)
      kern->dot_rows (S + (size_t) r * Tk + t0, q + (size_t) r * ldq + (size_t) h * D, blk,
                      (size_t) D, nb, D);
  }
  for (int r = 0; r < Tq; r++) {
    kern->softmax_row (S + (size_t) r * Tk, Tk, scale);
    memset (out + (size_t) r * ldo + (size_t) h * D, 0, sizeof (float) * (size_t) D);
  }
  /* O = S V, the same blocks of values */
  for (int t0 = 0; t0 < Tk; t0 += LMW_CPU_CROSS_KEYS) {
    int nb = Tk - t0 < LMW_CPU_CROSS_KEYS ? Tk - t0 : LMW_CPU_CROSS_KEYS;
    for (int t = 0; t < nb; t++)
      kern->convert_row (blk + (size_t) t * D, LMW_TYPE_F16, vh + (size_t) (t0 + t) * ldkv, 0, D);
    for (int r = 0; r < Tq; r++) {
      float *o = out + (size_t) r * ldo + (size_t) h * D;
      kern->gemv_t (acc, S + (size_t) r * Tk + t0, blk, (size_t) D, nb, D);
      for (int d = 0; d < D; d++)
        o[d] += acc[d];
    }
  }
}
