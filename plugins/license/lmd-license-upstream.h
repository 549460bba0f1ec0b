/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-upstream.h — the client of the vendor's license server (libcurl, blocking).
 *
 * Two calls, both POST with a JSON body and "Authorization: Bearer <license key>":
 *
 *   POST <base>/v1/license/validate  {"key_id":"lic_..."}
 *     → {"valid":true, "revoked":false, "expires_at":1767225600,
 *        "limits":{"rpm":600,"concurrency":8,"audio_hours_per_day":24}, "message":"..."}
 *     Every member but "valid" is optional.  A 2xx or 4xx answer with such a body is an
 *     answer; anything else (no connection, timeout, 5xx, another body) means unreachable.
 *   POST <base>/v1/usage  {"key_id":"lic_...", "records":[...]}
 *     → any 2xx acknowledges every record of the batch.
 *
 * Only https URLs are accepted, unless allow_insecure (for tests and private networks).
 * Redirects are not followed.  Each call may take up to the connect timeout plus the request
 * timeout: run it on a worker thread, never on the main context.  The object is immutable
 * after creation and may be shared between threads.
 */
#pragma once

#include <glib.h>

#include "lmd-license-key.h"

G_BEGIN_DECLS

typedef struct _LmdLicenseUpstream LmdLicenseUpstream;

typedef struct {
  gboolean valid;
  gboolean revoked;
  gint64 expires_at;          /* 0 = not stated: the key's own expiry stands */
  gboolean has_limits;
  LmdLicenseLimits limits;    /* when has_limits: replaces the key's limits */
  char *message;              /* owned, nullable */
} LmdLicenseValidation;

void lmd_license_validation_clear (LmdLicenseValidation *v);

/* @base_url without a trailing "/v1/..."; @license_key is sent as the bearer credential. */
LmdLicenseUpstream *lmd_license_upstream_new (const char *base_url, gboolean allow_insecure,
                                              const char *license_key, GError **error);
LmdLicenseUpstream *lmd_license_upstream_ref (LmdLicenseUpstream *self);
void lmd_license_upstream_unref (LmdLicenseUpstream *self);

/* Blocking.  FALSE (G_IO_ERROR) when the server could not be reached or gave no answer. */
gboolean lmd_license_upstream_validate (LmdLicenseUpstream *self, const char *key_id,
                                        LmdLicenseValidation *out, GError **error);
/* Blocking.  TRUE when the server acknowledged the batch @body (a JSON document). */
gboolean lmd_license_upstream_post_usage (LmdLicenseUpstream *self, const char *body,
                                          GError **error);

/* Seconds to wait after @failures consecutive failed attempts (>= 1): @base doubled per
 * failure, at most @cap. */
guint lmd_license_backoff_delay (guint failures, guint base, guint cap);

const char *lmd_license_upstream_get_url (LmdLicenseUpstream *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLicenseUpstream, lmd_license_upstream_unref)

G_END_DECLS
