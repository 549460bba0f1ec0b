/* SPDX-License-Identifier: MIT */
/*
 * test-scale-out.c — one api process in front of two asr workers, chosen through Redis.
 *
 * Real parts only: a redis-server the test starts on a free loopback port, three
 * lightning-mediad processes (--role api with the in-process license plugin in development
 * mode, two --role asr with sphinx), real HTTP and WebSocket clients, real recordings from
 * pocketsphinx-testdata.
 *
 * Covers: 20 concurrent requests through the api are spread over both workers and all
 * succeed; the api's /metrics parses as Prometheus text and its gauges move with load; a
 * stream relayed through the api gives the same transcript as the same audio sent to a
 * worker directly; Redis restarted during traffic (requests keep succeeding, processes
 * reconnect and the registry is whole again within seconds); a static worker list with no
 * live worker answers 503 SERVICE_UNAVAILABLE with retry_after, while streams use their own
 * list (asr_streaming_base_url); kill -9 of one worker during 20 requests and a stream: every
 * request is answered (200, or 502 BAD_GATEWAY for those the killed worker had whole, which are
 * not replayed elsewhere) and the stream ends with an error message, not silence.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-batch.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"

#define N_REQUESTS 20

static SoupSession *session;
static GSubprocess *redis;
static guint redis_port;
static LmdTestServer *api;
static LmdTestServer *workers[2];
static GBytes *short_wav;      /* 2.5 s of speech, WAV */
static GBytes *stream_pcm;     /* one recording as linear16 */

/* ---- set-up --------------------------------------------------------------------------- */

static void
redis_start (void)
{
  redis = lmd_test_redis_start (redis_port, NULL);
  g_assert_nonnull (redis);
}

static void
redis_stop (void)
{
  g_clear_pointer (&redis, lmd_test_redis_stop);
}

static char *
redis_config (const char *extra)
{
  return g_strdup_printf ("[redis]\nurl=redis://127.0.0.1:%u/3\nworker_ttl_s=2\nrefresh_ms=200\n"
                          "reconnect_max_ms=500\n[server]\nheartbeat_interval_ms=300\n%s",
                          redis_port, extra != NULL ? extra : "");
}

