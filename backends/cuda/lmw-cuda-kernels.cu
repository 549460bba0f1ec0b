/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-kernels.cu — the whisper engine's own CUDA kernels and their host launchers (the
 * products themselves run on cuBLAS).  lmw-cuda-kernels.h documents every launcher.
 *
 * One source, two builds: nvcc compiles it for the GPU; with LMW_CUDA_EMU defined the host C++
 * compiler builds it against emu/lmw-cuda-emu.h (threads as fibers, launches as loops over
 * blocks), which is how the tests run every kernel against the CPU reference without a GPU.
 * Kernels therefore use only what the emulation header provides, launch through LMW_LAUNCH,
 * and never return early before a barrier that the rest of their block or warp reaches.
 *
 * The kernels:
 *   k_f32_to_f16, k_f16_to_f32   grid-stride conversion
 *   k_layernorm                  one warp per row, two-pass statistics in f32
 *   k_bias_act                   the epilogue of a product: + bias, GELU, + residual, f16 copy
 *   k_gelu                       in place
 *   k_softmax                    one block per row
 *   k_conv1d_k3                  the conv stem as a tiled product whose A operand is gathered
 *                                from the input on the fly (no im2col buffer)
 *   k_im2col_k3                  the same gather into an f16 matrix for cuBLAS
 *   k_attention                  flash-style: a block owns BQ query rows of one head and streams
 *                                the keys and values through shared memory in tiles of BK, with a
 *                                running max and sum per row
 *   k_attention_tc               the same on tensor cores (wmma) for f16 K/V and heads of at most
 *                                64: 64 rows per block, Q and the probabilities rounded to f16
 *   k_attention_few              at most 16 (8 for heads over 64) query rows of one head: the 8
 *                                warps of the block take interleaved chunks of 32 keys with their
 *                                own running max and sum, merged at the end (a decode step has
 *                                too few rows for flash tiles); with f16 K/V in 16-byte loads it
 *                                is the cross-attention of a decode step, one read of a request's
 *                                K/V for all of its beams
 *   k_get_rows                   embedding lookup
 *   k_topk                       k rounds of a block-wide arg-max (k = 1: arg-max), with the row's
 *                                log-sum-exp in the first round
 */
#include "lmw-cuda-compat.h"
#include "lmw-cuda-kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define FULL_MASK 0xffffffffu

/* ---- device helpers --------------------------------------------------------------------- */

__device__ __forceinline__ float
ld_f (const float *p, size_t i)
{
  return p[i];
}

__device__ __forceinline__ float
ld_f (const __half *p, size_t i)
{
  return __half2float (p[i]);
}

__device__ __forceinline__ float
gelu_f (float v)
{
  return 0.5f * v * (1.0f + erff (v * 0.70710678118654752f));
}

__device__ __forceinline__ float
warp_sum (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (FULL_MASK, v, o);
  return v;
}

__device__ __forceinline__ float
warp_max (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_xor_sync (FULL_MASK, v, o));
  return v;
}

/* Sum (or max) over the block; red is 32 floats of shared memory; every thread gets the result.
 * Every thread of the block must call it. */
__device__ __forceinline__ float
block_reduce (float v, float *red, bool is_max)
{
  v = is_max ? warp_max (v) : warp_sum (v);
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

/* (v, i) orders before (ov, oi): larger value, then lower column. */
__device__ __forceinline__ bool
ranks_before (float v, int i, float ov, int oi)
{
  return v > ov || (v == ov && i < oi);
}

/* log-sum-exp pair (max m, sum s of exp (x - m)) combined with another */
__device__ __forceinline__ void
lse_merge (float &m, float &s, float om, float os)
{
  float nm = fmaxf (m, om);
  if (nm == -INFINITY) /* both empty */
    return;
  float a = m == -INFINITY ? 0.0f : s * expf (m - nm);
  float b = om == -INFINITY ? 0.0f : os * expf (om - nm);
  m = nm;
  s = a + b;
}

static unsigned
grid_for (size_t n, unsigned threads)
{
  size_t blocks = (n + threads - 1) / threads;
  return blocks > LMW_GRID_CAP ? LMW_GRID_CAP : (unsigned) blocks;
}

/* rows along y (at most 65535, and the grid at most LMW_GRID_CAP blocks), columns along x */
static dim3
grid_2d (int rows, int cols, unsigned threads)
{
  unsigned x = (unsigned) ((cols + threads - 1) / threads);
  x = x > LMW_GRID_CAP ? LMW_GRID_CAP : x;
  unsigned y = (unsigned) rows, y_cap = LMW_GRID_CAP / x ? LMW_GRID_CAP / x : 1;
  y = y > y_cap ? y_cap : y;
  y = y > 65535u ? 65535u : y;
  return dim3 (x, y);
}

/* ---- status ----------------------------------------------------------------------------- */

static thread_local char last_error[256];

const char *
lmw_cuda_status_string (lmw_cuda_status status)
{
  switch (status) {
  case LMW_CUDA_OK: return "ok";
  case LMW_CUDA_EINVAL: return "invalid argument";
  case LMW_CUDA_ELAUNCH: return "kernel launch failed";
  }
  return "unknown status";
}

const char *
lmw_cuda_last_error (void)
{
  return last_error;
}

static lmw_cuda_status
invalid (const char *fn, const char *what)
{
  snprintf (last_error, sizeof last_error, "%s: %s", fn, what);
  return LMW_CUDA_EINVAL;
}

static lmw_cuda_status
launched (const char *fn)
{
#ifdef LMW_CUDA_EMU
  (void) fn;
  return LMW_CUDA_OK;
#else
  cudaError_t e = cudaGetLastError ();
  if (e == cudaSuccess)
    return LMW_CUDA_OK;
  snprintf (last_error, sizeof last_error, "%s: %s", fn, cudaGetErrorString (e));
  return LMW_CUDA_ELAUNCH;
#endif
}

#define CHECK(cond, what)                                                                      \
  do {                                                                                         \
    if (!(cond))                                                                               \
      return invalid (__func__, what);                                                         \
  } while (0)

/* ---- conversion ------------------------------------------------------------------------- */

__global__ void
k_f32_to_f16 (__half *out, const float *in, size_t n)
{
  size_t step = (size_t) gridDim.x * blockDim.x;
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = __float2half_rn (in[i]);
}

__global__ void
k_f16_to_f32 (float *out, const __half *in, size_t n)
{
  size_t step = (size_t) gridDim.x * blockDim.x;
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = __half2float (in[i]);
}

extern "C" lmw_cuda_status
lmw_cuda_f32_to_f16 (uint16_t *out, const float *in, size_t n, void *stream)
{
  if (n == 0)
    return LMW_CUDA_OK;
  CHECK (out && in, "NULL pointer");
  LMW_LAUNCH (k_f32_to_f16, grid_for (n, 256), 256, 0, stream, (__half *) out, in, n);
  return launched (__func__);
}

extern "C" lmw_cuda_status
lmw_cuda_f16_to_f32 (float *out, const uint16_t *in, size_t n, void *stream)
{
  if (n == 0)
    return LMW_CUDA_OK;
  CHECK (out && in, "NULL pointer");
  LMW_LAUNCH (k_f16_to_f32, grid_for (n, 256), 256, 0, stream, out, (const __half *) in, n);
  return launched (__func__);
}

/* ---- layer norm ------------------------------------------------------------------------- */

#define LN_ROWS 4 /* rows (warps) per block */

__global__ void __launch_bounds__ (32 * LN_ROWS)
k_layernorm (float *out, int ldo, __half *out_h, int ldh, const float *inp, int ldi,
             const float *weight, const float *bias, int N, int C, float eps)
{
  int row = blockIdx.x * LN_ROWS + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= N) /* the whole warp leaves: no block barrier below */
    return;
  const float *x = inp + (size_t) row * ldi;
  float s = 0.0f;
  for (int c = lane; c < C; c += 32)
    s += x[c];
  float mean = warp_sum (s) / (float) C;
  float v = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float d = x[c] - mean;
    v += d * d;
  }
  float rstd = 1.0f / sqrtf (warp_sum (v) / (float) C + eps);
  for (int c = lane; c < C; c += 32) {
    float y = (x[c] - mean) * rstd;
    if (weight)
      y *= weight[c];
    if (bias)
      y += bias[c];
    if (out)
      out[(size_t) row * ldo + c] = y;
    if (out_h)
      out_h[(size_t) row * ldh + c] = __float2half_rn (y);
  }
}

