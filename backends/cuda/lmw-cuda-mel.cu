/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-mel.cu — whisper's log-mel front end as a CUDA kernel (k_log_mel) and its launcher;
 * lmw-cuda-mel.h documents what it computes and backends/cpu/lmw-mel.c is its reference.
 *
 * One block takes MEL_FRAMES consecutive frames at a time (a grid-stride loop over groups), in
 * double precision as the reference (an f32 transform was 8.6e-5 off in its normalised values
 * on the 128-band fixture, where bands 7 decades below the loudest lose digits; in doubles the
 * emulated kernel gives the reference's values):
 *   1. the twiddles W^j = exp (-2 pi i j / 400), once per block, and the group's windowed
 *      samples (reflect padding, periodic Hann window) into shared memory;
 *   2. the DFT of 400 = 20 x 20 points in two stages (Cooley-Tukey, one level): with
 *      n = 20 n1 + n2 and k = k1 + 20 k2,
 *        Y[k1][n2] = W^(n2 k1) * sum_n1 x[20 n1 + n2] W^(20 n1 k1)      (400 values per frame)
 *        X[k]      = sum_n2 Y[k1][n2] W^(20 n2 k2)                      (bins 0 .. 200 only)
 *      40 products per bin instead of a direct DFT's 400; every twiddle is an entry of the one
 *      table (exponents reduced mod 400), |X_k|^2 into shared memory;
 *   3. thread m computes mel band m of every frame: the filter row is read once per group
 *      (zero weights skipped: each band has a few non-zero bins), then log10 and either the
 *      normalised value written, or the block's running maximum (one atomic per block).
 *
 * Like lmw-cuda-kernels.cu, this source builds with nvcc and, with LMW_CUDA_EMU, with the host
 * C++ compiler under emu/lmw-cuda-emu.h (emu/lmw-cuda-mel-emu.cc).
 */
#include "lmw-cuda-compat.h"
#include "lmw-cuda-mel.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define MEL_N_FFT 400
#define MEL_HOP 160
#define MEL_BINS (MEL_N_FFT / 2 + 1)
#define MEL_RADIX 20     /* 400 = 20 x 20 */
#define MEL_FRAMES 4     /* frames per block and group */
#define MEL_THREADS 256

/* cos (pi x) and sin (pi x): exact argument reduction, no slow path (no stack frame) */
#ifdef LMW_CUDA_EMU
static inline double
mel_cospi (double x)
{
  return cos (M_PI * x);
}
static inline double
mel_sinpi (double x)
{
  return sin (M_PI * x);
}
#else
#define mel_cospi cospi
#define mel_sinpi sinpi
#endif

static __device__ __forceinline__ float
mel_sample (const float *pcm, long long pcm_base, long long n_pcm, long long n_samples,
            long long n_total, long long i)
{
  /* reflect padding of 200 around x, exactly as the reference */
  if (i < 0)
    i = -i;
  if (i >= n_total)
    i = 2 * (n_total - 1) - i;
  if (i < 0 || i >= n_samples || i < pcm_base || i - pcm_base >= n_pcm)
    return 0.0f;
  return pcm[i - pcm_base];
}

static __device__ __forceinline__ void
mel_atomic_max (float *p, float v)
{
  unsigned *u = (unsigned *) p;
  unsigned old = *(volatile unsigned *) u;
  while (__int_as_float ((int) old) < v) {
    unsigned prev = atomicCAS (u, old, (unsigned) __float_as_int (v));
    if (prev == old)
      break;
    old = prev;
  }
}

__global__ void __launch_bounds__ (MEL_THREADS, 4)
k_log_mel (float *out, int ldo, float *max, const float *pcm, long long pcm_base,
           long long n_pcm, long long n_samples, long long n_total, const float *filters,
           int n_mels, int f0, int n)
{
  __shared__ double tw_c[MEL_N_FFT], tw_s[MEL_N_FFT];   /* W^j = tw_c[j] - i tw_s[j] */
  __shared__ double xs[MEL_FRAMES][MEL_N_FFT];           /* samples; then the power (201) */
  __shared__ double yr[MEL_FRAMES][MEL_N_FFT], yi[MEL_FRAMES][MEL_N_FFT]; /* [k1 * 20 + n2] */
  __shared__ float red[MEL_THREADS / 32];
  const int tid = threadIdx.x;
  for (int j = tid; j < MEL_N_FFT; j += MEL_THREADS) {
    tw_c[j] = mel_cospi ((double) j / (MEL_N_FFT / 2));
    tw_s[j] = mel_sinpi ((double) j / (MEL_N_FFT / 2));
  }
  const float floor_v = out != NULL ? *max - 8.0f : 0.0f;
  float local_max = -INFINITY;
  const int groups = (n + MEL_FRAMES - 1) / MEL_FRAMES;
  for (int g = blockIdx.x; g < groups; g += gridDim.x) { /* the same trips for the block */
    const int t0 = f0 + g * MEL_FRAMES;
    const int nf = n - g * MEL_FRAMES < MEL_FRAMES ? n - g * MEL_FRAMES : MEL_FRAMES;
    __syncthreads (); /* the twiddles are written; the previous group's power is read */
    for (int i = tid; i < MEL_FRAMES * MEL_N_FFT; i += MEL_THREADS) {
      int f = i / MEL_N_FFT, j = i - f * MEL_N_FFT;
      double v = 0.0;
      if (f < nf) {
        long long s = (long long) (t0 + f) * MEL_HOP - MEL_N_FFT / 2 + j;
        v = mel_sample (pcm, pcm_base, n_pcm, n_samples, n_total, s) * 0.5 * (1.0 - tw_c[j]);
      }
      xs[f][j] = v;
    }
    __syncthreads ();
    /* stage 1: 20-point DFTs over n1, then the twiddle W^(n2 k1) */
    for (int i = tid; i < MEL_FRAMES * MEL_N_FFT; i += MEL_THREADS) {
      int f = i / MEL_N_FFT, r = i - f * MEL_N_FFT, k1 = r / MEL_RADIX, n2 = r - k1 * MEL_RADIX;
      double re = 0.0, im = 0.0;
      int e = 0; /* n1 * k1 mod 20 */
      for (int n1 = 0; n1 < MEL_RADIX; n1++) {
        double x = xs[f][MEL_RADIX * n1 + n2];
        re = fma (x, tw_c[MEL_RADIX * e], re);
        im = fma (-x, tw_s[MEL_RADIX * e], im);
        e += k1;
        if (e >= MEL_RADIX)
          e -= MEL_RADIX;
      }
      double c = tw_c[n2 * k1], sn = tw_s[n2 * k1]; /* n2 * k1 < 400 */
      yr[f][r] = re * c + im * sn;
      yi[f][r] = im * c - re * sn;
    }
    __syncthreads ();
    /* stage 2: bin k = k1 + 20 k2 sums over n2 with W^(20 n2 k2); the power over xs */
    for (int i = tid; i < MEL_FRAMES * MEL_BINS; i += MEL_THREADS) {
      int f = i / MEL_BINS, k = i - f * MEL_BINS, k2 = k / MEL_RADIX, k1 = k - k2 * MEL_RADIX;
      const double *ar = yr[f] + k1 * MEL_RADIX, *ai = yi[f] + k1 * MEL_RADIX;
      double re = 0.0, im = 0.0;
      int e = 0; /* n2 * k2 mod 20 */
      for (int n2 = 0; n2 < MEL_RADIX; n2++) {
        double c = tw_c[MEL_RADIX * e], sn = tw_s[MEL_RADIX * e];
        re += ar[n2] * c + ai[n2] * sn;
        im += ai[n2] * c - ar[n2] * sn;
        e += k2;
        if (e >= MEL_RADIX)
          e -= MEL_RADIX;
      }
      xs[f][k] = re * re + im * im; /* the samples are no longer read */
    }
    __syncthreads ();
    for (int m = tid; m < n_mels; m += MEL_THREADS) {
      const float *fr = filters + (size_t) m * MEL_BINS;
      double acc[MEL_FRAMES];
      for (int f = 0; f < MEL_FRAMES; f++)
        acc[f] = 0.0;
      for (int b = 0; b < MEL_BINS; b++) {
        double w = __ldg (fr + b);
        if (w == 0.0)
          continue;
        for (int f = 0; f < MEL_FRAMES; f++)
          acc[f] = fma (w, xs[f][b], acc[f]);
      }
      for (int f = 0; f < nf; f++) {
        float v = (float) log10 (acc[f] > 1e-10 ? acc[f] : 1e-10);
        if (out != NULL)
          out[(size_t) m * ldo + (t0 - f0 + f)] = (fmaxf (v, floor_v) + 4.0f) / 4.0f;
        else
          local_max = fmaxf (local_max, v);
      }
    }
  }
  if (out != NULL) { /* the window's columns beyond the frames */
    int tail = ldo - n;
    size_t total = (size_t) n_mels * (size_t) tail, step = (size_t) gridDim.x * MEL_THREADS;
    for (size_t i = (size_t) blockIdx.x * MEL_THREADS + tid; i < total; i += step)
      out[(i / tail) * ldo + n + i % tail] = 0.0f;
    return; /* no barrier below on this path, for every thread of the block alike */
  }
  for (int o = 16; o > 0; o >>= 1)
    local_max = fmaxf (local_max, __shfl_xor_sync (0xffffffffu, local_max, o));
  if ((tid & 31) == 0)
    red[tid >> 5] = local_max;
  __syncthreads ();
  if (tid == 0) {
    float m = red[0];
    for (int w = 1; w < MEL_THREADS / 32; w++)
      m = fmaxf (m, red[w]);
    if (m > -INFINITY)
      mel_atomic_max (max, m);
  }
}

/* ---- the launcher ----------------------------------------------------------------------- */

static thread_local char mel_error[256];

const char *
lmw_cuda_mel_last_error (void)
{
  return mel_error;
}

static lmw_cuda_status
mel_invalid (const char *what)
{
  snprintf (mel_error, sizeof mel_error, "lmw_cuda_log_mel: %s", what);
  return LMW_CUDA_EINVAL;
}

extern "C" lmw_cuda_status
lmw_cuda_log_mel (float *out, int ldo, float *max, const float *pcm, size_t pcm_base,
                  size_t n_pcm, size_t n_samples, size_t n_total, const float *filters,
                  int n_mels, int f0, int f1, void *stream)
{
  if (n_mels < 1 || n_mels > LMW_CUDA_MEL_MAX_BANDS || f0 < 0 || f1 < f0)
    return mel_invalid ("bad dimensions");
  if (n_samples > n_total || n_total > ((size_t) 1 << 40) || pcm_base > n_total ||
      n_pcm > n_total)
    return mel_invalid ("bad signal bounds");
  if (out != NULL && ldo < f1 - f0)
    return mel_invalid ("bad leading dimension");
  if (max == NULL || filters == NULL || (pcm == NULL && n_pcm > 0))
    return mel_invalid ("NULL pointer");
  int n = f1 - f0;
  int groups = (n + MEL_FRAMES - 1) / MEL_FRAMES;
  if (out != NULL && ldo > n && groups == 0)
    groups = 1; /* only the zero tail */
  if (groups == 0)
    return LMW_CUDA_OK;
  unsigned blocks = (unsigned) groups > LMW_GRID_CAP ? LMW_GRID_CAP : (unsigned) groups;
  LMW_LAUNCH (k_log_mel, blocks, MEL_THREADS, 0, stream, out, ldo, max, pcm,
              (long long) pcm_base, (long long) n_pcm, (long long) n_samples,
              (long long) n_total, filters, n_mels, f0, n);
#ifdef LMW_CUDA_EMU
  (void) stream;
  return LMW_CUDA_OK;
#else
  cudaError_t e = cudaGetLastError ();
  if (e == cudaSuccess)
    return LMW_CUDA_OK;
  snprintf (mel_error, sizeof mel_error, "lmw_cuda_log_mel: %s", cudaGetErrorString (e));
  return LMW_CUDA_ELAUNCH;
#endif
}
