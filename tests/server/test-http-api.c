/* SPDX-License-Identifier: MIT */
/*
 * test-http-api.c — the REST API end to end: the real daemon (HTTP + GStreamer + sphinx
 * plugins) on an ephemeral loopback port, real HTTP clients, real recorded speech.
 *
 * Covers: the three request forms and three dialects, transcription accuracy on the
 * LibriVox recordings of pocketsphinx-testdata in WAV, FLAC, MP3 and Ogg/Opus, word
 * timestamps, each error row of the API table that batch transcription produces,
 * concurrency with /health staying responsive, request ids in headers and logs.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-file-server.h"
#include "lmd-test-server.h"
#include "lmd-test-wav.h"
#include "lmd-wer.h"

#define LIBRIVOX_FILES 5

static LmdTestServer *server;      /* allow_private_urls=true, 2 workers */
static SoupSession *session;
static char *librivox_ids[LIBRIVOX_FILES];
static GHashTable *references;     /* utt-id → reference text */
static GPtrArray *wav_words;       /* per file: GStrv of the words of the WAV transcript */

/* A small HTTP server in the test, on its own thread, serving audio for {"url": ...}. */
static LmdTestFileServer *file_server;
static guint file_server_port;

static char *
librivox_path (guint i)
{
  return g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), librivox_ids[i]);
}

static GBytes *
read_file_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
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

static const char *
json_string (JsonObject *o, const char *member)
{
  g_assert_true (json_object_has_member (o, member));
  return json_object_get_string_member (o, member);
}

static void
assert_error (LmdTestResponse *r, guint status, const char *code, const char *param)
{
  JsonObject *o;

  g_assert_no_error (r->error);
  if (r->status != status)
    g_error ("expected %u %s, got %u: %.*s", status, code, r->status,
             (int) g_bytes_get_size (r->body), (const char *) g_bytes_get_data (r->body, NULL));
  o = lmd_test_response_json (r);
  g_assert_cmpstr (json_string (o, "code"), ==, code);
  g_assert_true (strlen (json_string (o, "error")) > 0);
  if (param != NULL)
    g_assert_cmpstr (json_string (o, "param"), ==, param);
  g_assert_nonnull (soup_message_headers_get_one (r->headers, "X-Request-ID"));
}

/* Checks the words of a /v1/listen answer: monotonic, inside the duration, equal to text. */
static GStrv
check_words (JsonObject *o)
{
  JsonArray *words = json_object_get_array_member (o, "words");
  double duration = json_object_get_double_member (o, "duration");
  const char *text = json_string (o, "text");
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) result = NULL;
  g_autofree char *joined = NULL;
  double last_start = 0.0, last_end = 0.0;

  g_assert_nonnull (words);
  for (guint i = 0; i < json_array_get_length (words); i++)
    {
      JsonObject *w = json_array_get_object_element (words, i);
      double start = json_object_get_double_member (w, "start");
      double end = json_object_get_double_member (w, "end");
      double conf = json_object_get_double_member (w, "confidence");

      g_assert_cmpfloat (start, >=, last_start);
      g_assert_cmpfloat (start, >=, last_end - 0.011); /* words do not overlap (10 ms frames) */
      g_assert_cmpfloat (end, >=, start);
      g_assert_cmpfloat (end, <=, duration + 0.011);
      g_assert_cmpfloat (conf, >=, 0.0);
      g_assert_cmpfloat (conf, <=, 1.0);
      g_strv_builder_add (builder, json_object_get_string_member (w, "word"));
      last_start = start;
      last_end = end;
    }
  result = g_strv_builder_end (builder);
  joined = g_strjoinv (" ", result);
  g_assert_cmpstr (joined, ==, text);
  return g_steal_pointer (&result);
}

static void
assert_status (LmdTestResponse *r, guint status)
{
  g_assert_no_error (r->error);
  if (r->status != status)
    g_error ("expected status %u, got %u: %.*s", status, r->status, (int) g_bytes_get_size (r->body),
             (const char *) g_bytes_get_data (r->body, NULL));
}

static LmdTestResponse *
post_listen (GBytes *audio, const char *content_type, const char *query)
{
  g_autofree char *path = g_strdup_printf ("/v1/listen%s", query != NULL ? query : "");
  g_autofree char *url = lmd_test_server_url (server, path);
  return lmd_test_http (session, "POST", url, content_type, audio, NULL);
}

/* ---- health ---------------------------------------------------------------------------- */

