/* SPDX-License-Identifier: MIT */
/*
 * lmw-mel.h — the log-mel front end, the reference of every backend's log_mel operation
 * (the engine's entry point is lmw_mel_compute in lmw-context.h).
 */
#ifndef LMW_MEL_H
#define LMW_MEL_H

#include <stddef.h>

#define LMW_MEL_N_FFT 400 /* samples per frame (25 ms at 16 kHz) */
#define LMW_MEL_HOP 160   /* samples between frames (10 ms) */

/* out (n_mels, n_frames) = normalised log-mel of pcm padded with n_pad zeros, using the
 * filterbank (n_mels, 201); n_frames = (n_samples + n_pad) / 160.  Returns 0, or -1 when out
 * of memory. */
int lmw_mel_spectrogram (float *out, const float *pcm, size_t n_samples, size_t n_pad,
                         const float *filters, int n_mels, int n_threads);

/* out (n_mels, out_stride), columns 0 .. f1 - f0: the log10 mel of frames [f0, f1) of the signal
 * of n_samples real samples followed by n_pad zeros, before normalisation; *max gets their
 * largest value.  pcm holds the samples from index pcm_base on: at least every real sample the
 * frames read, [f0 * 160 - 200, f1 * 160 + 200) clipped to [0, n_samples) (frame 0 reads
 * samples 1 .. 200 reflected).  The values are those lmw_mel_spectrogram computes for the
 * same frames.  out NULL: only *max.  Returns 0. */
int lmw_mel_frames (float *out, int out_stride, const float *pcm, size_t pcm_base,
                    size_t n_samples, size_t n_pad, int f0, int f1, const float *filters,
                    int n_mels, int n_threads, float *max);

/* Normalises n raw values in place as the reference does with max, the largest raw value of
 * the whole signal: (max (v, max - 8) + 4) / 4. */
void lmw_mel_normalise (float *mel, size_t n, float max);

/* In-place complex FFT of length n (a product of 2, 3, 5 and at most one other prime), for
 * tests. re/im are n doubles each. */
void lmw_fft (double *re, double *im, int n);

#endif /* LMW_MEL_H */
