/* SPDX-License-Identifier: MIT */
/*
 * test-daemon.c — the daemon's life cycle: start-up failures with clear messages, the
 * default refusal of internal URLs, a full queue answering 503 with retry_after, and a
 * graceful shutdown that finishes the request in flight.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-wav.h"

static GBytes *
repeated_recording (guint times)
{
  /* the five LibriVox files back to back, @times over, in one WAV (~24.7 s each) */
  g_autoptr (GPtrArray) paths = lmd_test_librivox_paths ();
  g_autoptr (GArray) pcm = g_array_new (FALSE, FALSE, sizeof (float));

  for (guint i = 0; i < paths->len * times; i++)
    {
      const char *path = paths->pdata[i % paths->len];
      g_autoptr (GError) error = NULL;
      guint rate = 0;
      gsize n = 0;
      g_autofree float *samples = lmd_test_wav_read (path, &rate, &n, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (rate, ==, 16000);
      g_array_append_vals (pcm, samples, (guint) n);
    }
  return lmd_test_wav_encode ((const float *) pcm->data, pcm->len, 16000);
}

/* Starts a daemon with @config, or skips the test (NULL) when the test recordings are missing. */
static LmdTestServer *
start_or_skip (const char *config)
{
  g_autoptr (GError) error = NULL;
  LmdTestServer *server;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return NULL;
    }
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  return server;
}

static GBytes *
long_recording (void)
{
  return repeated_recording (1);
}

/* Posts @audio as a WAV to /v1/listen of @server. */
static LmdTestResponse *
post_wav (LmdTestServer *server, SoupSession *session, GBytes *audio, const char *request_id)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");

  if (request_id == NULL)
    return lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
  return lmd_test_http (session, "POST", url, "audio/wav", audio, "X-Request-ID", request_id, NULL);
}

static void
test_missing_plugin (void)
{
  const char *argv[] = { "--port=0", "--plugins=http;no-such-plugin;sphinx", NULL };
  g_autofree char *output = NULL;
  int status = lmd_test_daemon_run (argv, &output, 60);

  g_test_message ("%s", output);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (output, "no-such-plugin"));
  g_assert_nonnull (strstr (output, "liblmd-no-such-plugin.so"));
  g_assert_nonnull (strstr (output, "not found"));
}

static void
test_broken_plugin (void)
{
  /* A file with the right name that is not a shared object. */
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("lmd-plugins-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "liblmd-broken.so", NULL);
  g_autofree char *dirs = g_strdup_printf ("[plugins]\nload=broken\ndirs=%s\n", dir);
  g_autofree char *conf = g_build_filename (dir, "test.conf", NULL);
  g_autofree char *output = NULL;
  const char *argv[] = { "--config", conf, "--port=0", NULL };
  int status;

  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (path, "not an ELF file", -1, NULL));
  g_assert_true (g_file_set_contents (conf, dirs, -1, NULL));
  status = lmd_test_daemon_run (argv, &output, 60);
  g_test_message ("%s", output);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (output, path));
  g_assert_nonnull (strstr (output, "cannot open"));
  g_unlink (path);
  g_unlink (conf);
  g_rmdir (dir);
}

static void
test_bad_config (void)
{
  const char *missing[] = { "--config", "/nonexistent/lmd.conf", NULL };
  const char *bad_role[] = { "--role", "juggler", "--port=0", NULL };
  const char *bad_level[] = { "--log-level", "loud", NULL };
  g_autofree char *out1 = NULL, *out2 = NULL, *out3 = NULL;

  g_assert_cmpint (lmd_test_daemon_run (missing, &out1, 30), ==, 2);
  g_assert_nonnull (strstr (out1, "/nonexistent/lmd.conf"));
  g_assert_cmpint (lmd_test_daemon_run (bad_role, &out2, 30), ==, 2);
  g_assert_nonnull (strstr (out2, "juggler"));
  g_assert_cmpint (lmd_test_daemon_run (bad_level, &out3, 30), ==, 2);
  g_assert_nonnull (strstr (out3, "loud"));
}

static void
test_version (void)
{
  const char *argv[] = { "--version", NULL };
  g_autofree char *out = NULL;

  g_assert_cmpint (lmd_test_daemon_run (argv, &out, 30), ==, 0);
  g_assert_true (g_str_has_prefix (out, "lightning-mediad "));
}

typedef struct {
  LmdTestServer *server;
  GBytes *audio;
  guint status;
  char *body;
} Call;

