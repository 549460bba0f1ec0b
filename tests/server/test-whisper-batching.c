/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-batching.c — the whisper engine's scheduler inside the real daemon, under
 * cuda-emu (the CUDA backend's code on the CPU), with 2 request slots.
 *
 * Asserts:
 *   - /health names the slots (2 in all, none in use while idle);
 *   - 6 requests of different lengths (2 to 7 s of the fixture speech) sent at once, by 6
 *     clients, all answer 200 with the text each gives when sent alone: none fails for memory
 *     while 4 of them wait for a slot;
 *   - /metrics: asr_slots 2, asr_slots_in_use 0 afterwards, asr_slot_wait_seconds counts every
 *     request (7) and some waited, asr_batch_rows counts decoder steps and some had more than
 *     one row, and there were fewer steps than decode jobs outside the word alignment (steps
 *     held several requests' sequences), asr_encoder_batch_windows counts windows;
 *     asr_decoder_graph_steps_total counts row-table steps run directly, recorded as a graph
 *     and replayed, asr_decoder_rows_picked_total rows picked on the device, and
 *     asr_decoder_rows_cross_shared_total the beam rows (request 1 searches with 3 beams)
 *     served by another row's read of their cross K/V;
 *   - the worker pool was raised for the slots (the log says so).
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-test-server.h"
#include "lmd-test-wav.h"

#define N_CLIENTS 6

static char *fixtures;

static double
metric (const char *text, const char *name)
{
  g_autofree char *key = g_strconcat ("\n", name, " ", NULL);
  const char *at = strstr (text, key);

  return at != NULL ? g_ascii_strtod (at + strlen (key), NULL) : -1.0;
}

typedef struct {
  LmdTestServer *server;
  GBytes *audio;  /* owned */
  gboolean beams; /* beam search of 3 */
  guint status;
  char *text;     /* owned */
  char *body;     /* owned */
} Client;

static gpointer
client_thread (gpointer data)
{
  Client *c = data;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 900, NULL);
  g_autofree char *url = lmd_test_server_url (c->server, c->beams ? "/v1/listen?model=tiny-en-random&beam_size=3"
                                                               : "/v1/listen?model=tiny-en-random");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", c->audio, NULL);
  JsonObject *o = lmd_test_response_json (r);

  c->status = r->status;
  c->body = g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
  if (o != NULL && json_object_has_member (o, "text"))
    c->text = g_strdup (json_object_get_string_member (o, "text"));
  return NULL;
}

static char *
get_text (LmdTestServer *server, SoupSession *session, const char *path)
{
  g_autofree char *url = lmd_test_server_url (server, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_cmpuint (r->status, ==, 200);
  return g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
}

static void
test_slots (void)
{
  g_autofree char *model = g_build_filename (fixtures, "whisper", "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *wav = g_build_filename (fixtures, "audio", "speech-sample.wav", NULL);
  g_autofree char *config = NULL;
  g_autofree char *health_url = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 900, NULL);
  g_autofree float *pcm = NULL;
  g_autofree char *log = NULL;
  Client alone[N_CLIENTS] = { 0 }, together[N_CLIENTS] = { 0 };
  GThread *threads[N_CLIENTS];
  LmdTestServer *server;
  guint rate = 0;
  gsize n = 0;

  if (!g_file_test (model, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("the whisper fixtures are missing");
      return;
    }
  pcm = lmd_test_wav_read (wav, &rate, &n, &error);
  g_assert_no_error (error);
  config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n"
                            "[limits]\nworkers=1\n"
                            "[whisper]\nmodel=%s\nname=tiny-en-random\nbackend=cuda-emu\n"
                            "temperature_increment=0\nslots=2\nencoder_batch=2\n"
                            "batch_wait_ms=50\nbackground_load=false\n", model);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);

  health_url = lmd_test_server_url (server, "/health?detailed=true");
  {
    g_autoptr (LmdTestResponse) h = lmd_test_http (session, "GET", health_url, NULL, NULL, NULL);
    JsonObject *o = lmd_test_response_json (h);
    JsonObject *slots;

    g_assert_cmpuint (h->status, ==, 200);
    g_assert_true (json_object_has_member (o, "slots"));
    slots = json_object_get_object_member (o, "slots");
    g_assert_cmpint (json_object_get_int_member (slots, "total"), ==, 2);
    g_assert_cmpint (json_object_get_int_member (slots, "in_use"), ==, 0);
    g_assert_cmpint (json_object_get_int_member (slots, "waiting"), ==, 0);
  }

  for (int i = 0; i < N_CLIENTS; i++)
    {
      gsize len = MIN (n, (gsize) (2 + i) * 16000);

      alone[i].server = together[i].server = server;
      alone[i].beams = together[i].beams = i == 1;
      alone[i].audio = lmd_test_wav_encode (pcm, len, 16000);
      together[i].audio = g_bytes_ref (alone[i].audio);
    }
  /* each request alone first: the reference */
  for (int i = 0; i < N_CLIENTS; i++)
    {
      client_thread (&alone[i]);
      g_assert_cmpuint (alone[i].status, ==, 200);
    }
  for (int i = 0; i < N_CLIENTS; i++)
    threads[i] = g_thread_new ("client", client_thread, &together[i]);
  for (int i = 0; i < N_CLIENTS; i++)
    g_thread_join (threads[i]);
  for (int i = 0; i < N_CLIENTS; i++)
    {
      if (together[i].status != 200)
        g_test_message ("request %d: %u %s", i, together[i].status, together[i].body);
      g_assert_cmpuint (together[i].status, ==, 200);
      g_assert_cmpstr (together[i].text, ==, alone[i].text);
    }

  {
    g_autofree char *metrics = get_text (server, session, "/metrics");
    double steps = metric (metrics, "asr_batch_rows_count");
    double single = metric (metrics, "asr_batch_rows_bucket{le=\"1\"}");
    double jobs, windows;

    g_assert_cmpfloat (metric (metrics, "asr_slots"), ==, 2.0);
    g_assert_true (strstr (metrics, "# TYPE asr_decoder_graph_steps_total counter\n") != NULL);
    g_assert_cmpfloat (metric (metrics, "asr_slots_in_use"), ==, 0.0);
    g_assert_cmpfloat (metric (metrics, "asr_slots_waiting"), ==, 0.0);
    g_assert_cmpfloat (metric (metrics, "asr_slot_wait_seconds_count"), ==, 2.0 * N_CLIENTS);
    g_assert_cmpfloat (metric (metrics, "asr_slot_wait_seconds_sum"), >, 0.0);
    g_assert_cmpfloat (steps, >, 0.0);
    g_test_message ("%.0f decoder steps, %.0f of one row; %.0f windows in %.0f encoder passes",
                    steps, single, metric (metrics, "asr_encoder_batch_windows_sum"),
                    metric (metrics, "asr_encoder_batch_windows_count"));
    /* every decode call of a session is one job (asr_decoder_batch_size counts them), and
     * all but the word alignment's (one per window, run alone) are rows of a batched step:
     * fewer steps than those jobs means steps held several requests' sequences */
    jobs = metric (metrics, "asr_decoder_batch_size_count");
    windows = metric (metrics, "asr_encoder_batch_windows_sum");
    g_test_message ("%.0f decode jobs", jobs);
    g_assert_cmpfloat (single, <, steps);
    g_assert_cmpfloat (steps, <, jobs - windows);
    g_assert_cmpfloat (metric (metrics, "asr_encoder_batch_windows_sum"), >=, 2.0 * N_CLIENTS);
    /* the row-table steps: the first of each row count run directly, the second recorded as a
     * (emulated) CUDA graph, later ones replayed; greedy rows picked on the device; the beams of
     * request 1 served by one read of its cross K/V */
    g_test_message ("row-table steps: %.0f direct, %.0f recorded, %.0f replayed; %.0f rows "
                    "picked on the device, %.0f served by another row's cross K/V",
                    metric (metrics, "asr_decoder_graph_steps_total{how=\"direct\"}"),
                    metric (metrics, "asr_decoder_graph_steps_total{how=\"recorded\"}"),
                    metric (metrics, "asr_decoder_graph_steps_total{how=\"replayed\"}"),
                    metric (metrics, "asr_decoder_rows_picked_total"),
                    metric (metrics, "asr_decoder_rows_cross_shared_total"));
    g_assert_cmpfloat (metric (metrics, "asr_decoder_graph_steps_total{how=\"direct\"}"), >=, 1.0);
    g_assert_cmpfloat (metric (metrics, "asr_decoder_graph_steps_total{how=\"recorded\"}"), >=, 1.0);
    g_assert_cmpfloat (metric (metrics, "asr_decoder_graph_steps_total{how=\"replayed\"}"), >, 0.0);
    g_assert_cmpfloat (metric (metrics, "asr_decoder_rows_picked_total"), >, 0.0);
    g_assert_cmpfloat (metric (metrics, "asr_decoder_rows_cross_shared_total"), >, 0.0);
  }
  log = lmd_test_server_read_log (server);
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_assert_nonnull (strstr (log, "batches 2 requests on its device: 4 workers instead of 1"));
  for (int i = 0; i < N_CLIENTS; i++)
    {
      g_bytes_unref (alone[i].audio);
      g_bytes_unref (together[i].audio);
      g_free (alone[i].text);
      g_free (together[i].text);
      g_free (alone[i].body);
      g_free (together[i].body);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *dir = g_getenv ("LMD_FIXTURES_DIR");

  fixtures = dir != NULL ? g_strdup (dir)
                         : g_build_filename (g_getenv ("LMD_SOURCE_DIR"), "tests", "fixtures", NULL);
  g_test_add_func ("/whisper-batching/slots", test_slots);
  return g_test_run ();
}
