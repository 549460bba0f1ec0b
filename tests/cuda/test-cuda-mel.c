/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-mel.c — the log-mel kernel (backends/cuda/lmw-cuda-mel.h) against the reference
 * front end, the CPU backend's log_mel operation (backends/cpu/lmw-mel.c).
 *
 * Built twice from this one file: against the emulated kernel (the meson test cuda-mel, device
 * memory exactly-sized host memory, so that ASan sees any out-of-bounds index) and with
 * -DLMW_TEST_GPU against the nvcc build (cuda-mel-gpu, and scripts/gpu-check.sh; skipped
 * without a device).
 *
 * Asserts (TAP):
 *   the CPU operation over a whole signal (max pass, then normalised frames) equals
 *   lmw_mel_spectrogram bit for bit;
 *   the kernel's maximum (first pass) within 1e-4 of the reference's, and every normalised
 *   value within 1e-4 (absolute) of the reference's, on odd signal lengths (1, 199, 401,
 *   16001, 47999 samples), with and without zero padding (whisper's 30 s), on frame ranges
 *   that start inside the signal with only the samples they read in memory, 80 and 128
 *   triangular mel bands and a dense random bank of 7;
 *   the columns of a window past its frames are 0 and the output has exactly n_mels * ldo
 *   elements (nothing written outside);
 *   bad arguments rejected with LMW_CUDA_EINVAL.
 */
#include "lmw-backend.h"
#include "lmw-cuda-mel.h"
#include "lmw-mel.h"
#include "lmw-cuda-test-mem.h"
#include "lmw-test.h"
#include "lmw-test-random.h"

#include <math.h>
#include <stdint.h>

#ifdef LMW_TEST_GPU
#include <cuda_runtime_api.h>
#endif

#define N_BINS 201
#define TOL 1e-4

/* speech-like: tones, noise bursts and a silent stretch, peak amplitude about 0.6 */
static float *
make_signal (size_t n)
{
  float *x = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) {
    double t = (double) i / 16000.0;
    double v = 0.3 * sin (2 * M_PI * 220.0 * t) + 0.1 * sin (2 * M_PI * 3150.0 * t + 0.3);
    if ((i / 4000) % 3 == 1)
      v += 0.2 * frand ();
    if ((i / 8000) % 4 == 3)
      v *= 1e-3; /* near-silence: values at the clamp max - 8 */
    x[i] = (float) v;
  }
  return x;
}

/* triangular bands on a mel-like scale: a few non-zero bins each, as whisper's filterbank */
static float *
make_filters (int n_mels, bool dense)
{
  float *f = calloc ((size_t) n_mels * N_BINS, sizeof (float));
  for (int m = 0; m < n_mels; m++) {
    if (dense) {
      for (int b = 0; b < N_BINS; b++)
        f[m * N_BINS + b] = 0.01f * (frand () + 1.0f);
      continue;
    }
    double lo = 700.0 * (pow (10.0, (m + 0.0) * 2840.0 / 2595.0 / (n_mels + 1)) - 1.0);
    double mid = 700.0 * (pow (10.0, (m + 1.0) * 2840.0 / 2595.0 / (n_mels + 1)) - 1.0);
    double hi = 700.0 * (pow (10.0, (m + 2.0) * 2840.0 / 2595.0 / (n_mels + 1)) - 1.0);
    for (int b = 0; b < N_BINS; b++) {
      double hz = b * 40.0, w = 0.0;
      if (hz > lo && hz <= mid)
        w = (hz - lo) / (mid - lo);
      else if (hz > mid && hz < hi)
        w = (hi - hz) / (hi - mid);
      f[m * N_BINS + b] = (float) (w * 2.0 / (hi - lo + 1e-9) * 100.0);
    }
  }
  return f;
}

static const lmw_backend_ops *cpu;
static void *cpu_ctx;

/* frames [f0, f1) of a signal of n real samples and n_pad zeros, ldo = f1 - f0 + tail, with
 * only the samples the frames read in memory (from pcm_base on) */
