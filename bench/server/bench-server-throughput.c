/* SPDX-License-Identifier: MIT */
/*
 * bench-server-throughput — batch throughput and memory of the real server.
 *
 * 1. Throughput of POST /v1/listen on the LibriVox recordings of pocketsphinx-testdata with
 *    1, 2 and 4 concurrent clients (each client sends every file, --rounds times), as
 *    audio-seconds per wall-second, next to the library's own batch decoder
 *    (pocketsphinx_batch, one process per client, the same files and rounds) measured in the
 *    same run on the same cores.
 * 2. Peak resident memory (VmHWM) of a fresh server transcribing one long WAV made by
 *    concatenating the recordings, for several lengths (default 5, 15 and 30 minutes).
 *
 *   bench-server-throughput [--rounds N] [--minutes 5,15,30] [--skip-memory]
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-wav.h"

#define MODEL "/usr/share/pocketsphinx/model/en-us"

static GPtrArray *files;   /* GBytes of each WAV */
static GPtrArray *ids;     /* utterance ids */
static double set_seconds; /* audio seconds in one pass over the set */
static guint rounds = 2;

typedef struct {
  LmdTestServer *server;
  guint failures;
} Client;

static gpointer
client_main (gpointer data)
{
  Client *c = data;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 600, NULL);
  g_autofree char *url = lmd_test_server_url (c->server, "/v1/listen");

  for (guint r = 0; r < rounds; r++)
    for (guint i = 0; i < files->len; i++)
      {
        g_autoptr (LmdTestResponse) resp = lmd_test_http (session, "POST", url, "audio/wav", files->pdata[i], NULL);
        if (resp->status != 200)
          c->failures++;
      }
  return NULL;
}

static double
server_throughput (guint clients, guint *failures)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx\n"
                                             "[limits]\nworkers=%u\n", MIN (clients, g_get_num_processors ()));
  LmdTestServer *server = lmd_test_server_start (config, NULL, &error);
  Client *c = g_new0 (Client, clients);
  GThread **threads = g_new0 (GThread *, clients);
  gint64 start;
  double wall;

  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  for (guint i = 0; i < clients; i++)
    {
      c[i].server = server;
      threads[i] = g_thread_new ("client", client_main, &c[i]);
    }
  *failures = 0;
  for (guint i = 0; i < clients; i++)
    {
      g_thread_join (threads[i]);
      *failures += c[i].failures;
    }
  wall = (g_get_monotonic_time () - start) / 1e6;
  lmd_test_server_stop (server);
  g_free (c);
  g_free (threads);
  return set_seconds * rounds * clients / wall;
}

static double
library_throughput (guint processes)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("lmd-bench-XXXXXX", &error);
  g_autofree char *ctl = g_build_filename (dir, "ctl", NULL);
  GString *lines = g_string_new (NULL);
  GSubprocess **procs = g_new0 (GSubprocess *, processes);
  gint64 start;
  double wall;

  g_assert_no_error (error);
  for (guint r = 0; r < rounds; r++)
    for (guint i = 0; i < ids->len; i++)
      g_string_append_printf (lines, "%s\n", (char *) ids->pdata[i]);
  g_file_set_contents (ctl, lines->str, -1, &error);
  g_assert_no_error (error);
  g_string_free (lines, TRUE);

  start = g_get_monotonic_time ();
  for (guint p = 0; p < processes; p++)
    {
      g_autofree char *hyp = g_strdup_printf ("%s/hyp%u", dir, p);
      procs[p] = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                                   "pocketsphinx_batch", "-adcin", "yes", "-cepdir", lmd_test_librivox_dir (),
                                   "-cepext", ".wav", "-ctl", ctl, "-hmm", MODEL "/en-us", "-lm",
                                   MODEL "/en-us.lm.bin", "-dict", MODEL "/cmudict-en-us.dict", "-hyp", hyp,
                                   NULL);
      g_assert_no_error (error);
    }
  for (guint p = 0; p < processes; p++)
    {
      g_subprocess_wait_check (procs[p], NULL, &error);
      g_assert_no_error (error);
      g_object_unref (procs[p]);
    }
  wall = (g_get_monotonic_time () - start) / 1e6;
  g_free (procs);
  {
    g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *p = g_build_filename (dir, name, NULL);
        g_unlink (p);
      }
    g_rmdir (dir);
  }
  return set_seconds * rounds * processes / wall;
}

