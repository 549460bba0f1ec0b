/* SPDX-License-Identifier: MIT */
#include "lmd-config.h"
#include "lmd-build-config.h"

#include <gio/gio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static gboolean
config_lookup (GKeyFile *config, const char *group, const char *key, char **value)
{
  *value = NULL;
  if (config == NULL || !g_key_file_has_key (config, group, key, NULL))
    return FALSE;
  *value = g_key_file_get_value (config, group, key, NULL);
  if (*value != NULL)
    g_strstrip (*value);
  return *value != NULL;
}

gboolean
lmd_config_get_int (GKeyFile *config, const char *group, const char *key, gint64 fallback,
                    gint64 *out, GError **error)
{
  g_autofree char *value = NULL;
  char *end = NULL;
  gint64 v;

  if (!config_lookup (config, group, key, &value) || value[0] == '\0')
    {
      *out = fallback;
      return TRUE;
    }
  errno = 0;
  v = g_ascii_strtoll (value, &end, 10);
  if (errno != 0 || end == value || *end != '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] %s: '%s' is not an integer", group, key, value);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

gboolean
lmd_config_get_double (GKeyFile *config, const char *group, const char *key, double fallback,
                       double *out, GError **error)
{
  g_autofree char *value = NULL;
  char *end = NULL;
  double v;

  if (!config_lookup (config, group, key, &value) || value[0] == '\0')
    {
      *out = fallback;
      return TRUE;
    }
  errno = 0;
  v = g_ascii_strtod (value, &end);
  if (errno != 0 || end == value || *end != '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] %s: '%s' is not a number", group, key, value);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

gboolean
lmd_parse_boolean (const char *text, gboolean *out)
{
  static const char *yes[] = { "true", "1", "yes", "on" };
  static const char *no[] = { "false", "0", "no", "off" };

  if (text == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (g_ascii_strcasecmp (text, yes[i]) == 0)
        {
          *out = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (text, no[i]) == 0)
        {
          *out = FALSE;
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
lmd_config_get_boolean (GKeyFile *config, const char *group, const char *key, gboolean fallback,
                        gboolean *out, GError **error)
{
  g_autofree char *value = NULL;

  if (!config_lookup (config, group, key, &value) || value[0] == '\0')
    {
      *out = fallback;
      return TRUE;
    }
  if (!lmd_parse_boolean (value, out))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] %s: '%s' is not a boolean", group, key, value);
      return FALSE;
    }
  return TRUE;
}

char *
lmd_config_get_string (GKeyFile *config, const char *group, const char *key, const char *fallback)
{
  char *value = NULL;

  if (!config_lookup (config, group, key, &value) || value[0] == '\0')
    {
      g_free (value);
      return g_strdup (fallback);
    }
  return value;
}

GStrv
lmd_config_get_list (GKeyFile *config, const char *group, const char *key)
{
  g_autofree char *value = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (config_lookup (config, group, key, &value))
    {
      g_auto (GStrv) parts = g_strsplit_set (value, ";,", -1);
      for (guint i = 0; parts[i] != NULL; i++)
        {
          g_strstrip (parts[i]);
          if (parts[i][0] != '\0')
            g_strv_builder_add (builder, parts[i]);
        }
    }
  return g_strv_builder_end (builder);
}

char *
lmd_config_executable_dir (void)
{
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);

  if (exe == NULL)
    return NULL;
  return g_path_get_dirname (exe);
}

gboolean
lmd_config_host_is_loopback (const char *host)
{
  g_autoptr (GInetAddress) addr = NULL;

  if (host == NULL || host[0] == '\0')
    return FALSE; /* "any address" */
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  addr = g_inet_address_new_from_string (host);
  if (addr == NULL)
    return FALSE;
  if (g_inet_address_get_family (addr) == G_SOCKET_FAMILY_IPV6)
    {
      /* ::ffff:127.x.y.z binds the IPv4 loopback through a dual-stack socket */
      static const guint8 mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
      const guint8 *b = g_inet_address_to_bytes (addr);
      if (memcmp (b, mapped, sizeof mapped) == 0)
        return b[12] == 127;
    }
  return g_inet_address_get_is_loopback (addr);
}

char *
lmd_config_find_default (void)
{
  g_autofree char *exe_dir = lmd_config_executable_dir ();
  const char *candidates[3] = { NULL };
  g_autofree char *from_exe = NULL;

  /* the source tree this binary was built from, then an installed tree */
  candidates[0] = LMD_SOURCE_DIR "/data/lightning-mediad.conf";
  candidates[1] = LMD_DATADIR "/lightning-mediad.conf";
  if (exe_dir != NULL)
    candidates[2] = from_exe = g_build_filename (exe_dir, "..", "share", "lightning-mediad",
                                                 "lightning-mediad.conf", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    if (candidates[i] != NULL && g_file_test (candidates[i], G_FILE_TEST_IS_REGULAR))
      return g_strdup (candidates[i]);
  return NULL;
}
