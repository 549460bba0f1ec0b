/* SPDX-License-Identifier: MIT */
/*
 * bench-stream-cost — where the CPU time of one live stream goes, in process and without the
 * network: the sphinx engine and the PCM converter driven the way the WebSocket hub drives
 * them (100 ms client frames converted from linear16, fed in 20 ms slices, the speech state
 * checked after each slice, the utterance ended after eou_timeout_ms of silence, a partial
 * hypothesis asked for after each frame when the interim interval has passed, the interim
 * JSON written when the partial changed).
 *
 * Each LibriVox recording of pocketsphinx-testdata is one stream: 0.5 s of silence, the
 * recording, eou + 0.5 s of silence.  Every part is timed with the thread's CPU clock
 * (CLOCK_THREAD_CPUTIME_ID), so other processes on the machine slow it down less than they
 * slow wall time; each figure is the minimum over --repeat passes.  The voice-activity
 * detector runs inside the session's feed(): a separate pass runs a detector alone on the
 * same audio, and "decoder" is feed minus that.
 *
 * Also printed: the WER of the concatenated finals (the bar of tests/stream is 40%), the
 * audio time from the energy onset of the speech to the first non-empty partial (what the
 * engine adds to the time to first interim, whatever the load), and the cost of creating a
 * stream decoder (what a stream pays when no decoder is waiting in the pool).
 *
 *   bench-stream-cost [--repeat N] [--stream-args "-pl_window 5"] [--interim-ms 100] [--eou MS]
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lmd-json-writer.h"
#include "lmd-pcm-converter.h"
#include "lmd-sphinx-engine.h"
#include "lmd-test-audio.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"
#include "lmd-wer.h"

#define RATE 16000
#define FRAME_SAMPLES (RATE / 10) /* the client's 100 ms frames */
#define SLICE_SAMPLES (RATE / 50) /* the hub's 20 ms slices */

typedef enum {
  PART_CONVERT,
  PART_FEED,
  PART_STATE,
  PART_PARTIAL,
  PART_JSON,
  PART_FINAL,
  PART_VAD,
  N_PARTS,
} Part;

static const char *const part_names[N_PARTS] = {
  "PCM conversion (linear16 16 kHz)",
  "feed (detector + ps_process_raw)",
  "speech state / end-of-utterance check",
  "partial hypothesis (ps_get_hyp)",
  "interim JSON",
  "end of utterance (final, words)",
  "detector alone (separate pass)",
};

static guint repeat = 3;
static guint interim_ms = 100;
static guint eou_ms = 800;
static char *stream_args = NULL;

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
append_silence (GArray *out, double seconds)
{
  for (guint i = 0; i < (guint) (seconds * RATE); i++)
    {
      float v = (float) g_random_int_range (-8, 9) / 32768.0f;
      g_array_append_val (out, v);
    }
}

/* First 10 ms frame 20 dB above the quietest decile, in samples. */
static gsize
energy_onset (const float *x, gsize n)
{
  gsize frames = n / 160;
  g_autofree double *level = g_new (double, MAX (frames, 1));
  g_autofree double *sorted = NULL;
  double floor_db;

  if (frames == 0)
    return 0;
  for (gsize f = 0; f < frames; f++)
    {
      double sum = 0.0;
      for (gsize i = 0; i < 160; i++)
        sum += (double) x[f * 160 + i] * x[f * 160 + i];
      level[f] = 10.0 * log10 (sum / 160 + 1e-12);
    }
  sorted = g_memdup2 (level, frames * sizeof (double));
  for (gsize i = 1; i < frames; i++)
    for (gsize j = i; j > 0 && sorted[j - 1] > sorted[j]; j--)
      {
        double t = sorted[j];
        sorted[j] = sorted[j - 1];
        sorted[j - 1] = t;
      }
  floor_db = sorted[frames / 10];
  for (gsize f = 0; f < frames; f++)
    if (level[f] > floor_db + 20.0)
      return f * 160;
  return 0;
}

static char *
interim_json (const char *text, double start)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "session_id");
  lmd_json_writer_string (w, "00000000-0000-0000-0000-000000000000");
  lmd_json_writer_key (w, "transcript");
  lmd_json_writer_string (w, text);
  lmd_json_writer_key (w, "is_final");
  lmd_json_writer_boolean (w, FALSE);
  lmd_json_writer_key (w, "is_last");
  lmd_json_writer_boolean (w, FALSE);
  lmd_json_writer_key (w, "start");
  lmd_json_writer_double (w, start, 2);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

