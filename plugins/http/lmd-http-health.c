/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-health.h"

#include <string.h>

#include "lmd-build-config.h"
#include "lmd-config.h"
#include "lmd-http-response.h"
#include "lmd-http-slots.h"
#include "lmd-json-writer.h"
#include "lmd-state.h"
#include "lmd-transcribe-options.h"

void
lmd_http_health_engines_device (LmdRouter *router, LmdEngineDevice *device)
{
  g_autoptr (GPtrArray) models = lmd_router_list_models (router);

  memset (device, 0, sizeof *device);
  for (guint i = 0; i < models->len; i++)
    {
      LmdEngine *engine = lmd_router_find_engine (router, models->pdata[i]);
      LmdEngineDevice d;

      if (engine == NULL)
        continue;
      lmd_engine_get_device (engine, &d);
      if (device->name == NULL || (d.gpu && !device->gpu))
        {
          g_free (device->name);
          device->name = g_steal_pointer (&d.name);
          device->gpu = d.gpu;
        }
      device->memory_bytes = MAX (device->memory_bytes, d.memory_bytes);
      for (guint b = 1; b <= LMD_ENGINE_MAX_BATCH; b++)
        device->batches[b] += d.batches[b];
      lmd_http_slots_add (device, &d);
      g_free (d.name);
    }
  if (device->name == NULL)
    device->name = g_strdup ("cpu");
}

