/* SPDX-License-Identifier: MIT */
/*
 * test-shared-limits.c — per-key limits shared through Redis by processes that each enforce
 * them.
 *
 * Real parts only: a redis-server on a free loopback port; two `lightning-mediad --role all`
 * processes (http;gst-decoder;sphinx;license, which adds redis-limits because [redis] url is
 * set) with the same license key made on the fly and the same API keys; real HTTP and
 * WebSocket clients; real speech from pocketsphinx-testdata.  A synchronous hiredis client
 * looks at the keys.
 *
 * Covers: a key with rpm N gets exactly N admissions over both processes, then 429 with
 * Retry-After from either; concurrency 1 over both (a stream open on one, a request on the
 * other is refused until it closes), the slot kept past its lease while its process lives;
 * kill -9 of the process holding the slot frees it after the lease (2 s here); Redis stopped:
 * requests still served under each process's own limits, logged, reported by /health and
 * /metrics, and shared again once Redis is back; the daily audio quota of a license counted
 * on one process refuses the next request on the other with 403 QUOTA_EXCEEDED; two
 * `--role license` replicas admit a key rpm times in all through their internal API; two
 * `--role api` processes in front of an asr worker share the concurrency slot of relayed
 * streams.
 */
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-license-support.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"

#define RPM 4
#define LEASE_S 2
#define KEY_RATE "shared-rate-key-0123456789"
#define KEY_CONC "shared-conc-key-0123456789"
#define KEY_KILL "shared-kill-key-0123456789"
#define KEY_DOWN "shared-down-key-0123456789"
#define KEY_BACK "shared-back-key-0123456789"
#define KEY_ROLE "shared-role-key-0123456789"
#define KEY_RELAY "shared-relay-key-0123456789"

static char *dir;
static char *pub;
static LmdLicenseSigningKey *vendor;
static char *config;          /* of both processes: license A */
static GSubprocess *redis;
static guint redis_port;
static redisContext *inspect;
static LmdTestServer *srv[2];
static SoupSession *session;
static GBytes *garbage;       /* admitted, then 415: no inference */

/* ---- helpers ------------------------------------------------------------------------------ */

static LmdTestServer *
start_server (const char *config_text)
{
  g_autoptr (GError) error = NULL;
  LmdTestServer *s = lmd_test_server_start (config_text, NULL, &error);

  g_assert_no_error (error);
  return s;
}

static char *
make_config (const char *license_key, const char *name)
{
  g_autofree char *state = g_build_filename (dir, name, NULL);
  const char *keys[] = { KEY_RATE, KEY_CONC, KEY_KILL, KEY_DOWN, KEY_BACK, KEY_ROLE, KEY_RELAY };
  g_autoptr (GString) hashes = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA256, keys[i], -1);
      g_string_append_printf (hashes, "%s%s", i > 0 ? ";" : "", h);
    }
  return g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;license\n"
                          "[limits]\nworkers=1\n"
                          "[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\napi_keys_sha256=%s\n"
                          "[redis]\nurl=redis://127.0.0.1:%u/4\nlimits_lease_s=%d\n"
                          "reconnect_max_ms=300\n",
                          license_key, pub, state, hashes->str, redis_port, LEASE_S);
}

static void
connect_inspector (void)
{
  redisReply *r;

  g_clear_pointer (&inspect, redisFree);
  inspect = redisConnect ("127.0.0.1", (int) redis_port);
  g_assert_true (inspect != NULL && inspect->err == 0);
  r = redisCommand (inspect, "SELECT 4");
  freeReplyObject (r);
}

/* The set of concurrency tickets of @key under license "lic_shared". */
static char *
active_key (const char *key)
{
  g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);

  return g_strdup_printf ("lmd:limits:active:lic_shared/api:%.8s", h);
}

static gint64
tickets_held (const char *key)
{
  g_autofree char *name = active_key (key);
  redisReply *r = redisCommand (inspect, "ZCARD %s", name);
  gint64 n;

  g_assert_true (r != NULL && r->type == REDIS_REPLY_INTEGER);
  n = r->integer;
  freeReplyObject (r);
  return n;
}

