/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-clock.c — the replaceable clock of the license plugin (see the header).
 *
 * The override is published under a mutex so that a reader never sees one function of the
 * new pair with the user data of the old one.
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-clock.h"

static GMutex clock_lock;
static LmdLicenseClockFunc clock_wall;      /* NULL = system */
static LmdLicenseClockFunc clock_monotonic; /* NULL = system */
static gpointer clock_data;

void
lmd_license_clock_override (LmdLicenseClockFunc wall_us, LmdLicenseClockFunc monotonic_us,
                            gpointer user_data)
{
  g_mutex_lock (&clock_lock);
  clock_wall = wall_us;
  clock_monotonic = monotonic_us;
  clock_data = user_data;
  g_mutex_unlock (&clock_lock);
}

gint64
lmd_license_clock_wall_us (void)
{
  LmdLicenseClockFunc func;
  gpointer data;

  g_mutex_lock (&clock_lock);
  func = clock_wall;
  data = clock_data;
  g_mutex_unlock (&clock_lock);
  return func != NULL ? func (data) : g_get_real_time ();
}

gint64
lmd_license_clock_monotonic_us (void)
{
  LmdLicenseClockFunc func;
  gpointer data;

  g_mutex_lock (&clock_lock);
  func = clock_monotonic;
  data = clock_data;
  g_mutex_unlock (&clock_lock);
  return func != NULL ? func (data) : g_get_monotonic_time ();
}

gint64
lmd_license_clock_now (void)
{
  return lmd_license_clock_wall_us () / G_USEC_PER_SEC;
}
