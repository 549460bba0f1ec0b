/* SPDX-License-Identifier: MIT */
/*
 * test-gst-conventions.c — every convention gst-plugins-rs's transcriberbin
 * (video/closedcaption/src/transcriberbin) relies on in a transcriber, checked on
 * lightningasr the way transcriberbin itself uses it (transcriberbin is not packaged in
 * Debian, so it cannot run here):
 *   - /lightningasr/conventions/properties: transcriberbin sets "language-code" with a string
 *     (set_property: a property of another type would abort it); it sets "transcribe-latency"
 *     when a guint property of that name exists, else "latency", and "lateness" and
 *     "translate-latency" only when they are guint properties (has_property_with_type): so
 *     language-code is a string, latency and lateness are guint, there is no
 *     transcribe-latency or translate-latency (they would take the settings instead), and
 *     max-observed-delay is a read-only guint; "en" and "en-US" both reach READY;
 *   - /lightningasr/conventions/latency-probe: transcriberbin's query_latency(): a fakesrc
 *     is-live=true linked to the element in NULL, the element set to PAUSED, a LATENCY
 *     query on each src pad (it must be handled: transcriberbin fails otherwise), unlinked,
 *     set to NULL; the answer is the latency and lateness transcriberbin configured (live
 *     upstream with no latency of its own), and a second probe after other settings answers
 *     those;
 *   - /lightningasr/conventions/output: the pads transcriberbin links (static "sink" and
 *     "src"; no translate_src_%u request pad, which it asks for only when translating),
 *     fixed caps text/x-raw,format=utf8 before the first buffer, one word per buffer (what
 *     textwrap and tttocea608 expect), and after the words of each final the serialized
 *     custom downstream event "rstranscribe/final-transcript" (tttocea608 starts a new line
 *     on it), in that order on the pad, one per final bus message.
 */
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

#include "lmd-test-audio.h"

#define RATE LMD_TEST_LIBRIVOX_RATE
#define REC "sense_and_sensibility_01_austen_64kb-0870"

static void
check_uint_property (GObjectClass *klass, const char *name, gboolean writable)
{
  GParamSpec *pspec = g_object_class_find_property (klass, name);

  g_assert_nonnull (pspec);
  g_assert_cmpuint (G_PARAM_SPEC_VALUE_TYPE (pspec), ==, G_TYPE_UINT);
  g_assert_true (pspec->flags & G_PARAM_READABLE);
  g_assert_cmpint (!!(pspec->flags & G_PARAM_WRITABLE), ==, writable);
}