extern "C" lmw_cuda_status
lmw_cuda_layernorm (float *out, int ldo, uint16_t *out_h, int ldh, const float *inp, int ldi,
                    const float *weight, const float *bias, int N, int C, float eps,
                    void *stream)
{
  CHECK (N >= 0 && C >= 1, "bad dimensions");
  if (N == 0)
    return LMW_CUDA_OK;
  CHECK (inp && (out || out_h), "NULL pointer");
  CHECK (ldi >= C && (!out || ldo >= C) && (!out_h || ldh >= C), "row stride below C");
  CHECK (out != inp || ldo == ldi, "in place with a different stride");
  LMW_LAUNCH (k_layernorm, (unsigned) ((N + LN_ROWS - 1) / LN_ROWS), 32 * LN_ROWS, 0, stream,
              out, ldo, (__half *) out_h, ldh, inp, ldi, weight, bias, N, C, eps);
  return launched (__func__);
}

/* ---- epilogues -------------------------------------------------------------------------- */

__global__ void
k_bias_act (float *out, int ldo, __half *out_h, int ldh, const float *x, int ldx,
            const float *bias, int M, int N, unsigned flags)
{
  /* rows along y, columns along x, both grid-stride: no division per element */
  for (int r = blockIdx.y; r < M; r += gridDim.y)
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < N; c += gridDim.x * blockDim.x) {
      float v = x[(size_t) r * ldx + c];
      if (bias)
        v += bias[c];
      if (flags & LMW_CUDA_GELU)
        v = gelu_f (v);
      if (flags & LMW_CUDA_ACCUMULATE)
        v += out[(size_t) r * ldo + c];
      if (out)
        out[(size_t) r * ldo + c] = v;
      if (out_h)
        out_h[(size_t) r * ldh + c] = __float2half_rn (v);
    }
}

extern "C" lmw_cuda_status
lmw_cuda_bias_act (float *out, int ldo, uint16_t *out_h, int ldh, const float *x, int ldx,
                   const float *bias, int M, int N, unsigned flags, void *stream)
{
  CHECK (M >= 0 && N >= 0, "bad dimensions");
  CHECK ((flags & ~(LMW_CUDA_GELU | LMW_CUDA_ACCUMULATE)) == 0, "unknown flags");
  if (M == 0 || N == 0)
    return LMW_CUDA_OK;
  CHECK (x && (out || out_h), "NULL pointer");
  CHECK (out || !(flags & LMW_CUDA_ACCUMULATE), "accumulate without out");
  CHECK ((ldx == 0 || ldx >= N) && (!out || ldo >= N) && (!out_h || ldh >= N),
         "row stride below N");
  CHECK (out != x || ldo == ldx, "in place with a different stride");
  LMW_LAUNCH (k_bias_act, grid_2d (M, N, 256), 256, 0, stream, out, ldo,
              (__half *) out_h, ldh, x, ldx, bias, M, N, flags);
  return launched (__func__);
}

__global__ void
k_gelu (float *x, size_t n)
{
  size_t step = (size_t) gridDim.x * blockDim.x;
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
    x[i] = gelu_f (x[i]);
}

extern "C" lmw_cuda_status
lmw_cuda_gelu (float *x, size_t n, void *stream)
{
  if (n == 0)
    return LMW_CUDA_OK;
  CHECK (x, "NULL pointer");
  LMW_LAUNCH (k_gelu, grid_for (n, 256), 256, 0, stream, x, n);
  return launched (__func__);
}

/* ---- softmax ---------------------------------------------------------------------------- */

#define SOFTMAX_THREADS 256

__global__ void __launch_bounds__ (SOFTMAX_THREADS)
k_softmax (float *x, int ld, int cols, float scale)
{
  __shared__ float red[32];
  float *row = x + (size_t) blockIdx.x * ld;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    m = fmaxf (m, scale * row[c]);
  m = block_reduce (m, red, true);
  float s = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    float e = expf (scale * row[c] - m);
    row[c] = e;
    s += e;
  }
  float inv = 1.0f / block_reduce (s, red, false);
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    row[c] *= inv;
}

extern "C" lmw_cuda_status
lmw_cuda_softmax (float *x, int ld, int rows, int cols, float scale, void *stream)
{
  CHECK (rows >= 0 && cols >= 1 && ld >= cols, "bad dimensions");
  if (rows == 0)
    return LMW_CUDA_OK;
  CHECK (x, "NULL pointer");
  LMW_LAUNCH (k_softmax, (unsigned) rows, SOFTMAX_THREADS, 0, stream, x, ld, cols, scale);
  return launched (__func__);
}

/* ---- the convolution stem --------------------------------------------------------------- */

#define CONV_BT 32 /* output times per block */
#define CONV_BO 32 /* output channels per block */
#define CONV_BK 16 /* reduction depth per shared tile */

/* out (T_out, C_out): a (CONV_BT, CONV_BO) tile per block, 256 threads of 2 x 2 outputs each;
 * A[t][kk] = in (kk / 3, t * stride + kk % 3 - 1) gathered from the input, B[o][kk] = w. */
