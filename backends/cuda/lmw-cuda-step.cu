/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-step.cu — the kernels of a table-driven decoder step (lmw-cuda-step.h documents the
 * launchers).  Every argument that changes between steps is read from the row table, so that
 * the launches of a step of R rows are the same at every step and a CUDA graph of them can be
 * replayed.
 *
 * One source, two builds, as lmw-cuda-kernels.cu: nvcc for the GPU, and with LMW_CUDA_EMU the
 * host C++ compiler under emu/lmw-cuda-emu.h.  A block leaves early only as a whole (a padding
 * row), never before a barrier the rest of it reaches.
 *
 * The kernels:
 *   k_step_embed       token embedding plus the row's positional embedding
 *   k_step_self_attn   a block per (head, row): the row's new key and value stored at its
 *                      position of its own cache, then its query against keys 0 .. pos
 *   k_step_cross_attn  a block per (head, row): the query against its window's f16 K/V
 *   k_step_pick        a block per row: the search's greedy choice among the row's logits,
 *                      filtered on the device (so a step returns a token, not the logits)
 * Attention is exact two-pass softmax in f32: the scores of the row (at most
 * LMW_BACKEND_MAX_KEYS) in shared memory, their maximum and sum reduced over the block, then
 * each thread sums its output dimensions over the keys.
 */
#include "lmw-cuda-compat.h"
#include "lmw-cuda-pick.cuh"
#include "lmw-cuda-step.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define STEP_FULL_MASK 0xffffffffu
#define STEP_THREADS 128

/* ---- status ----------------------------------------------------------------------------- */

static thread_local char step_error[256];

const char *
lmw_cuda_step_last_error (void)
{
  return step_error;
}

static lmw_cuda_status
step_invalid (const char *fn, const char *what)
{
  snprintf (step_error, sizeof step_error, "%s: %s", fn, what);
  return LMW_CUDA_EINVAL;
}

static lmw_cuda_status
step_launched (const char *fn)
{
#ifdef LMW_CUDA_EMU
  (void) fn;
  return LMW_CUDA_OK;
#else
  cudaError_t e = cudaGetLastError ();
  if (e == cudaSuccess)
    return LMW_CUDA_OK;
  snprintf (step_error, sizeof step_error, "%s: %s", fn, cudaGetErrorString (e));
  return LMW_CUDA_ELAUNCH;
#endif
}

#define STEP_CHECK(cond, what)                                                                 \
  do {                                                                                         \
    if (!(cond))                                                                               \
      return step_invalid (__func__, what);                                                    \
  } while (0)

/* ---- device helpers --------------------------------------------------------------------- */

__device__ __forceinline__ float
step_ld (const float *p, size_t i)
{
  return p[i];
}

__device__ __forceinline__ float
step_ld (const __half *p, size_t i)
{
  return __half2float (p[i]);
}

/* sum or max over the block (every thread calls it, and gets the result); red: 32 floats of
 * shared memory */
__device__ __forceinline__ float
step_reduce (float v, float *red, bool is_max)
{
  for (int o = 16; o > 0; o >>= 1) {
    float other = __shfl_xor_sync (STEP_FULL_MASK, v, o);
    v = is_max ? fmaxf (v, other) : v + other;
  }
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
  if (lane == 0)
    red[w] = v;
  __syncthreads ();
  float r = red[0];
  for (int i = 1; i < nw; i++)
    r = is_max ? fmaxf (r, red[i]) : r + red[i];
  __syncthreads (); /* red may be reused at once */
  return r;
}

/* o (D) = softmax (qrow · K^T / sqrt (D)) · V over n_keys rows of K and V (row stride ld):
 * the whole block, which must all call it */