static gpointer
call_thread (gpointer data)
{
  Call *c = data;
  g_autoptr (SoupSession) s = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  g_autoptr (LmdTestResponse) r = post_wav (c->server, s, c->audio, NULL);

  c->body = g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
  g_atomic_int_set ((gint *) &c->status, r->status == 0 ? 1 : r->status);
  return NULL;
}

static gint64
active_requests (LmdTestServer *server, SoupSession *session)
{
  g_autofree char *url = lmd_test_server_url (server, "/health?detailed=true");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  if (r->status != 200)
    return -1;
  return json_object_get_int_member (lmd_test_response_json (r), "active_requests");
}

static void
wait_for_active (LmdTestServer *server, SoupSession *session, gint64 n)
{
  gint64 deadline = g_get_monotonic_time () + lmd_test_timeout_s (30) * G_USEC_PER_SEC;

  while (active_requests (server, session) < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }
}

static void
test_queue_full_and_private_url (void)
{
  /* one worker, no queue: a second request while the first runs is refused */
  static const char config[] = "[plugins]\nload=http;gst-decoder;sphinx\n"
                               "[limits]\nworkers=1\nqueue_size=0\nretry_after_s=3\n";
  LmdTestServer *server;
  g_autoptr (SoupSession) session = soup_session_new ();
  Call first = { 0 };
  GThread *thread;

  server = start_or_skip (config);
  if (server == NULL)
    return;
  first.server = server;
  first.audio = long_recording ();
  thread = g_thread_new ("first", call_thread, &first);
  wait_for_active (server, session, 1);
  {
    g_autoptr (LmdTestResponse) r = post_wav (server, session, first.audio, NULL);
    JsonObject *o = lmd_test_response_json (r);
    g_assert_cmpuint (r->status, ==, 503);
    g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "SERVICE_UNAVAILABLE");
    g_assert_cmpint (json_object_get_int_member (o, "retry_after"), ==, 3);
    g_assert_cmpstr (soup_message_headers_get_one (r->headers, "Retry-After"), ==, "3");
  }
  /* by default a URL on loopback is refused before anything is fetched */
  {
    const char *json = "{\"url\":\"http://127.0.0.1:9/a.wav\"}";
    g_autoptr (GBytes) body = g_bytes_new_static (json, strlen (json));
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
    g_autoptr (LmdTestResponse) r = NULL;
    JsonObject *o;
    g_thread_join (thread);
    g_assert_cmpuint (first.status, ==, 200);
    r = lmd_test_http (session, "POST", url, "application/json", body, NULL);
    o = lmd_test_response_json (r);
    g_assert_cmpuint (r->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, "url");
    g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "internal address"));
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_bytes_unref (first.audio);
  g_free (first.body);
}

static void
test_graceful_shutdown (void)
{
  static const char config[] = "[server]\nshutdown_grace_s=600\n[plugins]\nload=http;gst-decoder;sphinx\n"
                               "[limits]\nworkers=1\n";
  LmdTestServer *server;
  g_autoptr (SoupSession) session = soup_session_new ();
  Call call = { 0 };
  GThread *thread;
  g_autofree char *log = NULL;
  int status;

  server = start_or_skip (config);
  if (server == NULL)
    return;
  call.server = server;
  call.audio = long_recording ();
  thread = g_thread_new ("call", call_thread, &call);
  wait_for_active (server, session, 1);
  lmd_test_server_signal (server, SIGTERM);
  g_thread_join (thread);
  /* the request in flight still gets its transcript */
  g_assert_cmpuint (call.status, ==, 200);
  g_assert_nonnull (strstr (call.body, "\"text\""));
  status = lmd_test_server_wait (server, lmd_test_timeout_s (60));
  g_assert_cmpint (status, ==, 0);
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "shutting down"));
  g_assert_nonnull (strstr (log, "drained"));
  lmd_test_server_stop (server);
  g_bytes_unref (call.audio);
  g_free (call.body);
}

