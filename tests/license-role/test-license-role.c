/* SPDX-License-Identifier: MIT */
/*
 * test-license-role.c — the license role as a process of its own, and api processes asking
 * it over HTTP.
 *
 * Real processes: one `lightning-mediad --role license` (license-server) with a license key
 * made on the fly, checked against a real HTTP stand-in for the vendor's license server (the
 * test upstream, which also receives the usage journal), and two `--role all` processes
 * loading http;gst-decoder;sphinx;license-remote pointed at it.  Real HTTP clients, real
 * speech from pocketsphinx-testdata.
 *
 * Covers: a valid key transcribes; an unknown key gets 401; the rate limit (429 +
 * Retry-After) is one limit over both api processes; the usage of a request reaches the
 * license process's journal (and the upstream); /health of the license role and
 * license_proxy in the api's detailed health; 400 for malformed bodies and 401 for a wrong
 * service token on the internal API; a streaming request, or a request for a whisper model,
 * with a key whose license lacks the feature gets FEATURE_NOT_LICENSED; the license process stopped (SIGSTOP): a key admitted
 * recently keeps working, a new key gets 503 with retry_after, and the usage recorded
 * meanwhile reaches the license process once it runs again; the license process killed and
 * restarted on the same port: nothing recorded while it was gone is lost; bound beyond
 * loopback without a service token, the role refuses to start.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-license-support.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"

#define TOKEN "service-token-for-tests-0123456789"
#define RPM 3
/* keys given to the deployment as API keys (SHA-256 in the config) */
#define KEY_RECENT "team-key-recent-0123456789"
#define KEY_NEW "team-key-new-0123456789"
#define KEY_RESTART "team-key-restart-0123456789"

static char *dir;
static char *license_key;
static char *license_config;
static LmdTestUpstream *upstream;
static LmdTestServer *license_server;
static LmdTestServer *api[2];
static SoupSession *session;
static GBytes *audio;
static GBytes *garbage;

static LmdTestServer *
start_license_server (guint port)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  const char *args[] = { "--role", "license", port > 0 ? "--port" : NULL, port_text, NULL };
  LmdTestServer *s = lmd_test_server_start (license_config, args, &error);

  g_assert_no_error (error);
  return s;
}

static LmdTestServer *
start_api_server (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = g_strdup_printf (
    "[plugins]\nload=http;gst-decoder;sphinx;license-remote\n"
    "[limits]\nworkers=1\n"
    "[license]\nservice_url=http://127.0.0.1:%u/\nservice_token=" TOKEN "\n"
    "cache_ttl_s=120\nservice_timeout_s=1\nhealth_interval_s=1\n",
    lmd_test_server_get_port (license_server));
  LmdTestServer *s = lmd_test_server_start (config, NULL, &error);

  g_assert_no_error (error);
  return s;
}

static LmdTestResponse *
post_listen (LmdTestServer *s, const char *key, GBytes *body)
{
  g_autofree char *url = lmd_test_server_url (s, "/v1/listen");
  g_autofree char *auth = key != NULL ? g_strdup_printf ("Token %s", key) : NULL;

  if (auth == NULL)
    return lmd_test_http (session, "POST", url, "audio/wav", body, NULL);
  return lmd_test_http (session, "POST", url, "audio/wav", body, "Authorization", auth, NULL);
}

static LmdTestResponse *
post_internal (const char *path, const char *token, const char *json)
{
  g_autofree char *url = lmd_test_server_url (license_server, path);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autofree char *auth = token != NULL ? g_strdup_printf ("Bearer %s", token) : NULL;

  if (auth == NULL)
    return lmd_test_http (session, "POST", url, "application/json", body, NULL);
  return lmd_test_http (session, "POST", url, "application/json", body, "Authorization", auth,
                        NULL);
}

