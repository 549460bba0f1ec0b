/* SPDX-License-Identifier: MIT */
/*
 * test-vad-stream — live transcription with Silero endpointing against the real daemon
 * ([vad] model = the Silero fixture):
 *   - /vad-stream/whisper/realtime: a whisper model (the random-weight tiny-en-random
 *     fixture) streamed two LibriVox recordings separated by silence at real-time pace:
 *     interims arrive before the end of their utterance's audio and only ever extend the
 *     previous interim (committed words are never taken back); one final per utterance, each
 *     right after its speech_ended event and at least eou_timeout_ms after it, whose time is
 *     where the streaming tracker, run by the test over the whole signal's probabilities,
 *     puts the end of a speech segment the VAD finds (the test computes the segments itself
 *     with lmw_vad_segments: the model's weights are random, so the text says nothing);
 *     exactly one is_last, the last message;
 *   - /vad-stream/whisper/fast: the same audio sent as fast as the socket takes it: every
 *     final still comes, no interim (the stream is behind its input all along: interims are
 *     skipped, finals never), one is_last;
 *   - /vad-stream/whisper/vad-off: vad=false on a whisper stream is refused (INVALID_PARAMETER)
 *     and the server goes on serving;
 *   - /vad-stream/whisper/no-vad-model: a server without [vad] model refuses whisper streams
 *     (SERVICE_UNAVAILABLE, the model named) and still transcribes batch requests;
 *   - /vad-stream/whisper/metrics, /vad-stream/sphinx-silero/metrics: a stream of 1 s of
 *     silence, a recording and 2.5 s of silence adds to /metrics' asr_vad_seconds_total and
 *     asr_vad_skipped_audio_seconds_total (at least the silence outside the utterance, at most
 *     the stream's length);
 *   - /vad-stream/sphinx-silero: the five LibriVox recordings streamed to the sphinx engine with
 *     its own noise tracker and with vad=silero: the WER of each (printed) and the silero one
 *     no worse than the sphinx one (+1 point of slack for ties in rounding); speech events
 *     from Silero at the times of its segments; each final right after its speech_ended, its
 *     words ending before that time plus eou_timeout_ms (audio time).
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"
#include "lmd-wer.h"
#include "lmw-vad.h"
#include "lmw-vad-tracker.h"

#define RATE 16000
#define FRAME_MS 100
#define EOU_MS 1000
/* the tracker decides per 32 ms window, the batch segments too: the same windows, so a
 * speech event lies within a window or two of its segment's edge */
#define EDGE_TOLERANCE_S 0.1

static char *fixtures;
static LmdTestServer *server;
static SoupSession *session;

static gboolean
slow_build (void)
{
#ifdef __SANITIZE_ADDRESS__
  return TRUE;
#else
  const char *wrapper = g_getenv ("LMD_TEST_DAEMON_WRAPPER");
  return wrapper != NULL && wrapper[0] != '\0';
#endif
}

static char *
ws_url (const char *path_and_query)
{
  return g_strdup_printf ("ws://127.0.0.1:%u%s", lmd_test_server_get_port (server), path_and_query);
}

/* ---- the signal and its truth -------------------------------------------------------------- */

static void
append_silence (GArray *out, double seconds)
{
  guint32 r = 99;

  for (guint i = 0; i < (guint) (seconds * RATE); i++)
    {
      float v;

      r = r * 1664525u + 1013904223u;
      v = (float) ((int) (r >> 28) - 8) / 32768.0f; /* a few LSBs of noise */
      g_array_append_val (out, v);
    }
}

static void
append_recording (GArray *out, const char *id)
{
  gsize n = 0;
  g_autofree float *pcm = lmd_test_librivox_read (id, &n);

  g_assert_nonnull (pcm);
  g_array_append_vals (out, pcm, (guint) n);
}

typedef struct {
  double start, end; /* s: the speech (segment without its padding) */
  double ended;      /* s: where the streaming tracker says it ended (its speech_fall) */
} Utterance;