template <typename WT>
__global__ void __launch_bounds__ (256)
k_conv1d_k3 (float *out, int ldo, __half *out_h, int ldh, const float *inp, size_t cs,
             size_t ts, const WT *w, size_t ldw, const float *bias, int T_in, int C_in,
             int C_out, int T_out, int stride, unsigned flags)
{
  __shared__ float As[CONV_BK][CONV_BT + 1];
  __shared__ float Bs[CONV_BK][CONV_BO + 1];
  int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  int t0 = blockIdx.x * CONV_BT, o0 = blockIdx.y * CONV_BO;
  int K = C_in * 3;
  float acc[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
  for (int k0 = 0; k0 < K; k0 += CONV_BK) {
    for (int e = tid; e < CONV_BK * CONV_BT; e += 256) {
      int kk = e / CONV_BT, tt = e % CONV_BT;
      int k = k0 + kk, t = t0 + tt;
      float a = 0.0f;
      if (k < K && t < T_out) {
        int c = k / 3, ti = t * stride + k % 3 - 1;
        if (ti >= 0 && ti < T_in)
          a = inp[(size_t) c * cs + (size_t) ti * ts];
      }
      As[kk][tt] = a;
    }
    for (int e = tid; e < CONV_BK * CONV_BO; e += 256) {
      int oo = e / CONV_BK, kk = e % CONV_BK; /* consecutive threads read consecutive k of a row */
      int k = k0 + kk, o = o0 + oo;
      Bs[kk][oo] = (k < K && o < C_out) ? ld_f (w, (size_t) o * ldw + k) : 0.0f;
    }
    __syncthreads ();
    for (int kk = 0; kk < CONV_BK; kk++) {
      float a0 = As[kk][ty], a1 = As[kk][ty + 16];
      float b0 = Bs[kk][tx], b1 = Bs[kk][tx + 16];
      acc[0][0] += a0 * b0;
      acc[0][1] += a0 * b1;
      acc[1][0] += a1 * b0;
      acc[1][1] += a1 * b1;
    }
    __syncthreads ();
  }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      int t = t0 + ty + 16 * i, o = o0 + tx + 16 * j;
      if (t >= T_out || o >= C_out)
        continue;
      float v = acc[i][j] + (bias ? bias[o] : 0.0f);
      if (flags & LMW_CUDA_GELU)
        v = gelu_f (v);
      if (out)
        out[(size_t) t * ldo + o] = v;
      if (out_h)
        out_h[(size_t) t * ldh + o] = __float2half_rn (v);
    }
}

extern "C" lmw_cuda_status
lmw_cuda_conv1d_k3 (float *out, int ldo, uint16_t *out_h, int ldh, const float *inp,
                    size_t in_cstride, size_t in_tstride, const void *w, lmw_type w_type,
                    size_t ldw, const float *bias, int T_in, int C_in, int C_out, int stride,
                    unsigned flags, void *stream)
{
  CHECK (T_in >= 0 && C_in >= 1 && C_out >= 0 && (stride == 1 || stride == 2),
         "bad dimensions");
  CHECK (flags == 0 || flags == LMW_CUDA_GELU, "flags other than GELU");
  CHECK (w_type == LMW_TYPE_F32 || w_type == LMW_TYPE_F16, "weights neither f32 nor f16");
  int T_out = T_in == 0 ? 0 : (T_in - 1) / stride + 1;
  if (T_out == 0 || C_out == 0)
    return LMW_CUDA_OK;
  CHECK (inp && w && (out || out_h), "NULL pointer");
  CHECK (ldw >= (size_t) C_in * 3 && (!out || ldo >= C_out) && (!out_h || ldh >= C_out),
         "row stride too small");
  dim3 grid ((unsigned) ((T_out + CONV_BT - 1) / CONV_BT),
             (unsigned) ((C_out + CONV_BO - 1) / CONV_BO));
  if (w_type == LMW_TYPE_F16) {
    auto kernel = k_conv1d_k3<__half>;
    LMW_LAUNCH (kernel, grid, 256, 0, stream, out, ldo, (__half *) out_h, ldh, inp, in_cstride,
                in_tstride, (const __half *) w, ldw, bias, T_in, C_in, C_out, T_out, stride,
                flags);
  } else {
    auto kernel = k_conv1d_k3<float>;
    LMW_LAUNCH (kernel, grid, 256, 0, stream, out, ldo, (__half *) out_h, ldh, inp, in_cstride,
                in_tstride, (const float *) w, ldw, bias, T_in, C_in, C_out, T_out, stride,
                flags);
  }
  return launched (__func__);
}

__global__ void
k_im2col_k3 (__half *cols, int ldc, const float *inp, size_t cs, size_t ts, int T_in, int C_in,
             int T_out, int stride)
{
  int K = C_in * 3;
  for (int t = blockIdx.y; t < T_out; t += gridDim.y)
    for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < K; k += gridDim.x * blockDim.x) {
      int c = k / 3, ti = t * stride + k % 3 - 1;
      float a = (ti >= 0 && ti < T_in) ? inp[(size_t) c * cs + (size_t) ti * ts] : 0.0f;
      cols[(size_t) t * ldc + k] = __float2half_rn (a);
    }
}

extern "C" lmw_cuda_status
lmw_cuda_im2col_k3 (uint16_t *cols, int ldc, const float *inp, size_t in_cstride,
                    size_t in_tstride, int T_in, int C_in, int stride, void *stream)
{
  CHECK (T_in >= 0 && C_in >= 1 && (stride == 1 || stride == 2), "bad dimensions");
  int T_out = T_in == 0 ? 0 : (T_in - 1) / stride + 1;
  if (T_out == 0)
    return LMW_CUDA_OK;
  CHECK (cols && inp, "NULL pointer");
  CHECK (ldc >= C_in * 3, "row stride below 3 C_in");
  LMW_LAUNCH (k_im2col_k3, grid_2d (T_out, C_in * 3, 256), 256, 0, stream,
              (__half *) cols, ldc, inp, in_cstride, in_tstride, T_in, C_in, T_out, stride);
  return launched (__func__);
}

/* ---- attention -------------------------------------------------------------------------- */

#define ATTN_THREADS 128
#define ATTN_BQ LMW_CUDA_XATTN_GROUP  /* query rows per block */
#define ATTN_G (ATTN_THREADS / ATTN_BQ) /* threads per query row (8, inside one warp) */

/* Loads rows k0 .. k0 + BK of one head of a K or V matrix into dst (BK, LD) as f32, zero past Tk
 * and past D.  VEC: f16 in 16-byte loads (D, the row stride and the base 8-element aligned). */
