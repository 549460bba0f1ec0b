/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-audio.h — re-encodes test recordings with real GStreamer encoders at test time.
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

G_END_DECLS
