/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-pcm-spool.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

struct _LmdPcmSpool {
  char *dir;          /* owned */
  float *buffer;      /* owned: samples n_file .. n_file + n_buffer - 1 */
  gsize capacity;
  gsize n_buffer;
  int fd;             /* owned, -1 until the first spill: samples 0 .. n_file - 1 */
  guint64 n_file;
};

LmdPcmSpool *
lmd_pcm_spool_new (gsize memory_samples, const char *dir)
{
  LmdPcmSpool *self;

  g_return_val_if_fail (memory_samples > 0, NULL);
  self = g_new0 (LmdPcmSpool, 1);
  self->dir = g_strdup (dir != NULL ? dir : g_get_tmp_dir ());
  self->capacity = memory_samples;
  self->buffer = g_new (float, memory_samples);
  self->fd = -1;
  return self;
}

void
lmd_pcm_spool_free (LmdPcmSpool *self)
{
  if (self == NULL)
    return;
  if (self->fd >= 0)
    close (self->fd);
  g_free (self->buffer);
  g_free (self->dir);
  g_free (self);
}

static gboolean
set_io_error (GError **error, int saved_errno, const char *what, const char *dir)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "%s the audio spool in %s: %s",
               what, dir, g_strerror (saved_errno));
  return FALSE;
}

/* Writes the buffer to the end of the file, creating it first. */
static gboolean
spill (LmdPcmSpool *self, GError **error)
{
  const char *p = (const char *) self->buffer;
  gsize left = self->n_buffer * sizeof (float);
  off_t at = (off_t) (self->n_file * sizeof (float));

  if (self->fd < 0)
    {
      g_autofree char *path = g_build_filename (self->dir, "lmd-audio-XXXXXX", NULL);

      self->fd = g_mkstemp_full (path, O_RDWR | O_CLOEXEC, 0600);
      if (self->fd < 0)
        return set_io_error (error, errno, "cannot create", self->dir);
      /* unlinked at once: nothing is left behind, whatever happens to the process */
      g_unlink (path);
    }
  while (left > 0)
    {
      ssize_t n = pwrite (self->fd, p, left, at);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return set_io_error (error, n < 0 ? errno : ENOSPC, "cannot write", self->dir);
      p += n;
      left -= (gsize) n;
      at += n;
    }
  self->n_file += self->n_buffer;
  self->n_buffer = 0;
  return TRUE;
}

gboolean
lmd_pcm_spool_append (LmdPcmSpool *self, const float *samples, gsize n, GError **error)
{
  while (n > 0)
    {
      gsize take = MIN (n, self->capacity - self->n_buffer);

      memcpy (self->buffer + self->n_buffer, samples, take * sizeof (float));
      self->n_buffer += take;
      samples += take;
      n -= take;
      if (self->n_buffer == self->capacity && n > 0 && !spill (self, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
lmd_pcm_spool_read (LmdPcmSpool *self, guint64 offset, float *out, gsize n, GError **error)
{
  g_return_val_if_fail (offset + n <= self->n_file + self->n_buffer, FALSE);

  /* the part in the file */
  if (offset < self->n_file)
    {
      gsize from_file = (gsize) MIN ((guint64) n, self->n_file - offset);
      char *p = (char *) out;
      gsize left = from_file * sizeof (float);
      off_t at = (off_t) (offset * sizeof (float));

      while (left > 0)
        {
          ssize_t got = pread (self->fd, p, left, at);

          if (got < 0 && errno == EINTR)
            continue;
          if (got <= 0)
            return set_io_error (error, got < 0 ? errno : EIO, "cannot read", self->dir);
          p += got;
          left -= (gsize) got;
          at += got;
        }
      out += from_file;
      offset += from_file;
      n -= from_file;
    }
  /* the part in memory */
  if (n > 0)
    memcpy (out, self->buffer + (offset - self->n_file), n * sizeof (float));
  return TRUE;
}

guint64
lmd_pcm_spool_get_length (LmdPcmSpool *self)
{
  return self->n_file + self->n_buffer;
}

gsize
lmd_pcm_spool_get_buffered (LmdPcmSpool *self)
{
  return self->n_buffer;
}

gboolean
lmd_pcm_spool_is_spilled (LmdPcmSpool *self)
{
  return self->fd >= 0;
}