static void
test_properties (void)
{
  GstElement *element = gst_element_factory_make ("lightningasr", NULL);
  GObjectClass *klass = G_OBJECT_GET_CLASS (element);
  GParamSpec *pspec = g_object_class_find_property (klass, "language-code");
  const char *codes[] = { "en", "en-US" };

  g_assert_nonnull (pspec);
  g_assert_cmpuint (G_PARAM_SPEC_VALUE_TYPE (pspec), ==, G_TYPE_STRING);
  g_assert_true (pspec->flags & G_PARAM_WRITABLE);
  check_uint_property (klass, "latency", TRUE);
  check_uint_property (klass, "lateness", TRUE);
  check_uint_property (klass, "max-observed-delay", FALSE);
  g_assert_null (g_object_class_find_property (klass, "transcribe-latency"));
  g_assert_null (g_object_class_find_property (klass, "translate-latency"));
  g_assert_cmpuint (G_PARAM_SPEC_VALUE_TYPE (g_object_class_find_property (klass, "interim-results")),
                    ==, G_TYPE_BOOLEAN);
  gst_object_unref (element);

  for (gsize i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      element = gst_element_factory_make ("lightningasr", NULL);
      /* as transcriberbin does: a string, set while the element is in NULL */
      g_object_set (element, "language-code", codes[i], NULL);
      g_assert_cmpint (gst_element_set_state (element, GST_STATE_READY), ==, GST_STATE_CHANGE_SUCCESS);
      g_assert_cmpint (gst_element_set_state (element, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
      gst_object_unref (element);
    }
}

/* transcriberbin's query_latency(), step by step; returns the minimum latency answered. */
static GstClockTime
probe_latency (GstElement *element)
{
  GstElement *fakesrc = gst_element_factory_make ("fakesrc", NULL);
  GstIterator *pads;
  GValue item = G_VALUE_INIT;
  GstClockTime min_max = 0;
  guint n_src = 0;

  g_assert_nonnull (fakesrc);
  g_object_set (fakesrc, "is-live", TRUE, NULL);
  g_assert_true (gst_element_link (fakesrc, element));
  g_assert_cmpint (gst_element_set_state (element, GST_STATE_PAUSED), !=, GST_STATE_CHANGE_FAILURE);
  pads = gst_element_iterate_src_pads (element);
  while (gst_iterator_next (pads, &item) == GST_ITERATOR_OK)
    {
      GstPad *pad = g_value_get_object (&item);
      g_autoptr (GstQuery) q = gst_query_new_latency ();
      gboolean live;
      GstClockTime min, max;

      g_assert_true (gst_pad_query (pad, q)); /* transcriberbin: "impossible to query latency" */
      gst_query_parse_latency (q, &live, &min, &max);
      g_assert_true (live);
      min_max = MAX (min_max, min);
      n_src++;
      g_value_reset (&item);
    }
  g_value_unset (&item);
  gst_iterator_free (pads);
  g_assert_cmpuint (n_src, ==, 1);
  gst_element_unlink (fakesrc, element);
  g_assert_cmpint (gst_element_set_state (element, GST_STATE_NULL), ==, GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (fakesrc);
  return min_max;
}

static void
test_latency_probe (void)
{
  GstElement *element = gst_element_factory_make ("lightningasr", NULL);
  GstClockTime min;

  /* configure_transcriber(): latency and lateness in milliseconds, as guint */
  g_object_set (element, "latency", (guint) 4000, "lateness", (guint) 0, NULL);
  min = probe_latency (element);
  printf ("# probe with latency 4000, lateness 0: min %" GST_TIME_FORMAT "\n", GST_TIME_ARGS (min));
  g_assert_cmpuint (min, ==, 4000 * GST_MSECOND);
  g_object_set (element, "latency", (guint) 6000, "lateness", (guint) 500, NULL);
  min = probe_latency (element);
  printf ("# probe with latency 6000, lateness 500: min %" GST_TIME_FORMAT "\n", GST_TIME_ARGS (min));
  g_assert_cmpuint (min, ==, 6500 * GST_MSECOND);
  gst_object_unref (element);
}

typedef struct {
  GstCaps *expected;          /* text/x-raw, format=utf8 */
  GString *order;             /* 'W' a word buffer, 'F' a final-transcript event */
  gboolean caps_before_data;
  gboolean saw_caps;
  gboolean fixed_caps;
  gboolean one_word;
} Seen;

static GstPadProbeReturn
on_src_data (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Seen *seen = data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
    {
      GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
      GstMapInfo map;

      if (!seen->saw_caps)
        seen->caps_before_data = FALSE;
      gst_buffer_map (buffer, &map, GST_MAP_READ);
      if (map.size == 0 || memchr (map.data, ' ', map.size) != NULL)
        seen->one_word = FALSE;
      gst_buffer_unmap (buffer, &map);
      g_string_append_c (seen->order, 'W');
    }
  else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

      if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
        {
          GstCaps *caps;
          gst_event_parse_caps (event, &caps);
          seen->saw_caps = TRUE;
          seen->fixed_caps = gst_caps_is_fixed (caps) &&
                             gst_caps_is_equal (caps, seen->expected);
        }
      if (GST_EVENT_TYPE (event) == GST_EVENT_CUSTOM_DOWNSTREAM &&
          gst_event_has_name (event, "rstranscribe/final-transcript"))
        g_string_append_c (seen->order, 'F');
    }
  return GST_PAD_PROBE_OK;
}

static void
test_output (void)
{
  g_autofree char *desc = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GstMessage) eos = NULL;
  Seen seen = { gst_caps_from_string ("text/x-raw, format=(string)utf8"), g_string_new (NULL),
                TRUE, FALSE, FALSE, TRUE };
  GstElement *pipeline, *asr;
  GstPad *src;
  GstBus *bus;
  GstMessage *m;
  guint finals = 0, events = 0;
  GstPadTemplate *templ;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  desc = g_strdup_printf ("filesrc location=%s/%s.wav ! wavparse ! audioconvert ! audioresample ! "
                          "lightningasr name=asr interim-results=false ! fakesink",
                          lmd_test_librivox_dir (), REC);
  pipeline = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  asr = gst_bin_get_by_name (GST_BIN (pipeline), "asr");
  /* the pads transcriberbin links: static sink and src, always */
  templ = gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (asr), "src");
  g_assert_nonnull (templ);
  g_assert_cmpint (GST_PAD_TEMPLATE_PRESENCE (templ), ==, GST_PAD_ALWAYS);
  g_assert_null (gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (asr), "translate_src_%u"));
  src = gst_element_get_static_pad (asr, "src");
  g_assert_nonnull (src);
  g_assert_nonnull (gst_element_get_static_pad (asr, "sink"));
  gst_object_unref (gst_element_get_static_pad (asr, "sink"));
  gst_pad_add_probe (src, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     on_src_data, &seen, NULL);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=, GST_STATE_CHANGE_FAILURE);
  while ((m = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
                                          GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT)) != NULL)
    {
      GstMessageType type = GST_MESSAGE_TYPE (m);
      gboolean is_final = FALSE;

      if (type == GST_MESSAGE_ELEMENT &&
          gst_structure_has_name (gst_message_get_structure (m), "lightningasr") &&
          gst_structure_get_boolean (gst_message_get_structure (m), "is-final", &is_final) && is_final)
        finals++;
      if (type != GST_MESSAGE_ELEMENT)
        {
          eos = m;
          break;
        }
      gst_message_unref (m);
    }
  g_assert_nonnull (eos);
  g_assert_cmpint (GST_MESSAGE_TYPE (eos), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  for (gsize i = 0; i < seen.order->len; i++)
    events += seen.order->str[i] == 'F';
  printf ("# %u finals; on the src pad (W word, F final-transcript): %s\n", finals, seen.order->str);
  g_assert_true (seen.saw_caps);
  g_assert_true (seen.fixed_caps);
  g_assert_true (seen.caps_before_data);
  g_assert_true (seen.one_word);
  g_assert_cmpuint (finals, >=, 1);
  g_assert_cmpuint (events, ==, finals);
  /* words, then their event: every F follows a W, and the stream ends with an F */
  g_assert_cmpint (seen.order->str[0], ==, 'W');
  g_assert_cmpint (seen.order->str[seen.order->len - 1], ==, 'F');
  g_assert_null (strstr (seen.order->str, "FF"));
  g_string_free (seen.order, TRUE);
  gst_caps_unref (seen.expected);
  gst_object_unref (src);
  gst_object_unref (asr);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

int
main (int argc, char **argv)
{
  int ret;

  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lightningasr/conventions/properties", test_properties);
  g_test_add_func ("/lightningasr/conventions/latency-probe", test_latency_probe);
  g_test_add_func ("/lightningasr/conventions/output", test_output);
  ret = g_test_run ();
  gst_deinit ();
  return ret;
}
