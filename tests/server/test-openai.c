/* SPDX-License-Identifier: MIT */
/*
 * test-openai.c — the OpenAI-compatible surface against the real daemon: requests byte for
 * byte as OpenAI's official client (openai-node) sends them (the recordings of tests/fixtures/openai/,
 * recorded from it, the audio put in place of its @@AUDIO@@ marker), real LibriVox speech.
 *
 * Covers: GET /v1/models and /v1/models/{id}; verbose_json with the segment fields OpenAI's
 * types declare and words; translations (a 400 that says so for sphinx, the whisper
 * engine's translate task on a multilingual fixture model); srt and vtt through the strict
 * parser; the task option of the other dialects.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-raw-http.h"
#include "lmd-test-server.h"
#include "lmd-test-subtitles.h"

static LmdTestServer *server; /* sphinx (default) + whisper tiny-v3-random (multilingual) */
static SoupSession *session;

static GBytes *
read_bytes (const char *path)
{
  char *data = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_bytes_new_take (data, len);
}

static char *
librivox (const char *id)
{
  return g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), id);
}

/* The recorded request @name with @audio in place of the marker and @replace[0] replaced by
 * @replace[1] (nullable), its Content-Length set again. */
static GBytes *
recorded_request (const char *name, GBytes *audio, const char *const *replace)
{
  g_autofree char *path = g_strdup_printf ("%s/openai/%s.http", g_getenv ("LMD_FIXTURES_DIR"), name);
  g_autoptr (GBytes) recorded = read_bytes (path);
  const char *data = g_bytes_get_data (recorded, NULL);
  gsize len = g_bytes_get_size (recorded);
  const char *split = g_strstr_len (data, (gssize) len, "\n\n");
  g_autofree char *head = NULL;
  g_autoptr (GString) body = NULL;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_auto (GStrv) lines = NULL;
  const char *marker;

  g_assert_nonnull (split);
  head = g_strndup (data, split - data);
  body = g_string_new_len (split + 2, (gssize) (len - (split + 2 - data)));
  if (replace != NULL)
    {
      char *at = strstr (body->str, replace[0]);
      g_assert_nonnull (at);
      g_string_erase (body, at - body->str, (gssize) strlen (replace[0]));
      g_string_insert (body, at - body->str, replace[1]);
    }
  lines = g_strsplit (head, "\n", -1);
  /* the recording's first line is "METHOD PATH": an HTTP/1.1 request line */
  g_byte_array_append (out, (const guint8 *) lines[0], (guint) strlen (lines[0]));
  g_byte_array_append (out, (const guint8 *) " HTTP/1.1\r\n", 11);
  for (guint i = 1; lines[i] != NULL; i++)
    {
      if (g_str_has_prefix (lines[i], "content-length:") || g_str_has_prefix (lines[i], "connection:"))
        continue;
      g_byte_array_append (out, (const guint8 *) lines[i], (guint) strlen (lines[i]));
      g_byte_array_append (out, (const guint8 *) "\r\n", 2);
    }
  if (body->len > 0)
    {
      gsize audio_len = audio != NULL ? g_bytes_get_size (audio) : 0;
      g_autofree char *cl = NULL;

      marker = strstr (body->str, "@@AUDIO@@");
      g_assert_nonnull (marker);
      cl = g_strdup_printf ("content-length: %" G_GSIZE_FORMAT "\r\n", body->len - 9 + audio_len);
      g_byte_array_append (out, (const guint8 *) cl, (guint) strlen (cl));
      g_byte_array_append (out, (const guint8 *) "connection: close\r\n\r\n", 21);
      g_byte_array_append (out, (const guint8 *) body->str, (guint) (marker - body->str));
      if (audio != NULL)
        g_byte_array_append (out, g_bytes_get_data (audio, NULL), (guint) audio_len);
      g_byte_array_append (out, (const guint8 *) marker + 9, (guint) (body->len - (marker + 9 - body->str)));
    }
  else
    g_byte_array_append (out, (const guint8 *) "connection: close\r\n\r\n", 21);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* Sends @request on a new connection; (transfer full) the whole response. */
static char *
send_raw (GBytes *request)
{
  g_autoptr (GSocketConnection) conn = lmd_test_raw_connect (lmd_test_server_get_port (server));
  char *response;

  g_assert_true (lmd_test_raw_send (conn, g_bytes_get_data (request, NULL), g_bytes_get_size (request)));
  response = lmd_test_raw_read_response (conn, 240, NULL);
  g_assert_nonnull (response);
  return response;
}

static JsonObject *
body_object (const char *response, JsonParser *parser)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  json_parser_load_from_data (parser, lmd_test_raw_body (response), -1, &error);
  g_assert_no_error (error);
  root = json_parser_get_root (parser);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return json_node_get_object (root);
}