/* The utterances a stream with end-of-utterance timeout @eou_s finds in @pcm: the VAD's
 * segments (default settings) without their padding, those separated by less than @eou_s
 * merged; each with the end the streaming tracker reports for it, run over the same
 * probabilities (where the probability began to fall into the silence). */
static GArray *
vad_utterances (const float *pcm, gsize n, double eou_s)
{
  g_autofree char *path = g_build_filename (fixtures, "vad", "silero-v6.2.0-ggml.bin", NULL);
  lmw_error err = { 0 };
  lmw_vad_model *model = lmw_vad_model_load_file (path, &err);
  lmw_vad_state *state;
  lmw_vad_params params = lmw_vad_default_params ();
  float *probs = NULL;
  size_t n_probs = 0, n_segments = 0;
  lmw_vad_segment *segments = NULL;
  GArray *out = g_array_new (FALSE, FALSE, sizeof (Utterance));
  double pad = params.speech_pad_ms / 1000.0;

  g_assert_nonnull (model);
  state = lmw_vad_state_new (model, &err);
  g_assert_nonnull (state);
  g_assert_cmpint (lmw_vad_probs (state, pcm, n, &probs, &n_probs, &err), ==, 0);
  g_assert_cmpint (lmw_vad_segments (probs, n_probs, lmw_vad_model_window (model), n, &params,
                                     &segments, &n_segments, &err), ==, 0);
  lmw_vad_tracker tracker;
  g_autoptr (GArray) ends = g_array_new (FALSE, FALSE, sizeof (double)); /* speech_end, speech_fall */

  lmw_vad_tracker_init (&tracker, &params, lmw_vad_model_window (model));
  for (size_t i = 0; i < n_probs; i++)
    if (lmw_vad_tracker_push (&tracker, probs[i]) == LMW_VAD_SPEECH_ENDED)
      {
        double pair[2] = { (double) tracker.speech_end / RATE, (double) tracker.speech_fall / RATE };
        g_array_append_vals (ends, pair, 2);
      }
  for (size_t i = 0; i < n_segments; i++)
    {
      Utterance u = { (double) segments[i].start / RATE + pad, (double) segments[i].end / RATE - pad, 0.0 };

      u.ended = u.end;
      for (guint e = 0; e < ends->len; e += 2)
        if (fabs (g_array_index (ends, double, e) - u.end) < EDGE_TOLERANCE_S)
          u.ended = g_array_index (ends, double, e + 1);

      if (out->len > 0 && u.start - g_array_index (out, Utterance, out->len - 1).end < eou_s)
        {
          g_array_index (out, Utterance, out->len - 1).end = u.end;
          g_array_index (out, Utterance, out->len - 1).ended = u.ended;
        }
      else
        g_array_append_val (out, u);
    }
  free (probs);
  free (segments);
  lmw_vad_state_free (state);
  lmw_vad_model_free (model);
  return out;
}

/* ---- driving a stream --------------------------------------------------------------------- */

typedef struct {
  LmdTestStream *stream;
  GBytes *bytes;
  gsize frame_bytes;
  gsize offset;
  gint64 started;
  gboolean close_sent;
} Client;

/* Sends each client's audio in frames (at real time when @realtime), then close_stream, and
 * waits until every connection is closed. */
static void
drive (Client *clients, guint n, gboolean realtime)
{
  gint64 deadline;
  guint open;

  for (guint i = 0; i < n; i++)
    clients[i].started = g_get_monotonic_time ();
  deadline = g_get_monotonic_time () + 300 * G_USEC_PER_SEC;
  do
    {
      gint64 now = g_get_monotonic_time ();

      open = 0;
      for (guint i = 0; i < n; i++)
        {
          Client *c = &clients[i];
          gsize total = g_bytes_get_size (c->bytes);

          if (!c->stream->closed)
            open++;
          while (c->offset < total && !c->stream->closed)
            {
              gsize len = MIN (c->frame_bytes, total - c->offset);
              gint64 due = c->started + (gint64) ((c->offset + len) / (2.0 * RATE) * G_USEC_PER_SEC);

              if (realtime && now < due)
                break;
              lmd_test_stream_send (c->stream, (const guint8 *) g_bytes_get_data (c->bytes, NULL) + c->offset, len);
              c->offset += len;
            }
          if (c->offset == total && !c->close_sent)
            {
              lmd_test_stream_send_text (c->stream, "{\"type\":\"close_stream\"}");
              c->close_sent = TRUE;
            }
        }
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (2000);
    }
  while (open > 0 && g_get_monotonic_time () < deadline);
  g_assert_cmpuint (open, ==, 0);
}

