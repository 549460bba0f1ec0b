/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-clock.h — the one clock every licensing decision reads.
 *
 * Expiry, grace periods, rate limits and daily quotas all ask this clock, never the system
 * directly, so that tests can move time forwards without sleeping.  By default it is the
 * system's wall clock (g_get_real_time) and monotonic clock (g_get_monotonic_time).
 *
 * An override replaces both functions for the whole process; it is meant for tests.  The
 * functions may be called from any thread, so an override must be thread-safe.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Returns microseconds: since the Unix epoch (wall) or since an arbitrary point (monotonic). */
typedef gint64 (*LmdLicenseClockFunc) (gpointer user_data);

/* Replaces the clock; NULL functions restore the system clock. */
void lmd_license_clock_override (LmdLicenseClockFunc wall_us, LmdLicenseClockFunc monotonic_us,
                                 gpointer user_data);

gint64 lmd_license_clock_wall_us (void);
gint64 lmd_license_clock_monotonic_us (void);
/* Wall clock in whole Unix seconds. */
gint64 lmd_license_clock_now (void);

G_END_DECLS
