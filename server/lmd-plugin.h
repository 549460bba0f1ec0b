/* SPDX-License-Identifier: MIT */
/*
 * lmd-plugin.h — what a plugin module exports.
 *
 * A plugin is a GModule shared object named "liblmd-NAME.so".  It exports exactly one symbol,
 * LMD_PLUGIN_ENTRY ("lmd_plugin_describe"), returning a static LmdPluginInfo.  The loader checks
 * api_version before touching anything else, keeps the module resident (GTypes can never be
 * unregistered), and instantiates info->get_type() with g_object_new().  The type must
 * implement one of LmdTransport, LmdAudioDecoder, LmdEngine, LmdLicense, LmdState, LmdJobStore
 * or LmdLimitStore.
 *
 *   G_MODULE_EXPORT const LmdPluginInfo *
 *   lmd_plugin_describe (void)
 *   {
 *     static const LmdPluginInfo info = {
 *       LMD_PLUGIN_API_VERSION, "sphinx", "CMU Sphinx engine", lmd_sphinx_engine_get_type,
 *     };
 *     return &info;
 *   }
 */
#pragma once

#include <gmodule.h>
#include <glib-object.h>

G_BEGIN_DECLS

#define LMD_PLUGIN_API_VERSION 1u
#define LMD_PLUGIN_ENTRY "lmd_plugin_describe"

typedef struct {
  guint32 api_version;    /* LMD_PLUGIN_API_VERSION at the plugin's build */
  const char *name;       /* matches the file name: liblmd-<name>.so */
  const char *description;
  GType (*get_type) (void);
} LmdPluginInfo;

typedef const LmdPluginInfo *(*LmdPluginDescribeFunc) (void);

G_END_DECLS
