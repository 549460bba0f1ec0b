/* SPDX-License-Identifier: MIT */
/*
 * lmd-fuzz-replay.c — runs a fuzz target's inputs through its LLVMFuzzerTestOneInput without
 * libFuzzer, so that the normal build (any C compiler) replays each seed corpus as a test.
 *
 *   fuzz-NAME-replay PATH...
 *
 * Each PATH is a file or a directory whose regular files are read in name order.  Every input
 * is one TAP line; a crash fails the test (and ASan or valgrind, when the test runs under them,
 * report the memory errors libFuzzer would).  A target returns 0 for every input it accepts
 * or rejects; any other value is reported as a failure.
 */
#include <glib.h>

#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint n_tests;
static guint n_failed;

static void
replay_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length = 0;
  int rc;

  n_tests++;
  if (!g_file_get_contents (path, &contents, &length, &error))
    {
      printf ("not ok %u - %s: %s\n", n_tests, path, error->message);
      n_failed++;
      return;
    }
  /* the target gets a copy of exactly @length bytes, so that ASan sees reads past the end */
  g_autofree guint8 *copy = g_memdup2 (contents, length > 0 ? length : 1);
  rc = LLVMFuzzerTestOneInput (copy, length);
  printf ("%sok %u - %s (%" G_GSIZE_FORMAT " bytes)\n", rc == 0 ? "" : "not ", n_tests, path,
          length);
  if (rc != 0)
    n_failed++;
  fflush (stdout);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static void
replay_path (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      replay_file (path);
      return;
    }
  dir = g_dir_open (path, 0, &error);
  if (dir == NULL)
    {
      printf ("not ok %u - %s: %s\n", ++n_tests, path, error->message);
      n_failed++;
      return;
    }
  names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_build_filename (path, name, NULL));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    if (g_file_test (names->pdata[i], G_FILE_TEST_IS_REGULAR))
      replay_file (names->pdata[i]);
}

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    replay_path (argv[i]);
  if (n_tests == 0)
    {
      printf ("not ok 1 - no input given\n");
      n_tests = n_failed = 1;
    }
  printf ("1..%u\n", n_tests);
  return n_failed == 0 ? 0 : 1;
}
