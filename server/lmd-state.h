/* SPDX-License-Identifier: MIT */
/*
 * lmd-state.h — interface: state shared between the processes of a deployment.
 *
 * For scale-out: asr workers publish themselves (URL, models, load) with a heartbeat, api
 * processes list the live ones to choose where each request goes.  Implementations:
 * LmdStaticState (server/, a fixed list of worker URLs probed for liveness, no shared store)
 * and the `redis` plugin (LmdRedisState: keys with a TTL in Redis).
 *
 * All methods run on the main context and never block on the network: list_workers()
 * answers from what the implementation last learnt in the background.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-worker-info.h"

G_BEGIN_DECLS

#define LMD_TYPE_STATE (lmd_state_get_type ())
G_DECLARE_INTERFACE (LmdState, lmd_state, LMD, STATE, GObject)

struct _LmdStateInterface {
  GTypeInterface parent_iface;

  /* Reads the config; FALSE stops start-up. Optional. */
  gboolean (*setup) (LmdState *self, GKeyFile *config, GError **error);
  /* Starts connecting / probing in the background. Optional. */
  void (*start) (LmdState *self);
  /* Publishes (or refreshes) this process as a worker; called at every heartbeat. Optional. */
  void (*publish_worker) (LmdState *self, const LmdWorkerInfo *info);
  /* Removes this process from the registry (clean shutdown); waits at most @timeout_ms for
   * the store to confirm.  Optional. */
  void (*withdraw_worker) (LmdState *self, const char *url, guint timeout_ms);
  /* (transfer full) (element-type LmdWorkerInfo) the workers believed live now. */
  GPtrArray *(*list_workers) (LmdState *self);
  /* "healthy", "unhealthy" (store unreachable) — for /health's "redis" component; NULL =
   * "disabled" (no shared store). Optional. */
  const char *(*get_store_health) (LmdState *self);
};

gboolean lmd_state_setup (LmdState *self, GKeyFile *config, GError **error);
void lmd_state_start (LmdState *self);
void lmd_state_publish_worker (LmdState *self, const LmdWorkerInfo *info);
void lmd_state_withdraw_worker (LmdState *self, const char *url, guint timeout_ms);
GPtrArray *lmd_state_list_workers (LmdState *self);
/* "healthy", "unhealthy" or "disabled" */
const char *lmd_state_get_store_health (LmdState *self);

G_END_DECLS
