/* SPDX-License-Identifier: MIT */
/*
 * bench-floods — the floods of tests/reliability/test-http-floods.c at full size, against
 * the real server with its shipped timeouts (header_timeout_s 30, body_timeout_s 60,
 * keepalive_timeout_s 15) unless --config says otherwise:
 *
 *  1. slow clients: --slow clients sending request headers a byte a second and as many
 *     sending an upload's body a byte a second;
 *  2. idle connections: --idle keep-alive connections left idle after one /health, and as
 *     many that never send anything;
 *  3. over the limits: --uploads uploads of a recording at once (workers 2, queue_size 8 by
 *     default), then --streams streams where max_streams (16) may run.
 *
 * For each: the answers by status, when the last connection was closed, /health probes
 * (one every 500 ms on a connection of its own: answered, slowest), the daemon's
 * descriptors and resident memory before, at the end of the flood and 5 s after.  Every
 * connection must get an HTTP answer (200, 408, or 503 with Retry-After) and the descriptors
 * must come back to the baseline; the exit status is 1 otherwise.
 *
 *   bench-floods [--slow 500] [--idle 1000] [--uploads 64] [--streams 40] [--config TEXT]
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "lmd-test-flood.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"

static guint n_slow = 500;
static guint n_idle = 1000;
static guint n_uploads = 64;
static guint n_streams = 40;
static char *extra_config = NULL;
static gboolean failed;

typedef struct {
  guint baseline_fds;
  guint64 baseline_rss;
  guint64 peak_rss;
} Sample;

static Sample
sample_start (LmdTestServer *server)
{
  Sample s = { 0 };
  s.baseline_fds = lmd_test_count_descriptors (lmd_test_server_get_pid (server));
  s.baseline_rss = lmd_test_resident_bytes (lmd_test_server_get_pid (server));
  return s;
}

static gint
compare_statuses (gconstpointer a, gconstpointer b)
{
  return (gint) GPOINTER_TO_UINT (a) - (gint) GPOINTER_TO_UINT (b);
}

/* Prints the row of one flood and checks it. */
static void
report (const char *name, LmdTestServer *server, LmdTestFlood *flood, Sample *s, gboolean all_closed)
{
  GPid pid = lmd_test_server_get_pid (server);
  g_autoptr (GHashTable) statuses = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_autoptr (GString) by_status = g_string_new (NULL);
  guint64 end_rss = lmd_test_resident_bytes (pid);
  guint end_fds = lmd_test_count_descriptors (pid), after_fds;
  guint unanswered = 0;
  double latest = 0;
  g_autoptr (GList) keys = NULL;
  g_autofree char *closed_text = all_closed ? NULL : g_strdup ("not all");

  for (guint i = 0; i < flood->clients->len; i++)
    {
      LmdTestFloodClient *c = flood->clients->pdata[i];
      guint status = lmd_test_flood_client_status (c);
      if (status == 0 || (status == 503 && strstr (c->answer->str, "Retry-After: ") == NULL))
        unanswered++;
      g_hash_table_insert (statuses, GUINT_TO_POINTER (status),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (statuses, GUINT_TO_POINTER (status))) + 1));
      latest = MAX (latest, lmd_test_flood_client_closed_after (c));
    }
  keys = g_list_sort (g_hash_table_get_keys (statuses), compare_statuses);
  for (GList *l = keys; l != NULL; l = l->next)
    g_string_append_printf (by_status, "%s%u × %u", by_status->len > 0 ? ", " : "",
                            GPOINTER_TO_UINT (g_hash_table_lookup (statuses, l->data)), GPOINTER_TO_UINT (l->data));
  g_usleep (5 * G_USEC_PER_SEC);
  after_fds = lmd_test_count_descriptors (pid);
  printf ("| %s | %u | %s | %s | %u/%u, %.3f s | %u → %u → %u | %.0f → %.0f → %.0f |\n", name, flood->clients->len,
          by_status->str, closed_text != NULL ? closed_text : (closed_text = g_strdup_printf ("%.1f s", latest)), flood->probes_ok, flood->probes,
          flood->probe_max_s, s->baseline_fds, end_fds, after_fds, s->baseline_rss / 1048576.0, end_rss / 1048576.0,
          lmd_test_resident_bytes (pid) / 1048576.0);
  for (guint i = 0; i < flood->probe_failures->len; i++)
    printf ("#   /health probe at %.1f s: no 200 within 5 s\n", g_array_index (flood->probe_failures, double, i));
  fflush (stdout);
  if (unanswered > 0 || !all_closed || flood->probes_ok != flood->probes || after_fds > s->baseline_fds + 2)
    failed = TRUE;
}

