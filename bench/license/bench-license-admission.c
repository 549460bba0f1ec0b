/* SPDX-License-Identifier: MIT */
/*
 * bench-license-admission — what an admission costs a request, by where the limits live.
 *
 * Over HTTP: the same api process (http;gst-decoder;sphinx + a license plugin) is started
 * with the in-process "license" plugin (limits in its memory), with "license" and the
 * "redis-limits" store (limits in a redis-server on loopback), and with "license-remote"
 * asking a `--role license` process on loopback.  One client sends --requests sequential
 * POST /v1/listen with a valid key and a body no decoder recognises: each is admitted by the
 * license (and completed), then answered 415, so the time is the admission plus a little
 * HTTP, without any inference.  Prints the p50 / p95 / p99 / max round trip per
 * configuration, and the requests per second.
 *
 * Admission alone (without --no-direct): the process-local limiter (LmdLicenseLimiter) and
 * the Redis store (LmdRedisLimitStore, one connection) called directly in this process:
 * acquire + release, --requests times one after the other (p50 / p99 of the acquire), and
 * with 64 admissions in flight at once (admissions per second).
 *
 * The key's limits are high enough never to refuse (every limit is still checked).
 *
 *   bench-license-admission [--requests N] [--no-direct]
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-license-limiter.h"
#include "lmd-test-license-support.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"
#ifdef LMD_BENCH_REDIS
#include "lmd-limit-store.h"
#include "lmd-redis-limit-store.h"
#endif

#define RPM 1000000000
#define CONCURRENCY 100000
#define AUDIO_HOURS 1000000.0
#define IN_FLIGHT 64

static gint requests = 500;
static gboolean no_direct = FALSE;

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
measure (const char *name, LmdTestServer *server, const char *key)
{
  g_autoptr (SoupSession) session = soup_session_new ();
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autofree char *auth = g_strdup_printf ("Token %s", key);
  g_autoptr (GBytes) body = g_bytes_new_static ("not audio, just some bytes", 26);
  g_autoptr (GArray) times = g_array_new (FALSE, FALSE, sizeof (double));
  gint64 start = g_get_monotonic_time ();
  guint failures = 0;

  for (gint i = 0; i < requests + 20; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", body,
                                                     "Authorization", auth, NULL);
      double ms = (g_get_monotonic_time () - t0) / 1000.0;
      if (r->status != 415)
        failures++;
      if (i == 19)
        start = g_get_monotonic_time (); /* the first 20 warm the connection up */
      if (i >= 20)
        g_array_append_val (times, ms);
    }
  g_array_sort (times, compare_doubles);
  g_print ("| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %u |\n", name,
           g_array_index (times, double, times->len / 2),
           g_array_index (times, double, times->len * 95 / 100),
           g_array_index (times, double, times->len * 99 / 100),
           g_array_index (times, double, times->len - 1),
           requests / ((g_get_monotonic_time () - start) / 1e6), failures);
}

static void
print_direct (const char *name, GArray *times, double sequential_per_s, double parallel_per_s)
{
  g_array_sort (times, compare_doubles);
  char parallel[32] = "n/a";

  /* times in ms; printed in microseconds (us: g_print converts to the locale's charset) */
  if (parallel_per_s > 0)
    g_snprintf (parallel, sizeof parallel, "%.0f", parallel_per_s);
  g_print ("| %s | %.0f | %.0f | %.0f | %.0f | %s |\n", name,
           1000 * g_array_index (times, double, times->len / 2),
           1000 * g_array_index (times, double, times->len * 99 / 100),
           1000 * g_array_index (times, double, times->len - 1), sequential_per_s, parallel);
}

