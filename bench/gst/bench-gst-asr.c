/* SPDX-License-Identifier: MIT */
/*
 * bench-gst-asr.c — lightningasr next to Debian's pocketsphinx element (package
 * gstreamer1.0-pocketsphinx), same run, same five LibriVox recordings:
 *
 *   WER            of the finals, decoding each file as fast as it goes
 *                  (filesrc ! wavparse ! audioconvert ! audioresample ! ELEMENT ! fakesink)
 *   CPU s/audio s  user + system CPU time of this process during those runs, per second of
 *                  audio (both elements decode on threads of this process)
 *   final delay    live runs (appsrc is-live, fed at real-time pace, each recording followed
 *                  by 2 s of silence): for lightningasr, arrival (running time) of each
 *                  final minus the running time of the end of its last word (the `end`
 *                  field); pocketsphinx gives no times, so for it: arrival of the final minus
 *                  the end of the recording's audio (its speech ends at most 0.3 s before)
 *
 * Contenders: lightningasr with the engine's own detector (vad=engine, eou-timeout 800 ms),
 * lightningasr with Silero endpointing (vad-model = the repository's Silero fixture,
 * eou-timeout 200 ms), and Debian's element.  They take turns file by file, for --rounds
 * rounds (default 1), so that a change in the machine's load falls on all of them.
 *
 * Usage: LMD_SOURCE_DIR=$PWD GST_PLUGIN_PATH=build/plugins/gst build/bench/gst/bench-gst-asr [--rounds N]
 *        [PROPERTY=VALUE ...]   (more lightningasr properties for both, e.g. eou-timeout=300)
 * Prints a Markdown table; a missing element is reported as such.
 */
#include <glib/gstdio.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "lmd-test-audio.h"
#include "lmd-test-fixtures.h"
#include "lmd-wer.h"

#define SILENCE_AFTER_S 2.0

typedef struct {
  const char *label;
  const char *element;        /* pipeline fragment */
  const char *message;        /* structure name of its result messages */
  gboolean has_times;
  LmdWerCounts wer;
  double cpu_s;
  double audio_s;
  GArray *delays_ms;          /* double */
  gboolean missing;
} Contender;

