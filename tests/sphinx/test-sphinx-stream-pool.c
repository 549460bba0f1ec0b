/* SPDX-License-Identifier: MIT */
/*
 * test-sphinx-stream-pool.c — the pre-warmed pool of live-stream decoders of the sphinx
 * engine (built from the engine's sources, to reach its pool).
 *
 *   /sphinx/stream-pool/prewarm    after setup, stream_prewarm decoders are created and idle
 *                                  without any stream asking
 *   /sphinx/stream-pool/refill     borrowing refills the idle decoders, never beyond
 *                                  stream_decoders; returned decoders are kept
 *   /sphinx/stream-pool/release    after a burst, the stream decoders beyond stream_prewarm
 *                                  are freed once idle for stream_idle_release_s (1 s here),
 *                                  and a later borrow creates one again
 *   /sphinx/stream-pool/none       stream_prewarm = 0 creates nothing ahead of demand
 *   /sphinx/stream-pool/config     stream_prewarm out of range, unparsable stream_args, or
 *                                  stream_args changing a fixed setting: setup errors
 *   /sphinx/stream-pool/session    a streaming session on a pre-warmed pool transcribes a
 *                                  LibriVox recording with the decoder waiting for it
 *   /sphinx/stream-pool/leading-noise  faint noise at the start of a stream (which the
 *                                  detector calls speech until it has a noise estimate) opens
 *                                  no utterance; the speech after it opens one whose words lie
 *                                  in the speech; speech from the first sample opens one at
 *                                  once and keeps its first word
 */
#include <string.h>

#include "lmd-sphinx-engine.h"
#include "lmd-test-audio.h"
#include "lmd-test-wav.h"
#include "lmd-wer.h"

#define MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define RATE 16000

static gboolean
have_model (void)
{
  if (!g_file_test (MODEL_DIR "/en-us/mdef", G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("pocketsphinx-en-us is not installed");
      return FALSE;
    }
  return TRUE;
}

static LmdSphinxEngine *
make_engine_releasing (int stream_decoders, int prewarm, int release_s, GError **error)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (LmdSphinxEngine) engine = g_object_new (LMD_TYPE_SPHINX_ENGINE, NULL);

  g_key_file_set_integer (config, "sphinx", "decoders", 1);
  if (release_s >= 0)
    g_key_file_set_integer (config, "sphinx", "stream_idle_release_s", release_s);
  g_key_file_set_integer (config, "sphinx", "stream_decoders", stream_decoders);
  if (prewarm != G_MININT)
    g_key_file_set_integer (config, "sphinx", "stream_prewarm", prewarm);
  if (!lmd_engine_setup (LMD_ENGINE (engine), config, error))
    return NULL;
  return g_steal_pointer (&engine);
}

static LmdSphinxEngine *
make_engine (int stream_decoders, int prewarm, GError **error)
{
  return make_engine_releasing (stream_decoders, prewarm, -1, error);
}

/* Waits until the pre-warming thread has nothing left to do; returns created and idle. */
static void
wait_settled (LmdSphinxEngine *engine, guint *created, guint *idle)
{
  gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  gboolean settled = FALSE;

  for (;;)
    {
      lmd_sphinx_engine_get_stream_pool (engine, created, idle, &settled);
      if (settled || g_get_monotonic_time () > deadline)
        break;
      g_usleep (20000);
    }
  g_assert_true (settled);
}

static void
test_prewarm (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdSphinxEngine) engine = NULL;
  guint created = 0, idle = 0;

  if (!have_model ())
    return;
  engine = make_engine (4, 2, &error);
  g_assert_no_error (error);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 2);
  g_assert_cmpuint (idle, ==, 2);
  /* the batch pool is separate: only the decoder setup created */
  g_assert_cmpuint (lmd_sphinx_engine_get_n_decoders (engine), ==, 1);
}

