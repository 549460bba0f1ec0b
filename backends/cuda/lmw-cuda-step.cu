/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-step.cu — the kernels of a table-driven decoder step (lmw-cuda-step.h documents the
 * launchers).  Every argument that changes between steps is read from the row table, so that
 * the launches of a step of R rows are the same at every step and a CUDA graph of them can be
 * replayed.
 *
 * One source, two builds, as lmw-cuda-kernels.cu: nvcc for the GPU, and with LMW_CUDA_EMU the
 * host C++ compiler under emu/lmw-cuda-emu.h.  A block leaves early only as a whole (a padding
 * row, a row whose group another row serves), never before a barrier the rest of it reaches.
 *
 * The kernels:
 *   k_step_embed       token embedding plus the row's positional embedding
 *   k_step_self_attn   a block per (head, row): the row's new key and value stored at its
 *                      position of its own cache, then its query against keys 0 .. pos
 *   k_step_cross_attn  a block per (head, group): the rows that share a window's K/V (a
 *                      request's beams: cross_lead in the table, at most LMW_STEP_GROUP_MAX)
 *                      served by one read of them, in wide loads, f16 or int8
 *   k_cross_attn_q8    the same on int8 K/V given as arguments (a prompt's rows)
 *   k_cross_q8         f32 rows to int8 rows with a scale per block of 32 (a warp per block)
 *   k_step_pick        a block per row: the search's greedy choice among the row's logits,
 *                      filtered on the device (so a step returns a token, not the logits)
 * Self-attention is exact two-pass softmax in f32: the scores of the row (at most
 * LMW_BACKEND_MAX_KEYS) in shared memory, their maximum and sum reduced over the block, then
 * each thread sums its output dimensions over the keys.  Cross-attention keeps a running
 * maximum and sum per row and per warp over chunks of 32 keys (online softmax, in f32), merged
 * at the end, so that a block holds the queries of a whole group.
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

/* ---- cross-attention: one read of a window's K/V for a group of rows ------------------ */

#define XA_THREADS 128
#define XA_WARPS (XA_THREADS / 32)
#define XA_ROWS LMW_STEP_GROUP_MAX

__device__ __forceinline__ float
xa_warp_max (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (STEP_FULL_MASK, v, o));
  return v;
}

__device__ __forceinline__ float
xa_warp_sum (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (STEP_FULL_MASK, v, o);
  return v;
}

/* f (8) = values c .. c + 7 (c % 8 == 0) of a K or V row, in one wide load: f16 (16 bytes),
 * or int8 (8 bytes) times their block's scale (the f32 after the row's C values) */
template <bool Q8>
__device__ __forceinline__ void
xa_load8 (float f[8], const unsigned char *row, int C, int c)
{
  if (Q8) {
    uint2 u = *reinterpret_cast<const uint2 *> (row + c);
    float sc = reinterpret_cast<const float *> (row + C)[c >> 5];
    const signed char *b = reinterpret_cast<const signed char *> (&u);
    for (int i = 0; i < 8; i++)
      f[i] = (float) b[i] * sc;
  } else {
    uint4 u = *reinterpret_cast<const uint4 *> (row + 2 * (size_t) c);
    const __half2 *hh = reinterpret_cast<const __half2 *> (&u);
    for (int i = 0; i < 4; i++) {
      float2 t = __half22float2 (hh[i]);
      f[2 * i] = t.x;
      f[2 * i + 1] = t.y;
    }
  }
}

/* the block's shared memory: the group's scaled queries, each warp's running max and sum per
 * row, and a pool that holds each warp's probabilities of its chunk of 32 keys during the key
 * loop, then each warp's partial outputs */
typedef struct {
  float q[XA_ROWS][LMW_CUDA_ATTN_D_MAX];
  float m[XA_WARPS][XA_ROWS];
  float l[XA_WARPS][XA_ROWS];
  float pool[XA_WARPS * XA_ROWS * LMW_CUDA_ATTN_D_MAX];
} xa_shared;

