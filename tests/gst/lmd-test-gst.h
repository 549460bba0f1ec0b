/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-gst.h — what the GstHarness tests of lightningasr share: the harness around a fresh
 * element, LibriVox samples pushed as S16LE buffers, EOS awaited, the word buffers checked,
 * the documented fields of a result message checked, the error of a failing NULL→READY.
 */
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/* Whether pocketsphinx-testdata is installed; skips the test when it is not. */
gboolean lmd_test_gst_have_librivox (void);

/* A harness around a fresh lightningasr with the properties @first_prop, … set (a NULL-ended
 * list of name/value pairs, or NULL alone), upstream live or not, S16LE mono 16 kHz caps.
 * (transfer full) free with gst_harness_teardown(). */
GstHarness *lmd_test_gst_harness_new (gboolean live, const char *first_prop, ...);

/* Pushes @n samples of @samples (NULL: silence) as S16LE buffers of 100 ms, stamped from
 * @offset; the first flow return that is not GST_FLOW_OK, else GST_FLOW_OK. */
GstFlowReturn lmd_test_gst_push_audio (GstHarness *h, const float *samples, gsize n,
                                       GstClockTime offset);

/* A flush: FLUSH_START, FLUSH_STOP resetting the running time, the buffers out so far dropped,
 * and a new TIME segment from 0. */
void lmd_test_gst_flush (GstHarness *h);

/* Pulls events until EOS; counts the rstranscribe/final-transcript events into @final_events
 * and sets @gap on a GAP event (both nullable).  Returns the buffers out before EOS. */
guint lmd_test_gst_wait_eos (GstHarness *h, guint *final_events, gboolean *gap);

/* Takes every word buffer out and checks it: PTS and duration set, inside [@lo, @hi], in
 * order, one valid UTF-8 word.  (transfer full) the words joined by spaces; their count in
 * *@n_words. */
char *lmd_test_gst_collect_words (GstHarness *h, GstClockTime lo, GstClockTime hi, guint *n_words);

/* Checks the documented fields of a "lightningasr" result message's structure @s: transcript,
 * is-final, start <= end, confidence in [0, 1], language-code en-US, words a list.  Returns
 * the words (transfer none) and the fields in the out arguments. */
const GValue *lmd_test_gst_check_result_fields (const GstStructure *s, gboolean *is_final,
                                                guint64 *start, guint64 *end);

/* Takes @element (in NULL, on no bus) to READY, which must fail with an ERROR message on the
 * bus; puts it back in NULL without a bus.  (transfer full) the message's error. */
GError *lmd_test_gst_ready_error (GstElement *element);

G_END_DECLS