/* Waits until @key holds @n tickets in Redis; FALSE after @timeout_s. */
static gboolean
wait_tickets (const char *key, gint64 n, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  while (tickets_held (key) != n)
    {
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20000);
    }
  return TRUE;
}

static LmdTestResponse *
post_listen (LmdTestServer *s, const char *key, GBytes *body)
{
  g_autofree char *url = lmd_test_server_url (s, "/v1/listen");
  g_autofree char *auth = g_strdup_printf ("Token %s", key);

  return lmd_test_http (session, "POST", url, "audio/wav", body, "Authorization", auth, NULL);
}

static void
assert_status (LmdTestResponse *r, guint status, const char *code)
{
  g_assert_no_error (r->error);
  if (r->status != status)
    g_error ("expected %u %s, got %u: %.*s", status, code != NULL ? code : "", r->status,
             (int) g_bytes_get_size (r->body), (const char *) g_bytes_get_data (r->body, NULL));
  if (code != NULL)
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, code);
}

/* A 429 or 403 with its retry_after, in the body and the header. */
static void
assert_refused (LmdTestResponse *r, guint status, const char *code)
{
  assert_status (r, status, code);
  g_assert_cmpint (json_object_get_int_member (lmd_test_response_json (r), "retry_after"), >, 0);
  g_assert_nonnull (soup_message_headers_get_one (r->headers, "Retry-After"));
}

static JsonObject *
health (LmdTestServer *s)
{
  g_autofree char *url = lmd_test_server_url (s, "/health?detailed=true");
  LmdTestResponse *r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  JsonObject *o = json_object_ref (lmd_test_response_json (r));

  lmd_test_response_free (r);
  return o;
}

/* "redis", "local_fallback" or "local": where @s counts the limits now. */
static char *
limits_of (LmdTestServer *s)
{
  JsonObject *o = health (s);
  char *where = g_strdup (json_object_get_string_member (json_object_get_object_member (o, "license"),
                                                         "limits"));
  json_object_unref (o);
  return where;
}

static gboolean
wait_limits (LmdTestServer *s, const char *want, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *where = limits_of (s);
      if (g_str_equal (where, want))
        return TRUE;
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (100000);
    }
}

static double
metric (LmdTestServer *s, const char *name)
{
  return lmd_test_server_metric (s, session, name);
}

static LmdTestStream *
open_stream (LmdTestServer *s, const char *key)
{
  g_autofree char *http_url = lmd_test_server_url (s, "/v1/listen/stream");
  g_autofree char *url = g_strdup_printf ("ws%s?encoding=linear16&sample_rate=16000&token=%s",
                                          http_url + 4, key);
  g_autoptr (GError) error = NULL;
  LmdTestStream *stream = lmd_test_stream_connect (session, url, &error);

  g_assert_no_error (error);
  return stream;
}

/* Sends 2 * RPM requests of @key alternating between the processes, each after the previous
 * one's slot is back in Redis; returns how many were admitted, and checks that every refusal
 * is a 429 with its retry_after, from both processes. */
