/* SPDX-License-Identifier: MIT */
/*
 * test-gst-element.c — the lightningasr element as a black box under GstHarness: caps,
 * segment and LibriVox audio in, timestamped words out; the bus messages' fields; EOS in the
 * middle of an utterance; a flush in the middle; the latency query in PAUSED, live and not
 * live; a live upstream faster than the decoder (drops, WARNING, DISCONT, max-observed-delay);
 * a missing model; state changes while audio flows.  No server: the element loads the
 * sphinx engine plugin of the build tree (GST_PLUGIN_PATH set by meson).
 */
#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <stdio.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-fixtures.h"
#include "lmd-test-gst.h"
#include "lmd-wer.h"

#define RATE LMD_TEST_LIBRIVOX_RATE
#define REC_A "sense_and_sensibility_01_austen_64kb-0870"
#define REC_B "sense_and_sensibility_01_austen_64kb-0880"

static GHashTable *references;

static double
wer_of (const char *id, const char *text)
{
  LmdWerCounts counts = { 0 };

  lmd_wer_accumulate (&counts, g_hash_table_lookup (references, id), text);
  return lmd_wer_rate (&counts);
}

static void
test_words (void)
{
  g_autofree float *samples = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GstCaps) caps = NULL;
  GstHarness *h;
  gsize n;
  guint before_eos, n_words;
  guint final_events = 0;
  GstClockTime duration;

  if (!lmd_test_gst_have_librivox ())
    return;
  samples = lmd_test_librivox_read (REC_A, &n);
  duration = gst_util_uint64_scale (n, GST_SECOND, RATE);
  h = lmd_test_gst_harness_new (FALSE, "interim-results", FALSE, NULL);
  g_assert_cmpint (lmd_test_gst_push_audio (h, samples, n, 0), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  before_eos = lmd_test_gst_wait_eos (h, &final_events, NULL);
  caps = gst_pad_get_current_caps (h->sinkpad);
  g_assert_nonnull (caps);
  g_assert_true (gst_caps_is_fixed (caps));
  g_assert_true (gst_structure_has_name (gst_caps_get_structure (caps, 0), "text/x-raw"));
  g_assert_cmpstr (gst_structure_get_string (gst_caps_get_structure (caps, 0), "format"), ==, "utf8");
  text = lmd_test_gst_collect_words (h, 0, duration, &n_words);
  printf ("# words: %u (%u before EOS), WER %.1f%%: %s\n", n_words, before_eos,
          100.0 * wer_of (REC_A, text), text);
  g_assert_cmpuint (n_words, >=, 10);
  g_assert_cmpuint (before_eos, ==, n_words);
  g_assert_cmpuint (final_events, >=, 1);
  g_assert_cmpfloat (wer_of (REC_A, text), <=, 0.40);
  gst_harness_teardown (h);
}

