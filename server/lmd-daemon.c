/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd"

#include "lmd-daemon.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lmd-audio-decoder.h"
#include "lmd-build-config.h"
#include "lmd-config.h"
#include "lmd-engine.h"
#include "lmd-job-runner.h"
#include "lmd-local-job-store.h"
#include "lmd-license.h"
#include "lmd-limit-store.h"
#include "lmd-log.h"
#include "lmd-plugin-loader.h"
#include "lmd-router.h"
#include "lmd-state.h"
#include "lmd-static-state.h"
#include "lmd-transport.h"
#include "lmd-url-fetcher.h"

/* Used when no config file is found: the embedded default (HTTP + GStreamer + sphinx). */
static const char default_config[] =
  "[server]\n"
  "role=all\n"
  "host=127.0.0.1\n"
  "[plugins]\n"
  "load=http;gst-decoder;sphinx;license\n";

/* What each role loads when the config names nothing for it ([plugins] load_<role>, then
 * [plugins] load for the roles that transcribe), and what it cannot run without.  An api
 * process owns no model; the license role serves the license plugin to the other roles. */
static const struct {
  const char *role;
  const char *default_plugins; /* NULL = [plugins] load */
  gboolean needs_engine;       /* an audio decoder and at least one engine */
  gboolean needs_workers;      /* a state store that lists workers */
  gboolean needs_license;
} role_table[] = {
  { "all", NULL, TRUE, FALSE, FALSE },
  { "asr", NULL, TRUE, FALSE, FALSE },
  { "api", "http;license", FALSE, TRUE, FALSE },
  { "license", "license;license-server", FALSE, FALSE, TRUE },
};

static gint
find_role (const char *role)
{
  for (guint i = 0; i < G_N_ELEMENTS (role_table); i++)
    if (g_str_equal (role_table[i].role, role))
      return (gint) i;
  return -1;
}

typedef struct {
  GMainLoop *loop;
  LmdRouter *router;
  LmdJobRunner *job_runner; /* nullable */
  GPtrArray *transports; /* LmdTransport */
  guint signals_seen;
  guint drain_timeout_id;
  guint drain_poll_id;
  gint64 drain_deadline;
  gint64 grace_s;
  int exit_status;
  /* role asr with a state store: this worker's entry in the registry */
  LmdState *state;        /* borrowed from the router */
  char *advertise_url;    /* owned */
  guint heartbeat_id;
} Daemon;


static const struct {
  const char *variable;
  const char *group;
  const char *key;
  const char *role; /* only for this role, or NULL = any */
} env_overrides[] = {
  { "HOST", "server", "host", NULL },
  { "ADVERTISE_URL", "server", "advertise_url", "asr" },
  { "API_SERVER_PORT", "server", "port", "all" },
  { "API_SERVER_PORT", "server", "port", "api" },
  { "PORT", "server", "port", "asr" },
  { "LICENSE_PORT", "server", "port", "license" },
  { "LOG_LEVEL", "server", "log_level", NULL },
  { "LMD_WORKERS", "limits", "workers", NULL },
  { "MODEL_URL", "whisper", "model_url", NULL },
  { "MODEL_CACHE_DIR", "whisper", "cache_dir", NULL },
  { "GPU_DEVICE_ID", "whisper", "gpu_device", NULL },
  { "LICENSE_KEY", "license", "key", NULL },
  { "REDIS_URL", "redis", "url", NULL },
  { "LIGHTNING_ASR_BASE_URL", "api", "asr_base_url", NULL },
  { "LIGHTNING_ASR_STREAMING_BASE_URL", "api", "asr_streaming_base_url", NULL },
  { "API_BASE_URL", "license", "service_url", NULL },
  { "LICENSE_SERVICE_TOKEN", "license", "service_token", NULL },
  { "WORKER_SECRET", "server", "worker_secret", NULL },
};