static void
direct_memory (void)
{
  g_autoptr (LmdLicenseLimiter) limiter = lmd_license_limiter_new ();
  g_autoptr (GArray) times = g_array_new (FALSE, FALSE, sizeof (double));
  LmdLicenseLimits limits = { 0 };
  gint64 start;
  double sequential;

  limits.rpm = RPM;
  limits.concurrency = CONCURRENCY;
  limits.audio_hours_per_day = AUDIO_HOURS;
  start = g_get_monotonic_time ();
  for (gint i = 0; i < requests; i++)
    {
      guint retry = 0;
      gint64 t0 = g_get_monotonic_time ();
      gboolean ok = lmd_license_limiter_acquire (limiter, "api:bench", "license", &limits, &retry, NULL);
      double ms = (g_get_monotonic_time () - t0) / 1000.0;
      g_assert_true (ok);
      g_array_append_val (times, ms);
      lmd_license_limiter_release (limiter, "api:bench", "license", 1.0);
    }
  sequential = requests / ((g_get_monotonic_time () - start) / 1e6);
  /* in memory there is nothing to wait for: nothing is ever in flight */
  print_direct ("process memory (LmdLicenseLimiter)", times, sequential, -1);
}

#ifdef LMD_BENCH_REDIS
typedef struct {
  LmdLimitStore *store;
  gint64 started;
  guint done;
  gboolean ok;
  double ms;
  char ticket[48];
} Pending;

static void
acquired (GObject *source, GAsyncResult *result, gpointer data)
{
  Pending *p = data;

  p->ok = lmd_limit_store_acquire_finish (LMD_LIMIT_STORE (source), result, NULL, NULL, NULL);
  p->ms = (g_get_monotonic_time () - p->started) / 1000.0;
  p->done++;
}

