/* SPDX-License-Identifier: MIT */
/*
 * lmd-pcm-converter.h — raw audio of a live stream to mono float samples at the engine's rate.
 *
 * Decodes linear16 (s16le), linear32 (f32le), mulaw and alaw (G.711) and resamples with a
 * windowed-sinc filter, in place and incrementally: bytes arrive in frames of any size (a
 * sample split across two frames is kept until its other half arrives), and the output is
 * aligned on the input (no delay: output sample n is input time n / out_rate).  One
 * GStreamer pipeline per stream would cost a thread and several copies per frame for the
 * same work; bench-stream-latency measures this converter.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  LMD_PCM_LINEAR16,
  LMD_PCM_LINEAR32,
  LMD_PCM_MULAW,
  LMD_PCM_ALAW,
} LmdPcmEncoding;

/* "linear16", "linear32", "mulaw", "alaw" → @out; FALSE for anything else. */
gboolean lmd_pcm_encoding_from_string (const char *name, LmdPcmEncoding *out);
/* Bytes per sample of @encoding. */
guint lmd_pcm_encoding_sample_bytes (LmdPcmEncoding encoding);

typedef struct _LmdPcmConverter LmdPcmConverter;

LmdPcmConverter *lmd_pcm_converter_new (LmdPcmEncoding encoding, guint in_rate, guint out_rate);
void lmd_pcm_converter_free (LmdPcmConverter *self);

/* Converts @len bytes and appends the samples now complete to @out (element-type float). */
void lmd_pcm_converter_push (LmdPcmConverter *self, const guint8 *data, gsize len, GArray *out);
/* End of input: appends the samples still held back by the filter's look-ahead. */
void lmd_pcm_converter_drain (LmdPcmConverter *self, GArray *out);
/* Input samples seen so far (at the input rate). */
guint64 lmd_pcm_converter_get_input_samples (LmdPcmConverter *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdPcmConverter, lmd_pcm_converter_free)

G_END_DECLS
