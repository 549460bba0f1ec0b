/* SPDX-License-Identifier: MIT */
/*
 * test-gst-pipeline.c — lightningasr in real pipelines, without the server:
 *   - filesrc ! decodebin ! audioconvert ! audioresample ! lightningasr ! fakesink on the
 *     five LibriVox recordings: the finals' WER at most 40%;
 *   - the same on the recordings re-encoded at test time as 44.1 kHz stereo FLAC (the element
 *     takes 44.1 kHz stereo itself and resamples);
 *   - a live source (appsrc is-live, fed at real-time pace with running-time timestamps):
 *     every word arrives no later than `latency` after the end of its audio.
 */
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <stdio.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-wer.h"

#define MAX_WER 0.40
#define LIVE_LATENCY_MS 8000

/* AddressSanitizer makes the decoder several times slower: on a busy machine it no longer
 * keeps up with real time, which the latency promise assumes; the bound is relaxed there */
#ifdef __SANITIZE_ADDRESS__
#define SLOW_FACTOR 3
#else
#define SLOW_FACTOR 1
#endif

static GHashTable *references;
static GPtrArray *ids;        /* recording names, sorted */

/* Runs @desc (an element named asr) to EOS; returns the finals' transcripts joined.
 * @caps_out (nullable) gets the caps lightningasr's sink pad had. */
static char *
transcribe (const char *desc, GstCaps **caps_out)
{
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  GString *text = g_string_new (NULL);
  GstBus *bus;
  gboolean done = FALSE;

  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  while (!done)
    {
      GstMessage *message = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
                                                        GST_MESSAGE_EOS | GST_MESSAGE_ERROR |
                                                        GST_MESSAGE_ELEMENT);
      g_assert_nonnull (message);
      switch (GST_MESSAGE_TYPE (message))
        {
        case GST_MESSAGE_ERROR:
          {
            g_autoptr (GError) err = NULL;
            gst_message_parse_error (message, &err, NULL);
            g_error ("pipeline error: %s", err->message);
          }
          break;
        case GST_MESSAGE_EOS:
          done = TRUE;
          break;
        default:
          {
            const GstStructure *s = gst_message_get_structure (message);
            gboolean is_final = FALSE;

            if (gst_structure_has_name (s, "lightningasr") &&
                gst_structure_get_boolean (s, "is-final", &is_final) && is_final)
              {
                if (text->len > 0)
                  g_string_append_c (text, ' ');
                g_string_append (text, gst_structure_get_string (s, "transcript"));
              }
          }
          break;
        }
      gst_message_unref (message);
    }
  if (caps_out != NULL)
    {
      GstElement *asr = gst_bin_get_by_name (GST_BIN (pipeline), "asr");
      GstPad *sink = gst_element_get_static_pad (asr, "sink");
      *caps_out = gst_pad_get_current_caps (sink);
      gst_object_unref (sink);
      gst_object_unref (asr);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return g_string_free (text, FALSE);
}

static char *
wav_path (const char *id)
{
  g_autofree char *name = g_strconcat (id, ".wav", NULL);
  return g_build_filename (lmd_test_librivox_dir (), name, NULL);
}

static void
run_set (const char *label, char *(*path_of) (const char *id), guint want_rate, guint want_channels)
{
  LmdWerCounts counts = { 0 };

  for (guint i = 0; i < ids->len; i++)
    {
      const char *id = ids->pdata[i];
      g_autofree char *path = path_of (id);
      g_autofree char *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! audioconvert ! "
                                               "audioresample ! lightningasr name=asr "
                                               "interim-results=false ! fakesink", path);
      g_autoptr (GstCaps) caps = NULL;
      g_autofree char *text = transcribe (desc, &caps);
      LmdWerCounts one = { 0 };
      const GstStructure *s;
      gint rate = 0, channels = 0;

      g_assert_nonnull (caps);
      s = gst_caps_get_structure (caps, 0);
      gst_structure_get_int (s, "rate", &rate);
      gst_structure_get_int (s, "channels", &channels);
      g_assert_cmpint (rate, ==, want_rate);
      g_assert_cmpint (channels, ==, want_channels);
      lmd_wer_accumulate (&one, g_hash_table_lookup (references, id), text);
      lmd_wer_accumulate (&counts, g_hash_table_lookup (references, id), text);
      g_test_message ("%s %s: WER %.1f%%: %s", label, id, 100.0 * lmd_wer_rate (&one), text);
    }
  printf ("# %s: WER %.1f%% (%u errors / %u words)\n", label, 100.0 * lmd_wer_rate (&counts),
          counts.errors, counts.reference_words);
  g_assert_cmpfloat (lmd_wer_rate (&counts), <=, MAX_WER);
}

