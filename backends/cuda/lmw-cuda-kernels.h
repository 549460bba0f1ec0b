/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-kernels.h — the CUDA kernels of the whisper engine's GPU backend, seen from the host.
 *
 * Every kernel in lmw-cuda-kernels.cu has one C-callable launcher declared here.  A launcher
 * checks its arguments, computes the grid, enqueues the kernel on `stream` and returns a status;
 * it never waits for the device, never allocates and never exits.
 *
 * The same kernel source is built two ways:
 *   - by nvcc, for the GPU (sm_80, sm_90): `stream` is a cudaStream_t (NULL = the legacy default
 *     stream) and every pointer marked (device) is device memory;
 *   - by the host C++ compiler under emu/lmw-cuda-emu.h, where each CUDA thread is a fiber and a
 *     launch runs every block before returning: `stream` is ignored and (device) pointers are
 *     ordinary host memory.  Tests compare this build with the CPU reference backend.
 *
 * Conventions (as in lmw-backend.h):
 *   - outputs first, dimensions last;
 *   - matrices are row-major, time-major: x (T, C) has row stride ld (in elements) >= C;
 *   - f16 values are IEEE binary16 bit patterns (uint16_t here, __half in the kernels),
 *     converted with round-to-nearest-even; accumulation is always f32;
 *   - an optional output or input is NULL when not wanted;
 *   - "typed" inputs take an lmw_type: LMW_TYPE_F32 (float) or LMW_TYPE_F16 (uint16_t).
 *
 * Statuses: LMW_CUDA_OK; LMW_CUDA_EINVAL for arguments the kernels cannot take (the launcher
 * enqueues nothing); LMW_CUDA_ELAUNCH when the runtime refused the launch (cudaGetLastError).
 * Errors raised later, while the kernel runs, surface at the caller's next synchronisation.
 * Launching with zero rows (or n == 0) is valid and enqueues nothing.
 */
#ifndef LMW_CUDA_KERNELS_H
#define LMW_CUDA_KERNELS_H

#include "lmw-backend.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  LMW_CUDA_OK = 0,
  LMW_CUDA_EINVAL = 1,  /* bad dimensions, strides, alignment or type */
  LMW_CUDA_ELAUNCH = 2, /* the runtime refused the launch */
} lmw_cuda_status;

/* Largest k of lmw_cuda_topk (a beam search needs 2 * beams candidates per row). */
#define LMW_CUDA_TOPK_MAX 64
/* Head dimensions the attention kernels are compiled for (whisper uses 64 for every size). */
#define LMW_CUDA_ATTN_D_MAX 128
/* Query rows of one request that lmw_cuda_cross_attention serves with one read of its K/V. */
#define LMW_CUDA_XATTN_GROUP 16

/* Epilogue flags of lmw_cuda_bias_act (same bits as lmw_backend_ops.matmul_ex). */
#define LMW_CUDA_GELU LMW_MATMUL_GELU             /* y = gelu (x + bias) */
#define LMW_CUDA_ACCUMULATE LMW_MATMUL_ACCUMULATE /* out += x + bias (a residual) */

/* Human-readable text of a status ("ok", "invalid argument", ...). */
const char *lmw_cuda_status_string (lmw_cuda_status status);
/* Text of the last launch failure on this thread (the runtime's message), "" if none. */
const char *lmw_cuda_last_error (void);

/* ---- conversion ------------------------------------------------------------------------- */

/* out (n) f16 = in (n) f32.  (device) pointers. */
lmw_cuda_status lmw_cuda_f32_to_f16 (uint16_t *out, const float *in, size_t n, void *stream);
/* out (n) f32 = in (n) f16. */
lmw_cuda_status lmw_cuda_f16_to_f32 (float *out, const uint16_t *in, size_t n, void *stream);

/* ---- row operations --------------------------------------------------------------------- */

