/* SPDX-License-Identifier: MIT */
/*
 * lmw-mel.h — the log-mel front end (internal helpers; the entry point is lmw_mel_compute in
 * lmw-context.h).
 */
#ifndef LMW_MEL_H
#define LMW_MEL_H

#include <stddef.h>

/* out (n_mels, n_frames) = normalised log-mel of pcm padded with n_pad zeros, using the
 * filterbank (n_mels, 201); n_frames = (n_samples + n_pad) / 160.  Returns 0, or -1 when out
 * of memory. */
int lmw_mel_spectrogram (float *out, const float *pcm, size_t n_samples, size_t n_pad,
                         const float *filters, int n_mels, int n_threads);

/* In-place complex FFT of length n (a product of 2, 3, 5 and at most one other prime), for
 * tests. re/im are n doubles each. */
void lmw_fft (double *re, double *im, int n);

#endif /* LMW_MEL_H */
