/* SPDX-License-Identifier: MIT */
/*
 * lmw-cpu-int8.c — integer products of the CPU backend on block-quantised weights.
 *
 * Every weight block of 32 is read as d_w * v + m_w with v an integer (q8_0: the stored int8,
 * q4_0: nibble - 8, q5_0: 5-bit value - 16, q4_1 / q5_1: the unsigned value, m_w their minimum,
 * else 0).  Each row of activations is quantised per block of 32 as d_a * a with a in
 * [-127, 127] (d_a = max |x| / 127, round to nearest even), so one block contributes
 *   d_w d_a sum (v a) + m_w (d_a sum a)
 * where sum (v a) is exact in int32 and the scales are applied in f32.
 *
 * Products of up to GEMV_MAX_M rows (the decoder's tokens and beams) are bound by reading the
 * weights, not by arithmetic: they quantise the activations to int16 instead (d = max |x| /
 * 32767, an error 256 times smaller, which the decoder's logits need: with int8 activations
 * the fixtures' logits moved 1.2-1.4 % from the reference against 0.9 % for the weights' own
 * quantisation) and read the weight rows as stored, one block at a time (dot, vpmaddwd).
 * Products of GEMV_MAX_M + 1 to GEMM_MIN_M - 1 rows (short prompts) take the f32 path.
 * Larger ones (the encoder, the cross-attention K/V, long prompts) pack
 * PANELS panels of nr weight rows at a time into the integer layout of the kernel — per block,
 * 8 groups of 4 consecutive k for each of the nr columns, then the nr scales and the nr minima
 * — and run an (MR, nr) register tile over the whole depth.  The VNNI sets store v + 128, the
 * unsigned operand of dpbusd, and start each block's int32 sums at -128 sum (a), which cancels
 * it exactly; the AVX2 set stores v and multiplies |v| by a with the sign of v
 * (maddubs: |v| <= 128 and |a| <= 127, so the 16-bit pair sums never saturate).
 *
 * The panels of a task are packed once per band of rows; bands are split between threads as in
 * the f32 GEMM (each thread its share of rows when there are many, else of columns).
 */
#include "lmw-cpu-int8.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LMW_HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define QK LMW_QK
#define MR_MAX 6          /* activation rows of the largest register tile */
#define NR_MAX 32         /* widest panel */
#define PANELS 8          /* panels packed at once: each A tile is read for all of them */
#define GEMV_MAX_M 5      /* up to this many rows: dot products on the stored weight rows */
#define GEMM_MIN_M 16     /* from this many rows: the integer GEMM (between: the f32 path) */
#define ROW_SPLIT_MIN_M 96 /* rows per thread from which a product is split by rows */
#define PARALLEL_MIN_WORK (1 << 20)

/* one row of quantised activations: block b is q[32 b ..], with scale d[b], s[b] = d[b] *
 * sum[b] and sum[b] the sum of its int8 values */
typedef struct {
  const int8_t *q;
  const float *d;
  const float *s;
  const int32_t *sum;
  const int16_t *q16; /* the int16 form (dot products) instead of q */
} qrow;

struct lmw_cpu_int8_kernels {
  const char *name;
  int mr;     /* activation rows of a register tile, <= MR_MAX */
  int nr;     /* columns (weight rows) of a packed panel */
  int offset; /* added to every packed weight value */
  /* q (K), d, s, sum (K / 32) = x (K) quantised */
  void (*quantize_row) (int8_t *q, float *d, float *s, int32_t *sum, const float *x, int K);
  /* c (mr, nr) (row stride ldc) = a[r] (nb blocks) · the panel's nr columns, plus bias (nr,
   * nullable), plus c itself when acc; has_m: the weights have minima */
  void (*kernel) (int nb, const qrow *a, const uint8_t *panel, bool has_m, float *c, int ldc,
                  const float *bias, bool acc);
  /* a (nb blocks of q16) · one weight row of `type` as stored */
  float (*dot) (lmw_type type, const uint8_t *w, const qrow *a, int nb);
};

/* bytes of one packed block of a panel of nr columns: 32 nr values, nr scales, nr minima */
static size_t
panel_block_bytes (int nr)
{
  return (size_t) nr * (QK + 2 * sizeof (float));
}

/* ---- weight blocks ----------------------------------------------------------------------- */

static uint16_t
rd16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
rd32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static size_t
block_bytes (lmw_type type)
{
  return lmw_type_row_bytes (type, QK);
}

static bool
has_minimum (lmw_type type)
{
  return type == LMW_TYPE_Q4_1 || type == LMW_TYPE_Q5_1;
}

