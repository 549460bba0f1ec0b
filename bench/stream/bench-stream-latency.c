/* SPDX-License-Identifier: MIT */
/*
 * bench-stream-latency — live transcription over WebSocket on the real server.
 *
 * 1. Final latency and time to first interim, one stream at a time: each LibriVox recording
 *    of pocketsphinx-testdata, between 1 s of silence before and eou + 1.5 s after, is sent
 *    at real-time pace in 100 ms frames (a frame leaves once the audio it carries has been
 *    "recorded").  Final latency = arrival of the utterance's final − the moment its last
 *    audio frame was sent − eou_timeout_ms.  Time to first interim = arrival of the first
 *    interim − the moment the frame holding the onset of speech was sent (onset: the first
 *    10 ms whose level is 20 dB over the recording's quietest decile).
 * 2. Concurrency: N streams at once (staggered over the first second), each sending three
 *    recordings separated by 1.5 s of silence at real time; final latency p50/p95 over every
 *    utterance of every stream, for growing N.  The largest N whose p95 stays under 500 ms
 *    is reported.
 *    Also printed for each N: the server's CPU time (user + system, from /proc) per second
 *    of audio streamed, over all streams: what one real-time stream costs in cores, with
 *    everything the server does for it (WebSocket, conversion, detector, decoder, JSON).
 * 3. Cost of the in-process converter (decode + resample) per second of audio.
 *
 *   bench-stream-latency [--rounds N] [--levels 1,4,8,10,12,14,16] [--eou MS] [--config TEXT]
 *                        [--query TEXT] [--target-ms MS]
 *
 * With vad_events=true among them, each utterance of the one-stream measure also gets a line
 * on stderr: where the detector's speech_ended put the end of speech, against the end of the
 * recording, and the final's latency.
 * --query adds stream parameters, e.g. "vad=silero" (sphinx streams endpointed by the Silero
 * detector of [vad] model, which --config then names); --target-ms sets the final p95 that
 * counts as keeping up in the concurrency table (500).  Whisper models:
 *   --config $'[plugins]\nload=http;gst-decoder;whisper\n[whisper]\nmodel=M\n[vad]\nmodel=V'
 * (later keys win, so this replaces the default plugin list).
 *
 * --config adds lines to the server's configuration, e.g. to compare decoder settings:
 *   --config $'[sphinx]\nstream_args=-maxhmmpf 30000 -ds 1\nstream_prewarm=0'  (pocketsphinx's
 *   own search settings and no pre-warmed decoders, as before both existed).
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lmd-pcm-converter.h"
#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"

#define FRAME_MS 100

static GPtrArray *audio;  /* float *, 16 kHz */
static GArray *lengths;   /* gsize */
static guint rounds = 2;
static guint eou_ms = 800;
static char *levels_text = NULL;
static char *extra_config = NULL;
static char *extra_query = NULL;
static double target_ms = 500.0;

typedef struct {
  gsize speech_start;     /* samples, in the stream */
  gsize speech_end;
  gsize onset;            /* energy onset */
  gint64 onset_sent;      /* when the frame holding it left */
  gint64 end_sent;        /* when the frame holding speech_end left */
} Utterance;

typedef struct {
  LmdTestStream *stream;
  GBytes *bytes;          /* linear16 */
  GArray *utterances;     /* Utterance */
  gint64 started;
  gsize offset;
  gboolean close_sent;
} Client;

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static double
percentile (GArray *values, double p)
{
  g_autofree double *sorted = NULL;
  if (values->len == 0)
    return NAN;
  sorted = g_memdup2 (values->data, values->len * sizeof (double));
  qsort (sorted, values->len, sizeof (double), compare_doubles);
  return sorted[MIN ((guint) ceil (p * values->len) - (p > 0 ? 1 : 0), values->len - 1)];
}

/* g_ptr_array_sort passes pointers to the elements */
static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* First 10 ms frame 20 dB above the quietest decile. */
static gsize
energy_onset (const float *x, gsize n)
{
  gsize frames = n / 160;
  g_autofree double *level = g_new (double, frames);
  g_autofree double *sorted = NULL;
  double floor_db;

  for (gsize f = 0; f < frames; f++)
    {
      double sum = 0.0;
      for (gsize i = 0; i < 160; i++)
        sum += (double) x[f * 160 + i] * x[f * 160 + i];
      level[f] = 10.0 * log10 (sum / 160 + 1e-12);
    }
  sorted = g_memdup2 (level, frames * sizeof (double));
  qsort (sorted, frames, sizeof (double), compare_doubles);
  floor_db = sorted[frames / 10];
  for (gsize f = 0; f < frames; f++)
    if (level[f] > floor_db + 20.0)
      return f * 160;
  return 0;
}

