/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-limiter.h — request rate, concurrency and daily audio quota, per key.
 *
 * Three limits, checked in this order by acquire():
 *   - daily audio quota, per quota id (the license): the audio seconds of the current UTC day
 *     (by the license clock's wall time) may not exceed limits->audio_hours_per_day * 3600.
 *     Over it: LMD_ERROR_QUOTA_EXCEEDED, retry after the next UTC midnight.
 *   - concurrency, per client id (one API key): at most limits->concurrency tickets held at
 *     once.  Over it: LMD_ERROR_RATE_LIMIT_EXCEEDED, retry after 1 s.
 *   - rate, per client id: a token bucket holding up to limits->rpm tokens, refilled at
 *     rpm / 60 tokens per second of the license clock's monotonic time; each admitted request
 *     takes one.  Empty: LMD_ERROR_RATE_LIMIT_EXCEEDED, retry when the next token is due.
 * A limit of 0 is no limit.  A refused request takes nothing.  Every admitted request must be
 * matched by one release(), which also adds its audio seconds to the day's total.
 *
 * Thread-safe; never blocks on anything but its own mutex.
 */
#pragma once

#include <glib.h>

#include "lmd-license-key.h"

G_BEGIN_DECLS

typedef struct _LmdLicenseLimiter LmdLicenseLimiter;

LmdLicenseLimiter *lmd_license_limiter_new (void);
void lmd_license_limiter_free (LmdLicenseLimiter *self);

/* Admits one request of @client_id against @limits, or fails with LMD_ERROR and sets
 * *retry_after_s (seconds, >= 1). */
gboolean lmd_license_limiter_acquire (LmdLicenseLimiter *self, const char *client_id,
                                      const char *quota_id, const LmdLicenseLimits *limits,
                                      guint *retry_after_s, GError **error);
void lmd_license_limiter_release (LmdLicenseLimiter *self, const char *client_id,
                                  const char *quota_id, double audio_seconds);

/* Audio seconds used today by @quota_id. */
double lmd_license_limiter_get_audio_seconds (LmdLicenseLimiter *self, const char *quota_id);
/* Restores the count of UTC day @day (unix seconds / 86400), e.g. from disk after a restart;
 * ignored unless @day is today. */
void lmd_license_limiter_restore_audio_seconds (LmdLicenseLimiter *self, const char *quota_id,
                                                gint64 day, double seconds);
guint lmd_license_limiter_get_active (LmdLicenseLimiter *self, const char *client_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLicenseLimiter, lmd_license_limiter_free)

G_END_DECLS