static LmdTestServer *
start_worker (void)
{
  g_autofree char *config = redis_config (NULL);
  const char *args[] = { "--role=asr", "--workers=1", "--plugins=http;gst-decoder;sphinx;redis", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *srv = lmd_test_server_start (config, args, &error);

  g_assert_no_error (error);
  return srv;
}

static JsonObject *
get_json (LmdTestServer *srv, const char *path)
{
  g_autofree char *url = lmd_test_server_url (srv, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_no_error (r->error);
  return lmd_test_response_json (r);
}

/* Waits until the api sees @n workers and Redis is reachable; FALSE after @timeout_s. */
static gboolean
wait_for_workers (guint n, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  while (g_get_monotonic_time () < deadline)
    {
      JsonObject *o = get_json (api, "/health?detailed=true");
      JsonObject *components = json_object_get_object_member (o, "components");
      if (json_object_get_int_member (o, "workers") == n &&
          g_str_equal (json_object_get_string_member (components, "redis"), "healthy"))
        return TRUE;
      g_usleep (100000);
    }
  return FALSE;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Concurrent POSTs of short_wav to @srv. */
static void
batch_send (LmdTestBatch *batch, LmdTestServer *srv, guint n)
{
  g_autofree char *url = lmd_test_server_url (srv, "/v1/listen");

  lmd_test_batch_post (batch, url, "audio/wav", short_wav, n);
}

static char *
get_text (LmdTestServer *srv, const char *path)
{
  g_autofree char *url = lmd_test_server_url (srv, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
  return g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
}

/* Checks @text against the Prometheus text format (0.0.4): every line a comment, HELP/TYPE
 * or a sample; every sample of a family declared with TYPE before it. */
static void
assert_prometheus_text (const char *text)
{
  g_autoptr (GRegex) sample = g_regex_new ("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\""
                                           "(,[a-zA-Z_][a-zA-Z0-9_]*=\"(\\\\.|[^\"\\\\])*\")*\\})? "
                                           "([-+]?[0-9]+(\\.[0-9]*)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf)( -?[0-9]+)?$",
                                           0, 0, NULL);
  g_autoptr (GRegex) type = g_regex_new ("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$",
                                         0, 0, NULL);
  g_autoptr (GHashTable) types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  g_assert_true (g_str_has_suffix (text, "\n"));
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GMatchInfo) m = NULL;
      const char *line = lines[i];

      if (line[0] == '\0')
        continue;
      if (g_str_has_prefix (line, "# TYPE"))
        {
          if (!g_regex_match (type, line, 0, &m))
            g_error ("bad TYPE line: %s", line);
          g_hash_table_insert (types, g_match_info_fetch (m, 1), g_match_info_fetch (m, 2));
          continue;
        }
      if (line[0] == '#')
        continue;
      if (!g_regex_match (sample, line, 0, &m))
        g_error ("line %u is not a Prometheus sample: %s", i + 1, line);
      {
        g_autofree char *name = g_match_info_fetch (m, 1);
        const char *family_type = g_hash_table_lookup (types, name);
        if (family_type == NULL)
          for (const char *const *suffix = (const char *const[]){ "_bucket", "_sum", "_count", NULL }; *suffix != NULL; suffix++)
            if (g_str_has_suffix (name, *suffix))
              {
                g_autofree char *family = g_strndup (name, strlen (name) - strlen (*suffix));
                family_type = g_hash_table_lookup (types, family);
                if (family_type != NULL)
                  break;
              }
        if (family_type == NULL)
          g_error ("sample %s has no TYPE line before it", name);
      }
    }
  {
    static const char *const required[][2] = {
      { "asr_active_requests", "gauge" },     { "asr_batch_queue_depth", "gauge" },
      { "asr_active_streams", "gauge" },      { "asr_stream_queue_depth", "gauge" },
      { "asr_requests_total", "counter" },    { "asr_errors_total", "counter" },
      { "asr_audio_seconds_total", "counter" }, { "asr_processing_duration_seconds", "histogram" },
      { "asr_e2e_latency_seconds", "histogram" }, { "asr_real_time_factor", "summary" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
      g_assert_cmpstr (g_hash_table_lookup (types, required[i][0]), ==, required[i][1]);
  }
}

/* ---- tests --------------------------------------------------------------------------------- */

static gboolean
need_setup (void)
{
  if (api == NULL)
    {
      g_test_skip ("pocketsphinx-testdata or redis-server is not installed");
      return FALSE;
    }
  return TRUE;
}

static void
test_spread (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  char *before[2] = { NULL, NULL };
  double max_active = 0, max_worker_active = 0;
  g_autofree char *after_api = NULL;

  if (!need_setup ())
    return;
  for (guint w = 0; w < 2; w++)
    before[w] = get_text (workers[w], "/metrics");
  batch_send (batch, api, N_REQUESTS);
  /* the gauges move with the load while the requests run */
  while (lmd_test_batch_get_done (batch) < lmd_test_batch_get_sent (batch))
    {
      g_autofree char *m = get_text (api, "/metrics");
      g_autofree char *wm = get_text (workers[lmd_test_batch_get_done (batch) % 2], "/metrics");
      assert_prometheus_text (m);
      max_active = MAX (max_active, lmd_test_metric_value (m, "asr_active_requests", 0));
      max_worker_active = MAX (max_worker_active, lmd_test_metric_value (wm, "asr_active_requests", 0) +
                                                      lmd_test_metric_value (wm, "asr_batch_queue_depth", 0));
      for (guint i = 0; i < 20; i++)
        g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
    }
  lmd_test_batch_wait (batch, 300);
  g_assert_cmpuint (lmd_test_batch_count_status (batch, 200), ==, N_REQUESTS);
  for (guint i = 0; i < N_REQUESTS; i++)
    {
      g_assert_nonnull (lmd_test_batch_get_member (batch, i, "text"));
      g_assert_cmpuint (strlen (lmd_test_batch_get_member (batch, i, "text")), >, 0);
    }
  g_test_message ("api asr_active_requests peaked at %.0f, a worker's active+queued at %.0f", max_active,
                  max_worker_active);
  g_assert_cmpfloat (max_active, >, 1);
  g_assert_cmpfloat (max_worker_active, >=, 1);
  /* each worker did part of the work */
  for (guint w = 0; w < 2; w++)
    {
      g_autofree char *after = get_text (workers[w], "/metrics");
      double served = lmd_test_metric_value (after, "asr_requests_total{code=\"200\"}", 0) -
                      lmd_test_metric_value (before[w], "asr_requests_total{code=\"200\"}", 0);
      g_test_message ("worker %u served %.0f of %u", w, served, N_REQUESTS);
      g_assert_cmpfloat (served, >=, 1);
      assert_prometheus_text (after);
      g_free (before[w]);
    }
  /* and the api's gauges come back down, its counters count */
  after_api = get_text (api, "/metrics");
  g_assert_cmpfloat (lmd_test_metric_value (after_api, "asr_active_requests", 0), ==, 0);
  g_assert_cmpfloat (lmd_test_metric_value (after_api, "asr_requests_total{code=\"200\"}", 0), >=, N_REQUESTS);
  g_assert_cmpfloat (lmd_test_metric_value (after_api, "asr_audio_seconds_total", 0), >, 2.0 * N_REQUESTS);
  g_assert_cmpfloat (lmd_test_metric_value (after_api, "asr_e2e_latency_seconds_count", 0), >=, N_REQUESTS);
}

static LmdTestStream *
stream_to (LmdTestServer *srv)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream?interim_results=false",
                                          lmd_test_server_get_port (srv));
  g_autoptr (GError) error = NULL;
  LmdTestStream *s = lmd_test_stream_connect (session, url, &error);
  gsize total = g_bytes_get_size (stream_pcm);
  const guint8 *data = g_bytes_get_data (stream_pcm, NULL);

  g_assert_no_error (error);
  for (gsize off = 0; off < total; off += 4096)
    lmd_test_stream_send (s, data + off, MIN (4096, total - off));
  lmd_test_stream_send_text (s, "{\"type\":\"close_stream\"}");
  g_assert_true (lmd_test_stream_wait_closed (s, 120));
  return s;
}

static void
test_stream_relay (void)
{
  g_autoptr (LmdTestStream) direct = NULL;
  g_autoptr (LmdTestStream) relayed = NULL;
  g_autofree char *direct_text = NULL, *relayed_text = NULL;

  if (!need_setup ())
    return;
  direct = stream_to (workers[0]);
  relayed = stream_to (api);
  direct_text = lmd_test_stream_finals_text (direct);
  relayed_text = lmd_test_stream_finals_text (relayed);
  g_test_message ("direct:  %s\nrelayed: %s", direct_text, relayed_text);
  g_assert_cmpuint (direct->close_code, ==, 1000);
  g_assert_cmpuint (relayed->close_code, ==, 1000);
  g_assert_cmpuint (relayed->n_last, ==, 1);
  g_assert_cmpuint (strlen (direct_text), >, 10);
  g_assert_cmpstr (relayed_text, ==, direct_text);
}

static void
test_redis_restart (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  g_autoptr (LmdTestBatch) after = lmd_test_batch_new (session);
  gint64 restarted;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  batch_send (batch, api, 6);
  for (guint i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
  redis_stop ();
  /* while Redis is down the api serves from the registry it last read */
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (10000), TRUE);
  {
    JsonObject *o = get_json (api, "/health?detailed=true");
    g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "components"), "redis"), ==,
                     "unhealthy");
  }
  redis_start (); /* empty: --save '' */
  restarted = g_get_monotonic_time ();
  lmd_test_batch_wait (batch, 300);
  g_assert_cmpuint (lmd_test_batch_count_status (batch, 200), ==, 6);
  g_assert_true (wait_for_workers (2, 15));
  g_test_message ("registry whole again %.1f s after Redis restarted", (g_get_monotonic_time () - restarted) / 1e6);
  batch_send (after, api, 4);
  lmd_test_batch_wait (after, 300);
  g_assert_cmpuint (lmd_test_batch_count_status (after, 200), ==, 4);
}