static gboolean
is_number (JsonObject *o, const char *member)
{
  JsonNode *n = json_object_get_member (o, member);
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) &&
         (json_node_get_value_type (n) == G_TYPE_DOUBLE || json_node_get_value_type (n) == G_TYPE_INT64);
}

/* Every field OpenAI's TranscriptionSegment declares, with its type; segments in order,
 * not overlapping, inside @duration. */
static void
assert_segments (JsonArray *segments, double duration)
{
  double last_end = 0.0;

  g_assert_cmpuint (json_array_get_length (segments), >=, 1);
  for (guint i = 0; i < json_array_get_length (segments); i++)
    {
      JsonObject *s = json_array_get_object_element (segments, i);
      JsonArray *tokens;

      g_assert_cmpint (json_object_get_int_member (s, "id"), ==, i);
      g_assert_true (is_number (s, "seek"));
      g_assert_true (is_number (s, "start") && is_number (s, "end"));
      g_assert_nonnull (json_object_get_string_member (s, "text"));
      tokens = json_object_get_array_member (s, "tokens");
      g_assert_nonnull (tokens);
      for (guint k = 0; k < json_array_get_length (tokens); k++)
        g_assert_cmpint (json_node_get_value_type (json_array_get_element (tokens, k)), ==, G_TYPE_INT64);
      g_assert_true (is_number (s, "temperature"));
      g_assert_true (is_number (s, "avg_logprob"));
      g_assert_cmpfloat (json_object_get_double_member (s, "avg_logprob"), <=, 0.0);
      g_assert_true (is_number (s, "compression_ratio"));
      g_assert_cmpfloat (json_object_get_double_member (s, "compression_ratio"), >, 0.0);
      g_assert_true (is_number (s, "no_speech_prob"));
      g_assert_cmpfloat (json_object_get_double_member (s, "no_speech_prob"), >=, 0.0);
      g_assert_cmpfloat (json_object_get_double_member (s, "no_speech_prob"), <=, 1.0);
      g_assert_cmpfloat (json_object_get_double_member (s, "start"), >=, last_end - 1e-9);
      g_assert_cmpfloat (json_object_get_double_member (s, "end"), >=, json_object_get_double_member (s, "start"));
      g_assert_cmpfloat (json_object_get_double_member (s, "end"), <=, duration + 1e-3);
      last_end = json_object_get_double_member (s, "end");
    }
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

/* ---- models ----------------------------------------------------------------------------- */

static void
test_models (void)
{
  g_autoptr (GBytes) request = recorded_request ("models", NULL, NULL);
  g_autofree char *response = send_raw (request);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;
  JsonArray *data;
  gboolean sphinx = FALSE, whisper = FALSE;

  g_assert_cmpuint (lmd_test_raw_status (response), ==, 200);
  o = body_object (response, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "object"), ==, "list");
  data = json_object_get_array_member (o, "data");
  for (guint i = 0; i < json_array_get_length (data); i++)
    {
      JsonObject *m = json_array_get_object_element (data, i);
      const char *id = json_object_get_string_member (m, "id");

      g_assert_cmpstr (json_object_get_string_member (m, "object"), ==, "model");
      g_assert_cmpstr (json_object_get_string_member (m, "owned_by"), ==, "lightning-mediad");
      g_assert_cmpint (json_object_get_int_member (m, "created"), >, 1700000000);
      if (g_str_equal (id, "sphinx-en-us"))
        {
          sphinx = TRUE;
          g_assert_true (json_object_get_boolean_member (m, "default"));
          g_assert_cmpstr (json_object_get_string_member (m, "engine"), ==, "sphinx");
          g_assert_false (json_object_get_boolean_member (m, "translation"));
        }
      if (g_str_equal (id, "tiny-v3-random"))
        {
          whisper = TRUE;
          g_assert_cmpstr (json_object_get_string_member (m, "engine"), ==, "whisper");
          g_assert_true (json_object_get_boolean_member (m, "translation"));
        }
    }
  g_assert_true (sphinx && whisper);

  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/models/sphinx-en-us");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "id"), ==, "sphinx-en-us");
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/models/whisper-9");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, "X-Request-ID", "models-404", NULL);
    g_autofree char *log = NULL;
    g_assert_cmpuint (r->status, ==, 404);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, "NOT_FOUND");
    g_assert_nonnull (strstr (json_object_get_string_member (lmd_test_response_json (r), "error"), "whisper-9"));
    log = lmd_test_server_read_log (server);
    g_assert_nonnull (strstr (log, "[models-404]"));
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/models");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "application/json", NULL, NULL);
    g_assert_cmpuint (r->status, ==, 405);
  }
}

