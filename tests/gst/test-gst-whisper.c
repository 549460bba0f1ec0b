/* SPDX-License-Identifier: MIT */
/*
 * test-gst-whisper.c — lightningasr with engine=whisper under GstHarness, on the repository's
 * random-weight whisper fixture (tests/fixtures/whisper/tiny-en-random) and Silero fixture
 * (tests/fixtures/vad).  The weights are random, so the text says nothing: the tests assert
 * what does not depend on it.
 *   - /lightningasr/whisper/stream: two LibriVox recordings separated by 2 s of silence, then
 *     EOS: NULL→READY loads the model, the stream runs to EOS without an ERROR, at least one
 *     final and at most six (finals are posted only for utterances with words; every bus
 *     message has the documented fields, finals in order), every word buffer is one word
 *     with PTS and duration inside the audio and in order, one
 *     rstranscribe/final-transcript event per final, all before EOS;
 *   - /lightningasr/whisper/flush: a flush in the middle of the first recording, then the
 *     second recording and EOS: the element takes audio again and EOS comes out;
 *   - /lightningasr/whisper/no-vad-model: vad=engine with whisper fails NULL→READY with
 *     GST_RESOURCE_ERROR_NOT_FOUND naming vad-model (whisper finds utterances only with
 *     Silero), and a missing vad-model file fails it the same way, naming the file.
 */
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-fixtures.h"
#include "lmd-test-gst.h"

#define RATE LMD_TEST_LIBRIVOX_RATE
#define REC_A "sense_and_sensibility_01_austen_64kb-0880"
#define REC_B "sense_and_sensibility_01_austen_64kb-0930"

static char *model_path;
static char *vad_path;

/* engine=whisper on the fixture model and Silero, interim results off; upstream live (the
 * harness's default). */
static GstHarness *
harness_new (void)
{
  return lmd_test_gst_harness_new (TRUE, "engine", "whisper", "model", model_path, "vad-model",
                                   vad_path, "interim-results", FALSE, NULL);
}

typedef struct {
  guint finals;       /* is-final messages */
  guint errors;
  GstClockTime last_end;
} Bus;

static void
drain_bus (GstBus *bus, Bus *out, GstClockTime duration)
{
  GstMessage *m;

  while ((m = gst_bus_pop (bus)) != NULL)
    {
      const GstStructure *s = gst_message_get_structure (m);

      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR)
        {
          g_autoptr (GError) error = NULL;
          gst_message_parse_error (m, &error, NULL);
          g_printerr ("ERROR: %s\n", error->message);
          out->errors++;
        }
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT && gst_structure_has_name (s, "lightningasr"))
        {
          gboolean is_final = FALSE;
          guint64 start = 0, end = 0;
          const GValue *words = lmd_test_gst_check_result_fields (s, &is_final, &start, &end);

          g_assert_cmpuint (end, <=, duration);
          if (is_final)
            {
              g_assert_cmpuint (gst_value_list_get_size (words), >, 0);
              g_assert_cmpuint (start, >=, out->last_end > 0 ? out->last_end - 1 : 0);
              out->last_end = end;
              out->finals++;
            }
        }
      gst_message_unref (m);
    }
}