/* Head h of nr <= XA_ROWS query rows on one window: out row i (row stride C, head h's D
 * columns) = softmax (q row i . K^T / sqrt (D)) . V over the Tk rows of K and V at kb and vb
 * (rows of rs bytes: C values of f16, or of int8 and their scales).  Bit i of live clear: row
 * i is padding, its output zeros.  q and out: rows of stride ldq, ldo.  The 4 warps take every 4th chunk of 32 keys: lane = key for
 * the scores (its K row in wide loads, one read for every row of the group), then lane = 8
 * output dimensions of one of 32 / (D / 8) keys for P . V (its V values in one wide load),
 * each warp with its own running max, sum and output per row, merged at the end.  The whole
 * block calls it.  D % 8 == 0, D <= LMW_CUDA_ATTN_D_MAX. */
template <bool Q8>
__device__ void
xa_group (xa_shared *sh, float *out, int ldo, const float *q, int ldq, const unsigned char *kb,
          const unsigned char *vb, size_t rs, int nr, unsigned live, int Tk, int C, int D, int h)
{
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int ch = h * D; /* the head's first column */
  const float scale = 1.0f / sqrtf ((float) D);
  for (int e = tid; e < XA_ROWS * D; e += XA_THREADS) {
    int r = e / D, d = e % D;
    sh->q[r][d] = r < nr && ((live >> r) & 1u) ? q[(size_t) r * ldq + ch + d] * scale : 0.0f;
  }
  __syncthreads ();

  float m[XA_ROWS], l[XA_ROWS], acc[XA_ROWS][8];
  for (int r = 0; r < XA_ROWS; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int i = 0; i < 8; i++)
      acc[r][i] = 0.0f;
  }
  float *pw = sh->pool + w * XA_ROWS * 32;
  const int G = D / 8, S = 32 / G; /* P . V: G lanes per key, S keys at a time */
  const int slot = lane / G, dg = lane % G;
  for (int k0 = w * 32; k0 < Tk; k0 += XA_WARPS * 32) {
    const int j = k0 + lane;
    const bool valid = j < Tk;
    float s[XA_ROWS];
    for (int r = 0; r < XA_ROWS; r++)
      s[r] = 0.0f;
    if (valid) {
      const unsigned char *kr = kb + (size_t) j * rs;
      for (int d = 0; d < D; d += 8) {
        float kf[8];
        xa_load8<Q8> (kf, kr, C, ch + d);
        for (int r = 0; r < XA_ROWS; r++)
          if (r < nr)
            for (int i = 0; i < 8; i++)
              s[r] += sh->q[r][d + i] * kf[i];
      }
    }
    /* the chunk has a key (k0 < Tk), so every running max is finite after it */
    for (int r = 0; r < XA_ROWS; r++) {
      float p = 0.0f;
      if (r < nr) {
        float m_new = fmaxf (m[r], xa_warp_max (valid ? s[r] : -INFINITY));
        float alpha = expf (m[r] - m_new); /* 0 on the first chunk */
        p = valid ? expf (s[r] - m_new) : 0.0f;
        l[r] = l[r] * alpha + xa_warp_sum (p);
        m[r] = m_new;
        for (int i = 0; i < 8; i++)
          acc[r][i] *= alpha;
      }
      pw[r * 32 + lane] = p;
    }
    __syncwarp ();
    const int nj = Tk - k0 < 32 ? Tk - k0 : 32;
    if (slot < S)
      for (int jj = slot; jj < nj; jj += S) {
        float vf[8];
        xa_load8<Q8> (vf, vb + (size_t) (k0 + jj) * rs, C, ch + dg * 8);
        for (int r = 0; r < XA_ROWS; r++)
          if (r < nr) {
            float pj = pw[r * 32 + jj];
            for (int i = 0; i < 8; i++)
              acc[r][i] += pj * vf[i];
          }
      }
    __syncwarp (); /* every lane has read pw before the next chunk writes it */
  }

  __syncthreads (); /* every warp is done with its pw: the pool takes the partial outputs */
  float *os = sh->pool + w * XA_ROWS * LMW_CUDA_ATTN_D_MAX; /* [XA_ROWS][D_MAX] of warp w */
  if (lane == 0)
    for (int r = 0; r < nr; r++) {
      sh->m[w][r] = m[r];
      sh->l[w][r] = l[r];
    }
  for (int t = 0; t < S; t++) { /* the warp's key slots summed, one after the other */
    if (slot == t)
      for (int r = 0; r < XA_ROWS; r++)
        if (r < nr)
          for (int i = 0; i < 8; i++) {
            float *o = os + r * LMW_CUDA_ATTN_D_MAX + dg * 8 + i;
            *o = (t == 0 ? 0.0f : *o) + acc[r][i];
          }
    __syncwarp ();
  }
  __syncthreads ();
  for (int e = tid; e < nr * D; e += XA_THREADS) {
    int r = e / D, d = e % D;
    float M = -INFINITY;
    for (int ww = 0; ww < XA_WARPS; ww++)
      M = fmaxf (M, sh->m[ww][r]);
    float L = 0.0f, o = 0.0f;
    for (int ww = 0; ww < XA_WARPS; ww++)
      if (sh->m[ww][r] != -INFINITY) { /* a warp without keys holds nothing */
        float f = expf (sh->m[ww][r] - M);
        L += sh->l[ww][r] * f;
        o += sh->pool[(ww * XA_ROWS + r) * LMW_CUDA_ATTN_D_MAX + d] * f;
      }
    out[(size_t) r * ldo + ch + d] = ((live >> r) & 1u) && L > 0.0f ? o / L : 0.0f;
  }
}

