/* SPDX-License-Identifier: MIT */
/*
 * lmw-cpu-cross.c — f16 conversion and cross-attention on f16 keys and values for the CPU
 * backend (see lmw-cpu-cross.h).  The threading (a range of heads per task) is
 * lmw-backend-cpu.c's.
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

static inline float
hsum256 (__m256 a) __attribute__ ((target ("avx")));
static inline float
hsum256 (__m256 a)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (a), _mm256_extractf128_ps (a, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

/* the dot product of q (D) with the f16 row k (D), as 8 partial sums; D % 8 == 0 */
__attribute__ ((target ("avx2,fma,f16c"))) static inline __m256
dot8_f16c (const float *q, const uint16_t *k, int D)
{
  __m256 a = _mm256_mul_ps (_mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) k)),
                            _mm256_loadu_ps (q));
  for (int d = 8; d < D; d += 8)
    a = _mm256_fmadd_ps (_mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (k + d))),
                         _mm256_loadu_ps (q + d), a);
  return a;
}

/* S[t .. t + 8) of each query row r < Tq (row stride ldS) = q_r . k_t for the 8 keys starting
 * at kt, each key row converted in registers and the 8 keys reduced together (one horizontal
 * sum per key cost more than its dot product); D % 8 == 0 */
__attribute__ ((target ("avx2,fma,f16c"))) static inline void
scores8_f16c (float *S, size_t ldS, const float *q, int ldq, const uint16_t *kt, int ldkv, int Tq,
              int D)
{
  for (int r = 0; r < Tq; r++) {
    const float *qr = q + (size_t) r * ldq;
    __m256 a0 = dot8_f16c (qr, kt, D), a1 = dot8_f16c (qr, kt + ldkv, D);
    __m256 a2 = dot8_f16c (qr, kt + 2 * (size_t) ldkv, D), a3 = dot8_f16c (qr, kt + 3 * (size_t) ldkv, D);
    __m256 a4 = dot8_f16c (qr, kt + 4 * (size_t) ldkv, D), a5 = dot8_f16c (qr, kt + 5 * (size_t) ldkv, D);
    __m256 a6 = dot8_f16c (qr, kt + 6 * (size_t) ldkv, D), a7 = dot8_f16c (qr, kt + 7 * (size_t) ldkv, D);
    /* [a0 lo, .., a3 lo | a0 hi, .., a3 hi] and the same for a4 .. a7, then the halves added */
    __m256 h0 = _mm256_hadd_ps (_mm256_hadd_ps (a0, a1), _mm256_hadd_ps (a2, a3));
    __m256 h1 = _mm256_hadd_ps (_mm256_hadd_ps (a4, a5), _mm256_hadd_ps (a6, a7));
    __m256 sum = _mm256_add_ps (_mm256_permute2f128_ps (h0, h1, 0x20),
                                _mm256_permute2f128_ps (h0, h1, 0x31));
    _mm256_storeu_ps (S + (size_t) r * ldS, sum);
  }
}

/* S (Tq, Tk) = q (Tq, D) . k_t, 8 keys at a time; D % 8 == 0 */
__attribute__ ((target ("avx2,fma,f16c"))) static void
scores_f16c (float *S, const float *q, int ldq, const uint16_t *kh, int ldkv, int Tq, int Tk, int D)
{
  int t = 0;
  for (; t + 8 <= Tk; t += 8)
    scores8_f16c (S + t, (size_t) Tk, q, ldq, kh + (size_t) t * ldkv, ldkv, Tq, D);
  for (; t < Tk; t++)
    for (int r = 0; r < Tq; r++)
      S[(size_t) r * Tk + t] = hsum256 (dot8_f16c (q + (size_t) r * ldq, kh + (size_t) t * ldkv, D));
}

/* o (D) = sum over t of p[t] v_t, v rows f16 converted in registers, 32 channels at a time;
 * D % 8 == 0 */
__attribute__ ((target ("avx2,fma,f16c"))) static void
weighted_sum_f16c (float *o, const float *p, const uint16_t *vh, int ldkv, int Tk, int D)
{
  int d0 = 0;
  for (; d0 + 32 <= D; d0 += 32) {
    __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps (), a2 = _mm256_setzero_ps (),
           a3 = _mm256_setzero_ps ();
    const uint16_t *vt = vh + d0;
    for (int t = 0; t < Tk; t++, vt += ldkv) {
      __m256 pt = _mm256_broadcast_ss (p + t);
      a0 = _mm256_fmadd_ps (pt, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) vt)), a0);
      a1 = _mm256_fmadd_ps (pt, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (vt + 8))), a1);
      a2 = _mm256_fmadd_ps (pt, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (vt + 16))), a2);
      a3 = _mm256_fmadd_ps (pt, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (vt + 24))), a3);
    }
    _mm256_storeu_ps (o + d0, a0);
    _mm256_storeu_ps (o + d0 + 8, a1);
    _mm256_storeu_ps (o + d0 + 16, a2);
    _mm256_storeu_ps (o + d0 + 24, a3);
  }
  for (; d0 < D; d0 += 8) {
    __m256 a0 = _mm256_setzero_ps ();
    const uint16_t *vt = vh + d0;
    for (int t = 0; t < Tk; t++, vt += ldkv)
      a0 = _mm256_fmadd_ps (_mm256_broadcast_ss (p + t),
                            _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) vt)), a0);
    _mm256_storeu_ps (o + d0, a0);
  }
}