/* ---- transcriptions --------------------------------------------------------------------- */

static void
test_transcription_verbose_json (void)
{
  g_autofree char *wav = NULL;
  g_autoptr (GBytes) audio = NULL, request = NULL;
  g_autofree char *response = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;
  JsonArray *words, *segments;
  double duration;

  if (!need_testdata ())
    return;
  wav = librivox ("sense_and_sensibility_01_austen_64kb-0880");
  audio = read_bytes (wav);
  request = recorded_request ("transcriptions", audio, NULL);
  response = send_raw (request);
  g_assert_cmpuint (lmd_test_raw_status (response), ==, 200);
  o = body_object (response, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "task"), ==, "transcribe");
  g_assert_cmpstr (json_object_get_string_member (o, "language"), ==, "en");
  g_assert_nonnull (strstr (json_object_get_string_member (o, "text"), "young man"));
  duration = json_object_get_double_member (o, "duration");
  g_assert_cmpfloat_with_epsilon (duration, 2.99, 0.05);
  segments = json_object_get_array_member (o, "segments");
  assert_segments (segments, duration);
  /* sphinx decodes no tokens and no windows: the documented derived values */
  {
    JsonObject *s = json_array_get_object_element (segments, 0);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (s, "tokens")), ==, 0);
    g_assert_cmpint (json_object_get_int_member (s, "seek"), ==, 0);
    g_assert_cmpfloat (json_object_get_double_member (s, "temperature"), ==, 0.0);
  }
  /* timestamp_granularities[]=word */
  words = json_object_get_array_member (o, "words");
  g_assert_cmpuint (json_array_get_length (words), >=, 5);
  for (guint i = 0; i < json_array_get_length (words); i++)
    {
      JsonObject *w = json_array_get_object_element (words, i);
      g_assert_nonnull (json_object_get_string_member (w, "word"));
      g_assert_true (is_number (w, "start") && is_number (w, "end"));
    }
}

static void
test_transcription_subtitles (void)
{
  g_autofree char *wav = NULL;
  g_autoptr (GBytes) audio = NULL;
  g_autofree char *verbose_text = NULL;
  double duration = 0;

  if (!need_testdata ())
    return;
  wav = librivox ("sense_and_sensibility_01_austen_64kb-0870");
  audio = read_bytes (wav);
  {
    g_autoptr (GBytes) request = recorded_request ("transcriptions", audio, NULL);
    g_autofree char *response = send_raw (request);
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o = body_object (response, parser);
    duration = json_object_get_double_member (o, "duration");
    verbose_text = g_strdup (json_object_get_string_member (o, "text"));
  }
  for (guint vtt = 0; vtt <= 1; vtt++)
    {
      const char *replace[] = { "verbose_json", vtt ? "vtt" : "srt", NULL };
      g_autoptr (GBytes) request = recorded_request ("transcriptions", audio, replace);
      g_autofree char *response = send_raw (request);
      g_autofree char *type = lmd_test_raw_header (response, "Content-Type");
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) cues = NULL;
      g_autofree char *joined = NULL;

      g_assert_cmpuint (lmd_test_raw_status (response), ==, 200);
      g_assert_true (g_str_has_prefix (type, vtt ? "text/vtt" : "application/x-subrip"));
      cues = lmd_test_subtitles_parse (lmd_test_raw_body (response), vtt, duration, &error);
      g_assert_no_error (error);
      joined = lmd_test_subtitles_join (cues);
      g_assert_cmpstr (joined, ==, verbose_text);
    }
}

/* ---- translations ----------------------------------------------------------------------- */

/* model=whisper-1 goes to the default model, sphinx, which cannot translate: a 400 that says so */
static void
test_translation_refused_by_sphinx (void)
{
  g_autofree char *wav = NULL;
  g_autoptr (GBytes) audio = NULL, request = NULL;
  g_autofree char *response = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;

  if (!need_testdata ())
    return;
  wav = librivox ("sense_and_sensibility_01_austen_64kb-0880");
  audio = read_bytes (wav);
  request = recorded_request ("translations", audio, NULL);
  response = send_raw (request);
  g_assert_cmpuint (lmd_test_raw_status (response), ==, 400);
  o = body_object (response, parser);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "INVALID_PARAMETER");
  g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, "model");
  g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "cannot translate"));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (o, "request_id"), "req_"));
}

