/* SPDX-License-Identifier: MIT */
/* A plugin built for an API version the server does not speak: the loader must refuse it. */
#include "lmd-plugin.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = { LMD_PLUGIN_API_VERSION + 998, "wrong-version", "test", NULL };
  return &info;
}
