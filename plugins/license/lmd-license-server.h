/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-server.h — the "license-server" plugin: the license role's HTTP transport.
 *
 * Serves the process's license plugin (lmd_router_get_license) to api processes:
 *   GET  /health              {"status","license_valid","valid_until","grace_period_active",...}
 *   GET  /metrics             Prometheus text (license_* gauges and counters)
 *   POST /v1/license/admit    {"api_key","feature","request_id"} → {"ticket"} or an error
 *   POST /v1/license/complete {"id","ticket","key_sha256","feature","request_id",
 *                              "audio_seconds","status"} → {"recorded":true}
 * Errors are JSON {"error","code",...} as on the public API (docs/licensing.md).
 *
 * The internal API (/v1/license/...) needs "Authorization: Bearer <[license] service_token>"
 * whenever a token is configured; binding anything but loopback without one is refused at
 * start-up.  Keys travel in request bodies only and are never logged.  A ticket that is not
 * completed within [license] ticket_ttl_s (an api process that died) is completed with
 * status 0 and no audio, so that it does not hold a concurrency slot forever.  Completions
 * carry an id: one delivered twice (an answer lost on the way back) is recorded once.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define LMD_TYPE_LICENSE_SERVER (lmd_license_server_get_type ())
G_DECLARE_FINAL_TYPE (LmdLicenseServer, lmd_license_server, LMD, LICENSE_SERVER, GObject)

G_END_DECLS
