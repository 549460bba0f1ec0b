/* SPDX-License-Identifier: MIT */
/*
 * lmd-audio-stream.h — interface: a container (WebM/Opus, Ogg/Opus, WAV, …) decoded while
 * it arrives, in pieces, into mono float PCM.  Opened by lmd_audio_decoder_open_stream().
 *
 * push() and finish() are called on the caller's thread and never block on decoding.  The
 * PCM (at the rate given to open_stream, samples in [-1, 1]) and the end are delivered on the
 * decoder's own streaming thread through the callbacks given to open_stream: @pcm for each
 * decoded piece, in order, then @done exactly once — with NULL after finish() once everything
 * pushed is decoded, or with an error (LMD_ERROR UNSUPPORTED_FORMAT or UNPROCESSABLE_AUDIO)
 * when the bytes cannot be decoded.  The caller marshals them to its own context.  Once the
 * last reference is dropped no callback runs any more (the streaming thread is joined).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A decoded piece: @n_samples mono float samples (borrowed for the call). */
typedef void (*LmdAudioStreamPcmFunc) (const float *samples, gsize n_samples, gpointer user_data);
/* The end: @error NULL after finish() and a complete decode, else why it stopped. */
typedef void (*LmdAudioStreamDoneFunc) (const GError *error, gpointer user_data);

#define LMD_TYPE_AUDIO_STREAM (lmd_audio_stream_get_type ())
G_DECLARE_INTERFACE (LmdAudioStream, lmd_audio_stream, LMD, AUDIO_STREAM, GObject)

struct _LmdAudioStreamInterface {
  GTypeInterface parent_iface;

  /* Queues @bytes (a reference is taken), the next piece of the container. */
  void (*push) (LmdAudioStream *self, GBytes *bytes);
  /* No more bytes: decode what is queued, then done(NULL). */
  void (*finish) (LmdAudioStream *self);
};

void lmd_audio_stream_push (LmdAudioStream *self, GBytes *bytes);
void lmd_audio_stream_finish (LmdAudioStream *self);

G_END_DECLS
