/* SPDX-License-Identifier: MIT */
/*
 * test-core.c — unit tests of the server core: options, errors, JSON input (the depth and
 * size guard) and output, the bound of [limits] max_body_mb, transcripts,
 * the internal-address check of the URL fetcher, and every failure of the plugin loader.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-json.h"
#include "lmd-job.h"
#include "lmd-json-writer.h"
#include "lmd-plugin-loader.h"
#include "lmd-router.h"
#include "lmd-transcribe-options.h"
#include "lmd-transcript.h"
#include "lmd-url-fetcher.h"

static void
test_options (void)
{
  LmdTranscribeOptions o;
  g_autoptr (GError) error = NULL;

  lmd_transcribe_options_init (&o);
  g_assert_cmpstr (o.language, ==, "en");
  g_assert_true (o.punctuate);
  g_assert_false (o.word_timestamps);
  g_assert_true (lmd_transcribe_options_set (&o, "timestamps", "1", &error));
  g_assert_true (o.word_timestamps);
  g_assert_true (lmd_transcribe_options_set (&o, "word_timestamps", "FALSE", &error));
  g_assert_false (o.word_timestamps);
  g_assert_true (lmd_transcribe_options_set (&o, "language", "DE", &error));
  g_assert_cmpstr (o.language, ==, "de");
  g_assert_true (lmd_transcribe_options_set (&o, "language", "auto", &error));
  g_assert_true (lmd_transcribe_options_set (&o, "something_else", "whatever", &error));
  g_assert_true (lmd_transcribe_options_set (&o, "num_speakers", "3", &error));
  g_assert_cmpint (o.num_speakers, ==, 3);
  g_assert_no_error (error);

  g_assert_false (lmd_transcribe_options_set (&o, "punctuate", "perhaps", &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
  {
    g_autofree char *param = lmd_error_get_param (error);
    g_autofree char *sentence = lmd_error_get_sentence (error);
    g_assert_cmpstr (param, ==, "punctuate");
    g_assert_nonnull (strstr (sentence, "perhaps"));
  }
  g_clear_error (&error);
  g_assert_false (lmd_transcribe_options_set (&o, "language", "klingon", &error));
  g_clear_error (&error);
  g_assert_false (lmd_transcribe_options_set (&o, "num_speakers", "-1", &error));
  g_clear_error (&error);
  g_assert_false (lmd_transcribe_options_set (&o, "callback_url", "file:///etc/passwd", &error));
  g_clear_error (&error);
  lmd_transcribe_options_clear (&o);
}

/* The voice-activity options of a request: parsed with ranges, left to the configuration when
 * absent, and kept through a stored job's description. */
