/* SPDX-License-Identifier: MIT */
/*
 * lmd-plugin-loader.h — finds, opens and instantiates plugins.
 *
 * Search path, first match wins:
 *   1. each directory of $LMD_PLUGIN_PATH (':'-separated);
 *   2. the directories given to lmd_plugin_loader_new() (the config's [server] plugin_dir);
 *   3. <executable dir>/../plugins (the build tree) and <executable dir>/../lib/lightning-mediad/plugins
 *      (an installed tree), so the daemon runs from either without extra environment.
 * In each directory the loader tries "liblmd-NAME.so" and "NAME/liblmd-NAME.so", and for a
 * name with a dash, "FAMILY/liblmd-NAME.so" (FAMILY: the part before the first dash).
 *
 * Every failure names the plugin, the file and the reason: not found (with the directories
 * searched), can't open (the dynamic loader's message), no entry point, wrong API version,
 * name mismatch, or a type that implements none of the plugin interfaces.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define LMD_PLUGIN_ERROR (lmd_plugin_error_quark ())
GQuark lmd_plugin_error_quark (void);

typedef enum {
  LMD_PLUGIN_ERROR_NOT_FOUND,
  LMD_PLUGIN_ERROR_OPEN,
  LMD_PLUGIN_ERROR_NO_ENTRY,
  LMD_PLUGIN_ERROR_VERSION,
  LMD_PLUGIN_ERROR_BAD_TYPE,
} LmdPluginError;

typedef struct _LmdPluginLoader LmdPluginLoader;

/* @extra_dirs: (nullable) more directories to search before the built-in ones */
LmdPluginLoader *lmd_plugin_loader_new (const char *const *extra_dirs);
void lmd_plugin_loader_free (LmdPluginLoader *self);

/* (transfer full) the path that would be loaded for @name, or NULL with @error set */
char *lmd_plugin_loader_find (LmdPluginLoader *self, const char *name, GError **error);

/* Opens the plugin @name and returns a new instance of its type (transfer full). */
GObject *lmd_plugin_loader_load (LmdPluginLoader *self, const char *name, GError **error);

/* (transfer none) the search directories, in order */
const char *const *lmd_plugin_loader_get_dirs (LmdPluginLoader *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdPluginLoader, lmd_plugin_loader_free)

G_END_DECLS