template <typename KT>
__device__ void
step_attend (float *o, const float *qrow, const KT *K, const KT *V, int ld, int n_keys, int D)
{
  __shared__ float sq[LMW_CUDA_ATTN_D_MAX];
  __shared__ float sp[LMW_BACKEND_MAX_KEYS];
  __shared__ float red[32];
  int tid = threadIdx.x, nt = blockDim.x;
  float scale = 1.0f / sqrtf ((float) D);
  for (int d = tid; d < D; d += nt)
    sq[d] = qrow[d] * scale;
  __syncthreads ();
  float m = -INFINITY;
  for (int j = tid; j < n_keys; j += nt) {
    const KT *kr = K + (size_t) j * ld;
    float s = 0.0f;
    for (int d = 0; d < D; d++)
      s += sq[d] * step_ld (kr, (size_t) d);
    sp[j] = s;
    m = fmaxf (m, s);
  }
  m = step_reduce (m, red, true);
  float sum = 0.0f;
  for (int j = tid; j < n_keys; j += nt) {
    float e = expf (sp[j] - m);
    sp[j] = e;
    sum += e;
  }
  sum = step_reduce (sum, red, false); /* its barrier also publishes sp */
  float inv = 1.0f / sum;
  for (int d = tid; d < D; d += nt) {
    float acc = 0.0f;
    for (int j = 0; j < n_keys; j++)
      acc += sp[j] * step_ld (V, (size_t) j * ld + d);
    o[d] = acc * inv;
  }
  __syncthreads (); /* sq and sp are reused by the next call */
}

/* ---- kernels ---------------------------------------------------------------------------- */

template <typename WT>
__global__ void
k_step_embed (float *x, const WT *tok_emb, int n_vocab, const float *pos_emb, int n_pos,
              const lmw_step_row *rows, int R, int C)
{
  for (int r = blockIdx.y; r < R; r += gridDim.y) {
    lmw_step_row row = rows[r];
    bool live = row.token >= 0 && row.token < n_vocab && row.pos >= 0 && row.pos < n_pos;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x)
      x[(size_t) r * C + c] = live ? step_ld (tok_emb, (size_t) row.token * C + c) +
                                         pos_emb[(size_t) row.pos * C + c]
                                   : 0.0f;
  }
}

__global__ void __launch_bounds__ (STEP_THREADS)
k_step_self_attn (float *out, const float *q, const float *k, const float *v,
                  const lmw_step_row *rows, size_t layer_offset, int H, int D)
{
  int h = blockIdx.x, r = blockIdx.y, C = H * D;
  lmw_step_row row = rows[r];
  float *o = out + (size_t) r * C + (size_t) h * D;
  if (row.token < 0 || row.pos < 0 || row.pos >= LMW_BACKEND_MAX_KEYS) { /* the whole block */
    for (int d = threadIdx.x; d < D; d += blockDim.x)
      o[d] = 0.0f;
    return;
  }
  float *kc = row.self_k + layer_offset + (size_t) h * D;
  float *vc = row.self_v + layer_offset + (size_t) h * D;
  size_t at = (size_t) row.pos * C, src = (size_t) r * C + (size_t) h * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    kc[at + d] = k[src + d];
    vc[at + d] = v[src + d];
  }
  __syncthreads (); /* the new key and value are read back by every thread */
  step_attend<float> (o, q + src, kc, vc, C, row.pos + 1, D);
}

__global__ void __launch_bounds__ (STEP_THREADS)
k_step_cross_attn (float *out, const float *q, const lmw_step_row *rows, size_t layer_offset,
                   int Tk, int H, int D)
{
  int h = blockIdx.x, r = blockIdx.y, C = H * D;
  lmw_step_row row = rows[r];
  float *o = out + (size_t) r * C + (size_t) h * D;
  if (row.token < 0) { /* the whole block */
    for (int d = threadIdx.x; d < D; d += blockDim.x)
      o[d] = 0.0f;
    return;
  }
  const __half *kc = reinterpret_cast<const __half *> (row.cross_k + layer_offset) + (size_t) h * D;
  const __half *vc = reinterpret_cast<const __half *> (row.cross_v + layer_offset) + (size_t) h * D;
  step_attend<__half> (o, q + (size_t) r * C + (size_t) h * D, kc, vc, C, Tk, D);
}

/* ---- greedy pick (the filters: lmw-cuda-pick.cuh) ------------------------------------ */

__global__ void __launch_bounds__ (PICK_THREADS)
k_step_pick (lmw_pick_result *out, const float *logits, int ld, const lmw_step_row *rows,
             int n_vocab, int eot, int ts_begin)
{
  __shared__ float sv[PICK_THREADS];
  __shared__ int si[PICK_THREADS];
  __shared__ double sd[PICK_THREADS];
  int r = blockIdx.x;
  lmw_step_row row = rows[r];
  if (row.pick_suppress == NULL || row.token < 0 || row.pick_k != 0 ||
      (row.pick_flags & LMW_PICK_WANT)) /* the whole block; step_topk's rows */
    return;
  const float *x = logits + (size_t) r * ld;
  pick_filter f;
  int arg;
  float lse = pick_prepare (x, row.pick_suppress, row.pick_ts_lo, row.pick_flags, n_vocab, eot,
                            ts_begin, sv, si, sd, &f, &arg);
  if (threadIdx.x == 0) {
    out[r].token = arg;
    out[r].logprob = arg >= 0 ? x[arg] - lse : -INFINITY;
  }
}

