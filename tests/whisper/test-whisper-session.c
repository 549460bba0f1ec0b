/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-session.c — the server's whisper session on the fixture model (tiny-en-random)
 * and the fixture speech: its memory does not grow with the audio, and its transcript is the
 * one the core gives for the whole audio at once.
 *
 *   /whisper-session/spool           LmdPcmSpool: 2.5 buffers appended in odd pieces read back
 *                                    exactly across the memory/file boundary, at most one
 *                                    buffer in memory, the file unlinked from the start; a
 *                                    spool directory that does not exist fails with G_IO_ERROR
 *   /whisper-session/bounded         42 s fed in 1 s chunks: the session never holds more than
 *                                    30 s of samples in memory, leaves no file in its spool
 *                                    directory, and its text and word times equal those of
 *                                    lmw_transcribe on the whole 42 s
 *   /whisper-session/cross-kv-config [whisper] cuda_cross_kv: a value other than f16 and
 *                                    int8 is refused naming the key; int8 on a backend
 *                                    without int8 cross-attention (cpu, scheduler on) does
 *                                    not load the model and says why
 */
#include <glib/gstdio.h>
#include <string.h>

#include "lmd-engine.h"
#include "lmd-error.h"
#include "lmd-pcm-spool.h"
#include "lmd-whisper-engine.h"
#include "lmd-whisper-session.h"

static char *model_path;   /* owned; NULL when the fixtures are missing */
static float *speech;      /* owned; the fixture speech, 16 kHz */
static size_t n_speech;

