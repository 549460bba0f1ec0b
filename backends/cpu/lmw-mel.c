/* SPDX-License-Identifier: MIT */
/*
 * lmw-mel.c — log-mel spectrogram identical to the reference front end:
 *
 *   x      = pcm followed by n_pad zeros (30 s)
 *   frames = STFT of x with a periodic Hann window of 400, hop 160, n_fft 400, the signal
 *            reflect-padded by 200 at both ends (torch.stft center=True), last frame dropped
 *   power  = |STFT|^2                          (201 bins)
 *   mel    = filters (n_mels, 201) · power
 *   log    = log10 (max (mel, 1e-10))
 *   log    = max (log, max_over_everything (log) - 8)
 *   out    = (log + 4) / 4
 *
 * The FFT is a recursive mixed-radix one (400 = 2^4 * 5^2) in double precision; frames are
 * split over threads.  Each frame depends only on its 400 samples, so any range of frames can
 * be computed alone from the samples it reads (lmw_mel_frames) and normalised later with the
 * maximum of the whole signal (lmw_mel_normalise): the values are those of the whole
 * spectrogram, bit for bit.
 *
 * It lives with the CPU backend because it is that backend's log_mel operation (lmw-backend.h)
 * and the reference of every other backend's: the engine (plugins/whisper/core) calls it for
 * whole spectrograms, and through the backend for a window's frames.
 */
#include "lmw-mel.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  double re, im;
} cpx;

static int
smallest_factor (int n)
{
  for (int p = 2; p * p <= n; p++)
    if (n % p == 0)
      return p;
  return n;
}

/* out (n) = DFT of in[0], in[stride], ...; tw[j] = exp(-2 pi i j / N), tw_step = N / n */
static void
fft_rec (cpx *out, const cpx *in, int n, int stride, const cpx *tw, int tw_step)
{
  if (n == 1) {
    out[0] = in[0];
    return;
  }
  int p = smallest_factor (n);
  int m = n / p;
  for (int r = 0; r < p; r++)
    fft_rec (out + r * m, in + r * stride, m, stride * p, tw, tw_step * p);
  cpx t[64];
  cpx *tp = p <= 64 ? t : malloc (sizeof (cpx) * (size_t) p);
  if (tp == NULL)
    return;
  for (int k = 0; k < m; k++) {
    for (int r = 0; r < p; r++)
      tp[r] = out[r * m + k];
    for (int q = 0; q < p; q++) {
      int idx = k + q * m;
      cpx acc = tp[0];
      for (int r = 1; r < p; r++) {
        cpx w = tw[(size_t) ((long) r * idx % n) * tw_step];
        acc.re += tp[r].re * w.re - tp[r].im * w.im;
        acc.im += tp[r].re * w.im + tp[r].im * w.re;
      }
      out[idx] = acc;
    }
  }
  if (tp != t)
    free (tp);
}

void
lmw_fft (double *re, double *im, int n)
{
  if (n < 1)
    return;
  cpx *in = malloc (sizeof (cpx) * (size_t) n * 3);
  if (in == NULL)
    return;
  cpx *out = in + n, *tw = in + 2 * n;
  for (int i = 0; i < n; i++) {
    in[i].re = re[i];
    in[i].im = im[i];
    tw[i].re = cos (2.0 * M_PI * i / n);
    tw[i].im = -sin (2.0 * M_PI * i / n);
  }
  fft_rec (out, in, n, 1, tw, 1);
  for (int i = 0; i < n; i++) {
    re[i] = out[i].re;
    im[i] = out[i].im;
  }
  free (in);
}

typedef struct {
  float *out;           /* (n_mels, out_stride): column 0 is frame out_f0; NULL: max only */
  int out_stride;
  int out_f0;
  const float *pcm;     /* samples pcm_base .. of the signal */
  size_t pcm_base;
  size_t n_samples;     /* real samples */
  size_t n_total;       /* with the zero padding */
  const float *filters; /* (n_mels, 201) */
  int n_mels;
  int f0, f1;           /* frames of this worker */
  const cpx *tw;
  const double *window;
  float max;            /* largest log value of this worker */
} mel_job;

static inline double
sample_at (const mel_job *j, long i)
{
  /* reflect padding of 200 around x = pcm + zeros */
  long n = (long) j->n_total;
  if (i < 0)
    i = -i;
  if (i >= n)
    i = 2 * (n - 1) - i;
  if (i < 0 || (size_t) i >= j->n_samples)
    return 0.0;
  return j->pcm[(size_t) i - j->pcm_base];
}

