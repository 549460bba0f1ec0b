/* SPDX-License-Identifier: MIT */
/*
 * lmw-backend.h — the compute-backend contract of the Whisper-architecture engine.
 *
 * A backend is a plain C table of operations (lmw_backend_ops) that starts with a version
 * number.  The engine checks the version and every optional pointer before calling it.
 * Backends are chosen by score (0 = can't run here); the CPU backend is the reference that
 * every other backend is compared with.
 *
 * Conventions for every operation:
 *   - activations are f32, row-major, time-major: x is (T, C) with row stride C unless an
 *     explicit leading dimension is given;
 *   - weights are described by lmw_weight: a (rows, cols) matrix in the layout PyTorch uses for
 *     nn.Linear (out_features, in_features), stored as f32, f16 or a ggml block-quantised type;
 *   - outputs come first, dimensions last (as in llm.c);
 *   - a backend context is used by one thread at a time (the caller's stream); the backend may
 *     use its own worker threads inside an operation.
 */
#ifndef LMW_BACKEND_H
#define LMW_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMW_BACKEND_VERSION 2

/* Element types, numbered as in the ggml file format. */
typedef enum {
  LMW_TYPE_F32 = 0,
  LMW_TYPE_F16 = 1,
  LMW_TYPE_Q4_0 = 2,
  LMW_TYPE_Q4_1 = 3,
  LMW_TYPE_Q5_0 = 6,
  LMW_TYPE_Q5_1 = 7,
  LMW_TYPE_Q8_0 = 8,
} lmw_type;

#define LMW_QK 32 /* elements per block of every quantised type */

/* Shapes every backend supports, and the model loader's bounds (a model beyond them is refused
 * when it loads, so no operation ever sees a larger shape):
 *   LMW_BACKEND_MAX_KEYS  the longest key sequence of attention() (Tk), hence n_audio_ctx and
 *                         n_text_ctx;
 *   LMW_BACKEND_MAX_K     the widest inner dimension of matmul() (cols), hence 4 * n_state
 *                         (the MLP's hidden width) at most. */
#define LMW_BACKEND_MAX_KEYS 4096
#define LMW_BACKEND_MAX_K 16384

/* A weight matrix (rows, cols): row r starts at data + r * row_bytes. */
typedef struct {
  lmw_type type;
  int rows;          /* output features (N) */
  int cols;          /* input features (K); a multiple of LMW_QK for quantised types */
  size_t row_bytes;  /* bytes per row */
  const void *data;  /* borrowed from the model */
} lmw_weight;

typedef struct lmw_backend_ops {
  int version;      /* LMW_BACKEND_VERSION */
  const char *name; /* "cpu", ... */

  /* 0 = cannot run on this machine; higher wins.  Required. */
  int (*score) (void);
  /* Creates a context using up to n_threads threads; NULL on failure (err filled). */
  void *(*create) (int n_threads, char *err, size_t err_len);
  void (*destroy) (void *ctx);

  /* out (M, N) = inp (M, K) · w^T (+ bias (N) when not NULL); N = w->rows, K = w->cols.
   * inp row stride lda, out row stride ldc. */
  void (*matmul) (void *ctx, float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
                  const float *bias, int M);
  /* out (N, C) = (inp - mean) / sqrt(var + eps) * weight + bias, per row. out may equal inp. */
  void (*layernorm) (void *ctx, float *out, const float *inp, const float *weight,
                     const float *bias, int N, int C, float eps);
  /* x (n) = x * 0.5 * (1 + erf(x / sqrt(2))), in place. */
  void (*gelu) (void *ctx, float *x, size_t n);
  /* x (rows, cols): softmax of each row, in place. */
  void (*softmax) (void *ctx, float *x, int rows, int cols);
  /* Convolution with kernel 3, padding 1: out (T_out, C_out) with T_out = (T_in - 1) / stride + 1,
   * input element (c, t) at inp[c * in_cstride + t * in_tstride], w is (C_out, C_in * 3) with
   * the PyTorch (C_out, C_in, 3) layout flattened. */
  void (*conv1d_k3) (void *ctx, float *out, const float *inp, size_t in_cstride,
                     size_t in_tstride, const lmw_weight *w, const float *bias, int T_in,
                     int C_in, int stride);
  /* Multi-head scaled dot-product attention.
   * q (Tq, H*D) row stride ldq, k and v (Tk, H*D) row strides ldk, ldv, out (Tq, H*D) stride ldo.
   * Scores are scaled by 1/sqrt(D).  causal_past >= 0 applies a causal mask where query i sits
   * at absolute position causal_past + i and sees keys 0 .. causal_past + i; -1 = no mask. */
  void (*attention) (void *ctx, float *out, int ldo, const float *q, int ldq, const float *k,
                     int ldk, const float *v, int ldv, int Tq, int Tk, int H, int D,
                     int causal_past);
  /* out (n) += inp (n). */
  void (*add) (void *ctx, float *out, const float *inp, size_t n);
  /* out (n, cols) = rows ids[i] of w, converted to f32. */
  void (*get_rows) (void *ctx, float *out, const lmw_weight *w, const int *ids, int n);

  /* Optional (version 2; NULL when the backend lacks it): matmul with a fused epilogue.
   * flags LMW_MATMUL_GELU: out = gelu (inp · w^T + bias);
   * flags LMW_MATMUL_ACCUMULATE: out += inp · w^T + bias (a residual connection);
   * not both.  inp must not overlap out. */
  void (*matmul_ex) (void *ctx, float *out, int ldc, const float *inp, int lda,
                     const lmw_weight *w, const float *bias, int M, unsigned flags);
} lmw_backend_ops;

#define LMW_MATMUL_GELU 1u
#define LMW_MATMUL_ACCUMULATE 2u

/* The CPU reference backend (always available). */
const lmw_backend_ops *lmw_backend_cpu (void);

/* Bytes needed for one row of `cols` elements of `type`; 0 if the type is unknown or cols is
 * not a multiple of the block size. */
size_t lmw_type_row_bytes (lmw_type type, int64_t cols);
/* Human-readable type name ("f16", "q8_0", ...) or NULL for an unknown type. */
const char *lmw_type_name (int type);
/* dst (n) = elements [k0, k0 + n) of a row of `type`; k0 and n multiples of LMW_QK for
 * quantised types. */
void lmw_dequantize_row (float *dst, lmw_type type, const void *row, int k0, int n);

float lmw_fp16_to_fp32 (uint16_t h);
uint16_t lmw_fp32_to_fp16 (float f);

#ifdef __cplusplus
}
#endif

#endif /* LMW_BACKEND_H */