/* Silence only: no word, and GAP events so that downstream does not wait for one. */
static void
test_gap_over_silence (void)
{
  g_autofree float *silence = g_new0 (float, 5 * RATE);
  GstHarness *h = lmd_test_gst_harness_new (FALSE, NULL);
  GstClockTime covered = 0;
  GstEvent *event;

  g_assert_cmpint (lmd_test_gst_push_audio (h, silence, 5 * RATE, 0), ==, GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  while ((event = gst_harness_pull_event (h)) != NULL)
    {
      gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;

      if (GST_EVENT_TYPE (event) == GST_EVENT_GAP)
        {
          GstClockTime ts, duration;

          gst_event_parse_gap (event, &ts, &duration);
          g_assert_cmpuint (ts, ==, covered); /* contiguous from the segment's start */
          g_assert_true (GST_CLOCK_TIME_IS_VALID (duration));
          covered = ts + duration;
        }
      gst_event_unref (event);
      if (eos)
        break;
    }
  printf ("# 5 s of silence: GAP events cover %" GST_TIME_FORMAT ", %u words\n",
          GST_TIME_ARGS (covered), gst_harness_buffers_in_queue (h));
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  /* up to a second before the end of the audio decoded */
  g_assert_cmpuint (covered, >=, 3500 * GST_MSECOND);
  g_assert_cmpuint (covered, <=, 5 * GST_SECOND);
  gst_harness_teardown (h);
}

/* The segment is forwarded: a segment starting at 10 s, audio stamped from 10 s. */
static void
test_segment (void)
{
  g_autofree float *samples = NULL;
  g_autofree char *text = NULL;
  GstHarness *h;
  GstSegment segment;
  gboolean seen = FALSE;
  GstEvent *event;
  gsize n;
  guint n_words;

  if (!lmd_test_gst_have_librivox ())
    return;
  samples = lmd_test_librivox_read (REC_B, &n);
  h = lmd_test_gst_harness_new (FALSE, NULL);
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = 10 * GST_SECOND;
  segment.time = 10 * GST_SECOND;
  segment.base = 2 * GST_SECOND;
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  g_assert_cmpint (lmd_test_gst_push_audio (h, samples, n, 10 * GST_SECOND), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((event = gst_harness_pull_event (h)) != NULL)
    {
      gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT)
        {
          const GstSegment *out;
          gst_event_parse_segment (event, &out);
          if (out->start == 10 * GST_SECOND)
            {
              g_assert_cmpuint (out->base, ==, 2 * GST_SECOND);
              seen = TRUE;
            }
        }
      gst_event_unref (event);
      if (eos)
        break;
    }
  g_assert_true (seen);
  text = lmd_test_gst_collect_words (h, 10 * GST_SECOND, 10 * GST_SECOND + gst_util_uint64_scale (n, GST_SECOND, RATE),
                        &n_words);
  printf ("# segment at 10 s: %u words: %s\n", n_words, text);
  g_assert_cmpuint (n_words, >=, 4);
  gst_harness_teardown (h);
}

typedef struct {
  guint finals;
  guint interims;
  guint warnings;
  gboolean fields_ok;
} BusCounts;

static void
check_result (const GstStructure *s, BusCounts *counts)
{
  const char *transcript = gst_structure_get_string (s, "transcript");
  gboolean is_final;
  guint64 start, end;
  const GValue *words = lmd_test_gst_check_result_fields (s, &is_final, &start, &end);

  if (is_final)
    {
      g_assert_cmpuint (gst_value_list_get_size (words), >, 0);
      for (guint i = 0; i < gst_value_list_get_size (words); i++)
        {
          const GstStructure *w = gst_value_get_structure (gst_value_list_get_value (words, i));
          guint64 ws, we;
          double wc;

          g_assert_true (gst_structure_has_name (w, "word"));
          g_assert_nonnull (gst_structure_get_string (w, "word"));
          g_assert_true (gst_structure_get_uint64 (w, "start", &ws));
          g_assert_true (gst_structure_get_uint64 (w, "end", &we));
          g_assert_true (gst_structure_get_double (w, "confidence", &wc));
          g_assert_cmpuint (ws, <=, we);
          g_assert_cmpuint (ws, >=, start);
          g_assert_cmpuint (we, <=, end);
        }
      counts->finals++;
    }
  else
    {
      g_assert_cmpstr (transcript, !=, "");
      counts->interims++;
    }
  counts->fields_ok = TRUE;
}

static void
drain_bus (GstBus *bus, BusCounts *counts)
{
  GstMessage *message;

  while ((message = gst_bus_pop (bus)) != NULL)
    {
      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT &&
          gst_structure_has_name (gst_message_get_structure (message), "lightningasr"))
        check_result (gst_message_get_structure (message), counts);
      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_WARNING)
        counts->warnings++;
      gst_message_unref (message);
    }
}

