/* SPDX-License-Identifier: MIT */
/*
 * bench-api-hop — what the api hop costs: short batch requests sent straight to an asr
 * worker versus through an api process in front of it, same machine, same run.
 *
 * One asr worker (sphinx, --workers W) and two api processes in front of it: one with the
 * static worker list (LIGHTNING_ASR_BASE_URL), one choosing through Redis (a redis-server the
 * benchmark starts on a free loopback port; skipped when redis-server is not installed).
 * Each measurement sends --requests POSTs of 2 s of speech (WAV, the first 2 s of a
 * LibriVox recording of pocketsphinx-testdata) from C client threads at once, and records
 * every request's latency.  Paths are measured in turns for --rounds rounds, each round
 * starting with the next path (direct, api, api+redis; api, api+redis, direct; ...), so that
 * load from elsewhere on the machine falls on all of them.  Each row also gives the CPU time
 * (user + system, from /proc) the worker and the api process spent per request: the api's
 * share of it is what the hop costs in throughput where api and worker share the cores.
 *
 * A second table isolates the hop from the decoding: the same body with ?language=zz, which
 * the worker refuses (400 INVALID_PARAMETER) before decoding, so the time measured is the
 * HTTP exchange with its 64 KB body, plus the forwarding when through an api.
 *
 * A third table sends large bodies (--large-mb, 20 MiB: a WAV of 96 kHz stereo float, the
 * same speech then silence) from one client, straight to the worker and through the api with
 * the static list: refused before decoding (?language=zz: the upload and the hop alone), and
 * transcribed.  It prints the latencies and how much the peak RSS (VmHWM) of the api process
 * and of the worker grew over the table.
 *
 *   bench-api-hop [--clients 1,4] [--requests 40] [--rounds 3] [--workers 2] [--large-mb 20]
 *                 [--large-requests 3]
 */
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lmd-test-audio.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"
#include "lmd-test-wav.h"

static GBytes *wav;
static double wav_seconds;
static guint n_requests = 40;

typedef struct {
  const char *url;
  guint expect;         /* the status every request should get */
  guint count;          /* requests this client sends */
  GArray *latencies_ms; /* double */
  guint failures;
} Client;

static gpointer
client_main (gpointer data)
{
  Client *c = data;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 600, NULL);

  for (guint i = 0; i < c->count; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr (LmdTestResponse) resp = lmd_test_http (session, "POST", c->url, "audio/wav", wav, NULL);
      double ms = (g_get_monotonic_time () - t0) / 1000.0;
      if (resp->status != c->expect)
        c->failures++;
      else
        g_array_append_val (c->latencies_ms, ms);
    }
  return NULL;
}

typedef struct {
  double wall_s;
  GArray *latencies_ms; /* all requests of all rounds */
  guint requests, failures;
} Result;

static guint expected_status = 200;

static void
measure (const char *url, guint clients, Result *out)
{
  Client *c = g_new0 (Client, clients);
  GThread **threads = g_new0 (GThread *, clients);
  gint64 t0 = g_get_monotonic_time ();

  for (guint i = 0; i < clients; i++)
    {
      c[i].url = url;
      c[i].expect = expected_status;
      c[i].count = n_requests / clients + (i < n_requests % clients ? 1 : 0);
      c[i].latencies_ms = g_array_new (FALSE, FALSE, sizeof (double));
      threads[i] = g_thread_new ("client", client_main, &c[i]);
    }
  for (guint i = 0; i < clients; i++)
    {
      g_thread_join (threads[i]);
      g_array_append_vals (out->latencies_ms, c[i].latencies_ms->data, c[i].latencies_ms->len);
      out->requests += c[i].count;
      out->failures += c[i].failures;
      g_array_unref (c[i].latencies_ms);
    }
  out->wall_s += (g_get_monotonic_time () - t0) / 1e6;
  g_free (threads);
  g_free (c);
}

/* user + system CPU time of @pid so far, in ms (0 when it cannot be read) */
static double
process_cpu_ms (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *text = NULL;
  const char *p;
  guint64 utime = 0, stime = 0;

  if (pid <= 0 || !g_file_get_contents (path, &text, NULL, NULL) || (p = strrchr (text, ')')) == NULL)
    return 0;
  /* after "(comm)": state, then fields 4..; utime and stime are fields 14 and 15 */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
              &utime, &stime) != 2)
    return 0;
  return (utime + stime) * 1000.0 / sysconf (_SC_CLK_TCK);
}