static void
test_health (void)
{
  const char *paths[] = { "/health", "/api/v1/health" };

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *url = lmd_test_server_url (server, paths[i]);
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
      g_assert_cmpuint (r->status, ==, 200);
      g_assert_cmpstr (json_string (lmd_test_response_json (r), "status"), ==, "healthy");
    }
  {
    g_autofree char *url = lmd_test_server_url (server, "/health?detailed=true");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    JsonObject *o = lmd_test_response_json (r);
    JsonObject *c = json_object_get_object_member (o, "components");
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_nonnull (c);
    g_assert_cmpstr (json_string (c, "api_server"), ==, "healthy");
    g_assert_cmpstr (json_string (c, "lightning_asr"), ==, "healthy");
    g_assert_cmpstr (json_string (c, "license_proxy"), ==, "disabled");
    g_assert_cmpstr (json_string (c, "redis"), ==, "disabled");
    g_assert_true (json_object_has_member (o, "uptime_seconds"));
    g_assert_true (strlen (json_string (o, "version")) > 0);
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/healthz");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_nonnull (g_strstr_len (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body), "true"));
  }
}

static void
test_not_found (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/nothing-here");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  g_autofree char *url2 = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r2 = lmd_test_http (session, "GET", url2, NULL, NULL, NULL);

  assert_error (r, 404, "NOT_FOUND", NULL);
  g_assert_cmpuint (r2->status, ==, 405);
}

/* ---- accuracy on real speech ----------------------------------------------------------- */

static double
transcribe_set (const char *format, GPtrArray *words_out)
{
  LmdWerCounts counts = { 0 };

  for (guint i = 0; i < LIBRIVOX_FILES; i++)
    {
      g_autofree char *path = librivox_path (i);
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) audio = g_str_equal (format, "wav") ? read_file_bytes (path)
                                                             : lmd_test_audio_encode (path, format, &error);
      g_autoptr (LmdTestResponse) r = NULL;
      JsonObject *o;
      g_auto (GStrv) words = NULL;
      const char *reference = g_hash_table_lookup (references, librivox_ids[i]);

      g_assert_no_error (error);
      r = post_listen (audio, "application/octet-stream", "?timestamps=true");
      g_assert_no_error (r->error);
      if (r->status != 200)
        g_error ("%s %s: status %u: %.*s", format, librivox_ids[i], r->status,
                 (int) g_bytes_get_size (r->body), (const char *) g_bytes_get_data (r->body, NULL));
      o = lmd_test_response_json (r);
      g_assert_cmpfloat (json_object_get_double_member (o, "duration"), >, 1.0);
      g_assert_cmpstr (json_string (o, "language"), ==, "en");
      g_assert_true (g_str_has_prefix (json_string (o, "request_id"), "req_"));
      words = check_words (o);
      g_assert_nonnull (reference);
      lmd_wer_accumulate (&counts, reference, json_string (o, "text"));
      g_test_message ("%s %s: %s", format, librivox_ids[i], json_string (o, "text"));
      if (words_out != NULL)
        g_ptr_array_add (words_out, g_steal_pointer (&words));
    }
  g_test_message ("%s: %u errors in %u words, WER %.1f%%", format, counts.errors,
                  counts.reference_words, 100.0 * lmd_wer_rate (&counts));
  return lmd_wer_rate (&counts);
}

static void
test_librivox_wav (void)
{
  if (!need_testdata ())
    return;
  g_assert_cmpfloat (transcribe_set ("wav", wav_words), <=, 0.31);
}

static void
test_librivox_formats (gconstpointer data)
{
  const char *format = data;
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);

  if (!need_testdata ())
    return;
  if (wav_words->len != LIBRIVOX_FILES)
    {
      g_test_skip ("the WAV transcripts are needed first");
      return;
    }
  g_assert_cmpfloat (transcribe_set (format, words), <=, 0.31);
  /* Lossless re-encoding is the identical audio: exactly the same words. */
  if (g_str_equal (format, "flac"))
    for (guint i = 0; i < LIBRIVOX_FILES; i++)
      {
        g_autofree char *a = g_strjoinv (" ", wav_words->pdata[i]);
        g_autofree char *b = g_strjoinv (" ", words->pdata[i]);
        g_assert_cmpstr (a, ==, b);
      }
}

/* ---- request forms and dialects -------------------------------------------------------- */

static GBytes *
first_recording (void)
{
  g_autofree char *path = librivox_path (1); /* "he was not an ill disposed young man" */
  return read_file_bytes (path);
}