static guint
count_admitted (const char *key)
{
  guint admitted = 0, refused[2] = { 0, 0 };

  for (guint i = 0; i < 2 * RPM; i++)
    {
      g_autoptr (LmdTestResponse) r = post_listen (srv[i % 2], key, garbage);
      g_assert_no_error (r->error);
      if (r->status == 429)
        {
          assert_refused (r, 429, "RATE_LIMIT_EXCEEDED");
          refused[i % 2]++;
        }
      else
        {
          assert_status (r, 415, "UNSUPPORTED_FORMAT");
          admitted++;
        }
      g_assert_true (wait_tickets (key, 0, 10)); /* the concurrency limit is 1 */
    }
  g_assert_cmpuint (refused[0], >=, 1);
  g_assert_cmpuint (refused[1], >=, 1);
  return admitted;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void
test_rate_shared (void)
{
  g_autofree char *where0 = limits_of (srv[0]);
  g_autofree char *where1 = limits_of (srv[1]);

  g_assert_cmpstr (where0, ==, "redis");
  g_assert_cmpstr (where1, ==, "redis");
  /* a token comes back every 60 / RPM = 15 s; the round takes well under that */
  g_assert_cmpuint (count_admitted (KEY_RATE), ==, RPM);
  g_assert_cmpfloat (metric (srv[0], "license_limits_shared"), ==, 1);
}

static void
test_concurrency_shared (void)
{
  g_autoptr (LmdTestStream) stream = open_stream (srv[0], KEY_CONC);
  g_autoptr (LmdTestResponse) other = NULL;
  g_autoptr (LmdTestResponse) same = NULL;
  g_autoptr (LmdTestResponse) later = NULL;
  g_autoptr (LmdTestResponse) after = NULL;

  g_assert_true (wait_tickets (KEY_CONC, 1, 20));
  other = post_listen (srv[1], KEY_CONC, garbage);
  assert_refused (other, 429, "RATE_LIMIT_EXCEEDED");
  same = post_listen (srv[0], KEY_CONC, garbage);
  assert_refused (same, 429, "RATE_LIMIT_EXCEEDED");
  /* past its lease, the slot of a live process is still held (renewed) */
  g_usleep ((LEASE_S + 1) * G_USEC_PER_SEC);
  later = post_listen (srv[1], KEY_CONC, garbage);
  assert_refused (later, 429, "RATE_LIMIT_EXCEEDED");
  g_assert_cmpint (tickets_held (KEY_CONC), ==, 1);
  /* the stream ends: the other process admits */
  g_clear_pointer (&stream, lmd_test_stream_free);
  g_assert_true (wait_tickets (KEY_CONC, 0, 20));
  after = post_listen (srv[1], KEY_CONC, garbage);
  assert_status (after, 415, "UNSUPPORTED_FORMAT");
}

static void
test_kill_frees_slot (void)
{
  g_autoptr (LmdTestStream) stream = open_stream (srv[1], KEY_KILL);
  g_autoptr (LmdTestResponse) refused = NULL;
  gint64 deadline;
  gboolean admitted = FALSE;

  g_assert_true (wait_tickets (KEY_KILL, 1, 20));
  refused = post_listen (srv[0], KEY_KILL, garbage);
  assert_refused (refused, 429, "RATE_LIMIT_EXCEEDED");
  /* the holder dies without giving anything back */
  g_assert_cmpint (kill (lmd_test_server_get_pid (srv[1]), SIGKILL), ==, 0);
  g_assert_cmpint (lmd_test_server_wait (srv[1], 30), ==, -SIGKILL);
  lmd_test_server_stop (srv[1]);
  srv[1] = NULL;
  /* its ticket lapses with its lease: the other process admits the key again */
  deadline = g_get_monotonic_time () + (LEASE_S + 10) * G_USEC_PER_SEC;
  while (!admitted && g_get_monotonic_time () < deadline)
    {
      g_autoptr (LmdTestResponse) r = post_listen (srv[0], KEY_KILL, garbage);
      g_assert_no_error (r->error);
      if (r->status == 415)
        admitted = TRUE;
      else
        {
          assert_refused (r, 429, "RATE_LIMIT_EXCEEDED");
          g_usleep (200000);
        }
    }
  g_assert_true (admitted);
  srv[1] = start_server (config);
}

static void
test_redis_down (void)
{
  guint admitted = 0;
  g_autofree char *log = NULL;
  JsonObject *o;

  g_clear_pointer (&redis, lmd_test_redis_stop);
  g_clear_pointer (&inspect, redisFree);
  g_assert_true (wait_limits (srv[0], "local_fallback", 20));
  g_assert_true (wait_limits (srv[1], "local_fallback", 20));
  o = health (srv[0]);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "components"),
                                                  "redis"), ==, "unhealthy");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "healthy");
  json_object_unref (o);
  /* still served, under each process's own limit: RPM on each */
  for (guint i = 0; i < RPM + 1; i++)
    {
      g_autoptr (LmdTestResponse) r = post_listen (srv[0], KEY_DOWN, garbage);
      g_assert_no_error (r->error);
      if (r->status == 415)
        admitted++;
      else
        assert_refused (r, 429, "RATE_LIMIT_EXCEEDED");
    }
  g_assert_cmpuint (admitted, ==, RPM);
  {
    g_autoptr (LmdTestResponse) r = post_listen (srv[1], KEY_DOWN, garbage);
    assert_status (r, 415, "UNSUPPORTED_FORMAT");
  }
  g_assert_cmpfloat (metric (srv[0], "license_limits_shared"), ==, 0);
  g_assert_cmpfloat (metric (srv[0], "license_limits_local_admissions_total"), >=, RPM);
  log = lmd_test_server_read_log (srv[0]);
  g_assert_nonnull (strstr (log, "counting per-key limits in this process"));
  g_assert_null (strstr (log, KEY_DOWN));

  /* Redis back (empty): shared again */
  redis = lmd_test_redis_start (redis_port, NULL);
  connect_inspector ();
  g_assert_true (wait_limits (srv[0], "redis", 20));
  g_assert_true (wait_limits (srv[1], "redis", 20));
  g_assert_cmpuint (count_admitted (KEY_BACK), ==, RPM);
  g_free (log);
  log = lmd_test_server_read_log (srv[0]);
  g_assert_nonnull (strstr (log, "counted in the shared redis store again"));
}

