/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-spool-input-stream.h"

struct _LmdSpoolInputStream {
  GInputStream parent_instance;

  LmdBodySpool *spool; /* owned ref */
  guint64 offset;
  /* the read waiting for the client's next bytes */
  GTask *pending;      /* owned, nullable */
  void *buffer;        /* the pending read's */
  gsize count;
  guint waiter_id;
  GSource *cancel_source; /* owned, nullable */
};

static void lmd_spool_input_stream_seekable_init (GSeekableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdSpoolInputStream, lmd_spool_input_stream, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_SEEKABLE, lmd_spool_input_stream_seekable_init))

GInputStream *
lmd_spool_input_stream_new (LmdBodySpool *spool)
{
  LmdSpoolInputStream *self = g_object_new (LMD_TYPE_SPOOL_INPUT_STREAM, NULL);

  self->spool = lmd_body_spool_ref (spool);
  return G_INPUT_STREAM (self);
}

/* What a read at the current offset gives now: TRUE with *n set (0 = end of the body), or
 * TRUE with @error set, or FALSE when it has to wait. */
static gboolean
try_read (LmdSpoolInputStream *self, void *buffer, gsize count, gssize *n, GError **error)
{
  const GError *failure = lmd_body_spool_get_failure (self->spool);

  *n = 0;
  if (failure != NULL)
    {
      g_propagate_error (error, g_error_copy (failure));
      *n = -1;
      return TRUE;
    }
  if (self->offset < lmd_body_spool_get_length (self->spool))
    {
      *n = lmd_body_spool_read (self->spool, self->offset, buffer, count, error);
      if (*n > 0)
        self->offset += (guint64) *n;
      return TRUE;
    }
  return lmd_body_spool_is_complete (self->spool);
}

static gssize
spool_read (GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable, GError **error)
{
  LmdSpoolInputStream *self = LMD_SPOOL_INPUT_STREAM (stream);
  gssize n;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return -1;
  if (try_read (self, buffer, count, &n, error))
    return n;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "the rest of the body has not arrived yet");
  return -1;
}

static void
pending_clear (LmdSpoolInputStream *self)
{
  if (self->waiter_id != 0)
    lmd_body_spool_remove_waiter (self->spool, self->waiter_id);
  self->waiter_id = 0;
  if (self->cancel_source != NULL)
    {
      g_source_destroy (self->cancel_source);
      g_clear_pointer (&self->cancel_source, g_source_unref);
    }
  self->buffer = NULL;
  self->count = 0;
}

static void on_more (gpointer user_data);

/* Completes the pending read if it can, else waits again. */
static void
pending_try (LmdSpoolInputStream *self)
{
  g_autoptr (GError) error = NULL;
  gssize n;
  GTask *task;

  if (!try_read (self, self->buffer, self->count, &n, &error))
    {
      self->waiter_id = lmd_body_spool_add_waiter (self->spool, on_more, self);
      return;
    }
  task = g_steal_pointer (&self->pending);
  pending_clear (self);
  if (error != NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_int (task, n);
  g_object_unref (task);
}

static void
on_more (gpointer user_data)
{
  LmdSpoolInputStream *self = user_data;

  self->waiter_id = 0;
  if (self->pending != NULL)
    pending_try (self);
}

static gboolean
on_cancelled (GCancellable *cancellable, gpointer user_data)
{
  LmdSpoolInputStream *self = user_data;
  GTask *task = g_steal_pointer (&self->pending);

  pending_clear (self);
  if (task != NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the read was cancelled");
      g_object_unref (task);
    }
  return G_SOURCE_REMOVE;
}

static void
spool_read_async (GInputStream *stream, void *buffer, gsize count, int io_priority,
                  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  LmdSpoolInputStream *self = LMD_SPOOL_INPUT_STREAM (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, spool_read_async);
  g_task_set_priority (task, io_priority);
  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return;
    }
  g_return_if_fail (self->pending == NULL);
  self->pending = task;
  self->buffer = buffer;
  self->count = count;
  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (on_cancelled), self, NULL);
      g_source_attach (self->cancel_source, g_main_context_get_thread_default ());
    }
  pending_try (self);
}

static gssize
spool_read_finish (GInputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_int (G_TASK (result), error);
}

static gboolean
spool_close (GInputStream *stream, GCancellable *cancellable, GError **error)
{
  return TRUE;
}

static void
spool_close_async (GInputStream *stream, int io_priority, GCancellable *cancellable,
                   GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static gboolean
spool_close_finish (GInputStream *stream, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static goffset
spool_tell (GSeekable *seekable)
{
  return (goffset) LMD_SPOOL_INPUT_STREAM (seekable)->offset;
}

static gboolean
spool_can_seek (GSeekable *seekable)
{
  return TRUE;
}

static gboolean
spool_seek (GSeekable *seekable, goffset offset, GSeekType type, GCancellable *cancellable, GError **error)
{
  LmdSpoolInputStream *self = LMD_SPOOL_INPUT_STREAM (seekable);
  goffset target = type == G_SEEK_SET ? offset
                   : type == G_SEEK_CUR ? (goffset) self->offset + offset
                                        : (goffset) lmd_body_spool_get_length (self->spool) + offset;

  if (type == G_SEEK_END && !lmd_body_spool_is_complete (self->spool))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "the end of the body is not known yet");
      return FALSE;
    }
  if (target < 0 || (guint64) target > lmd_body_spool_get_length (self->spool))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "seek outside the received body");
      return FALSE;
    }
  if (!g_input_stream_set_pending (G_INPUT_STREAM (self), error))
    return FALSE;
  self->offset = (guint64) target;
  g_input_stream_clear_pending (G_INPUT_STREAM (self));
  return TRUE;
}

static gboolean
spool_can_truncate (GSeekable *seekable)
{
  return FALSE;
}

static gboolean
spool_truncate (GSeekable *seekable, goffset offset, GCancellable *cancellable, GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "a request body cannot be truncated");
  return FALSE;
}

static void
lmd_spool_input_stream_seekable_init (GSeekableIface *iface)
{
  iface->tell = spool_tell;
  iface->can_seek = spool_can_seek;
  iface->seek = spool_seek;
  iface->can_truncate = spool_can_truncate;
  iface->truncate_fn = spool_truncate;
}

static void
lmd_spool_input_stream_dispose (GObject *object)
{
  LmdSpoolInputStream *self = LMD_SPOOL_INPUT_STREAM (object);

  /* a pending read holds a reference to the stream: there is none here */
  pending_clear (self);
  G_OBJECT_CLASS (lmd_spool_input_stream_parent_class)->dispose (object);
}

static void
lmd_spool_input_stream_finalize (GObject *object)
{
  LmdSpoolInputStream *self = LMD_SPOOL_INPUT_STREAM (object);

  g_clear_pointer (&self->spool, lmd_body_spool_unref);
  G_OBJECT_CLASS (lmd_spool_input_stream_parent_class)->finalize (object);
}

static void
lmd_spool_input_stream_class_init (LmdSpoolInputStreamClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = lmd_spool_input_stream_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_spool_input_stream_finalize;
  stream_class->read_fn = spool_read;
  stream_class->read_async = spool_read_async;
  stream_class->read_finish = spool_read_finish;
  stream_class->close_fn = spool_close;
  stream_class->close_async = spool_close_async;
  stream_class->close_finish = spool_close_finish;
}

static void
lmd_spool_input_stream_init (LmdSpoolInputStream *self)
{
}