template <int BK, int LD, bool VEC, typename KT>
__device__ __forceinline__ void
attn_load_tile (float *dst, const KT *src, int ld, int k0, int Tk, int D)
{
  if (VEC) {
    int chunks = D / 8;
    for (int e = threadIdx.x; e < BK * chunks; e += ATTN_THREADS) {
      int j = e / chunks, d = (e % chunks) * 8;
      float *o = dst + j * LD + d;
      if (k0 + j < Tk) {
        uint4 u = *reinterpret_cast<const uint4 *> (src + (size_t) (k0 + j) * ld + d);
        const __half2 *h = reinterpret_cast<const __half2 *> (&u);
        for (int i = 0; i < 4; i++) {
          float2 f = __half22float2 (h[i]);
          o[2 * i] = f.x;
          o[2 * i + 1] = f.y;
        }
      } else {
        for (int i = 0; i < 8; i++)
          o[i] = 0.0f;
      }
    }
  } else {
    for (int e = threadIdx.x; e < BK * D; e += ATTN_THREADS) {
      int j = e / D, d = e % D;
      dst[j * LD + d] = k0 + j < Tk ? ld_f (src, (size_t) (k0 + j) * ld + d) : 0.0f;
    }
  }
}

/* grid (ceil (Tq / BQ), H, B), ATTN_THREADS threads: thread (r, g) = (tid / G, tid % G) owns
 * query row q0 + r, the scores of keys g, g + G, ... of each tile and the output dimensions
 * g, g + G, ... */
template <int DMAX, int BK, bool VEC, typename KT>
__global__ void __launch_bounds__ (ATTN_THREADS)
k_attention (float *out, int ldo, size_t o_bs, __half *out_h, int ldh, size_t h_bs,
             const float *q, int ldq, size_t q_bs, const KT *k, int ldk, const KT *v, int ldv,
             size_t kv_bs, int Tq, int Tk, int D, int causal_past, float scale)
{
  __shared__ float Qs[ATTN_BQ][DMAX + 1];
  __shared__ float Ks[BK][DMAX + 1];
  __shared__ float Vs[BK][DMAX];
  __shared__ float Ps[ATTN_BQ][BK + 1];
  const int tid = threadIdx.x, r = tid / ATTN_G, g = tid % ATTN_G;
  const int q0 = blockIdx.x * ATTN_BQ, h = blockIdx.y, b = blockIdx.z;
  q += b * q_bs + (size_t) h * D;
  k += b * kv_bs + (size_t) h * D;
  v += b * kv_bs + (size_t) h * D;

  for (int e = tid; e < ATTN_BQ * D; e += ATTN_THREADS) {
    int rr = e / D, d = e % D;
    Qs[rr][d] = q0 + rr < Tq ? q[(size_t) (q0 + rr) * ldq + d] * scale : 0.0f;
  }
  /* keys past the last one any row of the block sees are never loaded */
  int q_last = (q0 + ATTN_BQ < Tq ? q0 + ATTN_BQ : Tq) - 1;
  int k_end = Tk;
  if (causal_past >= 0 && causal_past + q_last + 1 < k_end)
    k_end = causal_past + q_last + 1;
  const int qi = q0 + r;
  const int visible = causal_past >= 0 ? causal_past + qi + 1 : Tk; /* keys < visible */

  float acc[DMAX / ATTN_G];
  for (int i = 0; i < DMAX / ATTN_G; i++)
    acc[i] = 0.0f;
  float m_run = -INFINITY, l_run = 0.0f;

  for (int k0 = 0; k0 < k_end; k0 += BK) {
    __syncthreads (); /* Qs written, or the previous tile fully used */
    attn_load_tile<BK, DMAX + 1, VEC> (&Ks[0][0], k, ldk, k0, Tk, D);
    attn_load_tile<BK, DMAX, VEC> (&Vs[0][0], v, ldv, k0, Tk, D);
    __syncthreads ();

    float s[BK / ATTN_G];
    for (int i = 0; i < BK / ATTN_G; i++)
      s[i] = 0.0f;
    for (int d = 0; d < D; d++) {
      float qd = Qs[r][d];
      for (int i = 0; i < BK / ATTN_G; i++)
        s[i] += qd * Ks[g + ATTN_G * i][d];
    }
    float m_tile = -INFINITY;
    for (int i = 0; i < BK / ATTN_G; i++) {
      int kj = k0 + g + ATTN_G * i;
      if (kj >= Tk || kj >= visible)
        s[i] = -INFINITY;
      m_tile = fmaxf (m_tile, s[i]);
    }
    for (int o = ATTN_G / 2; o > 0; o >>= 1)
      m_tile = fmaxf (m_tile, __shfl_xor_sync (FULL_MASK, m_tile, o));
    float m_new = fmaxf (m_run, m_tile);
    float alpha = m_run == -INFINITY ? 0.0f : expf (m_run - m_new);
    float l_tile = 0.0f;
    for (int i = 0; i < BK / ATTN_G; i++) {
      float p = s[i] == -INFINITY ? 0.0f : expf (s[i] - m_new);
      Ps[r][g + ATTN_G * i] = p;
      l_tile += p;
    }
    for (int o = ATTN_G / 2; o > 0; o >>= 1)
      l_tile += __shfl_xor_sync (FULL_MASK, l_tile, o);
    l_run = l_run * alpha + l_tile;
    m_run = m_new;
    __syncwarp (); /* Ps row r is written and read by the G lanes of one warp */
    for (int i = 0; i < DMAX / ATTN_G; i++)
      acc[i] *= alpha;
    for (int j = 0; j < BK; j++) {
      float p = Ps[r][j];
      for (int i = 0; i < DMAX / ATTN_G; i++)
        acc[i] += p * Vs[j][g + ATTN_G * i];
    }
  }

  if (qi < Tq) {
    float inv = l_run > 0.0f ? 1.0f / l_run : 0.0f;
    for (int i = 0; i < DMAX / ATTN_G; i++) {
      int d = g + ATTN_G * i;
      if (d >= D)
        continue;
      float y = acc[i] * inv;
      if (out)
        out[b * o_bs + (size_t) qi * ldo + (size_t) h * D + d] = y;
      if (out_h)
        out_h[b * h_bs + (size_t) qi * ldh + (size_t) h * D + d] = __float2half_rn (y);
    }
  }
}

/* Flash attention on tensor cores, for f16 K/V and heads of at most 64: a block of 4 warps owns
 * 64 query rows (16 per warp) of one head and streams the keys in tiles of 32.  Per tile each
 * warp computes its scores S = Q K^T with wmma (Q, pre-scaled and rounded to f16, held in
 * fragments), turns them into probabilities in plain code (two lanes per row, running max and
 * sum), rescales its output rows, and adds P V with wmma (P rounded to f16) into its f32
 * output rows in shared memory.  Heads below 64 are padded with zeros.
 * grid (ceil (Tq / 64), H, B), 128 threads. */
