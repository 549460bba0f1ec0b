/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-noise.h — the silence and noise that the voice-activity tests and benchmarks feed.
 * Plain C (no GLib), so that the benchmarks of bench/ use it too.
 */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fills @x (3 × @part samples) with @part samples of digital silence, @part of white noise
 * and @part of pink noise (Paul Kellet's filter), both at RMS 0.1.  Deterministic: the same
 * samples on every call. */
void lmd_test_noise_silence_white_pink (float *x, size_t part);

#ifdef __cplusplus
}
#endif
