/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-mel.h — whisper's log-mel front end on the GPU, seen from the host: PCM samples in
 * device memory go in, log-mel frames come out, so that the CUDA backend receives only audio.
 *
 * The reference is the CPU's (backends/cpu/lmw-mel.c, lmw_mel_frames and lmw_mel_normalise):
 *
 *   x      = n_samples real samples followed by zeros up to n_total samples
 *   frame t = the 400 samples x[t * 160 - 200 ..), x reflect-padded by 200 at both ends
 *             (torch.stft center=True), times a periodic Hann window of 400
 *   power  = |DFT|^2, 201 bins
 *   mel    = filters (n_mels, 201) · power
 *   raw    = log10 (max (mel, 1e-10))
 *   value  = (max (raw, max_raw - 8) + 4) / 4, max_raw the largest raw value of the whole signal
 *
 * computed here in double precision, as the reference computes, with a two-stage (20 x 20)
 * DFT in shared memory, 4 frames per block at a time, then each thread one mel band of those
 * frames (a few hundred thousand double operations per frame group: a datacenter GPU's FP64
 * rate makes that a small fraction of a millisecond per 30 s window).
 * The signal's maximum needs every frame, so a whole spectrogram takes two launches: one with
 * out NULL that raises *max over all frames, then one per window that writes normalised values.
 *
 * Conventions as in lmw-cuda-kernels.h: outputs first, (device) pointers, a stream argument
 * (ignored under emulation), a status; the launcher never waits, allocates or exits.
 */
#ifndef LMW_CUDA_MEL_H
#define LMW_CUDA_MEL_H

#include "lmw-cuda-kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mel bands the kernel takes (whisper has 80 or 128). */
#define LMW_CUDA_MEL_MAX_BANDS 256

/* Frames [f0, f1) of the signal described above.
 *   pcm (n_pcm) (device): x[pcm_base .. pcm_base + n_pcm); it must hold every real sample the
 *     frames read, [f0 * 160 - 200, f1 * 160 + 200) within [0, n_samples) (a sample outside
 *     it reads as 0);
 *   filters (n_mels, 201) (device);
 *   max (device, one float): when out is NULL, raised to the largest raw value of the frames
 *     (nothing else written; set it to -INFINITY before the first frames of a signal); else
 *     read, and out (n_mels, ldo) (device) gets in column t - f0 the normalised value of frame
 *     t, and 0 in columns f1 - f0 .. ldo - 1 (a window's tail beyond the signal).
 * 1 <= n_mels <= LMW_CUDA_MEL_MAX_BANDS, 0 <= f0 <= f1, ldo >= f1 - f0, n_samples <= n_total. */
lmw_cuda_status lmw_cuda_log_mel (float *out, int ldo, float *max, const float *pcm,
                                  size_t pcm_base, size_t n_pcm, size_t n_samples,
                                  size_t n_total, const float *filters, int n_mels, int f0,
                                  int f1, void *stream);

/* Text of this file's last launcher failure on this thread, "" if none. */
const char *lmw_cuda_mel_last_error (void);

#ifdef __cplusplus
}
#endif

#endif /* LMW_CUDA_MEL_H */