static void
assert_status (LmdTestResponse *r, guint status, const char *code)
{
  g_assert_no_error (r->error);
  if (r->status != status)
    g_error ("expected %u %s, got %u: %.*s", status, code != NULL ? code : "", r->status,
             (int) g_bytes_get_size (r->body), (const char *) g_bytes_get_data (r->body, NULL));
  if (code != NULL)
    {
      JsonObject *o = lmd_test_response_json (r);
      g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, code);
      g_assert_true (strlen (json_object_get_string_member (o, "error")) > 0);
    }
}

static LmdTestServer *
start_api_server_with (const char *plugins, const char *extra)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = g_strdup_printf (
    "[plugins]\nload=%s\n"
    "[limits]\nworkers=1\n"
    "[license]\nservice_url=http://127.0.0.1:%u/\nservice_token=" TOKEN "\n"
    "cache_ttl_s=120\nservice_timeout_s=1\nhealth_interval_s=1\n%s",
    plugins, lmd_test_server_get_port (license_server), extra);
  LmdTestServer *s = lmd_test_server_start (config, NULL, &error);

  g_assert_no_error (error);
  return s;
}

static gboolean
need_testdata (void)
{
  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

/* A counter of the license role's /metrics (0 when absent). */
static double
license_metric (const char *name)
{
  g_autofree char *url = lmd_test_server_url (license_server, "/metrics");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  g_assert_cmpuint (r->status, ==, 200);
  text = g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], name) && lines[i][strlen (name)] == ' ')
      return g_ascii_strtod (lines[i] + strlen (name) + 1, NULL);
  return 0;
}

static const char *
api_license_proxy (LmdTestServer *s)
{
  static char state[32];
  g_autofree char *url = lmd_test_server_url (s, "/health?detailed=true");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  JsonObject *o = lmd_test_response_json (r);

  g_strlcpy (state, json_object_get_string_member (json_object_get_object_member (o, "components"),
                                                   "license_proxy"),
             sizeof state);
  return state;
}

typedef struct {
  LmdTestServer *server;
  const char *want;
} ProxyWait;

static gboolean
proxy_is (gpointer data)
{
  ProxyWait *w = data;
  return g_str_equal (api_license_proxy (w->server), w->want);
}

static double wanted_audio;

static gboolean
upstream_has_audio (gpointer data)
{
  return lmd_test_upstream_get_audio_seconds (upstream) >= wanted_audio;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_health (void)
{
  g_autofree char *url = lmd_test_server_url (license_server, "/health");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  JsonObject *o = lmd_test_response_json (r);
  ProxyWait healthy = { api[0], "healthy" };

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "healthy");
  g_assert_true (json_object_get_boolean_member (o, "license_valid"));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (o, "valid_until"), "20"));
  g_assert_false (json_object_get_boolean_member (o, "grace_period_active"));
  /* the api process reports the remote service in its detailed health */
  g_assert_true (lmd_test_wait_until (proxy_is, &healthy, 20));
}

static void
test_valid_key_transcribes (void)
{
  g_autoptr (LmdTestResponse) r = NULL;
  JsonObject *o;
  double before = lmd_test_upstream_get_audio_seconds (upstream);

  if (!need_testdata ())
    return;
  r = post_listen (api[0], license_key, audio);
  assert_status (r, 200, NULL);
  o = lmd_test_response_json (r);
  g_assert_nonnull (strstr (json_object_get_string_member (o, "text"), "young man"));
  g_assert_cmpfloat (json_object_get_double_member (o, "duration"), >, 1.0);
  /* the usage (with the audio seconds) reaches the license process's journal, which it
   * uploads to the vendor's server */
  wanted_audio = before + json_object_get_double_member (o, "duration") - 0.01;
  g_assert_true (lmd_test_wait_until (upstream_has_audio, NULL, 30));
  g_assert_cmpfloat (license_metric ("license_completions_total"), >=, 1);
  g_assert_cmpuint (lmd_test_upstream_get_violations (upstream), ==, 0);
}