static void
append_silence (GArray *out, double seconds)
{
  for (guint i = 0; i < (guint) (seconds * 16000); i++)
    {
      float v = (float) (g_random_int_range (-8, 9)) / 32768.0f;
      g_array_append_val (out, v);
    }
}

/* A client sending recordings @first.. (@count of them) with silences. */
static void
client_init (Client *c, guint first, guint count)
{
  g_autoptr (GArray) samples = g_array_new (FALSE, FALSE, sizeof (float));

  c->utterances = g_array_new (FALSE, TRUE, sizeof (Utterance));
  append_silence (samples, 1.0);
  for (guint k = 0; k < count; k++)
    {
      guint i = (first + k) % audio->len;
      gsize n = g_array_index (lengths, gsize, i);
      Utterance u = { 0 };
      u.speech_start = samples->len;
      u.onset = samples->len + energy_onset (audio->pdata[i], n);
      g_array_append_vals (samples, audio->pdata[i], n);
      u.speech_end = samples->len;
      g_array_append_val (c->utterances, u);
      append_silence (samples, k + 1 < count ? 1.5 : eou_ms / 1000.0 + 1.5);
    }
  c->bytes = lmd_test_encode_linear16 ((float *) samples->data, samples->len);
}

static void
client_clear (Client *c)
{
  g_clear_pointer (&c->stream, lmd_test_stream_free);
  g_bytes_unref (c->bytes);
  g_array_unref (c->utterances);
}

/* Real-time pacing of every client until all are closed. */
static void
drive (Client *clients, guint n, const double *delays)
{
  gint64 t0 = g_get_monotonic_time ();
  guint open;
  const gsize frame = 16000 * 2 * FRAME_MS / 1000;

  for (guint i = 0; i < n; i++)
    clients[i].started = t0 + (gint64) (delays[i] * G_USEC_PER_SEC);
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
              gsize len = MIN (frame, total - c->offset);
              gint64 due = c->started + (gint64) ((c->offset + len) / 32000.0 * G_USEC_PER_SEC);
              gsize first = c->offset / 2, last = (c->offset + len) / 2;
              if (now < due)
                break;
              lmd_test_stream_send (c->stream, (const guint8 *) g_bytes_get_data (c->bytes, NULL) + c->offset, len);
              for (guint u = 0; u < c->utterances->len; u++)
                {
                  Utterance *ut = &g_array_index (c->utterances, Utterance, u);
                  if (ut->onset >= first && ut->onset < last)
                    ut->onset_sent = now;
                  if (ut->speech_end > first && ut->speech_end <= last)
                    ut->end_sent = now;
                }
              c->offset += len;
            }
          if (c->offset == total && !c->close_sent)
            {
              lmd_test_stream_send_text (c->stream, "{\"type\":\"close_stream\"}");
              c->close_sent = TRUE;
            }
        }
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    }
  while (open > 0);
}

/* Adds the final latency (ms) of every utterance of @c to @finals, the first-interim times to
 * @interims (nullable); returns the number of utterances without a final. */
