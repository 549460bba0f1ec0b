/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-limits-plugin.c — entry point of the "redis-limits" plugin
 * (liblmd-redis-limits.so): per-key rate, concurrency and quota limits shared through Redis,
 * LmdRedisLimitStore.
 */
#include "lmd-plugin.h"
#include "lmd-redis-limit-store.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "redis-limits",
    "Per-key request limits and daily quotas shared through Redis ([redis] url)",
    lmd_redis_limit_store_get_type,
  };
  return &info;
}
