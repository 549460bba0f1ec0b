/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-pcm-reader.c — WAV or raw PCM to mono frames for the streaming API (see the header).
 */
#include "lmd-cli-pcm-reader.h"

#include <string.h>

/* The rates the streaming API accepts (docs/api.md, sample_rate). */
static const guint accepted_rates[] = { 8000, 16000, 22050, 24000, 44100, 48000 };

/* A header longer than this is not a WAV header this client reads. */
#define MAX_HEADER_BYTES (1024 * 1024)

typedef enum {
  READ_SNIFF,  /* fewer than 12 bytes seen: WAV or raw is not known yet */
  READ_CHUNKS, /* inside a WAV's chunks, before "data" */
  READ_SAMPLES,
} ReadState;

struct _LmdCliPcmReader {
  ReadState state;
  GByteArray *pending;   /* owned; bytes not consumed yet (header, or a partial frame) */
  guint sample_rate;
  guint channels;
  guint sample_bytes;    /* 2 (s16le) or 4 (f32le) */
  gboolean have_fmt;
  guint64 data_left;     /* bytes of the data chunk still to come; G_MAXUINT64: until the end */
  guint64 expected_out;  /* output bytes of the whole data chunk, or 0 when unknown */
};

LmdCliPcmReader *
lmd_cli_pcm_reader_new (guint raw_sample_rate)
{
  LmdCliPcmReader *self = g_new0 (LmdCliPcmReader, 1);

  self->pending = g_byte_array_new ();
  self->sample_rate = raw_sample_rate;
  self->channels = 1;
  self->sample_bytes = 2;
  self->data_left = G_MAXUINT64;
  return self;
}

void
lmd_cli_pcm_reader_free (LmdCliPcmReader *self)
{
  if (self == NULL)
    return;
  g_byte_array_unref (self->pending);
  g_free (self);
}

static guint32
read_le32 (const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
}

static guint16
read_le16 (const guint8 *p)
{
  return (guint16) (p[0] | p[1] << 8);
}

static gboolean
rate_is_accepted (guint rate)
{
  for (guint i = 0; i < G_N_ELEMENTS (accepted_rates); i++)
    if (accepted_rates[i] == rate)
      return TRUE;
  return FALSE;
}

static gboolean
parse_fmt (LmdCliPcmReader *self, const guint8 *fmt, guint32 size, GError **error)
{
  guint16 format, channels, bits;
  guint32 rate;

  if (size < 16)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the WAV's fmt chunk is too short");
      return FALSE;
    }
  format = read_le16 (fmt);
  channels = read_le16 (fmt + 2);
  rate = read_le32 (fmt + 4);
  bits = read_le16 (fmt + 14);
  if (format == 0xFFFE && size >= 26) /* WAVE_FORMAT_EXTENSIBLE: the sub-format's first two bytes */
    format = read_le16 (fmt + 24);
  if (!((format == 1 && bits == 16) || (format == 3 && bits == 32)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "the WAV holds %u-bit samples of format %u; --stream sends 16-bit integer or "
                   "32-bit float PCM (convert it, or transcribe it without --stream)",
                   bits, format);
      return FALSE;
    }
  if (channels < 1 || channels > 16)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the WAV has %u channels", channels);
      return FALSE;
    }
  if (!rate_is_accepted (rate))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "the WAV's sample rate %u Hz is not one the streaming API takes "
                   "(8000, 16000, 22050, 24000, 44100, 48000)", rate);
      return FALSE;
    }
  self->sample_rate = rate;
  self->channels = channels;
  self->sample_bytes = bits / 8;
  self->have_fmt = TRUE;
  return TRUE;
}

