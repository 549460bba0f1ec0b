/* SPDX-License-Identifier: MIT */
/*
 * test-state.c — the worker registry's building blocks without processes: LmdWorkerInfo's JSON
 * record (what workers write to Redis) and LmdStaticState (LIGHTNING_ASR_BASE_URL), whose
 * liveness probe runs against real listening and closed loopback ports.
 */
#include <gio/gio.h>

#include "lmd-static-state.h"
#include "lmd-worker-info.h"

static void
test_worker_info_round_trip (void)
{
  g_autoptr (LmdWorkerInfo) info = lmd_worker_info_new ("http://10.0.0.5:2233");
  g_autoptr (LmdWorkerInfo) back = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;

  g_strfreev (info->models);
  info->models = g_strsplit ("sphinx-en-us;whisper-tiny", ";", -1);
  info->pid = 4242;
  info->active_requests = 3;
  info->queued_requests = 2;
  info->active_streams = 1;
  info->capacity = 4;
  json = lmd_worker_info_to_json (info);
  back = lmd_worker_info_from_json (json, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->url, ==, "http://10.0.0.5:2233");
  g_assert_cmpuint (g_strv_length (back->models), ==, 2);
  g_assert_cmpstr (back->models[1], ==, "whisper-tiny");
  g_assert_cmpint (back->pid, ==, 4242);
  g_assert_cmpuint (back->capacity, ==, 4);
  g_assert_false (back->draining);
  g_assert_cmpfloat_with_epsilon (lmd_worker_info_get_load (back), 1.5, 1e-9);
  g_assert_true (lmd_worker_info_has_model (back, "whisper-tiny"));
  g_assert_true (lmd_worker_info_has_model (back, NULL));
  g_assert_false (lmd_worker_info_has_model (back, "other"));
}

static void
test_worker_info_bad_records (void)
{
  const char *bad[] = { "", "[]", "{\"models\":[]}", "{\"url\":", "not json" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      LmdWorkerInfo *info = lmd_worker_info_from_json (bad[i], -1, &error);
      g_assert_null (info);
      g_assert_nonnull (error);
    }
  {
    /* missing fields take defaults; capacity is never 0 */
    g_autoptr (GError) error = NULL;
    g_autoptr (LmdWorkerInfo) info = lmd_worker_info_from_json ("{\"url\":\"http://w:1\",\"capacity\":0}", -1, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (info->capacity, ==, 1);
    g_assert_cmpstr (info->device, ==, "cpu");
    g_assert_true (lmd_worker_info_has_model (info, "anything")); /* lists none: serves any */
  }
}

static LmdState *
static_state (const char *urls, GError **error)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  LmdState *state = LMD_STATE (lmd_static_state_new ());

  g_key_file_set_string (config, "api", "asr_base_url", urls);
  g_key_file_set_integer (config, "api", "probe_interval_ms", 100);
  if (!lmd_state_setup (state, config, error))
    g_clear_object (&state);
  return state;
}

static void
test_static_bad_urls (void)
{
  const char *bad[] = { "ftp://w:21", "w:2233", "http://", "http://ok:1,nonsense" };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      LmdState *state = static_state (bad[i], &error);
      g_assert_null (state);
      g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
    }
}

static gboolean
has_url (GPtrArray *workers, const char *url)
{
  for (guint i = 0; i < workers->len; i++)
    if (g_str_equal (((LmdWorkerInfo *) workers->pdata[i])->url, url))
      return TRUE;
  return FALSE;
}

static void
test_static_probe (void)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdState) state = NULL;
  g_autofree char *live = NULL, *dead = NULL, *urls = NULL;
  guint16 live_port, dead_port;
  gint64 deadline;

  live_port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  {
    /* a port nothing listens on: bound, then closed */
    g_autoptr (GSocketListener) gone = g_socket_listener_new ();
    dead_port = g_socket_listener_add_any_inet_port (gone, NULL, &error);
    g_assert_no_error (error);
    g_socket_listener_close (gone);
  }
  live = g_strdup_printf ("http://127.0.0.1:%u", live_port);
  dead = g_strdup_printf ("http://127.0.0.1:%u", dead_port);
  urls = g_strdup_printf ("%s/, %s", live, dead);
  state = static_state (urls, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lmd_state_get_store_health (state), ==, "disabled");
  {
    /* before any probe every worker is assumed live; trailing slashes are dropped */
    g_autoptr (GPtrArray) workers = lmd_state_list_workers (state);
    g_assert_cmpuint (workers->len, ==, 2);
    g_assert_true (has_url (workers, live));
  }
  lmd_state_start (state);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autoptr (GPtrArray) workers = lmd_state_list_workers (state);
      if (workers->len == 1)
        break;
      g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
    }
  {
    g_autoptr (GPtrArray) workers = lmd_state_list_workers (state);
    g_assert_cmpuint (workers->len, ==, 1);
    g_assert_true (has_url (workers, live));
    g_assert_false (has_url (workers, dead));
  }
  g_clear_object (&state);
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the probe warns about the closed port, as it should; warnings are not failures here */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/state/worker-info/round-trip", test_worker_info_round_trip);
  g_test_add_func ("/state/worker-info/bad-records", test_worker_info_bad_records);
  g_test_add_func ("/state/static/bad-urls", test_static_bad_urls);
  g_test_add_func ("/state/static/probe", test_static_probe);
  return g_test_run ();
}
