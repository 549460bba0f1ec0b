/* SPDX-License-Identifier: MIT */
/*
 * test-http-license.c — authentication and limits on the REST API with the license plugin
 * loaded: a vendor key pair and a license key made by the real lightning-license tool, the
 * daemon configured to trust them, and real HTTP clients.
 *
 * Covers: 401 without a key or with a wrong one, Token and Bearer schemes, an extra API key
 * stored as a SHA-256, the per-key rate limit answering 429 with Retry-After, health needing
 * no key, the license status in /health?detailed=true, and ?token= refused on REST URLs.  A
 * request without a key that declares a 99 MiB body is answered 401 from its headers, before
 * any of the body is sent (with and without "Expect: 100-continue"), and the connection is
 * closed.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-raw-http.h"
#include "lmd-test-server.h"

static char *dir;
static char *license_key;
static LmdTestServer *server;
static SoupSession *session;
static GBytes *audio;

static char *
run_tool (const char *const *argv)
{
  g_autofree char *tool = g_build_filename (g_getenv ("LMD_BUILD_DIR"), "plugins", "license",
                                            "lightning-license", NULL);
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  char *out = NULL;

  g_ptr_array_add (full, tool);
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);
  p = g_subprocess_newv ((const char *const *) full->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (p));
  return g_strstrip (out);
}

static LmdTestResponse *
post (const char *auth_header)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");

  if (auth_header == NULL)
    return lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
  return lmd_test_http (session, "POST", url, "audio/wav", audio, "Authorization", auth_header, NULL);
}

static void
assert_code (LmdTestResponse *r, guint status, const char *code)
{
  g_assert_no_error (r->error);
  if (r->status != status)
    g_error ("expected %u, got %u: %.*s", status, r->status, (int) g_bytes_get_size (r->body),
             (const char *) g_bytes_get_data (r->body, NULL));
  if (code != NULL)
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, code);
}

static void
test_no_key (void)
{
  g_autoptr (LmdTestResponse) none = post (NULL);
  g_autoptr (LmdTestResponse) wrong = post ("Token not-a-license-key");
  g_autoptr (LmdTestResponse) scheme = post ("Basic dXNlcjpwYXNz");

  assert_code (none, 401, "INVALID_LICENSE");
  assert_code (wrong, 401, "INVALID_LICENSE");
  assert_code (scheme, 401, "INVALID_LICENSE");
}

static void
test_no_key_refused_from_headers (void)
{
  static const char *const expect[] = { "", "Expect: 100-continue\r\n" };

  for (guint i = 0; i < G_N_ELEMENTS (expect); i++)
    {
      g_autoptr (GSocketConnection) conn = lmd_test_raw_connect (lmd_test_server_get_port (server));
      g_autofree char *id = g_strdup_printf ("no-key-early-%u", i);
      g_autofree char *head = g_strdup_printf ("POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "Content-Type: audio/wav\r\nContent-Length: %u\r\n"
                                               "X-Request-ID: %s\r\n%s\r\n",
                                               99u * 1024 * 1024, id, expect[i]);
      g_autofree char *response = NULL;
      g_autofree char *log = NULL;
      g_autofree char *tag = g_strdup_printf ("[%s]", id);
      gboolean closed = FALSE;
      gint64 start = g_get_monotonic_time ();

      /* the headers only: the client waits for the answer before sending any of the body */
      g_assert_true (lmd_test_raw_send (conn, head, strlen (head)));
      response = lmd_test_raw_read_response (conn, 10, &closed);
      g_test_message ("%s: answered in %.3f s: %.40s", id, (g_get_monotonic_time () - start) / 1e6,
                      response != NULL ? response : "(nothing)");
      g_assert_nonnull (response);
      g_assert_cmpuint (lmd_test_raw_status (response), ==, 401);
      g_assert_nonnull (strstr (lmd_test_raw_body (response), "\"INVALID_LICENSE\""));
      g_assert_true (closed);
      log = lmd_test_server_read_log (server);
      g_assert_nonnull (strstr (log, tag));
    }
}

static void
test_health_needs_no_key (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/health?detailed=true");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  JsonObject *o = lmd_test_response_json (r);
  JsonObject *license;

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (o, "components"), "license_proxy"),
                   ==, "healthy");
  license = json_object_get_object_member (o, "license");
  g_assert_nonnull (license);
  g_assert_true (json_object_get_boolean_member (license, "license_valid"));
  g_assert_false (json_object_get_boolean_member (license, "grace_period_active"));
  g_assert_true (strlen (json_object_get_string_member (license, "valid_until")) > 10);
}

