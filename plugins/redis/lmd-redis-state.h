/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-state.h — LmdState in Redis (plugin `redis`).
 *
 * Worker registry.  Each asr worker, at every heartbeat, writes
 *   SET  <prefix>worker:<url> <LmdWorkerInfo JSON> EX <worker_ttl_s>
 *   SADD <prefix>workers <url>
 * so a worker that dies (kill -9, lost host) disappears when its key expires; a clean
 * shutdown deletes both at once.  Each api process reads the registry every refresh_ms
 * (SMEMBERS, then MGET of the keys; members whose key expired are removed from the set) and
 * answers list_workers() from that copy, which it keeps while Redis is unreachable.
 *
 * Config [redis]: url (env REDIS_URL, redis://[:password@]host[:port][/db]), prefix ("lmd:"),
 * worker_ttl_s (5), refresh_ms (500), reconnect_max_ms (2000).
 */
#pragma once

#include "lmd-state.h"

G_BEGIN_DECLS

#define LMD_TYPE_REDIS_STATE (lmd_redis_state_get_type ())
G_DECLARE_FINAL_TYPE (LmdRedisState, lmd_redis_state, LMD, REDIS_STATE, GObject)

G_END_DECLS
