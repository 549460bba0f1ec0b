/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-wav.c — RIFF/WAVE reading and writing for tests: 16-bit PCM, one channel.
 *
 * The reader walks the chunk list (skipping LIST, fact and any other chunk), accepts
 * WAVE_FORMAT_PCM and WAVE_FORMAT_EXTENSIBLE with a PCM sub-format, and tolerates a data
 * chunk whose size runs past the end of the file (streaming writers leave it unset).
 */
#include "lmd-test-wav.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

#define WAVE_FORMAT_PCM 0x0001
#define WAVE_FORMAT_IEEE_FLOAT 0x0003
#define WAVE_FORMAT_EXTENSIBLE 0xFFFE

static guint32
read_le32 (const guint8 *p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24);
}

static guint16
read_le16 (const guint8 *p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

float *
lmd_test_wav_read (const char *path, guint *sample_rate, gsize *n_samples, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize size = 0, pos = 12;
  gboolean have_format = FALSE;
  guint rate = 0;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_get_contents (path, (char **) &data, &size, error))
    return NULL;
  if (size < 12 || memcmp (data, "RIFF", 4) != 0 || memcmp (data + 8, "WAVE", 4) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a RIFF/WAVE file", path);
      return NULL;
    }
  while (pos + 8 <= size)
    {
      const guint8 *chunk = data + pos;
      gsize chunk_size = read_le32 (chunk + 4);
      gsize available = size - pos - 8;

      if (memcmp (chunk, "fmt ", 4) == 0)
        {
          guint16 format, channels, bits;

          if (chunk_size < 16 || available < 16)
            break;
          format = read_le16 (chunk + 8);
          channels = read_le16 (chunk + 10);
          rate = read_le32 (chunk + 12);
          bits = read_le16 (chunk + 22);
          if (format == WAVE_FORMAT_EXTENSIBLE && chunk_size >= 26 && available >= 26)
            format = read_le16 (chunk + 32);
          if (format != WAVE_FORMAT_PCM || channels != 1 || bits != 16 || rate == 0)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                           "%s: only 16-bit PCM mono is supported (format %u, %u channels, "
                           "%u bits)", path, format, channels, bits);
              return NULL;
            }
          have_format = TRUE;
        }
      else if (memcmp (chunk, "data", 4) == 0)
        {
          const guint8 *pcm = chunk + 8;
          gsize n;
          float *samples;

          if (!have_format)
            break;
          n = MIN (chunk_size, available) / 2;
          samples = g_new (float, MAX (n, 1));
          for (gsize i = 0; i < n; i++)
            samples[i] = (gint16) read_le16 (pcm + 2 * i) / 32768.0f;
          if (sample_rate != NULL)
            *sample_rate = rate;
          if (n_samples != NULL)
            *n_samples = n;
          return samples;
        }
      pos += 8 + chunk_size + (chunk_size & 1);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path,
               have_format ? "no data chunk" : "no valid fmt chunk before the data");
  return NULL;
}

static void
write_le32 (guint8 *p, guint32 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

static void
write_le16 (guint8 *p, guint16 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
}

/* The 44-byte header of a canonical WAV file (RIFF, a 16-byte fmt chunk, data of @data_size). */
static void
write_header (guint8 *image, guint16 format, guint16 channels, guint32 rate, guint16 bits, gsize data_size)
{
  memcpy (image, "RIFF", 4);
  write_le32 (image + 4, (guint32) (36 + data_size));
  memcpy (image + 8, "WAVEfmt ", 8);
  write_le32 (image + 16, 16);
  write_le16 (image + 20, format);
  write_le16 (image + 22, channels);
  write_le32 (image + 24, rate);
  write_le32 (image + 28, rate * channels * (bits / 8));
  write_le16 (image + 32, (guint16) (channels * (bits / 8)));
  write_le16 (image + 34, bits);
  memcpy (image + 36, "data", 4);
  write_le32 (image + 40, (guint32) data_size);
}

GBytes *
lmd_test_wav_encode (const float *samples, gsize n_samples, guint sample_rate)
{
  gsize data_size = n_samples * 2;
  guint8 *image;

  g_return_val_if_fail (samples != NULL || n_samples == 0, NULL);
  g_return_val_if_fail (data_size <= G_MAXUINT32 - 36, NULL);

  image = g_malloc (44 + data_size);
  write_header (image, WAVE_FORMAT_PCM, 1, sample_rate, 16, data_size);
  for (gsize i = 0; i < n_samples; i++)
    {
      float v = samples[i] * 32768.0f;
      gint16 s = v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : v == v ? (gint16) lrintf (v) : 0;
      write_le16 (image + 44 + 2 * i, (guint16) s);
    }
  return g_bytes_new_take (image, 44 + data_size);
}

GBytes *
lmd_test_wav_encode_wide (const float *samples, gsize n_samples, gsize file_size)
{
  gsize payload = file_size != 0 ? file_size - 44 : n_samples * 6 * 2 * sizeof (float);
  gsize frames = payload / 8;
  guint8 *image;
  float *out;

  g_return_val_if_fail (samples != NULL || n_samples == 0, NULL);
  g_return_val_if_fail (file_size == 0 || file_size >= 44, NULL);
  g_return_val_if_fail (payload <= G_MAXUINT32 - 36, NULL);

  image = g_malloc0 (44 + payload);
  out = (float *) (image + 44);
  write_header (image, WAVE_FORMAT_IEEE_FLOAT, 2, LMD_TEST_WAV_WIDE_RATE, 32, payload);
  for (gsize i = 0; i < n_samples && i * 6 + 6 <= frames; i++)
    for (guint k = 0; k < 6; k++)
      out[(i * 6 + k) * 2] = out[(i * 6 + k) * 2 + 1] = samples[i];
  return g_bytes_new_take (image, 44 + payload);
}
