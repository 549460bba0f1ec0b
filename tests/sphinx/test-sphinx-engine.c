/* SPDX-License-Identifier: MIT */
/*
 * test-sphinx-engine.c — the sphinx engine plugin, loaded through LmdPluginLoader, on the
 * LibriVox recordings of pocketsphinx-testdata.
 *
 *   /sphinx/engine/info          model name, sample rate, languages
 *   /sphinx/engine/librivox      set WER <= 31% (pocketsphinx_batch: 28.2%); words are timed,
 *                                monotonic, inside the duration and spell the text
 *   /sphinx/engine/long          ~3 minutes (the five files with 1 s gaps, repeated) fed in
 *                                0.1 s chunks: every word lies inside the file it came from,
 *                                and the WER stays about the same
 *   /sphinx/engine/silence       silence gives an empty transcript of the right duration
 *   /sphinx/engine/missing-model a missing model file is a setup error naming the file
 *   /sphinx/engine/concurrent    sessions on three threads (two decoders) give the words of
 *                                sequential sessions
 *   /sphinx/engine/misuse        unsupported language, feeding after finish
 *
 * LMD_SPHINX_LONG_SECONDS shortens the long input (e.g. under valgrind).
 */
#include <math.h>
#include <string.h>

#include "lmd-build-config.h"
#include "lmd-engine.h"
#include "lmd-plugin-loader.h"
#include "lmd-test-wav.h"
#include "lmd-wer.h"

#define LIBRIVOX_DIR "/usr/share/pocketsphinx/test/data/librivox"
#define MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define RATE 16000
#define CHUNK (RATE / 10)
#define MAX_SET_WER 0.31
#define TIME_TOLERANCE 0.1 /* seconds a word may reach into the silence around its file */

typedef struct {
  char *id;          /* owned; utterance id, the file name without .wav */
  char *reference;   /* owned; normalised reference text */
  float *samples;    /* owned */
  gsize n_samples;
} Recording;

static GPtrArray *recordings; /* element-type Recording */
static LmdEngine *engine;     /* shared by the tests: decoders = 2 */

static void
recording_free (gpointer data)
{
  Recording *r = data;
  g_free (r->id);
  g_free (r->reference);
  g_free (r->samples);
  g_free (r);
}