/* VmHWM of @pid in KiB */
static guint64
peak_rss_kib (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  const char *at;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (at = strstr (text, "\nVmHWM:")) == NULL)
    return 0;
  return g_ascii_strtoull (at + strlen ("\nVmHWM:"), NULL, 10);
}

static void
put_le32 (guint8 *p, guint32 v)
{
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = v >> 24;
}

/* @bytes of WAV, IEEE float stereo at 96 kHz: @samples (16 kHz mono) held for six output
 * samples each, then silence. */
static GBytes *
large_wav (const float *samples, gsize n, gsize bytes)
{
  guint8 *data = g_malloc0 (bytes);
  float *out = (float *) (data + 44);
  gsize frames = (bytes - 44) / 8;

  memcpy (data, "RIFF", 4);
  put_le32 (data + 4, (guint32) bytes - 8);
  memcpy (data + 8, "WAVEfmt ", 8);
  put_le32 (data + 16, 16);
  data[20] = 3; /* IEEE float */
  data[22] = 2;
  put_le32 (data + 24, 96000);
  put_le32 (data + 28, 96000 * 8);
  data[32] = 8;
  data[34] = 32;
  memcpy (data + 36, "data", 4);
  put_le32 (data + 40, (guint32) (bytes - 44));
  for (gsize i = 0; i < n && i * 6 + 6 <= frames; i++)
    for (guint k = 0; k < 6; k++)
      out[(i * 6 + k) * 2] = out[(i * 6 + k) * 2 + 1] = samples[i];
  return g_bytes_new_take (data, bytes);
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
percentile (GArray *sorted, double p)
{
  gsize i;

  if (sorted->len == 0)
    return 0;
  i = (gsize) (p / 100.0 * (sorted->len - 1) + 0.5);
  return g_array_index (sorted, double, MIN (i, sorted->len - 1));
}

int
main (int argc, char **argv)
{
  g_autofree char *clients_opt = g_strdup ("1,4");
  gint rounds = 3, workers = 2, requests = 40, large_mb = 20, large_requests = 3;
  GOptionEntry entries[] = {
    { "clients", 'c', 0, G_OPTION_ARG_STRING, &clients_opt, "Concurrent clients, comma-separated (1,4)", "LIST" },
    { "requests", 'n', 0, G_OPTION_ARG_INT, &requests, "Requests per measurement (40)", "N" },
    { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "Turns over the paths (3)", "N" },
    { "workers", 'w', 0, G_OPTION_ARG_INT, &workers, "Inference threads of the worker (2)", "N" },
    { "large-mb", 'l', 0, G_OPTION_ARG_INT, &large_mb, "Size of the large bodies in MiB, 0 = none (20)", "N" },
    { "large-requests", 0, 0, G_OPTION_ARG_INT, &large_requests, "Large requests per path and round (3)", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— cost of the api hop");
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) client_counts = NULL;
  g_autofree char *path = NULL;
  g_autofree float *samples = NULL;
  g_autofree char *worker_args_w = NULL;
  g_autofree char *static_config = NULL, *redis_config = NULL;
  g_autofree char *redis_path = g_find_program_in_path ("redis-server");
  GSubprocess *redis = NULL;
  LmdTestServer *worker, *api_static, *api_redis = NULL;
  const char *names[3] = { "direct to worker", "api (static list)", "api (redis)" };
  char *urls[3] = { NULL, NULL, NULL };
  guint n_paths;
  guint rate = 0;
  gsize n = 0;

  setvbuf (stdout, NULL, _IOLBF, 0); /* rows appear as they are measured */
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  n_requests = (guint) MAX (requests, 1);
  if (lmd_test_librivox_dir () == NULL)
    {
      g_printerr ("pocketsphinx-testdata is not installed\n");
      return 77;
    }
  path = g_strdup_printf ("%s/sense_and_sensibility_01_austen_64kb-0870.wav", lmd_test_librivox_dir ());
  samples = lmd_test_wav_read (path, &rate, &n, &error);
  g_assert_no_error (error);
  n = MIN (n, (gsize) 2 * rate);
  wav = lmd_test_wav_encode (samples, n, rate);
  wav_seconds = (double) n / rate;

  /* the worker registers in Redis when there is one; the static api ignores the registry */
  if (redis_path != NULL)
    {
      guint port = lmd_test_free_port ();
      redis = lmd_test_redis_start (port, NULL);
      redis_config = g_strdup_printf ("[redis]\nurl=redis://127.0.0.1:%u\n[limits]\nqueue_size=256\n", port);
    }
  worker_args_w = g_strdup_printf ("--workers=%d", workers);
  {
    const char *args[] = { "--role=asr", worker_args_w, "--plugins=http;gst-decoder;sphinx", "--log-level=warning", NULL };
    const char *args_redis[] = { "--role=asr", worker_args_w, "--plugins=http;gst-decoder;sphinx;redis",
                                 "--log-level=warning", NULL };
    worker = lmd_test_server_start (redis_config != NULL ? redis_config : "[limits]\nqueue_size=256\n",
                                    redis_config != NULL ? args_redis : args, &error);
    g_assert_no_error (error);
  }
  static_config = g_strdup_printf ("[api]\nasr_base_url=http://127.0.0.1:%u\n", lmd_test_server_get_port (worker));
  {
    const char *args[] = { "--role=api", "--plugins=http;license", "--log-level=warning", NULL };
    api_static = lmd_test_server_start (static_config, args, &error);
    g_assert_no_error (error);
  }
  if (redis_config != NULL)
    {
      const char *args[] = { "--role=api", "--plugins=http;license;redis", "--log-level=warning", NULL };
      api_redis = lmd_test_server_start (redis_config, args, &error);
      g_assert_no_error (error);
      g_usleep (1500000); /* first registry read */
    }
  urls[0] = lmd_test_server_url (worker, "/v1/listen");
  urls[1] = lmd_test_server_url (api_static, "/v1/listen");
  urls[2] = api_redis != NULL ? lmd_test_server_url (api_redis, "/v1/listen") : NULL;
  n_paths = api_redis != NULL ? 3 : 2;

  g_print ("api hop: %u requests of %.1f s audio per measurement, %d rounds, worker --workers=%d, %u cores\n\n",
           n_requests, wav_seconds, rounds, workers, g_get_num_processors ());
  g_print ("| clients | path | requests | failures | req/s | audio s/s | p50 ms | p99 ms | worker CPU ms/req | api CPU ms/req |\n");
  g_print ("|---|---|---|---|---|---|---|---|---|---|\n");
  client_counts = g_strsplit (clients_opt, ",", -1);
  for (guint table = 0; table < 2; table++)
  for (guint ci = 0; client_counts[ci] != NULL; ci++)
    {
      guint clients = (guint) MAX (g_ascii_strtoull (client_counts[ci], NULL, 10), 1);
      Result results[3] = { 0 };
      double rps[3], p50[3], worker_cpu[3] = { 0 }, api_cpu[3] = { 0 };
      GPid api_pids[3] = { 0, lmd_test_server_get_pid (api_static),
                           api_redis != NULL ? lmd_test_server_get_pid (api_redis) : 0 };
      GPid worker_pid = lmd_test_server_get_pid (worker);

      if (table == 1 && ci == 0)
        {
          /* the hop alone: refused before decoding */
          for (guint p = 0; p < n_paths; p++)
            {
              char *refused = g_strconcat (urls[p], "?language=zz", NULL);
              g_free (urls[p]);
              urls[p] = refused;
            }
          expected_status = 400;
          n_requests *= 5;
          g_print ("\nthe hop alone: %u requests refused before decoding (400) per measurement\n\n", n_requests);
          g_print ("| clients | path | requests | failures | req/s | audio s/s | p50 ms | p99 ms | worker CPU ms/req | api CPU ms/req |\n");
          g_print ("|---|---|---|---|---|---|---|---|---|---|\n");
        }
      for (guint p = 0; p < n_paths; p++)
        results[p].latencies_ms = g_array_new (FALSE, FALSE, sizeof (double));
      /* warm-up: connections, the engine's first decode */
      for (guint p = 0; p < n_paths; p++)
        {
          Result warm = { 0 };
          warm.latencies_ms = g_array_new (FALSE, FALSE, sizeof (double));
          measure (urls[p], clients, &warm);
          g_array_unref (warm.latencies_ms);
        }
      /* each round starts with another path, so no path is always the first after a switch */
      for (gint r = 0; r < rounds; r++)
        for (guint i = 0; i < n_paths; i++)
          {
            guint p = (i + (guint) r) % n_paths;
            double w0 = process_cpu_ms (worker_pid), a0 = process_cpu_ms (api_pids[p]);
            measure (urls[p], clients, &results[p]);
            worker_cpu[p] += process_cpu_ms (worker_pid) - w0;
            api_cpu[p] += process_cpu_ms (api_pids[p]) - a0;
          }
      for (guint p = 0; p < n_paths; p++)
        {
          g_array_sort (results[p].latencies_ms, cmp_double);
          rps[p] = (results[p].requests - results[p].failures) / results[p].wall_s;
          p50[p] = percentile (results[p].latencies_ms, 50);
          char audio_rate[32] = "";
          if (table == 0)
            g_snprintf (audio_rate, sizeof audio_rate, "%.2f", rps[p] * wav_seconds);
          char api_cpu_text[32] = "";
          if (p > 0)
            g_snprintf (api_cpu_text, sizeof api_cpu_text, "%.2f", api_cpu[p] / MAX (results[p].requests, 1u));
          g_print ("| %u | %s | %u | %u | %.2f | %s | %.2f | %.2f | %.2f | %s |\n", clients, names[p],
                   results[p].requests, results[p].failures, rps[p], audio_rate, p50[p],
                   percentile (results[p].latencies_ms, 99), worker_cpu[p] / MAX (results[p].requests, 1u),
                   api_cpu_text);
          g_array_unref (results[p].latencies_ms);
        }
      for (guint p = 1; p < n_paths; p++)
        g_print ("| %u | %s vs direct | | | %+.1f %% | | %+.2f ms | | | |\n", clients, names[p],
                 (rps[p] / rps[0] - 1) * 100, p50[p] - p50[0]);
    }
  if (large_mb > 0)
    {
      /* large bodies: one client, direct and through the static api */
      GBytes *small = wav;
      GPid api_pid = lmd_test_server_get_pid (api_static), worker_pid = lmd_test_server_get_pid (worker);
      guint64 api_before = peak_rss_kib (api_pid), worker_before = peak_rss_kib (worker_pid);
      g_autofree char *direct = lmd_test_server_url (worker, "/v1/listen");
      g_autofree char *through = lmd_test_server_url (api_static, "/v1/listen");

      wav = large_wav (samples, MIN ((gsize) rate * 2, n), (gsize) large_mb * 1024 * 1024);
      n_requests = (guint) MAX (large_requests, 1);
      g_print ("\nlarge bodies: %d MiB (%.1f s of 96 kHz stereo float audio), %u requests per path and round, "
               "1 client, %d rounds\n\n",
               large_mb, (large_mb * 1024.0 * 1024 - 44) / (96000 * 8), n_requests, rounds);
      g_print ("| body | path | requests | failures | p50 ms | max ms |\n|---|---|---|---|---|---|\n");
      for (guint kind = 0; kind < 2; kind++)
        {
          const char *base[2] = { direct, through };
          Result results[2] = { 0 };

          expected_status = kind == 0 ? 400 : 200;
          for (guint p = 0; p < 2; p++)
            results[p].latencies_ms = g_array_new (FALSE, FALSE, sizeof (double));
          for (gint r = 0; r < rounds; r++)
            for (guint p = 0; p < 2; p++)
              {
                g_autofree char *url = g_strconcat (base[p], kind == 0 ? "?language=zz" : "", NULL);
                measure (url, 1, &results[p]);
              }
          for (guint p = 0; p < 2; p++)
            {
              g_array_sort (results[p].latencies_ms, cmp_double);
              g_print ("| %s | %s | %u | %u | %.0f | %.0f |\n", kind == 0 ? "refused (400)" : "transcribed",
                       names[p], results[p].requests, results[p].failures,
                       percentile (results[p].latencies_ms, 50), percentile (results[p].latencies_ms, 100));
              g_array_unref (results[p].latencies_ms);
            }
        }
      g_print ("\npeak RSS (VmHWM) over the large-body table: api %.1f -> %.1f MiB (+%.1f), "
               "worker %.1f -> %.1f MiB (+%.1f)\n",
               api_before / 1024.0, peak_rss_kib (api_pid) / 1024.0,
               ((gint64) peak_rss_kib (api_pid) - (gint64) api_before) / 1024.0, worker_before / 1024.0,
               peak_rss_kib (worker_pid) / 1024.0,
               ((gint64) peak_rss_kib (worker_pid) - (gint64) worker_before) / 1024.0);
      g_bytes_unref (wav);
      wav = small;
    }
  for (guint p = 0; p < 3; p++)
    g_free (urls[p]);
  if (api_redis != NULL)
    lmd_test_server_stop (api_redis);
  lmd_test_server_stop (api_static);
  lmd_test_server_stop (worker);
  if (redis != NULL)
    lmd_test_redis_stop (redis);
  g_bytes_unref (wav);
  return 0;
}