static LmdTestResponse *
post_json (LmdTestServer *s, const char *path, const char *json)
{
  g_autofree char *url = lmd_test_server_url (s, path);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));

  return lmd_test_http (session, "POST", url, "application/json", body, NULL);
}

/* Two `--role license` replicas (behind a balancer, say) with the same Redis: their internal
 * admission API admits a key RPM times in all. */
static void
test_license_role_replicas (void)
{
  const char *args[] = { "--role", "license", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY_ROLE, -1);
  LmdTestServer *role[2];
  guint admitted = 0, refused = 0;

  for (guint i = 0; i < 2; i++)
    {
      role[i] = lmd_test_server_start (config, args, &error);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < 2 * RPM; i++)
    {
      g_autoptr (LmdTestResponse) r = post_json (role[i % 2], "/v1/license/admit",
                                                 "{\"api_key\":\"" KEY_ROLE "\",\"feature\":\"batch\"}");
      g_assert_no_error (r->error);
      if (r->status == 429)
        {
          assert_refused (r, 429, "RATE_LIMIT_EXCEEDED");
          refused++;
        }
      else
        {
          g_autofree char *id = g_uuid_string_random ();
          g_autofree char *completion = NULL;
          g_autoptr (LmdTestResponse) done = NULL;
          assert_status (r, 200, NULL);
          admitted++;
          completion = g_strdup_printf ("{\"id\":\"%s\",\"ticket\":\"%s\",\"key_sha256\":\"%s\","
                                        "\"feature\":\"batch\",\"audio_seconds\":0,\"status\":200}",
                                        id,
                                        json_object_get_string_member (lmd_test_response_json (r), "ticket"),
                                        hash);
          done = post_json (role[i % 2], "/v1/license/complete", completion);
          assert_status (done, 200, NULL);
          g_assert_true (wait_tickets (KEY_ROLE, 0, 10));
        }
    }
  g_assert_cmpuint (admitted, ==, RPM);
  g_assert_cmpuint (refused, ==, RPM);
  {
    g_autofree char *url = lmd_test_server_url (role[1], "/health");
    g_autoptr (LmdTestResponse) h = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (h), "limits"), ==,
                     "redis");
  }
  for (guint i = 0; i < 2; i++)
    g_assert_cmpint (lmd_test_server_stop (role[i]), ==, 0);
}