static void
test_no_worker (void)
{
  /* batch requests have a dead worker; streams their own list (LIGHTNING_ASR_STREAMING_BASE_URL) */
  g_autofree char *config = g_strdup_printf ("[api]\nasr_base_url=http://127.0.0.1:%u\nprobe_interval_ms=200\n"
                                             "asr_streaming_base_url=http://127.0.0.1:%u\n",
                                             lmd_test_free_port (), lmd_test_server_get_port (workers[0]));
  const char *args[] = { "--role=api", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *lone;
  g_autofree char *url = NULL, *log = NULL, *text = NULL;
  g_autoptr (LmdTestStream) s = NULL;
  JsonObject *o;

  if (!need_setup ())
    return;
  lone = lmd_test_server_start (config, args, &error);
  g_assert_no_error (error);
  url = lmd_test_server_url (lone, "/v1/listen");
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", short_wav,
                                                   "X-Request-ID", "no-worker-1", NULL);
    g_assert_cmpuint (r->status, ==, 503);
    o = lmd_test_response_json (r);
    g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "SERVICE_UNAVAILABLE");
    g_assert_cmpint (json_object_get_int_member (o, "retry_after"), >, 0);
    g_assert_nonnull (soup_message_headers_get_one (r->headers, "Retry-After"));
  }
  s = stream_to (lone);
  text = lmd_test_stream_finals_text (s);
  g_assert_cmpuint (s->close_code, ==, 1000);
  g_assert_cmpuint (strlen (text), >, 10);
  o = get_json (lone, "/health?detailed=true");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "components"), "lightning_asr"),
                   ==, "unhealthy");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "components"), "redis"), ==,
                   "disabled");
  log = lmd_test_server_read_log (lone);
  g_assert_nonnull (strstr (log, "[no-worker-1]"));
  g_assert_cmpint (lmd_test_server_stop (lone), ==, 0);
}

