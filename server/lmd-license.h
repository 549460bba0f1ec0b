/* SPDX-License-Identifier: MIT */
/*
 * lmd-license.h — interface: authentication, limits and usage metering of requests.
 *
 * A transport asks admit() before it starts any work for a request, and calls complete()
 * exactly once for every ticket admit() returned, when the request has been answered.
 * Everything runs on the main context and must not block.
 *
 * Asynchronous admission.  An implementation that owns its state (the "license" plugin
 * without a limit store) answers admit() at once.  One that counts its limits in a store
 * shared with other processes (the "license" plugin with redis-limits, see
 * lmd-limit-store.h), or asks a license service in another process
 * ("license-remote"), cannot: every admission has to reach the store or the service, which
 * alone counts the per-key limits over all processes.  So the interface has an
 * optional admit_async()/admit_finish() pair; transports call lmd_license_admit_async(), which
 * falls back to the synchronous admit() (answering on the next main-loop iteration) for
 * implementations without it.  The transports pause the HTTP message (or hold the WebSocket
 * frames) while the answer is on its way.  The synchronous admit() stays for in-process
 * callers; the remote implementation answers it from its cache of recent admissions only.
 * An answer from a cache alone was rejected as the main path: it would let each api process
 * admit up to the whole limit on its own.
 *
 * Usage recorded elsewhere: record_usage() (optional) takes the usage of a request that a
 * client of this service admitted itself while it could not reach it, identified by the
 * SHA-256 of the key (never the key), so that the usage is not lost.
 *
 * Errors of admit() (LMD_ERROR): INVALID_LICENSE (401: no key or an unknown key),
 * LICENSE_EXPIRED (403: the license has expired, or its grace period is over),
 * QUOTA_EXCEEDED (403: the daily audio quota is used up), RATE_LIMIT_EXCEEDED (429: requests
 * per minute or concurrent requests over the key's limit; *retry_after_s says when to retry),
 * SERVICE_UNAVAILABLE (503: the license could not be validated yet).
 */
#pragma once

#include <gio/gio.h>

#include "lmd-limit-store.h"

G_BEGIN_DECLS

typedef struct _LmdLicenseTicket LmdLicenseTicket; /* defined by each implementation */

typedef struct {
  gboolean license_valid;
  gint64 valid_until;          /* unix seconds; 0 = unknown */
  gboolean grace_period_active;
  gint64 grace_ends_at;        /* unix seconds; 0 when not in grace */
  gboolean development_mode;   /* loopback-only, no key configured */
  const char *licensee;        /* (nullable) borrowed until the next call */
  guint64 usage_pending_bytes; /* usage journal not yet delivered upstream */
  gboolean service_reachable;  /* remote implementations: the license service answers */
  /* Where the per-key limits are counted: NULL = in this process only (no limit store);
   * else the limit store's name ("redis"), with limits_shared FALSE while it is unreachable
   * and this process counts on its own (static strings) */
  const char *limits_store;
  gboolean limits_shared;
  guint64 limits_local_admissions; /* admissions decided locally because the store was unreachable */
} LmdLicenseStatus;

#define LMD_LICENSE_KEY_HASH_BYTES 32 /* SHA-256 */

#define LMD_TYPE_LICENSE (lmd_license_get_type ())
G_DECLARE_INTERFACE (LmdLicense, lmd_license, LMD, LICENSE, GObject)

struct _LmdLicenseInterface {
  GTypeInterface parent_iface;

  /* Reads [license] and validates the configured key; FALSE stops start-up. */
  gboolean (*setup) (LmdLicense *self, GKeyFile *config, GError **error);
  /* @api_key: the key from "Authorization: Token|Bearer <key>" or ?token= (nullable);
   * @feature: "batch", "streaming", ... */
  LmdLicenseTicket *(*admit) (LmdLicense *self, const char *api_key, const char *feature,
                              const char *request_id, guint *retry_after_s, GError **error);
  /* Releases a ticket and records usage: seconds of audio processed, the HTTP status sent. */
  void (*complete) (LmdLicense *self, LmdLicenseTicket *ticket, double audio_seconds, guint status);
  void (*get_status) (LmdLicense *self, LmdLicenseStatus *status);

  /* Optional (both or neither): admission that may wait for another process.  The callback
   * runs on the caller's thread-default main context. */
  void (*admit_async) (LmdLicense *self, const char *api_key, const char *feature,
                       const char *request_id, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data);
  LmdLicenseTicket *(*admit_finish) (LmdLicense *self, GAsyncResult *result,
                                     guint *retry_after_s, GError **error);
  /* Optional: records usage of a request admitted without a ticket of this service.
   * INVALID_LICENSE when @key_sha256 is no configured key's hash. */
  gboolean (*record_usage) (LmdLicense *self, const guint8 *key_sha256, const char *feature,
                            const char *request_id, double audio_seconds, guint status,
                            GError **error);
  /* Optional: whether an admitted request may also use @feature (e.g. "whisper", known only
   * once the request is parsed).  Without it, everything is allowed. */
  gboolean (*allows) (LmdLicense *self, LmdLicenseTicket *ticket, const char *feature);
  /* Optional: count the per-key limits in @store (shared with other processes) instead of
   * this process's memory; called once, after setup(), before any admission. */
  void (*set_limit_store) (LmdLicense *self, LmdLimitStore *store);
};

/* The features a transport asks about; a license names any of them (none = all). */
#define LMD_LICENSE_KNOWN_FEATURES { "batch", "streaming", "whisper", "gpu", NULL }

gboolean lmd_license_setup (LmdLicense *self, GKeyFile *config, GError **error);
LmdLicenseTicket *lmd_license_admit (LmdLicense *self, const char *api_key, const char *feature,
                                     const char *request_id, guint *retry_after_s, GError **error);
void lmd_license_complete (LmdLicense *self, LmdLicenseTicket *ticket, double audio_seconds,
                           guint status);
void lmd_license_get_status (LmdLicense *self, LmdLicenseStatus *status);
/* @api_key is copied at once; the caller may wipe it when this returns. */
void lmd_license_admit_async (LmdLicense *self, const char *api_key, const char *feature,
                              const char *request_id, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
/* (transfer full) (nullable) the ticket, or NULL with @error set and *retry_after_s filled */
LmdLicenseTicket *lmd_license_admit_finish (LmdLicense *self, GAsyncResult *result,
                                            guint *retry_after_s, GError **error);
/* Whether the request of @ticket (nullable: no license loaded → TRUE) may use @feature. */
gboolean lmd_license_allows (LmdLicense *self, LmdLicenseTicket *ticket, const char *feature);
/* FALSE with G_IO_ERROR_NOT_SUPPORTED when the implementation cannot record usage this way. */
gboolean lmd_license_record_usage (LmdLicense *self, const guint8 *key_sha256, const char *feature,
                                   const char *request_id, double audio_seconds, guint status,
                                   GError **error);
/* FALSE when the implementation counts no limits of its own (it takes no store). */
gboolean lmd_license_set_limit_store (LmdLicense *self, LmdLimitStore *store);

G_END_DECLS
