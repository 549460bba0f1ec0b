/* SPDX-License-Identifier: MIT */
/*
 * lmd-audio-decoder.h — interface: encoded bytes (any container) → mono float PCM.
 *
 * decode() runs in a worker thread, never on the main loop.  It delivers the PCM in chunks,
 * in order, through @func, so a long recording is never held in memory as float samples:
 * the caller feeds each chunk to an engine session.  Samples are in [-1, 1].
 *
 * Errors (LMD_ERROR): UNSUPPORTED_FORMAT when no decoder recognises the bytes,
 * UNPROCESSABLE_AUDIO when a recognised container fails to decode or has no audio stream,
 * MISSING_PARAMETER for empty input.  An error returned by @func stops decoding and is
 * propagated unchanged.  A cancelled @cancellable stops decoding with G_IO_ERROR_CANCELLED.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Receives @n_samples samples at the rate given to decode().  Returns FALSE with @error set
 * to stop decoding. */
typedef gboolean (*LmdPcmFunc) (const float *samples, gsize n_samples, gpointer user_data,
                                GError **error);

#define LMD_TYPE_AUDIO_DECODER (lmd_audio_decoder_get_type ())
G_DECLARE_INTERFACE (LmdAudioDecoder, lmd_audio_decoder, LMD, AUDIO_DECODER, GObject)

struct _LmdAudioDecoderInterface {
  GTypeInterface parent_iface;

  /* Reads the plugin's config group; called once before any decode(). Optional. */
  gboolean (*setup) (LmdAudioDecoder *self, GKeyFile *config, GError **error);

  /* Decodes @input, resampled to @sample_rate mono; thread-safe (many calls at once). */
  gboolean (*decode) (LmdAudioDecoder *self, GBytes *input, guint sample_rate, LmdPcmFunc func,
                      gpointer user_data, GCancellable *cancellable, GError **error);

  /* (transfer none) names of the formats this decoder handles, e.g. "wav", "flac". Optional. */
  const char *const *(*get_supported_formats) (LmdAudioDecoder *self);
};

gboolean lmd_audio_decoder_setup (LmdAudioDecoder *self, GKeyFile *config, GError **error);
gboolean lmd_audio_decoder_decode (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                                   LmdPcmFunc func, gpointer user_data, GCancellable *cancellable,
                                   GError **error);
const char *const *lmd_audio_decoder_get_supported_formats (LmdAudioDecoder *self);

G_END_DECLS
