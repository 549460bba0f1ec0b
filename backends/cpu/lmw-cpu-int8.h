/* SPDX-License-Identifier: MIT */
/*
 * lmw-cpu-int8.h — integer matrix products of the CPU backend for block-quantised weights
 * (q8_0, q5_0, q5_1, q4_0, q4_1): the activations are quantised on the fly per block of 32 to
 * int8 with an f32 scale, each block's dot product is summed in int32, and the two block
 * scales are applied in f32.  Weights stay in their file type.
 *
 * Kernel sets, chosen once from cpuid (the best the machine has, within the f32 kernel set in
 * use: the portable f32 kernels pair with the portable integer ones):
 *   generic     portable C
 *   avx2        _mm256_maddubs_epi16 on |w| and sign (a, w) (exact: |w| <= 128, |a| <= 127)
 *   avxvnni     _mm256_dpbusd_avx_epi32 (VEX, Alder Lake and later)
 *   avx512vnni  _mm512_dpbusd_epi32 (AVX512-VNNI with BW and VL)
 * LMW_INT8=off|generic|avx2|avxvnni|avx512vnni in the environment forces a set (one the machine
 * lacks is ignored); off keeps every product on the f32 path (the reference).
 */
#ifndef LMW_CPU_INT8_H
#define LMW_CPU_INT8_H

#include "lmw-backend.h"
#include "lmw-cpu.h"
#include "lmw-pool.h"

#include <stdbool.h>

typedef struct lmw_cpu_int8_kernels lmw_cpu_int8_kernels;

/* The integer kernel set for contexts created now, given the f32 set they use; NULL = off. */
const lmw_cpu_int8_kernels *lmw_cpu_int8_kernels_for (const lmw_cpu_kernels *f32);
/* "generic", "avx2", ... */
const char *lmw_cpu_int8_kernels_name (const lmw_cpu_int8_kernels *k);
/* Forces the set `name` (or "off"; NULL: back to the automatic choice) for contexts created
 * afterwards; false when this machine can't run it (nothing changes). */
bool lmw_cpu_int8_force (const char *name);

/* true when the integer path computes products on weights of this type */
bool lmw_cpu_int8_handles (const lmw_weight *w);

/* Per-context state of the integer products: the quantised activations and each thread's
 * packed weight panels, grown on use. */
typedef struct lmw_cpu_int8 lmw_cpu_int8;

lmw_cpu_int8 *lmw_cpu_int8_new (const lmw_cpu_int8_kernels *kern, int n_threads);
void lmw_cpu_int8_free (lmw_cpu_int8 *q);

/* out (M, N) = inp (M, K) · w^T + bias, with the epilogue of flags (LMW_MATMUL_GELU,
 * LMW_MATMUL_ACCUMULATE), split between the pool's threads; gelu is the f32 set's.
 * Returns false (nothing written) when memory for the scratch can't be had: the caller then
 * takes the f32 path. */
bool lmw_cpu_int8_matmul (lmw_cpu_int8 *q, lmw_pool *pool, const lmw_cpu_kernels *f32,
                          float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
                          const float *bias, int M, unsigned flags);

#endif /* LMW_CPU_INT8_H */
