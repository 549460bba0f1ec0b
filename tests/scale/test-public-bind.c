/* SPDX-License-Identifier: MIT */
/*
 * test-public-bind.c — the rule for a bind beyond loopback, enforced by the daemon whatever
 * the plugins, and the secret an api shares with its asr workers.
 *
 * Real parts only: lightning-mediad processes (--role all, api, asr), real HTTP and WebSocket
 * clients, a real recording from pocketsphinx-testdata.  Every request goes to 127.0.0.1; the
 * one worker bound to 0.0.0.0 is reached through its loopback address.
 *
 * Covers: role all and role api bound to 0.0.0.0 without a license plugin refuse to start,
 * naming the reason; role asr bound to 0.0.0.0 without [server] worker_secret refuses to
 * start; with the secret it starts, answers /health to anyone, and answers every other
 * request (batch, /metrics, a WebSocket upgrade) with 401 unless it carries the secret in
 * X-Worker-Secret (a log line with the request id, the secret never logged); an api with the
 * same secret sends batch requests, streams and job look-ups through to that worker, and an api without
 * it (even when its client sends the header) gets the worker's 401.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdlib.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"

#define SECRET "s3cret-shared-by-api-and-asr"

static SoupSession *session;        /* plain client */
static SoupSession *secret_session; /* every message carries X-Worker-Secret: SECRET */
static char *dir;
static GBytes *short_wav; /* 2.5 s of speech, WAV */
static GBytes *short_pcm; /* the same as linear16 */

static void
add_secret (SoupSession *s, SoupMessage *msg, gpointer user_data)
{
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Worker-Secret",
                                user_data);
}

/* Runs the daemon with @args after a config of its own; asserts it exits with status 1 within
 * 120 s (it loads its plugins first, slowly under sanitizers on a busy machine) and that its
 * output names @reason.  (transfer full) the output. */
static char *
assert_refuses (const char *const *args, const char *reason)
{
  g_autofree char *path = g_build_filename (dir, "refuse.conf", NULL);
  g_autofree char *config = g_strdup_printf ("[jobs]\ndir=%s/jobs-refuse\n"
                                             "[api]\nasr_base_url=http://127.0.0.1:9\n", dir);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  char *output = NULL;

  g_assert_true (g_file_set_contents (path, config, -1, NULL));
  g_ptr_array_add (argv, (gpointer) "--config");
  g_ptr_array_add (argv, path);
  g_ptr_array_add (argv, (gpointer) "--port=0");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_cmpint (lmd_test_daemon_run ((const char *const *) argv->pdata, &output, 120), ==, 1);
  g_test_message ("%s", output);
  g_assert_nonnull (strstr (output, reason));
  /* refused before it listened: no "listening on" line */
  g_assert_null (strstr (output, "listening on"));
  return output;
}

static void
test_all_without_license_refused (void)
{
  const char *all[] = { "--host=0.0.0.0", "--plugins=http;gst-decoder;sphinx", NULL };
  const char *api[] = { "--role=api", "--host=0.0.0.0", "--plugins=http", NULL };
  const char *api6[] = { "--role=api", "--host=::", "--plugins=http", NULL };
  g_autofree char *a = assert_refuses (all, "role all bound to '0.0.0.0', not loopback, without a license plugin");
  g_autofree char *b = assert_refuses (api, "role api bound to '0.0.0.0', not loopback, without a license plugin");
  g_autofree char *c = assert_refuses (api6, "role api bound to '::', not loopback, without a license plugin");
}

static void
test_asr_without_secret_refused (void)
{
  const char *asr[] = { "--role=asr", "--host=0.0.0.0", "--plugins=http;gst-decoder;sphinx", NULL };
  g_autofree char *out = NULL;

  g_unsetenv ("WORKER_SECRET");
  out = assert_refuses (asr, "role asr bound to '0.0.0.0', not loopback, without a worker secret");
  /* refused before the model was loaded */
  g_assert_null (strstr (out, "engine sphinx ready"));
}