/* Consumes the chunks before "data"; returns FALSE on a bad header. */
static gboolean
parse_chunks (LmdCliPcmReader *self, GError **error)
{
  gsize offset = 0;

  while (self->pending->len - offset >= 8)
    {
      const guint8 *chunk = self->pending->data + offset;
      guint32 size = read_le32 (chunk + 4);

      if (memcmp (chunk, "data", 4) == 0)
        {
          if (!self->have_fmt)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "the WAV has no fmt chunk before its data");
              return FALSE;
            }
          if (size != 0 && size != G_MAXUINT32)
            {
              self->data_left = size;
              self->expected_out = size / self->channels;
            }
          g_byte_array_remove_range (self->pending, 0, offset + 8);
          self->state = READ_SAMPLES;
          return TRUE;
        }
      if (size > MAX_HEADER_BYTES)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "the WAV has a chunk of %u bytes before its data", size);
          return FALSE;
        }
      if (self->pending->len - offset < 8 + (gsize) size + (size & 1))
        break;
      if (memcmp (chunk, "fmt ", 4) == 0 && !parse_fmt (self, chunk + 8, size, error))
        return FALSE;
      offset += 8 + size + (size & 1);
    }
  g_byte_array_remove_range (self->pending, 0, offset);
  if (self->pending->len > MAX_HEADER_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the WAV header is too long");
      return FALSE;
    }
  return TRUE;
}

/* Moves the whole frames of pending to @out, mixed down to mono. */
static void
emit_frames (LmdCliPcmReader *self, GByteArray *out)
{
  guint frame = self->channels * self->sample_bytes;
  gsize usable = self->pending->len;
  gsize frames;

  if ((guint64) usable > self->data_left)
    usable = (gsize) self->data_left;
  frames = usable / frame;
  if (frames == 0)
    return;
  if (self->channels == 1)
    g_byte_array_append (out, self->pending->data, frames * frame);
  else
    for (gsize f = 0; f < frames; f++)
      {
        const guint8 *p = self->pending->data + f * frame;
        if (self->sample_bytes == 2)
          {
            gint32 sum = 0;
            gint16 mono;
            for (guint c = 0; c < self->channels; c++)
              sum += (gint16) read_le16 (p + 2 * c);
            mono = (gint16) (sum / (gint32) self->channels);
            guint8 le[2] = { (guint8) (mono & 0xff), (guint8) ((guint16) mono >> 8) };
            g_byte_array_append (out, le, 2);
          }
        else
          {
            float sum = 0, mono;
            for (guint c = 0; c < self->channels; c++)
              {
                float v;
                memcpy (&v, p + 4 * c, 4);
                sum += v;
              }
            mono = sum / self->channels;
            g_byte_array_append (out, (const guint8 *) &mono, 4);
          }
      }
  if (self->data_left != G_MAXUINT64)
    self->data_left -= frames * frame;
  g_byte_array_remove_range (self->pending, 0, frames * frame);
}

gboolean
lmd_cli_pcm_reader_push (LmdCliPcmReader *self, const guint8 *data, gsize len, GByteArray *out,
                         GError **error)
{
  g_byte_array_append (self->pending, data, len);
  if (self->state == READ_SNIFF)
    {
      if (self->pending->len < 12)
        return TRUE;
      if (memcmp (self->pending->data, "RIFF", 4) == 0 && memcmp (self->pending->data + 8, "WAVE", 4) == 0)
        {
          g_byte_array_remove_range (self->pending, 0, 12);
          self->state = READ_CHUNKS;
        }
      else
        self->state = READ_SAMPLES; /* raw s16le mono */
    }
  if (self->state == READ_CHUNKS && !parse_chunks (self, error))
    return FALSE;
  if (self->state == READ_SAMPLES)
    emit_frames (self, out);
  return TRUE;
}

gboolean
lmd_cli_pcm_reader_finish (LmdCliPcmReader *self, GByteArray *out, GError **error)
{
  if (self->state == READ_CHUNKS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the input ended inside its WAV header");
      return FALSE;
    }
  self->state = READ_SAMPLES; /* fewer than 12 bytes: raw */
  emit_frames (self, out);
  return TRUE;
}

gboolean
lmd_cli_pcm_reader_has_format (LmdCliPcmReader *self)
{
  return self->state == READ_SAMPLES;
}

guint
lmd_cli_pcm_reader_get_sample_rate (LmdCliPcmReader *self)
{
  return self->sample_rate;
}

const char *
lmd_cli_pcm_reader_get_encoding (LmdCliPcmReader *self)
{
  return self->sample_bytes == 4 ? "linear32" : "linear16";
}

guint
lmd_cli_pcm_reader_get_bytes_per_second (LmdCliPcmReader *self)
{
  return self->sample_rate * self->sample_bytes;
}

guint64
lmd_cli_pcm_reader_get_expected_bytes (LmdCliPcmReader *self)
{
  return self->expected_out;
}
