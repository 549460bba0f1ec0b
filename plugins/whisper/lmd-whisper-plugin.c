/* SPDX-License-Identifier: MIT */
/* The whisper engine plugin's entry point. */
#include "lmd-plugin.h"
#include "lmd-whisper-engine.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "whisper", "Whisper-architecture engine for ggml models",
    lmd_whisper_engine_get_type,
  };
  return &info;
}
