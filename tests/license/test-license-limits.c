/* SPDX-License-Identifier: MIT */
/*
 * test-license-limits.c — the limiter (rate, concurrency, daily audio quota) on a fake clock,
 * the upload backoff, and the usage journal's durability rules.
 *
 * Asserts: a token bucket of rpm N admits N at once, then 429 with Retry-After equal to the
 * time to the next token, and recovers after it; concurrency over the limit gets 429 until a
 * ticket is released; the day's audio quota gets 403 QUOTA_EXCEEDED until UTC midnight; the
 * journal cuts a torn record on open, resends exactly the unacknowledged records after a
 * reopen, and compacts when everything is acknowledged.
 */
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "lmd-error.h"
#include "lmd-license-journal.h"
#include "lmd-license-limiter.h"
#include "lmd-license-upstream.h"
#include "lmd-test-license-support.h"

#define DAY 86400
#define START (G_GINT64_CONSTANT (1800000000) / DAY * DAY + 3600) /* 01:00 UTC */

static void
test_rate (void)
{
  g_autoptr (LmdLicenseLimiter) limiter = lmd_license_limiter_new ();
  LmdLicenseLimits limits = { .rpm = 3 };
  g_autoptr (GError) error = NULL;
  guint retry = 0;

  lmd_test_clock_install (START);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
      lmd_license_limiter_release (limiter, "a", "lic", 0);
    }
  g_assert_false (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  g_assert_cmpuint (lmd_error_http_status (error->code), ==, 429);
  g_assert_cmpuint (retry, ==, 20); /* 3 per minute: one token every 20 s */
  g_clear_error (&error);
  /* another key has its own bucket */
  g_assert_true (lmd_license_limiter_acquire (limiter, "b", "lic", &limits, &retry, &error));
  lmd_license_limiter_release (limiter, "b", "lic", 0);
  /* 19 s later: still one second short */
  lmd_test_clock_advance (19);
  g_assert_false (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_cmpuint (retry, ==, 1);
  g_clear_error (&error);
  lmd_test_clock_advance (1);
  g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_no_error (error);
  lmd_license_limiter_release (limiter, "a", "lic", 0);
  /* a full minute refills the bucket, never beyond its size */
  lmd_test_clock_advance (600);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, NULL));
      lmd_license_limiter_release (limiter, "a", "lic", 0);
    }
  g_assert_false (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, NULL));
  lmd_test_clock_uninstall ();
}

static void
test_concurrency (void)
{
  g_autoptr (LmdLicenseLimiter) limiter = lmd_license_limiter_new ();
  LmdLicenseLimits limits = { .concurrency = 2 };
  g_autoptr (GError) error = NULL;
  guint retry = 0;

  lmd_test_clock_install (START);
  g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, NULL));
  g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, NULL));
  g_assert_cmpuint (lmd_license_limiter_get_active (limiter, "a"), ==, 2);
  g_assert_false (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  g_assert_cmpuint (retry, ==, 1);
  g_clear_error (&error);
  lmd_license_limiter_release (limiter, "a", "lic", 0);
  g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_no_error (error);
  lmd_license_limiter_release (limiter, "a", "lic", 0);
  lmd_license_limiter_release (limiter, "a", "lic", 0);
  g_assert_cmpuint (lmd_license_limiter_get_active (limiter, "a"), ==, 0);
  lmd_test_clock_uninstall ();
}

static void
test_quota (void)
{
  g_autoptr (LmdLicenseLimiter) limiter = lmd_license_limiter_new ();
  LmdLicenseLimits limits = { .audio_hours_per_day = 0.01 }; /* 36 s */
  g_autoptr (GError) error = NULL;
  guint retry = 0;

  lmd_test_clock_install (START);
  g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, NULL));
  lmd_license_limiter_release (limiter, "a", "lic", 20);
  /* the quota is the license's: another key counts against it too */
  g_assert_true (lmd_license_limiter_acquire (limiter, "b", "lic", &limits, &retry, NULL));
  lmd_license_limiter_release (limiter, "b", "lic", 20);
  g_assert_cmpfloat_with_epsilon (lmd_license_limiter_get_audio_seconds (limiter, "lic"), 40, 1e-9);
  g_assert_false (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_QUOTA_EXCEEDED);
  g_assert_cmpuint (lmd_error_http_status (error->code), ==, 403);
  g_assert_cmpuint (retry, ==, DAY - 3600); /* until midnight UTC */
  g_clear_error (&error);
  lmd_test_clock_advance (DAY - 3600);
  g_assert_true (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, &error));
  g_assert_no_error (error);
  lmd_license_limiter_release (limiter, "a", "lic", 1);
  g_assert_cmpfloat_with_epsilon (lmd_license_limiter_get_audio_seconds (limiter, "lic"), 1, 1e-9);
  /* restoring a count from disk only counts for today */
  lmd_license_limiter_restore_audio_seconds (limiter, "lic", START / DAY, 1000);
  g_assert_cmpfloat_with_epsilon (lmd_license_limiter_get_audio_seconds (limiter, "lic"), 1, 1e-9);
  lmd_license_limiter_restore_audio_seconds (limiter, "lic", START / DAY + 1, 50);
  g_assert_false (lmd_license_limiter_acquire (limiter, "a", "lic", &limits, &retry, NULL));
  lmd_test_clock_uninstall ();
}