static void *
mel_worker (void *arg)
{
  mel_job *j = arg;
  const int nb = LMW_MEL_N_FFT / 2 + 1;
  cpx in[LMW_MEL_N_FFT], out[LMW_MEL_N_FFT];
  double power[LMW_MEL_N_FFT / 2 + 1];
  float max = -INFINITY;
  for (int t = j->f0; t < j->f1; t++) {
    long start = (long) t * LMW_MEL_HOP - LMW_MEL_N_FFT / 2;
    for (int i = 0; i < LMW_MEL_N_FFT; i++) {
      in[i].re = sample_at (j, start + i) * j->window[i];
      in[i].im = 0.0;
    }
    fft_rec (out, in, LMW_MEL_N_FFT, 1, j->tw, 1);
    for (int b = 0; b < nb; b++)
      power[b] = out[b].re * out[b].re + out[b].im * out[b].im;
    for (int m = 0; m < j->n_mels; m++) {
      const float *f = j->filters + (size_t) m * nb;
      double s = 0.0;
      for (int b = 0; b < nb; b++)
        s += f[b] * power[b];
      float v = (float) log10 (s > 1e-10 ? s : 1e-10);
      if (j->out != NULL)
        j->out[(size_t) m * j->out_stride + (t - j->out_f0)] = v;
      if (v > max)
        max = v;
    }
  }
  j->max = max;
  return NULL;
}

int
lmw_mel_frames (float *out, int out_stride, const float *pcm, size_t pcm_base, size_t n_samples,
                size_t n_pad, int f0, int f1, const float *filters, int n_mels, int n_threads,
                float *max_out)
{
  size_t n_total = n_samples + n_pad;
  int n = f1 - f0;
  if (n_threads < 1)
    n_threads = 1;
  if (n_threads > 64)
    n_threads = 64;
  cpx tw[LMW_MEL_N_FFT];
  double window[LMW_MEL_N_FFT];
  for (int i = 0; i < LMW_MEL_N_FFT; i++) {
    tw[i].re = cos (2.0 * M_PI * i / LMW_MEL_N_FFT);
    tw[i].im = -sin (2.0 * M_PI * i / LMW_MEL_N_FFT);
    window[i] = 0.5 * (1.0 - cos (2.0 * M_PI * i / LMW_MEL_N_FFT));
  }
  mel_job jobs[64];
  pthread_t threads[64];
  bool started[64] = { false };
  int per = n > 0 ? (n + n_threads - 1) / n_threads : 0;
  for (int i = 0; i < n_threads; i++) {
    int a = f0 + i * per, b = f0 + (i + 1) * per;
    jobs[i] = (mel_job) { out, out_stride, f0, pcm, pcm_base, n_samples, n_total, filters, n_mels,
                          a < f1 ? a : f1, b < f1 ? b : f1, tw, window, -INFINITY };
    if (i > 0)
      started[i] = pthread_create (&threads[i], NULL, mel_worker, &jobs[i]) == 0;
  }
  mel_worker (&jobs[0]);
  float max = jobs[0].max;
  for (int i = 1; i < n_threads; i++) {
    if (started[i])
      pthread_join (threads[i], NULL);
    else
      mel_worker (&jobs[i]);
    if (jobs[i].max > max)
      max = jobs[i].max;
  }
  *max_out = max;
  return 0;
}

void
lmw_mel_normalise (float *mel, size_t n, float max)
{
  float floor_v = max - 8.0f;
  for (size_t i = 0; i < n; i++) {
    float v = mel[i] > floor_v ? mel[i] : floor_v;
    mel[i] = (v + 4.0f) / 4.0f;
  }
}

int
lmw_mel_spectrogram (float *out, const float *pcm, size_t n_samples, size_t n_pad,
                     const float *filters, int n_mels, int n_threads)
{
  int n_frames = (int) ((n_samples + n_pad) / LMW_MEL_HOP);
  float max = -INFINITY;
  lmw_mel_frames (out, n_frames, pcm, 0, n_samples, n_pad, 0, n_frames, filters, n_mels,
                  n_threads, &max);
  lmw_mel_normalise (out, (size_t) n_mels * n_frames, max);
  return 0;
}