static void
test_refill (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdSphinxEngine) engine = NULL;
  ps_decoder_t *borrowed[3];
  guint created = 0, idle = 0;

  if (!have_model ())
    return;
  engine = make_engine (3, 2, &error);
  g_assert_no_error (error);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 2);

  /* one borrowed: a third decoder is made ready */
  borrowed[0] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  g_assert_nonnull (borrowed[0]);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 3);
  g_assert_cmpuint (idle, ==, 2);

  /* all borrowed: the pool is at stream_decoders and stays there */
  borrowed[1] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  borrowed[2] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  g_assert_true (borrowed[0] != borrowed[1] && borrowed[1] != borrowed[2] && borrowed[0] != borrowed[2]);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 3);
  g_assert_cmpuint (idle, ==, 0);

  /* returned decoders are idle again; nothing more is created */
  for (guint i = 0; i < 3; i++)
    lmd_sphinx_engine_return_stream_decoder (engine, borrowed[i]);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 3);
  g_assert_cmpuint (idle, ==, 3);

  /* borrowing from a full idle set creates nothing */
  borrowed[0] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 3);
  g_assert_cmpuint (idle, ==, 2);
  lmd_sphinx_engine_return_stream_decoder (engine, borrowed[0]);
}

static void
test_release (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdSphinxEngine) engine = NULL;
  ps_decoder_t *borrowed[3];
  guint created = 0, idle = 0;
  gint64 deadline;

  if (!have_model ())
    return;
  engine = make_engine_releasing (3, 1, 1, &error);
  g_assert_no_error (error);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 1);

  /* a burst of three streams */
  for (guint i = 0; i < 3; i++)
    {
      borrowed[i] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < 3; i++)
    lmd_sphinx_engine_return_stream_decoder (engine, borrowed[i]);
  lmd_sphinx_engine_get_stream_pool (engine, &created, &idle, NULL);
  g_assert_cmpuint (created, ==, 3);
  g_assert_cmpuint (idle, ==, 3);

  /* one second idle: back to the one pre-warmed decoder (bounded wait) */
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  do
    {
      g_usleep (50000);
      lmd_sphinx_engine_get_stream_pool (engine, &created, &idle, NULL);
    }
  while (created > 1 && g_get_monotonic_time () < deadline);
  g_assert_cmpuint (created, ==, 1);
  g_assert_cmpuint (idle, ==, 1);

  /* the pool still grows on demand */
  borrowed[0] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  borrowed[1] = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  g_assert_true (borrowed[0] != NULL && borrowed[1] != NULL && borrowed[0] != borrowed[1]);
  lmd_sphinx_engine_get_stream_pool (engine, &created, NULL, NULL);
  g_assert_cmpuint (created, >=, 2);
  lmd_sphinx_engine_return_stream_decoder (engine, borrowed[0]);
  lmd_sphinx_engine_return_stream_decoder (engine, borrowed[1]);
  wait_settled (engine, &created, &idle);
}

static void
test_none (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdSphinxEngine) engine = NULL;
  ps_decoder_t *decoder;
  guint created = 99, idle = 99;

  if (!have_model ())
    return;
  engine = make_engine (2, 0, &error);
  g_assert_no_error (error);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 0);
  g_assert_cmpuint (idle, ==, 0);
  /* created on demand, as without pre-warming */
  decoder = lmd_sphinx_engine_borrow_stream_decoder (engine, &error);
  g_assert_no_error (error);
  g_assert_nonnull (decoder);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 1);
  g_assert_cmpuint (idle, ==, 0);
  lmd_sphinx_engine_return_stream_decoder (engine, decoder);
}

static void
test_config (void)
{
  g_autoptr (LmdSphinxEngine) engine = NULL;

  if (!have_model ())
    return;
  {
    g_autoptr (GError) error = NULL;
    engine = make_engine (2, 3, &error);
    g_assert_null (engine);
    g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
    g_assert_nonnull (strstr (error->message, "stream_prewarm"));
  }
  {
    g_autoptr (GError) error = NULL;
    engine = make_engine (2, -1, &error);
    g_assert_null (engine);
    g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GKeyFile) config = g_key_file_new ();
    g_autoptr (LmdSphinxEngine) e = g_object_new (LMD_TYPE_SPHINX_ENGINE, NULL);
    g_key_file_set_string (config, "sphinx", "stream_args", "-beam '1e-40");
    g_assert_false (lmd_engine_setup (LMD_ENGINE (e), config, &error));
    g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
    g_assert_nonnull (strstr (error->message, "stream_args"));
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GKeyFile) config = g_key_file_new ();
    g_autoptr (LmdSphinxEngine) e = g_object_new (LMD_TYPE_SPHINX_ENGINE, NULL);
    g_key_file_set_string (config, "sphinx", "stream_args", "-maxhmmpf 2000 -remove_silence yes");
    g_assert_false (lmd_engine_setup (LMD_ENGINE (e), config, &error));
    g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
    g_assert_nonnull (strstr (error->message, "-remove_silence"));
  }
}