static void
check_frames (const char *what, size_t n, size_t n_pad, int f0, int f1, int tail, int n_mels,
              bool dense)
{
  float *x = make_signal (n);
  float *filters = make_filters (n_mels, dense);
  size_t n_total = n + n_pad;
  int nf = f1 - f0, ldo = nf + tail;
  long lo = (long) f0 * LMW_MEL_HOP - LMW_MEL_N_FFT / 2, hi = (long) f1 * LMW_MEL_HOP + LMW_MEL_N_FFT / 2;
  size_t a = lo > 0 ? (size_t) lo : 0, b = hi > 0 ? (size_t) hi : 0;
  if (b > n)
    b = n;
  if (a > b)
    a = b;
  size_t n_pcm = b - a;

  /* the reference: the maximum over every frame of the signal, then the frames */
  int n_all = (int) (n_total / LMW_MEL_HOP);
  if (n_all < f1)
    n_all = f1;
  float ref_max = -INFINITY;
  cpu->log_mel (cpu_ctx, NULL, 0, &ref_max, x, 0, n, n, n_total, filters, n_mels, 0, n_all);
  size_t out_n = (size_t) n_mels * (size_t) ldo;
  float *ref = malloc (sizeof (float) * (out_n ? out_n : 1));
  cpu->log_mel (cpu_ctx, ref, ldo, &ref_max, x + a, a, n_pcm, n, n_total, filters, n_mels, f0,
                f1);

  /* the kernel: the whole signal for the maximum, then only the frames' samples */
  float *d_x = dev_alloc (sizeof (float) * (n ? n : 1));
  float *d_part = dev_alloc (sizeof (float) * (n_pcm ? n_pcm : 1));
  float *d_f = dev_alloc (sizeof (float) * (size_t) n_mels * N_BINS);
  float *d_max = dev_alloc (sizeof (float));
  float *d_out = dev_alloc (sizeof (float) * (out_n ? out_n : 1));
  to_dev (d_x, x, sizeof (float) * n);
  to_dev (d_part, x + a, sizeof (float) * n_pcm);
  to_dev (d_f, filters, sizeof (float) * (size_t) n_mels * N_BINS);
  float ninf = -INFINITY, got_max = 0.0f;
  to_dev (d_max, &ninf, sizeof (float));
  lmw_cuda_status s1 = lmw_cuda_log_mel (NULL, 0, d_max, d_x, 0, n, n, n_total, d_f, n_mels, 0,
                                         n_all, NULL);
  lmw_cuda_status s2 = lmw_cuda_log_mel (d_out, ldo, d_max, d_part, a, n_pcm, n, n_total, d_f,
                                         n_mels, f0, f1, NULL);
#ifdef LMW_TEST_GPU
  if (cudaDeviceSynchronize () != cudaSuccess)
    die ("the kernel failed");
#endif
  from_dev (&got_max, d_max, sizeof (float));
  float *got = malloc (sizeof (float) * (out_n ? out_n : 1));
  from_dev (got, d_out, sizeof (float) * out_n);

  double worst = 0.0;
  int at_m = -1, at_t = -1;
  bool tail_zero = true;
  for (int m = 0; m < n_mels; m++) {
    for (int t = 0; t < nf; t++) {
      double d = fabs ((double) got[m * ldo + t] - ref[m * ldo + t]);
      if (!(d <= worst)) { /* NaN counts as worst */
        worst = d;
        at_m = m, at_t = t;
      }
    }
    for (int t = nf; t < ldo; t++)
      tail_zero &= got[m * ldo + t] == 0.0f;
  }
  TEST_DIAG ("%s: max %.6f (reference %.6f), worst |diff| %.3g at band %d frame %d", what,
             got_max, ref_max, worst, at_m, f0 + at_t);
  TEST_OK (s1 == LMW_CUDA_OK && s2 == LMW_CUDA_OK, "%s: launches succeed", what);
  TEST_OK (fabs ((double) got_max - ref_max) <= TOL, "%s: maximum within %g of the reference",
           what, TOL);
  TEST_OK (worst <= TOL, "%s: %d bands x %d frames within %g of the reference (%.3g)", what,
           n_mels, nf, TOL, worst);
  if (tail > 0)
    TEST_OK (tail_zero, "%s: the %d columns past the frames are 0", what, tail);
  dev_free (d_x), dev_free (d_part), dev_free (d_f), dev_free (d_max), dev_free (d_out);
  free (x), free (filters), free (ref), free (got);
}