#define TC_BQ 64
#define TC_BK 32
#define TC_DP 64           /* padded head size */
#define TC_LDH (TC_DP + 8) /* row stride of the f16 Q, K, V tiles (keeps 32-byte alignment) */
#define TC_LDS (TC_BK + 4) /* scores, f32 */
#define TC_LDP (TC_BK + 8) /* probabilities, f16 */
#define TC_LDO (TC_DP + 4) /* outputs, f32 */
/* one shared pool: [Q staging, later the scores][K][V][P][O]; every part 32-byte aligned */
#define TC_OFF_K (TC_BQ * TC_LDH * 2)
#define TC_OFF_V (TC_OFF_K + TC_BK * TC_LDH * 2)
#define TC_OFF_P (TC_OFF_V + TC_BK * TC_LDH * 2)
#define TC_OFF_O (TC_OFF_P + 4 * 16 * TC_LDP * 2)
#define TC_POOL (TC_OFF_O + 4 * 16 * TC_LDO * 4)

template <bool VEC>
__device__ __forceinline__ void
tc_load_tile (__half *dst, const __half *src, int ld, int k0, int Tk, int D)
{
  if (VEC) {
    for (int e = threadIdx.x; e < TC_BK * (TC_DP / 8); e += 128) {
      int j = e / (TC_DP / 8), d = (e % (TC_DP / 8)) * 8;
      uint4 u = make_uint4 (0, 0, 0, 0);
      if (k0 + j < Tk && d < D)
        u = *reinterpret_cast<const uint4 *> (src + (size_t) (k0 + j) * ld + d);
      *reinterpret_cast<uint4 *> (dst + j * TC_LDH + d) = u;
    }
  } else {
    for (int e = threadIdx.x; e < TC_BK * TC_DP; e += 128) {
      int j = e / TC_DP, d = e % TC_DP;
      dst[j * TC_LDH + d] =
        k0 + j < Tk && d < D ? src[(size_t) (k0 + j) * ld + d] : __float2half_rn (0.0f);
    }
  }
}

template <bool VEC>
__global__ void __launch_bounds__ (128)
k_attention_tc (float *out, int ldo, size_t o_bs, __half *out_h, int ldh, size_t h_bs,
                const float *q, int ldq, size_t q_bs, const __half *k, int ldk, const __half *v,
                int ldv, size_t kv_bs, int Tq, int Tk, int D, int causal_past, float scale)
{
  using namespace nvcuda;
  __shared__ __align__ (32) unsigned char pool[TC_POOL];
  __half *Qh = reinterpret_cast<__half *> (pool);
  __half *Kh = reinterpret_cast<__half *> (pool + TC_OFF_K);
  __half *Vh = reinterpret_cast<__half *> (pool + TC_OFF_V);
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  float *Sw = reinterpret_cast<float *> (pool) + w * 16 * TC_LDS; /* aliases Q staging */
  __half *Pw = reinterpret_cast<__half *> (pool + TC_OFF_P) + w * 16 * TC_LDP;
  float *Ow = reinterpret_cast<float *> (pool + TC_OFF_O) + w * 16 * TC_LDO;
  const int q0 = blockIdx.x * TC_BQ, h = blockIdx.y, b = blockIdx.z;
  q += b * q_bs + (size_t) h * D;
  k += b * kv_bs + (size_t) h * D;
  v += b * kv_bs + (size_t) h * D;

  for (int e = tid; e < TC_BQ * TC_DP; e += 128) {
    int r = e / TC_DP, d = e % TC_DP;
    float x = q0 + r < Tq && d < D ? q[(size_t) (q0 + r) * ldq + d] * scale : 0.0f;
    Qh[r * TC_LDH + d] = __float2half_rn (x);
  }
  for (int e = lane; e < 16 * TC_LDO; e += 32)
    Ow[e] = 0.0f;
  __syncthreads ();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> qa[TC_DP / 16];
  for (int ks = 0; ks < TC_DP / 16; ks++)
    wmma::load_matrix_sync (qa[ks], Qh + w * 16 * TC_LDH + ks * 16, TC_LDH);

  /* this lane's row and half of the columns in the softmax step */
  const int r = lane >> 1, half = lane & 1, qi = q0 + w * 16 + r;
  const int visible = causal_past >= 0 ? causal_past + qi + 1 : Tk;
  int q_last = (q0 + TC_BQ < Tq ? q0 + TC_BQ : Tq) - 1;
  int k_end = Tk;
  if (causal_past >= 0 && causal_past + q_last + 1 < k_end)
    k_end = causal_past + q_last + 1;
  float m_run = -INFINITY, l_run = 0.0f;

  for (int k0 = 0; k0 < k_end; k0 += TC_BK) {
    __syncthreads (); /* Q staging read (first tile), or the previous K and V tiles used */
    tc_load_tile<VEC> (Kh, k, ldk, k0, Tk, D);
    tc_load_tile<VEC> (Vh, v, ldv, k0, Tk, D);
    __syncthreads ();

    for (int nt = 0; nt < TC_BK / 16; nt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
      wmma::fill_fragment (c, 0.0f);
      for (int ks = 0; ks < TC_DP / 16; ks++) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> kb;
        wmma::load_matrix_sync (kb, Kh + nt * 16 * TC_LDH + ks * 16, TC_LDH);
        wmma::mma_sync (c, qa[ks], kb, c);
      }
      wmma::store_matrix_sync (Sw + nt * 16, c, TC_LDS, wmma::mem_row_major);
    }
    __syncwarp ();

    float s[16], m_tile = -INFINITY;
    for (int i = 0; i < 16; i++) {
      int c = half * 16 + i, kj = k0 + c;
      s[i] = kj < Tk && kj < visible ? Sw[r * TC_LDS + c] : -INFINITY;
      m_tile = fmaxf (m_tile, s[i]);
    }
    m_tile = fmaxf (m_tile, __shfl_xor_sync (FULL_MASK, m_tile, 1));
    float m_new = fmaxf (m_run, m_tile);
    float alpha = m_new == -INFINITY || m_run == -INFINITY ? (m_new == -INFINITY ? 1.0f : 0.0f)
                                                           : expf (m_run - m_new);
    float l_tile = 0.0f;
    for (int i = 0; i < 16; i++) {
      float p = s[i] == -INFINITY ? 0.0f : expf (s[i] - m_new);
      __half ph = __float2half_rn (p);
      Pw[r * TC_LDP + half * 16 + i] = ph;
      l_tile += __half2float (ph); /* the sum of what P V will add */
    }
    l_tile += __shfl_xor_sync (FULL_MASK, l_tile, 1);
    l_run = l_run * alpha + l_tile;
    m_run = m_new;
    for (int i = 0; i < TC_DP / 2; i++)
      Ow[r * TC_LDO + half * (TC_DP / 2) + i] *= alpha;
    __syncwarp ();

    for (int dt = 0; dt < TC_DP / 16; dt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
      wmma::load_matrix_sync (c, Ow + dt * 16, TC_LDO, wmma::mem_row_major);
      for (int ks = 0; ks < TC_BK / 16; ks++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> pa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> vb;
        wmma::load_matrix_sync (pa, Pw + ks * 16, TC_LDP);
        wmma::load_matrix_sync (vb, Vh + ks * 16 * TC_LDH + dt * 16, TC_LDH);
        wmma::mma_sync (c, pa, vb, c);
      }
      wmma::store_matrix_sync (Ow + dt * 16, c, TC_LDO, wmma::mem_row_major);
    }
    __syncwarp ();
  }

  if (qi < Tq) {
    float inv = l_run > 0.0f ? 1.0f / l_run : 0.0f;
    for (int i = 0; i < TC_DP / 2; i++) {
      int d = half * (TC_DP / 2) + i;
      if (d >= D)
        break;
      float y = Ow[r * TC_LDO + d] * inv;
      if (out)
        out[b * o_bs + (size_t) qi * ldo + (size_t) h * D + d] = y;
      if (out_h)
        out_h[b * h_bs + (size_t) qi * ldh + (size_t) h * D + d] = __float2half_rn (y);
    }
  }
}