static void
test_multipart (void)
{
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (SoupMultipart) mp = soup_multipart_new ("multipart/form-data");
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  JsonParser *parser;
  JsonObject *o;

  if (!need_testdata ())
    return;
  audio = first_recording ();
  soup_multipart_append_form_file (mp, "audio", "speech.wav", "audio/wav", audio);
  soup_multipart_append_form_string (mp, "timestamps", "true");
  soup_multipart_append_form_string (mp, "language", "en");
  url = lmd_test_server_url (server, "/v1/listen");
  msg = soup_message_new_from_multipart (url, mp);
  body = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  parser = json_parser_new ();
  json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_nonnull (strstr (json_object_get_string_member (o, "text"), "young man"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "words")), >, 3);
  g_object_unref (parser);
}

/* curl --data-binary @speech.wav without -H sends application/x-www-form-urlencoded: the
 * bytes are audio and are transcribed; a real form body gets 400 saying how to send audio. */
static void
test_form_urlencoded (void)
{
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (GBytes) form = g_bytes_new_static ("audio=speech.wav&language=en", 28);
  g_autoptr (LmdTestResponse) r = NULL;
  g_autoptr (LmdTestResponse) refused = NULL;
  JsonObject *o;

  if (!need_testdata ())
    return;
  audio = first_recording ();
  r = post_listen (audio, "application/x-www-form-urlencoded", NULL);
  assert_status (r, 200);
  o = lmd_test_response_json (r);
  g_assert_nonnull (strstr (json_string (o, "text"), "young man"));

  refused = post_listen (form, "application/x-www-form-urlencoded", NULL);
  assert_error (refused, 400, "INVALID_PARAMETER", "body");
  o = lmd_test_response_json (refused);
  g_assert_nonnull (strstr (json_string (o, "error"), "Content-Type: audio/wav"));
  g_assert_nonnull (strstr (json_string (o, "error"), "multipart/form-data"));
}

static void
test_json_url (void)
{
  g_autofree char *json = NULL;
  g_autoptr (GBytes) body = NULL;
  g_autoptr (LmdTestResponse) r = NULL;
  JsonObject *o;

  if (!need_testdata ())
    return;
  json = g_strdup_printf ("{\"url\":\"http://127.0.0.1:%u/speech.wav\",\"timestamps\":true,\"language\":\"en\"}",
                          file_server_port);
  body = g_bytes_new (json, strlen (json));
  r = post_listen (body, "application/json", NULL);
  assert_status (r, 200);
  o = lmd_test_response_json (r);
  g_assert_nonnull (strstr (json_string (o, "text"), "young man"));
  g_strfreev (check_words (o));
}

static void
test_get_text_dialect (void)
{
  g_autoptr (GBytes) audio = NULL;
  g_autofree char *url = lmd_test_server_url (server, "/api/v1/lightning/get_text?language=en");
  g_autoptr (LmdTestResponse) r = NULL;
  JsonObject *o, *meta;

  if (!need_testdata ())
    return;
  audio = first_recording ();
  r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
  g_assert_cmpuint (r->status, ==, 200);
  o = lmd_test_response_json (r);
  g_assert_cmpstr (json_string (o, "status"), ==, "success");
  g_assert_nonnull (strstr (json_string (o, "transcription"), "young man"));
  g_assert_cmpstr (json_string (o, "language"), ==, "en");
  g_assert_true (json_object_has_member (o, "words"));
  meta = json_object_get_object_member (o, "metadata");
  g_assert_cmpint (json_object_get_int_member (meta, "fileSize"), ==, (gint64) g_bytes_get_size (audio));
  g_assert_cmpfloat (json_object_get_double_member (meta, "duration"), >, 2.0);
  g_assert_cmpstr (json_string (o, "request_id"), ==, soup_message_headers_get_one (r->headers, "X-Request-ID"));
}

static void
test_openai_dialect (void)
{
  const char *formats[] = { "json", "text", "srt", "vtt", "verbose_json" };
  g_autoptr (GBytes) audio = NULL;
  g_autofree char *url = lmd_test_server_url (server, "/v1/audio/transcriptions");

  if (!need_testdata ())
    return;
  audio = first_recording ();
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autoptr (SoupMultipart) mp = soup_multipart_new ("multipart/form-data");
      g_autoptr (SoupMessage) msg = NULL;
      g_autoptr (GBytes) body = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;

      soup_multipart_append_form_file (mp, "file", "speech.wav", "audio/wav", audio);
      soup_multipart_append_form_string (mp, "model", "whisper-1");
      soup_multipart_append_form_string (mp, "response_format", formats[i]);
      soup_multipart_append_form_string (mp, "timestamp_granularities[]", "word");
      msg = soup_message_new_from_multipart (url, mp);
      body = soup_session_send_and_read (session, msg, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
      text = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));
      g_assert_nonnull (strstr (text, "young man"));
      if (g_str_equal (formats[i], "srt"))
        g_assert_nonnull (strstr (text, "00:00:0"));
      if (g_str_equal (formats[i], "vtt"))
        g_assert_true (g_str_has_prefix (text, "WEBVTT"));
      if (g_str_equal (formats[i], "verbose_json"))
        {
          g_assert_nonnull (strstr (text, "\"segments\""));
          g_assert_nonnull (strstr (text, "\"words\""));
        }
    }
}

