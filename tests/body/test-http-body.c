/* SPDX-License-Identifier: MIT */
/*
 * test-http-body.c — request bodies and JSON against the real daemon (role all) on loopback:
 * what one client can send must not take the server down or hold its memory.
 *
 * Real parts only: lightning-mediad with the sphinx engine, libsoup HTTP and WebSocket
 * clients, a plain-socket client for what libsoup cannot send (headers without their body,
 * an upload held half-way), a real recording from pocketsphinx-testdata.
 *
 * Covers: a JSON body nested 100,000 deep (it crashed json-glib's parser) is answered 413
 * FILE_TOO_LARGE, one of 64,000 bytes nested 32,000 deep 400 INVALID_PARAMETER (param body),
 * a chunked one 413, and the server keeps serving (/health 200, a log line with the request
 * id); the same as WebSocket control frames: 200 KB gets FILE_TOO_LARGE and close 1009,
 * 16,000 bytes nested 8,000 deep INVALID_PARAMETER and close 1008; a Content-Length over
 * max_body_mb, or a JSON body declared over 64 KiB, is answered 413 from the headers with the
 * body never sent, and the connection closed; with [limits] max_uploads=2, two uploads in
 * progress make the third request 503 SERVICE_UNAVAILABLE with Retry-After from its headers,
 * and when they are gone requests are served again; with [limits] max_buffered_mb=1, a
 * 1.9 MB body (declared or chunked) is transcribed from a file (asr_uploads_spooled_total)
 * with the same text as a small body held in memory, and no memory stays reserved.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-json.h"
#include "lmd-test-raw-http.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"

#define SPEECH "sense_and_sensibility_01_austen_64kb-0870"

static LmdTestServer *server;
static SoupSession *session;
static GBytes *short_wav;  /* 2.5 s of speech, 16 kHz mono s16: 80 KB */
static GBytes *wide_wav;   /* the same at 96 kHz, stereo float: 1.9 MB */

/* ---- helpers ------------------------------------------------------------------------------- */

static gboolean
need_setup (void)
{
  if (short_wav == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

static void
assert_serving (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/health");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_cmpint (kill (lmd_test_server_get_pid (server), 0), ==, 0);
  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
}

static void
assert_logged (const char *request_id, const char *text)
{
  g_autofree char *log = lmd_test_server_read_log (server);
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  g_autofree char *tag = g_strdup_printf ("[%s] ", request_id);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], tag) != NULL && strstr (lines[i], text) != NULL)
      return;
  g_error ("no log line with %s and \"%s\"", tag, text);
}

static double
metric (const char *name)
{
  return lmd_test_server_metric (server, session, name);
}

static const char *
code_of (LmdTestResponse *r)
{
  return json_object_get_string_member (lmd_test_response_json (r), "code");
}

/* Sends the request line and headers @head_fmt… and no body; the raw answer (transfer full). */
static char *
headers_only (gboolean *closed, const char *head_fmt, ...) G_GNUC_PRINTF (2, 3);

static char *
headers_only (gboolean *closed, const char *head_fmt, ...)
{
  g_autoptr (GSocketConnection) conn = lmd_test_raw_connect (lmd_test_server_get_port (server));
  g_autofree char *head = NULL;
  va_list args;

  va_start (args, head_fmt);
  head = g_strdup_vprintf (head_fmt, args);
  va_end (args);
  g_assert_true (lmd_test_raw_send (conn, head, strlen (head)));
  return lmd_test_raw_read_response (conn, 10, closed);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void
test_deep_json_body (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (GBytes) crash = lmd_test_json_nested_arrays (100000); /* the body: killed the process */
  g_autoptr (GBytes) within = lmd_test_json_nested_arrays (32000);  /* 64,000 bytes: within the size bound */

  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "application/json", crash,
                                                   "X-Request-ID", "deep-json-1", NULL);
    g_assert_no_error (r->error);
    g_assert_cmpuint (r->status, ==, 413);
    g_assert_cmpstr (code_of (r), ==, "FILE_TOO_LARGE");
    assert_logged ("deep-json-1", "413 FILE_TOO_LARGE");
  }
  assert_serving ();
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "application/json", within,
                                                   "X-Request-ID", "deep-json-2", NULL);
    JsonObject *o;

    g_assert_no_error (r->error);
    g_assert_cmpuint (r->status, ==, 400);
    o = lmd_test_response_json (r);
    g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "INVALID_PARAMETER");
    g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, "body");
    g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "deeper than 64 levels"));
    assert_logged ("deep-json-2", "400 INVALID_PARAMETER");
  }
  assert_serving ();
  {
    /* chunked: no length to refuse from the headers, the parser's bound answers */
    g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr (GInputStream) in = g_memory_input_stream_new_from_bytes (crash);
    g_autoptr (GBytes) body = NULL;
    g_autoptr (GError) error = NULL;

    soup_message_set_request_body (msg, "application/json", in, -1);
    soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", "deep-json-3");
    body = soup_session_send_and_read (session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 413);
    g_assert_nonnull (strstr (g_bytes_get_data (body, NULL), "FILE_TOO_LARGE"));
  }
  assert_serving ();
}