static LmdTestStream *
stream_audio (const char *query, const float *pcm, gsize n, gboolean realtime)
{
  g_autofree char *url = ws_url (query);
  g_autoptr (GError) error = NULL;
  Client c = { 0 };

  c.stream = lmd_test_stream_connect (session, url, &error);
  g_assert_no_error (error);
  c.bytes = lmd_test_encode_linear16 (pcm, n);
  c.frame_bytes = 2 * RATE * FRAME_MS / 1000;
  drive (&c, 1, realtime);
  g_bytes_unref (c.bytes);
  return c.stream;
}

static gboolean
is_type (JsonObject *m, const char *type)
{
  return json_object_has_member (m, "type") &&
         g_str_equal (json_object_get_string_member (m, "type"), type);
}

static gboolean
is_result (JsonObject *m, gboolean final)
{
  return json_object_has_member (m, "is_final") && !json_object_get_boolean_member (m, "is_last") &&
         json_object_get_boolean_member (m, "is_final") == final;
}

/* One is_last, the last message; the close normal. */
static void
check_last (LmdTestStream *s)
{
  g_assert_cmpuint (s->close_code, ==, 1000);
  g_assert_cmpuint (s->n_last, ==, 1);
  g_assert_true (json_object_get_boolean_member (g_ptr_array_index (s->messages, s->messages->len - 1),
                                                 "is_last"));
}

/* ---- whisper ------------------------------------------------------------------------------- */

static float *
whisper_signal (gsize *n)
{
  GArray *a = g_array_new (FALSE, FALSE, sizeof (float));

  append_silence (a, 1.0);
  append_recording (a, "sense_and_sensibility_01_austen_64kb-0870");
  append_silence (a, 2.5);
  append_recording (a, "sense_and_sensibility_01_austen_64kb-0890");
  append_silence (a, 2.5);
  *n = a->len;
  return (float *) g_array_free (a, FALSE);
}

