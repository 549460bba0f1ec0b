/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-fixtures.c — the test data the repository carries: its folder, paths inside it,
 * whole files read.
 */
#include "lmd-test-fixtures.h"

#include <glib/gstdio.h>
#include <stdarg.h>

const char *
lmd_test_fixtures_dir (void)
{
  static char *dir = NULL; /* for the process lifetime */

  if (dir == NULL)
    {
      const char *set = g_getenv ("LMD_FIXTURES_DIR");
      dir = set != NULL ? g_strdup (set)
                        : g_build_filename (g_getenv ("LMD_SOURCE_DIR"), "tests", "fixtures", NULL);
    }
  return dir;
}

char *
lmd_test_fixture_path (const char *first_element, ...)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (parts, (gpointer) lmd_test_fixtures_dir ());
  va_start (args, first_element);
  for (const char *p = first_element; p != NULL; p = va_arg (args, const char *))
    g_ptr_array_add (parts, (gpointer) p);
  va_end (args);
  g_ptr_array_add (parts, NULL);
  return g_build_filenamev ((char **) parts->pdata);
}

GBytes *
lmd_test_read_file (const char *path)
{
  char *data = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

void
lmd_test_rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        lmd_test_rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}
