/* SPDX-License-Identifier: MIT */
#include "lmd-plugin-loader.h"

#include <gmodule.h>
#include <string.h>

#include "lmd-audio-decoder.h"
#include "lmd-config.h"
#include "lmd-engine.h"
#include "lmd-job-store.h"
#include "lmd-license.h"
#include "lmd-limit-store.h"
#include "lmd-plugin.h"
#include "lmd-state.h"
#include "lmd-transport.h"

G_DEFINE_QUARK (lmd-plugin-error-quark, lmd_plugin_error)

struct _LmdPluginLoader {
  GStrv dirs; /* owned */
};

LmdPluginLoader *
lmd_plugin_loader_new (const char *const *extra_dirs)
{
  LmdPluginLoader *self = g_new0 (LmdPluginLoader, 1);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  const char *env = g_getenv ("LMD_PLUGIN_PATH");
  g_autofree char *exe_dir = lmd_config_executable_dir ();

  if (env != NULL && env[0] != '\0')
    {
      g_auto (GStrv) parts = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
      for (guint i = 0; parts[i] != NULL; i++)
        if (parts[i][0] != '\0')
          g_strv_builder_add (builder, parts[i]);
    }
  for (guint i = 0; extra_dirs != NULL && extra_dirs[i] != NULL; i++)
    g_strv_builder_add (builder, extra_dirs[i]);
  if (exe_dir != NULL)
    {
      g_autofree char *build_tree = g_build_filename (exe_dir, "..", "plugins", NULL);
      g_autofree char *installed =
          g_build_filename (exe_dir, "..", "lib", "lightning-mediad", "plugins", NULL);
      g_strv_builder_add (builder, build_tree);
      g_strv_builder_add (builder, installed);
    }
  self->dirs = g_strv_builder_end (builder);
  return self;
}

void
lmd_plugin_loader_free (LmdPluginLoader *self)
{
  if (self == NULL)
    return;
  g_strfreev (self->dirs);
  g_free (self);
}

const char *const *
lmd_plugin_loader_get_dirs (LmdPluginLoader *self)
{
  return (const char *const *) self->dirs;
}

static gboolean
plugin_name_is_valid (const char *name)
{
  if (name == NULL || name[0] == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

char *
lmd_plugin_loader_find (LmdPluginLoader *self, const char *name, GError **error)
{
  g_autofree char *file = NULL;
  g_autofree char *searched = NULL;

  if (!plugin_name_is_valid (name))
    {
      g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_NOT_FOUND,
                   "plugin '%s': invalid name (letters, digits, '-' and '_' only)",
                   name != NULL ? name : "");
      return NULL;
    }
  file = g_strdup_printf ("liblmd-%s.so", name);
  for (guint i = 0; self->dirs[i] != NULL; i++)
    {
      g_autofree char *direct = g_build_filename (self->dirs[i], file, NULL);
      g_autofree char *nested = g_build_filename (self->dirs[i], name, file, NULL);

      if (g_file_test (direct, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&direct);
      if (g_file_test (nested, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&nested);
      /* "family-part" plugins are built in their family's directory (license-server in
       * license/, redis-jobs in redis/) */
      if (strchr (name, '-') != NULL)
        {
          g_autofree char *family = g_strndup (name, strcspn (name, "-"));
          g_autofree char *in_family = g_build_filename (self->dirs[i], family, file, NULL);
          if (g_file_test (in_family, G_FILE_TEST_IS_REGULAR))
            return g_steal_pointer (&in_family);
        }
    }
  searched = g_strjoinv (", ", self->dirs);
  g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_NOT_FOUND,
               "plugin '%s': %s not found (searched: %s; set LMD_PLUGIN_PATH to add directories)",
               name, file, searched);
  return NULL;
}

GObject *
lmd_plugin_loader_load (LmdPluginLoader *self, const char *name, GError **error)
{
  g_autofree char *path = lmd_plugin_loader_find (self, name, error);
  GModule *module;
  LmdPluginDescribeFunc describe = NULL;
  const LmdPluginInfo *info;
  GType type;

  if (path == NULL)
    return NULL;
  module = g_module_open (path, G_MODULE_BIND_LOCAL);
  if (module == NULL)
    {
      g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_OPEN, "plugin '%s': cannot open %s: %s",
                   name, path, g_module_error ());
      return NULL;
    }
  if (!g_module_symbol (module, LMD_PLUGIN_ENTRY, (gpointer *) &describe) || describe == NULL)
    {
      g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_NO_ENTRY,
                   "plugin '%s': %s has no entry point '%s'", name, path, LMD_PLUGIN_ENTRY);
      g_module_close (module);
      return NULL;
    }
  info = describe ();
  if (info == NULL || info->api_version != LMD_PLUGIN_API_VERSION)
    {
      g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_VERSION,
                   "plugin '%s': %s was built for plugin API %u, this server speaks %u", name, path,
                   info != NULL ? info->api_version : 0, LMD_PLUGIN_API_VERSION);
      g_module_close (module);
      return NULL;
    }
  if (info->name == NULL || !g_str_equal (info->name, name) || info->get_type == NULL)
    {
      g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_BAD_TYPE,
                   "plugin '%s': %s describes itself as '%s'", name, path,
                   info->name != NULL ? info->name : "(null)");
      g_module_close (module);
      return NULL;
    }
  /* From here on the module's types are registered: it must never be unloaded. */
  g_module_make_resident (module);
  type = info->get_type ();
  if (!g_type_is_a (type, LMD_TYPE_TRANSPORT) && !g_type_is_a (type, LMD_TYPE_AUDIO_DECODER) &&
      !g_type_is_a (type, LMD_TYPE_ENGINE) && !g_type_is_a (type, LMD_TYPE_LICENSE) &&
      !g_type_is_a (type, LMD_TYPE_STATE) && !g_type_is_a (type, LMD_TYPE_JOB_STORE) &&
      !g_type_is_a (type, LMD_TYPE_LIMIT_STORE))
    {
      g_set_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_BAD_TYPE,
                   "plugin '%s': %s: type %s implements no plugin interface "
                   "(transport, audio decoder, engine, license, state, job store or limit store)",
                   name, path, g_type_name (type));
      return NULL;
    }
  g_debug ("plugin '%s' loaded from %s (%s)", name, path, g_type_name (type));
  return g_object_new (type, NULL);
}