static void
test_kill_worker (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  g_autoptr (LmdTestStream) s = NULL;
  g_autofree char *url = NULL;
  g_autoptr (GError) error = NULL;
  guint victim = 0;
  JsonObject *o;
  gint64 killed_at;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  /* a stream through the api, held open: the worker that serves it is the one killed */
  url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream", lmd_test_server_get_port (api));
  s = lmd_test_stream_connect (session, url, &error);
  g_assert_no_error (error);
  lmd_test_stream_send (s, g_bytes_get_data (stream_pcm, NULL), 32000);
  for (guint tries = 0; tries < 200; tries++)
    {
      g_autofree char *m0 = get_text (workers[0], "/metrics");
      g_autofree char *m1 = get_text (workers[1], "/metrics");
      if (lmd_test_metric_value (m0, "asr_active_streams", 0) + lmd_test_metric_value (m1, "asr_active_streams", 0) >= 1)
        {
          victim = lmd_test_metric_value (m0, "asr_active_streams", 0) >= 1 ? 0 : 1;
          break;
        }
      for (guint i = 0; i < 10; i++)
        g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
    }
  batch_send (batch, api, N_REQUESTS);
  /* kill once both workers have work */
  for (guint i = 0; i < 100; i++)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
  g_test_message ("kill -9 worker %u (pid %d) with %u of %u requests answered", victim,
                  (int) lmd_test_server_get_pid (workers[victim]), lmd_test_batch_get_done (batch), lmd_test_batch_get_sent (batch));
  lmd_test_server_signal (workers[victim], SIGKILL);
  killed_at = g_get_monotonic_time ();
  g_assert_cmpint (lmd_test_server_wait (workers[victim], 30), ==, -SIGKILL);
  /* the stream ends with an error message, not silence */
  g_assert_true (lmd_test_stream_wait_closed (s, 30));
  g_test_message ("stream closed %.2f s after the kill (code %u)", (g_get_monotonic_time () - killed_at) / 1e6,
                  s->close_code);
  o = lmd_test_stream_find_type (s, "error");
  g_assert_nonnull (o);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "SERVICE_UNAVAILABLE");
  g_assert_cmpuint (s->close_code, ==, 1011);
  /* every batch request is answered: those the killed worker had whole get 502 BAD_GATEWAY
   * (never replayed on the other worker, which a request that crashed the first could crash
   * too), every other one succeeds */
  lmd_test_batch_wait (batch, 300);
  {
    guint n_502 = 0;
    for (guint i = 0; i < N_REQUESTS; i++)
      {
        g_assert_true (lmd_test_batch_get_status (batch, i) == 200 || lmd_test_batch_get_status (batch, i) == 502);
        n_502 += lmd_test_batch_get_status (batch, i) == 502;
      }
    g_test_message ("%u of %u requests answered 502 after the kill", n_502, N_REQUESTS);
    g_assert_cmpuint (lmd_test_batch_count_status (batch, 200) + n_502, ==, N_REQUESTS);
    g_assert_cmpuint (lmd_test_batch_count_status (batch, 200), >, 0);
  }
  lmd_test_server_stop (workers[victim]);
  workers[victim] = start_worker ();
  g_assert_true (wait_for_workers (2, 20));
}