static void
test_messages (void)
{
  g_autofree float *samples = NULL;
  g_autoptr (GstBus) bus = gst_bus_new ();
  BusCounts counts = { 0 };
  GstHarness *h;
  gsize n;

  if (!lmd_test_gst_have_librivox ())
    return;
  samples = lmd_test_librivox_read (REC_A, &n);
  h = lmd_test_gst_harness_new (FALSE, "interim-results", TRUE, NULL);
  gst_element_set_bus (h->element, bus);
  g_assert_cmpint (lmd_test_gst_push_audio (h, samples, n, 0), ==, GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  lmd_test_gst_wait_eos (h, NULL, NULL);
  drain_bus (bus, &counts);
  printf ("# messages: %u finals, %u interims\n", counts.finals, counts.interims);
  g_assert_cmpuint (counts.finals, >=, 1);
  g_assert_cmpuint (counts.interims, >=, 1);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

/* EOS while the speaker is in the middle of a sentence: its words come before EOS. */
static void
test_eos_mid_utterance (void)
{
  g_autofree float *samples = NULL;
  g_autofree char *text = NULL;
  GstHarness *h;
  gsize n;
  guint before_eos, n_words;

  if (!lmd_test_gst_have_librivox ())
    return;
  samples = lmd_test_librivox_read (REC_A, &n);
  h = lmd_test_gst_harness_new (FALSE, NULL);
  /* 3 s of a recording whose speech runs from 0.3 s to 6.8 s without a pause */
  g_assert_cmpint (lmd_test_gst_push_audio (h, samples, 3 * RATE, 0), ==, GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  before_eos = lmd_test_gst_wait_eos (h, NULL, NULL);
  text = lmd_test_gst_collect_words (h, 0, 3 * GST_SECOND, &n_words);
  printf ("# EOS mid-utterance: %u words before EOS: %s\n", before_eos, text);
  g_assert_cmpuint (before_eos, >=, 3);
  g_assert_cmpuint (before_eos, ==, n_words);
  gst_harness_teardown (h);
}

/* A flush in the middle of an utterance: nothing of the audio before it comes out after, and
 * the audio after it is transcribed on its own. */
static void
test_flush (void)
{
  g_autofree float *a = NULL, *b = NULL;
  g_autofree char *text = NULL;
  GstHarness *h;
  gsize na, nb;
  guint n_words;

  if (!lmd_test_gst_have_librivox ())
    return;
  a = lmd_test_librivox_read (REC_A, &na);
  b = lmd_test_librivox_read (REC_B, &nb);
  h = lmd_test_gst_harness_new (FALSE, NULL);
  g_assert_cmpint (lmd_test_gst_push_audio (h, a, na / 2, 0), ==, GST_FLOW_OK);
  lmd_test_gst_flush (h);
  g_assert_cmpint (lmd_test_gst_push_audio (h, b, nb, 0), ==, GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  lmd_test_gst_wait_eos (h, NULL, NULL);
  text = lmd_test_gst_collect_words (h, 0, gst_util_uint64_scale (nb, GST_SECOND, RATE), &n_words);
  printf ("# after a flush: %u words, WER %.1f%%: %s\n", n_words, 100.0 * wer_of (REC_B, text), text);
  g_assert_cmpuint (n_words, >=, 4);
  /* the first half of REC_A ("mister john dashwood ...") must not leak in */
  g_assert_null (strstr (text, "dashwood"));
  g_assert_cmpfloat (wer_of (REC_B, text), <=, 0.5);
  gst_harness_teardown (h);
}

static void
check_latency (gboolean live, guint latency_ms, guint lateness_ms)
{
  GstHarness *h = lmd_test_gst_harness_new (live, "latency", latency_ms, "lateness", lateness_ms, NULL);
  gboolean is_live;
  GstClockTime min, max;

  /* the harness holds the element in PLAYING; the query goes to PAUSED too */
  gst_element_set_state (h->element, GST_STATE_PAUSED);
  gst_harness_set_upstream_latency (h, 20 * GST_MSECOND);
  {
    g_autoptr (GstPad) src = gst_element_get_static_pad (h->element, "src");
    g_autoptr (GstQuery) q = gst_query_new_latency ();
    g_assert_true (gst_pad_query (src, q));
    gst_query_parse_latency (q, &is_live, &min, &max);
  }
  printf ("# latency query, upstream %slive, latency %u, lateness %u: live %d, min %" GST_TIME_FORMAT "\n",
          live ? "" : "not ", latency_ms, lateness_ms, is_live, GST_TIME_ARGS (min));
  g_assert_cmpint (is_live, ==, live);
  if (live)
    g_assert_cmpuint (min, ==, 20 * GST_MSECOND + (latency_ms + lateness_ms) * GST_MSECOND);
  else
    g_assert_cmpuint (min, ==, 20 * GST_MSECOND);
  gst_harness_teardown (h);
}

static void
test_latency_query (void)
{
  GstElement *element = gst_element_factory_make ("lightningasr", NULL);
  g_autoptr (GstBus) bus = gst_bus_new ();
  g_autoptr (GstMessage) message = NULL;

  check_latency (TRUE, 8000, 0);
  check_latency (TRUE, 3000, 500);
  check_latency (FALSE, 8000, 0);

  /* a change of latency is announced so that the pipeline asks again */
  gst_element_set_bus (element, bus);
  g_object_set (element, "latency", 4000, NULL);
  message = gst_bus_pop_filtered (bus, GST_MESSAGE_LATENCY);
  g_assert_nonnull (message);
  g_clear_pointer (&message, gst_message_unref);
  g_object_set (element, "latency", 4000, NULL); /* unchanged: nothing */
  g_assert_null (gst_bus_pop_filtered (bus, GST_MESSAGE_LATENCY));
  gst_element_set_bus (element, NULL);
  gst_object_unref (element);
}

static void
on_notify (GObject *object, GParamSpec *pspec, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

static void
on_handoff (GstElement *sink, GstBuffer *buffer, GstPad *pad, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

/* Live upstream pushing much faster than real time with a short latency: the streaming
 * thread never waits; the oldest audio goes, with a WARNING, a DISCONT output and a larger
 * max-observed-delay. */
static void
test_live_drop (void)
{
  g_autofree float *a = NULL;
  g_autoptr (GstBus) bus = gst_bus_new ();
  BusCounts counts = { 0 };
  GstHarness *h;
  GstBuffer *buffer;
  gsize n;
  guint delay = 0, discont = 0;
  gint notified = 0;

  if (!lmd_test_gst_have_librivox ())
    return;
  a = lmd_test_librivox_read (REC_A, &n);
  h = lmd_test_gst_harness_new (TRUE, "latency", 1000, NULL);
  gst_element_set_bus (h->element, bus);
  g_signal_connect (h->element, "notify::max-observed-delay", G_CALLBACK (on_notify), &notified);
  /* the same recording four times over, at once: 28 s of audio against a 1 s queue */
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (lmd_test_gst_push_audio (h, a, n, i * gst_util_uint64_scale (n, GST_SECOND, RATE)), ==, GST_FLOW_OK);
  gst_harness_push_event (h, gst_event_new_eos ());
  lmd_test_gst_wait_eos (h, NULL, NULL);
  while ((buffer = gst_harness_try_pull (h)) != NULL)
    {
      if (GST_BUFFER_FLAG_IS_SET (buffer, GST_BUFFER_FLAG_DISCONT))
        discont++;
      gst_buffer_unref (buffer);
    }
  drain_bus (bus, &counts);
  g_object_get (h->element, "max-observed-delay", &delay, NULL);
  printf ("# live, 28 s pushed at once with latency 1000: %u warnings, max-observed-delay %u ms, "
          "%d notifications, %u DISCONT words\n", counts.warnings, delay, notified, discont);
  g_assert_cmpuint (counts.warnings, >=, 1);
  g_assert_cmpuint (delay, >=, 1000);
  g_assert_cmpint (notified, >=, 1);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

/* Pushes @n samples of speech and @silence_ms of silence, then a serialized marker event;
 * returns whether a final-transcript event came out before the marker, i.e. whether the
 * utterance was finalised within that much silence after its audio (no clock involved). */
static gboolean
final_within_silence (GstHarness *h, const float *samples, gsize n, guint silence_ms)
{
  gsize n_silence = RATE * silence_ms / 1000;
  g_autofree float *silence = g_new0 (float, n_silence);
  gboolean final = FALSE;

  g_assert_cmpint (lmd_test_gst_push_audio (h, samples, n, 0), ==, GST_FLOW_OK);
  g_assert_cmpint (lmd_test_gst_push_audio (h, silence, n_silence, gst_util_uint64_scale (n, GST_SECOND, RATE)), ==,
                   GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                                                                  gst_structure_new_empty ("test/marker"))));
  for (;;)
    {
      GstEvent *event = gst_harness_pull_event (h);
      gboolean marker;

      g_assert_nonnull (event);
      marker = gst_event_has_name (event, "test/marker");
      if (gst_event_has_name (event, "rstranscribe/final-transcript"))
        final = TRUE;
      gst_event_unref (event);
      if (marker)
        return final;
    }
}

/* End of utterance by Silero (vad-model set, eou-timeout left to the detector: 200 ms): the
 * final of a recording comes within 400 ms of silence after its audio; with the engine's own
 * detector (800 ms) it does not yet. */
static void
test_silero_endpointing (void)
{
  g_autofree char *vad_model = lmd_test_fixture_path ("vad", "silero-v6.2.0-ggml.bin", NULL);
  g_autofree float *samples = NULL;
  GstHarness *h;
  gsize n;
  gboolean silero, engine;
  guint eou = 1;

  if (!lmd_test_gst_have_librivox ())
    return;
  samples = lmd_test_librivox_read (REC_B, &n);
  h = lmd_test_gst_harness_new (FALSE, "vad-model", vad_model, "interim-results", FALSE, NULL);
  silero = final_within_silence (h, samples, n, 400);
  g_object_get (h->element, "eou-timeout", &eou, NULL);
  gst_harness_teardown (h);
  h = lmd_test_gst_harness_new (FALSE, "vad", "engine", "interim-results", FALSE, NULL);
  engine = final_within_silence (h, samples, n, 400);
  gst_harness_teardown (h);
  printf ("# final within 400 ms of silence: Silero %s, the engine's detector %s (eou-timeout %u: "
          "the detector's default)\n", silero ? "yes" : "no", engine ? "yes" : "no", eou);
  g_assert_cmpuint (eou, ==, 0);
  g_assert_true (silero);
  g_assert_false (engine);
}

static void
test_missing_model (void)
{
  GstElement *element = gst_element_factory_make ("lightningasr", NULL);
  g_autoptr (GError) error = NULL;

  g_object_set (element, "model", "/nonexistent/model-dir", NULL);
  error = lmd_test_gst_ready_error (element);
  printf ("# missing model: %s\n", error->message);
  g_assert_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/nonexistent/model-dir"));
  gst_object_unref (element);

  /* an engine that does not exist */
  element = gst_element_factory_make ("lightningasr", NULL);
  g_object_set (element, "engine", "nosuchengine", NULL);
  g_assert_cmpint (gst_element_set_state (element, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_object_unref (element);
}

/* State changes while audio flows: a pipeline decoding a recording taken to NULL, PAUSED and
 * PLAYING at random moments; each round must reach its state and the last one must run to
 * EOS with words. */
static void
test_state_stress (void)
{
  g_autofree char *desc = NULL;
  g_autoptr (GError) error = NULL;
  GstElement *pipeline;
  GstBus *bus;
  GRand *rand = g_rand_new_with_seed (16);
  gint words = 0;

  if (!lmd_test_gst_have_librivox ())
    return;
  desc = g_strdup_printf ("filesrc location=%s/%s.wav ! wavparse ! audioconvert ! audioresample ! "
                          "lightningasr name=asr ! fakesink name=sink signal-handoffs=true",
                          lmd_test_librivox_dir (), REC_A);
  pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  for (guint round = 0; round < 20; round++)
    {
      GstState target = (round % 3 == 2) ? GST_STATE_PAUSED : GST_STATE_PLAYING;

      g_assert_cmpint (gst_element_set_state (pipeline, target), !=, GST_STATE_CHANGE_FAILURE);
      g_usleep (g_rand_int_range (rand, 0, 300) * 1000);
      if (round % 4 == 1)
        {
          /* a cheap probe transcriberbin does: READY → PAUSED → NULL */
          g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_READY), !=, GST_STATE_CHANGE_FAILURE);
        }
      g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
      gst_bus_set_flushing (bus, TRUE);
      gst_bus_set_flushing (bus, FALSE);
    }
  /* the pipeline still works after all that */
  {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
    g_autoptr (GstMessage) message = NULL;

    g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), &words);
    gst_object_unref (sink);
    g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
    message = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    g_assert_nonnull (message);
    g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  }
  printf ("# after 20 random state changes: %d words\n", words);
  g_assert_cmpint (words, >=, 10);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_rand_free (rand);
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
      references = lmd_wer_load_transcription (path, &error);
      g_assert_no_error (error);
    }
  g_test_add_func ("/lightningasr/harness/words", test_words);
  g_test_add_func ("/lightningasr/harness/segment", test_segment);
  g_test_add_func ("/lightningasr/harness/gap-over-silence", test_gap_over_silence);
  g_test_add_func ("/lightningasr/harness/messages", test_messages);
  g_test_add_func ("/lightningasr/harness/eos-mid-utterance", test_eos_mid_utterance);
  g_test_add_func ("/lightningasr/harness/flush", test_flush);
  g_test_add_func ("/lightningasr/harness/latency-query", test_latency_query);
  g_test_add_func ("/lightningasr/harness/live-drop", test_live_drop);
  g_test_add_func ("/lightningasr/harness/silero-endpointing", test_silero_endpointing);
  g_test_add_func ("/lightningasr/missing-model", test_missing_model);
  g_test_add_func ("/lightningasr/state-stress", test_state_stress);
  ret = g_test_run ();
  g_clear_pointer (&references, g_hash_table_unref);
  gst_deinit ();
  return ret;
}