/* Layer norm of each of N rows of C:
 *   y = (x - mean) / sqrt (var + eps) * weight + bias   (biased variance, f32 statistics)
 * inp (N, C) row stride ldi; out (N, C) f32 row stride ldo, may equal inp (same stride);
 * out_h (N, C) f16 row stride ldh: the same values rounded, for the next product's input.
 * At least one of out, out_h.  weight and bias (C) f32, each may be NULL (1 and 0). */
lmw_cuda_status lmw_cuda_layernorm (float *out, int ldo, uint16_t *out_h, int ldh,
                                    const float *inp, int ldi, const float *weight,
                                    const float *bias, int N, int C, float eps, void *stream);

/* Epilogue of a product whose f32 result x (M, N) (row stride ldx) came from cuBLAS:
 *   flags 0:                   out = x + bias
 *   LMW_CUDA_GELU:             out = gelu (x + bias)        gelu (v) = v/2 (1 + erf (v / sqrt 2))
 *   LMW_CUDA_ACCUMULATE:       out = out + x + bias         (a residual connection)
 *   both:                      out = out + gelu (x + bias)
 * out (M, N) f32 row stride ldo (may equal x when ldo == ldx: x + x with ACCUMULATE; NULL
 * when only out_h is wanted, then ACCUMULATE must not be set); out_h (M, N) f16 row stride ldh
 * receives the final values rounded; bias (N) f32 or NULL.
 * ldx may be 0: every row reads the same x row (a broadcast, e.g. adding one positional
 * embedding row to every beam). */
lmw_cuda_status lmw_cuda_bias_act (float *out, int ldo, uint16_t *out_h, int ldh, const float *x,
                                   int ldx, const float *bias, int M, int N, unsigned flags,
                                   void *stream);

/* x (n) = gelu (x), in place, exact erf form. */
lmw_cuda_status lmw_cuda_gelu (float *x, size_t n, void *stream);

/* Softmax of each row of x (rows, cols) (row stride ld) after multiplying by scale, in place. */
lmw_cuda_status lmw_cuda_softmax (float *x, int ld, int rows, int cols, float scale,
                                  void *stream);

/* ---- the convolution stem --------------------------------------------------------------- */

/* Convolution with kernel 3, padding 1, stride 1 or 2 (whisper's conv1 and conv2):
 *   out (T_out, C_out) = act (bias + sum over c, j of w[o][c][j] * in (c, t * stride + j - 1))
 * T_out = (T_in - 1) / stride + 1; input element (c, t) at inp[c * in_cstride + t * in_tstride]
 * (f32), so both the mel (C_in, T) and an activation (T, C_in) are read in place;
 * w (C_out, C_in * 3) typed (PyTorch (C_out, C_in, 3) flattened) with row stride ldw elements;
 * bias (C_out) f32 or NULL; flags 0 or LMW_CUDA_GELU; out row stride ldo (>= C_out), out_h
 * optional f16 copy with row stride ldh. */
lmw_cuda_status lmw_cuda_conv1d_k3 (float *out, int ldo, uint16_t *out_h, int ldh,
                                    const float *inp, size_t in_cstride, size_t in_tstride,
                                    const void *w, lmw_type w_type, size_t ldw, const float *bias,
                                    int T_in, int C_in, int C_out, int stride, unsigned flags,
                                    void *stream);

/* The same convolution as a product: cols (T_out, C_in * 3) f16 (row stride ldc >= 3 C_in),
 * cols[t][c * 3 + j] = in (c, t * stride + j - 1) (0 outside the input), so that
 * out = cols · w^T runs on cuBLAS and lmw_cuda_bias_act finishes it. */
lmw_cuda_status lmw_cuda_im2col_k3 (uint16_t *cols, int ldc, const float *inp,
                                    size_t in_cstride, size_t in_tstride, int T_in, int C_in,
                                    int stride, void *stream);

/* ---- attention -------------------------------------------------------------------------- */