/* o_r (D) += sum over the nt keys t of p_r[t] v_t for the Tq rows r (o row stride ldo, p row
 * stride ldp); the channels 64 at a time (8 independent sums: two FMAs a cycle at their
 * latency), then 8.  Each output starts from o and adds the keys in order: a run over blocks of
 * keys gives weighted_sum_f16c's bits. D % 8 == 0 */
__attribute__ ((target ("avx2,fma,f16c"))) static void
weighted_add_f16c (float *o, int ldo, const float *p, size_t ldp, const uint16_t *vh, int ldkv,
                   int Tq, int nt, int D)
{
  for (int r = 0; r < Tq; r++) {
    float *orow = o + (size_t) r * ldo;
    const float *pr = p + (size_t) r * ldp;
    int d0 = 0;
    for (; d0 + 64 <= D; d0 += 64) {
      /* eight named sums: an array of them stayed in memory */
      float *od = orow + d0;
      __m256 a0 = _mm256_loadu_ps (od), a1 = _mm256_loadu_ps (od + 8), a2 = _mm256_loadu_ps (od + 16),
             a3 = _mm256_loadu_ps (od + 24), a4 = _mm256_loadu_ps (od + 32),
             a5 = _mm256_loadu_ps (od + 40), a6 = _mm256_loadu_ps (od + 48),
             a7 = _mm256_loadu_ps (od + 56);
      const uint16_t *vt = vh + d0;
      for (int t = 0; t < nt; t++, vt += ldkv) {
        __m256 pt = _mm256_broadcast_ss (pr + t);
#define LMW_VADD(i) a##i = _mm256_fmadd_ps (pt, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (vt + 8 * i))), a##i)
        LMW_VADD (0); LMW_VADD (1); LMW_VADD (2); LMW_VADD (3);
        LMW_VADD (4); LMW_VADD (5); LMW_VADD (6); LMW_VADD (7);
#undef LMW_VADD
      }
      _mm256_storeu_ps (od, a0);
      _mm256_storeu_ps (od + 8, a1);
      _mm256_storeu_ps (od + 16, a2);
      _mm256_storeu_ps (od + 24, a3);
      _mm256_storeu_ps (od + 32, a4);
      _mm256_storeu_ps (od + 40, a5);
      _mm256_storeu_ps (od + 48, a6);
      _mm256_storeu_ps (od + 56, a7);
    }
    for (; d0 < D; d0 += 8) {
      __m256 a0 = _mm256_loadu_ps (orow + d0);
      const uint16_t *vt = vh + d0;
      for (int t = 0; t < nt; t++, vt += ldkv)
        a0 = _mm256_fmadd_ps (_mm256_broadcast_ss (pr + t),
                              _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) vt)), a0);
      _mm256_storeu_ps (orow + d0, a0);
    }
  }
}
#define HAVE_F16C_PATH 1
#endif

/* dst (nb, D) = the f16 rows src (nb, row stride ld) */
static void
rows_from_f16 (const lmw_cpu_kernels *kern, float *dst, const uint16_t *src, size_t ld, int nb,
               int D)
{
  for (int t = 0; t < nb; t++)
    kern->convert_row (dst + (size_t) t * D, LMW_TYPE_F16, src + (size_t) t * ld, 0, D);
}

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
  const float *qh = q + (size_t) h * D;
  float scale = 1.0f / sqrtf ((float) D);

#ifdef HAVE_F16C_PATH
  /* one pass over K and one over V (per row), converted in registers */
  if (D % 8 == 0 && strcmp (kern->name, "generic") != 0) {
    scores_f16c (S, qh, ldq, kh, ldkv, Tq, Tk, D);
    for (int r = 0; r < Tq; r++) {
      kern->softmax_row (S + (size_t) r * Tk, Tk, scale);
      weighted_sum_f16c (out + (size_t) r * ldo + (size_t) h * D, S + (size_t) r * Tk, vh, ldkv,
                         Tk, D);
    }
    return;
  }