static void
test_valid_key_and_rate_limit (void)
{
  g_autofree char *token = g_strdup_printf ("Token %s", license_key);
  g_autofree char *bearer = g_strdup_printf ("Bearer %s", license_key);
  g_autoptr (LmdTestResponse) first = NULL;
  g_autoptr (LmdTestResponse) second = NULL;
  g_autoptr (LmdTestResponse) third = NULL;
  g_autofree char *log = NULL;
  JsonObject *o;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  if (lmd_test_skip_under_valgrind ("three transcriptions in a row take longer than the license's "
                                    "one-minute rate window there"))
    return;
  first = post (token);
  assert_code (first, 200, NULL);
  second = post (bearer);
  assert_code (second, 200, NULL);
  /* the license allows 2 requests per minute */
  third = post (token);
  assert_code (third, 429, "RATE_LIMIT_EXCEEDED");
  o = lmd_test_response_json (third);
  g_assert_cmpint (json_object_get_int_member (o, "retry_after"), >, 0);
  g_assert_nonnull (soup_message_headers_get_one (third->headers, "Retry-After"));
  /* the key never reaches the log */
  log = lmd_test_server_read_log (server);
  g_assert_null (strstr (log, license_key));
}

static void
test_api_key (void)
{
  /* the extra API key has no limits of its own */
  g_autoptr (LmdTestResponse) r = NULL;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  r = post ("Token team-key-0123456789");
  assert_code (r, 200, NULL);
}

/* ?token= is for WebSocket URLs only: on REST the key would end up in proxy logs, so a
 * valid key in the query is refused with a message that says where it goes, and not logged. */
static void
test_query_token_refused_on_rest (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen?token=team-key-0123456789");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio,
                                                 "X-Request-ID", "query-token-1", NULL);
  g_autofree char *log = NULL;

  assert_code (r, 401, "INVALID_LICENSE");
  g_assert_nonnull (strstr (json_object_get_string_member (lmd_test_response_json (r), "error"),
                            "Authorization header"));
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "[query-token-1] "));
  g_assert_null (strstr (log, "team-key-0123456789"));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *pub = NULL;
  g_autofree char *signing = NULL;
  g_autofree char *state = NULL;
  g_autofree char *config = NULL;
  g_autofree char *api_hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "team-key-0123456789", -1);
  int status;

  g_test_init (&argc, &argv, NULL);
  dir = g_dir_make_tmp ("lmd-license-http-XXXXXX", &error);
  g_assert_no_error (error);
  prefix = g_build_filename (dir, "vendor", NULL);
  pub = g_strconcat (prefix, ".pub", NULL);
  signing = g_strconcat (prefix, ".key", NULL);
  state = g_build_filename (dir, "state", NULL);
  {
    const char *keygen[] = { "keygen", "--out", prefix, NULL };
    const char *issue[] = { "issue", "--signing-key", signing, "--licensee", "Test Ltd", "--days", "30",
                            "--rpm", "2", "--features", "batch,streaming", NULL };
    g_free (run_tool (keygen));
    license_key = run_tool (issue);
  }
  config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;license\n"
                            "[limits]\nworkers=1\n"
                            "[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\napi_keys_sha256=%s\n",
                            license_key, pub, state, api_hash);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  audio = lmd_test_librivox_file ("sense_and_sensibility_01_austen_64kb-0880");
  if (audio == NULL)
    audio = g_bytes_new_static ("RIFF", 4);

  g_test_add_func ("/http-license/no-key", test_no_key);
  g_test_add_func ("/http-license/no-key-refused-from-headers", test_no_key_refused_from_headers);
  g_test_add_func ("/http-license/health-needs-no-key", test_health_needs_no_key);
  g_test_add_func ("/http-license/valid-key-and-rate-limit", test_valid_key_and_rate_limit);
  g_test_add_func ("/http-license/api-key", test_api_key);
  g_test_add_func ("/http-license/query-token-refused-on-rest", test_query_token_refused_on_rest);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  g_bytes_unref (audio);
  {
    const char *rm[] = { "rm", "-rf", dir, NULL };
    g_autoptr (GSubprocess) p = g_subprocess_newv (rm, G_SUBPROCESS_FLAGS_NONE, NULL);
    if (p != NULL)
      g_subprocess_wait (p, NULL, NULL);
  }
  g_free (dir);
  g_free (license_key);
  return status;
}