static gboolean
have_data (void)
{
  if (recordings == NULL || engine == NULL)
    {
      g_test_skip ("pocketsphinx-en-us or pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

static LmdEngine *
load_engine (GKeyFile *config, GError **error)
{
  const char *build_dir = g_getenv ("LMD_BUILD_DIR");
  g_autofree char *plugin_dir = g_build_filename (build_dir != NULL ? build_dir : LMD_BUILD_DIR,
                                                  "plugins", NULL);
  const char *dirs[] = { plugin_dir, NULL };
  g_autoptr (LmdPluginLoader) loader = lmd_plugin_loader_new (dirs);
  g_autoptr (GObject) object = lmd_plugin_loader_load (loader, "sphinx", error);

  if (object == NULL)
    return NULL;
  g_assert_true (LMD_IS_ENGINE (object));
  if (!lmd_engine_setup (LMD_ENGINE (object), config, error))
    return NULL;
  return LMD_ENGINE (g_steal_pointer (&object));
}

static LmdTranscript *
transcribe (LmdEngine *e, const float *samples, gsize n, gsize chunk)
{
  LmdSessionOptions options = { "en", TRUE, FALSE, "test" };
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdEngineSession) session = lmd_engine_open_session (e, &options, &error);
  LmdTranscript *transcript;

  g_assert_no_error (error);
  for (gsize done = 0; done < n; done += chunk)
    {
      lmd_engine_session_feed (session, samples + done, MIN (chunk, n - done), &error);
      g_assert_no_error (error);
    }
  transcript = lmd_engine_session_finish (session, &error);
  g_assert_no_error (error);
  g_assert_nonnull (transcript);
  return transcript;
}

/* Words in time order, inside [0, duration], and text == the words joined by spaces. */
static void
assert_well_formed (const LmdTranscript *t, gsize n_samples)
{
  g_autoptr (GString) joined = g_string_new (NULL);
  double previous_end = 0.0;

  g_assert_cmpfloat_with_epsilon (t->duration, (double) n_samples / RATE, 1e-9);
  g_assert_cmpstr (t->language, ==, "en");
  g_assert_cmpfloat (t->confidence, >=, 0.0);
  g_assert_cmpfloat (t->confidence, <=, 1.0);
  for (guint i = 0; i < t->words->len; i++)
    {
      const LmdWord *w = &g_array_index (t->words, LmdWord, i);

      g_assert_nonnull (w->word);
      g_assert_cmpstr (w->word, !=, "");
      g_assert_null (strpbrk (w->word, " ()[]<>+"));
      g_assert_cmpfloat (w->start, >=, previous_end);
      g_assert_cmpfloat (w->end, >=, w->start);
      g_assert_cmpfloat (w->end, <=, t->duration);
      g_assert_cmpfloat (w->confidence, >=, 0.0);
      g_assert_cmpfloat (w->confidence, <=, 1.0);
      previous_end = w->end;
      if (joined->len > 0)
        g_string_append_c (joined, ' ');
      g_string_append (joined, w->word);
    }
  g_assert_cmpstr (t->text, ==, joined->str);
}

static void
test_info (void)
{
  if (!have_data ())
    return;
  g_assert_cmpstr (lmd_engine_get_model_name (engine), ==, "sphinx-en-us");
  g_assert_cmpuint (lmd_engine_get_sample_rate (engine), ==, RATE);
  g_assert_true (lmd_engine_supports_language (engine, NULL));
  g_assert_true (lmd_engine_supports_language (engine, "en"));
  g_assert_true (lmd_engine_supports_language (engine, "auto"));
  g_assert_false (lmd_engine_supports_language (engine, "de"));
}

static void
test_librivox (void)
{
  LmdWerCounts total = { 0 };
  double audio = 0.0, wall;
  gint64 t0;

  if (!have_data ())
    return;
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < recordings->len; i++)
    {
      Recording *r = g_ptr_array_index (recordings, i);
      g_autoptr (LmdTranscript) t = transcribe (engine, r->samples, r->n_samples, CHUNK);
      LmdWerCounts one = { 0 };

      assert_well_formed (t, r->n_samples);
      g_assert_cmpuint (t->words->len, >, 0);
      lmd_wer_accumulate (&one, r->reference, t->text);
      lmd_wer_accumulate (&total, r->reference, t->text);
      audio += t->duration;
      g_test_message ("%s (%.2f s, confidence %.2f): %u/%u errors", r->id, t->duration,
                      t->confidence, one.errors, one.reference_words);
      g_test_message ("  ref: %s", r->reference);
      g_test_message ("  hyp: %s", t->text);
    }
  wall = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("set: %u errors (S %u, D %u, I %u) / %u words = WER %.1f%%; "
                  "%.1f s of audio in %.1f s (%.1fx real time)",
                  total.errors, total.substitutions, total.deletions, total.insertions,
                  total.reference_words, 100.0 * lmd_wer_rate (&total), audio, wall, audio / wall);
  g_assert_cmpuint (total.reference_words, ==, 71);
  g_assert_cmpfloat (lmd_wer_rate (&total), <=, MAX_SET_WER);
}

static void
string_free (gpointer data)
{
  g_string_free (data, TRUE);
}

typedef struct {
  double start, end; /* seconds */
  const Recording *recording;
} Span;

static void
test_long (void)
{
  const char *env = g_getenv ("LMD_SPHINX_LONG_SECONDS");
  double target = env != NULL ? g_ascii_strtod (env, NULL) : 180.0;
  g_autoptr (GArray) audio = g_array_new (FALSE, TRUE, sizeof (float));
  g_autoptr (GArray) spans = g_array_new (FALSE, FALSE, sizeof (Span));
  g_autoptr (LmdTranscript) t = NULL;
  g_autoptr (GPtrArray) hyps = g_ptr_array_new_with_free_func (string_free);
  LmdWerCounts total = { 0 };
  guint w = 0;
  gint64 t0;

  if (!have_data ())
    return;
  /* 1 s of silence, file, 1 s of silence, file, ... until the target length */
  while (audio->len < target * RATE)
    for (guint i = 0; i < recordings->len; i++)
      {
        const Recording *r = g_ptr_array_index (recordings, i);
        Span span;

        g_array_set_size (audio, audio->len + RATE);
        span.start = (double) audio->len / RATE;
        g_array_append_vals (audio, r->samples, r->n_samples);
        span.end = (double) audio->len / RATE;
        span.recording = r;
        g_array_append_val (spans, span);
      }
  g_array_set_size (audio, audio->len + RATE);

  t0 = g_get_monotonic_time ();
  t = transcribe (engine, (const float *) audio->data, audio->len, CHUNK);
  g_test_message ("long input: %.1f s, %u files, %u words, decoded in %.1f s", t->duration,
                  spans->len, t->words->len, (g_get_monotonic_time () - t0) / 1e6);
  assert_well_formed (t, audio->len);

  /* Every word inside the span of one file; score each file's words against it. */
  for (guint s = 0; s < spans->len; s++)
    {
      const Span *span = &g_array_index (spans, Span, s);
      double gap_end = s + 1 < spans->len ? g_array_index (spans, Span, s + 1).start : t->duration;
      GString *hyp = g_string_new (NULL);

      for (; w < t->words->len; w++)
        {
          const LmdWord *word = &g_array_index (t->words, LmdWord, w);
          double mid = (word->start + word->end) / 2;

          if (mid >= gap_end)
            break;
          if (word->start < span->start - TIME_TOLERANCE || word->end > span->end + TIME_TOLERANCE)
            g_error ("word '%s' at %.2f-%.2f s is outside the file it belongs to, %s at "
                     "%.2f-%.2f s", word->word, word->start, word->end, span->recording->id,
                     span->start, span->end);
          if (hyp->len > 0)
            g_string_append_c (hyp, ' ');
          g_string_append (hyp, word->word);
        }
      lmd_wer_accumulate (&total, span->recording->reference, hyp->str);
      g_ptr_array_add (hyps, hyp);
    }
  for (guint s = 0; s < MIN (spans->len, 5); s++)
    g_test_message ("  %.1f s: %s", g_array_index (spans, Span, s).start,
                    ((GString *) g_ptr_array_index (hyps, s))->str);
  g_test_message ("long input: %u errors (S %u, D %u, I %u) / %u words = WER %.1f%%",
                  total.errors, total.substitutions, total.deletions, total.insertions,
                  total.reference_words, 100.0 * lmd_wer_rate (&total));
  g_assert_cmpuint (w, ==, t->words->len);
  g_assert_cmpfloat (lmd_wer_rate (&total), <=, MAX_SET_WER + 0.04);
}

static void
test_silence (void)
{
  gsize n = 45 * RATE; /* longer than one segment */
  g_autofree float *zeros = g_new0 (float, n);
  g_autoptr (LmdTranscript) t = NULL;

  if (!have_data ())
    return;
  t = transcribe (engine, zeros, n, CHUNK);
  assert_well_formed (t, n);
  g_assert_cmpstr (t->text, ==, "");
  g_assert_cmpuint (t->words->len, ==, 0);
}

static void
assert_setup_fails (const char *key, const char *value)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdEngine) e = NULL;

  g_key_file_set_string (config, "sphinx", key, value);
  e = load_engine (config, &error);
  g_assert_null (e);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_test_message ("[sphinx] %s = %s: %s", key, value, error->message);
  g_assert_nonnull (strstr (error->message, value));
}