static LmdTestServer *
start_worker (const char *host_arg)
{
  g_autofree char *config = g_strdup_printf ("[server]\nworker_secret=%s\n[jobs]\ndir=%s/jobs-asr\n",
                                             SECRET, dir);
  const char *args[] = { "--role=asr", "--workers=1", "--plugins=http;gst-decoder;sphinx",
                         host_arg, NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *srv = lmd_test_server_start (config, args, &error);

  g_assert_no_error (error);
  return srv;
}

static LmdTestResponse *
post_wav (SoupSession *s, LmdTestServer *srv, const char *secret)
{
  g_autofree char *url = lmd_test_server_url (srv, "/v1/listen");

  return lmd_test_http (s, "POST", url, "audio/wav", short_wav, "X-Request-ID", "req_public_bind_1",
                        secret != NULL ? "X-Worker-Secret" : NULL, secret, NULL);
}

static void
assert_refused_401 (LmdTestResponse *r)
{
  JsonObject *o;

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 401);
  o = lmd_test_response_json (r);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "INVALID_LICENSE");
  g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "X-Worker-Secret"));
}

static char *
transcript_of (LmdTestResponse *r)
{
  JsonObject *o;

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
  o = lmd_test_response_json (r);
  return g_strdup (json_object_get_string_member (o, "text"));
}

/* Streams short_pcm to @url through @s; the concatenated final transcripts, or NULL when the
 * handshake failed (its error in @error). */
static char *
stream_text (SoupSession *s, const char *url, GError **error)
{
  g_autoptr (LmdTestStream) st = lmd_test_stream_connect (s, url, error);
  gsize total = g_bytes_get_size (short_pcm);
  const guint8 *data = g_bytes_get_data (short_pcm, NULL);

  if (st == NULL)
    return NULL;
  for (gsize off = 0; off < total; off += 4096)
    lmd_test_stream_send (st, data + off, MIN (4096, total - off));
  lmd_test_stream_send_text (st, "{\"type\":\"close_stream\"}");
  g_assert_true (lmd_test_stream_wait_closed (st, 60));
  return lmd_test_stream_finals_text (st);
}