static GBytes *
long_wav (double minutes, double *seconds)
{
  g_autoptr (GArray) pcm = g_array_new (FALSE, FALSE, sizeof (float));
  guint64 wanted = (guint64) (minutes * 60 * 16000);

  while (pcm->len < wanted)
    for (guint i = 0; i < ids->len && pcm->len < wanted; i++)
      {
        g_autofree char *path = g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), (char *) ids->pdata[i]);
        g_autoptr (GError) error = NULL;
        guint rate;
        gsize n;
        g_autofree float *samples = lmd_test_wav_read (path, &rate, &n, &error);
        g_assert_no_error (error);
        g_array_append_vals (pcm, samples, (guint) n);
      }
  *seconds = pcm->len / 16000.0;
  return lmd_test_wav_encode ((const float *) pcm->data, pcm->len, 16000);
}

static guint64
read_status_kb (GPid pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  const char *p;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (p = strstr (text, field)) == NULL)
    return 0;
  return g_ascii_strtoull (p + strlen (field), NULL, 10);
}

static void
memory_run (double minutes)
{
  g_autoptr (GError) error = NULL;
  LmdTestServer *server = lmd_test_server_start ("[plugins]\nload=http;gst-decoder;sphinx\n[limits]\nworkers=1\nrequest_timeout_s=7200\n",
                                                 NULL, &error);
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 3600, NULL);
  g_autofree char *url = NULL;
  double seconds;
  g_autoptr (GBytes) wav = long_wav (minutes, &seconds);
  guint64 idle_kb, peak_kb;
  gint64 start;
  double wall;
  g_autoptr (LmdTestResponse) r = NULL;

  g_assert_no_error (error);
  url = lmd_test_server_url (server, "/v1/listen");
  idle_kb = read_status_kb (lmd_test_server_get_pid (server), "VmRSS:");
  start = g_get_monotonic_time ();
  r = lmd_test_http (session, "POST", url, "audio/wav", wav, NULL);
  wall = (g_get_monotonic_time () - start) / 1e6;
  peak_kb = read_status_kb (lmd_test_server_get_pid (server), "VmHWM:");
  g_print ("| %5.1f min | %8.1f MB | %8.1f MB | %8.1f MB | %6.1f s | %5u |\n", seconds / 60.0,
           g_bytes_get_size (wav) / 1048576.0, idle_kb / 1024.0, peak_kb / 1024.0, wall, r->status);
  lmd_test_server_stop (server);
}

int
main (int argc, char **argv)
{
  g_autofree char *minutes_list = g_strdup ("5,15,30");
  gboolean skip_memory = FALSE;
  int clients_list[] = { 1, 2, 4 };
  GOptionEntry entries[] = {
    { "rounds", 0, 0, G_OPTION_ARG_INT, &rounds, "passes over the set per client (default 2)", "N" },
    { "minutes", 0, 0, G_OPTION_ARG_STRING, &minutes_list, "lengths for the memory runs", "LIST" },
    { "skip-memory", 0, 0, G_OPTION_ARG_NONE, &skip_memory, "only the throughput table", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— server throughput and memory");
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    g_error ("%s", error->message);
  if (lmd_test_librivox_dir () == NULL)
    g_error ("pocketsphinx-testdata is not installed");

  files = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  ids = g_ptr_array_new_with_free_func (g_free);
  dir = g_dir_open (lmd_test_librivox_dir (), 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".wav"))
      g_ptr_array_add (ids, g_strndup (name, strlen (name) - 4));
  g_ptr_array_sort (ids, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.wav", lmd_test_librivox_dir (), (char *) ids->pdata[i]);
      char *data;
      gsize len;
      g_file_get_contents (path, &data, &len, &error);
      g_assert_no_error (error);
      g_ptr_array_add (files, g_bytes_new_take (data, len));
      set_seconds += (len - 44) / 32000.0;
    }

  g_print ("Batch throughput, LibriVox set (%u files, %.1f s of audio), %u rounds per client, %u cores\n\n",
           files->len, set_seconds, rounds, g_get_num_processors ());
  g_print ("| clients | server (audio s / wall s) | pocketsphinx_batch (audio s / wall s) | server / library | failed requests |\n");
  g_print ("|---|---|---|---|---|\n");
  for (guint i = 0; i < G_N_ELEMENTS (clients_list); i++)
    {
      guint failures = 0;
      double lib = library_throughput (clients_list[i]);
      double srv = server_throughput (clients_list[i], &failures);
      g_print ("| %u | %.2f | %.2f | %.0f%% | %u |\n", clients_list[i], srv, lib, 100.0 * srv / lib, failures);
    }

  if (!skip_memory)
    {
      g_auto (GStrv) mins = g_strsplit (minutes_list, ",", -1);
      g_print ("\nPeak resident memory of the server transcribing one long WAV (1 worker)\n\n");
      g_print ("| audio | body | RSS idle | peak RSS (VmHWM) | wall | status |\n|---|---|---|---|---|---|\n");
      for (guint i = 0; mins[i] != NULL; i++)
        memory_run (g_ascii_strtod (mins[i], NULL));
    }
  return 0;
}