#endif
  /* portable: S = Q K^T, LMW_CPU_CROSS_KEYS keys at a time, each block converted once */
  for (int t0 = 0; t0 < Tk; t0 += LMW_CPU_CROSS_KEYS) {
    int nb = Tk - t0 < LMW_CPU_CROSS_KEYS ? Tk - t0 : LMW_CPU_CROSS_KEYS;
    rows_from_f16 (kern, blk, kh + (size_t) t0 * ldkv, (size_t) ldkv, nb, D);
    for (int r = 0; r < Tq; r++)
      kern->dot_rows (S + (size_t) r * Tk + t0, qh + (size_t) r * ldq, blk, (size_t) D, nb, D);
  }
  for (int r = 0; r < Tq; r++) {
    kern->softmax_row (S + (size_t) r * Tk, Tk, scale);
    memset (out + (size_t) r * ldo + (size_t) h * D, 0, sizeof (float) * (size_t) D);
  }
  /* O = S V, the same blocks of values */
  for (int t0 = 0; t0 < Tk; t0 += LMW_CPU_CROSS_KEYS) {
    int nb = Tk - t0 < LMW_CPU_CROSS_KEYS ? Tk - t0 : LMW_CPU_CROSS_KEYS;
    rows_from_f16 (kern, blk, vh + (size_t) t0 * ldkv, (size_t) ldkv, nb, D);
    for (int r = 0; r < Tq; r++) {
      float *o = out + (size_t) r * ldo + (size_t) h * D;
      kern->gemv_t (acc, S + (size_t) r * Tk + t0, blk, (size_t) D, nb, D);
      for (int d = 0; d < D; d++)
        o[d] += acc[d];
    }
  }
}

size_t
lmw_cpu_cross_heads_scratch_floats (int Tq, int Tk, int H, int D)
{
  size_t all = (size_t) H * Tq * Tk, one = lmw_cpu_cross_scratch_floats (Tq, Tk, D);
  return all > one ? all : one;
}

#ifdef HAVE_F16C_PATH
/* lmw_cpu_cross_heads with F16C; D % 8 == 0 */
__attribute__ ((target ("avx2,fma,f16c"))) static void
cross_heads_f16c (const lmw_cpu_kernels *kern, float *out, int ldo, const float *q, int ldq,
                  const uint16_t *k, const uint16_t *v, int ldkv, int Tq, int Tk, int h0, int h1,
                  int D, float *S)
{
  /* the heads h0 .. h1 only: their columns of every row */
  out += (size_t) h0 * D;
  q += (size_t) h0 * D;
  k += (size_t) h0 * D;
  v += (size_t) h0 * D;
  int H = h1 - h0;
  size_t ldS = (size_t) Tk, per_head = (size_t) Tq * Tk; /* S (H, Tq, Tk): scores, then weights */
  float scale = 1.0f / sqrtf ((float) D);
  /* scores: 8 consecutive key rows (every head's part) at a time */
  int t = 0;
  for (; t + 8 <= Tk; t += 8)
    for (int h = 0; h < H; h++)
      scores8_f16c (S + h * per_head + t, ldS, q + (size_t) h * D, ldq,
                    k + (size_t) t * ldkv + (size_t) h * D, ldkv, Tq, D);
  for (; t < Tk; t++)
    for (int h = 0; h < H; h++)
      for (int r = 0; r < Tq; r++)
        S[h * per_head + (size_t) r * ldS + t] =
          hsum256 (dot8_f16c (q + (size_t) r * ldq + (size_t) h * D,
                              k + (size_t) t * ldkv + (size_t) h * D, D));
  for (int h = 0; h < H; h++)
    for (int r = 0; r < Tq; r++) {
      kern->softmax_row (S + h * per_head + (size_t) r * ldS, Tk, scale);
      memset (out + (size_t) r * ldo + (size_t) h * D, 0, sizeof (float) * (size_t) D);
    }
  /* O = P V: LMW_CPU_CROSS_VROWS consecutive value rows at a time, every head */
  for (int t0 = 0; t0 < Tk; t0 += LMW_CPU_CROSS_VROWS) {
    int nt = Tk - t0 < LMW_CPU_CROSS_VROWS ? Tk - t0 : LMW_CPU_CROSS_VROWS;
    for (int h = 0; h < H; h++)
      weighted_add_f16c (out + (size_t) h * D, ldo, S + h * per_head + t0, ldS,
                         v + (size_t) t0 * ldkv + (size_t) h * D, ldkv, Tq, nt, D);
  }
}
#endif

void
lmw_cpu_cross_heads (const lmw_cpu_kernels *kern, float *out, int ldo, const float *q, int ldq,
                     const uint16_t *k, const uint16_t *v, int ldkv, int Tq, int Tk, int h0, int h1,
                     int D, float *scratch)
{
#ifdef HAVE_F16C_PATH
  if (D % 8 == 0 && strcmp (kern->name, "generic") != 0) {
    cross_heads_f16c (kern, out, ldo, q, ldq, k, v, ldkv, Tq, Tk, h0, h1, D, scratch);
    return;
  }
#endif
  for (int h = h0; h < h1; h++)
    lmw_cpu_cross_head (kern, out, ldo, q, ldq, k, v, ldkv, Tq, Tk, h, D, scratch);
}
