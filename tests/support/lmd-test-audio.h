/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-audio.h — the test recordings: finds and reads the LibriVox recordings of
 * pocketsphinx-testdata, and re-encodes recordings with real GStreamer encoders at test time.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Encodes the WAV file at @wav_path to @format, one of "wav", "flac", "mp3", "vorbis" (Ogg),
 * "opus" (Ogg), "m4a" (AAC in MP4), "webm" (Opus in WebM).  (transfer full) the encoded file
 * image, or NULL with @error set (G_IO_ERROR_NOT_SUPPORTED when an encoder is missing). */
GBytes *lmd_test_audio_encode (const char *wav_path, const char *format, GError **error);

/* The LibriVox recordings of pocketsphinx-testdata: directory, or NULL when not installed. */
const char *lmd_test_librivox_dir (void);

/* The sample rate of every LibriVox recording of pocketsphinx-testdata. */
#define LMD_TEST_LIBRIVOX_RATE 16000

/* Reads the LibriVox recording @name (its file name without ".wav", e.g.
 * "sense_and_sensibility_01_austen_64kb-0870") into float samples at LMD_TEST_LIBRIVOX_RATE;
 * fails the test when it cannot be read.  (transfer full) the samples and their count in
 * *@n_samples, or NULL when pocketsphinx-testdata is not installed. */
float *lmd_test_librivox_read (const char *name, gsize *n_samples);

/* The names of the LibriVox recordings (file names without ".wav"), in the order of the
 * testdata's fileids file.  (transfer full) a NULL-terminated list, or NULL when
 * pocketsphinx-testdata is not installed; fails the test when the list cannot be read. */
GStrv lmd_test_librivox_ids (void);

/* The paths of the LibriVox recordings' WAV files, sorted by name.  (transfer full) an array
 * that frees its strings, or NULL when pocketsphinx-testdata is not installed. */
GPtrArray *lmd_test_librivox_paths (void);

/* The WAV file of the LibriVox recording @name as it is on disk.  (transfer full) or NULL when
 * pocketsphinx-testdata is not installed; fails the test when it cannot be read. */
GBytes *lmd_test_librivox_file (const char *name);

G_END_DECLS