static guint
default_port_for_role (const char *role)
{
  if (g_str_equal (role, "asr"))
    return 2233;
  if (g_str_equal (role, "license"))
    return 6699;
  return 7100;
}

/* Every connection, spool file and socket to a worker takes a descriptor, and the usual soft
 * limit (1024) is far below what the hard limit allows: the soft limit is raised to the hard
 * one (systemd units set both with LimitNOFILE).  The connection limits derive from it. */
static void
raise_descriptor_limit (void)
{
  struct rlimit rl;
  rlim_t before;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return;
  before = rl.rlim_cur;
  if (rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
        {
          g_warning ("open files: cannot raise the limit of %lu to %lu: %s", (unsigned long) before,
                     (unsigned long) rl.rlim_max, g_strerror (errno));
          return;
        }
      g_info ("open files: limit raised from %lu to %lu (the hard limit)", (unsigned long) before,
              (unsigned long) rl.rlim_cur);
    }
  else
    g_info ("open files: limit %lu (already the hard limit)", (unsigned long) rl.rlim_cur);
}

static void
daemon_quit_if_drained (Daemon *d)
{
  guint in_flight = lmd_router_get_active (d->router) + lmd_router_get_queued (d->router);

  for (guint i = 0; i < d->transports->len; i++)
    in_flight += lmd_transport_get_in_flight (d->transports->pdata[i]);
  if (d->job_runner != NULL)
    in_flight += lmd_job_runner_get_busy (d->job_runner);
  if (in_flight == 0)
    {
      g_info ("drained; exiting");
      g_main_loop_quit (d->loop);
    }
  else if (g_get_monotonic_time () >= d->drain_deadline)
    {
      g_warning ("shutdown grace period over with %u requests still in flight; exiting", in_flight);
      g_main_loop_quit (d->loop);
    }
}

static gboolean
drain_poll_cb (gpointer data)
{
  daemon_quit_if_drained (data);
  return G_SOURCE_CONTINUE;
}

static gboolean
signal_cb (gpointer data)
{
  Daemon *d = data;

  d->signals_seen++;
  if (d->signals_seen > 1)
    {
      g_warning ("second signal: exiting now");
      g_main_loop_quit (d->loop);
      return G_SOURCE_CONTINUE;
    }
  g_info ("shutting down: no new connections, finishing requests in flight");
  lmd_router_drain (d->router);
  if (d->advertise_url != NULL)
    {
      /* api processes stop choosing this worker at once, not when its heartbeat expires */
      g_clear_handle_id (&d->heartbeat_id, g_source_remove);
      lmd_state_withdraw_worker (d->state, d->advertise_url, 0);
    }
  if (d->job_runner != NULL)
    lmd_job_runner_stop (d->job_runner);
  d->drain_deadline = g_get_monotonic_time () + d->grace_s * G_USEC_PER_SEC;
  for (guint i = 0; i < d->transports->len; i++)
    lmd_transport_stop (d->transports->pdata[i]);
  d->drain_poll_id = g_timeout_add (50, drain_poll_cb, d);
  daemon_quit_if_drained (d);
  return G_SOURCE_CONTINUE;
}