static void
test_session (void)
{
  const char *dir = lmd_test_librivox_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdSphinxEngine) engine = NULL;
  g_autoptr (LmdEngineSession) session = NULL;
  g_autoptr (LmdTranscript) final = NULL;
  g_autoptr (GHashTable) references = NULL;
  g_autofree char *path = NULL;
  g_autofree char *transcription = NULL;
  g_autofree float *samples = NULL;
  g_autofree float *silence = g_new0 (float, RATE);
  LmdSessionOptions options = { 0 };
  LmdWerCounts counts = { 0 };
  guint rate = 0, created = 0, idle = 0;
  gsize n = 0;

  if (!have_model ())
    return;
  if (dir == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  path = g_build_filename (dir, "sense_and_sensibility_01_austen_64kb-0880.wav", NULL);
  transcription = g_build_filename (dir, "transcription", NULL);
  references = lmd_wer_load_transcription (transcription, &error);
  g_assert_no_error (error);
  samples = lmd_test_wav_read (path, &rate, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rate, ==, RATE);

  engine = make_engine (2, 1, &error);
  g_assert_no_error (error);
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (idle, ==, 1);

  options.language = "en";
  options.streaming = TRUE;
  options.request_id = "test-pool";
  session = lmd_engine_open_session (LMD_ENGINE (engine), &options, &error);
  g_assert_no_error (error);
  g_assert_true (lmd_engine_session_feed (session, silence, RATE / 2, &error));
  for (gsize done = 0; done < n; done += RATE / 50)
    g_assert_true (lmd_engine_session_feed (session, samples + done, MIN (RATE / 50, n - done), &error));
  g_assert_no_error (error);
  /* speech is open: the waiting decoder was taken, and the pool refills behind it */
  wait_settled (engine, &created, &idle);
  g_assert_cmpuint (created, ==, 2);
  g_assert_cmpuint (idle, ==, 1);
  final = lmd_engine_session_finish (session, &error);
  g_assert_no_error (error);
  lmd_wer_accumulate (&counts, g_hash_table_lookup (references, "sense_and_sensibility_01_austen_64kb-0880"),
                      final->text);
  g_test_message ("final: %s (WER %.1f%%)", final->text, 100.0 * lmd_wer_rate (&counts));
  g_assert_cmpuint (final->words->len, >, 0);
  g_assert_cmpfloat (lmd_wer_rate (&counts), <=, 0.5);
  g_clear_object (&session);
  lmd_sphinx_engine_get_stream_pool (engine, &created, &idle, NULL);
  g_assert_cmpuint (created, ==, 2);
  g_assert_cmpuint (idle, ==, 2);
}

static void
feed_noise (LmdEngineSession *session, double seconds)
{
  float slice[320];
  g_autoptr (GError) error = NULL;

  for (guint k = 0; k < (guint) (seconds * 50); k++)
    {
      double utterance_start = 0.0;
      for (guint i = 0; i < G_N_ELEMENTS (slice); i++)
        slice[i] = (float) g_random_int_range (-8, 9) / 32768.0f;
      g_assert_true (lmd_engine_session_feed (session, slice, G_N_ELEMENTS (slice), &error));
      lmd_engine_session_get_speech_state (session, NULL, &utterance_start);
      g_assert_cmpfloat (utterance_start, <, 0.0);
    }
}

