/* SPDX-License-Identifier: MIT */
/*
 * bench-soak — an hour of mixed load on one real server, and whether it stays flat.
 *
 * One daemon (http, gst-decoder, sphinx) on a loopback port takes, for --minutes:
 *  - uploads: --uploaders clients POSTing a LibriVox recording of pocketsphinx-testdata to
 *    /v1/listen in every format the machine's GStreamer can encode (WAV, FLAC, MP3, Ogg
 *    Vorbis, Ogg Opus, M4A, WebM), as multipart/form-data every third time; each must be 200
 *    with a non-empty transcript;
 *  - streams: --streams clients sending a recording at real-time pace in 100 ms frames to
 *    /v1/listen/stream in turn as linear16 16 kHz, linear32 16 kHz, mulaw 8 kHz and
 *    alaw 8 kHz, then close_stream; each must end with close 1000, exactly one last message
 *    and no error;
 *  - bad requests, one a second, each with the status (or stream close) the API documents:
 *    unknown model 400, empty body 400, malformed JSON 400, bytes no decoder knows 415,
 *    a WAV cut inside its header 422, a JSON body over 64 KiB 413, an unknown path 404,
 *    GET /v1/listen 405, a stream with a bad sample_rate (close 1008), a stream sending a
 *    control message that is not JSON (close 1008), a frame over 64 KiB (close 1009).
 *
 * Every minute it samples the daemon's resident memory (VmRSS) and open descriptors
 * (/proc/PID/fd) and prints a row.  At the end, with the load stopped and the clients gone,
 * it prints the RSS slope after --warmup minutes (least squares, MiB per hour), the
 * descriptors against the idle baseline taken before the load, and every status seen.  The
 * exit status is 1 when any answer was not the one expected, or the descriptors did not
 * return to the baseline (within 2).
 *
 *   bench-soak [--minutes 60] [--warmup 10] [--uploaders 2] [--streams 2] [--sample-s 60]
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

#define FRAME_MS 100

static guint minutes = 60;
static guint warmup = 10;
static guint n_uploaders = 2;
static guint n_streams = 2;
static guint sample_s = 60;

static LmdTestServer *server;
static volatile gint stopping;

/* the load: uploads in every format, and the recordings as samples for the streams */
static GPtrArray *upload_bodies;   /* GBytes */
static GPtrArray *upload_formats;  /* const char * */
static GPtrArray *recordings;      /* float *, 16 kHz */
static GArray *recording_lengths;  /* gsize */

/* what was seen: "kind status" -> count; and the unexpected ones */
static GMutex counts_lock;
static GHashTable *counts;
static guint unexpected;
static guint uploads_ok, streams_ok, bad_ok;

static void
count (const char *kind, const char *outcome, gboolean expected)
{
  g_autofree char *key = g_strdup_printf ("%s\t%s%s", kind, outcome, expected ? "" : " (unexpected)");
  g_mutex_lock (&counts_lock);
  g_hash_table_insert (counts, g_strdup (key),
                       GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, key)) + 1));
  if (!expected)
    {
      unexpected++;
      g_printerr ("unexpected: %s\n", key);
    }
  g_mutex_unlock (&counts_lock);
}

static guint64
rss_bytes (void)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) lmd_test_server_get_pid (server));
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (line = strstr (text, "VmRSS:")) == NULL)
    return 0;
  return g_ascii_strtoull (line + 6, NULL, 10) * 1024;
}

static guint
open_descriptors (void)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) lmd_test_server_get_pid (server));
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static gboolean
transcript_nonempty (LmdTestResponse *resp)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;
  JsonObject *o;
  const char *text;

  if (resp->body == NULL
      || !json_parser_load_from_data (parser, g_bytes_get_data (resp->body, NULL), g_bytes_get_size (resp->body), NULL))
    return FALSE;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  o = json_node_get_object (root);
  /* POST /v1/listen: {"text":"…","words":[…],…} */
  text = json_object_get_string_member_with_default (o, "text", "");
  return text[0] != '\0';
}