static gboolean
load_plugins (GKeyFile *config, guint role, LmdRouter **router_out, GPtrArray *transports,
              GError **error)
{
  g_auto (GStrv) names = lmd_config_get_list (config, "plugins", "load");
  g_auto (GStrv) extra_dirs = lmd_config_get_list (config, "plugins", "dirs");
  g_autoptr (LmdPluginLoader) loader = lmd_plugin_loader_new ((const char *const *) extra_dirs);
  g_autoptr (GPtrArray) engines = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) engine_names = g_ptr_array_new ();
  g_autoptr (LmdAudioDecoder) decoder = NULL;
  g_autoptr (LmdLicense) license = NULL;
  g_autoptr (LmdState) state = NULL;
  g_autoptr (LmdJobStore) job_store = NULL;
  g_autoptr (LmdLimitStore) limit_store = NULL;
  g_autofree char *default_model = NULL;
  LmdLimits limits;
  LmdRouter *router;

  if (!lmd_limits_load (&limits, config, error))
    return FALSE;
  if (names[0] == NULL)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "config [plugins] load: no plugins listed");
      return FALSE;
    }
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (GObject) plugin = lmd_plugin_loader_load (loader, names[i], error);
      gint64 started = g_get_monotonic_time ();

      if (plugin == NULL)
        return FALSE;
      if (LMD_IS_TRANSPORT (plugin))
        {
          if (!lmd_transport_setup (LMD_TRANSPORT (plugin), config, error))
            return FALSE;
          g_ptr_array_add (transports, g_steal_pointer (&plugin));
        }
      else if (LMD_IS_AUDIO_DECODER (plugin))
        {
          if (decoder != NULL)
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "plugin '%s': only one audio decoder may be loaded", names[i]);
              return FALSE;
            }
          if (!lmd_audio_decoder_setup (LMD_AUDIO_DECODER (plugin), config, error))
            {
              g_prefix_error (error, "plugin '%s': ", names[i]);
              return FALSE;
            }
          decoder = LMD_AUDIO_DECODER (g_steal_pointer (&plugin));
        }
      else if (LMD_IS_LICENSE (plugin))
        {
          if (license != NULL)
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "plugin '%s': only one license plugin may be loaded", names[i]);
              return FALSE;
            }
          if (!lmd_license_setup (LMD_LICENSE (plugin), config, error))
            {
              g_prefix_error (error, "plugin '%s': ", names[i]);
              return FALSE;
            }
          license = LMD_LICENSE (g_steal_pointer (&plugin));
        }
      else if (LMD_IS_STATE (plugin))
        {
          if (state != NULL)
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "plugin '%s': only one state plugin may be loaded", names[i]);
              return FALSE;
            }
          if (!lmd_state_setup (LMD_STATE (plugin), config, error))
            {
              g_prefix_error (error, "plugin '%s': ", names[i]);
              return FALSE;
            }
          state = LMD_STATE (g_steal_pointer (&plugin));
        }
      else if (LMD_IS_JOB_STORE (plugin))
        {
          if (job_store != NULL)
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "plugin '%s': only one job store may be loaded", names[i]);
              return FALSE;
            }
          if (!lmd_job_store_setup (LMD_JOB_STORE (plugin), config, error))
            {
              g_prefix_error (error, "plugin '%s': ", names[i]);
              return FALSE;
            }
          job_store = LMD_JOB_STORE (g_steal_pointer (&plugin));
        }
      else if (LMD_IS_LIMIT_STORE (plugin))
        {
          if (limit_store != NULL)
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                           "plugin '%s': only one limit store may be loaded", names[i]);
              return FALSE;
            }
          if (!lmd_limit_store_setup (LMD_LIMIT_STORE (plugin), config, error))
            {
              g_prefix_error (error, "plugin '%s': ", names[i]);
              return FALSE;
            }
          limit_store = LMD_LIMIT_STORE (g_steal_pointer (&plugin));
        }
      else
        {
          if (!lmd_engine_setup (LMD_ENGINE (plugin), config, error))
            {
              g_prefix_error (error, "plugin '%s': ", names[i]);
              return FALSE;
            }
          g_info ("engine %s ready (model %s, %.2f s to load)", names[i],
                  lmd_engine_get_model_name (LMD_ENGINE (plugin)),
                  (g_get_monotonic_time () - started) / 1e6);
          g_ptr_array_add (engines, g_steal_pointer (&plugin));
          g_ptr_array_add (engine_names, names[i]);
        }
    }
  if (!role_table[role].needs_engine)
    {
      if (transports->len == 0 || (role_table[role].needs_license && license == NULL))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [plugins] load: role %s needs at least one transport%s",
                       role_table[role].role,
                       role_table[role].needs_license ? " and the license plugin" : "");
          return FALSE;
        }
      if (role_table[role].needs_workers && state == NULL)
        {
          /* no shared store: the static list of workers */
          g_auto (GStrv) urls = lmd_config_get_list (config, "api", "asr_base_url");
          if (urls[0] == NULL)
            {
              g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                           "role api needs workers: set REDIS_URL ([redis] url) or "
                           "LIGHTNING_ASR_BASE_URL ([api] asr_base_url)");
              return FALSE;
            }
          state = LMD_STATE (lmd_static_state_new ());
          if (!lmd_state_setup (state, config, error))
            return FALSE;
        }
    }
  else if (transports->len == 0 || decoder == NULL || engines->len == 0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [plugins] load: need at least one transport, one audio decoder and one "
                   "engine (have %u, %u, %u)",
                   transports->len, decoder != NULL ? 1u : 0u, engines->len);
      return FALSE;
    }
  if (job_store == NULL && role_table[role].needs_engine)
    {
      /* the built-in store: jobs spooled in [jobs] dir, for this one process (an api process
       * forwards jobs to its workers unless a shared store such as redis-jobs is loaded) */
      g_autoptr (GError) local_error = NULL;
      job_store = LMD_JOB_STORE (lmd_local_job_store_new ());
      if (!lmd_job_store_setup (job_store, config, &local_error))
        {
          if (g_key_file_has_key (config, "jobs", "dir", NULL))
            {
              g_propagate_error (error, g_steal_pointer (&local_error));
              return FALSE;
            }
          g_warning ("asynchronous jobs (callback_url) are disabled: %s", local_error->message);
          g_clear_object (&job_store);
        }
    }
  if (limit_store != NULL)
    {
      /* the license plugin counts its per-key limits there (it holds the store from now on) */
      if (license == NULL || !lmd_license_set_limit_store (license, limit_store))
        g_warning ("limit store %s loaded but no license plugin here counts limits itself; "
                   "ignored", lmd_limit_store_get_name (limit_store));
      else
        lmd_limit_store_start (limit_store);
    }
  router = lmd_router_new (&limits);
  if (decoder != NULL)
    lmd_router_set_decoder (router, decoder);
  lmd_router_set_license (router, license);
  lmd_router_set_state (router, state);
  lmd_router_set_job_store (router, job_store);
  for (guint i = 0; i < engines->len; i++)
    lmd_router_add_engine (router, engines->pdata[i], engine_names->pdata[i]);
  default_model = lmd_config_get_string (config, "server", "default_model", NULL);
  if (default_model != NULL && !lmd_router_set_default_model (router, default_model, error))
    {
      g_object_unref (router);
      return FALSE;
    }
  *router_out = router;
  return TRUE;
}

