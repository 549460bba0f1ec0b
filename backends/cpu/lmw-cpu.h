/* SPDX-License-Identifier: MIT */
/*
 * lmw-cpu.h — internals of the CPU backend: the kernel table chosen once at start-up from the
 * instruction sets of the machine (portable C, or AVX2/FMA/F16C through function-level
 * target attributes), and the GEMM used by matmul, conv1d and attention.
 */
#ifndef LMW_CPU_H
#define LMW_CPU_H

#include "lmw-backend.h"

#include <stdbool.h>

#define LMW_GEMM_MR 6      /* rows of the register tile */
#define LMW_GEMM_NR_MAX 64 /* widest register tile (one packed panel); each table has its nr */
#define LMW_GEMM_KC 256    /* depth of one packed block */
#define LMW_GEMM_NC 256    /* columns packed at once per thread, a multiple of every nr */

typedef struct {
  const char *name; /* "generic", "avx2", "avx512" */
  int nr;           /* columns of the register tile: panels are packed (kc, nr) */
  /* dst (n) = elements [k0, k0 + n) of a row of `type` */
  void (*convert_row) (float *dst, lmw_type type, const void *row, int k0, int n);
  /* dot (x (K), row of `type` (K)); tmp is K floats of scratch for the generic types */
  float (*dot_row) (const float *x, lmw_type type, const void *row, int K, float *tmp);
  /* c (MR, nr) (row stride ldc) = init + sum over k < kc of a[r][k] * bp[k][j]; bp is a packed
   * (kc, nr) panel, 64-byte aligned; init is c itself when accumulate, else bias (NR) or zero when bias is NULL */
  void (*kernel) (int kc, const float *const *a, const float *bp, float *c, int ldc,
                  const float *bias, bool accumulate);
  /* y (n) += a * x (n) */
  void (*axpy) (float *y, float a, const float *x, int n);
  /* x (n) = exp (scale * (x - max (x))) in place; returns the sum (n >= 1) */
  float (*exp_row) (float *x, int n, float scale);
  /* softmax of one row in place, after multiplying it by scale */
  void (*softmax_row) (float *x, int n, float scale);
  void (*gelu) (float *x, size_t n);
  /* dst (kc, nr) = transposed rows n0 .. n0 + nw of w, elements k0 .. k0 + kc, converted to f32,
   * zero past nw (the GEMM's packed B panel); tmp holds 8 * kc floats */
  void (*pack_rows) (float *dst, const lmw_weight *w, int n0, int nw, int k0, int kc, float *tmp);
  /* out (n): out[t] = x (D) · rows[t * ld .. + D) (attention scores of one query) */
  void (*dot_rows) (float *out, const float *x, const float *rows, size_t ld, int n, int D);
  /* y (D) = sum over t < n of p[t] * rows[t * ld .. + D) (one query's attention output) */
  void (*gemv_t) (float *y, const float *p, const float *rows, size_t ld, int n, int D);
  /* y (C) = (x - mean) / sqrt (var + eps) * w + b; y may equal x */
  void (*layernorm_row) (float *y, const float *x, const float *w, const float *b, int C, float eps);
  /* Optional (NULL: the backend computes scores, exponentials and P V with the kernels above).
   * One block of LMW_GEMM_MR query rows q[r] (D floats each) of one head against kn keys: for
   * each row with visible[r] > 0, out[r * ldo .. + D) = sum over t < visible[r] of
   * softmax_t (scale * q[r] . k_t) v_t; rows with visible[r] == 0 are not written (q[r] must
   * still point to D readable floats).  kp holds the keys as (D, nr) panels packed by pack_rows
   * (64-byte aligned, zero past kn), v the rows (kn, D) with row stride ldv; p is scratch of
   * LMW_GEMM_MR rows of ldp >= kn rounded up to nr floats. */
  void (*attn_block) (float *out, size_t ldo, const float *const *q, const int *visible,
                      const float *kp, const float *v, size_t ldv, int kn, int D, float scale,
                      float *p, int ldp);
} lmw_cpu_kernels;

const lmw_cpu_kernels *lmw_cpu_kernels_get (void);

/* Attention with bf16 scores (AVX512-BF16), for quantised models: pack_keys turns np (D, 64)
 * panels from pack_rows into (D / 2, 64) panels of bf16 pairs (D even); attn_block is
 * attn_block of the AVX-512 set with kb from pack_keys. */
typedef struct {
  void (*pack_keys) (uint32_t *dst, const float *kp, int np, int D);
  void (*attn_block) (float *out, size_t ldo, const float *const *q, const int *visible,
                      const uint32_t *kb, const float *v, size_t ldv, int kn, int D, float scale,
                      float *p, int ldp);
} lmw_cpu_attn_bf16;

/* the bf16 attention of the selected kernel set; NULL when this machine has none */
const lmw_cpu_attn_bf16 *lmw_cpu_attn_bf16_get (void);
/* forces the portable kernels (tests compare both); call before any backend is created */
void lmw_cpu_kernels_force_generic (bool generic);
/* selects the kernel set `name` ("generic", "avx2", "avx512"; NULL: the best for this machine)
 * for backends created afterwards; false when this machine can't run it (nothing changes) */
bool lmw_cpu_kernels_force (const char *name);

/* B operand of a GEMM: either weight rows (N, K) of any type, or an f32 matrix (K, N). */
typedef struct {
  bool kn;          /* true: f32 (K, N) with row stride ld; false: rows of w */
  const lmw_weight *w;
  const float *f;
  int ld;
} lmw_gemm_b;

/* C (M, n1 - n0) (columns n0 .. n1 of C, row stride ldc) = A (M, K) · B + bias, with the
 * epilogue of flags (LMW_MATMUL_GELU, LMW_MATMUL_ACCUMULATE) applied.
 * pack is LMW_GEMM_KC * LMW_GEMM_NC floats of scratch; rowtmp max (K, 8 * LMW_GEMM_KC) floats. */
void lmw_cpu_gemm_cols (const lmw_cpu_kernels *kern, float *C, int ldc, const float *A, int lda,
                        const lmw_gemm_b *B, const float *bias, int M, int K, int n0, int n1,
                        unsigned flags, float *pack, float *rowtmp);

#endif /* LMW_CPU_H */
