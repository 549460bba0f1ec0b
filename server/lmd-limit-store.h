/* SPDX-License-Identifier: MIT */
/*
 * lmd-limit-store.h — interface: per-key request limits counted in a store that several
 * processes share.
 *
 * The license plugin counts its three limits (requests per minute and concurrent requests
 * per client id, audio seconds per day per quota id) in process memory.  When several
 * processes enforce limits for the same keys (several `--role all` servers, several api
 * processes with the in-process license plugin, license-role replicas behind a balancer),
 * a limit store makes them one limit per key: every process asks the store, which decides
 * atomically.  Implementation: the `redis-limits` plugin (LmdRedisLimitStore).
 *
 * Semantics are those of the process-local limiter (plugins/license/lmd-license-limiter.h):
 * checked in the order quota, concurrency, rate; a limit of 0 is no limit; a refused request
 * takes nothing; every admitted ticket is matched by one release(), which adds its audio
 * seconds to the quota of the current UTC day (the store's clock, not the process's).
 *
 * Concurrency tickets are leases: the store keeps a ticket for [redis] limits_lease_s and the
 * implementation renews the tickets of its process while they are held, so the slots of a
 * process that died (kill -9) free themselves after at most one lease.
 *
 * Everything runs on the main context the store was set up on and never blocks.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The limits of one admission (a copy of the key's limits). */
typedef struct {
  gint64 rpm;                 /* requests per minute per client id; 0 = no limit */
  gint64 concurrency;         /* concurrent tickets per client id; 0 = no limit */
  double audio_hours_per_day; /* per quota id, per UTC day; 0 = no limit */
} LmdLimitStoreLimits;

#define LMD_TYPE_LIMIT_STORE (lmd_limit_store_get_type ())
G_DECLARE_INTERFACE (LmdLimitStore, lmd_limit_store, LMD, LIMIT_STORE, GObject)

struct _LmdLimitStoreInterface {
  GTypeInterface parent_iface;

  /* Reads the config; FALSE stops start-up. Optional. */
  gboolean (*setup) (LmdLimitStore *self, GKeyFile *config, GError **error);
  /* Starts connecting in the background. Optional. */
  void (*start) (LmdLimitStore *self);
  /* Whether acquire() can be answered by the store now (e.g. connected). */
  gboolean (*is_available) (LmdLimitStore *self);
  /* Admits one request of @client_id holding @ticket_id, or refuses it.  Errors (LMD_ERROR):
   * QUOTA_EXCEEDED (retry after the next UTC midnight), RATE_LIMIT_EXCEEDED (retry after
   * 1 s or when the next token is due), SERVICE_UNAVAILABLE (the store could not answer:
   * the caller decides with its own limiter). */
  void (*acquire_async) (LmdLimitStore *self, const char *client_id, const char *quota_id,
                         const LmdLimitStoreLimits *limits, const char *ticket_id,
                         GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data);
  /* *retry_after_s: seconds (>= 1) when refused; *audio_seconds_today: the day's audio
   * seconds of @quota_id as the store counted them (when the store knew; else -1). */
  gboolean (*acquire_finish) (LmdLimitStore *self, GAsyncResult *result, guint *retry_after_s,
                              double *audio_seconds_today, GError **error);
  /* Gives back @ticket_id and adds @audio_seconds to @quota_id's day.  Never fails: what
   * cannot reach the store now is sent when it is reachable again (audio seconds) or expires
   * with its lease (the ticket). */
  void (*release) (LmdLimitStore *self, const char *client_id, const char *quota_id,
                   const char *ticket_id, double audio_seconds);
  /* "redis": for logs, health and metrics. */
  const char *(*get_name) (LmdLimitStore *self);
};

gboolean lmd_limit_store_setup (LmdLimitStore *self, GKeyFile *config, GError **error);
void lmd_limit_store_start (LmdLimitStore *self);
gboolean lmd_limit_store_is_available (LmdLimitStore *self);
void lmd_limit_store_acquire_async (LmdLimitStore *self, const char *client_id,
                                    const char *quota_id, const LmdLimitStoreLimits *limits,
                                    const char *ticket_id, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
/* @retry_after_s and @audio_seconds_today are nullable */
gboolean lmd_limit_store_acquire_finish (LmdLimitStore *self, GAsyncResult *result,
                                         guint *retry_after_s, double *audio_seconds_today,
                                         GError **error);
void lmd_limit_store_release (LmdLimitStore *self, const char *client_id, const char *quota_id,
                              const char *ticket_id, double audio_seconds);
const char *lmd_limit_store_get_name (LmdLimitStore *self);

G_END_DECLS
