/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-service.h — the "license" plugin: LmdLicense with offline-verifiable keys,
 * an optional upstream license server, usage metering and per-key limits.
 *
 * Config, group [license]:
 *   key                      the license key (LICENSE_KEY is mapped here by the daemon)
 *   public_keys              trusted vendor public key files (';' or ',' separated); the
 *                            environment variable LICENSE_PUBLIC_KEYS adds more (',' separated)
 *   api_keys_sha256          extra API keys, each as the hex SHA-256 of the key
 *   upstream_url             the vendor's license server (https), optional
 *   allow_insecure_upstream  accept an http upstream_url (default false)
 *   state_dir                where the validation cache, usage journal and quota live
 *                            (default $XDG_STATE_HOME/lightning-mediad/license)
 *   flush_interval_s         usage upload interval (300)
 *   grace_period_s           how long after the last good validation the service keeps
 *                            serving while the upstream is unreachable (86400)
 *   validate_interval_s      re-validation interval (3600; at most half the grace period)
 * and [server] host: with no key configured and a loopback host, the service runs in
 * development mode and admits every request (unless api_keys_sha256 is set: then only those).
 *
 * Limits: counted in this process (LmdLicenseLimiter), or, when the daemon hands it a limit
 * store (set_limit_store: the redis-limits plugin), in that store, shared with every process
 * that uses it; admit_async() then waits for the store.  While the store is unreachable the
 * service admits with its own limiter (fails open), logs it once per outage and reports it in
 * get_status() (limits_shared FALSE, limits_local_admissions); the synchronous admit() (for
 * in-process callers; every transport admits asynchronously) counts in this process only.
 *
 * Everything here runs on the main context the service was set up on, except the upstream
 * calls, which run on GTask worker threads and report back to that context.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define LMD_TYPE_LICENSE_SERVICE (lmd_license_service_get_type ())
G_DECLARE_FINAL_TYPE (LmdLicenseService, lmd_license_service, LMD, LICENSE_SERVICE, GObject)

/* Starts a validation with the upstream now, unless one is running (no-op without upstream). */
void lmd_license_service_revalidate (LmdLicenseService *self);
/* Starts uploading pending usage records now, unless an upload is running. */
void lmd_license_service_flush_usage (LmdLicenseService *self);
/* Whether a validation or an upload is in flight. */
gboolean lmd_license_service_is_busy (LmdLicenseService *self);
/* Consecutive failed uploads (0 after a success). */
guint lmd_license_service_get_flush_failures (LmdLicenseService *self);

G_END_DECLS