/* bytes of one K/V row of C values, and the byte offset of value e (a multiple of C) */
__device__ __forceinline__ size_t
xa_row_bytes (bool q8, int C)
{
  return q8 ? LMW_CROSS_Q8_BYTES (C) : 2 * (size_t) C;
}

__device__ __forceinline__ size_t
xa_offset (bool q8, size_t e)
{
  return q8 ? LMW_CROSS_Q8_BYTES (e) : 2 * e;
}

/* A block per (head, row): a row that leads its group (cross_lead 0) serves the group's rows
 * with one read of their K/V; a row led by another leaves at once, as a whole block. */
__global__ void __launch_bounds__ (XA_THREADS)
k_step_cross_attn (float *out, const float *q, const lmw_step_row *rows, size_t layer_offset,
                   int Tk, int H, int D)
{
  __shared__ xa_shared sh;
  const int h = blockIdx.x, r = blockIdx.y, R = gridDim.y, C = H * D;
  const lmw_step_row lead = rows[r];
  if (lead.cross_lead > 0) /* the whole block */
    return;
  int n = 1;
  unsigned live = lead.token >= 0 ? 1u : 0u;
  while (n < XA_ROWS && r + n < R && rows[r + n].cross_lead == n) {
    live |= (rows[r + n].token >= 0 ? 1u : 0u) << n;
    n++;
  }
  float *o = out + (size_t) r * C;
  if (live == 0) { /* padding only: nothing to read (the whole block) */
    for (int e = threadIdx.x; e < n * D; e += XA_THREADS)
      o[(size_t) (e / D) * C + (size_t) h * D + e % D] = 0.0f;
    return;
  }
  const bool q8 = lead.cross_q8 != 0;
  const size_t at = xa_offset (q8, layer_offset), rs = xa_row_bytes (q8, C);
  const unsigned char *kb = reinterpret_cast<const unsigned char *> (lead.cross_k) + at;
  const unsigned char *vb = reinterpret_cast<const unsigned char *> (lead.cross_v) + at;
  if (q8)
    xa_group<true> (&sh, o, C, q + (size_t) r * C, C, kb, vb, rs, n, live, Tk, C, D, h);
  else
    xa_group<false> (&sh, o, C, q + (size_t) r * C, C, kb, vb, rs, n, live, Tk, C, D, h);
}

/* The same with the K/V given (int8 rows): Tq rows of one window, a block per (head, group of
 * XA_ROWS rows). */
__global__ void __launch_bounds__ (XA_THREADS)
k_cross_attn_q8 (float *out, int ldo, const float *q, int ldq, const unsigned char *k,
                 const unsigned char *v, int Tq, int Tk, int H, int D)
{
  __shared__ xa_shared sh;
  const int h = blockIdx.x, r0 = blockIdx.y * XA_ROWS, C = H * D;
  const int n = Tq - r0 < XA_ROWS ? Tq - r0 : XA_ROWS;
  xa_group<true> (&sh, out + (size_t) r0 * ldo, ldo, q + (size_t) r0 * ldq, ldq, k, v,
                  LMW_CROSS_Q8_BYTES (C), n, (1u << n) - 1u, Tk, C, D, h);
}