/* The rule for a bind beyond loopback, enforced here whatever the plugins: a process that
 * answers clients (roles all and api) needs a license plugin that is not in development mode
 * (the license plugin itself refuses to start there without a key); a worker (role asr) has
 * no admission of its own and needs the secret it shares with its api processes
 * ([server] worker_secret), which its transport then requires on every request.  Called
 * before the plugins load (@router NULL: the worker's secret) and after (the license). */
static gboolean
check_public_bind (GKeyFile *config, guint role, LmdRouter *router, GError **error)
{
  g_autofree char *host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
  g_autofree char *secret = lmd_config_get_string (config, "server", "worker_secret", NULL);
  LmdLicense *license;
  LmdLicenseStatus status = { 0 };

  if (lmd_config_host_is_loopback (host))
    return TRUE;
  if (g_str_equal (role_table[role].role, "asr"))
    {
      if (router != NULL)
        return TRUE;
      if (secret == NULL || g_strstrip (secret)[0] == '\0')
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "role asr bound to '%s', not loopback, without a worker secret: a worker "
                       "admits no one itself, so off loopback it answers only callers that "
                       "present the secret it shares with its api processes (set WORKER_SECRET "
                       "or [server] worker_secret on both, or bind 127.0.0.1)", host);
          return FALSE;
        }
      return TRUE;
    }
  if (router == NULL || g_str_equal (role_table[role].role, "license"))
    return TRUE; /* the license role needs its license plugin anyway (load_plugins) */
  license = lmd_router_get_license (router);
  if (license != NULL)
    lmd_license_get_status (license, &status);
  if (license == NULL || status.development_mode)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "role %s bound to '%s', not loopback, %s: only a loopback server may "
                   "serve without a license (load the license or license-remote plugin with "
                   "a license key, or bind 127.0.0.1)", role_table[role].role, host,
                   license == NULL ? "without a license plugin" : "in development mode");
      return FALSE;
    }
  return TRUE;
}

