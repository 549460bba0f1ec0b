/* SPDX-License-Identifier: MIT */
/*
 * sphinx-library-bench.c — the baseline for the server benchmark: the LibriVox set of
 * pocketsphinx-testdata decoded with the pocketsphinx library directly, one decoder per
 * thread, with the settings of the sphinx plugin (each file a new stream and one whole
 * utterance, batch CMN, -remove_silence no, -bestpath yes).
 *
 * Prints, for each thread count: audio seconds decoded per wall second, the real-time factor
 * per thread, and the set WER; and the resident memory one decoder costs.
 *
 *   sphinx-library-bench [--threads 1,2] [--repeat 3] [--model-dir DIR] [--data-dir DIR]
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include "lmd-test-wav.h"
#include "lmd-wer.h"

typedef struct {
  char *id;          /* owned */
  char *reference;   /* owned */
  gint16 *samples;   /* owned */
  gsize n_samples;
} Recording;

typedef struct {
  ps_decoder_t *decoder; /* owned by main */
  GPtrArray *set;        /* element-type Recording */
  guint repeat;
  LmdWerCounts counts;   /* of the first pass */
} Worker;

static char *model_dir = (char *) "/usr/share/pocketsphinx/model/en-us";
static char *data_dir = (char *) "/usr/share/pocketsphinx/test/data/librivox";

static void
recording_free (gpointer data)
{
  Recording *r = data;
  g_free (r->id);
  g_free (r->reference);
  g_free (r->samples);
  g_free (r);
}

static void
decoder_free (gpointer decoder)
{
  ps_free (decoder);
}

static guint64
resident_bytes (void)
{
  g_autofree char *statm = NULL;
  unsigned long long size = 0, resident = 0;

  if (!g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL) ||
      sscanf (statm, "%llu %llu", &size, &resident) != 2)
    return 0;
  return (guint64) resident * (guint64) sysconf (_SC_PAGESIZE);
}

static ps_decoder_t *
new_decoder (void)
{
  g_autofree char *hmm = g_build_filename (model_dir, "en-us", NULL);
  g_autofree char *lm = g_build_filename (model_dir, "en-us.lm.bin", NULL);
  g_autofree char *dict = g_build_filename (model_dir, "cmudict-en-us.dict", NULL);
  cmd_ln_t *config = cmd_ln_init (NULL, ps_args (), TRUE, "-hmm", hmm, "-lm", lm, "-dict", dict,
                                  "-samprate", "16000", "-bestpath", "yes",
                                  "-remove_silence", "no", NULL);
  ps_decoder_t *decoder;

  if (config == NULL)
    return NULL;
  decoder = ps_init (config);
  cmd_ln_free_r (config);
  return decoder;
}

static char *
decode (ps_decoder_t *decoder, const Recording *r)
{
  GString *text = g_string_new (NULL);

  ps_start_stream (decoder);
  ps_start_utt (decoder);
  ps_process_raw (decoder, r->samples, r->n_samples, FALSE, TRUE);
  ps_end_utt (decoder);
  for (ps_seg_t *seg = ps_seg_iter (decoder); seg != NULL; seg = ps_seg_next (seg))
    {
      const char *word = ps_seg_word (seg);
      const char *paren = strchr (word, '(');

      if (word[0] == '<' || word[0] == '[' || g_str_has_prefix (word, "++"))
        continue;
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append_len (text, word, paren != NULL && paren != word ? paren - word : -1);
    }
  return g_string_free (text, FALSE);
}

static gpointer
worker_run (gpointer data)
{
  Worker *w = data;

  for (guint pass = 0; pass < w->repeat; pass++)
    for (guint i = 0; i < w->set->len; i++)
      {
        const Recording *r = g_ptr_array_index (w->set, i);
        g_autofree char *hyp = decode (w->decoder, r);

        if (pass == 0)
          lmd_wer_accumulate (&w->counts, r->reference, hyp);
      }
  return NULL;
}