static void
test_unknown_key (void)
{
  g_autoptr (LmdTestResponse) none = post_listen (api[0], NULL, garbage);
  g_autoptr (LmdTestResponse) wrong = post_listen (api[1], "not-a-key-at-all", garbage);
  g_autofree char *log = NULL;

  assert_status (none, 401, "INVALID_LICENSE");
  assert_status (wrong, 401, "INVALID_LICENSE");
  /* keys never reach a log */
  log = lmd_test_server_read_log (license_server);
  g_assert_null (strstr (log, "not-a-key-at-all"));
  g_assert_null (strstr (log, license_key));
}

/* The license allows RPM requests per minute for the key: over two api processes together,
 * not RPM each.  Requests with a body no decoder knows are admitted (and count) first, and
 * then answered 415, so no transcription is needed. */
static void
test_rate_limit_is_global (void)
{
  guint admitted = 0;
  gboolean limited = FALSE;

  for (guint i = 0; i < 2 * RPM && !limited; i++)
    {
      g_autoptr (LmdTestResponse) r = post_listen (api[i % 2], license_key, garbage);
      g_assert_no_error (r->error);
      if (r->status == 429)
        {
          JsonObject *o = lmd_test_response_json (r);
          g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "RATE_LIMIT_EXCEEDED");
          g_assert_cmpint (json_object_get_int_member (o, "retry_after"), >, 0);
          g_assert_nonnull (soup_message_headers_get_one (r->headers, "Retry-After"));
          limited = TRUE;
        }
      else
        {
          assert_status (r, 415, "UNSUPPORTED_FORMAT");
          admitted++;
        }
    }
  g_assert_true (limited);
  /* one request of the key went before (the transcription); a token may have been refilled
   * meanwhile (one per 60/RPM s): never the 2 * RPM that two separate limits would allow */
  g_assert_cmpuint (admitted, <=, RPM);
  g_assert_cmpfloat (license_metric ("license_admissions_total{code=\"RATE_LIMIT_EXCEEDED\"}"), >=,
                     1);
}

static void
test_internal_api_errors (void)
{
  const char *bad_bodies[] = { "not json", "[1,2]", "{\"api_key\":42}", "{\"feature\":\"Bad Feature!\"}",
                               "{\"request_id\":\"with spaces\"}" };
  const char *bad_completions[] = { "{\"ticket\":\"x\",\"key_sha256\":\"zz\"}",
                                    "{\"ticket\":null,\"key_sha256\":\"00\",\"audio_seconds\":1}",
                                    "{\"audio_seconds\":\"ten\"}", "{\"audio_seconds\":-1}",
                                    "{\"status\":\"ok\"}", "{}" };

  for (guint i = 0; i < G_N_ELEMENTS (bad_bodies); i++)
    {
      g_autoptr (LmdTestResponse) r = post_internal ("/v1/license/admit", TOKEN, bad_bodies[i]);
      assert_status (r, 400, "INVALID_PARAMETER");
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad_completions); i++)
    {
      g_autoptr (LmdTestResponse) r = post_internal ("/v1/license/complete", TOKEN,
                                                     bad_completions[i]);
      g_assert_no_error (r->error);
      /* "{}" names nothing to complete: 404; the others are malformed: 400 */
      assert_status (r, i == G_N_ELEMENTS (bad_completions) - 1 ? 404 : 400, NULL);
      g_assert_nonnull (json_object_get_string_member (lmd_test_response_json (r), "code"));
    }
  {
    g_autoptr (LmdTestResponse) wrong = post_internal ("/v1/license/admit", "wrong-token",
                                                       "{\"api_key\":\"" KEY_NEW "\"}");
    g_autoptr (LmdTestResponse) none = post_internal ("/v1/license/complete", NULL, "{}");
    g_autofree char *url = lmd_test_server_url (license_server, "/v1/license/admit");
    g_autoptr (LmdTestResponse) get = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

    assert_status (wrong, 401, "INVALID_SERVICE_TOKEN");
    assert_status (none, 401, "INVALID_SERVICE_TOKEN");
    g_assert_cmpuint (get->status, ==, 405);
  }
  /* the service is still fine */
  {
    g_autofree char *url = lmd_test_server_url (license_server, "/health");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
}

