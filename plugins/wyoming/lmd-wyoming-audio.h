/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-audio.h — the audio of one Wyoming utterance (audio-start, audio-chunks,
 * audio-stop): raw PCM in the client's format, collected within the server's limits and
 * handed to the router as a RIFF/WAVE file, so it goes through the same decoder (resampling,
 * down-mixing) as a file posted to /v1/listen.
 *
 * Formats accepted: rate 8000..96000 Hz, width 1 (signed 8-bit, as the protocol's reference
 * code writes it), 2, 3 or 4 bytes (signed little-endian integers), 1..8 channels.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint rate;      /* Hz */
  guint width;     /* bytes per sample */
  guint channels;
} LmdWyomingFormat;

#define LMD_WYOMING_RATE_MIN 8000
#define LMD_WYOMING_RATE_MAX 96000
#define LMD_WYOMING_CHANNELS_MAX 8

/* Whether @a and @b are the same format. */
gboolean lmd_wyoming_format_equal (const LmdWyomingFormat *a, const LmdWyomingFormat *b);
/* FALSE with @error (LMD_ERROR_UNSUPPORTED_FORMAT, "rate: ..." etc.) when out of range. */
gboolean lmd_wyoming_format_check (const LmdWyomingFormat *format, GError **error);

typedef struct _LmdWyomingAudio LmdWyomingAudio;

/* @format must have passed lmd_wyoming_format_check(); at most @max_bytes of PCM and
 * @max_seconds of audio are accepted. */
LmdWyomingAudio *lmd_wyoming_audio_new (const LmdWyomingFormat *format, guint64 max_bytes,
                                        double max_seconds);
void lmd_wyoming_audio_free (LmdWyomingAudio *self);

const LmdWyomingFormat *lmd_wyoming_audio_get_format (LmdWyomingAudio *self);
/* Appends @len bytes; FALSE with @error (LMD_ERROR_FILE_TOO_LARGE) past the limits. */
gboolean lmd_wyoming_audio_append (LmdWyomingAudio *self, const guint8 *data, gsize len,
                                   GError **error);
/* Seconds of audio collected (whole frames). */
double lmd_wyoming_audio_get_seconds (LmdWyomingAudio *self);
guint64 lmd_wyoming_audio_get_frames (LmdWyomingAudio *self);
/* (transfer full) the whole frames collected as a RIFF/WAVE file image. */
GBytes *lmd_wyoming_audio_to_wav (LmdWyomingAudio *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdWyomingAudio, lmd_wyoming_audio_free)

G_END_DECLS