static const char *const redis_plugins[] = { "redis", "redis-jobs" };

/* Appends @name to [plugins] load unless it is there. */
static void
add_plugin (GKeyFile *config, const char *name)
{
  g_auto (GStrv) names = lmd_config_get_list (config, "plugins", "load");
  g_autofree char *list = NULL;
  g_autofree char *longer = NULL;

  if (g_strv_contains ((const char *const *) names, name))
    return;
  list = lmd_config_get_string (config, "plugins", "load", "");
  longer = g_strconcat (list, list[0] != '\0' ? ";" : "", name, NULL);
  g_key_file_set_string (config, "plugins", "load", longer);
}

/* The plugin list of @role: --plugins, else [plugins] load_<role>, else the role's default
 * (api, license) or [plugins] load; plus, when Redis is configured, the redis plugins for api
 * and asr, and redis-limits for any role that runs the in-process license plugin (unless
 * [redis] shared_limits is false). */
static void
choose_plugins (GKeyFile *config, guint role_index, gboolean from_flag)
{
  const char *role = role_table[role_index].role;
  g_autofree char *role_key = g_strdup_printf ("load_%s", role);
  g_autofree char *redis_url = lmd_config_get_string (config, "redis", "url", NULL);
  g_auto (GStrv) names = NULL;
  gboolean shared_limits = TRUE;

  if (!from_flag)
    {
      g_autofree char *list = lmd_config_get_string (config, "plugins", role_key, NULL);
      g_autofree char *license_service = lmd_config_get_string (config, "license", "service_url", NULL);

      if (list == NULL && g_str_equal (role, "api") && license_service != NULL && license_service[0] != '\0')
        list = g_strdup ("http;license-remote"); /* a license role answers for this api */
      if (list == NULL && role_table[role_index].default_plugins != NULL)
        list = g_strdup (role_table[role_index].default_plugins);
      if (list != NULL)
        g_key_file_set_string (config, "plugins", "load", list);
    }
  names = lmd_config_get_list (config, "plugins", "load");
  if (redis_url == NULL || redis_url[0] == '\0')
    return;
  /* per-key limits counted once for every process that enforces them (an invalid value
   * counts as true here, and the plugin's own reading of [redis] refuses it) */
  if (!lmd_config_get_boolean (config, "redis", "shared_limits", TRUE, &shared_limits, NULL))
    shared_limits = TRUE;
  if (shared_limits && g_strv_contains ((const char *const *) names, "license"))
    add_plugin (config, "redis-limits");
  if (!(g_str_equal (role, "api") || g_str_equal (role, "asr")))
    return;
  /* the worker registry, and the job store every process of the deployment shares (an api
   * answers GET /v1/jobs/{id} for jobs its workers accepted) */
  for (guint i = 0; i < G_N_ELEMENTS (redis_plugins); i++)
    add_plugin (config, redis_plugins[i]);
}