static void
test_whisper_realtime (void)
{
  gsize n = 0;
  g_autofree float *pcm = NULL;
  g_autoptr (GArray) truth = NULL;
  g_autoptr (LmdTestStream) s = NULL;
  g_autofree char *query = g_strdup_printf ("/v1/listen/stream?model=tiny-en-random&vad_events=true"
                                            "&eou_timeout_ms=%d", EOU_MS);
  guint n_finals = 0, n_ended = 0, interims_early = 0, u = 0;
  const char *previous_interim = NULL;
  gint64 started;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  pcm = whisper_signal (&n);
  truth = vad_utterances (pcm, n, EOU_MS / 1000.0);
  g_test_message ("the VAD finds %u utterances", truth->len);
  g_assert_cmpuint (truth->len, >=, 2);
  started = g_get_monotonic_time ();
  s = stream_audio (query, pcm, n, TRUE);
  check_last (s);
  for (guint i = 0; i < s->messages->len; i++)
    {
      JsonObject *m = s->messages->pdata[i];
      double arrival = (g_array_index (s->arrivals, gint64, i) - started) / 1e6;

      if (is_type (m, "speech_ended"))
        {
          double t = json_object_get_double_member (m, "timestamp");

          g_assert_cmpuint (n_ended, <, truth->len);
          g_test_message ("speech_ended at %.2f s (VAD segment ends %.2f s, the tracker %.2f s), "
                          "arrived %.2f s", t, g_array_index (truth, Utterance, n_ended).end,
                          g_array_index (truth, Utterance, n_ended).ended, arrival);
          g_assert_cmpfloat (fabs (t - g_array_index (truth, Utterance, n_ended).ended), <=, EDGE_TOLERANCE_S);
          n_ended++;
        }
      else if (is_type (m, "speech_started"))
        {
          double t = json_object_get_double_member (m, "timestamp");

          g_assert_cmpuint (u, <, truth->len);
          g_test_message ("speech_started at %.2f s (VAD segment starts %.2f s)", t,
                          g_array_index (truth, Utterance, u).start);
          g_assert_cmpfloat (fabs (t - g_array_index (truth, Utterance, u).start), <=, EDGE_TOLERANCE_S);
          u++;
          previous_interim = NULL;
        }
      else if (is_result (m, FALSE))
        {
          const char *text = json_object_get_string_member (m, "transcript");
          double utterance_end = g_array_index (truth, Utterance, u - 1).end;

          g_test_message ("interim at %.2f s: %s", arrival, text);
          /* committed words are never taken back */
          if (previous_interim != NULL)
            g_assert_true (g_str_has_prefix (text, previous_interim));
          previous_interim = text;
          /* the audio up to the end of the speech was sent at utterance_end */
          if (arrival < utterance_end)
            interims_early++;
        }
      else if (is_result (m, TRUE))
        {
          double t_end = g_array_index (truth, Utterance, n_finals).ended;

          g_test_message ("final at %.2f s (speech ended %.2f s): %s", arrival, t_end,
                          json_object_get_string_member (m, "transcript"));
          /* each final follows its speech_ended, after the silence timeout */
          g_assert_true (i > 0 && is_type (s->messages->pdata[i - 1], "speech_ended"));
          g_assert_cmpuint (n_finals + 1, ==, n_ended);
          g_assert_cmpfloat (arrival, >=, t_end + EOU_MS / 1000.0 - 0.05);
          n_finals++;
        }
    }
  printf ("# whisper real-time: %u utterances, %u finals, %u interims (%u before their "
          "speech ended)\n", truth->len, n_finals, s->n_interims, interims_early);
  g_assert_cmpuint (n_ended, ==, truth->len);
  g_assert_cmpuint (n_finals, ==, truth->len);
  /* under AddressSanitizer or valgrind decoding runs many times slower than real time: the
   * stream falls behind, and a stream behind its input skips its interims (by design) */
  if (!slow_build ())
    g_assert_cmpuint (interims_early, >=, 1);
}

static void
test_whisper_fast (void)
{
  gsize n = 0;
  g_autofree float *pcm = NULL;
  g_autoptr (GArray) truth = NULL;
  g_autoptr (LmdTestStream) s = NULL;
  g_autofree char *query = g_strdup_printf ("/v1/listen/stream?model=tiny-en-random&vad_events=true"
                                            "&eou_timeout_ms=%d", EOU_MS);
  guint n_finals = 0;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  pcm = whisper_signal (&n);
  truth = vad_utterances (pcm, n, EOU_MS / 1000.0);
  s = stream_audio (query, pcm, n, FALSE);
  check_last (s);
  for (guint i = 0; i < s->messages->len; i++)
    if (is_result (s->messages->pdata[i], TRUE))
      n_finals++;
  printf ("# whisper as fast as possible: %u utterances, %u finals, %u interims\n", truth->len,
          n_finals, s->n_interims);
  g_assert_cmpuint (n_finals, ==, truth->len);
  /* the audio waited in the stream's queue: a stream behind its input skips interims */
  g_assert_cmpuint (s->n_interims, ==, 0);
}

static void
test_whisper_vad_off (void)
{
  g_autofree char *url = ws_url ("/v1/listen/stream?model=tiny-en-random&vad=false");
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestStream) s = lmd_test_stream_connect (session, url, &error);
  float silence[3200] = { 0 };
  g_autoptr (GBytes) bytes = lmd_test_encode_linear16 (silence, G_N_ELEMENTS (silence));
  JsonObject *e;

  g_assert_no_error (error);
  lmd_test_stream_send (s, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_assert_true (lmd_test_stream_wait_closed (s, 60));
  e = lmd_test_stream_find_type (s, "error");
  g_assert_nonnull (e);
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "INVALID_PARAMETER");
  g_assert_nonnull (strstr (json_object_get_string_member (e, "error"), "vad"));
  /* and the server goes on */
  {
    g_autofree char *health = lmd_test_server_url (server, "/health");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", health, NULL, NULL, NULL);

    g_assert_cmpuint (r->status, ==, 200);
  }
}

