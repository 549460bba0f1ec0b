/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-journal.c — the durable usage journal (file layout and guarantees in the header).
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-journal.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* one record is a few hundred bytes; anything longer than this is not ours */
#define MAX_LINE 65536

struct _LmdLicenseJournal {
  GMutex lock;
  int fd;            /* owned: usage.jsonl, O_APPEND */
  char *ack_path;    /* owned */
  guint64 size;      /* bytes in usage.jsonl */
  guint64 acked;     /* bytes acknowledged */
};

static gboolean
set_errno_error (GError **error, int saved, const char *what)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "usage journal: %s: %s", what,
               g_strerror (saved));
  return FALSE;
}

static gboolean
write_ack (LmdLicenseJournal *self, guint64 offset, GError **error)
{
  g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT "\n", offset);

  return g_file_set_contents_full (self->ack_path, text, -1,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}

/* Cuts a torn last line off; called before the journal is shared. */
static gboolean
repair_tail (LmdLicenseJournal *self, GError **error)
{
  guint64 end = self->size;
  char buf[4096];

  while (end > 0)
    {
      gsize chunk = (gsize) MIN (end, sizeof buf);
      ssize_t n = pread (self->fd, buf, chunk, (off_t) (end - chunk));
      if (n != (ssize_t) chunk)
        return set_errno_error (error, n < 0 ? errno : EIO, "read");
      for (gsize i = chunk; i > 0; i--)
        if (buf[i - 1] == '\n')
          {
            end = end - chunk + i;
            goto found;
          }
      end -= chunk;
    }
found:
  if (end != self->size)
    {
      g_warning ("usage journal: dropping a torn record of %" G_GUINT64_FORMAT " bytes at the end",
                 self->size - end);
      if (ftruncate (self->fd, (off_t) end) != 0 || fsync (self->fd) != 0)
        return set_errno_error (error, errno, "truncate");
      self->size = end;
    }
  return TRUE;
}

LmdLicenseJournal *
lmd_license_journal_open (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "usage.jsonl", NULL);
  g_autofree char *ack_text = NULL;
  LmdLicenseJournal *self;
  struct stat st;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", dir,
                   g_strerror (saved));
      return NULL;
    }
  self = g_new0 (LmdLicenseJournal, 1);
  g_mutex_init (&self->lock);
  self->ack_path = g_build_filename (dir, "usage.ack", NULL);
  self->fd = g_open (path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (self->fd < 0 || fstat (self->fd, &st) != 0)
    {
      set_errno_error (error, errno, path);
      lmd_license_journal_close (self);
      return NULL;
    }
  self->size = (guint64) st.st_size;
  if (!repair_tail (self, error))
    {
      lmd_license_journal_close (self);
      return NULL;
    }
  if (g_file_get_contents (self->ack_path, &ack_text, NULL, NULL))
    {
      guint64 v = 0;
      if (g_ascii_string_to_unsigned (g_strstrip (ack_text), 10, 0, G_MAXUINT64, &v, NULL))
        self->acked = v;
    }
  if (self->acked > self->size)
    {
      /* a compaction was interrupted after the journal was truncated */
      self->acked = 0;
      if (!write_ack (self, 0, error))
        {
          lmd_license_journal_close (self);
          return NULL;
        }
    }
  return self;
}

void
lmd_license_journal_close (LmdLicenseJournal *self)
{
  if (self == NULL)
    return;
  if (self->fd >= 0)
    close (self->fd);
  g_free (self->ack_path);
  g_mutex_clear (&self->lock);
  g_free (self);
}

gboolean
lmd_license_journal_append (LmdLicenseJournal *self, const char *line, GError **error)
{
  g_autofree char *record = NULL;
  gsize len = strlen (line);
  gboolean ok = TRUE;
  ssize_t n;

  g_return_val_if_fail (self != NULL && line != NULL, FALSE);
  if (len == 0 || len >= MAX_LINE || memchr (line, '\n', len) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "usage journal: a record is one non-empty line");
      return FALSE;
    }
  record = g_strconcat (line, "\n", NULL);
  g_mutex_lock (&self->lock);
  do
    n = write (self->fd, record, len + 1);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t) (len + 1))
    {
      int saved = n < 0 ? errno : EIO;
      /* never leave a partial record behind for the next one to be glued onto */
      if (n > 0 && ftruncate (self->fd, (off_t) self->size) != 0)
        g_warning ("usage journal: could not remove a partial record");
      ok = set_errno_error (error, saved, "write");
    }
  else if (fdatasync (self->fd) != 0)
    {
      ok = set_errno_error (error, errno, "fdatasync");
      self->size += len + 1;
    }
  else
    self->size += len + 1;
  g_mutex_unlock (&self->lock);
  return ok;
}

GPtrArray *
lmd_license_journal_read_pending (LmdLicenseJournal *self, guint max_records,
                                  guint64 *end_offset, GError **error)
{
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) pending = g_string_new (NULL);
  guint64 offset, line_start;
  char buf[8192];

  g_mutex_lock (&self->lock);
  offset = line_start = self->acked;
  while (offset < self->size && lines->len < max_records)
    {
      gsize chunk = (gsize) MIN (sizeof buf, self->size - offset);
      ssize_t n = pread (self->fd, buf, chunk, (off_t) offset);
      if (n <= 0)
        {
          g_mutex_unlock (&self->lock);
          set_errno_error (error, n < 0 ? errno : EIO, "read");
          return NULL;
        }
      for (ssize_t i = 0; i < n && lines->len < max_records; i++)
        {
          offset++;
          if (buf[i] != '\n')
            {
              if (pending->len < MAX_LINE)
                g_string_append_c (pending, buf[i]);
              continue;
            }
          if (pending->len > 0 && pending->len < MAX_LINE)
            g_ptr_array_add (lines, g_strndup (pending->str, pending->len));
          g_string_truncate (pending, 0);
          line_start = offset;
        }
    }
  g_mutex_unlock (&self->lock);
  *end_offset = line_start;
  return g_steal_pointer (&lines);
}

gboolean
lmd_license_journal_acknowledge (LmdLicenseJournal *self, guint64 end_offset, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  if (end_offset <= self->acked || end_offset > self->size)
    goto out;
  if (end_offset == self->size)
    {
      /* everything delivered: start the journal afresh */
      if (ftruncate (self->fd, 0) != 0 || fsync (self->fd) != 0)
        {
          ok = set_errno_error (error, errno, "truncate");
          goto out;
        }
      self->size = 0;
      self->acked = 0;
      /* should this fail, open() finds the old offset past the end and resets it */
      ok = write_ack (self, 0, error);
      goto out;
    }
  ok = write_ack (self, end_offset, error);
  if (ok)
    self->acked = end_offset;
out:
  g_mutex_unlock (&self->lock);
  return ok;
}

guint64
lmd_license_journal_get_pending_bytes (LmdLicenseJournal *self)
{
  guint64 n;

  g_mutex_lock (&self->lock);
  n = self->size - self->acked;
  g_mutex_unlock (&self->lock);
  return n;
}