/* What this worker tells api processes about itself. */
static gboolean
heartbeat_cb (gpointer data)
{
  Daemon *d = data;
  g_autoptr (LmdWorkerInfo) info = lmd_worker_info_new (d->advertise_url);
  g_autoptr (GPtrArray) models = lmd_router_list_models (d->router);
  guint admitted = lmd_router_get_active (d->router) + lmd_router_get_queued (d->router);
  guint in_flight = 0;

  for (guint i = 0; i < d->transports->len; i++)
    in_flight += lmd_transport_get_in_flight (d->transports->pdata[i]);
  g_strfreev (info->models);
  info->models = g_new0 (char *, models->len + 1);
  for (guint i = 0; i < models->len; i++)
    info->models[i] = g_strdup (models->pdata[i]);
  info->pid = getpid ();
  info->active_requests = lmd_router_get_active (d->router);
  info->queued_requests = lmd_router_get_queued (d->router);
  /* transports count paused batch requests and open streams together */
  info->active_streams = in_flight > admitted ? in_flight - admitted : 0;
  info->capacity = lmd_router_get_limits (d->router)->workers;
  info->draining = lmd_router_is_draining (d->router);
  lmd_state_publish_worker (d->state, info);
  return G_SOURCE_CONTINUE;
}

static gboolean
start_heartbeat (Daemon *d, GKeyFile *config, guint port, GError **error)
{
  g_autofree char *url = lmd_config_get_string (config, "server", "advertise_url", NULL);
  gint64 interval_ms;

  if (!lmd_config_get_int (config, "server", "heartbeat_interval_ms", 1000, &interval_ms, error))
    return FALSE;
  if (url == NULL)
    {
      g_autofree char *host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
      /* a wildcard bind is reached through the machine's address (a container's name often
       * resolves only inside it), else its name */
      if (g_str_equal (host, "0.0.0.0") || g_str_equal (host, "::"))
        {
          g_autoptr (GResolver) resolver = g_resolver_get_default ();
          GList *addresses = g_resolver_lookup_by_name (resolver, g_get_host_name (), NULL, NULL);
          g_free (host);
          host = NULL;
          for (GList *l = addresses; l != NULL && host == NULL; l = l->next)
            if (!g_inet_address_get_is_loopback (l->data))
              host = g_inet_address_to_string (l->data);
          g_resolver_free_addresses (addresses);
          if (host == NULL)
            host = g_strdup (g_get_host_name ());
        }
      url = strchr (host, ':') != NULL ? g_strdup_printf ("http://[%s]:%u", host, port)
                                       : g_strdup_printf ("http://%s:%u", host, port);
    }
  while (url[0] != '\0' && url[strlen (url) - 1] == '/')
    url[strlen (url) - 1] = '\0';
  d->advertise_url = g_steal_pointer (&url);
  heartbeat_cb (d);
  d->heartbeat_id = g_timeout_add ((guint) CLAMP (interval_ms, 50, 60000), heartbeat_cb, d);
  g_info ("registered as worker %s (heartbeat every %" G_GINT64_FORMAT " ms)", d->advertise_url,
          interval_ms);
  return TRUE;
}

static gboolean
write_port_file (const char *path, guint port, GError **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);
  return g_file_set_contents (path, text, -1, error);
}