static void
test_backoff (void)
{
  g_assert_cmpuint (lmd_license_backoff_delay (1, 10, 300), ==, 10);
  g_assert_cmpuint (lmd_license_backoff_delay (2, 10, 300), ==, 20);
  g_assert_cmpuint (lmd_license_backoff_delay (5, 10, 300), ==, 160);
  g_assert_cmpuint (lmd_license_backoff_delay (6, 10, 300), ==, 300);
  g_assert_cmpuint (lmd_license_backoff_delay (1000, 10, 300), ==, 300);
}

static void
test_journal (void)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-journal-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "usage.jsonl", NULL);
  g_autofree char *ack = g_build_filename (dir, "usage.ack", NULL);
  g_autoptr (GError) error = NULL;
  LmdLicenseJournal *j = lmd_license_journal_open (dir, &error);
  g_autoptr (GPtrArray) lines = NULL;
  guint64 end = 0, first_two = 0;
  int fd;

  g_assert_no_error (error);
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *rec = g_strdup_printf ("{\"id\":\"r%u\"}", i);
      g_assert_true (lmd_license_journal_append (j, rec, &error));
    }
  g_assert_false (lmd_license_journal_append (j, "two\nlines", NULL));
  lines = lmd_license_journal_read_pending (j, 2, &first_two, &error);
  g_assert_cmpuint (lines->len, ==, 2);
  g_assert_cmpstr (lines->pdata[1], ==, "{\"id\":\"r1\"}");
  g_assert_true (lmd_license_journal_acknowledge (j, first_two, &error));
  lmd_license_journal_close (j);

  /* a crash inside write(): half a record at the end */
  fd = g_open (path, O_WRONLY | O_APPEND, 0);
  g_assert_cmpint (write (fd, "{\"id\":\"to", 9), ==, 9);
  close (fd);

  j = lmd_license_journal_open (dir, &error);
  g_assert_no_error (error);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = lmd_license_journal_read_pending (j, 100, &end, &error);
  g_assert_cmpuint (lines->len, ==, 3);
  g_assert_cmpstr (lines->pdata[0], ==, "{\"id\":\"r2\"}");
  g_assert_cmpstr (lines->pdata[2], ==, "{\"id\":\"r4\"}");
  g_assert_true (lmd_license_journal_acknowledge (j, end, &error));
  /* everything delivered: compacted */
  g_assert_cmpuint (lmd_license_journal_get_pending_bytes (j), ==, 0);
  g_assert_true (lmd_license_journal_append (j, "{\"id\":\"r5\"}", &error));
  lmd_license_journal_close (j);

  {
    GStatBuf st;
    g_assert_cmpint (g_stat (path, &st), ==, 0);
    g_assert_cmpint (st.st_size, ==, strlen ("{\"id\":\"r5\"}\n"));
  }
  /* a compaction interrupted between the two files: the offset is past the end */
  g_file_set_contents (ack, "4096\n", -1, NULL);
  j = lmd_license_journal_open (dir, &error);
  g_assert_no_error (error);
  g_clear_pointer (&lines, g_ptr_array_unref);
  lines = lmd_license_journal_read_pending (j, 100, &end, &error);
  g_assert_cmpuint (lines->len, ==, 1);
  g_assert_cmpstr (lines->pdata[0], ==, "{\"id\":\"r5\"}");
  lmd_license_journal_close (j);

  g_remove (path);
  g_remove (ack);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the journal warns about the torn record this test makes on purpose */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_FATAL_MASK);
  g_test_add_func ("/license/limits/rate", test_rate);
  g_test_add_func ("/license/limits/concurrency", test_concurrency);
  g_test_add_func ("/license/limits/quota", test_quota);
  g_test_add_func ("/license/limits/backoff", test_backoff);
  g_test_add_func ("/license/journal/durability", test_journal);
  return g_test_run ();
}