typedef struct {
  double cpu[N_PARTS];
  double audio_seconds;
  guint n_partials;       /* get_partial calls */
  guint n_interims;       /* changed, non-empty partials */
  double first_partial;   /* audio seconds from the energy onset to the first non-empty partial */
  char *finals;           /* owned; the concatenated finals */
} StreamResult;

/* One stream of @x (@n samples) through @engine, the way the hub drives it. */
static void
run_stream (LmdEngine *engine, const float *x, gsize n, StreamResult *res)
{
  g_autoptr (GArray) input = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (GArray) samples = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdEngineSession) session = NULL;
  g_autoptr (LmdPcmConverter) conv = lmd_pcm_converter_new (LMD_PCM_LINEAR16, RATE, RATE);
  g_autoptr (GString) finals = g_string_new (NULL);
  g_autofree char *last_partial = NULL;
  LmdSessionOptions options = { 0 };
  const guint8 *data;
  gsize len, onset;
  guint64 fed = 0;
  double last_partial_at = -1.0, t;

  append_silence (input, 0.5);
  onset = input->len + energy_onset (x, n);
  g_array_append_vals (input, x, n);
  append_silence (input, eou_ms / 1000.0 + 0.5);
  bytes = lmd_test_encode_linear16 ((const float *) input->data, input->len);
  data = g_bytes_get_data (bytes, &len);

  options.language = "en";
  options.word_timestamps = TRUE;
  options.request_id = "bench";
  options.streaming = TRUE;
  session = lmd_engine_open_session (engine, &options, &error);
  g_assert_no_error (error);
  res->first_partial = NAN;
  res->audio_seconds += (double) input->len / RATE;

  for (gsize off = 0; off < len; off += FRAME_SAMPLES * 2)
    {
      gsize frame = MIN ((gsize) FRAME_SAMPLES * 2, len - off);

      t = cpu_now ();
      lmd_pcm_converter_push (conv, data + off, frame, samples);
      res->cpu[PART_CONVERT] += cpu_now () - t;
      for (guint done = 0; done < samples->len; done += SLICE_SAMPLES)
        {
          guint k = MIN (SLICE_SAMPLES, samples->len - done);
          double since = 0.0, utt_start = -1.0, now;
          gboolean speech;

          t = cpu_now ();
          g_assert_true (lmd_engine_session_feed (session, (const float *) samples->data + done, k, &error));
          res->cpu[PART_FEED] += cpu_now () - t;
          fed += k;
          now = (double) fed / RATE;

          t = cpu_now ();
          speech = lmd_engine_session_get_speech_state (session, &since, &utt_start);
          res->cpu[PART_STATE] += cpu_now () - t;
          if (utt_start < 0.0)
            continue;
          if (!speech && now - since >= eou_ms / 1000.0)
            {
              g_autoptr (LmdTranscript) tr = NULL;
              t = cpu_now ();
              tr = lmd_engine_session_end_utterance (session, &error);
              res->cpu[PART_FINAL] += cpu_now () - t;
              g_assert_no_error (error);
              if (tr->text != NULL && tr->text[0] != '\0')
                g_string_append_printf (finals, "%s%s", finals->len > 0 ? " " : "", tr->text);
              g_clear_pointer (&last_partial, g_free);
              continue;
            }
          if (done + k == samples->len && interim_ms > 0 && now - last_partial_at >= interim_ms / 1000.0 - 1e-9)
            {
              g_autofree char *partial = NULL;

              t = cpu_now ();
              partial = lmd_engine_session_get_partial (session);
              res->cpu[PART_PARTIAL] += cpu_now () - t;
              res->n_partials++;
              last_partial_at = now;
              if (partial != NULL && partial[0] != '\0' && g_strcmp0 (partial, last_partial) != 0)
                {
                  g_autofree char *json = NULL;
                  t = cpu_now ();
                  json = interim_json (partial, utt_start);
                  res->cpu[PART_JSON] += cpu_now () - t;
                  res->n_interims++;
                  if (isnan (res->first_partial))
                    res->first_partial = now - (double) onset / RATE;
                  g_free (last_partial);
                  last_partial = g_steal_pointer (&partial);
                }
            }
        }
      g_array_set_size (samples, 0);
    }
  {
    g_autoptr (LmdTranscript) tr = NULL;
    t = cpu_now ();
    tr = lmd_engine_session_finish (session, &error);
    res->cpu[PART_FINAL] += cpu_now () - t;
    g_assert_no_error (error);
    if (tr->text != NULL && tr->text[0] != '\0')
      g_string_append_printf (finals, "%s%s", finals->len > 0 ? " " : "", tr->text);
  }
  res->finals = g_string_free (g_steal_pointer (&finals), FALSE);
}