/* Few query rows (a decode step: one per beam, or a short prompt) against many keys.  The flash
 * kernel would give each (batch, head) one block that walks the keys tile after tile; here the
 * 8 warps of a block take every 8th chunk of 32 keys each (lane = key for the scores, lane =
 * output dimension for P V), keep their own running max, sum and output for each of the NQ
 * rows, and the block merges the 8 partial results at the end.  grid (ceil (Tq / NQ), H, B). */
#define FEW_THREADS 256
#define FEW_WARPS (FEW_THREADS / 32)

template <int DMAX, int NQ, bool VEC, typename KT>
__global__ void __launch_bounds__ (FEW_THREADS, 2)
k_attention_few (float *out, int ldo, size_t o_bs, __half *out_h, int ldh, size_t h_bs,
                 const float *q, int ldq, size_t q_bs, const KT *k, int ldk, const KT *v, int ldv,
                 size_t kv_bs, int Tq, int Tk, int D, int causal_past, float scale)
{
  __shared__ float Qs[NQ][DMAX];
  __shared__ float Ms[FEW_WARPS][NQ];
  __shared__ float Ls[FEW_WARPS][NQ];
  /* during the key loop, each warp's probabilities of its current chunk (NQ rows of 32); at the
   * end, each warp's partial outputs (NQ rows of DMAX) */
  __shared__ float pool[FEW_WARPS * NQ * DMAX];
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  float *Pw = pool + w * NQ * 32;
  const int q0 = blockIdx.x * NQ, h = blockIdx.y, b = blockIdx.z;
  const int nr = Tq - q0 < NQ ? Tq - q0 : NQ; /* rows of this block, the same for all threads */
  q += b * q_bs + (size_t) h * D;
  k += b * kv_bs + (size_t) h * D;
  v += b * kv_bs + (size_t) h * D;
  for (int e = tid; e < NQ * DMAX; e += FEW_THREADS) {
    int r = e / DMAX, d = e % DMAX;
    Qs[r][d] = r < nr && d < D ? q[(size_t) (q0 + r) * ldq + d] * scale : 0.0f;
  }
  int k_end = Tk;
  if (causal_past >= 0 && causal_past + q0 + nr < k_end)
    k_end = causal_past + q0 + nr;
  __syncthreads ();

  float m[NQ], l[NQ], acc[NQ][DMAX / 32];
  for (int r = 0; r < NQ; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
    for (int i = 0; i < DMAX / 32; i++)
      acc[r][i] = 0.0f;
  }
  for (int c0 = w * 32; c0 < k_end; c0 += FEW_WARPS * 32) {
    const int j = c0 + lane;
    const bool valid = j < k_end;
    float s[NQ];
    for (int r = 0; r < NQ; r++)
      s[r] = 0.0f;
    if (valid) {
      const KT *kr = k + (size_t) j * ldk;
      if (VEC) {
        for (int d = 0; d < D; d += 8) {
          uint4 u = *reinterpret_cast<const uint4 *> (kr + d);
          const __half2 *hh = reinterpret_cast<const __half2 *> (&u);
          float kf[8];
          for (int i = 0; i < 4; i++) {
            float2 f = __half22float2 (hh[i]);
            kf[2 * i] = f.x;
            kf[2 * i + 1] = f.y;
          }
          for (int r = 0; r < NQ; r++)
            if (r < nr)
              for (int i = 0; i < 8; i++)
                s[r] += Qs[r][d + i] * kf[i];
        }
      } else {
        for (int d = 0; d < D; d++) {
          float kd = ld_f (kr, d);
          for (int r = 0; r < NQ; r++)
            if (r < nr)
              s[r] += Qs[r][d] * kd;
        }
      }
    }
    float p[NQ];
    for (int r = 0; r < NQ; r++) {
      p[r] = 0.0f;
      if (r >= nr)
        continue;
      const int visible = causal_past >= 0 ? causal_past + q0 + r + 1 : Tk;
      float sr = valid && j < visible ? s[r] : -INFINITY;
      float m_new = fmaxf (m[r], warp_max (sr));
      if (m_new == -INFINITY) /* no visible key yet: the same in every lane */
        continue;
      float alpha = m[r] == -INFINITY ? 0.0f : expf (m[r] - m_new);
      p[r] = sr == -INFINITY ? 0.0f : expf (sr - m_new);
      l[r] = l[r] * alpha + warp_sum (p[r]);
      m[r] = m_new;
      for (int i = 0; i < DMAX / 32; i++)
        acc[r][i] *= alpha;
    }
    for (int r = 0; r < NQ; r++)
      if (r < nr)
        Pw[r * 32 + lane] = p[r];
    __syncwarp ();
    const int nj = k_end - c0 < 32 ? k_end - c0 : 32;
    for (int jj = 0; jj < nj; jj++) {
      const KT *vr = v + (size_t) (c0 + jj) * ldv;
      float vv[DMAX / 32];
      for (int i = 0; i < DMAX / 32; i++) {
        int d = lane + 32 * i;
        vv[i] = d < D ? ld_f (vr, d) : 0.0f;
      }
      for (int r = 0; r < NQ; r++)
        if (r < nr) {
          float pj = Pw[r * 32 + jj];
          for (int i = 0; i < DMAX / 32; i++)
            acc[r][i] += pj * vv[i];
        }
    }
    __syncwarp (); /* every lane has read Pw before the next chunk writes it */
  }

  __syncthreads (); /* every warp is done with its Pw: pool now takes the partial outputs */
  float (*Os)[NQ][DMAX] = reinterpret_cast<float (*)[NQ][DMAX]> (pool);
  for (int r = 0; r < NQ; r++) {
    if (lane == 0) {
      Ms[w][r] = m[r];
      Ls[w][r] = l[r];
    }
    for (int i = 0; i < DMAX / 32; i++)
      Os[w][r][lane + 32 * i] = acc[r][i];
  }
  __syncthreads ();
  for (int e = tid; e < nr * D; e += FEW_THREADS) {
    int r = e / D, d = e % D, qi = q0 + r;
    float M = -INFINITY;
    for (int ww = 0; ww < FEW_WARPS; ww++)
      M = fmaxf (M, Ms[ww][r]);
    float L = 0.0f, o = 0.0f;
    if (M != -INFINITY)
      for (int ww = 0; ww < FEW_WARPS; ww++)
        if (Ms[ww][r] != -INFINITY) {
          float f = expf (Ms[ww][r] - M);
          L += Ls[ww][r] * f;
          o += Os[ww][r][d] * f;
        }
    float y = L > 0.0f ? o / L : 0.0f;
    if (out)
      out[b * o_bs + (size_t) qi * ldo + (size_t) h * D + d] = y;
    if (out_h)
      out_h[b * h_bs + (size_t) qi * ldh + (size_t) h * D + d] = __float2half_rn (y);
  }
}

