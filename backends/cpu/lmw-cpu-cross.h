/* SPDX-License-Identifier: MIT */
/*
 * lmw-cpu-cross.h — the CPU backend's half of contract version 4: f16 conversion and the
 * decoder's cross-attention on f16 keys and values.
 *
 * The decoder reads every encoder key and value of its layer at each step; a step of one
 * token (or the beams of a beam search) is bound by reading them, so f16 halves what it
 * reads.  The engine keeps f16 cross K/V on this backend only for models whose matrices are
 * quantised (lmw-context.c): f16 and f32 models stay on the f32 reference path, bit for bit.
 */
#ifndef LMW_CPU_CROSS_H
#define LMW_CPU_CROSS_H

#include "lmw-cpu.h"

#include <stddef.h>
#include <stdint.h>

/* queries per call that lmw_cpu_cross_head takes; more go through f32 copies of K and V */
#define LMW_CPU_CROSS_MAX_Q 8
/* keys converted to f32 at a time */
#define LMW_CPU_CROSS_KEYS 128

/* dst (n) = src (n) as IEEE binary16 bits, rounded to nearest even (lmw_fp32_to_fp16's bits
 * for every finite value); F16C with any kernel set but the portable one */
void lmw_cpu_cross_to_f16 (const lmw_cpu_kernels *kern, uint16_t *dst, const float *src, size_t n);

/* floats of scratch lmw_cpu_cross_head needs */
size_t lmw_cpu_cross_scratch_floats (int Tq, int Tk, int D);

/* Head h of out (Tq, H*D) (row stride ldo) = softmax_t (q_r . k_t / sqrt D) v_t for each of the
 * Tq <= LMW_CPU_CROSS_MAX_Q query rows q (row stride ldq); k and v are f16 (Tk, ldkv).  Keys and
 * values are converted to f32 LMW_CPU_CROSS_KEYS rows at a time and go through the kernel set's
 * dot_rows, softmax_row and gemv_t, as ops->attention does on f32 ones. */
void lmw_cpu_cross_head (const lmw_cpu_kernels *kern, float *out, int ldo, const float *q, int ldq,
                         const uint16_t *k, const uint16_t *v, int ldkv, int Tq, int Tk, int h,
                         int D, float *scratch);

/* value rows lmw_cpu_cross_heads reads at a time for every head (16 KiB of f16 for a C of 512:
 * they stay in the L1 cache while each head takes its part) */
#define LMW_CPU_CROSS_VROWS 16

/* floats of scratch lmw_cpu_cross_heads needs for up to H heads */
size_t lmw_cpu_cross_heads_scratch_floats (int Tq, int Tk, int H, int D);

/* The heads h0 .. h1 - 1 of out (Tq, H*D) as lmw_cpu_cross_head computes them (the same bits),
 * reading their columns of K and V once from the first row to the last: 8 key rows at a time
 * give every head its scores, then LMW_CPU_CROSS_VROWS value rows at a time every head its
 * weighted sum.  A head at a time reads 2 * D bytes of every row, far apart; row after row the
 * processor's prefetchers keep the reads streaming, and a step of a few query rows is bound by
 * them. */
void lmw_cpu_cross_heads (const lmw_cpu_kernels *kern, float *out, int ldo, const float *q, int ldq,
                          const uint16_t *k, const uint16_t *v, int ldkv, int Tq, int Tk, int h0,
                          int h1, int D, float *scratch);

#endif /* LMW_CPU_CROSS_H */
