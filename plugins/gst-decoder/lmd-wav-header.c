/* SPDX-License-Identifier: MIT */
/*
 * lmd-wav-header.c — the RIFF/WAVE data chunk check (see the header).  The chunks are walked
 * from offset 12 by their declared sizes (padded to even), in 64-bit arithmetic so that no
 * size wraps the position.
 */
#include "lmd-wav-header.h"

#include <string.h>

gboolean
lmd_wav_header_is_truncated (const guint8 *data, gsize size, guint64 *declared, guint64 *present)
{
  guint64 pos = 12;

  g_return_val_if_fail (data != NULL || size == 0, FALSE);

  if (size < 12 || memcmp (data, "RIFF", 4) != 0 || memcmp (data + 8, "WAVE", 4) != 0)
    return FALSE;
  while (pos + 8 <= size)
    {
      /* byte by byte: the image may start at any address (e.g. inside a multipart body) */
      const guint8 *p = data + pos + 4;
      guint32 chunk_size = (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
      guint64 available = size - pos - 8;

      if (memcmp (data + pos, "data", 4) == 0)
        {
          *declared = chunk_size;
          *present = available;
          return chunk_size != 0 && chunk_size != G_MAXUINT32 && chunk_size > available;
        }
      pos += 8 + (guint64) chunk_size + (chunk_size & 1);
    }
  return FALSE;
}