/* ---- errors ---------------------------------------------------------------------------- */

static void
test_error_empty_body (void)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (LmdTestResponse) r = post_listen (empty, "audio/wav", NULL);
  assert_error (r, 400, "MISSING_PARAMETER", "audio");
}

static void
test_error_garbage (void)
{
  guint8 junk[64 * 1024];
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (LmdTestResponse) r = NULL;
  JsonObject *o;

  for (guint i = 0; i < sizeof junk; i++)
    junk[i] = (guint8) g_rand_int_range (rand, 0, 256);
  body = g_bytes_new (junk, sizeof junk);
  r = post_listen (body, "application/octet-stream", NULL);
  assert_error (r, 415, "UNSUPPORTED_FORMAT", NULL);
  o = lmd_test_response_json (r);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "supported_formats")), >, 3);
}

/* Audio GStreamer cannot decode: the 422 says what is wrong with the audio, never where in
 * GStreamer (source files, element names, pipeline paths); those details are in the log line
 * of the request.  A WAV that declares MPEG audio and holds none, and a FLAC stream marker
 * with nothing after it. */
static void
test_error_undecodable_details (void)
{
  static const guint8 mp3_in_wav[] = {
    'R', 'I', 'F', 'F', 136, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ', 16, 0, 0, 0,
    0x55, 0, 1, 0, 0x80, 0x3e, 0, 0, 0, 0x7d, 0, 0, 2, 0, 16, 0, 'd', 'a', 't', 'a', 100, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  };
  static const char flac[] = "fLaC\0\0\0\x22garbage";
  struct {
    GBytes *body;
    const char *id;
  } cases[] = {
    { g_bytes_new_static (mp3_in_wav, sizeof mp3_in_wav), "undecodable-1" },
    { g_bytes_new_static (flac, sizeof flac - 1), "undecodable-2" },
  };
  g_autofree char *log = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "application/octet-stream",
                                                     cases[i].body, "X-Request-ID", cases[i].id, NULL);
      const char *message;

      assert_error (r, 422, "UNPROCESSABLE_AUDIO", NULL);
      message = json_object_get_string_member (lmd_test_response_json (r), "error");
      g_test_message ("%s: %s", cases[i].id, message);
      g_assert_nonnull (strstr (message, "cannot be decoded: "));
      g_assert_null (strstr (message, ".c("));
      g_assert_null (strstr (message, "/Gst"));
      g_assert_null (strstr (message, "parse0"));
      g_assert_null (strstr (message, "parse1"));
      g_bytes_unref (cases[i].body);
    }
  log = lmd_test_server_read_log (server);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *tag = g_strdup_printf ("[%s] gst-decoder: ", cases[i].id);
      const char *line = strstr (log, tag);
      g_assert_nonnull (line);
      g_assert_true (g_str_has_prefix (strstr (line, ": ") + 2, "the "));
      g_assert_nonnull (strstr (line, "GStreamer reports from "));
    }
}

static void
test_error_truncated_wav (void)
{
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (GBytes) cut = NULL;
  g_autoptr (LmdTestResponse) r = NULL;

  if (!need_testdata ())
    return;
  audio = first_recording ();
  cut = g_bytes_new_from_bytes (audio, 0, 30); /* inside the RIFF header */
  r = post_listen (cut, "audio/wav", NULL);
  assert_error (r, 422, "UNPROCESSABLE_AUDIO", NULL);
}

static void
test_truncated_data (void)
{
  /* A WAV cut inside its data chunk loses nothing: the samples present are transcribed, and
   * the warning about it names the request. */
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (GBytes) cut = NULL;
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r = NULL;
  g_autofree char *log = NULL;
  JsonObject *o;

  if (!need_testdata ())
    return;
  audio = first_recording ();
  cut = g_bytes_new_from_bytes (audio, 0, g_bytes_get_size (audio) * 2 / 3);
  r = lmd_test_http (session, "POST", url, "audio/wav", cut, "X-Request-ID", "cut-data-1", NULL);
  assert_status (r, 200);
  o = lmd_test_response_json (r);
  g_assert_cmpfloat (json_object_get_double_member (o, "duration"), >, 1.5);
  g_assert_cmpfloat (json_object_get_double_member (o, "duration"), <, 2.5);
  g_assert_true (strlen (json_string (o, "text")) > 0);
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "[cut-data-1] gst-decoder: the WAV input is truncated"));
}