int
main (int argc, char **argv)
{
  g_autofree char *redis_path = g_find_program_in_path ("redis-server");
  g_autofree float *samples = NULL;
  gsize n_samples = 0;
  int status;

  g_test_init (&argc, &argv, NULL);
  session = soup_session_new_with_options ("max-conns", 256, "max-conns-per-host", 256, "timeout", lmd_test_timeout_s (300), NULL);
  if (redis_path != NULL)
    samples = lmd_test_librivox_read ("sense_and_sensibility_01_austen_64kb-0870", &n_samples);
  if (samples != NULL)
    {
      g_autofree char *api_config = NULL;
      const char *api_args[] = { "--role=api", "--plugins=http;license;redis", NULL };
      g_autoptr (GError) error = NULL;

      short_wav = lmd_test_wav_encode (samples, MIN (n_samples, (gsize) (2.5 * LMD_TEST_LIBRIVOX_RATE)),
                                       LMD_TEST_LIBRIVOX_RATE);
      stream_pcm = lmd_test_encode_linear16 (samples, n_samples);
      redis_port = lmd_test_free_port ();
      redis_start ();
      workers[0] = start_worker ();
      workers[1] = start_worker ();
      api_config = redis_config ("[api]\nfailure_quarantine_ms=5000\n");
      api = lmd_test_server_start (api_config, api_args, &error);
      g_assert_no_error (error);
      g_assert_true (wait_for_workers (2, 30));
    }
  g_test_add_func ("/scale-out/spread", test_spread);
  g_test_add_func ("/scale-out/stream-relay", test_stream_relay);
  g_test_add_func ("/scale-out/redis-restart", test_redis_restart);
  g_test_add_func ("/scale-out/no-worker", test_no_worker);
  g_test_add_func ("/scale-out/kill-worker", test_kill_worker);
  status = g_test_run ();
  if (api != NULL)
    {
      g_assert_cmpint (lmd_test_server_stop (api), ==, 0);
      for (guint w = 0; w < 2; w++)
        g_assert_cmpint (lmd_test_server_stop (workers[w]), ==, 0);
      redis_stop ();
    }
  g_clear_object (&session);
  g_clear_pointer (&short_wav, g_bytes_unref);
  g_clear_pointer (&stream_pcm, g_bytes_unref);
  return status;
}