/* the operation's two passes over a whole signal are the existing whole spectrogram */
static void
check_cpu_whole (size_t n, size_t n_pad)
{
  float *x = make_signal (n);
  float *filters = make_filters (80, false);
  size_t n_total = n + n_pad;
  int nf = (int) (n_total / LMW_MEL_HOP);
  float *a = malloc (sizeof (float) * 80 * (size_t) nf);
  float *b = malloc (sizeof (float) * 80 * (size_t) nf);
  lmw_mel_spectrogram (a, x, n, n_pad, filters, 80, 2);
  float max = -INFINITY;
  cpu->log_mel (cpu_ctx, NULL, 0, &max, x, 0, n, n, n_total, filters, 80, 0, nf);
  cpu->log_mel (cpu_ctx, b, nf, &max, x, 0, n, n, n_total, filters, 80, 0, nf);
  TEST_OK (memcmp (a, b, sizeof (float) * 80 * (size_t) nf) == 0,
           "cpu log_mel of %zu samples + %zu zeros equals lmw_mel_spectrogram bit for bit", n,
           n_pad);
  free (x), free (filters), free (a), free (b);
}

static void
check_bad_arguments (void)
{
  float *d = dev_alloc (sizeof (float) * 64);
  TEST_OK (lmw_cuda_log_mel (d, 4, d, d, 0, 8, 8, 8, d, 0, 0, 1, NULL) == LMW_CUDA_EINVAL &&
               lmw_cuda_log_mel (d, 4, d, d, 0, 8, 8, 8, d, 257, 0, 1, NULL) == LMW_CUDA_EINVAL &&
               lmw_cuda_log_mel (d, 4, d, d, 0, 8, 8, 8, d, 1, 2, 1, NULL) == LMW_CUDA_EINVAL &&
               lmw_cuda_log_mel (d, 0, d, d, 0, 8, 8, 8, d, 1, 0, 1, NULL) == LMW_CUDA_EINVAL &&
               lmw_cuda_log_mel (d, 4, NULL, d, 0, 8, 8, 8, d, 1, 0, 1, NULL) == LMW_CUDA_EINVAL &&
               lmw_cuda_log_mel (d, 4, d, d, 0, 8, 9, 8, d, 1, 0, 1, NULL) == LMW_CUDA_EINVAL,
           "bad dimensions, signal bounds and NULL pointers are refused");
  TEST_OK (strstr (lmw_cuda_mel_last_error (), "lmw_cuda_log_mel") != NULL,
           "the refusal is explained (%s)", lmw_cuda_mel_last_error ());
  TEST_OK (lmw_cuda_log_mel (NULL, 0, d, d, 0, 8, 8, 8, d, 1, 3, 3, NULL) == LMW_CUDA_OK,
           "no frames: nothing to launch");
  dev_free (d);
}

int
main (void)
{
  skip_without_device ();
  cpu = lmw_backend_cpu ();
  char err[256];
  cpu_ctx = cpu->create (2, err, sizeof err);
  if (cpu_ctx == NULL)
    die (err);

  check_cpu_whole (16001, 4799);
  check_cpu_whole (401, 0);

  check_frames ("1 sample", 1, 0, 0, 1, 3, 80, false);
  check_frames ("199 samples", 199, 0, 0, 1, 0, 80, false);
  check_frames ("401 samples + 100 zeros", 401, 100, 0, 3, 5, 80, false);
  check_frames ("16001 samples + 4799 zeros", 16001, 4799, 0, 130, 0, 80, false);
  check_frames ("16001 samples, frames 7..93", 16001, 4799, 7, 93, 11, 128, false);
  check_frames ("47999 samples + 30 s, frames 290..317", 47999, 480000, 290, 317, 0, 80, false);
  check_frames ("47999 samples + 30 s, frames 2990..3013", 47999, 480000, 2990, 3013, 7, 128,
                false);
  check_frames ("dense bank of 7", 4001, 33, 2, 24, 1, 7, true);

  check_bad_arguments ();

  cpu->destroy (cpu_ctx);
  return test_done ();
}
