/* SPDX-License-Identifier: MIT */
/*
 * test-body-spool.c — LmdBodySpool and LmdSpoolInputStream, the api's way of passing a request
 * body to a worker while it arrives: a reader waits for bytes not yet appended, sees the end
 * of the body only when it is complete, fails when the spool is aborted, can start over from
 * the beginning (a retry), and the spool directory never shows the file.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "lmd-body-spool.h"
#include "lmd-spool-input-stream.h"

static char *dir;

static gboolean
dir_is_empty (void)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);

  g_assert_nonnull (d);
  return g_dir_read_name (d) == NULL;
}

static GBytes *
pattern (gsize n)
{
  guint8 *data = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    data[i] = (guint8) (i * 7 + i / 251);
  return g_bytes_new_take (data, n);
}

/* Feeds @body to @spool in pieces from idle callbacks, then finishes it. */
typedef struct {
  LmdBodySpool *spool;
  GBytes *body;
  gsize offset;
  gsize piece;
  gboolean abort_half_way;
} Feeder;

static gboolean
feed (gpointer user_data)
{
  Feeder *f = user_data;
  gsize size = g_bytes_get_size (f->body);
  gsize n = MIN (f->piece, size - f->offset);
  g_autoptr (GError) error = NULL;

  if (f->abort_half_way && f->offset >= size / 2)
    {
      g_autoptr (GError) why = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "client gone");
      lmd_body_spool_abort (f->spool, why);
      return G_SOURCE_REMOVE;
    }
  g_assert_true (lmd_body_spool_append (f->spool, (const guint8 *) g_bytes_get_data (f->body, NULL) + f->offset, n,
                                        &error));
  g_assert_no_error (error);
  f->offset += n;
  if (f->offset < size)
    return G_SOURCE_CONTINUE;
  lmd_body_spool_finish (f->spool);
  return G_SOURCE_REMOVE;
}

typedef struct {
  gboolean done;
  gssize spliced;
  GError *error;
} Splice;

static void
splice_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Splice *s = user_data;

  s->spliced = g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &s->error);
  s->done = TRUE;
}

/* Splices a new stream of @spool into memory (as libsoup sends a request body). */
static GBytes *
splice_all (LmdBodySpool *spool, GError **error)
{
  g_autoptr (GInputStream) in = lmd_spool_input_stream_new (spool);
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
  Splice s = { 0 };

  g_output_stream_splice_async (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, NULL, splice_done, &s);
  while (!s.done)
    g_main_context_iteration (NULL, TRUE);
  if (s.error != NULL)
    {
      g_propagate_error (error, s.error);
      return NULL;
    }
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

static void
test_stream_while_arriving (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdBodySpool) spool = lmd_body_spool_new (dir, &error);
  g_autoptr (GBytes) body = pattern (3 * 1024 * 1024 + 17);
  g_autoptr (GBytes) first = NULL;
  g_autoptr (GBytes) again = NULL;
  Feeder f = { spool, body, 0, 40000, FALSE };

  g_assert_no_error (error);
  g_assert_true (dir_is_empty ()); /* unlinked at once */
  g_idle_add (feed, &f);
  first = splice_all (spool, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (first, body));
  g_assert_true (lmd_body_spool_is_complete (spool));
  g_assert_cmpuint (lmd_body_spool_get_length (spool), ==, g_bytes_get_size (body));
  /* a retry reads it all again */
  again = splice_all (spool, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (again, body));
  g_assert_true (dir_is_empty ());
}

static void
test_abort_fails_the_reader (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdBodySpool) spool = lmd_body_spool_new (dir, &error);
  g_autoptr (GBytes) body = pattern (1024 * 1024);
  g_autoptr (GBytes) got = NULL;
  Feeder f = { spool, body, 0, 30000, TRUE };

  g_assert_no_error (error);
  g_idle_add (feed, &f);
  got = splice_all (spool, &error);
  g_assert_null (got);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_assert_nonnull (lmd_body_spool_get_failure (spool));
  /* and nothing more is taken */
  g_clear_error (&error);
  g_assert_false (lmd_body_spool_append (spool, "x", 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

static void
read_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Splice *s = user_data;

  s->spliced = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &s->error);
  s->done = TRUE;
}

static void
test_cancel_and_seek (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdBodySpool) spool = lmd_body_spool_new (dir, &error);
  g_autoptr (GInputStream) in = lmd_spool_input_stream_new (spool);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  char buffer[16];
  Splice s = { 0 };
  gssize n;

  g_assert_no_error (error);
  g_assert_true (lmd_body_spool_append (spool, "hello", 5, &error));
  n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (n, ==, 5);
  /* nothing more yet: a blocking read cannot wait, an asynchronous one does */
  g_assert_cmpint (g_input_stream_read (in, buffer, sizeof buffer, NULL, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
  g_clear_error (&error);
  g_input_stream_read_async (in, buffer, sizeof buffer, G_PRIORITY_DEFAULT, cancellable, read_done, &s);
  for (guint i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (s.done);
  g_cancellable_cancel (cancellable);
  while (!s.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (s.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&s.error);
  /* back to the start, as libsoup does when it sends a body again */
  g_assert_true (g_seekable_seek (G_SEEKABLE (in), 0, G_SEEK_SET, NULL, &error));
  g_assert_cmpint (g_seekable_tell (G_SEEKABLE (in)), ==, 0);
  g_assert_false (g_seekable_seek (G_SEEKABLE (in), 6, G_SEEK_SET, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (lmd_body_spool_append (spool, " world", 6, &error));
  lmd_body_spool_finish (spool);
  n = g_input_stream_read (in, buffer, sizeof buffer, NULL, &error);
  g_assert_cmpint (n, ==, 11);
  g_assert_cmpmem (buffer, 11, "hello world", 11);
  g_assert_cmpint (g_input_stream_read (in, buffer, sizeof buffer, NULL, &error), ==, 0);
  g_assert_no_error (error);
}

static void
test_bad_directory (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (dir, "no-such-dir", NULL);
  LmdBodySpool *spool = lmd_body_spool_new (missing, &error);

  g_assert_null (spool);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  dir = g_dir_make_tmp ("lmd-spool-XXXXXX", &error);
  g_assert_no_error (error);
  g_test_add_func ("/body-spool/stream-while-arriving", test_stream_while_arriving);
  g_test_add_func ("/body-spool/abort-fails-the-reader", test_abort_fails_the_reader);
  g_test_add_func ("/body-spool/cancel-and-seek", test_cancel_and_seek);
  g_test_add_func ("/body-spool/bad-directory", test_bad_directory);
  status = g_test_run ();
  g_assert_true (dir_is_empty ());
  g_rmdir (dir);
  g_free (dir);
  return status;
}