static guint
collect (Client *c, GArray *finals, GArray *interims)
{
  guint missing = 0;

  for (guint u = 0; u < c->utterances->len; u++)
    {
      Utterance *ut = &g_array_index (c->utterances, Utterance, u);
      double lo = ut->speech_start / 16000.0, hi = ut->speech_end / 16000.0;
      gint64 final_at = 0, interim_at = 0;
      double ended = NAN;

      for (guint m = 0; m < c->stream->messages->len; m++)
        {
          JsonObject *o = c->stream->messages->pdata[m];
          gint64 at = g_array_index (c->stream->arrivals, gint64, m);
          double start;
          if (g_strcmp0 (json_object_get_string_member_with_default (o, "type", ""), "speech_ended") == 0)
            {
              double t = json_object_get_double_member (o, "timestamp");
              if (t >= lo && t <= hi + 0.5)
                ended = t;
              continue;
            }
          if (!json_object_has_member (o, "is_final") || json_object_get_boolean_member (o, "is_last"))
            continue;
          start = json_object_get_double_member (o, "start");
          if (start > hi + 0.5 || start < lo - 1.0)
            continue;
          if (json_object_get_boolean_member (o, "is_final"))
            {
              if (json_object_get_double_member (o, "end") >= lo)
                final_at = MAX (final_at, at);
            }
          else if (interim_at == 0)
            interim_at = at;
        }
      if (final_at == 0)
        {
          missing++;
          continue;
        }
      {
        double latency = (final_at - ut->end_sent) / 1000.0 - eou_ms;
        g_array_append_val (finals, latency);
        /* with vad_events=true: where the detector put the end of speech, against the end of
         * the recording (stderr, for diagnosis) */
        if (!isnan (ended))
          g_printerr ("utterance %.2f..%.2f s: speech_ended %+.0f ms, final %+.0f ms after eou\n",
                      lo, hi, (ended - hi) * 1000.0, latency);
      }
      if (interims != NULL && interim_at != 0)
        {
          double t = (interim_at - ut->onset_sent) / 1000.0;
          g_array_append_val (interims, t);
        }
    }
  return missing;
}

/* CPU seconds (user + system) process @pid has used, or NAN. */
static double
process_cpu_seconds (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  g_auto (GStrv) fields = NULL;
  const char *after;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (after = strrchr (text, ')')) == NULL)
    return NAN;
  fields = g_strsplit (after + 2, " ", -1);
  /* after "pid (comm) ": state is field 0, utime 11, stime 12 */
  if (g_strv_length (fields) < 13)
    return NAN;
  return (g_ascii_strtod (fields[11], NULL) + g_ascii_strtod (fields[12], NULL)) /
         (double) sysconf (_SC_CLK_TCK);
}

/* The 1-minute load average of the machine (other processes included), or NAN. */
static double
load_average (void)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return NAN;
  return g_ascii_strtod (text, NULL);
}

static LmdTestServer *
start_server (guint max_streams)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx\n"
                                             "[server]\nlog_level=warning\n"
                                             "[streaming]\nmax_streams=%u\n%s\n", max_streams,
                                             extra_config != NULL ? extra_config : "");
  LmdTestServer *server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  return server;
}

static Client *
open_clients (SoupSession *session, LmdTestServer *server, guint n, guint per_client)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream?eou_timeout_ms=%u%s%s",
                                          lmd_test_server_get_port (server), eou_ms,
                                          extra_query != NULL ? "&" : "",
                                          extra_query != NULL ? extra_query : "");
  Client *clients = g_new0 (Client, n);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (GError) error = NULL;
      client_init (&clients[i], i, per_client);
      clients[i].stream = lmd_test_stream_connect (session, url, &error);
      g_assert_no_error (error);
    }
  return clients;
}

/* Brings the decoder pool to @n decoders: @n streams of speech at once, as fast as possible. */
static void
warm_up (SoupSession *session, LmdTestServer *server, guint n)
{
  Client *clients = open_clients (session, server, n, 1);
  for (guint i = 0; i < n; i++)
    {
      lmd_test_stream_send (clients[i].stream, g_bytes_get_data (clients[i].bytes, NULL),
                            MIN (g_bytes_get_size (clients[i].bytes), 60000));
      lmd_test_stream_send_text (clients[i].stream, "{\"type\":\"close_stream\"}");
    }
  for (guint i = 0; i < n; i++)
    {
      lmd_test_stream_wait_closed (clients[i].stream, 120);
      client_clear (&clients[i]);
    }
  g_free (clients);
}