static void
test_error_too_large (void)
{
  gsize size = 101 * 1024 * 1024;
  guint8 *data = g_malloc0 (size);
  g_autoptr (GBytes) body = g_bytes_new_take (data, size);
  g_autoptr (LmdTestResponse) r = post_listen (body, "application/octet-stream", NULL);
  JsonObject *o;

  assert_error (r, 413, "FILE_TOO_LARGE", NULL);
  o = lmd_test_response_json (r);
  g_assert_cmpint (json_object_get_int_member (o, "max_size_mb"), ==, 100);
}

/* A 16-bit mono WAV image of @n_frames silent frames whose header declares @rate. */
static GBytes *
wav_declaring (guint rate, gsize n_frames)
{
  g_autofree float *silence = g_new0 (float, n_frames);
  return lmd_test_wav_encode (silence, n_frames, rate);
}

static void
test_error_wav_rate (void)
{
  /* 227 KB whose header says 1 Hz: 113,600 s of audio by its header, which the server once
   * resampled 16,000-fold (1.2 GB, a worker busy until the request timeout).  Refused from
   * the header at once; a small one at 1 Hz is refused for its rate; the server serves on. */
  g_autoptr (GBytes) long_1hz = wav_declaring (1, 113600);
  g_autoptr (GBytes) short_1hz = wav_declaring (1, 100);
  g_autoptr (GBytes) high = wav_declaring (384000, 38400);
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r_long = NULL;
  g_autoptr (LmdTestResponse) r_short = NULL;
  g_autoptr (LmdTestResponse) r_high = NULL;
  g_autoptr (LmdTestResponse) r_after = NULL;
  g_autoptr (GBytes) speech = NULL;
  g_autofree char *log = NULL;
  JsonObject *o;

  g_assert_cmpuint (g_bytes_get_size (long_1hz), ==, 44 + 2 * 113600);
  r_long = lmd_test_http (session, "POST", url, "audio/wav", long_1hz, "X-Request-ID", "wav-1hz-long", NULL);
  assert_error (r_long, 413, "FILE_TOO_LARGE", NULL);
  o = lmd_test_response_json (r_long);
  g_assert_cmpint (json_object_get_int_member (o, "max_duration_s"), ==, 7200);
  g_assert_nonnull (strstr (json_string (o, "error"), "113600"));

  r_short = lmd_test_http (session, "POST", url, "audio/wav", short_1hz, "X-Request-ID", "wav-1hz-short", NULL);
  assert_error (r_short, 422, "UNPROCESSABLE_AUDIO", NULL);
  g_assert_nonnull (strstr (json_string (lmd_test_response_json (r_short), "error"), "1 Hz"));
  r_high = post_listen (high, "audio/wav", NULL);
  assert_error (r_high, 422, "UNPROCESSABLE_AUDIO", NULL);

  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "[wav-1hz-long] http: POST /v1/listen → 413 FILE_TOO_LARGE"));
  g_assert_nonnull (strstr (log, "[wav-1hz-short] http: POST /v1/listen → 422 UNPROCESSABLE_AUDIO"));

  if (!need_testdata ())
    return;
  speech = first_recording ();
  r_after = post_listen (speech, "audio/wav", NULL);
  assert_status (r_after, 200);
  g_assert_true (strlen (json_string (lmd_test_response_json (r_after), "text")) > 0);
}

static void
test_error_bad_json (void)
{
  const char *bad[] = { "{\"url\": ", "[1,2,3]", "{\"url\": 17}", "{\"timestamps\": true}" };
  const char *params[] = { "body", "body", "url", "url" };
  const char *codes[] = { "INVALID_PARAMETER", "INVALID_PARAMETER", "INVALID_PARAMETER", "MISSING_PARAMETER" };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GBytes) body = g_bytes_new_static (bad[i], strlen (bad[i]));
      g_autoptr (LmdTestResponse) r = post_listen (body, "application/json", NULL);
      assert_error (r, 400, codes[i], params[i]);
    }
}

static void
test_error_bad_option (void)
{
  const char *queries[] = { "?language=xx", "?timestamps=maybe", "?model=no-such-model", "?language=de" };
  const char *params[] = { "language", "timestamps", "model", "language" };
  g_autoptr (GBytes) audio = NULL;

  if (!need_testdata ())
    return;
  audio = first_recording ();
  for (guint i = 0; i < G_N_ELEMENTS (queries); i++)
    {
      g_autoptr (LmdTestResponse) r = post_listen (audio, "audio/wav", queries[i]);
      assert_error (r, 400, "INVALID_PARAMETER", params[i]);
    }
}

