/* SPDX-License-Identifier: MIT */
/*
 * fuzz-wav-header.c — the RIFF/WAVE header handling the server does itself before GStreamer
 * decodes a WAV upload (plugins/gst-decoder/lmd-wav-header.c): the chunk walk to the data
 * chunk and the truncation check.  The input is the image, read from an odd address as well
 * (an image inside a multipart body).  Checked against a walk of its own: the data chunk found
 * (declared and present sizes), and truncated exactly when the declared size is set and larger
 * than what follows.
 */
#include "lmd-wav-header.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* the reference: the offset of the data chunk's header, or -1 */
static gint64
find_data (const guint8 *data, gsize size)
{
  guint64 pos = 12;

  if (size < 12 || memcmp (data, "RIFF", 4) != 0 || memcmp (data + 8, "WAVE", 4) != 0)
    return -1;
  while (pos + 8 <= size)
    {
      guint32 n;

      if (memcmp (data + pos, "data", 4) == 0)
        return (gint64) pos;
      memcpy (&n, data + pos + 4, 4);
      n = GUINT32_FROM_LE (n);
      pos += 8 + (guint64) n + (n % 2);
    }
  return -1;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* the image at an odd address, in a block of its exact size (ASan sees a read past it) */
  guint8 *copy = g_malloc (size + 1);
  guint64 declared = G_MAXUINT64, present = G_MAXUINT64;
  gint64 at = find_data (data, size);
  gboolean truncated;

  memcpy (copy + 1, data, size);
  truncated = lmd_wav_header_is_truncated (copy + 1, size, &declared, &present);
  if (at < 0)
    {
      g_assert_false (truncated);
      g_assert_cmpuint (declared, ==, G_MAXUINT64);
      g_assert_cmpuint (present, ==, G_MAXUINT64);
    }
  else
    {
      guint32 n;

      memcpy (&n, data + at + 4, 4);
      n = GUINT32_FROM_LE (n);
      g_assert_cmpuint (declared, ==, n);
      g_assert_cmpuint (present, ==, size - (guint64) at - 8);
      g_assert_true (truncated == (n != 0 && n != G_MAXUINT32 && n > present));
    }
  g_free (copy);
  return 0;
}