int
lmd_daemon_main (int argc, char **argv)
{
  g_autofree char *config_path = NULL;
  g_autofree char *role = NULL;
  g_autofree char *host = NULL;
  g_autofree char *plugins = NULL;
  g_autofree char *log_level = NULL;
  g_autofree char *port_file = NULL;
  g_autofree char *effective_role = NULL;
  g_autofree char *effective_level = NULL;
  gint port = -1;
  gint workers = 0;
  gboolean version = FALSE;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  Daemon d = { 0 };
  GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Key file to read (default data/lightning-mediad.conf)", "FILE" },
    { "role", 'r', 0, G_OPTION_ARG_STRING, &role, "all (default), api, asr or license", "ROLE" },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host, "Address to bind (default 127.0.0.1)", "ADDR" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "Port to listen on (0 = any free port)", "PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &port_file, "Write the bound port to FILE once listening", "FILE" },
    { "plugins", 0, 0, G_OPTION_ARG_STRING, &plugins, "Plugins to load, ';'-separated (overrides [plugins] load)", "LIST" },
    { "workers", 'w', 0, G_OPTION_ARG_INT, &workers, "Inference threads (default: number of cores)", "N" },
    { "log-level", 0, 0, G_OPTION_ARG_STRING, &log_level, "error, warning, info (default) or debug", "LEVEL" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };

  setlocale (LC_ALL, "");
  context = g_option_context_new ("— self-hosted speech-to-text server");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("lightning-mediad: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("lightning-mediad %s\n", LMD_VERSION);
      return 0;
    }

  /* 1. key file */
  if (config_path == NULL)
    config_path = lmd_config_find_default ();
  if (config_path != NULL)
    {
      if (!g_key_file_load_from_file (config, config_path, G_KEY_FILE_NONE, &error))
        {
          g_printerr ("lightning-mediad: cannot read config %s: %s\n", config_path, error->message);
          return 2;
        }
    }
  else if (!g_key_file_load_from_data (config, default_config, -1, G_KEY_FILE_NONE, &error))
    g_assert_not_reached ();

  /* 2. environment, 3. flags */
  effective_role = role != NULL ? g_strdup (role) : lmd_config_get_string (config, "server", "role", "all");
  for (guint i = 0; i < G_N_ELEMENTS (env_overrides); i++)
    {
      const char *value = g_getenv (env_overrides[i].variable);
      if (value == NULL || value[0] == '\0')
        continue;
      if (env_overrides[i].role != NULL && !g_str_equal (env_overrides[i].role, effective_role))
        continue;
      g_key_file_set_string (config, env_overrides[i].group, env_overrides[i].key, value);
    }
  g_key_file_set_string (config, "server", "role", effective_role);
  if (host != NULL)
    g_key_file_set_string (config, "server", "host", host);
  if (port >= 0)
    g_key_file_set_integer (config, "server", "port", port);
  if (!g_key_file_has_key (config, "server", "port", NULL))
    g_key_file_set_integer (config, "server", "port", (gint) default_port_for_role (effective_role));
  if (plugins != NULL)
    g_key_file_set_string (config, "plugins", "load", plugins);
  if (find_role (effective_role) >= 0)
    choose_plugins (config, (guint) find_role (effective_role), plugins != NULL);
  if (workers > 0)
    g_key_file_set_integer (config, "limits", "workers", workers);
  if (log_level != NULL)
    g_key_file_set_string (config, "server", "log_level", log_level);

  effective_level = lmd_config_get_string (config, "server", "log_level", "info");
  if (!lmd_log_init (effective_level, &error))
    {
      g_printerr ("lightning-mediad: %s\n", error->message);
      return 2;
    }
  if (find_role (effective_role) < 0)
    {
      g_printerr ("lightning-mediad: role '%s' is not available in this build (use all, api, asr or "
                  "license)\n", effective_role);
      return 2;
    }
  g_info ("lightning-mediad %s starting (role %s, config %s)", LMD_VERSION, effective_role,
          config_path != NULL ? config_path : "built-in defaults");

  raise_descriptor_limit ();
  if (!lmd_config_get_int (config, "server", "shutdown_grace_s", 30, &d.grace_s, &error))
    {
      g_printerr ("lightning-mediad: %s\n", error->message);
      return 2;
    }
  if (!check_public_bind (config, (guint) find_role (effective_role), NULL, &error))
    {
      g_printerr ("lightning-mediad: %s\n", error->message);
      return 1;
    }
  d.transports = g_ptr_array_new_with_free_func (g_object_unref);
  if (!load_plugins (config, (guint) find_role (effective_role), &d.router, d.transports, &error) ||
      !check_public_bind (config, (guint) find_role (effective_role), d.router, &error))
    {
      g_printerr ("lightning-mediad: %s\n", error->message);
      g_ptr_array_unref (d.transports);
      g_clear_object (&d.router);
      return 1;
    }
  /* jobs run where there are engines; an api process only accepts and looks them up */
  if (lmd_router_get_job_store (d.router) != NULL &&
      role_table[find_role (effective_role)].needs_engine)
    {
      d.job_runner = lmd_job_runner_new (lmd_router_get_job_store (d.router), d.router, config, &error);
      if (d.job_runner == NULL)
        {
          g_printerr ("lightning-mediad: %s\n", error->message);
          g_ptr_array_unref (d.transports);
          g_clear_object (&d.router);
          return 1;
        }
    }
  /* Signals are caught from here on, before anyone can learn the port: a SIGTERM that
   * arrives at once still drains instead of killing the process. */
  d.loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, signal_cb, &d);
  g_unix_signal_add (SIGTERM, signal_cb, &d);
  for (guint i = 0; i < d.transports->len; i++)
    {
      if (!lmd_transport_start (d.transports->pdata[i], d.router, &error))
        {
          g_printerr ("lightning-mediad: %s\n", error->message);
          d.exit_status = 1;
          goto out;
        }
    }
  if (port_file != NULL &&
      !write_port_file (port_file, lmd_transport_get_port (d.transports->pdata[0]), &error))
    {
      g_printerr ("lightning-mediad: cannot write port file: %s\n", error->message);
      d.exit_status = 1;
      goto out;
    }

  d.state = lmd_router_get_state (d.router);
  if (d.state != NULL)
    lmd_state_start (d.state);
  if (d.state != NULL && g_str_equal (effective_role, "asr") &&
      !start_heartbeat (&d, config, lmd_transport_get_port (d.transports->pdata[0]), &error))
    {
      g_printerr ("lightning-mediad: %s\n", error->message);
      d.exit_status = 1;
      goto out;
    }
  {
    g_autofree char *bound_host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
    g_info ("listening on http://%s:%u", bound_host, lmd_transport_get_port (d.transports->pdata[0]));
  }
  if (d.job_runner != NULL)
    lmd_job_runner_start (d.job_runner);
  g_main_loop_run (d.loop);