/* A streaming request of a key whose license has only "batch". */
static void
test_feature_not_licensed (void)
{
  g_autoptr (LmdTestResponse) direct = post_internal (
    "/v1/license/admit", TOKEN, "{\"api_key\":\"" KEY_NEW "\",\"feature\":\"streaming\"}");

  g_autofree char *http_url = lmd_test_server_url (api[0], "/v1/listen/stream");
  g_autofree char *url = g_strdup_printf ("ws%s?encoding=linear16&sample_rate=16000&token=%s",
                                          http_url + 4, KEY_NEW);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestStream) stream = NULL;
  static const guint8 silence[3200] = { 0 };
  JsonObject *refusal;

  assert_status (direct, 403, "FEATURE_NOT_LICENSED");
  /* the same through an api process, on a WebSocket: audio sent before the answer is held,
   * then the stream is refused with the code and closed */
  stream = lmd_test_stream_connect (session, url, &error);
  g_assert_no_error (error);
  lmd_test_stream_send (stream, silence, sizeof silence);
  g_assert_true (lmd_test_stream_wait_closed (stream, 20));
  refusal = lmd_test_stream_find_type (stream, NULL);
  g_assert_nonnull (refusal);
  g_assert_cmpstr (json_object_get_string_member (refusal, "code"), ==, "FEATURE_NOT_LICENSED");
}

/* SIGSTOP: the service accepts connections (the kernel does) and never answers. */
static void
test_service_stopped (void)
{
  g_autoptr (LmdTestResponse) warm = NULL;
  g_autoptr (LmdTestResponse) recent = NULL;
  g_autoptr (LmdTestResponse) fresh = NULL;
  ProxyWait unhealthy = { api[0], "unhealthy" };
  ProxyWait healthy = { api[0], "healthy" };
  double before;
  JsonObject *o;

  if (!need_testdata ())
    return;
  /* the key is admitted once while the service runs */
  warm = post_listen (api[0], KEY_RECENT, garbage);
  assert_status (warm, 415, "UNSUPPORTED_FORMAT");

  before = lmd_test_upstream_get_audio_seconds (upstream);
  g_assert_cmpint (kill (lmd_test_server_get_pid (license_server), SIGSTOP), ==, 0);
  recent = post_listen (api[0], KEY_RECENT, audio);
  fresh = post_listen (api[0], KEY_NEW, garbage);
  assert_status (recent, 200, NULL);
  o = lmd_test_response_json (recent);
  g_assert_nonnull (strstr (json_object_get_string_member (o, "text"), "young man"));
  assert_status (fresh, 503, "SERVICE_UNAVAILABLE");
  g_assert_cmpint (json_object_get_int_member (lmd_test_response_json (fresh), "retry_after"), >, 0);
  g_assert_true (lmd_test_wait_until (proxy_is, &unhealthy, 20));
  {
    g_autofree char *log = lmd_test_server_read_log (api[0]);
    g_assert_nonnull (strstr (log, "admitted from its answer"));
    g_assert_null (strstr (log, KEY_RECENT));
  }

  g_assert_cmpint (kill (lmd_test_server_get_pid (license_server), SIGCONT), ==, 0);
  /* the usage recorded while it was stopped reaches it, and goes on upstream */
  wanted_audio = before + json_object_get_double_member (o, "duration") - 0.01;
  g_assert_true (lmd_test_wait_until (upstream_has_audio, NULL, 60));
  g_assert_true (lmd_test_wait_until (proxy_is, &healthy, 20));
  /* and the new key is admitted now */
  {
    g_autoptr (LmdTestResponse) again = post_listen (api[0], KEY_NEW, garbage);
    assert_status (again, 415, "UNSUPPORTED_FORMAT");
  }
}

