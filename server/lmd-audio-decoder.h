/* SPDX-License-Identifier: MIT */
/*
 * lmd-audio-decoder.h — interface: encoded bytes (any container) → mono float PCM.
 *
 * decode() runs in a worker thread, never on the main loop.  It delivers the PCM in chunks,
 * in order, through @func, so a long recording is never held in memory as float samples:
 * the caller feeds each chunk to an engine session.  Samples are in [-1, 1].
 *
 * @max_seconds (0: no limit) bounds the audio a decode may deliver, measured at the input's
 * own rate before any resampling: an input whose container declares a longer duration is
 * refused before anything is decoded, and one that turns out longer while decoding is
 * stopped at the limit.  Either way nothing is resampled beyond it.
 *
 * Errors (LMD_ERROR): UNSUPPORTED_FORMAT when no decoder recognises the bytes,
 * UNPROCESSABLE_AUDIO when a recognised container fails to decode, has no audio stream or
 * declares a sample rate outside LMD_AUDIO_DECODER_MIN_RATE..LMD_AUDIO_DECODER_MAX_RATE,
 * FILE_TOO_LARGE when the audio is longer than @max_seconds, MISSING_PARAMETER for empty
 * input.  An error returned by @func stops decoding and is
 * propagated unchanged.  A cancelled @cancellable stops decoding with G_IO_ERROR_CANCELLED.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-audio-stream.h"

G_BEGIN_DECLS

/* Receives @n_samples samples at the rate given to decode().  Returns FALSE with @error set
 * to stop decoding. */
/* The sample rates an input may declare: below, a header is corrupt or hostile (a 1 Hz WAV
 * would be resampled 16,000-fold); above, no recording format goes. */
#define LMD_AUDIO_DECODER_MIN_RATE 4000
#define LMD_AUDIO_DECODER_MAX_RATE 192000

typedef gboolean (*LmdPcmFunc) (const float *samples, gsize n_samples, gpointer user_data,
                                GError **error);

/* The most channels decode_channels() keeps apart; an input with more is UNPROCESSABLE_AUDIO
 * there (each channel is one engine session). */
#define LMD_AUDIO_DECODER_MAX_CHANNELS 8

/* Receives @n_frames frames of @n_channels interleaved samples (the input's channel order;
 * @n_channels is the same for every call of one decode). */
typedef gboolean (*LmdChannelsPcmFunc) (const float *interleaved, guint n_channels, gsize n_frames,
                                        gpointer user_data, GError **error);

#define LMD_TYPE_AUDIO_DECODER (lmd_audio_decoder_get_type ())
G_DECLARE_INTERFACE (LmdAudioDecoder, lmd_audio_decoder, LMD, AUDIO_DECODER, GObject)

struct _LmdAudioDecoderInterface {
  GTypeInterface parent_iface;

  /* Reads the plugin's config group; called once before any decode(). Optional. */
  gboolean (*setup) (LmdAudioDecoder *self, GKeyFile *config, GError **error);

  /* Decodes @input, resampled to @sample_rate mono, at most @max_seconds of it (0: no
   * limit); thread-safe (many calls at once). */
  gboolean (*decode) (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                      double max_seconds, LmdPcmFunc func, gpointer user_data,
                      GCancellable *cancellable, GError **error);

  /* (transfer none) names of the formats this decoder handles, e.g. "wav", "flac". Optional. */
  const char *const *(*get_supported_formats) (LmdAudioDecoder *self);

  /* (transfer full) Decoding of a container that arrives in pieces (lmd-audio-stream.h), at
   * @sample_rate mono; @user_data is borrowed until the stream is dropped.  Optional. */
  LmdAudioStream *(*open_stream) (LmdAudioDecoder *self, guint sample_rate,
                                  LmdAudioStreamPcmFunc pcm, LmdAudioStreamDoneFunc done,
                                  gpointer user_data, GError **error);

  /* (optional) decode(), keeping the input's channels apart instead of mixing them to mono
   * (at most LMD_AUDIO_DECODER_MAX_CHANNELS). */
  gboolean (*decode_channels) (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                               double max_seconds, LmdChannelsPcmFunc func, gpointer user_data,
                               GCancellable *cancellable, GError **error);
};

gboolean lmd_audio_decoder_setup (LmdAudioDecoder *self, GKeyFile *config, GError **error);
gboolean lmd_audio_decoder_decode (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                                   double max_seconds, LmdPcmFunc func, gpointer user_data, GCancellable *cancellable,
                                   GError **error);
/* Whether the decoder keeps channels apart (decode_channels). */
gboolean lmd_audio_decoder_can_decode_channels (LmdAudioDecoder *self);
/* FALSE with G_IO_ERROR_NOT_SUPPORTED when the decoder has no decode_channels. */
gboolean lmd_audio_decoder_decode_channels (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                                            double max_seconds, LmdChannelsPcmFunc func,
                                            gpointer user_data, GCancellable *cancellable,
                                            GError **error);
const char *const *lmd_audio_decoder_get_supported_formats (LmdAudioDecoder *self);
/* (transfer full) (nullable) NULL with G_IO_ERROR_NOT_SUPPORTED when the decoder has no
 * open_stream, or its error. */
LmdAudioStream *lmd_audio_decoder_open_stream (LmdAudioDecoder *self, guint sample_rate,
                                               LmdAudioStreamPcmFunc pcm, LmdAudioStreamDoneFunc done,
                                               gpointer user_data, GError **error);

G_END_DECLS