static gboolean
need_fixtures (void)
{
  if (model_path == NULL)
    {
      g_test_skip ("the shared whisper fixtures are not there");
      return FALSE;
    }
  return TRUE;
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

static void
test_spool (void)
{
  const gsize capacity = 1000, total = 2500;
  g_autofree char *dir = g_dir_make_tmp ("lmd-spool-XXXXXX", NULL);
  g_autoptr (LmdPcmSpool) spool = lmd_pcm_spool_new (capacity, dir);
  g_autoptr (LmdPcmSpool) nowhere = lmd_pcm_spool_new (capacity, "/nonexistent/spool");
  g_autofree float *in = g_new (float, total);
  g_autofree float *out = g_new (float, total);
  g_autoptr (GError) error = NULL;
  gsize done = 0, piece = 1;

  for (gsize i = 0; i < total; i++)
    in[i] = (float) i * 0.5f - 7.0f;
  while (done < total)
    {
      gsize n = MIN (piece, total - done);

      g_assert_true (lmd_pcm_spool_append (spool, in + done, n, &error));
      g_assert_no_error (error);
      done += n;
      piece = piece * 3 + 1;
      g_assert_cmpuint (lmd_pcm_spool_get_buffered (spool), <=, capacity);
      g_assert_cmpuint (lmd_pcm_spool_get_length (spool), ==, done);
    }
  g_assert_true (lmd_pcm_spool_is_spilled (spool));
  g_assert_cmpuint (count_entries (dir), ==, 0); /* unlinked as soon as created */
  /* ranges inside the file, across the boundary, inside memory, all of it */
  {
    const gsize ranges[][2] = { { 0, 10 }, { 990, 30 }, { 1999, 2 }, { 2400, 100 }, { 0, 2500 } };

    for (gsize r = 0; r < G_N_ELEMENTS (ranges); r++)
      {
        memset (out, 0, total * sizeof (float));
        g_assert_true (lmd_pcm_spool_read (spool, ranges[r][0], out, ranges[r][1], &error));
        g_assert_no_error (error);
        g_assert_cmpmem (out, ranges[r][1] * sizeof (float), in + ranges[r][0],
                         ranges[r][1] * sizeof (float));
      }
  }
  /* a spool that cannot spill fails the append that needs it, with the reason */
  g_assert_true (lmd_pcm_spool_append (nowhere, in, capacity, &error));
  g_assert_false (lmd_pcm_spool_append (nowhere, in, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/spool"));
  g_rmdir (dir);
}

/* The text the session builds from a result: the segments' stripped texts, space-joined. */
static char *
result_text (const lmw_result *r)
{
  GString *text = g_string_new (NULL);

  for (int i = 0; i < r->n_segments; i++)
    {
      g_autofree char *s = g_strstrip (g_strdup (r->segments[i].text));

      if (s[0] == '\0')
        continue;
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, s);
    }
  return g_string_free (text, FALSE);
}

static void
test_bounded (void)
{
  const int copies = 6;
  g_autofree char *dir = NULL;
  g_autofree char *config_text = NULL;
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (LmdWhisperEngine) engine = NULL;
  g_autoptr (LmdEngineSession) session = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *audio = NULL;
  g_autofree char *expected_text = NULL;
  LmdSessionOptions options = { .language = "en", .word_timestamps = TRUE };
  LmdTranscript *transcript;
  size_t n;
  gsize most = 0;
  lmw_result whole = { 0 };
  lmw_error err = { 0 };
  lmw_params params;
  lmw_state *state;
  guint n_words = 0;

  if (!need_fixtures ())
    return;
  dir = g_dir_make_tmp ("lmd-whisper-spool-XXXXXX", NULL);
  config_text = g_strdup_printf ("[whisper]\nmodel=%s\nbackground_load=false\nthreads=2\n"
                                 "temperature_increment=0\nspool_dir=%s\n", model_path, dir);
  g_assert_true (g_key_file_load_from_data (config, config_text, -1, 0, &error));
  engine = g_object_new (LMD_TYPE_WHISPER_ENGINE, NULL);
  g_assert_true (lmd_engine_setup (LMD_ENGINE (engine), config, &error));
  g_assert_no_error (error);

  n = n_speech * copies;
  audio = g_new (float, n);
  for (int c = 0; c < copies; c++)
    memcpy (audio + (gsize) c * n_speech, speech, n_speech * sizeof (float));

  session = lmd_engine_open_session (LMD_ENGINE (engine), &options, &error);
  g_assert_no_error (error);
  for (size_t at = 0; at < n; at += 16000)
    {
      gsize chunk = MIN ((size_t) 16000, n - at);

      g_assert_true (lmd_engine_session_feed (session, audio + at, chunk, &error));
      most = MAX (most, lmd_whisper_session_get_buffered_samples (LMD_WHISPER_SESSION (session)));
    }
  g_test_message ("%.1f s fed; at most %" G_GSIZE_FORMAT " samples in memory", n / 16000.0, most);
  g_assert_cmpuint (most, <=, LMW_CHUNK_SAMPLES);
  g_assert_cmpuint (count_entries (dir), ==, 0);
  transcript = lmd_engine_session_finish (session, &error);
  g_assert_no_error (error);
  g_assert_nonnull (transcript);

  /* the core on the whole audio at once, with the parameters the session uses */
  params = lmd_whisper_engine_get_params (engine, "en");
  state = lmw_state_new (lmd_whisper_engine_get_model (engine), params.n_threads, &err);
  g_assert_nonnull (state);
  g_assert_cmpint (lmw_transcribe (state, &params, audio, n, &whole, &err), ==, 0);
  expected_text = result_text (&whole);
  g_test_message ("%d windows, %d segments, text of %" G_GSIZE_FORMAT " bytes", whole.n_windows,
                  whole.n_segments, strlen (expected_text));
  g_assert_cmpint (whole.n_windows, >=, 2);
  g_assert_cmpstr (transcript->text, ==, expected_text);
  for (int i = 0; i < whole.n_segments; i++)
    for (int w = 0; w < whole.segments[i].n_words; w++)
      {
        const lmw_word *word = &whole.segments[i].words[w];
        g_autofree char *text = g_strstrip (g_strdup (word->text));
        const LmdWord *got;

        if (text[0] == '\0')
          continue;
        g_assert_cmpuint (n_words, <, transcript->words->len);
        got = &g_array_index (transcript->words, LmdWord, n_words);
        g_assert_cmpstr (got->word, ==, text);
        g_assert_cmpfloat_with_epsilon (got->start, CLAMP (word->t0_ms / 1000.0, 0, n / 16000.0), 0.0011);
        n_words++;
      }
  g_assert_cmpuint (n_words, ==, transcript->words->len);
  lmw_result_clear (&whole);
  lmw_state_free (state);
  lmd_transcript_free (transcript);
  g_clear_object (&session);
  g_assert_cmpuint (count_entries (dir), ==, 0);
  g_rmdir (dir);
}

static void
test_cross_kv_config (void)
{
  const char *bad = "[whisper]\nmodel=%s\nbackground_load=false\ncuda_cross_kv=int4\n";
  const char *cpu = "[whisper]\nmodel=%s\nbackground_load=false\nbackend=cpu\nscheduler=on\n"
                    "slots=1\ncuda_cross_kv=int8\n";
  const char *texts[] = { bad, cpu };

  if (!need_fixtures ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autofree char *text = g_strdup_printf (texts[i], model_path);
      g_autoptr (GKeyFile) config = g_key_file_new ();
      g_autoptr (LmdWhisperEngine) engine = g_object_new (LMD_TYPE_WHISPER_ENGINE, NULL);
      g_autoptr (GError) error = NULL;

      g_assert_true (g_key_file_load_from_data (config, text, -1, 0, NULL));
      g_assert_false (lmd_engine_setup (LMD_ENGINE (engine), config, &error));
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      if (i == 0)
        {
          g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
          g_assert_nonnull (strstr (error->message, "cuda_cross_kv: \"int4\" is not f16 or int8"));
        }
      else
        g_assert_nonnull (strstr (error->message, "int8 cross-attention K/V need a backend"));
    }
}

int
main (int argc, char **argv)
{
  const char *root = g_getenv ("LMD_FIXTURES_DIR");
  g_autofree char *model = NULL;
  g_autofree char *wav = NULL;
  lmw_error err = { 0 };
  int status;

  g_test_init (&argc, &argv, NULL);
  if (root == NULL)
    root = "../shared/fixtures";
  model = g_build_filename (root, "whisper", "tiny-en-random", "model.ggml.bin", NULL);
  wav = g_build_filename (root, "audio", "speech-sample.wav", NULL);
  if (g_file_test (model, G_FILE_TEST_IS_REGULAR) && lmw_wav_read (wav, &speech, &n_speech, &err) == 0)
    model_path = g_steal_pointer (&model);

  g_test_add_func ("/whisper-session/spool", test_spool);
  g_test_add_func ("/whisper-session/bounded", test_bounded);
  g_test_add_func ("/whisper-session/cross-kv-config", test_cross_kv_config);
  status = g_test_run ();
  free (speech);
  g_free (model_path);
  return status;
}