/* Killed and restarted on the same port, with the same state directory. */
static void
test_service_restarted (void)
{
  g_autoptr (LmdTestResponse) warm = NULL;
  g_autoptr (LmdTestResponse) during = NULL;
  guint port = lmd_test_server_get_port (license_server);
  ProxyWait healthy = { api[1], "healthy" };
  double before;
  JsonObject *o;

  if (!need_testdata ())
    return;
  /* api[1] too saw the service stopped in the test before: it asks again once it has seen
   * it back (a health poll), not within the 2 s after a failed exchange */
  g_assert_true (lmd_test_wait_until (proxy_is, &healthy, 20));
  warm = post_listen (api[1], KEY_RESTART, garbage);
  assert_status (warm, 415, "UNSUPPORTED_FORMAT");
  g_assert_cmpint (lmd_test_server_stop (license_server), ==, 0);
  license_server = NULL;
  before = lmd_test_upstream_get_audio_seconds (upstream);

  during = post_listen (api[1], KEY_RESTART, audio);
  assert_status (during, 200, NULL);
  o = lmd_test_response_json (during);

  license_server = start_license_server (port);
  g_assert_cmpuint (lmd_test_server_get_port (license_server), ==, port);
  wanted_audio = before + json_object_get_double_member (o, "duration") - 0.01;
  g_assert_true (lmd_test_wait_until (upstream_has_audio, NULL, 60));
  g_assert_cmpfloat (license_metric ("license_completions_without_ticket_total"), >=, 1);
  g_assert_true (lmd_test_wait_until (proxy_is, &healthy, 20));
  g_assert_cmpuint (lmd_test_upstream_get_duplicates (upstream), ==, 0);
}

/* A model of the whisper plugin needs the license feature "whisper"; the license has only
 * "batch".  Known once the request is parsed, after admission. */
