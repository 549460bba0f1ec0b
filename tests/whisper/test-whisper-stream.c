/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-stream.c — the whisper live stream (lmd-whisper-stream.h) driven directly, on
 * the fixture model (tiny-en-random, random weights) and the Silero fixture, with a LibriVox
 * recording between silences fed in 20 ms slices at no particular pace:
 *   - /whisper-stream/final-reuses-decode: when the tracker confirms the end of speech the
 *     utterance's audio is decoded once (one final decode); end_utterance after the silence
 *     timeout runs no decode of its own (the audio did not change) and returns that decode's
 *     text; interims only ever decode audio the previous decode did not cover.
 */
#include <glib.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-whisper-stream.h"
#include "lmw-context.h"
#include "lmw-model.h"
#include "lmw-vad.h"

#define RATE 16000
#define SLICE (RATE / 50)

static char *fixtures;

static void
append_silence (GArray *a, double seconds)
{
  for (guint i = 0; i < (guint) (seconds * RATE); i++)
    {
      float v = (float) g_random_int_range (-8, 9) / 32768.0f;
      g_array_append_val (a, v);
    }
}

static void
test_final_reuses_decode (void)
{
  g_autofree char *model_path = g_build_filename (fixtures, "whisper", "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *vad_path = g_build_filename (fixtures, "vad", "silero-v6.2.0-ggml.bin", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) a = g_array_new (FALSE, FALSE, sizeof (float));
  g_autofree float *pcm = NULL;
  lmw_error err = { 0 };
  lmw_model *model;
  lmw_vad_model *vad;
  lmw_state *state;
  lmw_params params;
  lmw_vad_params vad_params = lmw_vad_default_params ();
  LmdWhisperStreamConfig config = { .interval_ms = 500, .interim_budget = 1.0 };
  LmdWhisperStream *stream;
  gsize n = 0;
  guint interim = 0, final = 0, finals_before_end = 0, n_utterances = 0;
  gboolean ended_seen = FALSE;
  g_autofree char *last_partial = NULL;

  if (!g_file_test (model_path, G_FILE_TEST_IS_REGULAR) || !g_file_test (vad_path, G_FILE_TEST_IS_REGULAR) ||
      lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("the whisper or VAD fixtures, or pocketsphinx-testdata, are not there");
      return;
    }
  pcm = lmd_test_librivox_read ("sense_and_sensibility_01_austen_64kb-0880", &n);
  g_assert_nonnull (pcm);
  append_silence (a, 1.0);
  g_array_append_vals (a, pcm, (guint) n);
  append_silence (a, 2.0);

  model = lmw_model_load_file (model_path, &err);
  g_assert_nonnull (model);
  vad = lmw_vad_model_load_file (vad_path, &err);
  g_assert_nonnull (vad);
  state = lmw_state_new (model, 1, &err);
  g_assert_nonnull (state);
  params = lmw_default_params ();
  params.language = "en";
  stream = lmd_whisper_stream_new (state, &params, vad, &vad_params, &config, NULL, &error);
  g_assert_no_error (error);

  for (guint off = 0; off < a->len; off += SLICE)
    {
      double since = 0.0, utterance_start = -1.0, now;
      gboolean speech;
      guint before_interim, before_final;

      g_assert_true (lmd_whisper_stream_feed (stream, (const float *) a->data + off,
                                              MIN (SLICE, a->len - off), &error));
      g_assert_no_error (error);
      now = (double) MIN (off + SLICE, a->len) / RATE;
      lmd_whisper_stream_get_decodes (stream, &before_interim, &before_final);
      g_free (lmd_whisper_stream_get_partial (stream));
      lmd_whisper_stream_get_decodes (stream, &interim, &final);
      g_assert_cmpuint (final, ==, before_final); /* interims never count as finals */
      speech = lmd_whisper_stream_get_speech_state (stream, &since, &utterance_start);
      if (utterance_start >= 0.0 && !speech && !ended_seen)
        {
          /* the tracker confirmed the end: the final's decode has run */
          ended_seen = TRUE;
          finals_before_end = final;
          g_assert_cmpuint (final, ==, 1);
        }
      if (ended_seen && utterance_start >= 0.0 && !speech && now - since >= 0.8)
        {
          g_autoptr (LmdTranscript) t = lmd_whisper_stream_end_utterance (stream, &error);
          guint after_final;

          g_assert_no_error (error);
          g_assert_nonnull (t);
          lmd_whisper_stream_get_decodes (stream, NULL, &after_final);
          g_test_message ("final after %u interim decodes: \"%s\"", interim, t->text);
          /* no new audio since the decode at the end of speech: no decode here */
          g_assert_cmpuint (after_final, ==, finals_before_end);
          g_assert_cmpuint (t->words->len, >, 0);
          n_utterances++;
          ended_seen = FALSE;
        }
    }
  g_assert_cmpuint (n_utterances, ==, 1);
  g_assert_cmpuint (final, ==, 1);
  g_assert_cmpuint (interim, >=, 1);
  lmd_whisper_stream_free (stream);
  lmw_state_free (state);
  lmw_vad_model_free (vad);
  lmw_model_free (model);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  fixtures = g_strdup (g_getenv ("LMD_FIXTURES_DIR") != NULL ? g_getenv ("LMD_FIXTURES_DIR")
                                                               : "tests/fixtures");
  g_test_add_func ("/whisper-stream/final-reuses-decode", test_final_reuses_decode);
  rc = g_test_run ();
  g_free (fixtures);
  return rc;
}