static void
test_vad_options (void)
{
  g_autoptr (LmdJob) job = lmd_job_new ("req_1", "http://127.0.0.1:9/cb");
  g_autoptr (LmdJob) back = NULL;
  g_autoptr (LmdJob) plain_back = NULL;
  g_autoptr (LmdJob) plain = lmd_job_new ("req_2", "http://127.0.0.1:9/cb");
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;
  g_autofree char *plain_json = NULL;
  LmdTranscribeOptions *o = &job->options;
  static const char *const bad[][2] = {
    { "vad", "perhaps" }, { "vad_threshold", "0" }, { "vad_threshold", "1.01" },
    { "vad_threshold", "x" }, { "vad_min_speech_ms", "1.5" }, { "vad_min_silence_ms", "-1" },
    { "vad_speech_pad_ms", "2001" }, { "vad_max_speech_s", "inf" }, { "vad_max_speech_s", "" },
  };

  g_assert_cmpint (o->vad.enabled, ==, -1);
  g_assert_cmpfloat (o->vad.threshold, <, 0.0);
  g_assert_cmpint (o->vad.min_speech_ms, <, 0);
  g_assert_true (lmd_transcribe_options_set (o, "vad", "false", &error));
  g_assert_true (lmd_transcribe_options_set (o, "vad_threshold", "0.35", &error));
  g_assert_true (lmd_transcribe_options_set (o, "vad_min_speech_ms", "100", &error));
  g_assert_true (lmd_transcribe_options_set (o, "vad_min_silence_ms", "0", &error));
  g_assert_true (lmd_transcribe_options_set (o, "vad_speech_pad_ms", "200", &error));
  g_assert_true (lmd_transcribe_options_set (o, "vad_max_speech_s", "29.5", &error));
  g_assert_no_error (error);
  g_assert_cmpint (o->vad.enabled, ==, 0);
  g_assert_cmpfloat (o->vad.threshold, ==, 0.35);
  g_assert_cmpint (o->vad.speech_pad_ms, ==, 200);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *param = NULL;

      g_assert_false (lmd_transcribe_options_set (o, bad[i][0], bad[i][1], &error));
      g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
      param = lmd_error_get_param (error);
      g_assert_cmpstr (param, ==, bad[i][0]);
      g_clear_error (&error);
    }
  /* a refused value leaves the option as it was */
  g_assert_cmpfloat (o->vad.threshold, ==, 0.35);

  json = lmd_job_to_meta_json (job);
  back = lmd_job_from_meta_json (json, &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->options.vad.enabled, ==, 0);
  g_assert_cmpfloat_with_epsilon (back->options.vad.threshold, 0.35, 1e-9);
  g_assert_cmpint (back->options.vad.min_speech_ms, ==, 100);
  g_assert_cmpint (back->options.vad.min_silence_ms, ==, 0);
  g_assert_cmpint (back->options.vad.speech_pad_ms, ==, 200);
  g_assert_cmpfloat_with_epsilon (back->options.vad.max_speech_s, 29.5, 1e-9);

  /* a job without VAD options stores none and gets the defaults back */
  plain_json = lmd_job_to_meta_json (plain);
  g_assert_null (strstr (plain_json, "vad"));
  plain_back = lmd_job_from_meta_json (plain_json, &error);
  g_assert_no_error (error);
  g_assert_cmpint (plain_back->options.vad.enabled, ==, -1);
  g_assert_cmpfloat (plain_back->options.vad.threshold, <, 0.0);
}

static void
test_errors (void)
{
  g_autoptr (GError) cancelled = g_error_new (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");
  g_autoptr (GError) other = g_error_new (G_FILE_ERROR, G_FILE_ERROR_NOENT, "x");
  g_autoptr (GError) plain = g_error_new (LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT, "no: colon here");

  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_FILE_TOO_LARGE), ==, 413);
  g_assert_cmpstr (lmd_error_code_name (LMD_ERROR_FILE_TOO_LARGE), ==, "FILE_TOO_LARGE");
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_UNSUPPORTED_FORMAT), ==, 415);
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_UNPROCESSABLE_AUDIO), ==, 422);
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_RATE_LIMIT_EXCEEDED), ==, 429);
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_SERVICE_UNAVAILABLE), ==, 503);
  g_assert_cmpint (lmd_error_classify (cancelled), ==, LMD_ERROR_TIMEOUT);
  g_assert_cmpint (lmd_error_classify (other), ==, LMD_ERROR_INTERNAL);
  /* only parameter errors carry a parameter */
  g_assert_null (lmd_error_get_param (plain));
}

/* "[[…]]" (or "{"a":{…}}") nested @depth deep. */
static char *
nested (guint depth, gboolean objects)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < depth; i++)
    g_string_append (s, objects ? "{\"a\":" : "[");
  g_string_append (s, "1");
  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, objects ? '}' : ']');
  return g_string_free (s, FALSE);
}