static void
direct_redis (guint port)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autofree char *url = g_strdup_printf ("redis://127.0.0.1:%u/0", port);
  g_autoptr (LmdLimitStore) store = g_object_new (LMD_TYPE_REDIS_LIMIT_STORE, NULL);
  g_autoptr (GArray) times = g_array_new (FALSE, FALSE, sizeof (double));
  LmdLimitStoreLimits limits = { RPM, CONCURRENCY, AUDIO_HOURS };
  Pending *slots = g_new0 (Pending, IN_FLIGHT);
  gint64 start;
  double sequential, parallel;
  guint sent = 0, finished = 0;

  g_key_file_set_string (config, "redis", "url", url);
  g_assert_true (lmd_limit_store_setup (store, config, NULL));
  lmd_limit_store_start (store);
  while (!lmd_limit_store_is_available (store))
    g_main_context_iteration (NULL, TRUE);
  start = g_get_monotonic_time ();
  for (gint i = 0; i < requests; i++)
    {
      g_autofree char *ticket = g_strdup_printf ("seq-%d", i);
      Pending p = { store, g_get_monotonic_time (), 0, FALSE, 0, "" };
      lmd_limit_store_acquire_async (store, "bench/api:bench", "bench", &limits, ticket, NULL,
                                     acquired, &p);
      while (p.done == 0)
        g_main_context_iteration (NULL, TRUE);
      g_assert_true (p.ok);
      g_array_append_val (times, p.ms);
      lmd_limit_store_release (store, "bench/api:bench", "bench", ticket, 1.0);
    }
  sequential = requests / ((g_get_monotonic_time () - start) / 1e6);
  /* IN_FLIGHT admissions at once, each slot starting the next when answered */
  start = g_get_monotonic_time ();
  while (finished < (guint) requests)
    {
      for (guint s = 0; s < IN_FLIGHT; s++)
        {
          Pending *p = &slots[s];
          if (p->store != NULL && p->done == 0)
            continue;
          if (p->store != NULL)
            {
              g_assert_true (p->ok);
              lmd_limit_store_release (store, "bench/api:bench", "bench", p->ticket, 1.0);
              finished++;
            }
          if (sent < (guint) requests)
            {
              g_snprintf (p->ticket, sizeof p->ticket, "par-%u", sent);
              p->store = store;
              p->done = 0;
              p->started = g_get_monotonic_time ();
              lmd_limit_store_acquire_async (store, "bench/api:bench", "bench", &limits, p->ticket,
                                             NULL, acquired, p);
              sent++;
            }
          else
            p->store = NULL;
        }
      g_main_context_iteration (NULL, TRUE);
    }
  parallel = requests / ((g_get_monotonic_time () - start) / 1e6);
  print_direct ("Redis on loopback (LmdRedisLimitStore)", times, sequential, parallel);
  g_free (slots);
}
#endif

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) context = g_option_context_new ("— license admission cost");
  GOptionEntry entries[] = {
    { "requests", 'n', 0, G_OPTION_ARG_INT, &requests, "Requests per configuration (500)", "N" },
    { "no-direct", 0, 0, G_OPTION_ARG_NONE, &no_direct, "Only the HTTP rows", NULL },
    { NULL },
  };
  g_autoptr (LmdLicenseSigningKey) vendor = lmd_license_signing_key_generate ();
  g_autofree char *dir = g_dir_make_tmp ("lmd-bench-license-XXXXXX", NULL);
  g_autofree char *pub = lmd_test_write_public_key (vendor, dir);
  g_autofree char *key = lmd_test_issue_key (vendor, "lic_bench", 0, 86400, RPM, CONCURRENCY,
                                             AUDIO_HOURS, NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *license_section = g_strdup_printf ("[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\n",
                                                      key, pub, state);
  g_autofree char *local_config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;license\n"
                                                   "[limits]\nworkers=1\n%s", license_section);
  g_autofree char *remote_config = NULL;
  g_autofree char *redis_config = NULL;
  const char *role_args[] = { "--role", "license", NULL };
  LmdTestServer *local, *role, *remote, *shared;
  guint redis_port = lmd_test_free_port ();
  GSubprocess *redis = lmd_test_redis_start (redis_port, NULL);

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || requests < 1)
    {
      g_printerr ("%s\n", error != NULL ? error->message : "--requests must be positive");
      return 2;
    }
  g_print ("%d sequential requests per row (after 20 to warm up), admitted then answered 415\n\n",
           requests);
  g_print ("| license | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | requests/s | failures |\n"
           "|---|---|---|---|---|---|---|\n");
  local = lmd_test_server_start (local_config, NULL, &error);
  g_assert_no_error (error);
  measure ("in process (license), limits in memory", local, key);
  lmd_test_server_stop (local);

  if (redis != NULL)
    {
      redis_config = g_strdup_printf ("%s[redis]\nurl=redis://127.0.0.1:%u/0\n", local_config,
                                      redis_port);
      shared = lmd_test_server_start (redis_config, NULL, &error);
      g_assert_no_error (error);
      measure ("in process (license), limits in Redis (redis-limits)", shared, key);
      lmd_test_server_stop (shared);
    }

  role = lmd_test_server_start (license_section, role_args, &error);
  g_assert_no_error (error);
  remote_config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;license-remote\n"
                                   "[limits]\nworkers=1\n[license]\nservice_url=http://127.0.0.1:%u\n",
                                   lmd_test_server_get_port (role));
  remote = lmd_test_server_start (remote_config, NULL, &error);
  g_assert_no_error (error);
  measure ("license role over HTTP (license-remote)", remote, key);
  lmd_test_server_stop (remote);
  lmd_test_server_stop (role);

  if (!no_direct)
    {
      g_print ("\nAdmission alone, %d acquire + release per row; the acquire timed\n\n", requests);
      g_print ("| limiter | p50 (us) | p99 (us) | max (us) | admissions/s, one at a time | "
               "admissions/s, %d in flight |\n|---|---|---|---|---|---|\n", IN_FLIGHT);
      direct_memory ();
#ifdef LMD_BENCH_REDIS
      if (redis != NULL)
        direct_redis (redis_port);
#endif
    }
  if (redis != NULL)
    lmd_test_redis_stop (redis);
  {
    const char *rm[] = { "rm", "-rf", dir, NULL };
    g_autoptr (GSubprocess) p = g_subprocess_newv (rm, G_SUBPROCESS_FLAGS_NONE, NULL);
    if (p != NULL)
      g_subprocess_wait (p, NULL, NULL);
  }
  return 0;
}
