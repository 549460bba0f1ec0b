/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-jobs-plugin.c — entry point of the "redis-jobs" plugin (liblmd-redis-jobs.so):
 * asynchronous jobs shared through Redis, LmdRedisJobStore.
 */
#include "lmd-plugin.h"
#include "lmd-redis-job-store.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "redis-jobs", "Asynchronous jobs in a Redis stream ([redis] url)",
    lmd_redis_job_store_get_type,
  };
  return &info;
}
