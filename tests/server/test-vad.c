/* SPDX-License-Identifier: MIT */
/*
 * test-vad.c — voice-activity detection in the real daemon ([vad] model = the Silero fixture):
 *   - /vad/noise: a random-weight whisper model (fixture) given 60 s of digital silence, 60 s
 *     of white noise and 60 s of pink noise: with VAD on (the default once a model is
 *     configured) the transcript is empty, no words, the duration the recording's; with
 *     vad=false the same model invents text; /metrics counts the skipped seconds and the VAD
 *     time;
 *   - /vad/speech-times: on the speech sample with 2 s of silence before it, the words the
 *     whisper model gives with VAD on keep absolute times (none inside the leading silence);
 *   - /vad/librivox-words: the VAD's speech segments of the five LibriVox recordings cover
 *     every word time of the sphinx engine's transcript and leave out the leading and trailing
 *     silences;
 *   - /vad/params: bad vad options are 400 with their param; vad=true without a configured
 *     model is 400 param vad; a corrupt [vad] model stops start-up with a message naming it.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-fixtures.h"
#include "lmd-test-noise.h"
#include "lmd-test-server.h"
#include "lmd-test-wav.h"
#include "lmw-vad.h"

#define RATE 16000
/* sphinx puts word boundaries inside the silence around a word (its frames are 10 ms, and the
 * first word often starts with the breath before it): a word may reach this far out of the
 * segment that holds it */
#define WORD_TOLERANCE_S 0.15

static gboolean
need_fixtures (void)
{
  g_autofree char *model = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *vad = lmd_test_fixture_path ("vad", "silero-v6.2.0-ggml.bin", NULL);

  if (!g_file_test (model, G_FILE_TEST_IS_REGULAR) || !g_file_test (vad, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the whisper or VAD fixtures are not there (tests/fixtures, or set LMD_FIXTURES_DIR)");
      return FALSE;
    }
  return TRUE;
}

static char *
whisper_config (gboolean with_vad)
{
  g_autofree char *model = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *vad = lmd_test_fixture_path ("vad", "silero-v6.2.0-ggml.bin", NULL);

  /* random weights fail every decoding: fallback would only add time */
  return g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;whisper\n"
                          "[whisper]\nmodel=%s\nname=tiny-en-random\ntemperature_increment=0\n"
                          "background_load=false\n%s%s\n",
                          model, with_vad ? "[vad]\nmodel=" : "", with_vad ? vad : "");
}

static JsonObject *
post (SoupSession *session, LmdTestServer *server, const char *query, GBytes *wav, guint *status)
{
  g_autofree char *url = lmd_test_server_url (server, query);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", wav, NULL);
  JsonObject *o = lmd_test_response_json (r);

  *status = r->status;
  return json_object_ref (o);
}

/* The value of metric @name in the /metrics text, or -1. */
static double
metric (SoupSession *session, LmdTestServer *server, const char *name)
{
  g_autofree char *text = lmd_test_server_get_metrics (server, session);

  return lmd_test_metric_value (text, name, -1.0);
}

/* 60 s of zeros, 60 s of white noise, 60 s of pink noise, RMS 0.1. */
static float *
silence_and_noise (gsize *n)
{
  gsize part = 60 * RATE;
  float *x = g_new (float, 3 * part);

  lmd_test_noise_silence_white_pink (x, part);
  *n = 3 * part;
  return x;
}

