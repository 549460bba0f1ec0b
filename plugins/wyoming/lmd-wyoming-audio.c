/* SPDX-License-Identifier: MIT */
#include "lmd-wyoming-audio.h"

#include <string.h>

#include "lmd-error.h"

#define WAV_HEADER_BYTES 44

struct _LmdWyomingAudio {
  LmdWyomingFormat format;
  guint64 max_bytes;
  double max_seconds;
  GByteArray *wav;   /* owned: a 44-byte header (filled in by to_wav) then the PCM */
};

gboolean
lmd_wyoming_format_equal (const LmdWyomingFormat *a, const LmdWyomingFormat *b)
{
  return a->rate == b->rate && a->width == b->width && a->channels == b->channels;
}

gboolean
lmd_wyoming_format_check (const LmdWyomingFormat *format, GError **error)
{
  if (format->rate < LMD_WYOMING_RATE_MIN || format->rate > LMD_WYOMING_RATE_MAX)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                   "rate" LMD_ERROR_PARAM_SEPARATOR "%u Hz is outside %u..%u", format->rate,
                   LMD_WYOMING_RATE_MIN, LMD_WYOMING_RATE_MAX);
      return FALSE;
    }
  if (format->width < 1 || format->width > 4)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                   "width" LMD_ERROR_PARAM_SEPARATOR "%u bytes per sample is not 1, 2, 3 or 4",
                   format->width);
      return FALSE;
    }
  if (format->channels < 1 || format->channels > LMD_WYOMING_CHANNELS_MAX)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                   "channels" LMD_ERROR_PARAM_SEPARATOR "%u channels is outside 1..%u",
                   format->channels, LMD_WYOMING_CHANNELS_MAX);
      return FALSE;
    }
  return TRUE;
}

LmdWyomingAudio *
lmd_wyoming_audio_new (const LmdWyomingFormat *format, guint64 max_bytes, double max_seconds)
{
  LmdWyomingAudio *self = g_new0 (LmdWyomingAudio, 1);
  static const guint8 zeros[WAV_HEADER_BYTES] = { 0 };

  self->format = *format;
  self->max_bytes = max_bytes;
  self->max_seconds = max_seconds;
  self->wav = g_byte_array_sized_new (64 * 1024);
  g_byte_array_append (self->wav, zeros, WAV_HEADER_BYTES);
  return self;
}

void
lmd_wyoming_audio_free (LmdWyomingAudio *self)
{
  if (self == NULL)
    return;
  g_byte_array_unref (self->wav);
  g_free (self);
}

const LmdWyomingFormat *
lmd_wyoming_audio_get_format (LmdWyomingAudio *self)
{
  return &self->format;
}

static guint
frame_bytes (LmdWyomingAudio *self)
{
  return self->format.width * self->format.channels;
}

guint64
lmd_wyoming_audio_get_frames (LmdWyomingAudio *self)
{
  return (self->wav->len - WAV_HEADER_BYTES) / frame_bytes (self);
}

double
lmd_wyoming_audio_get_seconds (LmdWyomingAudio *self)
{
  return (double) lmd_wyoming_audio_get_frames (self) / self->format.rate;
}

gboolean
lmd_wyoming_audio_append (LmdWyomingAudio *self, const guint8 *data, gsize len, GError **error)
{
  guint64 bytes = self->wav->len - WAV_HEADER_BYTES + (guint64) len;
  double seconds = (double) (bytes / frame_bytes (self)) / self->format.rate;

  if (bytes > self->max_bytes || bytes > G_MAXUINT32 - WAV_HEADER_BYTES)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is larger than the limit of %" G_GUINT64_FORMAT " MB",
                   self->max_bytes / (1024 * 1024));
      return FALSE;
    }
  if (seconds > self->max_seconds)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is longer than the limit of %.0f s", self->max_seconds);
      return FALSE;
    }
  g_byte_array_append (self->wav, data, (guint) len);
  return TRUE;
}

static void
put_u32 (guint8 *p, guint32 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

static void
put_u16 (guint8 *p, guint16 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
}

GBytes *
lmd_wyoming_audio_to_wav (LmdWyomingAudio *self)
{
  guint32 data_bytes = (guint32) (lmd_wyoming_audio_get_frames (self) * frame_bytes (self));
  GByteArray *wav = self->wav;
  guint8 *h;

  g_byte_array_set_size (wav, WAV_HEADER_BYTES + data_bytes); /* whole frames only */
  h = wav->data;
  memcpy (h, "RIFF", 4);
  put_u32 (h + 4, 36 + data_bytes);
  memcpy (h + 8, "WAVEfmt ", 8);
  put_u32 (h + 16, 16);
  put_u16 (h + 20, 1); /* PCM */
  put_u16 (h + 22, (guint16) self->format.channels);
  put_u32 (h + 24, self->format.rate);
  put_u32 (h + 28, self->format.rate * frame_bytes (self));
  put_u16 (h + 32, (guint16) frame_bytes (self));
  put_u16 (h + 34, (guint16) (self->format.width * 8));
  memcpy (h + 36, "data", 4);
  put_u32 (h + 40, data_bytes);
  /* 8-bit WAV is unsigned; the protocol's 8-bit samples are signed */
  if (self->format.width == 1)
    for (guint32 i = 0; i < data_bytes; i++)
      h[WAV_HEADER_BYTES + i] ^= 0x80;
  self->wav = g_byte_array_new ();
  g_byte_array_append (self->wav, h, WAV_HEADER_BYTES); /* the object stays usable (empty) */
  return g_byte_array_free_to_bytes (wav);
}
