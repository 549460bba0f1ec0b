/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-body-spool.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

struct _LmdBodySpool {
  gint ref_count;
  int fd;             /* the unlinked file */
  guint64 length;     /* bytes appended */
  gboolean complete;
  GError *failure;    /* owned, nullable */
  GArray *waiters;    /* Waiter */
  guint next_waiter_id;
};

typedef struct {
  guint id;
  LmdBodySpoolWaiter func;
  gpointer user_data;
} Waiter;

LmdBodySpool *
lmd_body_spool_new (const char *dir, GError **error)
{
  g_autofree char *template = g_build_filename (dir != NULL && dir[0] != '\0' ? dir : g_get_tmp_dir (),
                                                "lmd-body-XXXXXX", NULL);
  int fd = g_mkstemp_full (template, O_RDWR | O_CLOEXEC, 0600);
  LmdBodySpool *self;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create a spool file in %s: %s",
                   dir != NULL && dir[0] != '\0' ? dir : g_get_tmp_dir (), g_strerror (saved));
      return NULL;
    }
  /* no name from here on: nothing to clean up, even after a crash */
  g_unlink (template);
  self = g_new0 (LmdBodySpool, 1);
  self->ref_count = 1;
  self->fd = fd;
  self->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
  self->next_waiter_id = 1;
  return self;
}

LmdBodySpool *
lmd_body_spool_ref (LmdBodySpool *self)
{
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
lmd_body_spool_unref (LmdBodySpool *self)
{
  if (self == NULL || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  close (self->fd);
  g_clear_error (&self->failure);
  g_array_unref (self->waiters);
  g_free (self);
}

GBytes *
lmd_body_spool_map (LmdBodySpool *self, GError **error)
{
  g_autoptr (GMappedFile) file = NULL;

  if (self->length == 0)
    return g_bytes_new (NULL, 0);
  file = g_mapped_file_new_from_fd (self->fd, FALSE, error);
  if (file == NULL)
    return NULL;
  return g_mapped_file_get_bytes (file);
}

/* Runs (and forgets) every waiter registered so far. */
static void
wake_waiters (LmdBodySpool *self)
{
  g_autoptr (GArray) now = NULL;

  if (self->waiters->len == 0)
    return;
  now = self->waiters;
  self->waiters = g_array_new (FALSE, FALSE, sizeof (Waiter));
  lmd_body_spool_ref (self);
  for (guint i = 0; i < now->len; i++)
    {
      Waiter *w = &g_array_index (now, Waiter, i);
      w->func (w->user_data);
    }
  lmd_body_spool_unref (self);
}

gboolean
lmd_body_spool_append (LmdBodySpool *self, const void *data, gsize len, GError **error)
{
  const guint8 *p = data;
  gsize done = 0;

  if (self->failure != NULL || self->complete)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "the spool takes no more data");
      return FALSE;
    }
  while (done < len)
    {
      gssize n = pwrite (self->fd, p + done, len - done, (off_t) (self->length + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = n < 0 ? errno : ENOSPC;
          g_autoptr (GError) why = g_error_new (G_IO_ERROR, g_io_error_from_errno (saved),
                                                "cannot write the spool file: %s", g_strerror (saved));
          if (error != NULL)
            *error = g_error_copy (why);
          lmd_body_spool_abort (self, why);
          return FALSE;
        }
      done += (gsize) n;
    }
  self->length += len;
  wake_waiters (self);
  return TRUE;
}

void
lmd_body_spool_finish (LmdBodySpool *self)
{
  if (self->complete || self->failure != NULL)
    return;
  self->complete = TRUE;
  wake_waiters (self);
}

void
lmd_body_spool_abort (LmdBodySpool *self, const GError *why)
{
  if (self->failure != NULL)
    return;
  self->failure = g_error_copy (why);
  wake_waiters (self);
}

guint64
lmd_body_spool_get_length (LmdBodySpool *self)
{
  return self->length;
}

gboolean
lmd_body_spool_is_complete (LmdBodySpool *self)
{
  return self->complete;
}

const GError *
lmd_body_spool_get_failure (LmdBodySpool *self)
{
  return self->failure;
}

gssize
lmd_body_spool_read (LmdBodySpool *self, guint64 offset, void *buffer, gsize count, GError **error)
{
  gssize n;

  if (offset >= self->length)
    return 0;
  count = MIN (count, self->length - offset);
  do
    n = pread (self->fd, buffer, count, (off_t) offset);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot read the spool file: %s",
                   g_strerror (saved));
    }
  return n;
}

guint
lmd_body_spool_add_waiter (LmdBodySpool *self, LmdBodySpoolWaiter func, gpointer user_data)
{
  Waiter w = { self->next_waiter_id++, func, user_data };

  g_array_append_val (self->waiters, w);
  return w.id;
}

void
lmd_body_spool_remove_waiter (LmdBodySpool *self, guint id)
{
  for (guint i = 0; i < self->waiters->len; i++)
    if (g_array_index (self->waiters, Waiter, i).id == id)
      {
        g_array_remove_index (self->waiters, i);
        return;
      }
}
