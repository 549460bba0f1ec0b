/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-limiter.c — token buckets, concurrency counters and daily quotas (see header).
 *
 * State is kept per client id and per quota id in two hash tables.  Their size is bounded by
 * the number of configured keys: only keys that passed authentication ever reach here.
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-limiter.h"

#include <math.h>

#include "lmd-error.h"
#include "lmd-license-clock.h"

#define SECONDS_PER_DAY 86400

typedef struct {
  double tokens;
  gint64 refilled_at;  /* monotonic µs; 0 = never */
  guint active;
} ClientState;

typedef struct {
  gint64 day;          /* UTC day of @seconds */
  double seconds;
} QuotaState;

struct _LmdLicenseLimiter {
  GMutex lock;
  GHashTable *clients; /* owned: id (owned) → ClientState (owned) */
  GHashTable *quotas;  /* owned: id (owned) → QuotaState (owned) */
};

LmdLicenseLimiter *
lmd_license_limiter_new (void)
{
  LmdLicenseLimiter *self = g_new0 (LmdLicenseLimiter, 1);

  g_mutex_init (&self->lock);
  self->clients = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->quotas = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

void
lmd_license_limiter_free (LmdLicenseLimiter *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->clients);
  g_hash_table_unref (self->quotas);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* called with the lock */
static ClientState *
client_state (LmdLicenseLimiter *self, const char *id)
{
  ClientState *c = g_hash_table_lookup (self->clients, id);

  if (c == NULL)
    {
      c = g_new0 (ClientState, 1);
      g_hash_table_insert (self->clients, g_strdup (id), c);
    }
  return c;
}

/* called with the lock; rolls the count over at UTC midnight */
static QuotaState *
quota_state (LmdLicenseLimiter *self, const char *id, gint64 today)
{
  QuotaState *q = g_hash_table_lookup (self->quotas, id);

  if (q == NULL)
    {
      q = g_new0 (QuotaState, 1);
      q->day = today;
      g_hash_table_insert (self->quotas, g_strdup (id), q);
    }
  if (q->day != today)
    {
      q->day = today;
      q->seconds = 0;
    }
  return q;
}

static void
refill (ClientState *c, gint64 rpm, gint64 now_us)
{
  if (c->refilled_at == 0)
    c->tokens = (double) rpm;
  else if (now_us > c->refilled_at)
    c->tokens = MIN ((double) rpm,
                     c->tokens + (double) (now_us - c->refilled_at) / G_USEC_PER_SEC * rpm / 60.0);
  c->refilled_at = now_us;
}

gboolean
lmd_license_limiter_acquire (LmdLicenseLimiter *self, const char *client_id,
                             const char *quota_id, const LmdLicenseLimits *limits,
                             guint *retry_after_s, GError **error)
{
  gint64 now = lmd_license_clock_now ();
  gint64 today = now / SECONDS_PER_DAY;
  ClientState *c;
  gboolean ok = FALSE;

  g_return_val_if_fail (self != NULL && client_id != NULL && limits != NULL, FALSE);
  *retry_after_s = 0;
  g_mutex_lock (&self->lock);
  if (limits->audio_hours_per_day > 0 && quota_id != NULL)
    {
      QuotaState *q = quota_state (self, quota_id, today);
      if (q->seconds >= limits->audio_hours_per_day * 3600.0)
        {
          *retry_after_s = (guint) MAX (1, (today + 1) * SECONDS_PER_DAY - now);
          g_set_error (error, LMD_ERROR, LMD_ERROR_QUOTA_EXCEEDED,
                       "the daily audio quota of %g hours is used up", limits->audio_hours_per_day);
          goto out;
        }
    }
  c = client_state (self, client_id);
  if (limits->concurrency > 0 && c->active >= limits->concurrency)
    {
      *retry_after_s = 1;
      g_set_error (error, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED,
                   "too many concurrent requests (limit %" G_GINT64_FORMAT ")",
                   limits->concurrency);
      goto out;
    }
  if (limits->rpm > 0)
    {
      refill (c, limits->rpm, lmd_license_clock_monotonic_us ());
      if (c->tokens < 1.0)
        {
          double wait = (1.0 - c->tokens) * 60.0 / (double) limits->rpm;
          *retry_after_s = (guint) MAX (1.0, ceil (wait - 1e-6)); /* no rounding up of float noise */
          g_set_error (error, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED,
                       "too many requests (limit %" G_GINT64_FORMAT " per minute)", limits->rpm);
          goto out;
        }
      c->tokens -= 1.0;
    }
  c->active++;
  ok = TRUE;
out:
  g_mutex_unlock (&self->lock);
  return ok;
}

void
lmd_license_limiter_release (LmdLicenseLimiter *self, const char *client_id,
                             const char *quota_id, double audio_seconds)
{
  ClientState *c;

  g_return_if_fail (self != NULL && client_id != NULL);
  g_mutex_lock (&self->lock);
  c = g_hash_table_lookup (self->clients, client_id);
  if (c != NULL && c->active > 0)
    c->active--;
  else
    g_warning ("license limiter: release without a matching acquire");
  if (quota_id != NULL && audio_seconds > 0 && isfinite (audio_seconds))
    quota_state (self, quota_id, lmd_license_clock_now () / SECONDS_PER_DAY)->seconds += audio_seconds;
  g_mutex_unlock (&self->lock);
}

double
lmd_license_limiter_get_audio_seconds (LmdLicenseLimiter *self, const char *quota_id)
{
  double seconds;

  g_mutex_lock (&self->lock);
  seconds = quota_state (self, quota_id, lmd_license_clock_now () / SECONDS_PER_DAY)->seconds;
  g_mutex_unlock (&self->lock);
  return seconds;
}

void
lmd_license_limiter_restore_audio_seconds (LmdLicenseLimiter *self, const char *quota_id,
                                           gint64 day, double seconds)
{
  gint64 today = lmd_license_clock_now () / SECONDS_PER_DAY;

  if (day != today || !(seconds > 0) || !isfinite (seconds))
    return;
  g_mutex_lock (&self->lock);
  quota_state (self, quota_id, today)->seconds = seconds;
  g_mutex_unlock (&self->lock);
}

guint
lmd_license_limiter_get_active (LmdLicenseLimiter *self, const char *client_id)
{
  ClientState *c;
  guint active;

  g_mutex_lock (&self->lock);
  c = g_hash_table_lookup (self->clients, client_id);
  active = c != NULL ? c->active : 0;
  g_mutex_unlock (&self->lock);
  return active;
}