static void
test_slow_client (void)
{
  /* client_timeout_s=1: a client that stalls mid-request loses its connection, while a
   * request that takes longer than that to transcribe still gets its answer. */
  static const char config[] = "[server]\nclient_timeout_s=1\n[plugins]\nload=http;gst-decoder;sphinx\n"
                               "[limits]\nworkers=1\n";
  g_autoptr (GError) error = NULL;
  LmdTestServer *server;
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  const char partial[] = "POST /v1/listen HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nRIFF";
  char buf[512];
  gssize n;
  g_autoptr (GError) read_error = NULL;

  server = start_or_skip (config);
  if (server == NULL)
    return;
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) lmd_test_server_get_port (server),
                                          NULL, &error);
  g_assert_no_error (error);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), partial,
                             sizeof partial - 1, NULL, NULL, &error);
  g_assert_no_error (error);
  /* The server closes the stalled connection (EOF or a reset, possibly after an error
   * answer); if it kept it open, our own read would time out after 60 s instead. */
  g_socket_set_timeout (g_socket_connection_get_socket (conn), lmd_test_timeout_s (60));
  do
    n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf, sizeof buf, NULL, &read_error);
  while (n > 0);
  if (read_error != NULL)
    g_assert_false (g_error_matches (read_error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));

  /* the long recording takes several seconds to transcribe on one worker */
  {
    g_autoptr (GBytes) audio = long_recording ();
    g_autoptr (LmdTestResponse) r = post_wav (server, session, audio, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

static void
test_audio_too_long (void)
{
  static const char config[] = "[plugins]\nload=http;gst-decoder;sphinx\n[limits]\nworkers=1\nmax_audio_seconds=20\n";
  LmdTestServer *server;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (LmdTestResponse) r = NULL;
  JsonObject *o;

  server = start_or_skip (config);
  if (server == NULL)
    return;
  audio = long_recording (); /* 24.7 s > 20 s */
  r = post_wav (server, session, audio, NULL);
  o = lmd_test_response_json (r);
  g_assert_cmpuint (r->status, ==, 413);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "FILE_TOO_LARGE");
  g_assert_cmpfloat (json_object_get_double_member (o, "max_duration_s"), ==, 20.0);
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

static void
test_request_timeout (void)
{
  /* 99 s of speech on one worker takes far longer than 1 s: the request is cancelled between
   * segments and answered 504, and the server goes on serving. */
  static const char config[] = "[plugins]\nload=http;gst-decoder;sphinx\n[limits]\nworkers=1\nrequest_timeout_s=1\n";
  LmdTestServer *server;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (LmdTestResponse) r = NULL;
  g_autofree char *health = NULL;
  g_autoptr (LmdTestResponse) h = NULL;
  g_autofree char *log = NULL;

  server = start_or_skip (config);
  if (server == NULL)
    return;
  audio = repeated_recording (4);
  r = post_wav (server, session, audio, "slow-one");
  g_assert_cmpuint (r->status, ==, 504);
  g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, "TIMEOUT");
  health = lmd_test_server_url (server, "/health");
  h = lmd_test_http (session, "GET", health, NULL, NULL, NULL);
  g_assert_cmpuint (h->status, ==, 200);
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "[slow-one]"));
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

static void
test_grace_period_over (void)
{
  /* a grace period shorter than the request: the daemon cancels it and still exits cleanly */
  static const char config[] = "[server]\nshutdown_grace_s=1\n[plugins]\nload=http;gst-decoder;sphinx\n"
                               "[limits]\nworkers=1\n";
  LmdTestServer *server;
  g_autoptr (SoupSession) session = soup_session_new ();
  Call call = { 0 };
  GThread *thread;
  g_autofree char *log = NULL;

  server = start_or_skip (config);
  if (server == NULL)
    return;
  call.server = server;
  call.audio = repeated_recording (8); /* ~200 s of speech: far more than 1 s of work */
  thread = g_thread_new ("call", call_thread, &call);
  wait_for_active (server, session, 1);
  lmd_test_server_signal (server, SIGTERM);
  g_assert_cmpint (lmd_test_server_wait (server, lmd_test_timeout_s (600)), ==, 0);
  g_thread_join (thread);
  /* it was answered 503 (retry elsewhere), or its connection closed with the process */
  g_assert_true (call.status == 503 || call.status == 1);
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "grace period over"));
  lmd_test_server_stop (server);
  g_bytes_unref (call.audio);
  g_free (call.body);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/missing-plugin", test_missing_plugin);
  g_test_add_func ("/daemon/broken-plugin", test_broken_plugin);
  g_test_add_func ("/daemon/bad-config", test_bad_config);
  g_test_add_func ("/daemon/version", test_version);
  g_test_add_func ("/daemon/queue-full-and-private-url", test_queue_full_and_private_url);
  g_test_add_func ("/daemon/graceful-shutdown", test_graceful_shutdown);
  g_test_add_func ("/daemon/grace-period-over", test_grace_period_over);
  g_test_add_func ("/daemon/slow-client", test_slow_client);
  g_test_add_func ("/daemon/audio-too-long", test_audio_too_long);
  g_test_add_func ("/daemon/request-timeout", test_request_timeout);
  return g_test_run ();
}