out:
  g_clear_handle_id (&d.heartbeat_id, g_source_remove);
  if (d.advertise_url != NULL)
    lmd_state_withdraw_worker (d.state, d.advertise_url, 1000);
  g_clear_pointer (&d.advertise_url, g_free);
  for (guint i = 0; i < d.transports->len; i++)
    lmd_transport_stop (d.transports->pdata[i]);
  if (d.job_runner != NULL)
    lmd_job_runner_stop (d.job_runner);
  if (d.router != NULL)
    {
      /* requests still running past the grace period are cancelled; their answers (or the
       * closing of their connections) are dispatched before the transports go away */
      lmd_router_shutdown (d.router);
      while (g_main_context_pending (NULL))
        g_main_context_iteration (NULL, FALSE);
    }
  if (d.job_runner != NULL)
    {
      /* store calls and callback posts under way end within their own time limits */
      gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
      while (lmd_job_runner_get_busy (d.job_runner) > 0 && g_get_monotonic_time () < deadline)
        {
          if (!g_main_context_iteration (NULL, FALSE))
            g_usleep (10000);
        }
      g_clear_object (&d.job_runner);
    }
  if (d.drain_poll_id != 0)
    g_source_remove (d.drain_poll_id);
  g_ptr_array_unref (d.transports);
  g_clear_object (&d.router);
  /* what the plugins cancelled as they went away (probes, connections) completes now */
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
  g_clear_pointer (&d.loop, g_main_loop_unref);
  lmd_url_fetcher_shutdown ();
  return d.exit_status;
}