void
lmd_http_health_respond (SoupServerMessage *msg, const char *path, GHashTable *query,
                         const LmdHttpHealthInput *input)
{
  const LmdHttpHealthInput *self = input;
  gboolean draining = lmd_router_is_draining (self->router);
  g_autofree char *engines_why = NULL;
  LmdEngineState engines = lmd_router_get_engines_state (self->router, &engines_why);
  gboolean ready = !draining && engines == LMD_ENGINE_READY;
  gboolean detailed = FALSE;
  LmdLicense *license = lmd_router_get_license (self->router);
  LmdLicenseStatus license_status = { 0 };
  gboolean no_worker = FALSE;
  LmdJsonWriter *w;

  if (license != NULL)
    lmd_license_get_status (license, &license_status);
  if (g_str_equal (path, "/healthz"))
    {
      const char *body = ready ? "true" : "false";
      soup_server_message_set_status (msg, ready ? 200 : 503, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, body, strlen (body));
      return;
    }
  if (query != NULL && g_hash_table_contains (query, "detailed"))
    lmd_parse_boolean (g_hash_table_lookup (query, "detailed"), &detailed);

  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "status");
  if (self->forwards && ready && self->workers_live == 0)
    {
      /* an api with no worker cannot serve: a load balancer should look elsewhere */
      ready = FALSE;
      no_worker = TRUE;
    }
  if (g_str_equal (self->role, "asr"))
    {
      g_autoptr (GPtrArray) models = lmd_router_list_models (self->router);
      lmd_json_writer_string (w, draining ? "draining" : engines == LMD_ENGINE_LOADING ? "loading"
                                 : engines == LMD_ENGINE_FAILED ? "unhealthy" : "ready");
      if (!ready)
        {
          lmd_json_writer_key (w, "reason");
          lmd_json_writer_string (w, draining ? "shutting down" : engines_why);
        }
      lmd_json_writer_key (w, "model");
      lmd_json_writer_string (w, models->len > 0 ? models->pdata[0] : NULL);
      lmd_json_writer_key (w, "device");
      {
        LmdEngineDevice device;

        lmd_http_health_engines_device (self->router, &device);
        lmd_json_writer_string (w, device.name);
        lmd_http_slots_write_health (w, &device);
        g_free (device.name);
      }
    }
  else
    {
      lmd_json_writer_string (w, ready ? "healthy" : !draining && engines == LMD_ENGINE_LOADING ? "loading"
                                 : "unhealthy");
      if (!ready)
        {
          lmd_json_writer_key (w, "reason");
          lmd_json_writer_string (w, draining ? "shutting down"
                                     : no_worker ? "no transcription worker is live" : engines_why);
        }
    }
  if (detailed)
    {
      g_autoptr (GPtrArray) models = lmd_router_list_models (self->router);
      lmd_json_writer_key (w, "components");
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "api_server");
      lmd_json_writer_string (w, ready ? "healthy" : "unhealthy");
      lmd_json_writer_key (w, "lightning_asr");
      lmd_json_writer_string (w, self->forwards ? (no_worker ? "unhealthy" : "healthy")
                                 : draining || engines == LMD_ENGINE_FAILED ? "unhealthy"
                                 : engines == LMD_ENGINE_LOADING ? "loading" : "healthy");
      lmd_json_writer_key (w, "license_proxy");
      lmd_json_writer_string (w, license == NULL                 ? "disabled"
                                 : license_status.development_mode ? "development"
                                 : !license_status.license_valid   ? "unhealthy"
                                 : license_status.grace_period_active ? "grace_period"
                                                                      : "healthy");
      lmd_json_writer_key (w, "redis");
      {
        /* the worker registry's connection, else the shared limits' (role all) */
        const char *redis = lmd_router_get_state (self->router) != NULL
                              ? lmd_state_get_store_health (lmd_router_get_state (self->router))
                              : "disabled";
        if (g_str_equal (redis, "disabled") && g_strcmp0 (license_status.limits_store, "redis") == 0)
          redis = license_status.limits_shared ? "healthy" : "unhealthy";
        lmd_json_writer_string (w, redis);
      }
      lmd_json_writer_end_object (w);
      if (self->forwards)
        {
          lmd_json_writer_key (w, "workers");
          lmd_json_writer_int (w, self->workers_live);
        }
      lmd_json_writer_key (w, "uptime_seconds");
      lmd_json_writer_double (w, self->uptime_s, 1);
      lmd_json_writer_key (w, "version");
      lmd_json_writer_string (w, LMD_VERSION);
      lmd_json_writer_key (w, "role");
      lmd_json_writer_string (w, self->role);
      if (!self->forwards)
        {
          LmdEngineDevice device;

          lmd_http_health_engines_device (self->router, &device);
          lmd_json_writer_key (w, "device");
          lmd_json_writer_string (w, device.name);
          lmd_http_slots_write_health (w, &device);
          g_free (device.name);
        }
      lmd_json_writer_key (w, "models");
      lmd_json_writer_begin_array (w);
      for (guint i = 0; i < models->len; i++)
        lmd_json_writer_string (w, models->pdata[i]);
      lmd_json_writer_end_array (w);
      if (license != NULL)
        {
          lmd_json_writer_key (w, "license");
          lmd_json_writer_begin_object (w);
          lmd_json_writer_key (w, "license_valid");
          lmd_json_writer_boolean (w, license_status.license_valid);
          lmd_json_writer_key (w, "valid_until");
          if (license_status.valid_until > 0)
            {
              g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (license_status.valid_until);
              g_autofree char *iso = g_date_time_format_iso8601 (t);
              lmd_json_writer_string (w, iso);
            }
          else
            lmd_json_writer_null (w);
          lmd_json_writer_key (w, "grace_period_active");
          lmd_json_writer_boolean (w, license_status.grace_period_active);
          lmd_json_writer_key (w, "development_mode");
          lmd_json_writer_boolean (w, license_status.development_mode);
          /* where the per-key limits are counted: "local", or the shared store ("redis"),
           * "local_fallback" while it is unreachable */
          lmd_json_writer_key (w, "limits");
          lmd_json_writer_string (w, license_status.limits_store == NULL ? "local"
                                     : license_status.limits_shared ? license_status.limits_store
                                                                    : "local_fallback");
          lmd_json_writer_end_object (w);
        }
      lmd_json_writer_key (w, "active_requests");
      lmd_json_writer_int (w, lmd_router_get_active (self->router));
      lmd_json_writer_key (w, "queued_requests");
      lmd_json_writer_int (w, lmd_router_get_queued (self->router));
    }
  lmd_json_writer_end_object (w);
  lmd_http_respond_json (msg, ready ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE,
                         lmd_json_writer_finish (w));
}
