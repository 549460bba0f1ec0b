/* SPDX-License-Identifier: MIT */
/*
 * test-upload-budget.c — LmdHttpUploadBudget and LmdHttpBody, what request bodies may take of
 * a process: the upload count stops at its bound; a declared body is held in memory when the
 * budget can reserve it and goes to a file from its first byte when not; a chunked body grows
 * in memory while it fits, then moves to a file with what it held; either way finish() hands
 * over the same bytes, and a reservation is released when those bytes are freed, on whatever
 * thread; a discarded body keeps nothing; the spool directory never shows a file.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "lmd-http-body.h"
#include "lmd-http-upload-budget.h"

#define MIB (1024 * 1024)

static char *dir;

static GBytes *
pattern (gsize n)
{
  guint8 *data = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    data[i] = (guint8) (i * 31 + (i >> 9));
  return g_bytes_new_take (data, n);
}

static gboolean
dir_is_empty (void)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);

  g_assert_nonnull (d);
  return g_dir_read_name (d) == NULL;
}

/* Appends @bytes to @body in chunks of 8 KiB, as libsoup delivers them. */
static void
feed (LmdHttpBody *body, GBytes *bytes)
{
  gsize len = g_bytes_get_size (bytes);
  const guint8 *data = g_bytes_get_data (bytes, NULL);

  for (gsize off = 0; off < len; off += 8192)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (lmd_http_body_append (body, data + off, MIN (8192, len - off), &error));
      g_assert_no_error (error);
    }
}

static void
test_upload_count (void)
{
  g_autoptr (LmdHttpUploadBudget) budget = lmd_http_upload_budget_new (2, MIB);

  g_assert_true (lmd_http_upload_budget_begin_upload (budget));
  g_assert_true (lmd_http_upload_budget_begin_upload (budget));
  g_assert_false (lmd_http_upload_budget_begin_upload (budget));
  g_assert_cmpuint (lmd_http_upload_budget_get_uploads (budget), ==, 2);
  lmd_http_upload_budget_end_upload (budget);
  g_assert_true (lmd_http_upload_budget_begin_upload (budget));
  lmd_http_upload_budget_end_upload (budget);
  lmd_http_upload_budget_end_upload (budget);
  g_assert_cmpuint (lmd_http_upload_budget_get_uploads (budget), ==, 0);
}

static void
test_declared (void)
{
  g_autoptr (LmdHttpUploadBudget) budget = lmd_http_upload_budget_new (8, 3 * MIB);
  g_autoptr (GBytes) two = pattern (2 * MIB);
  g_autoptr (LmdHttpBody) first = lmd_http_body_new (budget, 2 * MIB, dir);
  g_autoptr (LmdHttpBody) second = lmd_http_body_new (budget, 2 * MIB, dir);
  g_autoptr (GBytes) in_memory = NULL;
  g_autoptr (GBytes) from_file = NULL;
  g_autoptr (GError) error = NULL;

  /* the first fits the 3 MiB budget, the second does not */
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 2 * MIB);
  feed (first, two);
  feed (second, two);
  g_assert_false (lmd_http_body_is_spooled (first));
  g_assert_true (lmd_http_body_is_spooled (second));
  g_assert_cmpuint (lmd_http_upload_budget_get_spooled_total (budget), ==, 1);
  g_assert_true (dir_is_empty ());
  in_memory = lmd_http_body_finish (first, &error);
  g_assert_no_error (error);
  from_file = lmd_http_body_finish (second, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (in_memory, two));
  g_assert_true (g_bytes_equal (from_file, two));
  /* the memory stays reserved while its bytes live, not after */
  g_clear_pointer (&first, lmd_http_body_free);
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 2 * MIB);
  g_clear_pointer (&in_memory, g_bytes_unref);
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 0);
  /* the mapping outlives the body and its file descriptor */
  g_clear_pointer (&second, lmd_http_body_free);
  g_assert_true (g_bytes_equal (from_file, two));
}