static void
test_whisper_no_vad_model (void)
{
  g_autofree char *model = g_build_filename (fixtures, "whisper", "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n"
                                             "[whisper]\nmodel=%s\nname=tiny-en-random\n"
                                             "background_load=false\ntemperature_increment=0\n", model);
  g_autoptr (GError) error = NULL;
  LmdTestServer *plain = lmd_test_server_start (config, NULL, &error);
  g_autofree char *url = NULL;
  g_autoptr (LmdTestStream) s = NULL;
  float silence[3200] = { 0 };
  g_autoptr (GBytes) bytes = lmd_test_encode_linear16 (silence, G_N_ELEMENTS (silence));
  JsonObject *e;

  g_assert_no_error (error);
  url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream?model=tiny-en-random",
                         lmd_test_server_get_port (plain));
  s = lmd_test_stream_connect (session, url, &error);
  g_assert_no_error (error);
  lmd_test_stream_send (s, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_assert_true (lmd_test_stream_wait_closed (s, 60));
  e = lmd_test_stream_find_type (s, "error");
  g_assert_nonnull (e);
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "SERVICE_UNAVAILABLE");
  g_assert_nonnull (strstr (json_object_get_string_member (e, "error"), "tiny-en-random"));
  /* batch requests are still served */
  {
    g_autoptr (GBytes) wav = NULL;
    g_autofree char *post_url = lmd_test_server_url (plain, "/v1/listen?model=tiny-en-random");
    g_autoptr (LmdTestResponse) r = NULL;
    g_autofree char *path = g_build_filename (fixtures, "audio", "speech-sample.wav", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;

    g_assert_true (g_file_get_contents (path, &data, &len, NULL));
    wav = g_bytes_new (data, len);
    r = lmd_test_http (session, "POST", post_url, "audio/wav", wav, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
  g_assert_cmpint (lmd_test_server_stop (plain), ==, 0);
}

/* ---- sphinx with vad=silero ------------------------------------------------------------ */

static const char *const librivox[] = {
  "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
  "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
  "sense_and_sensibility_01_austen_64kb-0930",
};

/* Streams the five recordings at once with @query (as fast as the server takes them); adds
 * the WER counts; checks the structure, and with @truth_events the first speech_started
 * against the VAD's first segment. */
static void
sphinx_pass (const char *query, GHashTable *references, LmdWerCounts *counts, gboolean check_events)
{
  guint n = G_N_ELEMENTS (librivox);
  Client clients[G_N_ELEMENTS (librivox)] = { { 0 } };
  float *pcm[G_N_ELEMENTS (librivox)];
  gsize len[G_N_ELEMENTS (librivox)];
  g_autofree char *url = ws_url (query);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;

      pcm[i] = lmd_test_librivox_read (librivox[i], &len[i]);
      g_assert_nonnull (pcm[i]);
      clients[i].stream = lmd_test_stream_connect (session, url, &error);
      g_assert_no_error (error);
      clients[i].bytes = lmd_test_encode_linear16 (pcm[i], len[i]);
      clients[i].frame_bytes = 2 * RATE * FRAME_MS / 1000;
    }
  drive (clients, n, FALSE);
  for (guint i = 0; i < n; i++)
    {
      LmdTestStream *s = clients[i].stream;
      g_autofree char *text = lmd_test_stream_finals_text (s);
      LmdWerCounts one = { 0 };

      check_last (s);
      lmd_wer_accumulate (&one, g_hash_table_lookup (references, librivox[i]), text);
      lmd_wer_accumulate (counts, g_hash_table_lookup (references, librivox[i]), text);
      g_test_message ("%s %s: %u finals, WER %.1f%%: %s", query, librivox[i], s->n_finals,
                      100.0 * lmd_wer_rate (&one), text);
      if (check_events)
        {
          g_autoptr (GArray) truth = vad_utterances (pcm[i], len[i], EOU_MS / 1000.0);
          JsonObject *started = lmd_test_stream_find_type (s, "speech_started");

          g_assert_nonnull (started);
          g_assert_cmpuint (truth->len, >=, 1);
          g_assert_cmpfloat (fabs (json_object_get_double_member (started, "timestamp") -
                                   g_array_index (truth, Utterance, 0).start), <=, EDGE_TOLERANCE_S);
          /* in audio time: each final directly follows its speech_ended, and holds no audio
           * past that end plus the silence timeout (and the 20 ms slice it was decided in) */
          for (guint m = 1; m < s->messages->len; m++)
            {
              JsonObject *o = s->messages->pdata[m], *before = s->messages->pdata[m - 1];

              if (!is_result (o, TRUE) || json_object_get_boolean_member (o, "is_last"))
                continue;
              g_assert_true (is_type (before, "speech_ended"));
              g_assert_cmpfloat (json_object_get_double_member (o, "end"), <=,
                                 json_object_get_double_member (before, "timestamp") +
                                 EOU_MS / 1000.0 + 0.05);
            }
        }
      lmd_test_stream_free (s);
      g_bytes_unref (clients[i].bytes);
      g_free (pcm[i]);
    }
}

static void
test_sphinx_silero (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) references = NULL;
  g_autofree char *transcription = NULL;
  g_autofree char *q_sphinx = g_strdup_printf ("/v1/listen/stream?model=sphinx-en-us&eou_timeout_ms=%d",
                                               EOU_MS);
  g_autofree char *q_silero = g_strdup_printf ("/v1/listen/stream?model=sphinx-en-us&vad=silero"
                                               "&vad_events=true&eou_timeout_ms=%d", EOU_MS);
  LmdWerCounts sphinx = { 0 }, silero = { 0 };

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  transcription = g_build_filename (lmd_test_librivox_dir (), "transcription", NULL);
  references = lmd_wer_load_transcription (transcription, &error);
  g_assert_no_error (error);
  sphinx_pass (q_sphinx, references, &sphinx, FALSE);
  sphinx_pass (q_silero, references, &silero, TRUE);
  printf ("# sphinx streams, five LibriVox recordings: WER %.1f%% (%u/%u) with the sphinx VAD, "
          "%.1f%% (%u/%u) with vad=silero\n", 100.0 * lmd_wer_rate (&sphinx), sphinx.errors,
          sphinx.reference_words, 100.0 * lmd_wer_rate (&silero), silero.errors,
          silero.reference_words);
  g_assert_cmpuint (silero.reference_words, ==, sphinx.reference_words);
  g_assert_cmpuint (silero.errors, <=, sphinx.errors);
}

