/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-limit-store.h — LmdLimitStore in Redis (plugin `redis-limits`).
 *
 * Keys (prefix from [redis] prefix, default "lmd:"):
 *   <prefix>limits:rate:<client id>          hash {tokens, at}: the token bucket; at = ms of
 *                                            Redis's clock; expires 61 s after its last use
 *                                            (an absent bucket is a full one)
 *   <prefix>limits:active:<client id>        sorted set: ticket id → lease end (ms, Redis's
 *                                            clock); expires after two leases without renewal
 *   <prefix>limits:audio:<quota id>:<day>    audio seconds of UTC day <day> (unix s / 86400 by
 *                                            Redis's clock); INCRBYFLOAT; expires after 2 days
 *
 * Each admission and each release is one Lua script (EVALSHA, EVAL when Redis answers
 * NOSCRIPT) that reads Redis's TIME, so the clocks of the processes do not matter and no two
 * processes can both take the last token or slot.  The tickets this process holds are renewed
 * every lease / 3; a process that dies stops renewing and its tickets lapse after at most one
 * lease.
 *
 * While Redis cannot be reached, acquire() answers SERVICE_UNAVAILABLE at once (or after
 * [redis] limits_timeout_ms when Redis accepts the command and does not answer): the caller
 * then counts in its own memory.  Audio seconds released meanwhile are kept (per quota id,
 * for the current day) and added when the connection is back.
 *
 * Config [redis]: url (env REDIS_URL), prefix ("lmd:"), reconnect_max_ms (2000),
 * limits_lease_s (30, 1..3600), limits_timeout_ms (1000, 10..60000).
 */
#pragma once

#include "lmd-limit-store.h"

G_BEGIN_DECLS

#define LMD_TYPE_REDIS_LIMIT_STORE (lmd_redis_limit_store_get_type ())
G_DECLARE_FINAL_TYPE (LmdRedisLimitStore, lmd_redis_limit_store, LMD, REDIS_LIMIT_STORE, GObject)

G_END_DECLS