static void
test_error_unreachable_url (void)
{
  /* Port 1 on loopback: nothing listens there, the connection is refused. */
  const char *json = "{\"url\":\"http://127.0.0.1:1/audio.wav\"}";
  g_autoptr (GBytes) body = g_bytes_new_static (json, strlen (json));
  g_autoptr (LmdTestResponse) r = post_listen (body, "application/json", NULL);
  g_autofree char *json404 = g_strdup_printf ("{\"url\":\"http://127.0.0.1:%u/missing.wav\"}", file_server_port);
  g_autoptr (GBytes) body404 = g_bytes_new (json404, strlen (json404));
  g_autoptr (LmdTestResponse) r404 = post_listen (body404, "application/json", NULL);
  const char *ftp = "{\"url\":\"ftp://example.org/a.wav\"}";
  g_autoptr (GBytes) body_ftp = g_bytes_new_static (ftp, strlen (ftp));
  g_autoptr (LmdTestResponse) r_ftp = post_listen (body_ftp, "application/json", NULL);

  assert_error (r, 400, "INVALID_PARAMETER", "url");
  assert_error (r404, 400, "INVALID_PARAMETER", "url");
  assert_error (r_ftp, 400, "INVALID_PARAMETER", "url");
}

/* A loopback port that accepts connections and never answers: its listen socket, and on a
 * thread of its own, the connections it accepted (kept open, silent). */
typedef struct {
  GSocket *listener;       /* owned */
  GPtrArray *accepted;     /* owned: GSocket; under lock */
  GMutex lock;
  GCancellable *stop;      /* owned */
  GThread *thread;         /* owned */
  guint port;
} SilentHost;

static gpointer
silent_host_accept (gpointer data)
{
  SilentHost *h = data;

  for (;;)
    {
      GSocket *conn = g_socket_accept (h->listener, h->stop, NULL);

      if (conn == NULL)
        return NULL;
      g_mutex_lock (&h->lock);
      g_ptr_array_add (h->accepted, conn);
      g_mutex_unlock (&h->lock);
    }
}

static SilentHost *
silent_host_start (void)
{
  SilentHost *h = g_new0 (SilentHost, 1);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  h->listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (h->listener, any_port, TRUE, &error));
  g_assert_true (g_socket_listen (h->listener, &error));
  bound = g_socket_get_local_address (h->listener, &error);
  g_assert_no_error (error);
  h->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  h->accepted = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&h->lock);
  h->stop = g_cancellable_new ();
  h->thread = g_thread_new ("silent-host", silent_host_accept, h);
  return h;
}

static guint
silent_host_connections (SilentHost *h)
{
  guint n;

  g_mutex_lock (&h->lock);
  n = h->accepted->len;
  g_mutex_unlock (&h->lock);
  return n;
}

/* Closes every connection (the clients see the peer go away) and the listener. */
static void
silent_host_stop (SilentHost *h)
{
  g_cancellable_cancel (h->stop);
  g_thread_join (h->thread);
  g_ptr_array_unref (h->accepted);
  g_socket_close (h->listener, NULL);
  g_object_unref (h->listener);
  g_object_unref (h->stop);
  g_mutex_clear (&h->lock);
  g_free (h);
}

typedef struct {
  GBytes *body;
  const char *content_type;
  guint status;   /* 0 until answered */
  gint done;
} PendingCall;

static gpointer
pending_call (gpointer data)
{
  PendingCall *c = data;
  g_autoptr (SoupSession) s = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r = lmd_test_http (s, "POST", url, c->content_type, c->body, NULL);

  c->status = r->status;
  g_atomic_int_set (&c->done, 1);
  return NULL;
}