static void
test_noise (void)
{
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (600), NULL);
  g_autoptr (GBytes) wav = NULL;
  g_autofree float *pcm = NULL;
  LmdTestServer *server;
  gsize n = 0;
  guint status = 0;

  if (!need_fixtures ())
    return;
  if (lmd_test_skip_under_valgrind ("the fixture whisper model decoding 180 s of noise (vad=false) "
                                    "takes far too long in a daemon under valgrind"))
    return;
  config = whisper_config (TRUE);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  pcm = silence_and_noise (&n);
  wav = lmd_test_wav_encode (pcm, n, RATE);

  g_assert_cmpfloat (metric (session, server, "asr_vad_skipped_audio_seconds_total"), ==, 0.0);
  {
    g_autoptr (JsonObject) o = post (session, server, "/v1/listen?model=tiny-en-random&timestamps=true",
                                     wav, &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (o, "text"), ==, "");
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "words")), ==, 0);
    g_assert_cmpfloat_with_epsilon (json_object_get_double_member (o, "duration"), 180.0, 0.01);
  }
  g_assert_cmpfloat (metric (session, server, "asr_vad_skipped_audio_seconds_total"), >=, 179.9);
  g_assert_cmpfloat (metric (session, server, "asr_vad_seconds_total"), >, 0.0);
  {
    g_autofree char *log = lmd_test_server_read_log (server);
    g_assert_nonnull (strstr (log, "VAD: 0 speech segments, 0.00 s of 180.00 s kept"));
  }
  /* the same recording without VAD: the model decodes the noise into text */
  {
    g_autoptr (JsonObject) o = post (session, server,
                                     "/v1/listen?model=tiny-en-random&timestamps=true&vad=false",
                                     wav, &status);
    g_assert_cmpuint (status, ==, 200);
    g_test_message ("without VAD: \"%.80s\"", json_object_get_string_member (o, "text"));
    g_assert_cmpstr (json_object_get_string_member (o, "text"), !=, "");
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "words")), >, 0);
  }
  /* the skipped seconds did not grow: that request ran no VAD */
  g_assert_cmpfloat (metric (session, server, "asr_vad_skipped_audio_seconds_total"), <, 180.1);
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