/* Fused (flash-style) multi-head attention of B independent batches, non-causal (encoder) or
 * causal (decoder self-attention over a KV cache):
 *   out[b] (Tq, H*D) = softmax (q[b] k[b]^T / sqrt (D) + mask) v[b], head by head.
 * q[b] = q + b * q_bstride, rows of H*D f32 with stride ldq; k[b], v[b] = k + b * kv_bstride,
 * v + b * kv_bstride (elements of kv_type, F32 or F16), rows of stride ldk, ldv; Tk keys each;
 * out[b] = out + b * o_bstride, f32 row stride ldo; out_h optional f16 copy (stride ldh, batch
 * stride h_bstride).  causal_past >= 0: query i sits at position causal_past + i and sees keys
 * 0 .. min (causal_past + i, Tk - 1); -1: every key.  Scores never materialise in memory: each
 * block keeps a running max and sum (online softmax).  D <= LMW_CUDA_ATTN_D_MAX.
 * Precision: with f32 K/V everything is f32.  With f16 K/V, D <= 64 and Tq > 16 the products
 * run on tensor cores with the scaled queries and the probabilities rounded to f16 as well
 * (relative error a few 1e-4); fewer rows (a decode step) stay in f32 arithmetic. */
lmw_cuda_status lmw_cuda_attention (float *out, int ldo, size_t o_bstride, uint16_t *out_h,
                                    int ldh, size_t h_bstride, const float *q, int ldq,
                                    size_t q_bstride, const void *k, int ldk, const void *v,
                                    int ldv, size_t kv_bstride, lmw_type kv_type, int B, int Tq,
                                    int Tk, int H, int D, int causal_past, void *stream);

/* Cross-attention of a decode step: R requests, each with nq query rows (its beams times the
 * tokens of this step) that all attend to the same encoder K/V, without a mask.  The kernel
 * reads each request's K/V once per head for every group of LMW_CUDA_XATTN_GROUP rows (all of
 * a request's beams in one decode step), in 16-byte loads.
 * q rows (R * nq, H*D) f32 stride ldq (request r owns rows r * nq .. r * nq + nq - 1);
 * out likewise (stride ldo), out_h optional f16 (stride ldh);
 * k, v f16: request r's keys at k + r * kv_rstride, Tk rows of stride ldkv.
 * Needs D % 8 == 0, D <= LMW_CUDA_ATTN_D_MAX, ldkv % 8 == 0, kv_rstride % 8 == 0 and 16-byte
 * aligned k and v. */
lmw_cuda_status lmw_cuda_cross_attention (float *out, int ldo, uint16_t *out_h, int ldh,
                                          const float *q, int ldq, const uint16_t *k,
                                          const uint16_t *v, int ldkv, size_t kv_rstride, int R,
                                          int nq, int Tk, int H, int D, void *stream);

/* ---- embedding and search --------------------------------------------------------------- */

/* out (n, cols) f32 row stride ldo = rows ids[i] of w (typed, row stride ldw elements);
 * ids (n) (device).  An id outside 0 .. w_rows - 1 gives a row of zeros. */
lmw_cuda_status lmw_cuda_get_rows (float *out, int ldo, const void *w, lmw_type w_type,
                                   size_t ldw, int w_rows, const int *ids, int n, int cols,
                                   void *stream);

/* For each of rows rows of x (row stride ld, cols >= 1): idx[r] = the column of the largest
 * value (the lowest column among equal ones; NaN never wins), val[r] its value (NULL: not
 * wanted), lse[r] = log (sum exp (x)) of the row (NULL: not wanted; then log-probabilities
 * are x - lse). */
lmw_cuda_status lmw_cuda_argmax (int *idx, float *val, float *lse, const float *x, int ld,
                                 int rows, int cols, void *stream);

/* The k largest values of each row, in decreasing order (equal values: lower column first):
 * idx (rows, k) and val (rows, k) (val may be NULL), lse (rows) as in lmw_cuda_argmax.
 * 1 <= k <= min (cols, LMW_CUDA_TOPK_MAX). */
lmw_cuda_status lmw_cuda_topk (int *idx, float *val, float *lse, const float *x, int ld,
                               int rows, int cols, int k, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* LMW_CUDA_KERNELS_H */