static void
test_asr_with_secret (void)
{
  LmdTestServer *worker;
  g_autofree char *health = NULL, *metrics = NULL, *ws = NULL, *log = NULL, *text = NULL;
  g_autoptr (GError) error = NULL;

  if (short_wav == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  worker = start_worker ("--host=0.0.0.0");
  health = lmd_test_server_url (worker, "/health");
  metrics = lmd_test_server_url (worker, "/metrics");
  ws = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream", lmd_test_server_get_port (worker));
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", health, NULL, NULL, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", metrics, NULL, NULL, NULL);
    assert_refused_401 (r);
  }
  {
    g_autoptr (LmdTestResponse) none = post_wav (session, worker, NULL);
    g_autoptr (LmdTestResponse) wrong = post_wav (session, worker, SECRET "x");
    g_autoptr (LmdTestResponse) prefix = post_wav (session, worker, "s3cret");
    g_autoptr (LmdTestResponse) right = post_wav (session, worker, SECRET);
    assert_refused_401 (none);
    assert_refused_401 (wrong);
    assert_refused_401 (prefix);
    text = transcript_of (right);
    g_assert_cmpuint (strlen (text), >, 0);
  }
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (secret_session, "GET", metrics, NULL, NULL, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
  /* a WebSocket upgrade without the secret is refused; with it the stream transcribes */
  {
    g_autofree char *refused = stream_text (session, ws, &error);
    g_autofree char *streamed = NULL;
    g_assert_null (refused);
    g_assert_nonnull (error);
    g_clear_error (&error);
    streamed = stream_text (secret_session, ws, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (strlen (streamed), >, 0);
  }
  log = lmd_test_server_read_log (worker);
  g_assert_nonnull (strstr (log, "[req_public_bind_1] "));
  g_assert_nonnull (strstr (log, "→ 401 INVALID_LICENSE"));
  g_assert_null (strstr (log, SECRET));
  g_assert_cmpint (lmd_test_server_stop (worker), ==, 0);
}

static LmdTestServer *
start_api (LmdTestServer *worker, const char *secret)
{
  g_autofree char *config = g_strdup_printf ("[server]\n%s%s\n[api]\nasr_base_url=http://127.0.0.1:%u\n"
                                             "probe_interval_ms=200\n",
                                             secret != NULL ? "worker_secret=" : "",
                                             secret != NULL ? secret : "",
                                             lmd_test_server_get_port (worker));
  const char *args[] = { "--role=api", "--plugins=http;license", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *srv = lmd_test_server_start (config, args, &error);

  g_assert_no_error (error);
  return srv;
}

static void
test_api_to_asr (void)
{
  LmdTestServer *worker, *api, *bare_api;
  g_autofree char *direct = NULL, *through = NULL, *ws = NULL, *streamed = NULL;
  g_autoptr (GError) error = NULL;

  if (short_wav == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  /* a worker on loopback with a secret requires it too */
  worker = start_worker ("--host=127.0.0.1");
  api = start_api (worker, SECRET);
  bare_api = start_api (worker, NULL);
  {
    g_autoptr (LmdTestResponse) r = post_wav (secret_session, worker, SECRET);
    direct = transcript_of (r);
  }
  {
    g_autoptr (LmdTestResponse) r = post_wav (session, api, NULL);
    through = transcript_of (r);
    g_assert_cmpstr (through, ==, direct);
  }
  {
    /* job look-ups go to the worker with the secret too: its 404 comes back, not a refusal */
    g_autofree char *job = lmd_test_server_url (api, "/v1/jobs/job_0123456789abcdef0123456789abcdef");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", job, NULL, NULL, NULL);
    g_assert_cmpuint (r->status, ==, 404);
  }
  ws = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream", lmd_test_server_get_port (api));
  streamed = stream_text (session, ws, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (streamed), >, 0);
  {
    /* the api without the secret: the worker refuses, and a client's own copy of the header
     * does not pass through the api */
    g_autoptr (LmdTestResponse) r = post_wav (session, bare_api, NULL);
    g_autoptr (LmdTestResponse) smuggled = post_wav (session, bare_api, SECRET);
    assert_refused_401 (r);
    assert_refused_401 (smuggled);
  }
  g_assert_cmpint (lmd_test_server_stop (bare_api), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (api), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (worker), ==, 0);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  gsize n = 0;
  g_autofree float *samples = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  dir = g_dir_make_tmp ("lmd-public-bind-XXXXXX", &error);
  g_assert_no_error (error);
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (120), NULL);
  secret_session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (120), NULL);
  g_signal_connect (secret_session, "request-queued", G_CALLBACK (add_secret), (gpointer) SECRET);
  samples = lmd_test_librivox_read ("sense_and_sensibility_01_austen_64kb-0870", &n);
  if (samples != NULL)
    {
      n = MIN (n, (gsize) (2.5 * LMD_TEST_LIBRIVOX_RATE));
      short_wav = lmd_test_wav_encode (samples, n, LMD_TEST_LIBRIVOX_RATE);
      short_pcm = lmd_test_encode_linear16 (samples, n);
    }

  g_test_add_func ("/public-bind/all-without-license-refused", test_all_without_license_refused);
  g_test_add_func ("/public-bind/asr-without-secret-refused", test_asr_without_secret_refused);
  g_test_add_func ("/public-bind/asr-with-secret", test_asr_with_secret);
  g_test_add_func ("/public-bind/api-to-asr", test_api_to_asr);
  status = g_test_run ();

  g_clear_pointer (&short_wav, g_bytes_unref);
  g_clear_pointer (&short_pcm, g_bytes_unref);
  g_clear_object (&session);
  g_clear_object (&secret_session);
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
    (void) system (cmd);
  }
  g_free (dir);
  return status;
}
