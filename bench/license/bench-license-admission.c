/* SPDX-License-Identifier: MIT */
/*
 * bench-license-admission — what asking a separate license role costs a request.
 *
 * The same api process (http;gst-decoder;sphinx + a license plugin) is started twice: with the
 * in-process "license" plugin, and with "license-remote" asking a `--role license` process on
 * loopback.  One client sends --requests sequential POST /v1/listen with a valid key and a
 * body no decoder recognises: each is admitted by the license (and completed), then answered
 * 415, so the time is the admission plus a little HTTP, without any inference.  Prints the
 * p50 / p95 / max round trip per configuration, and the requests per second.
 *
 *   bench-license-admission [--requests N]
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-license-support.h"
#include "lmd-test-server.h"

static gint requests = 500;

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
  g_print ("| %s | %.2f | %.2f | %.2f | %.0f | %u |\n", name,
           g_array_index (times, double, times->len / 2),
           g_array_index (times, double, times->len * 95 / 100),
           g_array_index (times, double, times->len - 1),
           requests / ((g_get_monotonic_time () - start) / 1e6), failures);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) context = g_option_context_new ("— license admission cost");
  GOptionEntry entries[] = {
    { "requests", 'n', 0, G_OPTION_ARG_INT, &requests, "Requests per configuration (500)", "N" },
    { NULL },
  };
  g_autoptr (LmdLicenseSigningKey) vendor = lmd_license_signing_key_generate ();
  g_autofree char *dir = g_dir_make_tmp ("lmd-bench-license-XXXXXX", NULL);
  g_autofree char *pub = lmd_test_write_public_key (vendor, dir);
  g_autofree char *key = lmd_test_issue_key (vendor, "lic_bench", 0, 86400, 0, 0, 0, NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *license_section = g_strdup_printf ("[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\n",
                                                      key, pub, state);
  g_autofree char *local_config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;license\n"
                                                   "[limits]\nworkers=1\n%s", license_section);
  g_autofree char *remote_config = NULL;
  const char *role_args[] = { "--role", "license", NULL };
  LmdTestServer *local, *role, *remote;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || requests < 1)
    {
      g_printerr ("%s\n", error != NULL ? error->message : "--requests must be positive");
      return 2;
    }
  g_print ("%d sequential requests per row (after 20 to warm up), admitted then answered 415\n\n",
           requests);
  g_print ("| license | p50 (ms) | p95 (ms) | max (ms) | requests/s | failures |\n|---|---|---|---|---|---|\n");
  local = lmd_test_server_start (local_config, NULL, &error);
  g_assert_no_error (error);
  measure ("in process (license)", local, key);
  lmd_test_server_stop (local);

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
  {
    const char *rm[] = { "rm", "-rf", dir, NULL };
    g_autoptr (GSubprocess) p = g_subprocess_newv (rm, G_SUBPROCESS_FLAGS_NONE, NULL);
    if (p != NULL)
      g_subprocess_wait (p, NULL, NULL);
  }
  return 0;
}