static void
test_deep_control_frame (void)
{
  static const struct {
    guint depth;
    const char *code;
    gushort close_code;
    const char *says;
  } cases[] = { { 100000, "FILE_TOO_LARGE", 1009, "over the limit of 16384 bytes" },
                { 8000, "INVALID_PARAMETER", 1008, "deeper than 64 levels" } };
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream?encoding=linear16&sample_rate=16000",
                                          lmd_test_server_get_port (server));

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (LmdTestStream) s = lmd_test_stream_connect (session, url, &error);
      g_autoptr (GBytes) frame = lmd_test_json_nested_arrays (cases[c].depth);
      g_autofree char *text = g_strndup (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
      JsonObject *o;

      g_assert_no_error (error);
      lmd_test_stream_send_text (s, text);
      g_assert_true (lmd_test_stream_wait_closed (s, 30));
      o = lmd_test_stream_find_type (s, "error");
      g_assert_nonnull (o);
      g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, cases[c].code);
      g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), cases[c].says));
      g_assert_cmpuint (s->close_code, ==, cases[c].close_code);
      assert_serving ();
    }
}

static void
test_too_large_from_headers (void)
{
  gboolean closed = FALSE;
  g_autofree char *response = NULL;
  g_autofree char *json = NULL;

  /* over max_body_mb (100): 413 while the client has sent only the headers */
  response = headers_only (&closed, "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
                                    "Content-Length: %u\r\nX-Request-ID: big-declared-1\r\n\r\n",
                           200u * 1024 * 1024);
  g_assert_nonnull (response);
  g_assert_cmpuint (lmd_test_raw_status (response), ==, 413);
  g_assert_nonnull (strstr (lmd_test_raw_body (response), "\"FILE_TOO_LARGE\""));
  g_assert_nonnull (strstr (lmd_test_raw_body (response), "\"max_size_mb\":100"));
  g_assert_true (closed);
  assert_logged ("big-declared-1", "413 FILE_TOO_LARGE");
  /* a JSON body carries a URL and options: more than 64 KiB declared is refused the same way */
  json = headers_only (&closed, "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                "Content-Length: 100000\r\nX-Request-ID: big-json-1\r\n\r\n");
  g_assert_nonnull (json);
  g_assert_cmpuint (lmd_test_raw_status (json), ==, 413);
  g_assert_nonnull (strstr (lmd_test_raw_body (json), "65536 bytes"));
  g_assert_true (closed);
  assert_serving ();
}

static void
test_upload_cap (void)
{
  GSocketConnection *held[2];
  g_autofree char *refused = NULL;
  g_autofree char *retry_after = NULL;
  gboolean closed = FALSE;

  if (!need_setup ())
    return;
  /* two uploads in progress: headers and the first bytes of a body, the rest held back */
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *head = g_strdup_printf ("POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                               "Content-Type: audio/wav\r\nContent-Length: %" G_GSIZE_FORMAT
                                               "\r\nX-Request-ID: held-upload-%u\r\n\r\n",
                                               g_bytes_get_size (short_wav), i);
      held[i] = lmd_test_raw_connect (lmd_test_server_get_port (server));
      g_assert_true (lmd_test_raw_send (held[i], head, strlen (head)));
      g_assert_true (lmd_test_raw_send (held[i], g_bytes_get_data (short_wav, NULL), 1000));
    }
  for (guint tries = 0; tries < 100 && metric ("asr_uploads_in_progress") < 2; tries++)
    g_usleep (50000);
  g_assert_cmpfloat (metric ("asr_uploads_in_progress"), ==, 2);
  /* the third is answered from its headers */
  refused = headers_only (&closed, "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
                                   "Content-Length: 80000\r\nX-Request-ID: upload-cap-1\r\n\r\n");
  g_assert_nonnull (refused);
  g_assert_cmpuint (lmd_test_raw_status (refused), ==, 503);
  g_assert_nonnull (strstr (lmd_test_raw_body (refused), "\"SERVICE_UNAVAILABLE\""));
  retry_after = lmd_test_raw_header (refused, "Retry-After");
  g_assert_nonnull (retry_after);
  g_assert_cmpint (atoi (retry_after), >=, 1);
  g_assert_true (closed);
  assert_logged ("upload-cap-1", "503 SERVICE_UNAVAILABLE");
  /* the first finishes its body and is transcribed; the second leaves */
  g_assert_true (lmd_test_raw_send (held[0], (const guint8 *) g_bytes_get_data (short_wav, NULL) + 1000,
                                    g_bytes_get_size (short_wav) - 1000));
  {
    g_autofree char *done = lmd_test_raw_read_response (held[0], 120, NULL);
    g_assert_cmpuint (lmd_test_raw_status (done), ==, 200);
  }
  g_object_unref (held[0]);
  g_object_unref (held[1]);
  for (guint tries = 0; tries < 100 && metric ("asr_uploads_in_progress") > 0; tries++)
    g_usleep (50000);
  g_assert_cmpfloat (metric ("asr_uploads_in_progress"), ==, 0);
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", short_wav, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
}

