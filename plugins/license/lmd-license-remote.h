/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-remote.h — the "license-remote" plugin: LmdLicense for a process that does not
 * own the license, asking the license role (lightning-mediad --role license) over HTTP.
 *
 * Configuration ([license]):
 *   service_url          the license role, e.g. http://license-host:6699 (env API_BASE_URL)
 *   service_token        shared secret sent as "Authorization: Bearer" (env LICENSE_SERVICE_TOKEN)
 *   cache_ttl_s          how long a key's last admission counts while the service is
 *                        unreachable (default 30, 1..3600)
 *   service_timeout_s    one request to the service (default 2)
 *   health_interval_s    how often /health of the service is polled (default 5)
 *
 * Admission.  admit_async() asks POST /v1/license/admit for every request: the service alone
 * counts the rate, concurrency and quota limits, over every api process.  Its refusals (401,
 * 403, 429 and its own 503) are passed on as they are.  When the service cannot be reached
 * (connection refused, no answer within service_timeout_s, a 5xx that is not its own JSON
 * error), a key that the service admitted for the same feature within cache_ttl_s is
 * admitted locally, and any other key gets 503 SERVICE_UNAVAILABLE with retry_after.  For
 * two seconds after a failure the service is not asked again, so that a stalled service
 * costs one timeout, not one per request.  The synchronous admit() answers only from that
 * cache.  Cached keys are looked up by their SHA-256, compared with sodium_memcmp against
 * every entry; keys are never logged (a short hash prefix is).
 *
 * Usage.  complete() queues {"id", "ticket", "key_sha256", "feature", "request_id",
 * "audio_seconds", "status"} for POST /v1/license/complete and sends the queue in order; a
 * completion that cannot be delivered stays queued and is retried (1 s doubling to 15 s, and
 * at once when a health poll finds the service back).  The service records a completion
 * without a known ticket (locally admitted, or issued before a restart) by its key hash, and
 * ignores an id it has already recorded.  The queue lives in memory: at exit the plugin tries
 * once more to deliver it, and logs what it could not.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define LMD_TYPE_LICENSE_REMOTE (lmd_license_remote_get_type ())
G_DECLARE_FINAL_TYPE (LmdLicenseRemote, lmd_license_remote, LMD, LICENSE_REMOTE, GObject)

G_END_DECLS
