/* SPDX-License-Identifier: MIT */
/*
 * test-core.c — unit tests of the server core: options, errors, JSON output, transcripts,
 * the internal-address check of the URL fetcher, and every failure of the plugin loader.
 */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-job.h"
#include "lmd-json-writer.h"
#include "lmd-plugin-loader.h"
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
  const char *internal[] = { "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.0.1",
                             "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "100.64.0.1" };
  const char *external[] = { "93.184.216.34", "8.8.8.8", "2001:4860:4860::8888", "172.32.0.1" };

  for (guint i = 0; i < G_N_ELEMENTS (internal); i++)
    {
      g_autoptr (GInetAddress) a = g_inet_address_new_from_string (internal[i]);
      g_assert_true (lmd_inet_address_is_internal (a));
    }
  for (guint i = 0; i < G_N_ELEMENTS (external); i++)
    {
      g_autoptr (GInetAddress) a = g_inet_address_new_from_string (external[i]);
      g_assert_false (lmd_inet_address_is_internal (a));
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
  g_test_add_func ("/core/json-writer", test_json_writer);
  g_test_add_func ("/core/transcript", test_transcript);
  g_test_add_func ("/core/internal-addresses", test_internal_addresses);
  g_test_add_func ("/core/fetch-refuses-internal", test_fetch_refuses_internal);
  g_test_add_func ("/core/plugin-loader-errors", test_loader_errors);
  return g_test_run ();
}
