/* SPDX-License-Identifier: MIT */
#include "lmd-wyoming-config.h"

#include <string.h>

#include "lmd-config.h"

#define GROUP "wyoming"

gboolean
lmd_wyoming_config_load (LmdWyomingConfig *self, GKeyFile *key_file, GError **error)
{
  gint64 port, max_connections, idle, header, data, payload;
  gboolean streaming, zeroconf;

  if (!lmd_config_get_int (key_file, GROUP, "port", 10300, &port, error) ||
      !lmd_config_get_int (key_file, GROUP, "max_connections", 100, &max_connections, error) ||
      !lmd_config_get_int (key_file, GROUP, "idle_timeout_s", 30, &idle, error) ||
      !lmd_config_get_int (key_file, GROUP, "max_header_bytes", 65536, &header, error) ||
      !lmd_config_get_int (key_file, GROUP, "max_data_bytes", 65536, &data, error) ||
      !lmd_config_get_int (key_file, GROUP, "max_payload_bytes", 1048576, &payload, error) ||
      !lmd_config_get_boolean (key_file, GROUP, "streaming", FALSE, &streaming, error) ||
      !lmd_config_get_boolean (key_file, GROUP, "zeroconf", FALSE, &zeroconf, error))
    return FALSE;
#define CHECK_RANGE(key, value, lo, hi)                                                        \
  if (!((value) >= (lo) && (value) <= (hi)))                                                   \
    {                                                                                          \
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,                    \
                   "config [" GROUP "] " key ": out of range (%" G_GINT64_FORMAT " to %"       \
                   G_GINT64_FORMAT ")", (gint64) (lo), (gint64) (hi));                         \
      return FALSE;                                                                            \
    }
  CHECK_RANGE ("port", port, 0, 65535);
  CHECK_RANGE ("max_connections", max_connections, 1, 100000);
  CHECK_RANGE ("idle_timeout_s", idle, 1, 86400);
  CHECK_RANGE ("max_header_bytes", header, 256, 16 * 1024 * 1024);
  CHECK_RANGE ("max_data_bytes", data, 0, 16 * 1024 * 1024);
  CHECK_RANGE ("max_payload_bytes", payload, 1024, 64 * 1024 * 1024);
#undef CHECK_RANGE
  lmd_wyoming_config_clear (self);
  self->host = lmd_config_get_string (key_file, GROUP, "host", "127.0.0.1");
  self->port = (guint) port;
  self->max_connections = (guint) max_connections;
  self->idle_timeout_s = (guint) idle;
  self->bounds.max_header_bytes = (gsize) header;
  self->bounds.max_data_bytes = (gsize) data;
  self->bounds.max_payload_bytes = (gsize) payload;
  self->api_key = lmd_config_get_string (key_file, GROUP, "api_key", NULL);
  if (self->api_key != NULL && self->api_key[0] == '\0')
    g_clear_pointer (&self->api_key, g_free);
  self->streaming = streaming;
  self->zeroconf = zeroconf;
  self->zeroconf_name = lmd_config_get_string (key_file, GROUP, "zeroconf_name", "lightning-mediad");
  if (self->zeroconf_name[0] == '\0' || strlen (self->zeroconf_name) > 63 ||
      !g_utf8_validate (self->zeroconf_name, -1, NULL))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" GROUP "] zeroconf_name: 1 to 63 bytes of UTF-8");
      return FALSE;
    }
  return TRUE;
}

void
lmd_wyoming_config_copy (LmdWyomingConfig *dest, const LmdWyomingConfig *src)
{
  *dest = *src;
  dest->host = g_strdup (src->host);
  dest->api_key = g_strdup (src->api_key);
  dest->zeroconf_name = g_strdup (src->zeroconf_name);
}

void
lmd_wyoming_config_clear (LmdWyomingConfig *self)
{
  g_clear_pointer (&self->host, g_free);
  g_clear_pointer (&self->api_key, g_free);
  g_clear_pointer (&self->zeroconf_name, g_free);
}