static void
test_stream (void)
{
  g_autofree float *a = NULL, *b = NULL;
  g_autofree float *silence = g_new0 (float, 2 * RATE);
  g_autoptr (GstBus) bus = gst_bus_new ();
  g_autoptr (GstCaps) caps = NULL;
  Bus counts = { 0 };
  GstHarness *h;
  gsize na, nb;
  guint final_events = 0, before_eos, words;
  GstClockTime t_b, duration;

  if (!lmd_test_gst_have_librivox ())
    return;
  a = lmd_test_librivox_read (REC_A, &na);
  b = lmd_test_librivox_read (REC_B, &nb);
  t_b = gst_util_uint64_scale (na + 2 * RATE, GST_SECOND, RATE);
  duration = t_b + gst_util_uint64_scale (nb + 2 * RATE, GST_SECOND, RATE);
  h = harness_new ();
  gst_element_set_bus (h->element, bus);
  g_assert_cmpint (lmd_test_gst_push_audio (h, a, na, 0), ==, GST_FLOW_OK);
  g_assert_cmpint (lmd_test_gst_push_audio (h, silence, 2 * RATE, gst_util_uint64_scale (na, GST_SECOND, RATE)), ==, GST_FLOW_OK);
  g_assert_cmpint (lmd_test_gst_push_audio (h, b, nb, t_b), ==, GST_FLOW_OK);
  g_assert_cmpint (lmd_test_gst_push_audio (h, silence, 2 * RATE, t_b + gst_util_uint64_scale (nb, GST_SECOND, RATE)), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  before_eos = lmd_test_gst_wait_eos (h, &final_events, NULL);
  caps = gst_pad_get_current_caps (h->sinkpad);
  g_assert_nonnull (caps);
  g_assert_true (gst_caps_is_fixed (caps));
  g_free (lmd_test_gst_collect_words (h, 0, duration, &words));
  drain_bus (bus, &counts, duration);
  printf ("# whisper (random weights) + Silero: %u word buffers (%u before EOS), %u finals with "
          "words, %u final-transcript events, %u errors\n",
          words, before_eos, counts.finals, final_events, counts.errors);
  g_assert_cmpuint (counts.errors, ==, 0);
  g_assert_cmpuint (before_eos, ==, words);
  /* one event per final with words, none without */
  g_assert_cmpuint (final_events, ==, counts.finals);
  /* two recordings 2 s apart: at most one utterance each besides splits at pauses */
  g_assert_cmpuint (counts.finals, >=, 1);
  g_assert_cmpuint (counts.finals, <=, 6);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

static void
test_flush (void)
{
  g_autofree float *a = NULL, *b = NULL;
  g_autoptr (GstBus) bus = gst_bus_new ();
  Bus counts = { 0 };
  GstHarness *h;
  gsize na, nb;
  guint final_events = 0, words;

  if (!lmd_test_gst_have_librivox ())
    return;
  a = lmd_test_librivox_read (REC_A, &na);
  b = lmd_test_librivox_read (REC_B, &nb);
  h = harness_new ();
  gst_element_set_bus (h->element, bus);
  g_assert_cmpint (lmd_test_gst_push_audio (h, a, na / 2, 0), ==, GST_FLOW_OK);
  lmd_test_gst_flush (h);
  g_assert_cmpint (lmd_test_gst_push_audio (h, b, nb, 0), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  lmd_test_gst_wait_eos (h, &final_events, NULL);
  g_free (lmd_test_gst_collect_words (h, 0, gst_util_uint64_scale (nb, GST_SECOND, RATE), &words));
  drain_bus (bus, &counts, G_MAXUINT64);
  printf ("# whisper after a flush: EOS came, %u finals, %u errors\n", counts.finals, counts.errors);
  g_assert_cmpuint (counts.errors, ==, 0);
  gst_element_set_bus (h->element, NULL);
  gst_harness_teardown (h);
}

static void
expect_ready_fails (const char *vad, const char *vad_model, const char *named)
{
  GstElement *element = gst_element_factory_make ("lightningasr", NULL);
  g_autoptr (GError) error = NULL;

  g_object_set (element, "engine", "whisper", "model", model_path, "vad", vad, "vad-model",
                vad_model, NULL);
  error = lmd_test_gst_ready_error (element);
  printf ("# whisper, vad=%s vad-model=%s: %s\n", vad, vad_model ? vad_model : "(none)", error->message);
  g_assert_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, named));
  gst_object_unref (element);
}

static void
test_no_vad_model (void)
{
  expect_ready_fails ("engine", vad_path, "vad-model");
  expect_ready_fails ("auto", "/nonexistent/silero.bin", "/nonexistent/silero.bin");
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  model_path = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
  vad_path = lmd_test_fixture_path ("vad", "silero-v6.2.0-ggml.bin", NULL);
  g_test_add_func ("/lightningasr/whisper/stream", test_stream);
  g_test_add_func ("/lightningasr/whisper/flush", test_flush);
  g_test_add_func ("/lightningasr/whisper/no-vad-model", test_no_vad_model);
  ret = g_test_run ();
  g_free (model_path);
  g_free (vad_path);
  gst_deinit ();
  return ret;
}