/* int8 rows (LMW_CROSS_Q8_BYTES) of x (rows, C), a warp per block of 32 values */
__global__ void
k_cross_q8 (unsigned char *dst, const float *src, int rows, int C)
{
  const int lane = threadIdx.x & 31, nb = C / 32;
  const size_t n_blocks = (size_t) rows * nb;
  const size_t stride = (size_t) gridDim.x * (blockDim.x / 32);
  for (size_t b = (size_t) blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5); b < n_blocks;
       b += stride) {
    size_t row = b / nb, blk = b % nb;
    float x = src[row * C + blk * 32 + lane];
    float amax = xa_warp_max (fabsf (x));
    float sc = amax / 127.0f;
    unsigned char *rp = dst + row * LMW_CROSS_Q8_BYTES (C);
    rp[blk * 32 + lane] = (unsigned char) (signed char) (sc > 0.0f ? rintf (x / sc) : 0.0f);
    if (lane == 0)
      reinterpret_cast<float *> (rp + C)[blk] = sc;
  }
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
  STEP_CHECK (R >= 0 && R <= 65535 && H > 0 && D > 0 && D <= LMW_CUDA_ATTN_D_MAX && D % 8 == 0 &&
              Tk > 0 && Tk <= LMW_BACKEND_MAX_KEYS, "dimensions");
  STEP_CHECK (out != NULL && q != NULL && rows != NULL, "pointers");
  if (R == 0)
    return LMW_CUDA_OK;
  LMW_LAUNCH (k_step_cross_attn, dim3 ((unsigned) H, (unsigned) R), dim3 (XA_THREADS), 0,
              stream, out, q, rows, layer_offset, Tk, H, D);
  return step_launched (__func__);
}

lmw_cuda_status
lmw_cuda_cross_q8 (void *dst, const float *src, int rows, int C, void *stream)
{
  STEP_CHECK (rows >= 0 && C > 0 && C % 64 == 0, "dimensions");
  STEP_CHECK (dst != NULL && src != NULL, "pointers");
  if (rows == 0)
    return LMW_CUDA_OK;
  size_t blocks = ((size_t) rows * (C / 32) + 7) / 8; /* 8 warps a block */
  unsigned grid = blocks > 4096 ? 4096u : (unsigned) blocks;
  LMW_LAUNCH (k_cross_q8, dim3 (grid), dim3 (256), 0, stream,
              static_cast<unsigned char *> (dst), src, rows, C);
  return step_launched (__func__);
}

lmw_cuda_status
lmw_cuda_cross_attention_q8 (float *out, int ldo, const float *q, int ldq, const void *k,
                             const void *v, int Tq, int Tk, int H, int D, void *stream)
{
  STEP_CHECK (Tq >= 0 && H > 0 && D > 0 && D <= LMW_CUDA_ATTN_D_MAX && D % 8 == 0 &&
              (H * D) % 64 == 0 && Tk > 0 && Tk <= LMW_BACKEND_MAX_KEYS &&
              (Tq + XA_ROWS - 1) / XA_ROWS <= 65535 && ldo >= H * D && ldq >= H * D,
              "dimensions");
  STEP_CHECK (out != NULL && q != NULL && k != NULL && v != NULL, "pointers");
  STEP_CHECK (((uintptr_t) k & 7) == 0 && ((uintptr_t) v & 7) == 0, "K/V not 8-byte aligned");
  if (Tq == 0)
    return LMW_CUDA_OK;
  LMW_LAUNCH (k_cross_attn_q8, dim3 ((unsigned) H, (unsigned) ((Tq + XA_ROWS - 1) / XA_ROWS)),
              dim3 (XA_THREADS), 0, stream, out, ldo, q, ldq,
              static_cast<const unsigned char *> (k), static_cast<const unsigned char *> (v), Tq,
              Tk, H, D);
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