static void
test_url_fetch_outside_workers (void)
{
  /* Two requests by URL to a host that accepts and never answers hold no inference thread
   * (the server has two): a WAV sent meanwhile is answered while both are still fetching. */
  SilentHost *host = silent_host_start ();
  g_autofree char *json = g_strdup_printf ("{\"url\":\"http://127.0.0.1:%u/audio.wav\"}", host->port);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  PendingCall fetches[2] = { { body, "application/json" }, { body, "application/json" } };
  GThread *threads[2];
  g_autoptr (GBytes) speech = NULL;
  g_autoptr (LmdTestResponse) r = NULL;
  gint64 deadline;

  if (!need_testdata ())
    {
      silent_host_stop (host);
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (fetches); i++)
    threads[i] = g_thread_new ("url-call", pending_call, &fetches[i]);
  /* both fetches connected (bounded by fetch_timeout_s of the test's server) */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (silent_host_connections (host) < 2 && g_get_monotonic_time () < deadline)
    g_usleep (10000);
  g_assert_cmpuint (silent_host_connections (host), ==, 2);

  speech = first_recording ();
  r = post_listen (speech, "audio/wav", NULL);
  assert_status (r, 200);
  g_assert_true (strlen (json_string (lmd_test_response_json (r), "text")) > 0);
  /* answered while both fetches still wait for the silent host */
  g_assert_false (g_atomic_int_get (&fetches[0].done));
  g_assert_false (g_atomic_int_get (&fetches[1].done));

  /* the host goes away: both fetches fail as a URL error */
  silent_host_stop (host);
  for (guint i = 0; i < G_N_ELEMENTS (fetches); i++)
    {
      g_thread_join (threads[i]);
      g_assert_cmpuint (fetches[i].status, ==, 400);
    }
}

/* ---- request ids and concurrency ------------------------------------------------------- */

static void
test_request_id (void)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", empty,
                                                 "X-Request-ID", "client-id-4711", NULL);
  g_autofree char *log = NULL;

  g_assert_cmpstr (soup_message_headers_get_one (r->headers, "X-Request-ID"), ==, "client-id-4711");
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "[client-id-4711]"));
}

/* An option value with a newline cannot forge a log line: the logging layer escapes it. */
static void
test_log_escapes_values (void)
{
  g_autofree char *path = NULL;
  g_autoptr (GBytes) audio = NULL;
  g_autofree char *url = NULL;
  g_autofree char *log = NULL;
  g_auto (GStrv) lines = NULL;
  gboolean found = FALSE;

  if (!need_testdata ())
    return;
  path = librivox_path (0);
  audio = read_file_bytes (path);
  url = lmd_test_server_url (
      server, "/v1/listen?model=x%0A2026-01-01T00:00:00.000Z%20WARN%20%20forged%0D%1B%5B31m%E2%80%A8");
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio,
                                                   "X-Request-ID", "log-escape-1", NULL);
    g_assert_cmpuint (r->status, ==, 400);
  }
  log = lmd_test_server_read_log (server);
  lines = g_strsplit (log, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_assert_false (g_str_has_prefix (lines[i], "2026-01-01T00:00:00.000Z"));
      g_assert_null (strchr (lines[i], '\r'));
      g_assert_null (strchr (lines[i], '\x1b'));
      g_assert_null (strstr (lines[i], "\xe2\x80\xa8"));
      if (strstr (lines[i], "[log-escape-1] ") != NULL &&
          strstr (lines[i], "x\\n2026-01-01T00:00:00.000Z WARN  forged\\r\\x1b[31m\\u{2028}") != NULL)
        found = TRUE;
    }
  if (!found)
    g_error ("no escaped line for log-escape-1 in:\n%s", log);
}

typedef struct {
  GBytes *audio;
  guint status;   /* 0 when the request failed at the transport level */
  gint done;
  char *text;
} ConcurrentCall;

static gpointer
concurrent_call (gpointer data)
{
  ConcurrentCall *c = data;
  /* a generous client timeout: eight requests share two workers (and may run under valgrind) */
  g_autoptr (SoupSession) s = soup_session_new_with_options ("timeout", lmd_test_timeout_s (1800), NULL);
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r = lmd_test_http (s, "POST", url, "audio/wav", c->audio, NULL);

  c->status = r->status;
  if (r->status == 200)
    c->text = g_strdup (json_string (lmd_test_response_json (r), "text"));
  g_atomic_int_set (&c->done, 1);
  return NULL;
}

static void
test_concurrent (void)
{
  ConcurrentCall calls[8] = { 0 };
  GThread *threads[8];
  guint health_ok = 0;
  gboolean all_done = FALSE;

  if (!need_testdata ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_autofree char *path = librivox_path (i % LIBRIVOX_FILES);
      calls[i].audio = read_file_bytes (path);
      threads[i] = g_thread_new ("client", concurrent_call, &calls[i]);
    }
  /* /health answers while the eight requests run */
  while (!all_done)
    {
      g_autofree char *url = lmd_test_server_url (server, "/health");
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
      g_assert_cmpuint (r->status, ==, 200);
      health_ok++;
      all_done = TRUE;
      for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
        all_done = all_done && g_atomic_int_get (&calls[i].done);
      g_usleep (50000);
    }
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_thread_join (threads[i]);
      g_assert_cmpuint (calls[i].status, ==, 200);
      g_assert_true (strlen (calls[i].text) > 0);
      /* the same file gives the same words whatever else runs */
      if (i >= LIBRIVOX_FILES)
        g_assert_cmpstr (calls[i].text, ==, calls[i - LIBRIVOX_FILES].text);
    }
  for (guint i = 0; i < G_N_ELEMENTS (calls); i++)
    {
      g_bytes_unref (calls[i].audio);
      g_free (calls[i].text);
    }
  g_assert_cmpuint (health_ok, >, 1);
}