/* ---- launchers -------------------------------------------------------------------------- */

lmw_cuda_status
lmw_cuda_step_embed (float *x, const void *tok_emb, lmw_type type, int n_vocab,
                     const float *pos_emb, int n_pos, const lmw_step_row *rows, int R, int C,
                     void *stream)
{
  STEP_CHECK (R >= 0 && C > 0 && n_vocab > 0 && n_pos > 0, "dimensions");
  STEP_CHECK (type == LMW_TYPE_F32 || type == LMW_TYPE_F16, "embedding type");
  STEP_CHECK (x != NULL && tok_emb != NULL && pos_emb != NULL && rows != NULL, "pointers");
  if (R == 0)
    return LMW_CUDA_OK;
  unsigned bx = (unsigned) ((C + 255) / 256);
  bx = bx > LMW_GRID_CAP ? LMW_GRID_CAP : bx;
  unsigned by = (unsigned) (R > 65535 ? 65535 : R);
  if (type == LMW_TYPE_F16) {
    auto kern = k_step_embed<__half>;
    LMW_LAUNCH (kern, dim3 (bx, by), dim3 (256), 0, stream, x,
                static_cast<const __half *> (tok_emb), n_vocab, pos_emb, n_pos, rows, R, C);
  } else {
    auto kern = k_step_embed<float>;
    LMW_LAUNCH (kern, dim3 (bx, by), dim3 (256), 0, stream, x,
                static_cast<const float *> (tok_emb), n_vocab, pos_emb, n_pos, rows, R, C);
  }
  return step_launched (__func__);
}

lmw_cuda_status
lmw_cuda_step_self_attention (float *out, const float *q, const float *k, const float *v,
                              const lmw_step_row *rows, size_t layer_offset, int R, int H, int D,
                              void *stream)
{
  STEP_CHECK (R >= 0 && R <= 65535 && H > 0 && D > 0 && D <= LMW_CUDA_ATTN_D_MAX, "dimensions");
  STEP_CHECK (out != NULL && q != NULL && k != NULL && v != NULL && rows != NULL, "pointers");
  if (R == 0)
    return LMW_CUDA_OK;
  LMW_LAUNCH (k_step_self_attn, dim3 ((unsigned) H, (unsigned) R), dim3 (STEP_THREADS), 0,
              stream, out, q, k, v, rows, layer_offset, H, D);
  return step_launched (__func__);
}

lmw_cuda_status
lmw_cuda_step_cross_attention (float *out, const float *q, const lmw_step_row *rows,
                               size_t layer_offset, int Tk, int R, int H, int D, void *stream)
{
  STEP_CHECK (R >= 0 && R <= 65535 && H > 0 && D > 0 && D <= LMW_CUDA_ATTN_D_MAX && Tk > 0 &&
              Tk <= LMW_BACKEND_MAX_KEYS, "dimensions");
  STEP_CHECK (out != NULL && q != NULL && rows != NULL, "pointers");
  if (R == 0)
    return LMW_CUDA_OK;
  LMW_LAUNCH (k_step_cross_attn, dim3 ((unsigned) H, (unsigned) R), dim3 (STEP_THREADS), 0,
              stream, out, q, rows, layer_offset, Tk, H, D);
  return step_launched (__func__);
}

lmw_cuda_status
lmw_cuda_step_pick (lmw_pick_result *out, const float *logits, int ld, const lmw_step_row *rows,
                    int R, int n_vocab, int eot, int ts_begin, void *stream)
{
  STEP_CHECK (R >= 0 && n_vocab > 0 && ld >= n_vocab && eot >= 0 && eot < n_vocab &&
              ts_begin > eot && ts_begin <= n_vocab, "dimensions");
  STEP_CHECK (out != NULL && logits != NULL && rows != NULL, "pointers");
  if (R == 0)
    return LMW_CUDA_OK;
  LMW_LAUNCH (k_step_pick, dim3 ((unsigned) R), dim3 (PICK_THREADS), 0, stream, out, logits, ld,
              rows, n_vocab, eot, ts_begin);
  return step_launched (__func__);
}