/* The whisper engine's translate task on the multilingual fixture model.  Its weights are
 * random, so its text means nothing and does not depend on the task; what shows the task
 * reached the decoder is the session's debug line naming it (the daemon runs with
 * --log-level debug).  The segments are the engine's own: their tokens are there. */
static void
test_translation_whisper (void)
{
  g_autofree char *wav = g_build_filename (g_getenv ("LMD_FIXTURES_DIR"), "audio", "speech-sample.wav", NULL);
  g_autoptr (GBytes) audio = read_bytes (wav);

  for (guint translate = 0; translate <= 1; translate++)
    {
      const char *replace[] = { "whisper-1", "tiny-v3-random", NULL };
      g_autoptr (GBytes) request = recorded_request (translate ? "translations" : "transcriptions", audio, replace);
      g_autofree char *response = send_raw (request);
      g_autofree char *request_id = lmd_test_raw_header (response, "X-Request-ID");
      g_autofree char *expected = NULL;
      g_autofree char *log = NULL;
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *o;
      JsonArray *segments;

      if (lmd_test_raw_status (response) != 200)
        g_error ("translate=%u: %s", translate, response);
      o = body_object (response, parser);
      g_assert_cmpstr (json_object_get_string_member (o, "task"), ==, translate ? "translate" : "transcribe");
      segments = json_object_get_array_member (o, "segments");
      g_assert_cmpuint (json_array_get_length (segments), >, 0);
      assert_segments (segments, json_object_get_double_member (o, "duration"));
      for (guint i = 0; i < json_array_get_length (segments); i++)
        {
          JsonArray *t = json_object_get_array_member (json_array_get_object_element (segments, i), "tokens");
          g_assert_cmpuint (json_array_get_length (t), >, 0); /* the engine's own tokens */
        }
      expected = g_strdup_printf ("[%s] whisper: task %s,", request_id, translate ? "translate" : "transcribe");
      log = lmd_test_server_read_log (server);
      g_assert_nonnull (strstr (log, expected));
    }
}

/* ---- task= on the other dialects -------------------------------------------------------- */

static void
test_task_option (void)
{
  g_autoptr (GBytes) audio = NULL;
  g_autofree char *wav = NULL;

  if (!need_testdata ())
    return;
  wav = librivox ("sense_and_sensibility_01_austen_64kb-0880");
  audio = read_bytes (wav);
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?task=translate");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    g_assert_cmpuint (r->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "param"), ==, "model");
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?task=summarise");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    g_assert_cmpuint (r->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "param"), ==, "task");
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?task=transcribe");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
}

/* ---- set-up ----------------------------------------------------------------------------- */

static void
wait_ready (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/healthz");

  for (guint i = 0; i < 600; i++)
    {
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
      if (r->status == 200)
        return;
      g_usleep (100000);
    }
  g_error ("the whisper fixture model did not load");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = g_build_filename (g_getenv ("LMD_FIXTURES_DIR"), "whisper", "tiny-v3-random",
                                             "model.ggml.bin", NULL);
  g_autofree char *config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;whisper\n"
                                             "[server]\ndefault_model=sphinx-en-us\n[limits]\nworkers=2\n"
                                             "[whisper]\nmodel=%s\nname=tiny-v3-random\n"
                                             "temperature_increment=0\n", model);
  const char *args[] = { "--log-level", "debug", NULL };
  int status;

  g_test_init (&argc, &argv, NULL);
  server = lmd_test_server_start (config, args, &error);
  g_assert_no_error (error);
  session = soup_session_new_with_options ("timeout", 300, NULL);
  wait_ready ();

  g_test_add_func ("/openai/models", test_models);
  g_test_add_func ("/openai/transcriptions/verbose-json", test_transcription_verbose_json);
  g_test_add_func ("/openai/transcriptions/srt-vtt", test_transcription_subtitles);
  g_test_add_func ("/openai/translations/refused-by-sphinx", test_translation_refused_by_sphinx);
  g_test_add_func ("/openai/translations/whisper", test_translation_whisper);
  g_test_add_func ("/openai/task-option", test_task_option);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  return status;
}