static void
test_metrics (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/metrics");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  g_autofree char *text = g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));

  g_assert_cmpuint (r->status, ==, 200);
  g_assert_nonnull (strstr (text, "asr_active_requests 0"));
  g_assert_nonnull (strstr (text, "asr_requests_total{code=\"200\"}"));
  g_assert_nonnull (strstr (text, "asr_audio_seconds_total"));
}

int
main (int argc, char **argv)
{
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* fetch_timeout_s: /http/url-fetch-outside-workers needs its two fetches still waiting once
   * a WAV is transcribed, which takes longer than 10 s under valgrind */
  config = g_strdup_printf ("[server]\nrole=all\nhost=127.0.0.1\n"
                            "[plugins]\nload=http;gst-decoder;sphinx\n"
                            "[limits]\nworkers=2\nqueue_size=16\nallow_private_urls=true\n"
                            "fetch_timeout_s=%u\n", lmd_test_timeout_s (10));
  wav_words = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  if (lmd_test_librivox_dir () != NULL)
    {
      g_autofree char *tpath = g_build_filename (lmd_test_librivox_dir (), "transcription", NULL);
      g_auto (GStrv) ids = lmd_test_librivox_ids ();

      references = lmd_wer_load_transcription (tpath, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_strv_length (ids), ==, LIBRIVOX_FILES);
      for (guint i = 0; i < LIBRIVOX_FILES; i++)
        librivox_ids[i] = g_strdup (ids[i]);
    }
  file_server = lmd_test_file_server_start ();
  file_server_port = lmd_test_file_server_get_port (file_server);
  if (lmd_test_librivox_dir () != NULL)
    {
      g_autoptr (GBytes) speech = first_recording ();
      lmd_test_file_server_add (file_server, "/speech.wav", speech);
    }
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);

  g_test_add_func ("/http/health", test_health);
  g_test_add_func ("/http/not-found", test_not_found);
  g_test_add_func ("/http/librivox/wav", test_librivox_wav);
  g_test_add_data_func ("/http/librivox/flac", "flac", test_librivox_formats);
  g_test_add_data_func ("/http/librivox/mp3", "mp3", test_librivox_formats);
  g_test_add_data_func ("/http/librivox/opus", "opus", test_librivox_formats);
  g_test_add_func ("/http/form/multipart", test_multipart);
  g_test_add_func ("/http/form/json-url", test_json_url);
  g_test_add_func ("/http/form/urlencoded", test_form_urlencoded);
  g_test_add_func ("/http/dialect/get-text", test_get_text_dialect);
  g_test_add_func ("/http/dialect/openai", test_openai_dialect);
  g_test_add_func ("/http/error/empty-body", test_error_empty_body);
  g_test_add_func ("/http/error/garbage", test_error_garbage);
  g_test_add_func ("/http/error/truncated-wav", test_error_truncated_wav);
  g_test_add_func ("/http/error/undecodable-details", test_error_undecodable_details);
  g_test_add_func ("/http/error/too-large", test_error_too_large);
  g_test_add_func ("/http/truncated-data", test_truncated_data);
  g_test_add_func ("/http/error/wav-rate", test_error_wav_rate);
  g_test_add_func ("/http/error/bad-json", test_error_bad_json);
  g_test_add_func ("/http/error/bad-option", test_error_bad_option);
  g_test_add_func ("/http/error/unreachable-url", test_error_unreachable_url);
  g_test_add_func ("/http/url-fetch-outside-workers", test_url_fetch_outside_workers);
  g_test_add_func ("/http/request-id", test_request_id);
  g_test_add_func ("/http/log-escapes-values", test_log_escapes_values);
  g_test_add_func ("/http/concurrent", test_concurrent);
  g_test_add_func ("/http/metrics", test_metrics);

  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  lmd_test_file_server_stop (file_server);
  g_ptr_array_unref (wav_words);
  g_clear_pointer (&references, g_hash_table_unref);
  for (guint i = 0; i < LIBRIVOX_FILES; i++)
    g_free (librivox_ids[i]);
  return status;
}