static void
test_speech_times (void)
{
  g_autofree char *config = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  g_autoptr (GBytes) wav = NULL;
  g_autofree float *speech = NULL;
  g_autofree float *pcm = NULL;
  LmdTestServer *server;
  guint rate = 0, status = 0;
  gsize n = 0, lead = 2 * RATE;

  if (!need_fixtures ())
    return;
  if (lmd_test_skip_under_valgrind ("the fixture whisper model's decodes take minutes each in a "
                                    "daemon under valgrind"))
    return;
  path = lmd_test_fixture_path ("audio", "speech-sample.wav", NULL);
  speech = lmd_test_wav_read (path, &rate, &n, &error);
  g_assert_no_error (error);
  pcm = g_new0 (float, lead + n);
  memcpy (pcm + lead, speech, n * sizeof (float));
  wav = lmd_test_wav_encode (pcm, lead + n, RATE);
  config = whisper_config (TRUE);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  {
    g_autoptr (JsonObject) o = post (session, server, "/v1/listen?model=tiny-en-random&timestamps=true",
                                     wav, &status);
    JsonArray *words = json_object_get_array_member (o, "words");
    double duration = json_object_get_double_member (o, "duration");
    double last = 0.0;

    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpfloat_with_epsilon (duration, (lead + n) / (double) RATE, 0.01);
    g_test_message ("%u words", json_array_get_length (words));
    for (guint i = 0; i < json_array_get_length (words); i++)
      {
        JsonObject *w = json_array_get_object_element (words, i);
        double start = json_object_get_double_member (w, "start");
        double end = json_object_get_double_member (w, "end");

        /* speech starts at 2 s; a segment's padding is 30 ms */
        g_assert_cmpfloat (start, >=, 2.0 - 0.05);
        g_assert_cmpfloat (start, >=, last - 1e-6);
        g_assert_cmpfloat (end, >=, start);
        g_assert_cmpfloat (end, <=, duration + 1e-6);
        last = end;
      }
  }
  {
    g_autofree char *log = lmd_test_server_read_log (server);
    g_assert_nonnull (strstr (log, "VAD: 2 speech segments"));
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

static const char *const librivox[] = {
  "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
  "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
  "sense_and_sensibility_01_austen_64kb-0930",
};

static void
test_librivox_words (void)
{
  g_autofree char *config = NULL;
  g_autofree char *vad_path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  lmw_vad_model *model;
  lmw_vad_state *state;
  lmw_error err = { 0 };
  LmdTestServer *server;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  if (!need_fixtures ())
    return;
  vad_path = lmd_test_fixture_path ("vad", "silero-v6.2.0-ggml.bin", NULL);
  model = lmw_vad_model_load_file (vad_path, &err);
  g_assert_nonnull (model);
  state = lmw_vad_state_new (model, &err);
  g_assert_nonnull (state);
  config = g_strdup ("[plugins]\nload=http;gst-decoder;sphinx\n");
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  for (guint f = 0; f < G_N_ELEMENTS (librivox); f++)
    {
      gsize n = 0;
      g_autofree float *pcm = lmd_test_librivox_read (librivox[f], &n);
      g_autoptr (GBytes) wav = lmd_test_wav_encode (pcm, n, RATE);
      g_autofree float *probs = NULL;
      g_autofree lmw_vad_segment *seg = NULL;
      size_t n_probs = 0, n_seg = 0;
      lmw_vad_params params = lmw_vad_default_params ();
      guint status = 0;
      g_autoptr (JsonObject) o = post (session, server, "/v1/listen?model=sphinx-en-us&timestamps=true",
                                       wav, &status);
      JsonArray *words = json_object_get_array_member (o, "words");
      guint n_words = json_array_get_length (words);
      double first_word = G_MAXDOUBLE, last_word = 0.0, worst = 0.0;

      g_assert_cmpuint (status, ==, 200);
      g_assert_cmpuint (n_words, >, 3);
      g_assert_cmpint (lmw_vad_probs (state, pcm, n, &probs, &n_probs, &err), ==, 0);
      g_assert_cmpint (lmw_vad_segments (probs, n_probs, 512, n, &params, &seg, &n_seg, &err), ==, 0);
      g_assert_cmpuint (n_seg, >, 0);
      for (gsize s = 0; s < n_seg; s++)
        g_test_message ("%s: segment %.2f .. %.2f s", librivox[f], seg[s].start / (double) RATE,
                        seg[s].end / (double) RATE);
      for (guint i = 0; i < n_words; i++)
        {
          JsonObject *w = json_array_get_object_element (words, i);
          double start = json_object_get_double_member (w, "start");
          double end = json_object_get_double_member (w, "end");
          double outside = G_MAXDOUBLE;

          /* how far the word reaches out of the segment that holds most of it */
          for (gsize s = 0; s < n_seg; s++)
            {
              double s0 = seg[s].start / (double) RATE, s1 = seg[s].end / (double) RATE;
              outside = MIN (outside, MAX (0.0, s0 - start) + MAX (0.0, end - s1));
            }
          worst = MAX (worst, outside);
          if (outside > WORD_TOLERANCE_S)
            g_error ("%s: the word \"%s\" (%.2f .. %.2f s) reaches %.2f s out of every speech "
                     "segment", librivox[f], json_object_get_string_member (w, "word"), start, end,
                     outside);
          first_word = MIN (first_word, start);
          last_word = MAX (last_word, end);
        }
      g_test_message ("%s: %u words in %.2f .. %.2f s, inside the %" G_GSIZE_FORMAT " segments "
                      "(the worst word reaches %.2f s out); recording %.2f s", librivox[f], n_words,
                      first_word, last_word, n_seg, worst, n / (double) RATE);
      /* the leading and trailing silences are left out */
      g_assert_cmpint (seg[0].start, >, 0);
      g_assert_cmpint (seg[n_seg - 1].end, <, (gint64) n);
    }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  lmw_vad_state_free (state);
  lmw_vad_model_free (model);
}

static void
test_params (void)
{
  g_autofree char *with = NULL;
  g_autofree char *without = NULL;
  g_autofree char *wav_path = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);
  g_autoptr (GBytes) wav = NULL;
  LmdTestServer *server;
  static const char *const bad[][2] = {
    { "vad=maybe", "vad" },
    { "vad_threshold=1.5", "vad_threshold" },
    { "vad_threshold=abc", "vad_threshold" },
    { "vad_min_speech_ms=-5", "vad_min_speech_ms" },
    { "vad_min_silence_ms=2.5", "vad_min_silence_ms" },
    { "vad_speech_pad_ms=99999", "vad_speech_pad_ms" },
    { "vad_max_speech_s=nan", "vad_max_speech_s" },
  };

  if (!need_fixtures ())
    return;
  wav_path = lmd_test_fixture_path ("audio", "speech-sample.wav", NULL);
  {
    char *data = NULL;
    gsize len = 0;
    g_assert_true (g_file_get_contents (wav_path, &data, &len, NULL));
    wav = g_bytes_new_take (data, len);
  }
  with = whisper_config (TRUE);
  server = lmd_test_server_start (with, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *q = g_strdup_printf ("/v1/listen?model=tiny-en-random&%s", bad[i][0]);
      guint status = 0;
      g_autoptr (JsonObject) o = post (session, server, q, wav, &status);

      g_assert_cmpuint (status, ==, 400);
      g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, bad[i][1]);
    }
  /* settings a request may give: a threshold of 1 finds no speech at all */
  {
    guint status = 0;
    g_autoptr (JsonObject) o = post (session, server,
                                     "/v1/listen?model=tiny-en-random&vad_threshold=1&vad_min_speech_ms=0",
                                     wav, &status);
    g_autofree char *log = NULL;

    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (o, "text"), ==, "");
    log = lmd_test_server_read_log (server);
    g_assert_nonnull (strstr (log, "VAD: 0 speech segments"));
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);

  /* without a [vad] model: vad=true is a parameter error, the default decodes everything */
  without = whisper_config (FALSE);
  server = lmd_test_server_start (without, NULL, &error);
  g_assert_no_error (error);
  {
    guint status = 0, status_ok = 0;
    g_autoptr (JsonObject) o = post (session, server, "/v1/listen?model=tiny-en-random&vad=true", wav, &status);
    g_autoptr (JsonObject) ok = post (session, server, "/v1/listen?model=tiny-en-random", wav, &status_ok);
    g_autofree char *log = lmd_test_server_read_log (server);

    g_assert_cmpuint (status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, "vad");
    g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "no voice-activity model"));
    g_assert_cmpuint (status_ok, ==, 200);
    /* the refusal is logged, on the request's line */
    {
      const char *at = strstr (log, "no voice-activity model");
      const char *line = at;

      g_assert_nonnull (at);
      while (line > log && line[-1] != '\n')
        line--;
      g_test_message ("%.*s", (int) (strchr (at, '\n') != NULL ? strchr (at, '\n') - line : 200), line);
      g_assert_true (g_strstr_len (line, at - line, "[req_") != NULL);
    }
    g_assert_null (strstr (log, "VAD:"));
    g_assert_cmpfloat (metric (session, server, "asr_vad_seconds_total"), ==, 0.0);
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);

  /* a corrupt [vad] model stops start-up, naming the file and the fault */
  {
    g_autofree char *dir = g_dir_make_tmp ("lmd-vad-XXXXXX", NULL);
    g_autofree char *bad_model = g_build_filename (dir, "bad-vad.bin", NULL);
    g_autofree char *model = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
    g_autofree char *text = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n"
                                             "[whisper]\nmodel=%s\n[vad]\nmodel=%s\n", model, bad_model);
    g_autofree char *output = NULL;

    g_assert_true (g_file_set_contents (bad_model, "this is not a model", -1, NULL));
    g_assert_cmpint (lmd_test_daemon_run_config (text, &output, 60), !=, 0);
    g_test_message ("%s", output);
    g_assert_nonnull (strstr (output, bad_model));
    g_assert_nonnull (strstr (output, "magic"));
    g_unlink (bad_model);
    g_rmdir (dir);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vad/noise", test_noise);
  g_test_add_func ("/vad/speech-times", test_speech_times);
  g_test_add_func ("/vad/librivox-words", test_librivox_words);
  g_test_add_func ("/vad/params", test_params);
  return g_test_run ();
}
