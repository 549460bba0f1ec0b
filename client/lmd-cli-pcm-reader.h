/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-pcm-reader.h — the audio of lightning-transcribe --stream: a WAV file or raw PCM,
 * read incrementally (standard input may be a live recorder that never ends).
 *
 * Input that starts with "RIFF....WAVE" is a WAV: its fmt chunk gives rate, channels and
 * sample format (16-bit integer or 32-bit float PCM), and the samples of its data chunk are
 * passed on (a data size of 0 or 0xFFFFFFFF, as recorders writing to a pipe put there, means
 * "until the end").  Anything else is raw s16le mono PCM at the rate given.  Several
 * channels are mixed down to one, since the streaming API takes mono audio.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LmdCliPcmReader LmdCliPcmReader;

/* (transfer full) a reader; @raw_sample_rate is the rate of raw (non-WAV) input. */
LmdCliPcmReader *lmd_cli_pcm_reader_new (guint raw_sample_rate);
void lmd_cli_pcm_reader_free (LmdCliPcmReader *self);

/* Reads @len more bytes; appends the mono samples now complete to @out (in the encoding of
 * lmd_cli_pcm_reader_get_encoding()).  FALSE with @error for a WAV this client cannot send
 * (another sample format, a rate the API does not take). */
gboolean lmd_cli_pcm_reader_push (LmdCliPcmReader *self, const guint8 *data, gsize len,
                                  GByteArray *out, GError **error);
/* End of input.  FALSE with @error when it ended inside a WAV header. */
gboolean lmd_cli_pcm_reader_finish (LmdCliPcmReader *self, GByteArray *out, GError **error);

/* Whether the format is known yet (a WAV header read, or input that is not a WAV). */
gboolean lmd_cli_pcm_reader_has_format (LmdCliPcmReader *self);
guint lmd_cli_pcm_reader_get_sample_rate (LmdCliPcmReader *self);
/* (transfer none) "linear16" or "linear32": the API's name of the output's encoding. */
const char *lmd_cli_pcm_reader_get_encoding (LmdCliPcmReader *self);
/* Bytes of output per second of audio. */
guint lmd_cli_pcm_reader_get_bytes_per_second (LmdCliPcmReader *self);
/* Bytes of output the input holds in all when it says so (a WAV's data size), else 0. */
guint64 lmd_cli_pcm_reader_get_expected_bytes (LmdCliPcmReader *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdCliPcmReader, lmd_cli_pcm_reader_free)

G_END_DECLS