static void
test_missing_model (void)
{
  if (!have_data ())
    return;
  assert_setup_fails ("dict", "/nonexistent/cmudict.dict");
  assert_setup_fails ("lm", "/nonexistent/en-us.lm.bin");
  assert_setup_fails ("hmm", "/nonexistent/en-us");
}

typedef struct {
  guint first;                  /* index of the recording this thread starts with */
  GPtrArray *texts;             /* owned; element-type LmdTranscript, in recording order */
} Worker;

static gpointer
worker_run (gpointer data)
{
  Worker *worker = data;

  for (guint k = 0; k < recordings->len; k++)
    {
      guint i = (worker->first + k) % recordings->len;
      Recording *r = g_ptr_array_index (recordings, i);

      g_ptr_array_index (worker->texts, i) = transcribe (engine, r->samples, r->n_samples,
                                                         r->n_samples);
    }
  return NULL;
}

static void
assert_same_words (const LmdTranscript *a, const LmdTranscript *b)
{
  g_assert_cmpstr (a->text, ==, b->text);
  g_assert_cmpuint (a->words->len, ==, b->words->len);
  for (guint i = 0; i < a->words->len; i++)
    {
      const LmdWord *x = &g_array_index (a->words, LmdWord, i);
      const LmdWord *y = &g_array_index (b->words, LmdWord, i);

      g_assert_cmpstr (x->word, ==, y->word);
      g_assert_cmpfloat (x->start, ==, y->start);
      g_assert_cmpfloat (x->end, ==, y->end);
      g_assert_cmpfloat_with_epsilon (x->confidence, y->confidence, 1e-9);
    }
}