static gpointer
uploader_main (gpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 300, NULL);
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");

  for (guint i = index; !g_atomic_int_get (&stopping); i++)
    {
      guint f = i % upload_bodies->len;
      GBytes *body = upload_bodies->pdata[f];
      g_autoptr (LmdTestResponse) resp = NULL;
      g_autofree char *kind = g_strdup_printf ("upload %s%s", (const char *) upload_formats->pdata[f],
                                               i % 3 == 2 ? " multipart" : "");
      g_autofree char *outcome = NULL;

      if (i % 3 == 2)
        {
          g_autoptr (SoupMultipart) multipart = soup_multipart_new ("multipart/form-data");
          g_autoptr (SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_MULTIPART);
          g_autoptr (GBytes) encoded = NULL;
          soup_multipart_append_form_file (multipart, "audio", "speech.bin", "application/octet-stream", body);
          soup_multipart_append_form_string (multipart, "language", "en");
          soup_multipart_to_message (multipart, headers, &encoded);
          resp = lmd_test_http (session, "POST", url, soup_message_headers_get_one (headers, "Content-Type"),
                                encoded, NULL);
        }
      else
        resp = lmd_test_http (session, "POST", url, "application/octet-stream", body, NULL);
      outcome = resp->status == 0 && resp->error != NULL ? g_strdup_printf ("no answer: %s", resp->error->message)
                                                         : g_strdup_printf ("%u", resp->status);
      if (resp->status == 200 && transcript_nonempty (resp))
        {
          count (kind, outcome, TRUE);
          g_atomic_int_inc ((gint *) &uploads_ok);
        }
      else
        count (kind, resp->status == 200 ? "200 with an empty transcript" : outcome, FALSE);
    }
  return NULL;
}

/* One stream: connects, sends @bytes in frames of @frame_bytes at @bytes_per_second (all at
 * once when 0), then @tail (a control message, nullable), and waits for the close. */
static LmdTestStream *
run_stream (SoupSession *session, const char *query, GBytes *bytes, gsize frame_bytes,
            double bytes_per_second, const char *tail)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream%s", lmd_test_server_get_port (server), query);
  g_autoptr (GError) error = NULL;
  LmdTestStream *s = lmd_test_stream_connect (session, url, &error);
  gint64 started = g_get_monotonic_time ();
  gsize offset = 0, total = bytes != NULL ? g_bytes_get_size (bytes) : 0;

  if (s == NULL)
    return NULL;
  while (offset < total && !s->closed)
    {
      gsize len = MIN (frame_bytes, total - offset);
      gint64 due = bytes_per_second > 0 ? started + (gint64) ((offset + len) / bytes_per_second * G_USEC_PER_SEC) : 0;
      if (g_get_monotonic_time () < due)
        {
          if (!g_main_context_iteration (g_main_context_get_thread_default (), FALSE))
            g_usleep (2000);
          continue;
        }
      lmd_test_stream_send (s, (const guint8 *) g_bytes_get_data (bytes, NULL) + offset, len);
      offset += len;
    }
  if (tail != NULL && !s->closed)
    lmd_test_stream_send_text (s, tail);
  lmd_test_stream_wait_closed (s, 60);
  return s;
}

/* G.711 A-law of one sample (the test stream client has linear and mu-law encoders only). */
static guint8
alaw_encode (float sample)
{
  gint pcm = (gint) lrintf (CLAMP (sample, -1.0f, 1.0f) * 32767.0f) >> 3; /* 13 bits */
  guint8 sign = pcm >= 0 ? 0x80 : 0x00;
  guint8 exponent = 0, mantissa;

  if (pcm < 0)
    pcm = -pcm - 1;
  pcm = MIN (pcm, 0xFFF);
  while (pcm >= (0x20 << exponent) && exponent < 7)
    exponent++;
  mantissa = exponent == 0 ? (pcm >> 1) & 0x0F : (pcm >> exponent) & 0x0F;
  return (guint8) ((sign | (exponent << 4) | mantissa) ^ 0x55);
}