static void
bench_single (SoupSession *session)
{
  LmdTestServer *server = start_server (16);
  g_autoptr (GArray) finals = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) interims = g_array_new (FALSE, FALSE, sizeof (double));
  guint missing = 0;
  const double no_delay = 0.0;

  warm_up (session, server, 2);
  for (guint r = 0; r < rounds; r++)
    for (guint i = 0; i < audio->len; i++)
      {
        Client *c = open_clients (session, server, 1, 1);
        client_clear (c);
        client_init (c, i, 1);
        {
          g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream?eou_timeout_ms=%u%s%s",
                                                  lmd_test_server_get_port (server), eou_ms,
                                                  extra_query != NULL ? "&" : "",
                                                  extra_query != NULL ? extra_query : "");
          g_autoptr (GError) error = NULL;
          c->stream = lmd_test_stream_connect (session, url, &error);
          g_assert_no_error (error);
        }
        drive (c, 1, &no_delay);
        missing += collect (c, finals, interims);
        client_clear (c);
        g_free (c);
      }
  lmd_test_server_stop (server);

  printf ("\n## One stream at a time (real-time pace, 100 ms frames, eou_timeout_ms=%u, %u utterances)\n\n",
          eou_ms, finals->len + missing);
  printf ("| measure | p50 | p95 | max | target |\n|---|---|---|---|---|\n");
  printf ("| final latency (ms, after eou) | %.0f | %.0f | %.0f | p95 < 150 |\n", percentile (finals, 0.5),
          percentile (finals, 0.95), percentile (finals, 1.0));
  printf ("| time to first interim (ms) | %.0f | %.0f | %.0f | p95 < 400 |\n", percentile (interims, 0.5),
          percentile (interims, 0.95), percentile (interims, 1.0));
  if (missing > 0)
    printf ("\n%u utterances got no final.\n", missing);
}

static void
bench_concurrency (SoupSession *session)
{
  g_auto (GStrv) parts = g_strsplit (levels_text != NULL ? levels_text : "1,4,8,10,12,14,16", ",", -1);
  guint max_level = 0, best = 0;

  for (guint i = 0; parts[i] != NULL; i++)
    max_level = MAX (max_level, (guint) g_ascii_strtoull (parts[i], NULL, 10));

  {
    LmdTestServer *server = start_server (max_level);
    warm_up (session, server, max_level);
    printf ("\n## Concurrent real-time streams (each: 3 recordings, 1.5 s apart; %u cores)\n\n",
            g_get_num_processors ());
    printf ("| streams | utterances | final p50 (ms) | final p95 (ms) | no final | p95 < %.0f ms | server CPU s per stream s | load avg |\n",
            target_ms);
    printf ("|---|---|---|---|---|---|---|---|\n");
    for (guint l = 0; parts[l] != NULL; l++)
      {
        guint n = (guint) g_ascii_strtoull (parts[l], NULL, 10);
        g_autoptr (GArray) finals = g_array_new (FALSE, FALSE, sizeof (double));
        g_autofree double *delays = g_new (double, n);
        Client *clients;
        guint missing = 0;
        double p95, cpu, stream_seconds = 0.0;

        clients = open_clients (session, server, n, 3);
        for (guint i = 0; i < n; i++)
          delays[i] = (double) i / n;
        cpu = process_cpu_seconds (lmd_test_server_get_pid (server));
        drive (clients, n, delays);
        cpu = process_cpu_seconds (lmd_test_server_get_pid (server)) - cpu;
        for (guint i = 0; i < n; i++)
          {
            stream_seconds += g_bytes_get_size (clients[i].bytes) / 32000.0;
            missing += collect (&clients[i], finals, NULL);
            client_clear (&clients[i]);
          }
        g_free (clients);
        p95 = percentile (finals, 0.95);
        if (p95 < target_ms && missing == 0)
          best = MAX (best, n);
        printf ("| %u | %u | %.0f | %.0f | %u | %s | %.3f | %.1f |\n", n, finals->len + missing,
                percentile (finals, 0.5), p95, missing, p95 < target_ms && missing == 0 ? "yes" : "no",
                cpu / stream_seconds, load_average ());
        fflush (stdout);
      }
    lmd_test_server_stop (server);
    printf ("\nLargest number of simultaneous real-time streams with final p95 < %.0f ms: %u\n",
            target_ms, best);
  }
}