static void
test_whisper_not_licensed (void)
{
  g_autofree char *model = g_build_filename (g_getenv ("LMD_FIXTURES_DIR"), "whisper",
                                             "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *extra = NULL;
  g_autofree char *whisper_url = NULL;
  g_autofree char *auth = g_strdup_printf ("Token %s", KEY_RESTART);
  g_autoptr (LmdTestResponse) refused = NULL;
  g_autoptr (LmdTestResponse) sphinx = NULL;
  LmdTestServer *s;

  if (!g_file_test (model, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the whisper fixture model is not there");
      return;
    }
  extra = g_strdup_printf ("[whisper]\nmodel=%s\nname=tiny-en-random\n", model);
  s = start_api_server_with ("http;gst-decoder;sphinx;whisper;license-remote", extra);
  whisper_url = lmd_test_server_url (s, "/v1/listen?model=tiny-en-random");
  refused = lmd_test_http (session, "POST", whisper_url, "audio/wav", garbage, "Authorization",
                           auth, NULL);
  assert_status (refused, 403, "FEATURE_NOT_LICENSED");
  g_assert_nonnull (strstr (json_object_get_string_member (lmd_test_response_json (refused), "error"),
                            "whisper"));
  /* the default (sphinx) model is licensed: admitted, then refused for the body */
  sphinx = post_listen (s, KEY_RESTART, garbage);
  assert_status (sphinx, 415, "UNSUPPORTED_FORMAT");
  g_assert_cmpint (lmd_test_server_stop (s), ==, 0);
}

/* Bound beyond loopback, the role refuses to start without a service token. */
static void
test_token_required_off_loopback (void)
{
  g_autofree char *path = g_build_filename (dir, "open.conf", NULL);
  g_autofree char *config = NULL;
  g_autofree char *output = NULL;
  g_autofree char *state = g_build_filename (dir, "state-open", NULL);
  const char *argv[] = { "--config", path, "--role", "license", "--host", "0.0.0.0", "--port", "0",
                         NULL };
  g_autofree char *key_line = g_strdup_printf ("key=%s\n", license_key);
  char *pub_line = strstr (license_config, "public_keys=");

  config = g_strdup_printf ("[license]\n%sstate_dir=%s\n%.*s", key_line, state,
                            (int) (strchr (pub_line, '\n') - pub_line + 1), pub_line);
  g_assert_true (g_file_set_contents (path, config, -1, NULL));
  g_assert_cmpint (lmd_test_daemon_run (argv, &output, 30), !=, 0);
  g_assert_nonnull (strstr (output, "service token"));
  g_assert_null (strstr (output, license_key));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicenseSigningKey) vendor = NULL;
  g_autofree char *pub = NULL;
  g_autofree char *state = NULL;
  g_autofree char *upstream_url = NULL;
  g_autofree char *h1 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY_RECENT, -1);
  g_autofree char *h2 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY_NEW, -1);
  g_autofree char *h3 = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY_RESTART, -1);
  const char *features[] = { "batch", NULL };
  int status;

  g_test_init (&argc, &argv, NULL);
  dir = g_dir_make_tmp ("lmd-license-role-XXXXXX", &error);
  g_assert_no_error (error);
  vendor = lmd_license_signing_key_generate ();
  pub = lmd_test_write_public_key (vendor, dir);
  license_key = lmd_test_issue_key (vendor, "lic_role", 0, 30 * 86400, RPM, 0, 0, features);
  state = g_build_filename (dir, "state", NULL);
  upstream = lmd_test_upstream_start ();
  lmd_test_upstream_set_expected_key (upstream, license_key);
  upstream_url = lmd_test_upstream_url (upstream);
  license_config = g_strdup_printf (
    "[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\napi_keys_sha256=%s;%s;%s\n"
    "upstream_url=%s\nallow_insecure_upstream=true\nflush_interval_s=1\n"
    "service_token=" TOKEN "\n",
    license_key, pub, state, h1, h2, h3, upstream_url);
  license_server = start_license_server (0);
  api[0] = start_api_server ();
  api[1] = start_api_server ();
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (120), NULL);
  garbage = g_bytes_new_static ("this is not audio at all, just some bytes", 41);
  audio = lmd_test_librivox_file ("sense_and_sensibility_01_austen_64kb-0880");
  if (audio == NULL)
    audio = g_bytes_new_static ("RIFF", 4);

  g_test_add_func ("/license-role/health", test_health);
  g_test_add_func ("/license-role/valid-key-transcribes", test_valid_key_transcribes);
  g_test_add_func ("/license-role/unknown-key", test_unknown_key);
  g_test_add_func ("/license-role/rate-limit-is-global", test_rate_limit_is_global);
  g_test_add_func ("/license-role/internal-api-errors", test_internal_api_errors);
  g_test_add_func ("/license-role/feature-not-licensed", test_feature_not_licensed);
  g_test_add_func ("/license-role/token-required-off-loopback", test_token_required_off_loopback);
  g_test_add_func ("/license-role/whisper-not-licensed", test_whisper_not_licensed);
  g_test_add_func ("/license-role/service-stopped", test_service_stopped);
  g_test_add_func ("/license-role/service-restarted", test_service_restarted);
  status = g_test_run ();

  for (guint i = 0; i < G_N_ELEMENTS (api); i++)
    g_assert_cmpint (lmd_test_server_stop (api[i]), ==, 0);
  if (license_server != NULL)
    {
      kill (lmd_test_server_get_pid (license_server), SIGCONT);
      g_assert_cmpint (lmd_test_server_stop (license_server), ==, 0);
    }
  lmd_test_upstream_stop (upstream);
  g_object_unref (session);
  g_bytes_unref (audio);
  g_bytes_unref (garbage);
  {
    const char *rm[] = { "rm", "-rf", dir, NULL };
    g_autoptr (GSubprocess) p = g_subprocess_newv (rm, G_SUBPROCESS_FLAGS_NONE, NULL);
    if (p != NULL)
      g_subprocess_wait (p, NULL, NULL);
  }
  g_free (dir);
  g_free (license_key);
  g_free (license_config);
  return status;
}