static void
test_sphinx_silero_bad (void)
{
  g_autofree char *url = ws_url ("/v1/listen/stream?model=sphinx-en-us&vad=maybe");
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestStream) s = lmd_test_stream_connect (session, url, &error);
  JsonObject *e;

  g_assert_no_error (error);
  g_assert_true (lmd_test_stream_wait_closed (s, 30));
  e = lmd_test_stream_find_type (s, "error");
  g_assert_nonnull (e);
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "INVALID_PARAMETER");
  g_assert_cmpstr (json_object_get_string_member (e, "param"), ==, "vad");
}

/* ---- /metrics ------------------------------------------------------------------------------ */

static double
metric (const char *name)
{
  g_autofree char *text = lmd_test_server_get_metrics (server, session);

  return lmd_test_metric_value (text, name, -1.0);
}

/* Waits (bounded) until @name has grown past @before: a stream adds to the counters when its
 * session goes away, just after the connection closes. */
static double
metric_after (const char *name, double before)
{
  double value = metric (name);

  for (guint i = 0; i < 100 && value <= before; i++)
    {
      g_usleep (100 * 1000);
      value = metric (name);
    }
  return value;
}

/* One stream of each engine that uses Silero: the signal has 1 s of silence before the
 * recording and 2.5 s after; both add VAD time and skipped silence to /metrics. */