static gint64
workers_seen (LmdTestServer *s)
{
  JsonObject *o = health (s);
  gint64 n = json_object_has_member (o, "workers") ? json_object_get_int_member (o, "workers") : 0;

  json_object_unref (o);
  return n;
}

/* Two `--role api` processes, each with the in-process license, in front of one asr worker:
 * a stream relayed by one holds the key's only slot, so a stream or a request of the same
 * key through the other is refused until it ends. */
static void
test_api_relayed_streams (void)
{
  g_autofree char *api_config = g_strconcat (config, "refresh_ms=200\n[server]\nheartbeat_interval_ms=300\n",
                                             NULL);
  const char *worker_args[] = { "--role=asr", "--workers=1", "--plugins=http;gst-decoder;sphinx;redis",
                                NULL };
  const char *api_args[] = { "--role=api", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestStream) stream = NULL;
  g_autoptr (LmdTestStream) refused = NULL;
  g_autoptr (LmdTestResponse) request = NULL;
  g_autoptr (LmdTestResponse) after = NULL;
  LmdTestServer *worker, *api[2];
  static const guint8 silence[3200] = { 0 };
  JsonObject *refusal;
  gint64 deadline;

  worker = lmd_test_server_start (api_config, worker_args, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    {
      api[i] = lmd_test_server_start (api_config, api_args, &error);
      g_assert_no_error (error);
    }
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (workers_seen (api[0]) < 1 || workers_seen (api[1]) < 1)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100000);
    }

  stream = open_stream (api[0], KEY_RELAY);
  lmd_test_stream_send (stream, silence, sizeof silence);
  g_assert_true (wait_tickets (KEY_RELAY, 1, 20));
  /* a stream of the same key through the other api process: refused, frames sent before the
   * answer included */
  refused = open_stream (api[1], KEY_RELAY);
  lmd_test_stream_send (refused, silence, sizeof silence);
  g_assert_true (lmd_test_stream_wait_closed (refused, 20));
  refusal = lmd_test_stream_find_type (refused, "error");
  g_assert_nonnull (refusal);
  g_assert_cmpstr (json_object_get_string_member (refusal, "code"), ==, "RATE_LIMIT_EXCEEDED");
  request = post_listen (api[1], KEY_RELAY, garbage);
  assert_refused (request, 429, "RATE_LIMIT_EXCEEDED");
  /* the stream ends: the slot is free for the other api process */
  g_clear_pointer (&stream, lmd_test_stream_free);
  g_assert_true (wait_tickets (KEY_RELAY, 0, 20));
  after = post_listen (api[1], KEY_RELAY, garbage);
  assert_status (after, 415, "UNSUPPORTED_FORMAT");

  for (guint i = 0; i < 2; i++)
    g_assert_cmpint (lmd_test_server_stop (api[i]), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (worker), ==, 0);
}