/* rows of one k_attention_few block for the head-size class DMAX (shared memory: 8 warps' partial
 * outputs of NQ rows, 32 KiB) */
#define FEW_NQ(DMAX) ((DMAX) == 64 ? 16 : 8)

typedef struct {
  float *out;
  int ldo;
  size_t o_bs;
  __half *out_h;
  int ldh;
  size_t h_bs;
  const float *q;
  int ldq;
  size_t q_bs;
  const void *k;
  int ldk;
  const void *v;
  int ldv;
  size_t kv_bs;
  int B, Tq, Tk, H, D, causal_past;
} attn_args;

/* one instance: the few-rows kernel when a (batch, head) has at most FEW_NQ rows, else flash */
template <int DMAX, int BK, bool VEC, typename KT>
static void
launch_attention (const attn_args *a, void *stream)
{
  float scale = 1.0f / sqrtf ((float) a->D);
  if (a->Tq > FEW_NQ (DMAX) && DMAX == 64 && sizeof (KT) == 2) { /* f16 K/V: tensor cores */
    dim3 grid ((unsigned) ((a->Tq + TC_BQ - 1) / TC_BQ), (unsigned) a->H, (unsigned) a->B);
    auto kernel = k_attention_tc<VEC>;
    LMW_LAUNCH (kernel, grid, 128, 0, stream, a->out, a->ldo, a->o_bs, a->out_h, a->ldh, a->h_bs,
                a->q, a->ldq, a->q_bs, (const __half *) a->k, a->ldk, (const __half *) a->v,
                a->ldv, a->kv_bs, a->Tq, a->Tk, a->D, a->causal_past, scale);
  } else if (a->Tq <= FEW_NQ (DMAX)) {
    dim3 grid (1, (unsigned) a->H, (unsigned) a->B);
    auto kernel = k_attention_few<DMAX, FEW_NQ (DMAX), VEC, KT>;
    LMW_LAUNCH (kernel, grid, FEW_THREADS, 0, stream, a->out, a->ldo, a->o_bs, a->out_h, a->ldh,
                a->h_bs, a->q, a->ldq, a->q_bs, (const KT *) a->k, a->ldk, (const KT *) a->v,
                a->ldv, a->kv_bs, a->Tq, a->Tk, a->D, a->causal_past, scale);
  } else {
    dim3 grid ((unsigned) ((a->Tq + ATTN_BQ - 1) / ATTN_BQ), (unsigned) a->H, (unsigned) a->B);
    auto kernel = k_attention<DMAX, BK, VEC, KT>;
    LMW_LAUNCH (kernel, grid, ATTN_THREADS, 0, stream, a->out, a->ldo, a->o_bs, a->out_h, a->ldh,
                a->h_bs, a->q, a->ldq, a->q_bs, (const KT *) a->k, a->ldk, (const KT *) a->v,
                a->ldv, a->kv_bs, a->Tq, a->Tk, a->D, a->causal_past, scale);
  }
}

static bool
aligned16 (const void *p)
{
  return ((uintptr_t) p & 15) == 0;
}

/* Chooses the instance: head size class, key type, 16-byte loads when the layout allows. */
static void
dispatch_attention (const attn_args *a, lmw_type kv_type, void *stream)
{
  bool vec = kv_type == LMW_TYPE_F16 && a->D % 8 == 0 && a->ldk % 8 == 0 && a->ldv % 8 == 0 &&
             a->kv_bs % 8 == 0 && aligned16 (a->k) && aligned16 (a->v);
  bool small = a->D <= 64;
  if (kv_type == LMW_TYPE_F32)
    small ? launch_attention<64, 64, false, float> (a, stream)
          : launch_attention<128, 32, false, float> (a, stream);
  else if (vec)
    small ? launch_attention<64, 64, true, __half> (a, stream)
          : launch_attention<128, 32, true, __half> (a, stream);
  else
    small ? launch_attention<64, 64, false, __half> (a, stream)
          : launch_attention<128, 32, false, __half> (a, stream);
}

extern "C" lmw_cuda_status
lmw_cuda_attention (float *out, int ldo, size_t o_bstride, uint16_t *out_h, int ldh,
                    size_t h_bstride, const float *q, int ldq, size_t q_bstride, const void *k,
                    int ldk, const void *v, int ldv, size_t kv_bstride, lmw_type kv_type, int B,
                    int Tq, int Tk, int H, int D, int causal_past, void *stream)
{
  CHECK (B >= 0 && Tq >= 0 && Tk >= 1 && H >= 1 && D >= 1 && causal_past >= -1,
         "bad dimensions");
  CHECK (D <= LMW_CUDA_ATTN_D_MAX, "head size above LMW_CUDA_ATTN_D_MAX");
  CHECK (kv_type == LMW_TYPE_F32 || kv_type == LMW_TYPE_F16, "K/V neither f32 nor f16");
  CHECK (H <= 65535 && B <= 65535, "too many heads or batches");
  if (B == 0 || Tq == 0)
    return LMW_CUDA_OK;
  CHECK (q && k && v && (out || out_h), "NULL pointer");
  int HD = H * D;
  CHECK (ldq >= HD && ldk >= HD && ldv >= HD && (!out || ldo >= HD) && (!out_h || ldh >= HD),
         "row stride below H * D");
  attn_args a = {out,        ldo, o_bstride, (__half *) out_h, ldh,  h_bstride,  q, ldq,
                 q_bstride,  k,   ldk,       v,                ldv,  kv_bstride, B, Tq,
                 Tk,         H,   D,         causal_past};
  dispatch_attention (&a, kv_type, stream);
  return launched (__func__);
}