static GPtrArray *
load_set (GError **error)
{
  g_autofree char *fileids = g_build_filename (data_dir, "fileids", NULL);
  g_autofree char *transcription = g_build_filename (data_dir, "transcription", NULL);
  g_autofree char *ids = NULL;
  g_autoptr (GHashTable) references = NULL;
  g_autoptr (GPtrArray) set = g_ptr_array_new_with_free_func (recording_free);
  g_auto (GStrv) lines = NULL;

  if (!g_file_get_contents (fileids, &ids, NULL, error) ||
      (references = lmd_wer_load_transcription (transcription, error)) == NULL)
    return NULL;
  lines = g_strsplit (ids, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *file = NULL;
      g_autofree char *path = NULL;
      g_autofree float *samples = NULL;
      Recording *r;
      guint rate = 0;
      gsize n = 0;

      if (g_strstrip (lines[i])[0] == '\0')
        continue;
      file = g_strconcat (lines[i], ".wav", NULL);
      path = g_build_filename (data_dir, file, NULL);
      samples = lmd_test_wav_read (path, &rate, &n, error);
      if (samples == NULL)
        return NULL;
      r = g_new0 (Recording, 1);
      r->id = g_strdup (lines[i]);
      r->reference = g_strdup (g_hash_table_lookup (references, lines[i]));
      r->samples = g_new (gint16, MAX (n, 1));
      r->n_samples = n;
      for (gsize k = 0; k < n; k++)
        r->samples[k] = (gint16) CLAMP (samples[k] * 32768.0f, -32768.0f, 32767.0f);
      g_ptr_array_add (set, r);
    }
  return g_steal_pointer (&set);
}

int
main (int argc, char **argv)
{
  g_autofree char *threads_arg = NULL;
  int repeat = 3;
  GOptionEntry entries[] = {
    { "threads", 't', 0, G_OPTION_ARG_STRING, &threads_arg, "Thread counts, comma-separated (1,2)", "LIST" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Passes over the set per thread (3)", "N" },
    { "model-dir", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "pocketsphinx-en-us directory", "DIR" },
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "LibriVox test data directory", "DIR" },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— pocketsphinx library baseline");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) set = NULL;
  g_auto (GStrv) counts = NULL;
  g_autoptr (GPtrArray) decoders = g_ptr_array_new_with_free_func (decoder_free);
  double set_seconds = 0.0;
  guint max_threads = 1;
  guint64 rss0, rss1, rss2;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  err_set_logfp (NULL);
  counts = g_strsplit (threads_arg != NULL ? threads_arg : "1,2", ",", -1);
  for (guint i = 0; counts[i] != NULL; i++)
    max_threads = MAX (max_threads, (guint) g_ascii_strtoull (counts[i], NULL, 10));
  max_threads = CLAMP (max_threads, 1, 64);
  repeat = CLAMP (repeat, 1, 1000);

  set = load_set (&error);
  if (set == NULL)
    {
      g_printerr ("cannot load the test set: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < set->len; i++)
    set_seconds += ((Recording *) g_ptr_array_index (set, i))->n_samples / 16000.0;

  /* Decoders up front: the first one also maps the shared libraries, so the cost of one
   * decoder is what the second adds. */
  rss0 = resident_bytes ();
  rss1 = rss2 = rss0;
  for (guint i = 0; i < MAX (max_threads, 2); i++)
    {
      ps_decoder_t *decoder = new_decoder ();

      if (decoder == NULL)
        {
          g_printerr ("cannot create a decoder (models in %s)\n", model_dir);
          return 1;
        }
      g_ptr_array_add (decoders, decoder);
      if (i == 0)
        rss1 = resident_bytes ();
      else if (i == 1)
        rss2 = resident_bytes ();
    }
  printf ("pocketsphinx library baseline: %u files, %.1f s of audio, %d pass(es) per thread, "
          "%u CPUs\n", set->len, set_seconds, repeat, g_get_num_processors ());
  printf ("resident memory: first decoder +%.1f MiB (with libraries), each further decoder "
          "+%.1f MiB\n\n", (rss1 - rss0) / 1048576.0, ((double) rss2 - (double) rss1) / 1048576.0);
  printf ("%-8s %12s %10s %16s %14s %8s\n", "threads", "audio (s)", "wall (s)", "audio s/wall s",
          "x RT/thread", "WER");

  for (guint c = 0; counts[c] != NULL; c++)
    {
      guint n_threads = CLAMP ((guint) g_ascii_strtoull (counts[c], NULL, 10), 1, max_threads);
      g_autofree Worker *workers = g_new0 (Worker, n_threads);
      g_autofree GThread **threads = g_new0 (GThread *, n_threads);
      LmdWerCounts wer;
      gint64 t0 = g_get_monotonic_time ();
      double wall, audio = set_seconds * repeat * n_threads;

      for (guint k = 0; k < n_threads; k++)
        {
          workers[k].decoder = g_ptr_array_index (decoders, k);
          workers[k].set = set;
          workers[k].repeat = (guint) repeat;
          threads[k] = g_thread_new ("decoder", worker_run, &workers[k]);
        }
      for (guint k = 0; k < n_threads; k++)
        g_thread_join (threads[k]);
      wall = (g_get_monotonic_time () - t0) / 1e6;
      wer = workers[0].counts;
      printf ("%-8u %12.1f %10.2f %16.2f %14.2f %7.1f%%\n", n_threads, audio, wall, audio / wall,
              audio / wall / n_threads, 100.0 * lmd_wer_rate (&wer));
    }
  return 0;
}