/* The detector alone on @x, 10 ms blocks, as the session runs it. */
static double
run_vad (LmdSphinxEngine *engine, const float *x, gsize n)
{
  g_autoptr (GError) error = NULL;
  fe_t *fe = lmd_sphinx_engine_create_vad (engine, &error);
  mfcc_t **cep;
  gint16 block[160];
  double t;

  g_assert_no_error (error);
  cep = g_new0 (mfcc_t *, 64);
  for (guint i = 0; i < 64; i++)
    cep[i] = g_new0 (mfcc_t, MAX (fe_get_output_size (fe), 1));
  fe_start_utt (fe);
  t = cpu_now ();
  for (gsize off = 0; off + 160 <= n; off += 160)
    {
      const gint16 *p = block;
      size_t left = 160;
      for (guint i = 0; i < 160; i++)
        block[i] = (gint16) CLAMP (lrintf (x[off + i] * 32768.0f), -32768, 32767);
      while (left > 0)
        {
          int32 nf = 64;
          size_t before = left;
          fe_process_frames (fe, &p, &left, cep, &nf, NULL);
          if (left == before)
            break;
        }
      (void) fe_get_vad_state (fe);
    }
  t = cpu_now () - t;
  for (guint i = 0; i < 64; i++)
    g_free (cep[i]);
  g_free (cep);
  fe_free (fe);
  return t;
}