static void
test_json_guard (void)
{
  g_autofree char *at_limit = nested (LMD_JSON_MAX_DEPTH, FALSE);
  g_autofree char *over = nested (LMD_JSON_MAX_DEPTH + 1, FALSE);
  g_autofree char *objects_over = nested (LMD_JSON_MAX_DEPTH + 1, TRUE);
  g_autofree char *crash = nested (100000, FALSE); /* killed json-glib's parser (stack) */
  g_autofree char *in_string = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = NULL;
  JsonNode *node;

  /* at the limit: parsed, and the value is there */
  root = lmd_json_parse (at_limit, -1, G_MAXSIZE, &error);
  g_assert_no_error (error);
  node = root;
  for (guint i = 0; i < LMD_JSON_MAX_DEPTH; i++)
    {
      g_assert_true (JSON_NODE_HOLDS_ARRAY (node));
      node = json_array_get_element (json_node_get_array (node), 0);
    }
  g_assert_cmpint (json_node_get_int (node), ==, 1);
  g_clear_pointer (&root, json_node_unref);

  /* one level more, arrays or objects, or the document that crashed: refused unparsed */
  g_assert_null (lmd_json_parse (over, -1, G_MAXSIZE, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP);
  g_clear_error (&error);
  g_assert_false (lmd_json_check (objects_over, -1, G_MAXSIZE, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP);
  g_clear_error (&error);
  g_assert_null (lmd_json_parse (crash, -1, G_MAXSIZE, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP);
  g_clear_error (&error);

  /* brackets inside strings, escaped quotes included, are text, not nesting */
  in_string = g_strdup_printf ("{\"s\":\"\\\"%s\",\"n\":[1]}", over);
  root = lmd_json_parse (in_string, -1, G_MAXSIZE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_array_get_int_element (json_object_get_array_member (json_node_get_object (root), "n"), 0), ==, 1);
  g_clear_pointer (&root, json_node_unref);

  /* closers first do not hide depth that follows; unbalanced input is json-glib's to refuse */
  {
    g_autofree char *tricky = g_strconcat ("]]]]", over, NULL);
    g_assert_false (lmd_json_check (tricky, -1, G_MAXSIZE, &error));
    g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP);
    g_clear_error (&error);
  }
  g_assert_null (lmd_json_parse ("[1,", -1, G_MAXSIZE, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (lmd_json_parse ("", -1, G_MAXSIZE, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_INVALID);
  g_clear_error (&error);

  /* the size bound: at it parsed, one byte over refused; an explicit length is honoured */
  root = lmd_json_parse ("[1,2]", -1, 5, &error);
  g_assert_no_error (error);
  g_clear_pointer (&root, json_node_unref);
  g_assert_null (lmd_json_parse ("[1,2] ", -1, 5, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_LARGE);
  g_clear_error (&error);
  root = lmd_json_parse ("[1]garbage", 3, 3, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_array_get_length (json_node_get_array (root)), ==, 1);
  g_clear_pointer (&root, json_node_unref);

  /* one value per document: json-glib 1.6 took a value followed by an object or an array as
   * one document and leaked what it had parsed before (found by the fuzz targets' leak check) */
  {
    static const char *const two[] = {
      "{\"a\":1}{\"b\":2}", "[1][2]", "1{\"a\":1}", "\"s\" [1]", "true\n{}", "{}{}",
      "{\"type\":\"finalize\"} {\"type\":\"finalize\"}", "{\"a\":[{}]}[{\"b\":{}}]",
    };
    static const char *const one[] = {
      " {\"a\":\"}{\"} ", "[\"][\"]", "\n[[1],{\"b\":[]}]\r\n", "\"{}{}\"", "{\"a\":{}}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS (two); i++)
      {
        g_assert_null (lmd_json_parse (two[i], -1, G_MAXSIZE, &error));
        g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_INVALID);
        g_assert_nonnull (strstr (error->message, "more than one value"));
        g_clear_error (&error);
      }
    for (gsize i = 0; i < G_N_ELEMENTS (one); i++)
      {
        root = lmd_json_parse (one[i], -1, G_MAXSIZE, &error);
        g_assert_no_error (error);
        g_assert_nonnull (root);
        g_clear_pointer (&root, json_node_unref);
      }
  }
}

static void
test_json_guard_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-json-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "doc.json", NULL);
  g_autofree char *deep = nested (100000, TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = NULL;

  g_assert_true (g_file_set_contents (path, "{\"a\":1}", -1, NULL));
  root = lmd_json_parse_file (path, 64, &error);
  g_assert_no_error (error);
  g_assert_cmpint (json_object_get_int_member (json_node_get_object (root), "a"), ==, 1);
  g_assert_null (lmd_json_parse_file (path, 4, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_LARGE);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, deep, -1, NULL));
  g_assert_null (lmd_json_parse_file (path, G_MAXSIZE, &error));
  g_assert_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP);
  g_clear_error (&error);
  g_unlink (path);
  g_assert_null (lmd_json_parse_file (path, 64, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_rmdir (dir);
}

/* max_body_mb is bounded at load: bodies are held with 32-bit lengths in places */
static void
test_limits_bounds (void)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  LmdLimits limits;

  g_key_file_set_string (config, "limits", "max_body_mb", "2048");
  g_assert_true (lmd_limits_load (&limits, config, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (limits.max_body_bytes, ==, (guint64) LMD_LIMITS_MAX_BODY_MB * 1024 * 1024);
  g_key_file_set_string (config, "limits", "max_body_mb", "4097");
  g_assert_false (lmd_limits_load (&limits, config, &error));
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
  g_assert_nonnull (strstr (error->message, "max_body_mb"));
}

static void
test_json_writer (void)
{
  LmdJsonWriter *w = lmd_json_writer_new ();
  g_autofree char *text = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "s");
  lmd_json_writer_string (w, "quote \" backslash \\ newline \n tab \t ctrl \x01 é");
  lmd_json_writer_key (w, "d");
  lmd_json_writer_double (w, 0.47999999999, 3);
  lmd_json_writer_key (w, "whole");
  lmd_json_writer_double (w, 2.0, 3);
  lmd_json_writer_key (w, "a");
  lmd_json_writer_begin_array (w);
  lmd_json_writer_int (w, 1);
  lmd_json_writer_boolean (w, TRUE);
  lmd_json_writer_null (w);
  lmd_json_writer_begin_object (w);
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_array (w);
  lmd_json_writer_key (w, "bad_utf8");
  lmd_json_writer_string (w, "ab\xff\xfe");
  lmd_json_writer_end_object (w);
  text = lmd_json_writer_finish (w);

  g_assert_nonnull (strstr (text, "\"d\":0.48,"));
  g_assert_nonnull (strstr (text, "\"whole\":2,"));
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "s"),
                   ==, "quote \" backslash \\ newline \n tab \t ctrl \x01 é");
}

static void
test_transcript (void)
{
  g_autoptr (LmdTranscript) a = lmd_transcript_new (NULL);
  g_autoptr (LmdTranscript) b = lmd_transcript_new ("en");
  g_autoptr (LmdTranscript) copy = NULL;

  lmd_transcript_add_word (a, "hello", 0.1, 0.4, 0.9);
  lmd_transcript_add_word (a, "world", 0.5, 0.3, 1.5); /* end < start and confidence > 1 are clamped */
  lmd_transcript_update_text_from_words (a);
  g_assert_cmpstr (a->text, ==, "hello world");
  g_assert_cmpfloat_with_epsilon (a->confidence, 0.95, 1e-9);
  g_assert_cmpfloat (g_array_index (a->words, LmdWord, 1).end, ==, 0.5);

  lmd_transcript_add_word (b, "again", 0.0, 0.2, 0.5);
  lmd_transcript_append (a, b, 10.0);
  g_assert_cmpstr (a->text, ==, "hello world again");
  g_assert_cmpfloat (g_array_index (a->words, LmdWord, 2).start, ==, 10.0);
  copy = lmd_transcript_copy (a);
  g_assert_cmpstr (copy->text, ==, a->text);
  g_assert_cmpuint (copy->words->len, ==, 3);
}

static void
test_internal_addresses (void)
{
  const char *internal[] = {
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.0.1", "0.0.0.0", "100.64.0.1",
    "198.18.0.1", "198.19.255.255", "240.0.0.1", "255.255.255.255", "224.0.0.1", "192.0.2.1",
    "::1", "::", "fe80::1", "fd00::1", "fec0::1", "ff02::1", "2001:db8::1", "2001::1", "100::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "::ffff:0:127.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::808:808", "2002:7f00:1::", "2002:c0a8:101::1",
  };
  const char *external[] = {
    "93.184.216.34", "8.8.8.8", "172.32.0.1", "198.20.0.1", "223.255.255.255", "100.128.0.1",
    "2001:4860:4860::8888", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
  };

  for (guint i = 0; i < G_N_ELEMENTS (internal); i++)
    {
      g_autoptr (GInetAddress) a = g_inet_address_new_from_string (internal[i]);
      g_assert_nonnull (a);
      if (!lmd_inet_address_is_internal (a))
        g_error ("%s should be internal", internal[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (external); i++)
    {
      g_autoptr (GInetAddress) a = g_inet_address_new_from_string (external[i]);
      g_assert_nonnull (a);
      if (lmd_inet_address_is_internal (a))
        g_error ("%s should be external", external[i]);
    }
}

/* URL hosts read as the resolver reads them, then classified: every numeric form of an
 * internal address and localhost are refused without any network I/O, for audio URLs and
 * callback URLs alike. */
static void
test_url_destinations (void)
{
  const char *refused[] = {
    "http://127.1/a.wav", "http://2130706433/a.wav", "http://0x7f000001/a.wav",
    "http://0x7f.1/a.wav", "http://0177.0.0.1/a.wav", "http://127.0.1/a.wav", "http://0/a.wav",
    "http://127.0.0.1./a.wav", "http://localhost./a.wav", "http://LOCALHOST/a.wav",
    "http://api.localhost/a.wav", "http://[::127.0.0.1]/a.wav",
    "http://[::ffff:127.0.0.1]/a.wav", "http://[::ffff:7f00:1]/a.wav",
    "http://[64:ff9b::7f00:1]/a.wav", "http://[2002:7f00:1::]/a.wav",
    "http://[fe80::1%25eth0]/a.wav", "http://198.18.0.1/a.wav", "http://240.0.0.1/a.wav",
    "http://255.255.255.255/a.wav", "https://10.0.0.1:8443/a.wav", "http://3232235777/a.wav",
  };
  const char *accepted[] = {
    "http://93.184.216.34/a.wav", "https://example.com/a.wav", "http://8.8.8.8./a.wav",
    "http://[2001:4860:4860::8888]/a.wav", "http://134744072/a.wav", "http://127x.example/a.wav",
    "http://localhost.example.com/a.wav", "http://0x7g.1/a.wav",
  };
  const char *params[] = { "url", "callback_url" };

  for (guint p = 0; p < G_N_ELEMENTS (params); p++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
        {
          g_autoptr (GError) error = NULL;
          if (lmd_url_check_destination (refused[i], FALSE, params[p], &error))
            g_error ("%s should be refused", refused[i]);
          g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
          g_assert_true (g_str_has_prefix (error->message, params[p]));
          if (strstr (error->message, "refusing internal address") == NULL)
            g_error ("%s: %s", refused[i], error->message);
          /* allowed when private URLs are */
          g_assert_true (lmd_url_check_destination (refused[i], TRUE, params[p], NULL));
        }
      for (guint i = 0; i < G_N_ELEMENTS (accepted); i++)
        {
          g_autoptr (GError) error = NULL;
          if (!lmd_url_check_destination (accepted[i], FALSE, params[p], &error))
            g_error ("%s should be accepted: %s", accepted[i], error->message);
        }
    }
}

/* The fetcher and the callback poster refuse numeric and localhost forms of loopback before
 * connecting: a listener on loopback sees no connection. */
static void
test_fetch_refuses_before_connecting (void)
{
  const char *forms[] = { "127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "localhost.",
                          "127.0.0.1.", "[::ffff:127.0.0.1]" };
  LmdFetchLimits limits = { 1024, 5, FALSE };
  g_autoptr (GSocket) listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                               G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  guint port;

  g_assert_true (g_socket_bind (listener, any_port, TRUE, NULL));
  g_assert_true (g_socket_listen (listener, NULL));
  g_socket_set_blocking (listener, FALSE);
  bound = g_socket_get_local_address (listener, NULL);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  for (guint i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autofree char *url = g_strdup_printf ("http://%s:%u/a.wav", forms[i], port);
      g_autoptr (GError) fetch_error = NULL;
      g_autoptr (GError) post_error = NULL;
      g_autoptr (GBytes) bytes = lmd_url_fetch (url, &limits, NULL, &fetch_error);
      g_autoptr (GError) accept_error = NULL;
      g_autoptr (GSocket) accepted = NULL;

      g_assert_null (bytes);
      g_assert_error (fetch_error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
      g_assert_nonnull (strstr (fetch_error->message, "refusing internal address"));
      g_assert_cmpuint (lmd_url_post_json (url, "{}", &limits, &post_error), ==, 0);
      g_assert_error (post_error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
      g_assert_nonnull (strstr (post_error->message, "refusing internal address"));
      accepted = g_socket_accept (listener, NULL, &accept_error);
      g_assert_null (accepted);
      g_assert_error (accept_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
    }
}

static void
test_fetch_refuses_internal (void)
{
  LmdFetchLimits limits = { 1024, 5, FALSE };
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = lmd_url_fetch ("http://127.0.0.1:9/x.wav", &limits, NULL, &error);

  g_assert_null (bytes);
  g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
  g_assert_nonnull (strstr (error->message, "internal address 127.0.0.1"));
  g_clear_error (&error);
  bytes = lmd_url_fetch ("file:///etc/passwd", &limits, NULL, &error);
  g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER);
}

static void
test_loader_errors (void)
{
  const char *dir = g_getenv ("LMD_TEST_PLUGIN_DIR");
  const char *dirs[] = { dir, NULL };
  g_autoptr (LmdPluginLoader) loader = NULL;
  g_autoptr (GError) error = NULL;
  GObject *obj;

  g_assert_nonnull (dir);
  loader = lmd_plugin_loader_new (dirs);

  obj = lmd_plugin_loader_load (loader, "does-not-exist", &error);
  g_assert_null (obj);
  g_assert_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "liblmd-does-not-exist.so"));
  g_assert_nonnull (strstr (error->message, dir));
  g_clear_error (&error);

  obj = lmd_plugin_loader_load (loader, "../../etc/passwd", &error);
  g_assert_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_NOT_FOUND);
  g_clear_error (&error);

  obj = lmd_plugin_loader_load (loader, "wrong-version", &error);
  g_assert_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_VERSION);
  g_assert_nonnull (strstr (error->message, "999"));
  g_clear_error (&error);

  obj = lmd_plugin_loader_load (loader, "no-entry", &error);
  g_assert_error (error, LMD_PLUGIN_ERROR, LMD_PLUGIN_ERROR_NO_ENTRY);
  g_assert_nonnull (strstr (error->message, "lmd_plugin_describe"));
  g_clear_error (&error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/core/options", test_options);
  g_test_add_func ("/core/vad-options", test_vad_options);
  g_test_add_func ("/core/errors", test_errors);
  g_test_add_func ("/core/json-guard", test_json_guard);
  g_test_add_func ("/core/json-guard-file", test_json_guard_file);
  g_test_add_func ("/core/json-writer", test_json_writer);
  g_test_add_func ("/core/limits-bounds", test_limits_bounds);
  g_test_add_func ("/core/transcript", test_transcript);
  g_test_add_func ("/core/internal-addresses", test_internal_addresses);
  g_test_add_func ("/core/fetch-refuses-internal", test_fetch_refuses_internal);
  g_test_add_func ("/core/url-destinations", test_url_destinations);
  g_test_add_func ("/core/fetch-refuses-before-connecting", test_fetch_refuses_before_connecting);
  g_test_add_func ("/core/plugin-loader-errors", test_loader_errors);
  return g_test_run ();
}