/* License B: a daily quota of 1 s of audio, no other limit. */
static void
test_quota_shared (void)
{
  g_autofree char *wav = NULL;
  g_autofree char *key = NULL;
  g_autofree char *config_b = NULL;
  g_autofree char *quota_key = NULL;
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (LmdTestResponse) first = NULL;
  g_autoptr (LmdTestResponse) other = NULL;
  g_autoptr (LmdTestResponse) same = NULL;
  const char *features[] = { "batch", NULL };
  double duration;
  gint64 deadline;
  char *data;
  gsize len;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  wav = g_build_filename (lmd_test_librivox_dir (), "sense_and_sensibility_01_austen_64kb-0880.wav",
                          NULL);
  g_assert_true (g_file_get_contents (wav, &data, &len, NULL));
  audio = g_bytes_new_take (data, len);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_cmpint (lmd_test_server_stop (srv[i]), ==, 0);
      srv[i] = NULL;
    }
  key = lmd_test_issue_key (vendor, "lic_quota", 0, 30 * 86400, 0, 0, 1.0 / 3600, features);
  config_b = make_config (key, "state-quota");
  srv[0] = start_server (config_b);
  srv[1] = start_server (config_b);
  g_assert_true (wait_limits (srv[0], "redis", 20));
  g_assert_true (wait_limits (srv[1], "redis", 20));

  first = post_listen (srv[0], key, audio);
  assert_status (first, 200, NULL);
  duration = json_object_get_double_member (lmd_test_response_json (first), "duration");
  g_assert_cmpfloat (duration, >, 1.0);
  /* the release reaches Redis just after the answer */
  {
    redisReply *r = redisCommand (inspect, "TIME");
    quota_key = g_strdup_printf ("lmd:limits:audio:lic_quota:%" G_GINT64_FORMAT,
                                 (gint64) g_ascii_strtoll (r->element[0]->str, NULL, 10) / 86400);
    freeReplyObject (r);
  }
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  for (;;)
    {
      redisReply *r = redisCommand (inspect, "GET %s", quota_key);
      double used = r->type == REDIS_REPLY_STRING ? g_ascii_strtod (r->str, NULL) : 0;
      freeReplyObject (r);
      if (used >= duration - 0.01)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
  /* counted on srv[0], refused by srv[1] (and srv[0]) */
  other = post_listen (srv[1], key, garbage);
  assert_refused (other, 403, "QUOTA_EXCEEDED");
  same = post_listen (srv[0], key, garbage);
  assert_refused (same, 403, "QUOTA_EXCEEDED");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *license_key = NULL;
  const char *features[] = { "batch", "streaming", NULL };
  int status;

  g_test_init (&argc, &argv, NULL);
  redis_port = lmd_test_free_port ();
  redis = lmd_test_redis_start (redis_port, NULL);
  if (redis == NULL)
    {
      g_test_skip ("redis-server is not installed");
      return g_test_run ();
    }
  connect_inspector ();
  dir = g_dir_make_tmp ("lmd-shared-limits-XXXXXX", &error);
  g_assert_no_error (error);
  vendor = lmd_license_signing_key_generate ();
  pub = lmd_test_write_public_key (vendor, dir);
  /* license A: RPM requests per minute and 1 concurrent request per key, no quota */
  license_key = lmd_test_issue_key (vendor, "lic_shared", 0, 30 * 86400, RPM, 1, 0, features);
  config = make_config (license_key, "state");
  srv[0] = start_server (config);
  srv[1] = start_server (config);
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (120), NULL);
  garbage = g_bytes_new_static ("this is not audio in any format", 31);

  g_test_add_func ("/shared-limits/rate", test_rate_shared);
  g_test_add_func ("/shared-limits/concurrency", test_concurrency_shared);
  g_test_add_func ("/shared-limits/kill-frees-slot", test_kill_frees_slot);
  g_test_add_func ("/shared-limits/redis-down", test_redis_down);
  g_test_add_func ("/shared-limits/license-role-replicas", test_license_role_replicas);
  g_test_add_func ("/shared-limits/api-relayed-streams", test_api_relayed_streams);
  g_test_add_func ("/shared-limits/quota", test_quota_shared);
  status = g_test_run ();

  for (guint i = 0; i < 2; i++)
    if (srv[i] != NULL)
      g_assert_cmpint (lmd_test_server_stop (srv[i]), ==, 0);
  g_object_unref (session);
  g_bytes_unref (garbage);
  g_clear_pointer (&inspect, redisFree);
  g_clear_pointer (&redis, lmd_test_redis_stop);
  g_clear_pointer (&vendor, lmd_license_signing_key_free);
  {
    const char *rm[] = { "rm", "-rf", dir, NULL };
    g_autoptr (GSubprocess) p = g_subprocess_newv (rm, G_SUBPROCESS_FLAGS_NONE, NULL);
    if (p != NULL)
      g_subprocess_wait (p, NULL, NULL);
  }
  g_free (dir);
  g_free (pub);
  g_free (config);
  return status;
}