static LmdEngine *
make_engine (guint stream_decoders)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  LmdEngine *engine = g_object_new (LMD_TYPE_SPHINX_ENGINE, NULL);

  g_key_file_set_integer (config, "sphinx", "stream_decoders", (gint) stream_decoders);
  g_key_file_set_integer (config, "sphinx", "decoders", 1);
  /* no pre-warming: the first borrow below times the creation of a decoder */
  g_key_file_set_integer (config, "sphinx", "stream_prewarm", 0);
  if (stream_args != NULL)
    g_key_file_set_string (config, "sphinx", "stream_args", stream_args);
  if (!lmd_engine_setup (engine, config, &error))
    {
      g_printerr ("setup: %s\n", error->message);
      exit (1);
    }
  return engine;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) context = g_option_context_new ("— CPU cost of a live stream, by part");
  g_autoptr (GHashTable) references = NULL;
  g_autoptr (GPtrArray) audio = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) lengths = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autoptr (LmdEngine) engine = NULL;
  gint64 repeat_arg = 3, interim_arg = 100, eou_arg = 800;
  const GOptionEntry entries[] = {
    { "repeat", 0, 0, G_OPTION_ARG_INT64, &repeat_arg, "passes (the minimum of each part is kept)", "N" },
    { "stream-args", 0, 0, G_OPTION_ARG_STRING, &stream_args, "[sphinx] stream_args", "ARGS" },
    { "interim-ms", 0, 0, G_OPTION_ARG_INT64, &interim_arg, "audio between partials (0: none)", "MS" },
    { "eou", 0, 0, G_OPTION_ARG_INT64, &eou_arg, "eou_timeout_ms", "MS" },
    { NULL },
  };
  const char *dir = lmd_test_librivox_dir ();
  double best[N_PARTS], audio_seconds = 0.0, total = 0.0;
  LmdWerCounts counts = { 0 };
  g_autoptr (GArray) first = g_array_new (FALSE, FALSE, sizeof (double));
  guint n_partials = 0, n_interims = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  repeat = (guint) CLAMP (repeat_arg, 1, 100);
  interim_ms = (guint) CLAMP (interim_arg, 0, 10000);
  eou_ms = (guint) CLAMP (eou_arg, 100, 10000);
  if (dir == NULL)
    {
      g_printerr ("pocketsphinx-testdata is not installed\n");
      return 77;
    }
  {
    g_autofree char *transcription = g_build_filename (dir, "transcription", NULL);
    g_autoptr (GDir) d = g_dir_open (dir, 0, &error);
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    const char *name;

    g_assert_no_error (error);
    references = lmd_wer_load_transcription (transcription, &error);
    g_assert_no_error (error);
    while ((name = g_dir_read_name (d)) != NULL)
      if (g_str_has_suffix (name, ".wav"))
        g_ptr_array_add (names, g_strdup (name));
    g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
    for (guint i = 0; i < names->len; i++)
      {
        g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
        guint rate = 0;
        gsize n = 0;
        float *x = lmd_test_wav_read (path, &rate, &n, &error);
        g_assert_no_error (error);
        g_assert_cmpuint (rate, ==, RATE);
        g_ptr_array_add (audio, x);
        g_ptr_array_add (ids, g_strndup (names->pdata[i], strlen (names->pdata[i]) - 4));
        g_array_append_val (lengths, n);
      }
  }

  /* Decoder creation: a fresh engine, its first stream decoder. */
  {
    double t_cpu, t_wall;
    ps_decoder_t *d;
    engine = make_engine (1);
    t_wall = g_get_monotonic_time () / 1e6;
    t_cpu = cpu_now ();
    d = lmd_sphinx_engine_borrow_stream_decoder (LMD_SPHINX_ENGINE (engine), &error);
    g_assert_no_error (error);
    t_cpu = cpu_now () - t_cpu;
    t_wall = g_get_monotonic_time () / 1e6 - t_wall;
    lmd_sphinx_engine_return_stream_decoder (LMD_SPHINX_ENGINE (engine), d);
    printf ("# bench-stream-cost: %u recordings, %u passes, stream_args \"%s\", interim every %u ms, eou %u ms\n",
            audio->len, repeat, stream_args != NULL ? stream_args : "(default)", interim_ms, eou_ms);
    printf ("# a stream decoder with nothing waiting in the pool: %.0f ms CPU, %.0f ms wall\n",
            t_cpu * 1000, t_wall * 1000);
  }

  for (guint p = 0; p < N_PARTS; p++)
    best[p] = G_MAXDOUBLE;
  for (guint r = 0; r < repeat; r++)
    {
      double sum[N_PARTS] = { 0 };
      double seconds = 0.0;

      for (guint i = 0; i < audio->len; i++)
        {
          StreamResult res = { 0 };
          gsize n = g_array_index (lengths, gsize, i);

          run_stream (engine, audio->pdata[i], n, &res);
          res.cpu[PART_VAD] = run_vad (LMD_SPHINX_ENGINE (engine), audio->pdata[i], n);
          for (guint p = 0; p < N_PARTS; p++)
            sum[p] += res.cpu[p];
          seconds += res.audio_seconds;
          if (r == 0)
            {
              lmd_wer_accumulate (&counts, g_hash_table_lookup (references, ids->pdata[i]), res.finals);
              if (!isnan (res.first_partial))
                g_array_append_val (first, res.first_partial);
              n_partials += res.n_partials;
              n_interims += res.n_interims;
            }
          g_free (res.finals);
        }
      audio_seconds = seconds;
      for (guint p = 0; p < N_PARTS; p++)
        best[p] = MIN (best[p], sum[p]);
    }

  printf ("\n| part | CPU ms per audio second | share of one core |\n|---|---|---|\n");
  for (guint p = 0; p < N_PARTS; p++)
    {
      double ms = best[p] * 1000.0 / audio_seconds;
      if (p != PART_VAD)
        total += ms;
      if (p == PART_FEED)
        {
          printf ("| %s | %.2f | %.2f%% |\n", part_names[p], ms, ms / 10.0);
          continue;
        }
      printf ("| %s | %.2f | %.2f%% |\n", part_names[p], ms, ms / 10.0);
    }
  {
    double vad = best[PART_VAD] * 1000.0 / audio_seconds;
    double feed = best[PART_FEED] * 1000.0 / audio_seconds;
    printf ("| of feed: decoder (feed − detector) | %.2f | %.2f%% |\n", feed - vad, (feed - vad) / 10.0);
  }
  printf ("| **total per stream** | **%.2f** | **%.2f%%** |\n", total, total / 10.0);
  printf ("\n%.1f s of audio per pass; %u partials asked, %u interims; WER of the finals %.1f%% (%u/%u)\n",
          audio_seconds, n_partials, n_interims, 100.0 * lmd_wer_rate (&counts), counts.errors,
          counts.reference_words);
  {
    double sum = 0.0, mx = 0.0;
    for (guint i = 0; i < first->len; i++)
      {
        double v = g_array_index (first, double, i);
        sum += v;
        mx = MAX (mx, v);
      }
    printf ("first non-empty partial after the energy onset (audio ms): mean %.0f, max %.0f (%u streams)\n",
            first->len > 0 ? 1000.0 * sum / first->len : NAN, 1000.0 * mx, first->len);
  }
  return 0;
}