static void
test_memory_cap (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autofree char *small_text = NULL;
  double spooled_before;

  if (!need_setup ())
    return;
  spooled_before = metric ("asr_uploads_spooled_total");
  /* 80 KB: held in memory */
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", short_wav, NULL);
    g_assert_cmpuint (r->status, ==, 200);
    small_text = g_strdup (json_object_get_string_member (lmd_test_response_json (r), "text"));
    g_assert_cmpuint (strlen (small_text), >, 10);
  }
  g_assert_cmpfloat (metric ("asr_uploads_spooled_total"), ==, spooled_before);
  /* 1.9 MB declared, over max_buffered_mb=1: to a file from the first byte */
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", wide_wav,
                                                   "X-Request-ID", "spooled-1", NULL);
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "text"), ==, small_text);
  }
  g_assert_cmpfloat (metric ("asr_uploads_spooled_total"), ==, spooled_before + 1);
  /* chunked: held in memory while it fits, then moved to a file */
  {
    g_autoptr (SoupMessage) msg = soup_message_new ("POST", url);
    g_autoptr (GInputStream) in = g_memory_input_stream_new_from_bytes (wide_wav);
    g_autoptr (GBytes) body = NULL;
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonParser) parser = json_parser_new ();

    soup_message_set_request_body (msg, "audio/wav", in, -1);
    body = soup_session_send_and_read (session, msg, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
    g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
                                               (gssize) g_bytes_get_size (body), NULL));
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "text"),
                     ==, small_text);
  }
  g_assert_cmpfloat (metric ("asr_uploads_spooled_total"), ==, spooled_before + 2);
  /* nothing stays reserved once the requests are done */
  for (guint tries = 0; tries < 100 && metric ("asr_upload_memory_bytes") > 0; tries++)
    g_usleep (50000);
  g_assert_cmpfloat (metric ("asr_upload_memory_bytes"), ==, 0);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  signal (SIGPIPE, SIG_IGN);
  session = soup_session_new_with_options ("timeout", 120, NULL);
  if (lmd_test_librivox_dir () != NULL)
    {
      gsize n = 0;
      g_autofree float *samples = lmd_test_librivox_read (SPEECH, &n);
      gsize keep = MIN (n, (gsize) (2.5 * LMD_TEST_LIBRIVOX_RATE));
      short_wav = lmd_test_wav_encode (samples, keep, LMD_TEST_LIBRIVOX_RATE);
      wide_wav = lmd_test_wav_encode_wide (samples, keep, 0);
    }
  server = lmd_test_server_start ("[plugins]\nload=http;gst-decoder;sphinx\n"
                                  "[limits]\nworkers=1\nmax_uploads=2\nmax_buffered_mb=1\n", NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/http-body/deep-json-body", test_deep_json_body);
  g_test_add_func ("/http-body/deep-control-frame", test_deep_control_frame);
  g_test_add_func ("/http-body/too-large-from-headers", test_too_large_from_headers);
  g_test_add_func ("/http-body/upload-cap", test_upload_cap);
  g_test_add_func ("/http-body/memory-cap", test_memory_cap);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_clear_object (&session);
  g_clear_pointer (&short_wav, g_bytes_unref);
  g_clear_pointer (&wide_wav, g_bytes_unref);
  return status;
}
