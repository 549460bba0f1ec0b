/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-wav.h — minimal RIFF/WAVE reader and writer for tests (PCM s16 mono; and the
 * IEEE float stereo 96 kHz form the request-body tests send), so engine tests do not depend on
 * the GStreamer decoder.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Reads a 16-bit PCM mono WAV into float samples in [-1, 1].  (transfer full) */
float *lmd_test_wav_read (const char *path, guint *sample_rate, gsize *n_samples, GError **error);
/* (transfer full) a complete 16-bit mono WAV file image of @samples */
GBytes *lmd_test_wav_encode (const float *samples, gsize n_samples, guint sample_rate);

/* The sample rate of lmd_test_wav_encode_wide's files: six times LMD_TEST_LIBRIVOX_RATE. */
#define LMD_TEST_WAV_WIDE_RATE 96000
/* (transfer full) a WAV file image of IEEE float stereo at LMD_TEST_WAV_WIDE_RATE: each of
 * @samples (16 kHz mono) held for six output frames.  @file_size 0 makes the file just long
 * enough; otherwise the file is @file_size bytes, the samples (as many as fit) then silence. */
GBytes *lmd_test_wav_encode_wide (const float *samples, gsize n_samples, gsize file_size);

G_END_DECLS