static void
test_concurrent (void)
{
  enum { N_THREADS = 3 };
  g_autoptr (GPtrArray) sequential = NULL;
  Worker workers[N_THREADS];
  GThread *threads[N_THREADS];

  if (!have_data ())
    return;
  sequential = g_ptr_array_new_full (recordings->len, (GDestroyNotify) lmd_transcript_free);
  for (guint i = 0; i < recordings->len; i++)
    {
      Recording *r = g_ptr_array_index (recordings, i);
      g_ptr_array_add (sequential, transcribe (engine, r->samples, r->n_samples, CHUNK));
    }
  for (guint k = 0; k < N_THREADS; k++)
    {
      workers[k].first = k;
      workers[k].texts = g_ptr_array_new_full (recordings->len, (GDestroyNotify) lmd_transcript_free);
      g_ptr_array_set_size (workers[k].texts, recordings->len);
      threads[k] = g_thread_new ("sphinx-test", worker_run, &workers[k]);
    }
  for (guint k = 0; k < N_THREADS; k++)
    {
      g_thread_join (threads[k]);
      for (guint i = 0; i < recordings->len; i++)
        assert_same_words (g_ptr_array_index (sequential, i),
                           g_ptr_array_index (workers[k].texts, i));
      g_ptr_array_unref (workers[k].texts);
    }
}

static void
test_misuse (void)
{
  LmdSessionOptions german = { "de", TRUE, FALSE, NULL };
  LmdSessionOptions english = { NULL, TRUE, FALSE, NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdEngineSession) session = NULL;
  g_autoptr (LmdTranscript) t = NULL;
  float sample = 0.0f;

  if (!have_data ())
    return;
  session = lmd_engine_open_session (engine, &german, &error);
  g_assert_null (session);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* A session that is never fed, or dropped without finish(), leaks nothing. */
  g_clear_object (&session);
  session = lmd_engine_open_session (engine, &english, &error);
  g_assert_no_error (error);
  g_clear_object (&session);

  session = lmd_engine_open_session (engine, &english, &error);
  g_assert_no_error (error);
  t = lmd_engine_session_finish (session, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t->text, ==, "");
  g_assert_cmpfloat (t->duration, ==, 0.0);
  g_assert_false (lmd_engine_session_feed (session, &sample, 1, &error));
  g_assert_nonnull (error);
}

static void
load_recordings (void)
{
  g_autofree char *transcription = g_build_filename (LIBRIVOX_DIR, "transcription", NULL);
  g_autofree char *fileids = g_build_filename (LIBRIVOX_DIR, "fileids", NULL);
  g_autofree char *ids = NULL;
  g_autoptr (GHashTable) references = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_auto (GStrv) lines = NULL;

  if (!g_file_test (fileids, G_FILE_TEST_EXISTS) || !g_file_test (MODEL_DIR, G_FILE_TEST_IS_DIR))
    return;
  references = lmd_wer_load_transcription (transcription, &error);
  g_assert_no_error (error);
  g_file_get_contents (fileids, &ids, NULL, &error);
  g_assert_no_error (error);
  recordings = g_ptr_array_new_with_free_func (recording_free);
  lines = g_strsplit (ids, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      Recording *r;
      g_autofree char *file = NULL;
      g_autofree char *path = NULL;
      guint rate = 0;

      if (g_strstrip (lines[i])[0] == '\0')
        continue;
      r = g_new0 (Recording, 1);
      r->id = g_strdup (lines[i]);
      r->reference = g_strdup (g_hash_table_lookup (references, r->id));
      g_assert_nonnull (r->reference);
      file = g_strconcat (r->id, ".wav", NULL);
      path = g_build_filename (LIBRIVOX_DIR, file, NULL);
      r->samples = lmd_test_wav_read (path, &rate, &r->n_samples, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (rate, ==, RATE);
      g_ptr_array_add (recordings, r);
    }
  g_assert_cmpuint (recordings->len, ==, 5);

  g_key_file_set_integer (config, "sphinx", "decoders", 2);
  engine = load_engine (config, &error);
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  int rv;

  g_test_init (&argc, &argv, NULL);
  load_recordings ();

  g_test_add_func ("/sphinx/engine/info", test_info);
  g_test_add_func ("/sphinx/engine/librivox", test_librivox);
  g_test_add_func ("/sphinx/engine/long", test_long);
  g_test_add_func ("/sphinx/engine/silence", test_silence);
  g_test_add_func ("/sphinx/engine/missing-model", test_missing_model);
  g_test_add_func ("/sphinx/engine/concurrent", test_concurrent);
  g_test_add_func ("/sphinx/engine/misuse", test_misuse);
  rv = g_test_run ();

  g_clear_object (&engine);
  g_clear_pointer (&recordings, g_ptr_array_unref);
  return rv;
}
