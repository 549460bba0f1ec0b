/* SPDX-License-Identifier: MIT */
/* The `redis` plugin: state shared through Redis (see lmd-redis-state.h). */
#include "lmd-plugin.h"
#include "lmd-redis-state.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "redis", "State in Redis (hiredis): worker registry for scale-out",
    lmd_redis_state_get_type,
  };
  return &info;
}