static GBytes *
encode_alaw (const float *samples, gsize n)
{
  guint8 *out = g_malloc (MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    out[i] = alaw_encode (samples[i]);
  return g_bytes_new_take (out, n);
}

static gpointer
streamer_main (gpointer data)
{
  guint index = GPOINTER_TO_UINT (data);
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;

  g_main_context_push_thread_default (context);
  session = soup_session_new ();
  for (guint i = index; !g_atomic_int_get (&stopping); i++)
    {
      static const char *const queries[] = { "?encoding=linear16", "?encoding=linear32",
                                             "?encoding=mulaw&sample_rate=8000",
                                             "?encoding=alaw&sample_rate=8000" };
      static const char *const kinds[] = { "stream linear16", "stream linear32", "stream mulaw 8k",
                                           "stream alaw 8k" };
      guint r = i % recordings->len, e = i % G_N_ELEMENTS (queries);
      const float *samples = recordings->pdata[r];
      gsize n = g_array_index (recording_lengths, gsize, r);
      g_autoptr (GBytes) bytes = NULL;
      g_autoptr (LmdTestStream) s = NULL;
      double rate;
      g_autofree char *outcome = NULL;

      if (e <= 1)
        {
          bytes = e == 0 ? lmd_test_encode_linear16 (samples, n) : lmd_test_encode_linear32 (samples, n);
          rate = 16000.0 * (e == 0 ? 2 : 4);
        }
      else
        {
          gsize n8 = 0;
          g_autofree float *low = lmd_test_resample (samples, n, 8000, &n8);
          bytes = e == 2 ? lmd_test_encode_mulaw (low, n8) : encode_alaw (low, n8);
          rate = 8000.0;
        }
      s = run_stream (session, queries[e], bytes, (gsize) (rate * FRAME_MS / 1000), rate,
                      "{\"type\":\"close_stream\"}");
      if (s == NULL)
        {
          count (kinds[e], "handshake failed", FALSE);
          continue;
        }
      outcome = g_strdup_printf ("close %u, %u last", s->close_code, s->n_last);
      if (s->closed && s->close_code == 1000 && s->n_last == 1 && lmd_test_stream_find_type (s, "error") == NULL)
        {
          count (kinds[e], outcome, TRUE);
          g_atomic_int_inc ((gint *) &streams_ok);
        }
      else
        count (kinds[e], outcome, FALSE);
    }
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
bad_http (SoupSession *session, const char *kind, const char *method, const char *path,
          const char *content_type, GBytes *body, guint expected_status, const char *expected_code)
{
  g_autofree char *url = lmd_test_server_url (server, path);
  g_autoptr (LmdTestResponse) resp = lmd_test_http (session, method, url, content_type, body, NULL);
  g_autofree char *outcome = NULL;
  const char *body_text = resp->body != NULL ? g_bytes_get_data (resp->body, NULL) : NULL;
  gboolean ok = resp->status == expected_status && body_text != NULL
                && g_strstr_len (body_text, g_bytes_get_size (resp->body), expected_code) != NULL;

  /* status 0: no answer; the client's error says why */
  outcome = resp->status == 0 && resp->error != NULL ? g_strdup_printf ("no answer: %s", resp->error->message)
                                                     : g_strdup_printf ("%u %s", resp->status, ok ? expected_code : "");
  count (kind, outcome, ok);
  if (ok)
    g_atomic_int_inc ((gint *) &bad_ok);
}

static void
bad_stream (SoupSession *session, const char *kind, const char *query, GBytes *bytes, const char *tail,
            guint expected_close, const char *expected_code)
{
  g_autoptr (LmdTestStream) s = run_stream (session, query, bytes, bytes != NULL ? g_bytes_get_size (bytes) : 0, 0, tail);
  g_autofree char *outcome = NULL;
  JsonObject *e;
  gboolean ok;

  if (s == NULL)
    {
      count (kind, "handshake failed", FALSE);
      return;
    }
  e = lmd_test_stream_find_type (s, "error");
  ok = s->closed && s->close_code == expected_close && e != NULL
       && g_strcmp0 (json_object_get_string_member_with_default (e, "code", ""), expected_code) == 0;
  outcome = g_strdup_printf ("close %u %s", s->close_code, e != NULL ? json_object_get_string_member_with_default (e, "code", "") : "");
  count (kind, outcome, ok);
  if (ok)
    g_atomic_int_inc ((gint *) &bad_ok);
}

static gpointer
bad_main (gpointer data)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;
  g_autoptr (GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr (GBytes) junk = g_bytes_new_static ("this is not audio at all, just some words\n", 42);
  g_autoptr (GBytes) bad_json = g_bytes_new_static ("{\"url\": ", 8);
  g_autoptr (GBytes) cut_wav = g_bytes_new (g_bytes_get_data (upload_bodies->pdata[0], NULL), 30);
  g_autofree char *big_json_text = g_strnfill (70 * 1024, ' ');
  g_autoptr (GBytes) big_json = NULL;
  g_autofree guint8 *big_frame = g_malloc0 (65536 + 16);
  g_autoptr (GBytes) big_frame_bytes = g_bytes_new (big_frame, 65536 + 16);

  big_json_text[0] = '{';
  big_json_text[70 * 1024 - 1] = '}';
  big_json = g_bytes_new (big_json_text, 70 * 1024);
  g_main_context_push_thread_default (context);
  /* a bad request may wait in the queue behind the uploads */
  session = soup_session_new_with_options ("timeout", 300, NULL);
  for (guint i = 0; !g_atomic_int_get (&stopping); i++)
    {
      switch (i % 11)
        {
        case 0: bad_http (session, "bad: unknown model", "POST", "/v1/listen?model=nope", "audio/wav", upload_bodies->pdata[0], 400, "INVALID_PARAMETER"); break;
        case 1: bad_http (session, "bad: empty body", "POST", "/v1/listen", "audio/wav", empty, 400, "MISSING_PARAMETER"); break;
        case 2: bad_http (session, "bad: malformed JSON", "POST", "/v1/listen", "application/json", bad_json, 400, "INVALID_PARAMETER"); break;
        case 3: bad_http (session, "bad: not audio", "POST", "/v1/listen", "application/octet-stream", junk, 415, "UNSUPPORTED_FORMAT"); break;
        case 4: bad_http (session, "bad: WAV cut in its header", "POST", "/v1/listen", "audio/wav", cut_wav, 422, "UNPROCESSABLE_AUDIO"); break;
        case 5: bad_http (session, "bad: JSON over 64 KiB", "POST", "/v1/listen", "application/json", big_json, 413, "FILE_TOO_LARGE"); break;
        case 6: bad_http (session, "bad: unknown path", "GET", "/v1/nothing", NULL, NULL, 404, "NOT_FOUND"); break;
        case 7: bad_http (session, "bad: GET /v1/listen", "GET", "/v1/listen", NULL, NULL, 405, "METHOD_NOT_ALLOWED"); break;
        case 8: bad_stream (session, "bad: stream sample_rate=7", "?sample_rate=7", NULL, NULL, 1008, "INVALID_PARAMETER"); break;
        case 9: bad_stream (session, "bad: stream control not JSON", "", NULL, "{not json", 1008, "INVALID_PARAMETER"); break;
        case 10: bad_stream (session, "bad: stream frame over 64 KiB", "", big_frame_bytes, NULL, 1009, "FILE_TOO_LARGE"); break;
        }
      g_usleep (G_USEC_PER_SEC);
    }
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
load_audio (void)
{
  const char *dir = lmd_test_librivox_dir ();
  static const char *const names[] = {
    "sense_and_sensibility_01_austen_64kb-0870", "sense_and_sensibility_01_austen_64kb-0880",
    "sense_and_sensibility_01_austen_64kb-0890", "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930",
  };
  static const char *const formats[] = { "wav", "flac", "mp3", "vorbis", "opus", "m4a", "webm" };

  if (dir == NULL)
    g_error ("pocketsphinx-testdata is not installed");
  recordings = g_ptr_array_new_with_free_func (g_free);
  recording_lengths = g_array_new (FALSE, FALSE, sizeof (gsize));
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.wav", dir, names[i]);
      g_autoptr (GError) error = NULL;
      guint rate = 0;
      gsize n = 0;
      float *samples = lmd_test_wav_read (path, &rate, &n, &error);
      g_assert_no_error (error);
      g_ptr_array_add (recordings, samples);
      g_array_append_val (recording_lengths, n);
    }
  upload_bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  upload_formats = g_ptr_array_new ();
  for (gsize f = 0; f < G_N_ELEMENTS (formats); f++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.wav", dir, names[f % G_N_ELEMENTS (names)]);
      g_autoptr (GError) error = NULL;
      GBytes *bytes = lmd_test_audio_encode (path, formats[f], &error);
      if (bytes == NULL)
        {
          g_printerr ("format %s left out: %s\n", formats[f], error->message);
          continue;
        }
      g_ptr_array_add (upload_bodies, bytes);
      g_ptr_array_add (upload_formats, (gpointer) formats[f]);
    }
}

static int
compare_keys (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "minutes", 0, 0, G_OPTION_ARG_INT, &minutes, "minutes of load (60)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "minutes left out of the RSS slope (10)", "N" },
    { "uploaders", 0, 0, G_OPTION_ARG_INT, &n_uploaders, "concurrent upload clients (2)", "N" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &n_streams, "concurrent real-time streams (2)", "N" },
    { "sample-s", 0, 0, G_OPTION_ARG_INT, &sample_s, "seconds between samples (60)", "N" },
    { NULL }
  };
  g_autoptr (GOptionContext) options = g_option_context_new ("— an hour of mixed load on the real server");
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();
  g_autoptr (GArray) xs = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) ys = g_array_new (FALSE, FALSE, sizeof (double));
  guint baseline_fds, final_fds = 0;
  guint64 baseline_rss, peak_rss = 0;
  gint64 t0, deadline;
  g_autofree gpointer *keys = NULL;
  guint n_keys = 0;
  double slope = NAN;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  load_audio ();
  server = lmd_test_server_start ("[plugins]\nload=http;gst-decoder;sphinx\n"
                                  "[sphinx]\ndecoders=2\nstream_decoders=4\n"
                                  "[limits]\nworkers=2\n"
                                  "[server]\nlog_level=warning\n", NULL, &error);
  g_assert_no_error (error);
  g_usleep (2 * G_USEC_PER_SEC);
  baseline_fds = open_descriptors ();
  baseline_rss = rss_bytes ();
  printf ("# soak: %u min, %u uploaders (%u formats), %u real-time streams, 1 bad request/s; pid %d\n",
          minutes, n_uploaders, upload_bodies->len, n_streams, (int) lmd_test_server_get_pid (server));
  printf ("# idle baseline: RSS %.1f MiB, %u descriptors\n", baseline_rss / 1048576.0, baseline_fds);
  printf ("| minute | RSS MiB | descriptors | uploads 200 | streams closed 1000 | bad requests answered as documented | unexpected |\n");
  printf ("|---:|---:|---:|---:|---:|---:|---:|\n");
  fflush (stdout);

  for (guint i = 0; i < n_uploaders; i++)
    g_ptr_array_add (threads, g_thread_new ("uploader", uploader_main, GUINT_TO_POINTER (i)));
  for (guint i = 0; i < n_streams; i++)
    g_ptr_array_add (threads, g_thread_new ("streamer", streamer_main, GUINT_TO_POINTER (i)));
  g_ptr_array_add (threads, g_thread_new ("bad", bad_main, NULL));

  t0 = g_get_monotonic_time ();
  deadline = t0 + (gint64) minutes * 60 * G_USEC_PER_SEC;
  for (guint sample = 1;; sample++)
    {
      gint64 due = t0 + (gint64) sample * sample_s * G_USEC_PER_SEC;
      guint64 rss;
      double minute;
      while (g_get_monotonic_time () < due)
        g_usleep (200000);
      rss = rss_bytes ();
      peak_rss = MAX (peak_rss, rss);
      minute = (g_get_monotonic_time () - t0) / 60e6;
      if (minute >= warmup)
        {
          double y = rss / 1048576.0;
          g_array_append_val (xs, minute);
          g_array_append_val (ys, y);
        }
      g_mutex_lock (&counts_lock);
      printf ("| %.1f | %.1f | %u | %u | %u | %u | %u |\n", minute, rss / 1048576.0, open_descriptors (),
              uploads_ok, streams_ok, bad_ok, unexpected);
      g_mutex_unlock (&counts_lock);
      fflush (stdout);
      if (g_get_monotonic_time () >= deadline)
        break;
    }
  g_atomic_int_set (&stopping, 1);
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);

  /* the clients are gone (their sessions closed their connections): back to the baseline? */
  {
    gint64 wait_until = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
    while ((final_fds = open_descriptors ()) > baseline_fds + 2 && g_get_monotonic_time () < wait_until)
      g_usleep (500000);
  }
  if (xs->len >= 2)
    {
      double sx = 0, sy = 0, sxx = 0, sxy = 0, n = xs->len;
      for (guint i = 0; i < xs->len; i++)
        {
          double x = g_array_index (xs, double, i), y = g_array_index (ys, double, i);
          sx += x; sy += y; sxx += x * x; sxy += x * y;
        }
      slope = (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60.0;
    }
  printf ("\n# after the load: RSS %.1f MiB (peak sampled %.1f), descriptors %u (baseline %u)\n",
          rss_bytes () / 1048576.0, peak_rss / 1048576.0, final_fds, baseline_fds);
  printf ("# RSS slope after minute %u: %+.2f MiB/hour over %u samples\n", warmup, slope, xs->len);
  printf ("\n| request | outcome | count |\n|---|---|---:|\n");
  keys = g_hash_table_get_keys_as_array (counts, &n_keys);
  qsort (keys, n_keys, sizeof (gpointer), compare_keys);
  for (guint i = 0; i < n_keys; i++)
    {
      const char *key = keys[i];
      const char *split = strchr (key, '\t');
      printf ("| %.*s | %s | %u |\n", (int) (split - key), key, split + 1,
              GPOINTER_TO_UINT (g_hash_table_lookup (counts, key)));
    }
  {
    int status = lmd_test_server_stop (server);
    printf ("\n# server exit status %d; unexpected answers %u\n", status, unexpected);
    return unexpected == 0 && final_fds <= baseline_fds + 2 && status == 0 ? 0 : 1;
  }
}