extern "C" lmw_cuda_status
lmw_cuda_cross_attention (float *out, int ldo, uint16_t *out_h, int ldh, const float *q, int ldq,
                          const uint16_t *k, const uint16_t *v, int ldkv, size_t kv_rstride,
                          int R, int nq, int Tk, int H, int D, void *stream)
{
  CHECK (R >= 0 && nq >= 0 && Tk >= 1 && H >= 1 && D >= 1, "bad dimensions");
  CHECK (D <= LMW_CUDA_ATTN_D_MAX, "head size above LMW_CUDA_ATTN_D_MAX");
  CHECK (H <= 65535 && R <= 65535, "too many heads or requests");
  if (R == 0 || nq == 0)
    return LMW_CUDA_OK;
  CHECK (q && k && v && (out || out_h), "NULL pointer");
  CHECK (D % 8 == 0 && ldkv % 8 == 0 && kv_rstride % 8 == 0 && aligned16 (k) && aligned16 (v),
         "K/V not laid out for 16-byte loads");
  int HD = H * D;
  CHECK (ldq >= HD && ldkv >= HD && (!out || ldo >= HD) && (!out_h || ldh >= HD),
         "row stride below H * D");
  attn_args a = {out, ldo, (size_t) nq * ldo, (__half *) out_h, ldh, (size_t) nq * ldh, q, ldq,
                 (size_t) nq * ldq, k, ldkv, v, ldkv, kv_rstride, R, nq, Tk, H, D, -1};
  if (D <= 64)
    launch_attention<64, 64, true, __half> (&a, stream);
  else
    launch_attention<128, 32, true, __half> (&a, stream);
  return launched (__func__);
}

/* ---- embedding -------------------------------------------------------------------------- */

template <typename WT>
__global__ void
k_get_rows (float *out, int ldo, const WT *w, size_t ldw, int w_rows, const int *ids, int cols)
{
  int i = blockIdx.x, id = ids[i];
  bool ok = id >= 0 && id < w_rows;
  for (int c = threadIdx.x; c < cols; c += blockDim.x)
    out[(size_t) i * ldo + c] = ok ? ld_f (w, (size_t) id * ldw + c) : 0.0f;
}

extern "C" lmw_cuda_status
lmw_cuda_get_rows (float *out, int ldo, const void *w, lmw_type w_type, size_t ldw, int w_rows,
                   const int *ids, int n, int cols, void *stream)
{
  CHECK (n >= 0 && cols >= 0 && w_rows >= 0, "bad dimensions");
  CHECK (w_type == LMW_TYPE_F32 || w_type == LMW_TYPE_F16, "weights neither f32 nor f16");
  if (n == 0 || cols == 0)
    return LMW_CUDA_OK;
  CHECK (out && w && ids, "NULL pointer");
  CHECK (ldo >= cols && ldw >= (size_t) cols, "row stride below cols");
  if (w_type == LMW_TYPE_F16) {
    auto kernel = k_get_rows<__half>;
    LMW_LAUNCH (kernel, (unsigned) n, 256, 0, stream, out, ldo, (const __half *) w, ldw, w_rows,
                ids, cols);
  } else {
    auto kernel = k_get_rows<float>;
    LMW_LAUNCH (kernel, (unsigned) n, 256, 0, stream, out, ldo, (const float *) w, ldw, w_rows,
                ids, cols);
  }
  return launched (__func__);
}

/* ---- search ----------------------------------------------------------------------------- */

#define TOPK_THREADS 512

/* One block per row; round i finds the best element ranked after the one of round i - 1. */
__global__ void __launch_bounds__ (TOPK_THREADS)
k_topk (int *idx, float *val, float *lse, const float *x, int ld, int cols, int k)
{
  __shared__ float red_v[32];
  __shared__ int red_i[32];
  __shared__ float red_s[32];
  const int row = blockIdx.x, lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  const int nw = (blockDim.x + 31) >> 5;
  const float *xr = x + (size_t) row * ld;

  if (lse) {
    float m = -INFINITY, s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
      lse_merge (m, s, xr[c], 1.0f);
    for (int o = 16; o > 0; o >>= 1) {
      float om = __shfl_xor_sync (FULL_MASK, m, o), os = __shfl_xor_sync (FULL_MASK, s, o);
      lse_merge (m, s, om, os);
    }
    if (lane == 0) {
      red_v[w] = m;
      red_s[w] = s;
    }
    __syncthreads ();
    if (threadIdx.x == 0) {
      float bm = red_v[0], bs = red_s[0];
      for (int i = 1; i < nw; i++)
        lse_merge (bm, bs, red_v[i], red_s[i]);
      lse[row] = bm == -INFINITY ? -INFINITY : bm + logf (bs);
    }
    __syncthreads ();
  }

  float prev_v = INFINITY;
  int prev_i = -1;
  for (int round = 0; round < k; round++) {
    float bv = -INFINITY;
    int bi = INT32_MAX;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      float xv = xr[c];
      if (xv != xv) /* NaN never wins */
        continue;
      if (!(xv < prev_v || (xv == prev_v && c > prev_i)))
        continue; /* already taken */
      if (ranks_before (xv, c, bv, bi)) {
        bv = xv;
        bi = c;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      float ov = __shfl_xor_sync (FULL_MASK, bv, o);
      int oi = __shfl_xor_sync (FULL_MASK, bi, o);
      if (ranks_before (ov, oi, bv, bi)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      red_v[w] = bv;
      red_i[w] = bi;
    }
    __syncthreads ();
    bv = red_v[0];
    bi = red_i[0];
    for (int i = 1; i < nw; i++)
      if (ranks_before (red_v[i], red_i[i], bv, bi)) {
        bv = red_v[i];
        bi = red_i[i];
      }
    __syncthreads ();
    if (threadIdx.x == 0) {
      idx[(size_t) row * k + round] = bi == INT32_MAX ? -1 : bi;
      if (val)
        val[(size_t) row * k + round] = bv;
    }
    prev_v = bv;
    prev_i = bi;
  }
}

extern "C" lmw_cuda_status
lmw_cuda_topk (int *idx, float *val, float *lse, const float *x, int ld, int rows, int cols,
               int k, void *stream)
{
  CHECK (rows >= 0 && cols >= 1 && ld >= cols, "bad dimensions");
  CHECK (k >= 1 && k <= cols && k <= LMW_CUDA_TOPK_MAX, "k outside 1 .. min (cols, 64)");
  if (rows == 0)
    return LMW_CUDA_OK;
  CHECK (idx && x, "NULL pointer");
  LMW_LAUNCH (k_topk, (unsigned) rows, TOPK_THREADS, 0, stream, idx, val, lse, x, ld, cols, k);
  return launched (__func__);
}

extern "C" lmw_cuda_status
lmw_cuda_argmax (int *idx, float *val, float *lse, const float *x, int ld, int rows, int cols,
                 void *stream)
{
  return lmw_cuda_topk (idx, val, lse, x, ld, rows, cols, 1, stream);
}