static void
test_leading_noise (void)
{
  const char *dir = lmd_test_librivox_dir ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdSphinxEngine) engine = NULL;
  g_autofree char *path = NULL;
  g_autofree float *samples = NULL;
  LmdSessionOptions options = { 0 };
  guint rate = 0;
  gsize n = 0;

  if (!have_model ())
    return;
  if (dir == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  path = g_build_filename (dir, "sense_and_sensibility_01_austen_64kb-0880.wav", NULL);
  samples = lmd_test_wav_read (path, &rate, &n, &error);
  g_assert_no_error (error);
  engine = make_engine (2, 0, &error);
  g_assert_no_error (error);
  options.language = "en";
  options.streaming = TRUE;

  /* 1.2 s of noise, then the recording: no utterance in the noise, words inside the speech */
  {
    g_autoptr (LmdEngineSession) session = lmd_engine_open_session (LMD_ENGINE (engine), &options, &error);
    g_autoptr (LmdTranscript) none = NULL;
    g_autoptr (LmdTranscript) final = NULL;
    guint created = 0;

    g_assert_no_error (error);
    feed_noise (session, 1.2);
    none = lmd_engine_session_end_utterance (session, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (none->words->len, ==, 0);
    lmd_sphinx_engine_get_stream_pool (engine, &created, NULL, NULL);
    g_assert_cmpuint (created, ==, 0); /* no decoder was ever needed */
    for (gsize done = 0; done < n; done += RATE / 50)
      g_assert_true (lmd_engine_session_feed (session, samples + done, MIN (RATE / 50, n - done), &error));
    final = lmd_engine_session_finish (session, &error);
    g_assert_no_error (error);
    g_test_message ("after noise: %s", final->text);
    g_assert_cmpuint (final->words->len, >, 0);
    g_assert_cmpfloat (g_array_index (final->words, LmdWord, 0).start, >=, 1.2 - 0.05);
  }
  /* speech from the first sample: the utterance opens at once and keeps the first word */
  {
    g_autoptr (LmdEngineSession) session = lmd_engine_open_session (LMD_ENGINE (engine), &options, &error);
    g_autoptr (LmdTranscript) final = NULL;
    g_autoptr (LmdEngineSession) reference_session = NULL;
    g_autoptr (LmdTranscript) reference = NULL;

    double opened_at = -1.0;

    g_assert_no_error (error);
    for (gsize done = 0; done < n; done += RATE / 50)
      {
        double utterance_start = -1.0;
        g_assert_true (lmd_engine_session_feed (session, samples + done, MIN (RATE / 50, n - done), &error));
        lmd_engine_session_get_speech_state (session, NULL, &utterance_start);
        if (utterance_start >= 0.0 && opened_at < 0.0)
          opened_at = (double) MIN (done + RATE / 50, n) / RATE;
      }
    final = lmd_engine_session_finish (session, &error);
    g_assert_no_error (error);
    /* loud enough to open at once, not after the detector's first second */
    g_test_message ("utterance opened after %.2f s of input", opened_at);
    g_assert_cmpfloat (opened_at, >, 0.0);
    g_assert_cmpfloat (opened_at, <, 0.5);
    /* the same words as one batch decode of the recording */
    options.streaming = FALSE;
    reference_session = lmd_engine_open_session (LMD_ENGINE (engine), &options, &error);
    g_assert_no_error (error);
    g_assert_true (lmd_engine_session_feed (reference_session, samples, n, &error));
    reference = lmd_engine_session_finish (reference_session, &error);
    g_assert_no_error (error);
    g_test_message ("from the first sample: %s (batch: %s)", final->text, reference->text);
    g_assert_cmpuint (final->words->len, >, 0);
    g_assert_cmpfloat (g_array_index (final->words, LmdWord, 0).start, <, 0.5);
    g_assert_cmpstr (g_array_index (final->words, LmdWord, 0).word, ==,
                     g_array_index (reference->words, LmdWord, 0).word);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sphinx/stream-pool/prewarm", test_prewarm);
  g_test_add_func ("/sphinx/stream-pool/refill", test_refill);
  g_test_add_func ("/sphinx/stream-pool/release", test_release);
  g_test_add_func ("/sphinx/stream-pool/none", test_none);
  g_test_add_func ("/sphinx/stream-pool/config", test_config);
  g_test_add_func ("/sphinx/stream-pool/session", test_session);
  g_test_add_func ("/sphinx/stream-pool/leading-noise", test_leading_noise);
  return g_test_run ();
}
