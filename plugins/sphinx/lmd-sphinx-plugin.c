/* SPDX-License-Identifier: MIT */
/*
 * lmd-sphinx-plugin.c — entry point of the "sphinx" plugin (liblmd-sphinx.so): the
 * PocketSphinx speech-recognition engine, LmdSphinxEngine.
 */
#include "lmd-plugin.h"
#include "lmd-sphinx-engine.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "sphinx", "CMU PocketSphinx engine (model sphinx-en-us)",
    lmd_sphinx_engine_get_type,
  };
  return &info;
}