static void
test_chunked_moves_to_file (void)
{
  g_autoptr (LmdHttpUploadBudget) budget = lmd_http_upload_budget_new (8, 2 * MIB);
  g_autoptr (GBytes) small = pattern (100000);
  g_autoptr (GBytes) big = pattern (5 * MIB + 123);
  g_autoptr (LmdHttpBody) a = lmd_http_body_new (budget, -1, dir);
  g_autoptr (LmdHttpBody) b = lmd_http_body_new (budget, -1, dir);
  g_autoptr (GBytes) a_bytes = NULL;
  g_autoptr (GBytes) b_bytes = NULL;

  feed (a, small);
  g_assert_false (lmd_http_body_is_spooled (a));
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, MIB); /* one growth step */
  feed (b, big);
  g_assert_true (lmd_http_body_is_spooled (b));
  /* what b held in memory went back to the budget when it moved */
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, MIB);
  g_assert_cmpuint (lmd_http_body_get_length (b), ==, g_bytes_get_size (big));
  a_bytes = lmd_http_body_finish (a, NULL);
  b_bytes = lmd_http_body_finish (b, NULL);
  g_assert_true (g_bytes_equal (a_bytes, small));
  g_assert_true (g_bytes_equal (b_bytes, big));
  g_assert_true (dir_is_empty ());
}

static gpointer
unref_bytes (gpointer data)
{
  g_bytes_unref (data);
  return NULL;
}

static void
test_release_on_another_thread (void)
{
  g_autoptr (LmdHttpUploadBudget) budget = lmd_http_upload_budget_new (8, 4 * MIB);
  g_autoptr (GBytes) data = pattern (3 * MIB);
  g_autoptr (LmdHttpBody) body = lmd_http_body_new (budget, 3 * MIB, dir);
  GBytes *handed;
  GThread *thread;

  feed (body, data);
  handed = lmd_http_body_finish (body, NULL);
  g_clear_pointer (&body, lmd_http_body_free);
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 3 * MIB);
  thread = g_thread_new ("consumer", unref_bytes, handed);
  g_thread_join (thread);
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 0);
}

static void
test_discard_and_empty (void)
{
  g_autoptr (LmdHttpUploadBudget) budget = lmd_http_upload_budget_new (8, MIB);
  g_autoptr (GBytes) data = pattern (300000);
  g_autoptr (LmdHttpBody) body = lmd_http_body_new (budget, 300000, dir);
  g_autoptr (LmdHttpBody) empty = lmd_http_body_new (budget, 0, dir);
  g_autoptr (GBytes) none = NULL;

  feed (body, data);
  lmd_http_body_discard (body);
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 0);
  feed (body, data); /* stored nowhere */
  g_assert_cmpuint (lmd_http_upload_budget_get_reserved (budget), ==, 0);
  none = lmd_http_body_finish (empty, NULL);
  g_assert_cmpuint (g_bytes_get_size (none), ==, 0);
  /* a budget of 0 sends every body to a file */
  {
    g_autoptr (LmdHttpUploadBudget) zero = lmd_http_upload_budget_new (8, 0);
    g_autoptr (LmdHttpBody) spooled = lmd_http_body_new (zero, -1, dir);
    g_autoptr (GBytes) back = NULL;
    feed (spooled, data);
    g_assert_true (lmd_http_body_is_spooled (spooled));
    back = lmd_http_body_finish (spooled, NULL);
    g_assert_true (g_bytes_equal (back, data));
  }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  dir = g_dir_make_tmp ("lmd-upload-budget-XXXXXX", &error);
  g_assert_no_error (error);
  g_test_add_func ("/upload-budget/upload-count", test_upload_count);
  g_test_add_func ("/upload-budget/declared", test_declared);
  g_test_add_func ("/upload-budget/chunked-moves-to-file", test_chunked_moves_to_file);
  g_test_add_func ("/upload-budget/release-on-another-thread", test_release_on_another_thread);
  g_test_add_func ("/upload-budget/discard-and-empty", test_discard_and_empty);
  status = g_test_run ();
  g_assert_cmpint (g_rmdir (dir), ==, 0);
  g_free (dir);
  return status;
}