static void
test_metrics (const char *query, double min_skipped)
{
  gsize n = 0;
  g_autofree float *pcm = NULL;
  g_autoptr (GArray) a = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (LmdTestStream) s = NULL;
  double vad0 = metric ("asr_vad_seconds_total");
  double skipped0 = metric ("asr_vad_skipped_audio_seconds_total");
  double vad1, skipped1;

  g_assert_cmpfloat (vad0, >=, 0.0);
  g_assert_cmpfloat (skipped0, >=, 0.0);
  append_silence (a, 1.0);
  append_recording (a, "sense_and_sensibility_01_austen_64kb-0880");
  append_silence (a, 2.5);
  n = a->len;
  s = stream_audio (query, (const float *) a->data, n, FALSE);
  check_last (s);
  g_assert_cmpuint (s->n_finals, >=, 1);
  vad1 = metric_after ("asr_vad_seconds_total", vad0);
  skipped1 = metric_after ("asr_vad_skipped_audio_seconds_total", skipped0);
  g_test_message ("%s: VAD %.4f s, %.2f s of %.2f s skipped", query, vad1 - vad0,
                  skipped1 - skipped0, (double) n / RATE);
  g_assert_cmpfloat (vad1, >, vad0);
  g_assert_cmpfloat (skipped1 - skipped0, >=, min_skipped);
  g_assert_cmpfloat (skipped1 - skipped0, <=, (double) n / RATE);
}

static void
test_whisper_metrics (void)
{
  g_autofree char *query = g_strdup_printf ("/v1/listen/stream?model=tiny-en-random&eou_timeout_ms=%d",
                                            EOU_MS);

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  /* the utterance holds the speech and 30 ms of padding on each side */
  test_metrics (query, 3.0);
}

static void
test_sphinx_silero_metrics (void)
{
  g_autofree char *query = g_strdup_printf ("/v1/listen/stream?model=sphinx-en-us&vad=silero"
                                            "&eou_timeout_ms=%d", EOU_MS);

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  /* the utterance holds 250 ms before the onset and the timeout's second after the end */
  test_metrics (query, 1.5);
}

/* ---- main ------------------------------------------------------------------------------------ */

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *model = NULL;
  g_autofree char *vad = NULL;
  g_autofree char *config = NULL;
  int rc;

  g_test_init (&argc, &argv, NULL);
  fixtures = g_strdup (g_getenv ("LMD_FIXTURES_DIR") != NULL ? g_getenv ("LMD_FIXTURES_DIR")
                                                               : "tests/fixtures");
  model = g_build_filename (fixtures, "whisper", "tiny-en-random", "model.ggml.bin", NULL);
  vad = g_build_filename (fixtures, "vad", "silero-v6.2.0-ggml.bin", NULL);
  if (!g_file_test (model, G_FILE_TEST_IS_REGULAR) || !g_file_test (vad, G_FILE_TEST_IS_REGULAR))
    {
      printf ("1..0 # SKIP the whisper or VAD fixtures are not there\n");
      return 0;
    }
  session = soup_session_new_with_options ("timeout", 120, NULL);
  config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;whisper\n"
                            "[whisper]\nmodel=%s\nname=tiny-en-random\nbackground_load=false\n"
                            "[vad]\nmodel=%s\n", model, vad);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/vad-stream/whisper/realtime", test_whisper_realtime);
  g_test_add_func ("/vad-stream/whisper/fast", test_whisper_fast);
  g_test_add_func ("/vad-stream/whisper/vad-off", test_whisper_vad_off);
  g_test_add_func ("/vad-stream/whisper/no-vad-model", test_whisper_no_vad_model);
  g_test_add_func ("/vad-stream/sphinx-silero", test_sphinx_silero);
  g_test_add_func ("/vad-stream/sphinx-silero/bad-value", test_sphinx_silero_bad);
  g_test_add_func ("/vad-stream/whisper/metrics", test_whisper_metrics);
  g_test_add_func ("/vad-stream/sphinx-silero/metrics", test_sphinx_silero_metrics);
  rc = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  g_free (fixtures);
  return rc;
}
