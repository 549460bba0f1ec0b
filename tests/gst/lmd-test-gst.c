/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-gst.c — the GstHarness helpers of the lightningasr tests (lmd-test-gst.h).
 */
#include "lmd-test-gst.h"

#include <string.h>

#include "lmd-test-audio.h"

#define RATE LMD_TEST_LIBRIVOX_RATE
#define CHUNK_MS 100

gboolean
lmd_test_gst_have_librivox (void)
{
  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

GstHarness *
lmd_test_gst_harness_new (gboolean live, const char *first_prop, ...)
{
  GstHarness *h;
  GstElement *element = gst_element_factory_make ("lightningasr", NULL);
  va_list args;

  g_assert_nonnull (element);
  va_start (args, first_prop);
  if (first_prop != NULL)
    g_object_set_valist (G_OBJECT (element), first_prop, args);
  va_end (args);
  h = gst_harness_new_with_element (element, "sink", "src");
  gst_object_unref (element);
  gst_harness_set_live (h, live);
  gst_harness_set_src_caps_str (h, "audio/x-raw, format=S16LE, rate=16000, channels=1, "
                                   "layout=interleaved");
  return h;
}

GstFlowReturn
lmd_test_gst_push_audio (GstHarness *h, const float *samples, gsize n, GstClockTime offset)
{
  gsize chunk = RATE * CHUNK_MS / 1000;

  for (gsize i = 0; i < n; i += chunk)
    {
      gsize m = MIN (chunk, n - i);
      GstBuffer *buffer = gst_buffer_new_allocate (NULL, m * 2, NULL);
      GstMapInfo map;
      GstFlowReturn ret;

      gst_buffer_map (buffer, &map, GST_MAP_WRITE);
      for (gsize k = 0; k < m; k++)
        ((gint16 *) map.data)[k] = samples != NULL
                                     ? (gint16) CLAMP (samples[i + k] * 32767.0f, -32768.0f, 32767.0f)
                                     : 0;
      gst_buffer_unmap (buffer, &map);
      GST_BUFFER_PTS (buffer) = offset + gst_util_uint64_scale (i, GST_SECOND, RATE);
      GST_BUFFER_DURATION (buffer) = gst_util_uint64_scale (m, GST_SECOND, RATE);
      ret = gst_harness_push (h, buffer);
      if (ret != GST_FLOW_OK)
        return ret;
    }
  return GST_FLOW_OK;
}

void
lmd_test_gst_flush (GstHarness *h)
{
  GstSegment segment;
  GstBuffer *buffer;

  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  while ((buffer = gst_harness_try_pull (h)) != NULL)
    gst_buffer_unref (buffer);
  gst_segment_init (&segment, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&segment)));
}

guint
lmd_test_gst_wait_eos (GstHarness *h, guint *final_events, gboolean *gap)
{
  for (;;)
    {
      GstEvent *event = gst_harness_pull_event (h);
      gboolean eos;

      g_assert_nonnull (event);
      eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
      if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
          gst_event_has_name (event, "rstranscribe/final-transcript") && final_events != NULL)
        (*final_events)++;
      if (GST_EVENT_TYPE (event) == GST_EVENT_GAP && gap != NULL)
        *gap = TRUE;
      gst_event_unref (event);
      if (eos)
        return gst_harness_buffers_in_queue (h);
    }
}

char *
lmd_test_gst_collect_words (GstHarness *h, GstClockTime lo, GstClockTime hi, guint *n_words)
{
  GString *text = g_string_new (NULL);
  GstClockTime last = 0;
  GstBuffer *buffer;

  *n_words = 0;
  while ((buffer = gst_harness_try_pull (h)) != NULL)
    {
      GstMapInfo map;

      g_assert_true (GST_BUFFER_PTS_IS_VALID (buffer));
      g_assert_true (GST_BUFFER_DURATION_IS_VALID (buffer));
      g_assert_cmpuint (GST_BUFFER_PTS (buffer), >=, lo);
      g_assert_cmpuint (GST_BUFFER_PTS (buffer) + GST_BUFFER_DURATION (buffer), <=, hi);
      g_assert_cmpuint (GST_BUFFER_PTS (buffer), >=, last);
      last = GST_BUFFER_PTS (buffer) + GST_BUFFER_DURATION (buffer);
      gst_buffer_map (buffer, &map, GST_MAP_READ);
      g_assert_cmpuint (map.size, >, 0);
      g_assert_true (g_utf8_validate ((const char *) map.data, map.size, NULL));
      g_assert_null (memchr (map.data, ' ', map.size)); /* one word per buffer */
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append_len (text, (const char *) map.data, map.size);
      gst_buffer_unmap (buffer, &map);
      gst_buffer_unref (buffer);
      (*n_words)++;
    }
  return g_string_free (text, FALSE);
}

const GValue *
lmd_test_gst_check_result_fields (const GstStructure *s, gboolean *is_final, guint64 *start,
                                  guint64 *end)
{
  const GValue *words = gst_structure_get_value (s, "words");
  double confidence = -1.0;

  g_assert_nonnull (gst_structure_get_string (s, "transcript"));
  g_assert_true (gst_structure_get_boolean (s, "is-final", is_final));
  g_assert_true (gst_structure_get_uint64 (s, "start", start));
  g_assert_true (gst_structure_get_uint64 (s, "end", end));
  g_assert_cmpuint (*start, <=, *end);
  g_assert_true (gst_structure_get_double (s, "confidence", &confidence));
  g_assert_cmpfloat (confidence, >=, 0.0);
  g_assert_cmpfloat (confidence, <=, 1.0);
  g_assert_cmpstr (gst_structure_get_string (s, "language-code"), ==, "en-US");
  g_assert_nonnull (words);
  g_assert_true (GST_VALUE_HOLDS_LIST (words));
  return words;
}

GError *
lmd_test_gst_ready_error (GstElement *element)
{
  g_autoptr (GstBus) bus = gst_bus_new ();
  g_autoptr (GstMessage) message = NULL;
  GError *error = NULL;

  gst_element_set_bus (element, bus);
  g_assert_cmpint (gst_element_set_state (element, GST_STATE_READY), ==, GST_STATE_CHANGE_FAILURE);
  message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  gst_message_parse_error (message, &error, NULL);
  g_assert_nonnull (error);
  gst_element_set_state (element, GST_STATE_NULL);
  gst_element_set_bus (element, NULL);
  return error;
}