static char *
upload_headers (gsize body_len)
{
  return g_strdup_printf ("POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
                          "Content-Length: %zu\r\n\r\n", body_len);
}

static void
flood_slow (LmdTestServer *server)
{
  g_autoptr (LmdTestFlood) flood = lmd_test_flood_new (lmd_test_server_get_port (server));
  Sample s = sample_start (server);
  g_autofree char *headers = upload_headers (100000);
  g_autofree char *upload = g_strdup_printf ("%sRIFF%099996d", headers, 0);
  static const char slow_headers[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  gboolean closed;

  for (guint i = 0; i < n_slow; i++)
    {
      lmd_test_flood_add (flood, slow_headers, sizeof slow_headers - 1, 0, 1000);
      lmd_test_flood_add (flood, upload, strlen (upload), strlen (headers), 1000);
    }
  closed = lmd_test_flood_run (flood, 240, 500);
  report ("headers and bodies a byte a second", server, flood, &s, closed);
}

static void
flood_idle (LmdTestServer *server)
{
  g_autoptr (LmdTestFlood) flood = lmd_test_flood_new (lmd_test_server_get_port (server));
  Sample s = sample_start (server);
  static const char health[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  gboolean closed;

  for (guint i = 0; i < n_idle; i++)
    {
      lmd_test_flood_add (flood, health, sizeof health - 1, sizeof health - 1, 0);
      lmd_test_flood_add (flood, "", 0, 0, 0);
    }
  closed = lmd_test_flood_run (flood, 120, 500);
  report ("idle keep-alive and silent connections", server, flood, &s, closed);
}

static void
flood_uploads (LmdTestServer *server)
{
  g_autoptr (LmdTestFlood) flood = lmd_test_flood_new (lmd_test_server_get_port (server));
  Sample s = sample_start (server);
  g_autofree char *path = g_build_filename (g_getenv ("LMD_SOURCE_DIR") != NULL ? g_getenv ("LMD_SOURCE_DIR") : ".",
                                            "tests", "fixtures", "audio", "speech-sample.wav", NULL);
  g_autofree char *wav = NULL;
  gsize wav_len = 0;
  g_autofree char *headers = NULL;
  g_autoptr (GString) request = NULL;
  gboolean closed;

  if (!g_file_get_contents (path, &wav, &wav_len, NULL))
    g_error ("cannot read %s (set LMD_SOURCE_DIR to the source tree)", path);
  headers = upload_headers (wav_len);
  request = g_string_new (headers);
  g_string_append_len (request, wav, (gssize) wav_len);
  for (guint i = 0; i < n_uploads; i++)
    lmd_test_flood_add (flood, request->str, request->len, request->len, 0);
  closed = lmd_test_flood_run (flood, 600, 500);
  report ("uploads at once", server, flood, &s, closed);
}

static void
flood_streams (LmdTestServer *server)
{
  g_autoptr (SoupSession) session = soup_session_new_with_options ("max-conns", 4096, "max-conns-per-host", 4096, NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream", lmd_test_server_get_port (server));
  g_autoptr (GPtrArray) streams = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_test_stream_free);
  Sample s = sample_start (server);
  guint refused = 0, open = 0, other = 0, fds;
  gint64 deadline;

  for (guint i = 0; i < n_streams; i++)
    {
      g_autoptr (GError) error = NULL;
      LmdTestStream *stream = lmd_test_stream_connect (session, url, &error);
      if (stream == NULL)
        {
          other++;
          continue;
        }
      g_ptr_array_add (streams, stream);
    }
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (2000), TRUE);
  for (guint i = 0; i < streams->len; i++)
    {
      LmdTestStream *st = streams->pdata[i];
      JsonObject *e = lmd_test_stream_find_type (st, "error");
      if (st->closed && st->close_code == 1008 && e != NULL &&
          g_strcmp0 (json_object_get_string_member (e, "code"), "SERVICE_UNAVAILABLE") == 0)
        refused++;
      else if (!st->closed)
        open++;
      else
        other++;
    }
  fds = lmd_test_count_descriptors (lmd_test_server_get_pid (server));
  for (guint i = 0; i < streams->len; i++)
    {
      LmdTestStream *st = streams->pdata[i];
      if (!st->closed)
        {
          lmd_test_stream_send_text (st, "{\"type\":\"close_stream\"}");
          lmd_test_stream_wait_closed (st, 30);
        }
    }
  g_ptr_array_set_size (streams, 0);
  g_clear_object (&session);
  g_usleep (5 * G_USEC_PER_SEC);
  printf ("| streams at once | %u | %u open, %u SERVICE_UNAVAILABLE (close 1008), %u otherwise | | | %u → %u → %u | %.0f → %.0f |\n",
          n_streams, open, refused, other, s.baseline_fds, fds,
          lmd_test_count_descriptors (lmd_test_server_get_pid (server)), s.baseline_rss / 1048576.0,
          lmd_test_resident_bytes (lmd_test_server_get_pid (server)) / 1048576.0);
  if (other > 0 || lmd_test_count_descriptors (lmd_test_server_get_pid (server)) > s.baseline_fds + 2)
    failed = TRUE;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    { "slow", 0, 0, G_OPTION_ARG_INT, &n_slow, "slow-header clients, and as many slow-body ones (500)", "N" },
    { "idle", 0, 0, G_OPTION_ARG_INT, &n_idle, "idle keep-alive connections, and as many silent ones (1000)", "N" },
    { "uploads", 0, 0, G_OPTION_ARG_INT, &n_uploads, "uploads at once (64)", "N" },
    { "streams", 0, 0, G_OPTION_ARG_INT, &n_streams, "streams at once (40)", "N" },
    { "config", 0, 0, G_OPTION_ARG_STRING, &extra_config, "more configuration lines", "TEXT" },
    { NULL }
  };
  g_autoptr (GOptionContext) options = g_option_context_new ("— floods against the real server");
  g_autoptr (GError) error = NULL;
  g_autofree char *config = NULL;
  struct rlimit rl;
  LmdTestServer *server;

  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  /* this process holds every client's socket */
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
  config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx\n[sphinx]\ndecoders=2\n"
                            "[limits]\nworkers=2\nqueue_size=8\n"
                            "[server]\nmax_connections_per_client=0\nlog_level=warning\n%s",
                            extra_config != NULL ? extra_config : "");
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  printf ("| flood | connections | answers (count × status) | last closed | /health 200, slowest | descriptors before → end → 5 s after | RSS MiB before → end → 5 s after |\n");
  printf ("|---|---:|---|---:|---|---|---|\n");
  fflush (stdout);
  if (n_slow > 0)
    flood_slow (server);
  if (n_idle > 0)
    flood_idle (server);
  if (n_uploads > 0)
    flood_uploads (server);
  if (n_streams > 0)
    flood_streams (server);
  printf ("\n# server exit status %d\n", lmd_test_server_stop (server));
  return failed ? 1 : 0;
}
