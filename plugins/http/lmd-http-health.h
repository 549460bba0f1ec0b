/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-health.h — GET /health, /api/v1/health (?detailed) and /healthz (docs/api.md).
 *
 * The transport passes what only it knows (its role, and for role api how many workers are
 * live); the rest comes from the router (engines, license, state, queues).
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-engine.h"
#include "lmd-router.h"

G_BEGIN_DECLS

typedef struct {
  LmdRouter *router;     /* borrowed */
  const char *role;      /* "all", "api" or "asr" */
  gboolean forwards;     /* role api */
  guint workers_live;    /* role api: workers it can use */
  double uptime_s;
} LmdHttpHealthInput;

/* Sets the answer of a GET to @path ("/healthz", "/health", "/api/v1/health"). */
void lmd_http_health_respond (SoupServerMessage *msg, const char *path, GHashTable *query,
                              const LmdHttpHealthInput *input);

/* What this process's engines compute on: the first GPU an engine names (else the first
 * engine's device, "cpu" without engines), the most device memory one of them reports (the
 * engines of one backend share the device's weights and report the same total), and their
 * decoder steps by batch size added up.  Free device->name. */
void lmd_http_health_engines_device (LmdRouter *router, LmdEngineDevice *device);

G_END_DECLS