/* v (32) = the block's integers, *d its scale, *m its minimum (0 for the symmetric types) */
static void
unpack_block (lmw_type type, const uint8_t *blk, int8_t *v, float *d, float *m)
{
  *d = lmw_fp16_to_fp32 (rd16 (blk));
  *m = 0.0f;
  switch (type) {
  case LMW_TYPE_Q8_0:
    memcpy (v, blk + 2, QK);
    break;
  case LMW_TYPE_Q4_0:
    for (int j = 0; j < 16; j++) {
      v[j] = (int8_t) ((blk[2 + j] & 0x0f) - 8);
      v[j + 16] = (int8_t) ((blk[2 + j] >> 4) - 8);
    }
    break;
  case LMW_TYPE_Q4_1:
    *m = lmw_fp16_to_fp32 (rd16 (blk + 2));
    for (int j = 0; j < 16; j++) {
      v[j] = (int8_t) (blk[4 + j] & 0x0f);
      v[j + 16] = (int8_t) (blk[4 + j] >> 4);
    }
    break;
  case LMW_TYPE_Q5_0: {
    uint32_t qh = rd32 (blk + 2);
    for (int j = 0; j < 16; j++) {
      v[j] = (int8_t) (((blk[6 + j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16);
      v[j + 16] = (int8_t) (((blk[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
    }
    break;
  }
  case LMW_TYPE_Q5_1: {
    *m = lmw_fp16_to_fp32 (rd16 (blk + 2));
    uint32_t qh = rd32 (blk + 4);
    for (int j = 0; j < 16; j++) {
      v[j] = (int8_t) ((blk[8 + j] & 0x0f) | (((qh >> j) & 1) << 4));
      v[j + 16] = (int8_t) ((blk[8 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
    }
    break;
  }
  default:
    memset (v, 0, QK);
    break;
  }
}

/* dst = panel of weight rows n0 .. n0 + nw (zero columns past nw), all nb blocks; offset 128
 * is a flip of each byte's top bit (v + 128 for v in -128 .. 127), done 4 bytes at a time */
static void
pack_panel (uint8_t *dst, const lmw_weight *w, int n0, int nw, int nr, int offset)
{
  int nb = w->cols / QK;
  size_t bb = block_bytes (w->type), pb = panel_block_bytes (nr);
  const uint32_t flip = offset ? 0x80808080u : 0u;
  for (int j = 0; j < nr; j++) {
    const uint8_t *row = (const uint8_t *) w->data + (size_t) (n0 + j) * w->row_bytes;
    for (int b = 0; b < nb; b++) {
      uint8_t *vals = dst + (size_t) b * pb;
      float *dw = (float *) (vals + (size_t) nr * QK), *mw = dw + nr;
      int8_t v[QK];
      float d = 0.0f, m = 0.0f;
      if (j >= nw)
        memset (v, 0, sizeof v);
      else if (w->type == LMW_TYPE_Q8_0) { /* the stored bytes as they are */
        const uint8_t *blk = row + (size_t) b * bb;
        d = lmw_fp16_to_fp32 (rd16 (blk));
        memcpy (v, blk + 2, QK);
      } else {
        unpack_block (w->type, row + (size_t) b * bb, v, &d, &m);
      }
      dw[j] = d;
      mw[j] = m;
      for (int g = 0; g < QK / 4; g++) {
        uint32_t word;
        memcpy (&word, v + g * 4, 4);
        word ^= flip;
        memcpy (vals + (size_t) g * nr * 4 + (size_t) j * 4, &word, 4);
      }
    }
  }
}

/* ---- portable kernels ------------------------------------------------------------------ */

static void
generic_quantize_row (int8_t *q, float *d, float *s, int32_t *sum, const float *x, int K)
{
  for (int b = 0; b < K / QK; b++) {
    const float *xb = x + b * QK;
    float amax = 0.0f;
    for (int j = 0; j < QK; j++)
      amax = fmaxf (amax, fabsf (xb[j]));
    float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t acc = 0;
    for (int j = 0; j < QK; j++) {
      int v = (int) nearbyintf (xb[j] * id);
      q[b * QK + j] = (int8_t) v;
      acc += v;
    }
    d[b] = db;
    sum[b] = acc;
    s[b] = db * (float) acc;
  }
}

/* the same per block to int16 (d = max |x| / 32767), for the dot products */
static void
quantize_row16 (int16_t *q, float *d, float *s, const float *x, int K)
{
  for (int b = 0; b < K / QK; b++) {
    const float *xb = x + b * QK;
    float amax = 0.0f;
    for (int j = 0; j < QK; j++)
      amax = fmaxf (amax, fabsf (xb[j]));
    float db = amax / 32767.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
    int32_t acc = 0;
    for (int j = 0; j < QK; j++) {
      int v = (int) nearbyintf (xb[j] * id);
      q[b * QK + j] = (int16_t) v;
      acc += v;
    }
    d[b] = db;
    s[b] = db * (float) acc;
  }
}

#define GENERIC_NR 8

static void
generic_kernel (int nb, const qrow *a, const uint8_t *panel, bool has_m, float *c, int ldc,
               const float *bias, bool acc)
{
  const int NR = GENERIC_NR;
  float sum[4][GENERIC_NR] = { { 0 } };
  size_t pb = panel_block_bytes (NR);
  for (int b = 0; b < nb; b++) {
    const uint8_t *vals = panel + (size_t) b * pb;
    const float *dw = (const float *) (vals + NR * QK), *mw = dw + NR;
    for (int r = 0; r < 4; r++) {
      const int8_t *aq = a[r].q + (size_t) b * QK;
      int32_t I[GENERIC_NR] = { 0 };
      for (int g = 0; g < QK / 4; g++)
        for (int j = 0; j < NR; j++)
          for (int t = 0; t < 4; t++)
            I[j] += (int8_t) vals[g * NR * 4 + j * 4 + t] * aq[g * 4 + t];
      float da = a[r].d[b];
      for (int j = 0; j < NR; j++) {
        sum[r][j] += (float) I[j] * (dw[j] * da);
        if (has_m)
          sum[r][j] += mw[j] * a[r].s[b];
      }
    }
  }
  for (int r = 0; r < 4; r++)
    for (int j = 0; j < NR; j++)
      c[(size_t) r * ldc + j] = sum[r][j] + (bias ? bias[j] : 0.0f) + (acc ? c[(size_t) r * ldc + j] : 0.0f);
}

static float
generic_dot (lmw_type type, const uint8_t *w, const qrow *a, int nb)
{
  size_t bb = block_bytes (type);
  float acc = 0.0f;
  for (int b = 0; b < nb; b++) {
    int8_t v[QK];
    float d, m;
    unpack_block (type, w + (size_t) b * bb, v, &d, &m);
    const int16_t *aq = a->q16 + (size_t) b * QK;
    int32_t I = 0;
    for (int j = 0; j < QK; j++)
      I += v[j] * aq[j];
    acc += (float) I * (d * a->d[b]) + m * a->s[b];
  }
  return acc;
}

static const lmw_cpu_int8_kernels generic_int8 = {
  "generic", 4, GENERIC_NR, 0, generic_quantize_row, generic_kernel, generic_dot,
};

#ifdef LMW_HAVE_X86
/* ---- x86 kernels --------------------------------------------------------------------------- */

#define AVX2 __attribute__ ((target ("avx2,fma,f16c")))
#define AVXVNNI __attribute__ ((target ("avx2,fma,f16c,avxvnni")))
#define AVX512VNNI __attribute__ ((target ("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

static inline int32_t
load4 (const int8_t *p)
{
  int32_t v;
  memcpy (&v, p, 4);
  return v;
}

AVX2 static inline float
hsum_ps256 (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

/* same arithmetic as generic_quantize_row, 8 lanes at a time */
AVX2 static void
avx2_quantize_row (int8_t *q, float *d, float *s, int32_t *sum, const float *x, int K)
{
  const __m256 absmask = _mm256_castsi256_ps (_mm256_set1_epi32 (0x7fffffff));
  for (int b = 0; b < K / QK; b++) {
    const float *xb = x + b * QK;
    __m256 x0 = _mm256_loadu_ps (xb), x1 = _mm256_loadu_ps (xb + 8);
    __m256 x2 = _mm256_loadu_ps (xb + 16), x3 = _mm256_loadu_ps (xb + 24);
    __m256 m = _mm256_max_ps (_mm256_max_ps (_mm256_and_ps (x0, absmask), _mm256_and_ps (x1, absmask)),
                              _mm256_max_ps (_mm256_and_ps (x2, absmask), _mm256_and_ps (x3, absmask)));
    __m128 m4 = _mm_max_ps (_mm256_castps256_ps128 (m), _mm256_extractf128_ps (m, 1));
    m4 = _mm_max_ps (m4, _mm_movehl_ps (m4, m4));
    m4 = _mm_max_ss (m4, _mm_movehdup_ps (m4));
    float amax = _mm_cvtss_f32 (m4);
    float db = amax / 127.0f, id = db != 0.0f ? 1.0f / db : 0.0f;
    __m256 vid = _mm256_set1_ps (id);
    /* a macro, not a const int: clang needs the rounding mode as a constant expression */
#define LMW_INT8_ROUND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
    __m256i i0 = _mm256_cvtps_epi32 (_mm256_round_ps (_mm256_mul_ps (x0, vid), LMW_INT8_ROUND));
    __m256i i1 = _mm256_cvtps_epi32 (_mm256_round_ps (_mm256_mul_ps (x1, vid), LMW_INT8_ROUND));
    __m256i i2 = _mm256_cvtps_epi32 (_mm256_round_ps (_mm256_mul_ps (x2, vid), LMW_INT8_ROUND));
    __m256i i3 = _mm256_cvtps_epi32 (_mm256_round_ps (_mm256_mul_ps (x3, vid), LMW_INT8_ROUND));
    __m256i t = _mm256_add_epi32 (_mm256_add_epi32 (i0, i1), _mm256_add_epi32 (i2, i3));
    __m128i t4 = _mm_add_epi32 (_mm256_castsi256_si128 (t), _mm256_extracti128_si256 (t, 1));
    t4 = _mm_add_epi32 (t4, _mm_shuffle_epi32 (t4, 0x4e));
    t4 = _mm_add_epi32 (t4, _mm_shuffle_epi32 (t4, 0xb1));
    int32_t acc = _mm_cvtsi128_si32 (t4);
    /* packs work within 128-bit lanes: restore the element order afterwards */
    __m256i p = _mm256_packs_epi16 (_mm256_packs_epi32 (i0, i1), _mm256_packs_epi32 (i2, i3));
    p = _mm256_permutevar8x32_epi32 (p, _mm256_setr_epi32 (0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256 ((__m256i *) (q + b * QK), p);
    d[b] = db;
    sum[b] = acc;
    s[b] = db * (float) acc;
  }
}

/* the 32 unsigned 4-bit values of a block: element j < 16 the low nibble of byte j */
AVX2 static inline __m256i
nibbles (const uint8_t *p)
{
  __m128i b = _mm_loadu_si128 ((const __m128i *) p);
  __m128i lo = _mm_and_si128 (b, _mm_set1_epi8 (0x0f));
  __m128i hi = _mm_and_si128 (_mm_srli_epi16 (b, 4), _mm_set1_epi8 (0x0f));
  return _mm256_set_m128i (hi, lo);
}

/* 0x10 in byte j where bit j of qh is set */
AVX2 static inline __m256i
fifth_bits (uint32_t qh)
{
  /* byte j takes byte j / 8 of qh (a shuffle works within 128-bit lanes, each holding qh) */
  const __m256i which = _mm256_setr_epi8 (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                          2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x ((long long) 0x8040201008040201ull);
  __m256i bytes = _mm256_shuffle_epi8 (_mm256_set1_epi32 ((int) qh), which);
  __m256i set = _mm256_cmpeq_epi8 (_mm256_and_si256 (bytes, bit), bit);
  return _mm256_and_si256 (set, _mm256_set1_epi8 (0x10));
}

/* a (int16) · one weight row as stored: each block's integers widened to int16 (the unsigned
 * values for the 4- and 5-bit types, their zero point z taken off through s) and multiplied
 * with vpmaddwd; the same in every x86 set (these products are bound by reading the weights) */
/* how far ahead of the block being read the dot products prefetch a weight row (bytes): the
 * loop converts more per byte than it waits on memory, so the processor alone keeps too few
 * reads in flight for a row streamed from DRAM */
#define DOT_PREFETCH 512

/* avx2_dot16 for q8_0: two sums (even and odd blocks), so that consecutive blocks don't wait on
 * each other's FMA */
AVX2 static float
avx2_dot16_q8_0 (const uint8_t *w, const qrow *a, int nb)
{
  const int16_t *aq = a->q16;
  __m256 acc0 = _mm256_setzero_ps (), acc1 = _mm256_setzero_ps ();
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *blk = w + (size_t) b * 34;
    _mm_prefetch ((const char *) blk + DOT_PREFETCH, _MM_HINT_T0);
    __m256i v0 = _mm256_loadu_si256 ((const __m256i *) (blk + 2));
    __m256i v1 = _mm256_loadu_si256 ((const __m256i *) (blk + 36));
    const int16_t *a0 = aq + (size_t) b * QK, *a1 = a0 + QK;
    __m256i I0 = _mm256_add_epi32 (
      _mm256_madd_epi16 (_mm256_cvtepi8_epi16 (_mm256_castsi256_si128 (v0)), _mm256_loadu_si256 ((const __m256i *) a0)),
      _mm256_madd_epi16 (_mm256_cvtepi8_epi16 (_mm256_extracti128_si256 (v0, 1)), _mm256_loadu_si256 ((const __m256i *) (a0 + 16))));
    __m256i I1 = _mm256_add_epi32 (
      _mm256_madd_epi16 (_mm256_cvtepi8_epi16 (_mm256_castsi256_si128 (v1)), _mm256_loadu_si256 ((const __m256i *) a1)),
      _mm256_madd_epi16 (_mm256_cvtepi8_epi16 (_mm256_extracti128_si256 (v1, 1)), _mm256_loadu_si256 ((const __m256i *) (a1 + 16))));
    acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (I0), _mm256_set1_ps (_cvtsh_ss (rd16 (blk)) * a->d[b]), acc0);
    acc1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (I1), _mm256_set1_ps (_cvtsh_ss (rd16 (blk + 34)) * a->d[b + 1]),
                            acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *blk = w + (size_t) b * 34;
    __m256i v0 = _mm256_loadu_si256 ((const __m256i *) (blk + 2));
    const int16_t *a0 = aq + (size_t) b * QK;
    __m256i I0 = _mm256_add_epi32 (
      _mm256_madd_epi16 (_mm256_cvtepi8_epi16 (_mm256_castsi256_si128 (v0)), _mm256_loadu_si256 ((const __m256i *) a0)),
      _mm256_madd_epi16 (_mm256_cvtepi8_epi16 (_mm256_extracti128_si256 (v0, 1)), _mm256_loadu_si256 ((const __m256i *) (a0 + 16))));
    acc0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (I0), _mm256_set1_ps (_cvtsh_ss (rd16 (blk)) * a->d[b]), acc0);
  }
  return hsum_ps256 (_mm256_add_ps (acc0, acc1));
}

AVX2 static float
avx2_dot16 (lmw_type type, const uint8_t *w, const qrow *a, int nb)
{
  if (type == LMW_TYPE_Q8_0)
    return avx2_dot16_q8_0 (w, a, nb);
  size_t bb = block_bytes (type);
  __m256 acc = _mm256_setzero_ps ();
  float corr = 0.0f;
  for (int b = 0; b < nb; b++) {
    const uint8_t *blk = w + (size_t) b * bb;
    const int16_t *aq = a->q16 + (size_t) b * QK;
    float d = _cvtsh_ss (rd16 (blk)), m = 0.0f;
    int z = 0;
    __m256i w0, w1, u;
    switch (type) {
    case LMW_TYPE_Q8_0: {
      __m256i wv = _mm256_loadu_si256 ((const __m256i *) (blk + 2));
      w0 = _mm256_cvtepi8_epi16 (_mm256_castsi256_si128 (wv));
      w1 = _mm256_cvtepi8_epi16 (_mm256_extracti128_si256 (wv, 1));
      break;
    }
    case LMW_TYPE_Q4_0:
      u = nibbles (blk + 2);
      z = 8;
      goto widen;
    case LMW_TYPE_Q4_1:
      m = _cvtsh_ss (rd16 (blk + 2));
      u = nibbles (blk + 4);
      goto widen;
    case LMW_TYPE_Q5_0:
      u = _mm256_or_si256 (nibbles (blk + 6), fifth_bits (rd32 (blk + 2)));
      z = 16;
      goto widen;
    default: /* q5_1 */
      m = _cvtsh_ss (rd16 (blk + 2));
      u = _mm256_or_si256 (nibbles (blk + 8), fifth_bits (rd32 (blk + 4)));
    widen:
      w0 = _mm256_cvtepu8_epi16 (_mm256_castsi256_si128 (u));
      w1 = _mm256_cvtepu8_epi16 (_mm256_extracti128_si256 (u, 1));
      break;
    }
    __m256i I = _mm256_add_epi32 (_mm256_madd_epi16 (w0, _mm256_loadu_si256 ((const __m256i *) aq)),
                                  _mm256_madd_epi16 (w1, _mm256_loadu_si256 ((const __m256i *) (aq + 16))));
    acc = _mm256_fmadd_ps (_mm256_cvtepi32_ps (I), _mm256_set1_ps (d * a->d[b]), acc);
    corr += (m - (float) z * d) * a->s[b];
  }
  return hsum_ps256 (acc) + corr;
}

/* avx2_dot16 with a whole block per instruction: the 32 values widened to int16 in one zmm
 * and multiplied by the 32 int16 activations with vpdpwssd */
/* avx512vnni_dot16 for q8_0: two sums (even and odd blocks), the row prefetched ahead */
AVX512VNNI static float
avx512vnni_dot16_q8_0 (const uint8_t *w, const qrow *a, int nb)
{
  const int16_t *aq = a->q16;
  __m512 acc0 = _mm512_setzero_ps (), acc1 = _mm512_setzero_ps ();
  int b = 0;
  for (; b + 2 <= nb; b += 2) {
    const uint8_t *blk = w + (size_t) b * 34;
    _mm_prefetch ((const char *) blk + DOT_PREFETCH, _MM_HINT_T0);
    __m512i I0 = _mm512_dpwssd_epi32 (_mm512_setzero_si512 (),
                                      _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (blk + 2))),
                                      _mm512_loadu_si512 ((const void *) (aq + (size_t) b * QK)));
    __m512i I1 = _mm512_dpwssd_epi32 (_mm512_setzero_si512 (),
                                      _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (blk + 36))),
                                      _mm512_loadu_si512 ((const void *) (aq + (size_t) (b + 1) * QK)));
    acc0 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (I0), _mm512_set1_ps (_cvtsh_ss (rd16 (blk)) * a->d[b]), acc0);
    acc1 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (I1), _mm512_set1_ps (_cvtsh_ss (rd16 (blk + 34)) * a->d[b + 1]),
                            acc1);
  }
  for (; b < nb; b++) {
    const uint8_t *blk = w + (size_t) b * 34;
    __m512i I0 = _mm512_dpwssd_epi32 (_mm512_setzero_si512 (),
                                      _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (blk + 2))),
                                      _mm512_loadu_si512 ((const void *) (aq + (size_t) b * QK)));
    acc0 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (I0), _mm512_set1_ps (_cvtsh_ss (rd16 (blk)) * a->d[b]), acc0);
  }
  return _mm512_reduce_add_ps (_mm512_add_ps (acc0, acc1));
}

AVX512VNNI static float
avx512vnni_dot16 (lmw_type type, const uint8_t *w, const qrow *a, int nb)
{
  if (type == LMW_TYPE_Q8_0)
    return avx512vnni_dot16_q8_0 (w, a, nb);
  size_t bb = block_bytes (type);
  __m512 acc = _mm512_setzero_ps ();
  float corr = 0.0f;
  for (int b = 0; b < nb; b++) {
    const uint8_t *blk = w + (size_t) b * bb;
    float d = _cvtsh_ss (rd16 (blk)), m = 0.0f;
    int z = 0;
    __m512i w16;
    switch (type) {
    case LMW_TYPE_Q8_0:
      w16 = _mm512_cvtepi8_epi16 (_mm256_loadu_si256 ((const __m256i *) (blk + 2)));
      break;
    case LMW_TYPE_Q4_0:
      w16 = _mm512_cvtepu8_epi16 (nibbles (blk + 2));
      z = 8;
      break;
    case LMW_TYPE_Q4_1:
      m = _cvtsh_ss (rd16 (blk + 2));
      w16 = _mm512_cvtepu8_epi16 (nibbles (blk + 4));
      break;
    case LMW_TYPE_Q5_0:
      w16 = _mm512_cvtepu8_epi16 (_mm256_or_si256 (nibbles (blk + 6), fifth_bits (rd32 (blk + 2))));
      z = 16;
      break;
    default: /* q5_1 */
      m = _cvtsh_ss (rd16 (blk + 2));
      w16 = _mm512_cvtepu8_epi16 (_mm256_or_si256 (nibbles (blk + 8), fifth_bits (rd32 (blk + 4))));
      break;
    }
    __m512i I = _mm512_dpwssd_epi32 (_mm512_setzero_si512 (), w16,
                                     _mm512_loadu_si512 ((const void *) (a->q16 + (size_t) b * QK)));
    acc = _mm512_fmadd_ps (_mm512_cvtepi32_ps (I), _mm512_set1_ps (d * a->d[b]), acc);
    corr += (m - (float) z * d) * a->s[b];
  }
  return _mm512_reduce_add_ps (acc) + corr;
}

#define YMM_NR 8
#define R4(X) X (0) X (1) X (2) X (3)
#define R6(X) X (0) X (1) X (2) X (3) X (4) X (5)

/* The end of block b in a (4, 8) ymm tile, alike in every ymm kernel: the int32 sums i0..i3
 * times the panel's column scales (after the block's values) times row r's scale a[r].d[b],
 * added into f0..f3; with has_m, the panel's column minima (after the scales) times a[r].s[b]
 * too. */
#define YMM_SCALE(r) f##r = _mm256_fmadd_ps (_mm256_cvtepi32_ps (i##r), _mm256_mul_ps (dw, _mm256_set1_ps (a[r].d[b])), f##r);
#define YMM_MIN(r) f##r = _mm256_fmadd_ps (mw, _mm256_set1_ps (a[r].s[b]), f##r);
#define YMM_BLOCK_END                                                                         \
  {                                                                                           \
    __m256 dw = _mm256_load_ps ((const float *) (vals + YMM_NR * QK));                        \
    R4 (YMM_SCALE)                                                                            \
    if (has_m) {                                                                              \
      __m256 mw = _mm256_load_ps ((const float *) (vals + YMM_NR * QK) + YMM_NR);             \
      R4 (YMM_MIN)                                                                            \
    }                                                                                         \
  }
/* f0..f3 (+ bias, + c itself when acc) into the tile's 4 rows of c */
#define YMM_STORE(r)                                                                          \
  {                                                                                           \
    float *cr = c + (size_t) (r) * ldc;                                                       \
    if (bias != NULL)                                                                         \
      f##r = _mm256_add_ps (f##r, _mm256_loadu_ps (bias));                                    \
    if (acc)                                                                                  \
      f##r = _mm256_add_ps (f##r, _mm256_loadu_ps (cr));                                      \
    _mm256_storeu_ps (cr, f##r);                                                              \
  }

/* (4, 8) tile; the panel holds v (offset 0): sum (|v| * sign (a, v)) with maddubs.  Rows are
 * spelled out so that every accumulator stays in a register. */
AVX2 static void
avx2_kernel (int nb, const qrow *a, const uint8_t *panel, bool has_m, float *c, int ldc,
            const float *bias, bool acc)
{
  const __m256i ones = _mm256_set1_epi16 (1);
#define DECL(r) __m256 f##r = _mm256_setzero_ps ();
  R4 (DECL)
#undef DECL
  size_t pb = panel_block_bytes (YMM_NR);
  for (int b = 0; b < nb; b++) {
    const uint8_t *vals = panel + (size_t) b * pb;
#define INIT(r) __m256i i##r = _mm256_setzero_si256 (); const int8_t *q##r = a[r].q + (size_t) b * QK;
    R4 (INIT)
#undef INIT
#pragma GCC unroll 8
    for (int g = 0; g < QK / 4; g++) {
      __m256i bv = _mm256_load_si256 ((const __m256i *) (vals + g * YMM_NR * 4));
      __m256i bu = _mm256_abs_epi8 (bv);
#define STEP(r)                                                                               \
  i##r = _mm256_add_epi32 (i##r, _mm256_madd_epi16 (_mm256_maddubs_epi16 (bu, _mm256_sign_epi8 (_mm256_set1_epi32 (load4 (q##r + g * 4)), bv)), ones));
      R4 (STEP)
#undef STEP
    }
    YMM_BLOCK_END
  }
  R4 (YMM_STORE)
}

/* (4, 8) tile; the panel holds v + 128: dpbusd (v + 128, a) from -128 sum (a) */
AVXVNNI static void
avxvnni_kernel (int nb, const qrow *a, const uint8_t *panel, bool has_m, float *c, int ldc,
               const float *bias, bool acc)
{
#define DECL(r) __m256 f##r = _mm256_setzero_ps ();
  R4 (DECL)
#undef DECL
  size_t pb = panel_block_bytes (YMM_NR);
  for (int b = 0; b < nb; b++) {
    const uint8_t *vals = panel + (size_t) b * pb;
#define INIT(r) __m256i i##r = _mm256_set1_epi32 (-128 * a[r].sum[b]); const int8_t *q##r = a[r].q + (size_t) b * QK;
    R4 (INIT)
#undef INIT
#pragma GCC unroll 8
    for (int g = 0; g < QK / 4; g++) {
      __m256i bv = _mm256_load_si256 ((const __m256i *) (vals + g * YMM_NR * 4));
#define STEP(r) i##r = _mm256_dpbusd_avx_epi32 (i##r, bv, _mm256_set1_epi32 (load4 (q##r + g * 4)));
      R4 (STEP)
#undef STEP
    }
    YMM_BLOCK_END
  }
  R4 (YMM_STORE)
}

#define ZMM_NR 32

/* (6, 32) tile in two zmm per row (12 int32 and 12 f32 accumulators); the panel holds v + 128
 * as in avxvnni_kernel */
AVX512VNNI static void
avx512vnni_kernel (int nb, const qrow *a, const uint8_t *panel, bool has_m, float *c, int ldc,
                  const float *bias, bool acc)
{
#define DECL(r) __m512 f##r##0 = _mm512_setzero_ps (), f##r##1 = _mm512_setzero_ps ();
  R6 (DECL)
#undef DECL
  size_t pb = panel_block_bytes (ZMM_NR);
  for (int b = 0; b < nb; b++) {
    const uint8_t *vals = panel + (size_t) b * pb;
#define INIT(r)                                                                               \
  __m512i i##r##0 = _mm512_set1_epi32 (-128 * a[r].sum[b]), i##r##1 = i##r##0;                 \
  const int8_t *q##r = a[r].q + (size_t) b * QK;
    R6 (INIT)
#undef INIT
#pragma GCC unroll 8
    for (int g = 0; g < QK / 4; g++) {
      __m512i b0 = _mm512_load_si512 ((const void *) (vals + g * ZMM_NR * 4));
      __m512i b1 = _mm512_load_si512 ((const void *) (vals + g * ZMM_NR * 4 + 64));
#define STEP(r)                                                                               \
  {                                                                                           \
    __m512i av = _mm512_set1_epi32 (load4 (q##r + g * 4));                                    \
    i##r##0 = _mm512_dpbusd_epi32 (i##r##0, b0, av);                                          \
    i##r##1 = _mm512_dpbusd_epi32 (i##r##1, b1, av);                                          \
  }
      R6 (STEP)
#undef STEP
    }
    const float *dw = (const float *) (vals + ZMM_NR * QK);
    __m512 dw0 = _mm512_load_ps (dw), dw1 = _mm512_load_ps (dw + 16);
#define SCALE(r)                                                                              \
  {                                                                                           \
    __m512 da = _mm512_set1_ps (a[r].d[b]);                                                   \
    f##r##0 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (i##r##0), _mm512_mul_ps (dw0, da), f##r##0); \
    f##r##1 = _mm512_fmadd_ps (_mm512_cvtepi32_ps (i##r##1), _mm512_mul_ps (dw1, da), f##r##1); \
  }
    R6 (SCALE)
#undef SCALE
    if (has_m) {
      __m512 mw0 = _mm512_load_ps (dw + ZMM_NR), mw1 = _mm512_load_ps (dw + ZMM_NR + 16);
#define MIN(r)                                                                                \
  {                                                                                           \
    __m512 sa = _mm512_set1_ps (a[r].s[b]);                                                   \
    f##r##0 = _mm512_fmadd_ps (mw0, sa, f##r##0);                                             \
    f##r##1 = _mm512_fmadd_ps (mw1, sa, f##r##1);                                             \
  }
      R6 (MIN)
#undef MIN
    }
  }
#define STORE(r)                                                                              \
  {                                                                                           \
    float *cr = c + (size_t) (r) * ldc;                                                       \
    if (bias != NULL) {                                                                       \
      f##r##0 = _mm512_add_ps (f##r##0, _mm512_loadu_ps (bias));                              \
      f##r##1 = _mm512_add_ps (f##r##1, _mm512_loadu_ps (bias + 16));                         \
    }                                                                                         \
    if (acc) {                                                                                \
      f##r##0 = _mm512_add_ps (f##r##0, _mm512_loadu_ps (cr));                                \
      f##r##1 = _mm512_add_ps (f##r##1, _mm512_loadu_ps (cr + 16));                           \
    }                                                                                         \
    _mm512_storeu_ps (cr, f##r##0);                                                           \
    _mm512_storeu_ps (cr + 16, f##r##1);                                                      \
  }
  R6 (STORE)
#undef STORE
}

static const lmw_cpu_int8_kernels avx2_int8 = {
  "avx2", 4, YMM_NR, 0, avx2_quantize_row, avx2_kernel, avx2_dot16,
};
static const lmw_cpu_int8_kernels avxvnni_int8 = {
  "avxvnni", 4, YMM_NR, 128, avx2_quantize_row, avxvnni_kernel, avx2_dot16,
};
static const lmw_cpu_int8_kernels avx512vnni_int8 = {
  "avx512vnni", 6, ZMM_NR, 128, avx2_quantize_row, avx512vnni_kernel, avx512vnni_dot16,
};

/* AVX2 and the YMM state saved by the OS */
static bool
have_avx2 (void)
{
  unsigned a, b, c, d;
  if (!__get_cpuid (1, &a, &b, &c, &d))
    return false;
  if (!(c & (1u << 27)) || !(c & (1u << 28)) || !(c & (1u << 12)) || !(c & (1u << 29)))
    return false; /* osxsave, avx, fma, f16c */
  unsigned xlo, xhi;
  __asm__ ("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  if ((xlo & 6) != 6 || __get_cpuid_max (0, NULL) < 7)
    return false;
  __cpuid_count (7, 0, a, b, c, d);
  return b & (1u << 5);
}

static bool
have_avxvnni (void)
{
  unsigned a, b, c, d;
  if (!have_avx2 ())
    return false;
  __cpuid_count (7, 1, a, b, c, d);
  return a & (1u << 4);
}

/* AVX-512 F, BW, VL and VNNI, and the ZMM state saved by the OS */
static bool
have_avx512vnni (void)
{
  unsigned a, b, c, d;
  if (!have_avx2 ())
    return false;
  __cpuid_count (7, 0, a, b, c, d);
  if (!(b & (1u << 16)) || !(b & (1u << 30)) || !(b & (1u << 31)) || !(c & (1u << 11)))
    return false;
  unsigned xlo, xhi;
  __asm__ ("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  return (xlo & 0xe6) == 0xe6;
}
#endif /* LMW_HAVE_X86 */

/* ---- selection ---------------------------------------------------------------------------- */

static bool forced_set;
static const lmw_cpu_int8_kernels *forced;

/* the set named `name` if this machine runs it; *ok false when the name is unknown or the set
 * can't run here */
static const lmw_cpu_int8_kernels *
by_name (const char *name, bool *ok)
{
  *ok = true;
  if (strcmp (name, "off") == 0)
    return NULL;
  if (strcmp (name, "generic") == 0)
    return &generic_int8;
#ifdef LMW_HAVE_X86
  if (strcmp (name, "avx2") == 0 && have_avx2 ())
    return &avx2_int8;
  if (strcmp (name, "avxvnni") == 0 && have_avxvnni ())
    return &avxvnni_int8;
  if (strcmp (name, "avx512vnni") == 0 && have_avx512vnni ())
    return &avx512vnni_int8;
#endif
  *ok = false;
  return NULL;
}

bool
lmw_cpu_int8_force (const char *name)
{
  if (name == NULL) {
    forced_set = false;
    forced = NULL;
    return true;
  }
  bool ok;
  const lmw_cpu_int8_kernels *k = by_name (name, &ok);
  if (!ok)
    return false;
  forced_set = true;
  forced = k;
  return true;
}

const lmw_cpu_int8_kernels *
lmw_cpu_int8_kernels_for (const lmw_cpu_kernels *f32)
{
  if (forced_set)
    return forced;
  const char *env = getenv ("LMW_INT8");
  if (env != NULL && *env != '\0') {
    bool ok;
    const lmw_cpu_int8_kernels *k = by_name (env, &ok);
    if (ok)
      return k;
  }
  if (f32 == NULL || strcmp (f32->name, "generic") == 0)
    return &generic_int8;
#ifdef LMW_HAVE_X86
  if (strcmp (f32->name, "avx512") == 0 && have_avx512vnni ())
    return &avx512vnni_int8;
  if (have_avxvnni ())
    return &avxvnni_int8;
  if (have_avx2 ())
    return &avx2_int8;
#endif
  return &generic_int8;
}

const char *
lmw_cpu_int8_kernels_name (const lmw_cpu_int8_kernels *k)
{
  return k != NULL ? k->name : "off";
}

bool
lmw_cpu_int8_handles (const lmw_weight *w)
{
  switch (w->type) {
  case LMW_TYPE_Q8_0:
  case LMW_TYPE_Q4_0:
  case LMW_TYPE_Q4_1:
  case LMW_TYPE_Q5_0:
  case LMW_TYPE_Q5_1:
    return w->cols > 0 && w->cols % QK == 0;
  default:
    return false;
  }
}

/* ---- the product ---------------------------------------------------------------------------- */

struct lmw_cpu_int8 {
  const lmw_cpu_int8_kernels *kern;
  int n_threads;
  int8_t *q;        /* owned: (rows, K) quantised activations */
  float *d, *s;     /* owned: (rows, K / 32) */
  int32_t *sum;     /* owned: (rows, K / 32) */
  size_t q_len;     /* elements of q */
  int16_t *q16;     /* owned: (rows <= GEMV_MAX_M, K), the dot products' activations */
  size_t q16_len;
  uint8_t **pack;   /* owned: per thread, PANELS panels of the widest depth so far */
  size_t pack_len;  /* bytes of each */
};

lmw_cpu_int8 *
lmw_cpu_int8_new (const lmw_cpu_int8_kernels *kern, int n_threads)
{
  if (kern == NULL)
    return NULL;
  lmw_cpu_int8 *q = calloc (1, sizeof *q);
  if (q == NULL)
    return NULL;
  q->kern = kern;
  q->n_threads = n_threads;
  q->pack = calloc ((size_t) n_threads, sizeof *q->pack);
  if (q->pack == NULL) {
    free (q);
    return NULL;
  }
  return q;
}

void
lmw_cpu_int8_free (lmw_cpu_int8 *q)
{
  if (q == NULL)
    return;
  for (int i = 0; i < q->n_threads; i++)
    free (q->pack[i]);
  free (q->pack);
  free (q->q16);
  free (q->q);
  free (q->d);
  free (q->s);
  free (q->sum);
  free (q);
}

static bool
reserve (lmw_cpu_int8 *q, int M, int K)
{
  size_t n = (size_t) M * K;
  if (M <= GEMV_MAX_M && n > q->q16_len) {
    free (q->q16);
    q->q16 = malloc (sizeof (int16_t) * n);
    q->q16_len = q->q16 != NULL ? n : 0;
    if (q->q16 == NULL)
      return false;
  }
  if (n > q->q_len) {
    free (q->q);
    free (q->d);
    free (q->s);
    free (q->sum);
    q->q = aligned_alloc (64, (n + 63) / 64 * 64);
    q->d = malloc (sizeof (float) * (n / QK));
    q->s = malloc (sizeof (float) * (n / QK));
    q->sum = malloc (sizeof (int32_t) * (n / QK));
    if (q->q == NULL || q->d == NULL || q->s == NULL || q->sum == NULL) {
      free (q->q);
      free (q->d);
      free (q->s);
      free (q->sum);
      q->q = NULL;
      q->d = q->s = NULL;
      q->sum = NULL;
      q->q_len = 0;
      return false;
    }
    q->q_len = n;
  }
  size_t need = PANELS * (size_t) (K / QK) * panel_block_bytes (q->kern->nr);
  if (need > q->pack_len) {
    for (int i = 0; i < q->n_threads; i++) {
      free (q->pack[i]);
      q->pack[i] = aligned_alloc (64, need);
      if (q->pack[i] == NULL) {
        for (int j = 0; j <= i; j++) {
          free (q->pack[j]);
          q->pack[j] = NULL;
        }
        q->pack_len = 0;
        return false;
      }
    }
    q->pack_len = need;
  }
  return true;
}

typedef struct {
  lmw_cpu_int8 *q;
  const lmw_cpu_kernels *f32;
  float *out;
  int ldc;
  const float *inp;
  int lda;
  const lmw_weight *w;
  const float *bias;
  int M, K, nb;
  int width;     /* columns per task */
  int row_width; /* rows per task */
  unsigned flags;
} job;

static qrow
row_of (const job *j, int m)
{
  size_t o = (size_t) m * j->nb;
  return (qrow) { j->q->q + (size_t) m * j->K, j->q->d + o, j->q->s + o, j->q->sum + o,
                  j->q->q16 != NULL ? j->q->q16 + (size_t) m * j->K : NULL };
}

static void
quantize_task (void *arg, int task, int thread)
{
  (void) thread;
  job *j = arg;
  int m0 = task * j->row_width, m1 = m0 + j->row_width < j->M ? m0 + j->row_width : j->M;
  for (int m = m0; m < m1; m++) {
    size_t o = (size_t) m * j->nb;
    j->q->kern->quantize_row (j->q->q + (size_t) m * j->K, j->q->d + o, j->q->s + o,
                              j->q->sum + o, j->inp + (size_t) m * j->lda, j->K);
  }
}

static void
dot_task (void *arg, int task, int thread)
{
  (void) thread;
  job *j = arg;
  const lmw_weight *w = j->w;
  int n0 = task * j->width, n1 = n0 + j->width < w->rows ? n0 + j->width : w->rows;
  bool acc = j->flags & LMW_MATMUL_ACCUMULATE;
  qrow rows[GEMV_MAX_M];
  for (int m = 0; m < j->M; m++)
    rows[m] = row_of (j, m);
  for (int n = n0; n < n1; n++) {
    const uint8_t *wr = (const uint8_t *) w->data + (size_t) n * w->row_bytes;
    float b = j->bias ? j->bias[n] : 0.0f;
    for (int m = 0; m < j->M; m++) {
      float v = j->q->kern->dot (w->type, wr, &rows[m], j->nb) + b;
      float *o = j->out + (size_t) m * j->ldc + n;
      *o = acc ? *o + v : v;
    }
  }
  if ((j->flags & LMW_MATMUL_GELU) && !acc)
    for (int m = 0; m < j->M; m++)
      j->f32->gelu (j->out + (size_t) m * j->ldc + n0, (size_t) (n1 - n0));
}

static void
gemm_task (void *arg, int task, int thread)
{
  job *j = arg;
  const lmw_weight *w = j->w;
  const lmw_cpu_int8_kernels *kern = j->q->kern;
  const int NR = kern->nr;
  int n_col_tasks = (w->rows + j->width - 1) / j->width;
  int rt = task / n_col_tasks, ct = task % n_col_tasks;
  int n0 = ct * j->width, n1 = n0 + j->width < w->rows ? n0 + j->width : w->rows;
  int m0 = rt * j->row_width, m1 = m0 + j->row_width < j->M ? m0 + j->row_width : j->M;
  bool acc = j->flags & LMW_MATMUL_ACCUMULATE, gelu = (j->flags & LMW_MATMUL_GELU) && !acc;
  bool has_m = has_minimum (w->type);
  uint8_t *pack = j->q->pack[thread];
  size_t panel_bytes = (size_t) j->nb * panel_block_bytes (NR);
  const int MR = kern->mr;
  float tile[MR_MAX * NR_MAX] __attribute__ ((aligned (64)));
  for (int nb0 = n0; nb0 < n1; nb0 += PANELS * NR) {
    int np = 0;
    for (int pn = nb0; pn < n1 && np < PANELS; pn += NR, np++)
      pack_panel (pack + (size_t) np * panel_bytes, w, pn, n1 - pn < NR ? n1 - pn : NR, NR,
                  kern->offset);
    for (int m = m0; m < m1; m += MR) {
      int mr = m1 - m < MR ? m1 - m : MR;
      qrow a[MR_MAX];
      for (int r = 0; r < MR; r++)
        a[r] = row_of (j, r < mr ? m + r : m); /* spare rows repeat the first, not stored */
      for (int p = 0; p < np; p++) {
        int pn = nb0 + p * NR, nw = n1 - pn < NR ? n1 - pn : NR;
        const float *bias = j->bias ? j->bias + pn : NULL;
        float *c0 = j->out + (size_t) m * j->ldc + pn;
        if (mr == MR && nw == NR) { /* a whole tile: straight into the output */
          kern->kernel (j->nb, a, pack + (size_t) p * panel_bytes, has_m, c0, j->ldc, bias, acc);
        } else {
          kern->kernel (j->nb, a, pack + (size_t) p * panel_bytes, has_m, tile, NR, NULL, false);
          for (int r = 0; r < mr; r++)
            for (int x = 0; x < nw; x++) {
              float v = tile[r * NR + x] + (bias ? bias[x] : 0.0f);
              c0[(size_t) r * j->ldc + x] = acc ? c0[(size_t) r * j->ldc + x] + v : v;
            }
        }
        for (int r = 0; gelu && r < mr; r++) {
          float *c = c0 + (size_t) r * j->ldc;
          if (gelu)
            j->f32->gelu (c, (size_t) nw);
        }
      }
    }
  }
}

static int
task_width (int n_threads, int n, int quantum, int max_items, int per_thread)
{
  int tasks = n_threads * per_thread;
  int w = (n + tasks - 1) / tasks;
  w = (w + quantum - 1) / quantum * quantum;
  if (w > max_items)
    w = max_items;
  if (w < quantum)
    w = quantum;
  return w;
}

bool
lmw_cpu_int8_matmul (lmw_cpu_int8 *q, lmw_pool *pool, const lmw_cpu_kernels *f32, float *out,
                     int ldc, const float *inp, int lda, const lmw_weight *w, const float *bias,
                     int M, unsigned flags)
{
  if (q == NULL || M <= 0 || (M > GEMV_MAX_M && M < GEMM_MIN_M) || !lmw_cpu_int8_handles (w) ||
      !reserve (q, M, w->cols))
    return false;
  int K = w->cols, N = w->rows, T = lmw_pool_n_threads (pool);
  job j = { q, f32, out, ldc, inp, lda, w, bias, M, K, K / QK, 0, 0, flags };

  if (M <= GEMV_MAX_M) {
    for (int m = 0; m < M; m++)
      quantize_row16 (q->q16 + (size_t) m * K, q->d + (size_t) m * j.nb, q->s + (size_t) m * j.nb,
                      inp + (size_t) m * lda, K);
    j.width = (size_t) N * K < PARALLEL_MIN_WORK ? N : task_width (T, N, 8, 1 << 30, 4);
    lmw_pool_run (pool, dot_task, &j, (N + j.width - 1) / j.width);
    return true;
  }
  /* the activations, by bands of rows */
  j.row_width = (size_t) M * K < (1u << 16) ? M : task_width (T, M, 1, 1 << 30, 2);
  lmw_pool_run (pool, quantize_task, &j, (M + j.row_width - 1) / j.row_width);

  int NR = q->kern->nr;
  if (T > 1 && M >= ROW_SPLIT_MIN_M * T) {
    /* a band of rows per thread, every column: each thread packs the weights once */
    j.width = N;
    j.row_width = task_width (T, M, q->kern->mr, 1 << 30, 1);
    lmw_pool_run (pool, gemm_task, &j, (M + j.row_width - 1) / j.row_width);
    return true;
  }
  j.row_width = M;
  j.width = (size_t) M * N * K < PARALLEL_MIN_WORK ? N : task_width (T, N, NR, 1 << 30, 2);
  lmw_pool_run (pool, gemm_task, &j, (N + j.width - 1) / j.width);
  return true;
}