static void
test_wav (void)
{
  if (ids == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  run_set ("wav 16 kHz mono", wav_path, 16000, 1);
}

static char *flac_dir;

static char *
flac_path (const char *id)
{
  g_autofree char *name = g_strconcat (id, ".flac", NULL);
  return g_build_filename (flac_dir, name, NULL);
}

static void
test_flac_44k_stereo (void)
{
  g_autoptr (GError) error = NULL;

  if (ids == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  flac_dir = g_dir_make_tmp ("lmd-gst-XXXXXX", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autofree char *in = wav_path (ids->pdata[i]);
      g_autofree char *out = flac_path (ids->pdata[i]);
      g_autofree char *desc = g_strdup_printf ("filesrc location=\"%s\" ! wavparse ! audioconvert ! "
                                               "audioresample ! audio/x-raw,rate=44100,channels=2 ! "
                                               "flacenc ! filesink location=\"%s\"", in, out);
      GstElement *pipeline = gst_parse_launch (desc, &error);
      GstBus *bus = gst_element_get_bus (pipeline);
      GstMessage *message;

      g_assert_no_error (error);
      gst_element_set_state (pipeline, GST_STATE_PLAYING);
      message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
      g_assert_nonnull (message);
      g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
      gst_message_unref (message);
      gst_element_set_state (pipeline, GST_STATE_NULL);
      gst_object_unref (bus);
      gst_object_unref (pipeline);
    }
  run_set ("flac 44.1 kHz stereo", flac_path, 44100, 2);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autofree char *path = flac_path (ids->pdata[i]);
      g_unlink (path);
    }
  g_rmdir (flac_dir);
  g_clear_pointer (&flac_dir, g_free);
}

/* ---- live ---------------------------------------------------------------------------------- */

typedef struct {
  GstElement *pipeline;
  GstAppSrc *src;
  const gint16 *pcm;
  gsize n;
  GString *text;
  GstClockTime worst;         /* arrival − start of the word's audio, worst */
  guint words;
} Live;

/* Feeds the audio in 20 ms buffers, each when the pipeline clock reaches its time. */
static gpointer
feed (gpointer data)
{
  Live *live = data;
  GstClock *clock;
  GstClockTime base;
  gsize chunk = 16000 / 50;

  /* the pipeline picks its clock and base time on its way to PLAYING */
  while ((base = gst_element_get_base_time (live->pipeline)) == 0)
    g_usleep (1000);
  clock = gst_pipeline_get_clock (GST_PIPELINE (live->pipeline));

  for (gsize i = 0; i < live->n; i += chunk)
    {
      gsize m = MIN (chunk, live->n - i);
      GstClockTime pts = gst_util_uint64_scale (i, GST_SECOND, 16000);
      GstClockTime duration = gst_util_uint64_scale (m, GST_SECOND, 16000);
      GstClockID id = gst_clock_new_single_shot_id (clock, base + pts + duration);
      GstBuffer *buffer;

      /* a capture device delivers a buffer once its last sample has been recorded */
      gst_clock_id_wait (id, NULL);
      gst_clock_id_unref (id);
      buffer = gst_buffer_new_memdup (live->pcm + i, m * 2);
      GST_BUFFER_PTS (buffer) = pts;
      GST_BUFFER_DURATION (buffer) = duration;
      if (gst_app_src_push_buffer (live->src, buffer) != GST_FLOW_OK)
        break;
    }
  gst_app_src_end_of_stream (live->src);
  gst_object_unref (clock);
  return NULL;
}

static GstFlowReturn
on_sample (GstAppSink *sink, gpointer data)
{
  Live *live = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  const GstSegment *segment = gst_sample_get_segment (sample);
  GstClock *clock = gst_pipeline_get_clock (GST_PIPELINE (live->pipeline));
  GstClockTime now = gst_clock_get_time (clock) - gst_element_get_base_time (live->pipeline);
  GstClockTime start = gst_segment_to_running_time (segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buffer));
  GstMapInfo map;

  /* the word's audio began at @start: all of it is within latency of there */
  if (now > start && now - start > live->worst)
    live->worst = now - start;
  gst_buffer_map (buffer, &map, GST_MAP_READ);
  if (live->text->len > 0)
    g_string_append_c (live->text, ' ');
  g_string_append_len (live->text, (const char *) map.data, map.size);
  gst_buffer_unmap (buffer, &map);
  live->words++;
  gst_object_unref (clock);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static void
test_live (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) pcm = g_array_new (FALSE, TRUE, sizeof (gint16));
  g_autofree char *desc = NULL;
  GString *reference = g_string_new (NULL);
  LmdWerCounts counts = { 0 };
  Live live = { 0 };
  GstAppSinkCallbacks callbacks = { 0 };
  GstElement *sink;
  GstBus *bus;
  GstMessage *message;
  GThread *feeder;

  if (ids == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  /* the five recordings, half a second of silence after each */
  for (guint i = 0; i < ids->len; i++)
    {
      gsize n;
      g_autofree float *samples = lmd_test_librivox_read (ids->pdata[i], &n);
      guint at = pcm->len;

      g_array_set_size (pcm, pcm->len + n + 8000);
      for (gsize k = 0; k < n; k++)
        g_array_index (pcm, gint16, at + k) = (gint16) CLAMP (samples[k] * 32767.0f, -32768.0f, 32767.0f);
      g_string_append_printf (reference, "%s ", (const char *) g_hash_table_lookup (references, ids->pdata[i]));
    }
  desc = g_strdup_printf ("appsrc name=src is-live=true format=time "
                          "caps=audio/x-raw,format=S16LE,rate=16000,channels=1,layout=interleaved ! "
                          "lightningasr name=asr latency=%u ! appsink name=sink sync=false",
                          LIVE_LATENCY_MS);
  live.pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  live.src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (live.pipeline), "src"));
  live.pcm = (const gint16 *) pcm->data;
  live.n = pcm->len;
  live.text = g_string_new (NULL);
  sink = gst_bin_get_by_name (GST_BIN (live.pipeline), "sink");
  callbacks.new_sample = on_sample;
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, &live, NULL);
  bus = gst_element_get_bus (live.pipeline);
  g_assert_cmpint (gst_element_set_state (live.pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  /* the sink completes PLAYING on the element's first output (a GAP): audio goes in at once */
  feeder = g_thread_new ("feed", feed, &live);
  message = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  gst_message_unref (message);
  g_thread_join (feeder);
  lmd_wer_accumulate (&counts, reference->str, live.text->str);
  printf ("# live at real-time pace, latency %u ms: %u words, worst arrival %.0f ms after the "
          "start of the word's audio, WER %.1f%%\n", LIVE_LATENCY_MS, live.words,
          live.worst / 1e6, 100.0 * lmd_wer_rate (&counts));
  g_test_message ("live: %s", live.text->str);
  g_assert_cmpuint (live.words, >=, 30 / SLOW_FACTOR);
  g_assert_cmpuint (live.worst, <=, SLOW_FACTOR * LIVE_LATENCY_MS * GST_MSECOND);
  gst_element_set_state (live.pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (live.src);
  gst_object_unref (live.pipeline);
  g_string_free (live.text, TRUE);
  g_string_free (reference, TRUE);
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
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (lmd_test_librivox_dir () != NULL)
    {
      g_autofree char *path = g_build_filename (lmd_test_librivox_dir (), "transcription", NULL);
      GHashTableIter iter;
      gpointer key;

      references = lmd_wer_load_transcription (path, &error);
      g_assert_no_error (error);
      ids = g_ptr_array_new ();
      g_hash_table_iter_init (&iter, references);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (ids, key);
      g_ptr_array_sort (ids, compare_names);
    }
  g_test_add_func ("/lightningasr/pipeline/wav", test_wav);
  g_test_add_func ("/lightningasr/pipeline/flac-44k-stereo", test_flac_44k_stereo);
  g_test_add_func ("/lightningasr/pipeline/live", test_live);
  ret = g_test_run ();
  g_clear_pointer (&ids, g_ptr_array_unref);
  g_clear_pointer (&references, g_hash_table_unref);
  gst_deinit ();
  return ret;
}
