/* SPDX-License-Identifier: MIT */
/*
 * lmd-license.h — interface: authentication, limits and usage metering of requests.
 *
 * A transport asks admit() before it starts any work for a request, and calls complete()
 * exactly once for every ticket admit() returned, when the request has been answered.
 * admit() runs on the main context and must not block (no network I/O: an implementation
 * that talks to a license service does so in the background and answers from its cache).
 *
 * Errors of admit() (LMD_ERROR): INVALID_LICENSE (401: no key or an unknown key),
 * LICENSE_EXPIRED (403: the license has expired, or its grace period is over),
 * QUOTA_EXCEEDED (403: the daily audio quota is used up), RATE_LIMIT_EXCEEDED (429: requests
 * per minute or concurrent requests over the key's limit; *retry_after_s says when to retry),
 * SERVICE_UNAVAILABLE (503: the license could not be validated yet).
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LmdLicenseTicket LmdLicenseTicket; /* defined by each implementation */

typedef struct {
  gboolean license_valid;
  gint64 valid_until;          /* unix seconds; 0 = unknown */
  gboolean grace_period_active;
  gint64 grace_ends_at;        /* unix seconds; 0 when not in grace */
  gboolean development_mode;   /* loopback-only, no key configured */
  const char *licensee;        /* (nullable) borrowed until the next call */
} LmdLicenseStatus;

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
};

gboolean lmd_license_setup (LmdLicense *self, GKeyFile *config, GError **error);
LmdLicenseTicket *lmd_license_admit (LmdLicense *self, const char *api_key, const char *feature,
                                     const char *request_id, guint *retry_after_s, GError **error);
void lmd_license_complete (LmdLicense *self, LmdLicenseTicket *ticket, double audio_seconds,
                           guint status);
void lmd_license_get_status (LmdLicense *self, LmdLicenseStatus *status);

G_END_DECLS