static double
cpu_seconds (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

/* A final result in @s of @c: its text, or NULL when @s is not one. */
static const char *
final_text (const Contender *c, const GstStructure *s)
{
  gboolean final = FALSE;

  if (!gst_structure_has_name (s, c->message))
    return NULL;
  if (!gst_structure_get_boolean (s, c->has_times ? "is-final" : "final", &final) || !final)
    return NULL;
  return gst_structure_get_string (s, c->has_times ? "transcript" : "hypothesis");
}

static char *
run_file (Contender *c, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
                                           "audioresample ! %s ! fakesink", path, c->element);
  GstElement *pipeline = gst_parse_launch (desc, &error);
  GString *text = g_string_new (NULL);
  GstBus *bus;
  gboolean done = FALSE;
  double cpu0;

  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  cpu0 = cpu_seconds ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (!done)
    {
      GstMessage *m = gst_bus_timed_pop_filtered (bus, 300 * GST_SECOND,
                                                  GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
      const char *t;

      g_assert_nonnull (m);
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        {
          g_autoptr (GError) e = NULL;
          gst_message_parse_error (m, &e, NULL);
          g_printerr ("%s: %s\n", c->label, e->message);
          done = TRUE;
        }
      else if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS)
        done = TRUE;
      else if ((t = final_text (c, gst_message_get_structure (m))) != NULL)
        g_string_append_printf (text, "%s%s", text->len > 0 ? " " : "", t);
      gst_message_unref (m);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  c->cpu_s += cpu_seconds () - cpu0;
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return g_string_free (text, FALSE);
}

typedef struct {
  Contender *c;
  GstElement *pipeline;
  GstClockTime audio_end;     /* running time of the end of the recording */
} LiveRun;

static GstBusSyncReply
on_sync (GstBus *bus, GstMessage *m, gpointer data)
{
  LiveRun *run = data;
  GstClock *clock;
  GstClockTime now;
  guint64 end = 0;

  if (GST_MESSAGE_TYPE (m) != GST_MESSAGE_ELEMENT ||
      final_text (run->c, gst_message_get_structure (m)) == NULL)
    return GST_BUS_PASS;
  clock = gst_pipeline_get_clock (GST_PIPELINE (run->pipeline));
  now = gst_clock_get_time (clock) - gst_element_get_base_time (run->pipeline);
  gst_object_unref (clock);
  if (run->c->has_times)
    gst_structure_get_uint64 (gst_message_get_structure (m), "end", &end);
  else
    end = run->audio_end;
  {
    double delay_ms = ((double) now - (double) end) / 1e6;
    g_array_append_val (run->c->delays_ms, delay_ms);
  }
  return GST_BUS_PASS;
}

static void
run_live (Contender *c, const float *samples, gsize n)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *desc = g_strdup_printf ("appsrc name=src is-live=true format=time "
                                           "caps=audio/x-raw,format=S16LE,rate=16000,channels=1,"
                                           "layout=interleaved ! %s ! fakesink sync=false", c->element);
  GstElement *pipeline = gst_parse_launch (desc, &error);
  GstAppSrc *src;
  GstBus *bus;
  GstClock *clock;
  GstClockTime base;
  LiveRun run = { c, pipeline, gst_util_uint64_scale (n, GST_SECOND, 16000) };
  gsize total = n + (gsize) (SILENCE_AFTER_S * 16000);
  gsize chunk = 16000 / 50;
  GstMessage *m;

  g_assert_no_error (error);
  src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (pipeline), "src"));
  bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, on_sync, &run, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while ((base = gst_element_get_base_time (pipeline)) == 0)
    g_usleep (1000);
  clock = gst_pipeline_get_clock (GST_PIPELINE (pipeline));
  for (gsize i = 0; i < total; i += chunk)
    {
      gsize m_samples = MIN (chunk, total - i);
      GstClockTime pts = gst_util_uint64_scale (i, GST_SECOND, 16000);
      GstClockTime duration = gst_util_uint64_scale (m_samples, GST_SECOND, 16000);
      GstClockID id = gst_clock_new_single_shot_id (clock, base + pts + duration);
      GstBuffer *buffer = gst_buffer_new_allocate (NULL, m_samples * 2, NULL);
      GstMapInfo map;

      gst_clock_id_wait (id, NULL);
      gst_clock_id_unref (id);
      gst_buffer_map (buffer, &map, GST_MAP_WRITE);
      for (gsize k = 0; k < m_samples; k++)
        ((gint16 *) map.data)[k] = i + k < n ? (gint16) CLAMP (samples[i + k] * 32767.0f, -32768.0f, 32767.0f) : 0;
      gst_buffer_unmap (buffer, &map);
      GST_BUFFER_PTS (buffer) = pts;
      GST_BUFFER_DURATION (buffer) = duration;
      gst_app_src_push_buffer (src, buffer);
    }
  gst_app_src_end_of_stream (src);
  m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (m != NULL)
    gst_message_unref (m);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (clock);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (pipeline);
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) references = NULL;
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  g_autofree char *transcription = NULL;
  g_autofree char *silero = lmd_test_fixture_path ("vad", "silero-v6.2.0-ggml.bin", NULL);
  g_autofree char *extra = NULL;
  g_autofree char *engine_vad = NULL;
  g_autofree char *silero_vad = NULL;
  g_autofree char *properties = NULL;
  Contender contenders[] = {
    { "lightningasr (sphinx, its detector)", NULL, "lightningasr", TRUE },
    { "lightningasr (sphinx, Silero)", NULL, "lightningasr", TRUE },
    { "pocketsphinx (Debian)", "pocketsphinx", "pocketsphinx", FALSE },
  };
  GHashTableIter iter;
  gpointer key;
  guint rounds = 1;
  int first = 1;

  gst_init (&argc, &argv);
  if (argc > 2 && g_str_equal (argv[1], "--rounds"))
    {
      rounds = MAX ((guint) g_ascii_strtoull (argv[2], NULL, 10), 1);
      first = 3;
    }
  extra = g_strjoinv (" ", argv + first);
  engine_vad = g_strdup_printf ("lightningasr interim-results=false vad=engine %s", extra);
  silero_vad = g_strdup_printf ("lightningasr interim-results=false vad-model=\"%s\" %s", silero, extra);
  contenders[0].element = engine_vad;
  contenders[1].element = silero_vad;
  if (lmd_test_librivox_dir () == NULL)
    {
      g_printerr ("pocketsphinx-testdata is not installed\n");
      return 77;
    }
  transcription = g_build_filename (lmd_test_librivox_dir (), "transcription", NULL);
  references = lmd_wer_load_transcription (transcription, &error);
  g_assert_no_error (error);
  g_hash_table_iter_init (&iter, references);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (ids, key);
  g_ptr_array_sort (ids, compare_names);

  for (gsize k = 0; k < G_N_ELEMENTS (contenders); k++)
    {
      Contender *c = &contenders[k];
      g_autofree char *factory = g_strdup (c->element);

      factory[strcspn (factory, " ")] = '\0';
      c->delays_ms = g_array_new (FALSE, FALSE, sizeof (double));
      if (gst_element_factory_find (factory) == NULL)
        {
          c->missing = TRUE;
          continue;
        }
      /* a first run loads the model, out of the measurement */
      {
        g_autofree char *path = g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), (char *) ids->pdata[0]);
        g_free (run_file (c, path));
        c->cpu_s = 0.0;
      }
    }
  /* turns: file by file, each contender in turn */
  for (guint r = 0; r < rounds; r++)
    for (guint i = 0; i < ids->len; i++)
      {
        g_autofree char *path = g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), (char *) ids->pdata[i]);
        gsize n;
        g_autofree float *samples = lmd_test_librivox_read (ids->pdata[i], &n);

        for (gsize k = 0; k < G_N_ELEMENTS (contenders); k++)
          {
            Contender *c = &contenders[k];
            g_autofree char *text = NULL;

            if (c->missing)
              continue;
            text = run_file (c, path);
            if (r == 0)
              {
                lmd_wer_accumulate (&c->wer, g_hash_table_lookup (references, ids->pdata[i]), text);
                g_printerr ("%s %s: %s\n", c->label, (char *) ids->pdata[i], text);
              }
            c->audio_s += (double) n / LMD_TEST_LIBRIVOX_RATE;
            run_live (c, samples, n);
          }
      }

  properties = g_strjoinv (" ", argv + first);
  printf ("rounds: %u; more lightningasr properties: %s\n\n", rounds, properties[0] ? properties : "none");
  printf ("| element | WER (5 LibriVox files) | CPU s per audio s | finals | final after the end of the utterance: median / max |\n");
  printf ("|---|---|---|---|---|\n");
  for (gsize k = 0; k < G_N_ELEMENTS (contenders); k++)
    {
      Contender *c = &contenders[k];

      if (c->missing)
        {
          printf ("| %s | not installed | | | |\n", c->label);
          continue;
        }
      g_array_sort (c->delays_ms, compare_double);
      printf ("| %s | %.1f%% (%u/%u) | %.3f | %u | %s%.0f ms / %.0f ms |\n", c->label,
              100.0 * lmd_wer_rate (&c->wer), c->wer.errors, c->wer.reference_words,
              c->cpu_s / c->audio_s, c->delays_ms->len,
              c->has_times ? "" : "(after the end of the audio) ",
              c->delays_ms->len > 0 ? g_array_index (c->delays_ms, double, c->delays_ms->len / 2) : 0.0,
              c->delays_ms->len > 0 ? g_array_index (c->delays_ms, double, c->delays_ms->len - 1) : 0.0);
      g_array_unref (c->delays_ms);
    }
  return 0;
}
