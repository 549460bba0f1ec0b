/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-wav.h — minimal RIFF/WAVE reader and writer for tests (PCM s16 mono only),
 * so engine tests do not depend on the GStreamer decoder.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Reads a 16-bit PCM mono WAV into float samples in [-1, 1].  (transfer full) */
float *lmd_test_wav_read (const char *path, guint *sample_rate, gsize *n_samples, GError **error);
/* (transfer full) a complete 16-bit mono WAV file image of @samples */
GBytes *lmd_test_wav_encode (const float *samples, gsize n_samples, guint sample_rate);

G_END_DECLS
