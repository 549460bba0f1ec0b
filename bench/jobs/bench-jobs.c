/* SPDX-License-Identifier: MIT */
/*
 * bench-jobs — asynchronous jobs on the real server, built-in spool store and Redis store.
 *
 * For each store: a fresh server (http + gst-decoder + sphinx, --workers W) and a callback
 * receiver in this process; N jobs (the LibriVox recordings of pocketsphinx-testdata, in turn)
 * are submitted back to back with callback_url.  Prints, per store: the time to the 202
 * (median, max), the time from a job's 202 to its callback (median, max), and the audio
 * seconds per wall second from the first POST to the last callback.  The Redis run starts its
 * own redis-server on a free loopback port (skipped when redis-server is missing).
 *
 *   bench-jobs [--jobs N] [--workers W]
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-callback-receiver.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"

static GPtrArray *files;  /* GBytes of each WAV */
static GArray *seconds;   /* double: audio seconds of each WAV */
static gint n_jobs = 20;
static gint workers = 2;

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (GArray *values)
{
  g_array_sort (values, compare_double);
  return g_array_index (values, double, values->len / 2);
}

static double
maximum (GArray *values)
{
  g_array_sort (values, compare_double);
  return g_array_index (values, double, values->len - 1);
}

static void
run (const char *store, const char *plugins, const char *extra_config)
{
  g_autofree char *config = g_strdup_printf ("[server]\nrole=all\n[plugins]\nload=%s\n"
                                             "[limits]\nworkers=%d\nallow_private_urls=true\n%s",
                                             plugins, workers, extra_config);
  g_autoptr (GError) error = NULL;
  LmdTestServer *server = lmd_test_server_start (config, NULL, &error);
  LmdTestCallbackReceiver *receiver = lmd_test_callback_receiver_start (0);
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 600, NULL);
  g_autofree char *callback = lmd_test_callback_receiver_url (receiver, "/hook");
  g_autofree char *escaped = g_uri_escape_string (callback, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
  g_autofree char *url = NULL;
  g_autoptr (GHashTable) accepted_at = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GArray) accept_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) e2e_s = g_array_new (FALSE, FALSE, sizeof (double));
  double audio = 0.0, wall;
  gint64 start, deadline;
  guint seen = 0, failures = 0;

  g_assert_no_error (error);
  url = lmd_test_server_url (server, path);
  start = g_get_monotonic_time ();
  for (gint i = 0; i < n_jobs; i++)
    {
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav",
                                                     files->pdata[i % files->len], NULL);
      double ms = (g_get_monotonic_time () - t0) / 1e3;
      gint64 *at = g_new (gint64, 1);
      JsonObject *o;

      if (r->status != 202)
        {
          failures++;
          g_free (at);
          continue;
        }
      o = lmd_test_response_json (r);
      *at = g_get_monotonic_time ();
      g_hash_table_insert (accepted_at, g_strdup (json_object_get_string_member (o, "job_id")), at);
      g_array_append_val (accept_ms, ms);
      audio += g_array_index (seconds, double, i % files->len);
    }
  /* callbacks as they arrive */
  deadline = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;
  while (seen < g_hash_table_size (accepted_at) && g_get_monotonic_time () < deadline)
    {
      guint n = lmd_test_callback_receiver_get_delivered (receiver);
      gint64 now = g_get_monotonic_time ();
      for (; seen < n; seen++)
        {
          g_autofree char *body = lmd_test_callback_receiver_get_body (receiver, seen);
          g_autoptr (JsonParser) parser = json_parser_new ();
          const char *job_id;
          gint64 *at;

          json_parser_load_from_data (parser, body, -1, NULL);
          job_id = json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "job_id");
          at = g_hash_table_lookup (accepted_at, job_id);
          if (!g_str_equal (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "status"), "completed"))
            failures++;
          if (at != NULL)
            {
              double s = (now - *at) / 1e6;
              g_array_append_val (e2e_s, s);
            }
        }
      g_main_context_iteration (NULL, FALSE);
      g_usleep (2000);
    }
  wall = (g_get_monotonic_time () - start) / 1e6;
  g_print ("| %s | %d | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %u |\n", store, n_jobs, workers,
           median (accept_ms), maximum (accept_ms), e2e_s->len > 0 ? median (e2e_s) : 0.0,
           e2e_s->len > 0 ? maximum (e2e_s) : 0.0, audio / wall, failures + (g_hash_table_size (accepted_at) - seen));
  lmd_test_server_stop (server);
  lmd_test_callback_receiver_stop (receiver);
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "jobs", 'n', 0, G_OPTION_ARG_INT, &n_jobs, "Jobs per store (default 20)", "N" },
    { "workers", 'w', 0, G_OPTION_ARG_INT, &workers, "Server workers (default 2)", "W" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("— asynchronous jobs");
  g_autoptr (GError) error = NULL;
  g_autofree char *fileids = NULL;
  g_autofree char *fpath = NULL;
  g_auto (GStrv) lines = NULL;
  g_autofree char *spool = NULL;
  g_autofree char *spool_config = NULL;
  GSubprocess *redis = NULL;
  guint redis_port = lmd_test_free_port ();

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || n_jobs < 1 || workers < 1)
    {
      g_printerr ("bench-jobs: %s\n", error != NULL ? error->message : "bad arguments");
      return 2;
    }
  if (lmd_test_librivox_dir () == NULL)
    {
      g_print ("pocketsphinx-testdata is not installed; skipping\n");
      return 0;
    }
  files = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  seconds = g_array_new (FALSE, FALSE, sizeof (double));
  fpath = g_build_filename (lmd_test_librivox_dir (), "fileids", NULL);
  g_file_get_contents (fpath, &fileids, NULL, &error);
  g_assert_no_error (error);
  lines = g_strsplit (g_strstrip (fileids), "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *wav = g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), g_strstrip (lines[i]));
      char *data = NULL;
      gsize len = 0;
      double s;

      g_file_get_contents (wav, &data, &len, &error);
      g_assert_no_error (error);
      s = (len - 44) / (16000.0 * 2); /* 16 kHz mono s16 WAV */
      g_ptr_array_add (files, g_bytes_new_take (data, len));
      g_array_append_val (seconds, s);
    }

  g_print ("| store | jobs | workers | 202 median (ms) | 202 max (ms) | 202 to callback median (s) | 202 to callback max (s) | audio s / wall s | failed |\n"
           "|---|---|---|---|---|---|---|---|---|\n");
  spool = g_dir_make_tmp ("lmd-bench-jobs-XXXXXX", &error);
  g_assert_no_error (error);
  spool_config = g_strdup_printf ("[jobs]\ndir=%s\npoll_ms=50\n", spool);
  run ("local spool", "http;gst-decoder;sphinx", spool_config);
  rm_rf (spool);
  redis = lmd_test_redis_start (redis_port, NULL);
  if (redis != NULL)
    {
      g_autofree char *redis_config = g_strdup_printf ("[redis]\nurl=redis://127.0.0.1:%u\n[jobs]\npoll_ms=50\n",
                                                       redis_port);
      run ("redis", "http;gst-decoder;sphinx;redis-jobs", redis_config);
      lmd_test_redis_stop (redis);
    }
  else
    g_print ("(redis-server is not installed: no Redis row)\n");
  g_ptr_array_unref (files);
  g_array_unref (seconds);
  return 0;
}