static void
bench_converter (void)
{
  const guint seconds = 60;
  static const struct { const char *name; LmdPcmEncoding encoding; guint rate; } cases[] = {
    { "linear16 16 kHz", LMD_PCM_LINEAR16, 16000 },
    { "mulaw 8 kHz", LMD_PCM_MULAW, 8000 },
    { "linear16 44.1 kHz", LMD_PCM_LINEAR16, 44100 },
    { "linear16 48 kHz", LMD_PCM_LINEAR16, 48000 },
    { "linear32 48 kHz", LMD_PCM_LINEAR32, 48000 },
  };

  printf ("\n## Converter (decode + resample to 16 kHz, 100 ms frames)\n\n");
  printf ("| input | CPU ms per audio second | share of one core |\n|---|---|---|\n");
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      guint bytes_per_sample = lmd_pcm_encoding_sample_bytes (cases[c].encoding);
      gsize frame = cases[c].rate / 10 * bytes_per_sample;
      g_autofree guint8 *data = g_malloc (frame);
      g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (float));
      g_autoptr (LmdPcmConverter) conv = lmd_pcm_converter_new (cases[c].encoding, cases[c].rate, 16000);
      gint64 t0;
      double ms;

      for (gsize i = 0; i < frame; i++)
        data[i] = (guint8) g_random_int_range (0, 64);
      t0 = g_get_monotonic_time ();
      for (guint f = 0; f < seconds * 10; f++)
        {
          lmd_pcm_converter_push (conv, data, frame, out);
          g_array_set_size (out, 0);
        }
      ms = (g_get_monotonic_time () - t0) / 1000.0 / seconds;
      printf ("| %s | %.3f | %.2f%% |\n", cases[c].name, ms, ms / 10.0);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) context = g_option_context_new ("— live transcription latency");
  g_autoptr (SoupSession) session = NULL;
  gint64 rounds_arg = 2, eou_arg = 800;
  gboolean skip_single = FALSE, skip_concurrency = FALSE;
  const GOptionEntry entries[] = {
    { "rounds", 0, 0, G_OPTION_ARG_INT64, &rounds_arg, "passes over the recordings (single streams)", "N" },
    { "levels", 0, 0, G_OPTION_ARG_STRING, &levels_text, "concurrent stream counts", "1,4,8,10,12,14,16" },
    { "eou", 0, 0, G_OPTION_ARG_INT64, &eou_arg, "eou_timeout_ms", "MS" },
    { "config", 0, 0, G_OPTION_ARG_STRING, &extra_config, "more server configuration lines", "TEXT" },
    { "query", 0, 0, G_OPTION_ARG_STRING, &extra_query, "more stream parameters", "vad=silero" },
    { "target-ms", 0, 0, G_OPTION_ARG_DOUBLE, &target_ms, "final p95 that keeps up", "500" },
    { "skip-single", 0, 0, G_OPTION_ARG_NONE, &skip_single, "skip the one-stream measures", NULL },
    { "skip-concurrency", 0, 0, G_OPTION_ARG_NONE, &skip_concurrency, "skip the concurrency measure", NULL },
    { NULL },
  };
  const char *dir = lmd_test_librivox_dir ();

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  rounds = (guint) MAX (rounds_arg, 1);
  eou_ms = (guint) CLAMP (eou_arg, 100, 10000);
  if (dir == NULL)
    {
      g_printerr ("pocketsphinx-testdata is not installed\n");
      return 77;
    }
  audio = g_ptr_array_new_with_free_func (g_free);
  lengths = g_array_new (FALSE, FALSE, sizeof (gsize));
  {
    g_autoptr (GDir) d = g_dir_open (dir, 0, &error);
    g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    const char *name;
    g_assert_no_error (error);
    while ((name = g_dir_read_name (d)) != NULL)
      if (g_str_has_suffix (name, ".wav"))
        g_ptr_array_add (names, g_strdup (name));
    g_ptr_array_sort (names, compare_names);
    for (guint i = 0; i < names->len; i++)
      {
        g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
        guint rate;
        gsize n;
        float *x = lmd_test_wav_read (path, &rate, &n, &error);
        g_assert_no_error (error);
        g_ptr_array_add (audio, x);
        g_array_append_val (lengths, n);
      }
  }
  session = soup_session_new_with_options ("timeout", 600, NULL);
  printf ("# bench-stream-latency: %u recordings, %u cores\n", audio->len, g_get_num_processors ());
  if (extra_config == NULL && extra_query == NULL)
    bench_converter ();
  if (!skip_single)
    bench_single (session);
  if (!skip_concurrency)
    bench_concurrency (session);
  g_ptr_array_unref (audio);
  g_array_unref (lengths);
  return 0;
}
