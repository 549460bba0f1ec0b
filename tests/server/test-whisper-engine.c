/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-engine.c — the whisper engine plugin inside the real daemon: a ggml model of
 * the repository's test fixtures selected per request with model=, and model acquisition through
 * MODEL_URL (download from a real HTTP server in the test, SHA-256 verification, the cache
 * reused on restart, a wrong digest refused).  The model loads in the background: while the
 * download is held back by the test's file server, /health reports "loading" (worker form)
 * and requests get 503 SERVICE_UNAVAILABLE with retry_after; a failed load is "unhealthy"
 * with the reason.
 *
 * The fixture models have random weights: their words are meaningless, so these tests check
 * the plumbing (status, duration, word times, model selection), not accuracy.
 *
 * Compute backends: the default ([whisper] backend=auto) on a machine without a GPU serves on
 * the CPU with one log line saying why; /health names the device and /metrics reports the
 * device memory and the decoder's batch sizes (beam search's steps have 3 rows); backend=
 * cuda-emu (the CUDA backend's code on the CPU) gives the CPU's text for the same request and
 * reports its (emulated) device memory; backend=cuda where no GPU is, or an unknown backend,
 * stops the daemon at start with the reason.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-test-file-server.h"
#include "lmd-test-fixtures.h"
#include "lmd-test-server.h"

static char *cpu_text; /* the CPU's text of test_transcribe's first request */

static gboolean
have_gpu (void)
{
  return g_file_test ("/dev/nvidia0", G_FILE_TEST_EXISTS) ||
         g_file_test ("/dev/nvidiactl", G_FILE_TEST_EXISTS);
}

static gboolean
need_fixtures (void)
{
  g_autofree char *model = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);

  if (!g_file_test (model, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the whisper fixtures are not there (tests/fixtures/whisper, or set LMD_FIXTURES_DIR)");
      return FALSE;
    }
  return TRUE;
}

/* Polls /health until its status is not @while_status (at most 60 s); returns the document. */
static JsonObject *
wait_health (LmdTestServer *server, SoupSession *session, const char *while_status, guint *http_status)
{
  g_autofree char *url = lmd_test_server_url (server, "/health");

  for (int i = 0; i < 600; i++)
    {
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
      JsonObject *o = lmd_test_response_json (r);
      const char *status = o != NULL ? json_object_get_string_member_with_default (o, "status", "") : "";

      if (!g_str_equal (status, while_status))
        {
          *http_status = r->status;
          return json_object_ref (o);
        }
      g_usleep (100000);
    }
  g_assert_not_reached ();
  return NULL;
}

/* Starts the daemon with plugins @load and the tiny-en-random fixture as its whisper model
 * (@backend, or NULL for the default), waits until the model is loaded, and reads the speech
 * sample into *@audio. */
static LmdTestServer *
start_tiny_en (SoupSession *session, const char *load, const char *backend, GBytes **audio)
{
  g_autofree char *model = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
  g_autofree char *wav = lmd_test_fixture_path ("audio", "speech-sample.wav", NULL);
  g_autofree char *backend_line = backend != NULL ? g_strdup_printf ("backend=%s\n", backend) : g_strdup ("");
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;
  LmdTestServer *server;

  config = g_strdup_printf ("[plugins]\nload=%s\n"
                            "[whisper]\nmodel=%s\nname=tiny-en-random\n%s"
                            /* random weights fail every decoding: fallback would only add time
                             * (it is covered by tests/whisper/test-whisper-decode.c) */
                            "temperature_increment=0\n", load, model, backend_line);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  *audio = lmd_test_read_file (wav);
  {
    guint status = 0;
    g_autoptr (JsonObject) h = wait_health (server, session, "loading", &status);
    g_assert_cmpuint (status, ==, 200);
  }
  return server;
}

static void
test_transcribe (void)
{
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 300, NULL);
  g_autoptr (GBytes) audio = NULL;
  LmdTestServer *server;

  if (!need_fixtures ())
    return;
  if (lmd_test_skip_under_valgrind ("the fixture model's decodes (greedy, beam, prompts) take minutes each in a daemon under valgrind; tests/whisper covers the decoder there"))
    return;
  server = start_tiny_en (session, "http;gst-decoder;sphinx;whisper", NULL, &audio);
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&timestamps=true");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    JsonObject *o = lmd_test_response_json (r);
    JsonArray *words = json_object_get_array_member (o, "words");
    double duration = json_object_get_double_member (o, "duration");
    double last = 0.0;

    g_assert_cmpuint (r->status, ==, 200);
    g_assert_cmpfloat_with_epsilon (duration, 113320 / 16000.0, 0.05);
    g_assert_cmpstr (json_object_get_string_member (o, "language"), ==, "en");
    g_free (cpu_text);
    cpu_text = g_strdup (json_object_get_string_member (o, "text"));
    for (guint i = 0; i < json_array_get_length (words); i++)
      {
        JsonObject *w = json_array_get_object_element (words, i);
        double start = json_object_get_double_member (w, "start");
        double end = json_object_get_double_member (w, "end");
        g_assert_cmpfloat (start, >=, last - 1e-6);
        g_assert_cmpfloat (end, >=, start);
        g_assert_cmpfloat (end, <=, duration + 1e-6);
        last = end;
      }
  }
  /* beam search on request; an out-of-range beam size is a parameter error */
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&timestamps=true&beam_size=3");
    g_autofree char *bad = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&beam_size=9");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    g_autoptr (LmdTestResponse) b = lmd_test_http (session, "POST", bad, "audio/wav", audio, NULL);
    JsonArray *words = json_object_get_array_member (lmd_test_response_json (r), "words");

    g_assert_cmpuint (r->status, ==, 200);
    for (guint i = 0; i < json_array_get_length (words); i++)
      {
        double c = json_object_get_double_member (json_array_get_object_element (words, i), "confidence");
        g_assert_cmpfloat (c, >=, 0.0); /* random weights: tiny probabilities round to 0 */
        g_assert_cmpfloat (c, <=, 1.0);
      }
    g_assert_cmpuint (b->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (b), "param"), ==, "beam_size");
  }
  /* a prompt conditions the decoding (the same prompt, the same text; none, another text);
   * an over-long prompt and a bad condition_on_previous_text are parameter errors */
  {
    g_autofree char *plain = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&condition_on_previous_text=false");
    g_autofree char *prompted = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&prompt=Quarterly%20results");
    g_autofree char *long_prompt = g_strnfill (4097, 'a');
    g_autofree char *too_long = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&prompt=");
    g_autofree char *too_long_url = g_strconcat (too_long, long_prompt, NULL);
    g_autofree char *bad = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&condition_on_previous_text=maybe");
    g_autoptr (LmdTestResponse) a = lmd_test_http (session, "POST", plain, "audio/wav", audio, NULL);
    g_autoptr (LmdTestResponse) p1 = lmd_test_http (session, "POST", prompted, "audio/wav", audio, NULL);
    g_autoptr (LmdTestResponse) p2 = lmd_test_http (session, "POST", prompted, "audio/wav", audio, NULL);
    g_autoptr (LmdTestResponse) l = lmd_test_http (session, "POST", too_long_url, "audio/wav", audio, NULL);
    g_autoptr (LmdTestResponse) b = lmd_test_http (session, "POST", bad, "audio/wav", audio, NULL);
    const char *text_a, *text_p1, *text_p2;

    g_assert_cmpuint (a->status, ==, 200);
    g_assert_cmpuint (p1->status, ==, 200);
    g_assert_cmpuint (p2->status, ==, 200);
    text_a = json_object_get_string_member (lmd_test_response_json (a), "text");
    text_p1 = json_object_get_string_member (lmd_test_response_json (p1), "text");
    text_p2 = json_object_get_string_member (lmd_test_response_json (p2), "text");
    g_test_message ("no prompt: '%s'; prompt 'Quarterly results': '%s'", text_a, text_p1);
    g_assert_cmpstr (text_p1, ==, text_p2);
    g_assert_cmpstr (text_p1, !=, text_a);
    g_assert_cmpuint (l->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (l), "param"), ==, "prompt");
    g_assert_cmpuint (b->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (b), "param"), ==,
                     "condition_on_previous_text");
  }
  /* the default model is still sphinx; the engine's plugin name selects whisper too */
  {
    g_autofree char *url = lmd_test_server_url (server, "/health?detailed=true");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    JsonArray *models = json_object_get_array_member (lmd_test_response_json (r), "models");
    g_assert_cmpuint (json_array_get_length (models), ==, 2);
    g_assert_cmpstr (json_array_get_string_element (models, 0), ==, "sphinx-en-us");
    g_assert_cmpstr (json_array_get_string_element (models, 1), ==, "tiny-en-random");
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?model=whisper&language=de");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    /* an English-only model refuses another language */
    g_assert_cmpuint (r->status, ==, 400);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "param"), ==, "language");
  }
  /* the compute backend: auto on this machine, its device, memory and decoder batch sizes */
  {
    g_autofree char *log = lmd_test_server_read_log (server);
    g_autofree char *url = lmd_test_server_url (server, "/health?detailed=true");
    g_autoptr (LmdTestResponse) h = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    g_autofree char *metrics = lmd_test_server_get_metrics (server, session);
    const char *device = json_object_get_string_member (lmd_test_response_json (h), "device");
    const char *line = strstr (log, "whisper: computing on the CPU: ");

    if (have_gpu ())
      g_test_message ("a GPU is present: the fallback line is not expected");
    else
      {
        g_assert_nonnull (line);
        g_assert_nonnull (strstr (line, "CUDA"));
        g_assert_null (strstr (line + 1, "whisper: computing on the CPU: ")); /* one line */
        g_assert_cmpstr (device, ==, "cpu");
        g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_gpu_memory_bytes", -1), ==, 0.0);
      }
    /* greedy requests run 1-row steps, the beam_size=3 request 3-row steps (bucket le=4) */
    g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_decoder_batch_size_bucket{le=\"1\"}", -1), >, 0.0);
    g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_decoder_batch_size_bucket{le=\"4\"}", -1), >,
                       lmd_test_metric_value (metrics, "asr_decoder_batch_size_bucket{le=\"2\"}", -1));
    g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_decoder_batch_size_count", -1), ==,
                       lmd_test_metric_value (metrics, "asr_decoder_batch_size_bucket{le=\"+Inf\"}", -1));
    g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_decoder_batch_size_sum", -1), >,
                       lmd_test_metric_value (metrics, "asr_decoder_batch_size_count", -1));
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* the CUDA backend's code run on the CPU inside the daemon: the CPU's text, its device named,
 * its device memory reported */
static void
test_cuda_emu (void)
{
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 600, NULL);
  g_autoptr (GBytes) audio = NULL;
  LmdTestServer *server;

  if (!need_fixtures ())
    return;
  if (lmd_test_skip_under_valgrind ("the emulated CUDA decode takes minutes in a daemon under valgrind"))
    return;
  server = start_tiny_en (session, "http;gst-decoder;whisper", "cuda-emu", &audio);
  {
    g_autofree char *url = lmd_test_server_url (server, "/v1/listen?model=tiny-en-random&timestamps=true");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
    JsonObject *o = lmd_test_response_json (r);

    g_assert_cmpuint (r->status, ==, 200);
    g_test_message ("cuda-emu: '%s'; cpu: '%s'", json_object_get_string_member (o, "text"),
                    cpu_text != NULL ? cpu_text : "(not run)");
    if (cpu_text != NULL)
      g_assert_cmpstr (json_object_get_string_member (o, "text"), ==, cpu_text);
  }
  {
    g_autofree char *url = lmd_test_server_url (server, "/health?detailed=true");
    g_autoptr (LmdTestResponse) h = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
    g_autofree char *metrics = lmd_test_server_get_metrics (server, session);
    const char *device = json_object_get_string_member (lmd_test_response_json (h), "device");

    g_assert_true (g_str_has_prefix (device, "cuda-emu: CPU emulation of CUDA"));
    /* at least the model's weights (f16 on the device) */
    g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_gpu_memory_bytes", -1), >, 1e6);
    g_assert_cmpfloat (lmd_test_metric_value (metrics, "asr_decoder_batch_size_count", -1), >, 0.0);
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* a backend that can't run here, or that does not exist, stops the daemon at start */
static void
test_backend_refused (void)
{
  const char *backends[] = { "cuda", "tpu" };
  g_autofree char *model = NULL;

  if (!need_fixtures ())
    return;
  model = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (backends); i++)
    {
      g_autofree char *text = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n"
                                               "[whisper]\nmodel=%s\nbackend=%s\n", model,
                                               backends[i]);
      g_autofree char *output = NULL;

      if (g_str_equal (backends[i], "cuda") && have_gpu ())
        continue; /* it can run here */
      g_assert_cmpint (lmd_test_daemon_run_config (text, &output, 60), !=, 0);
      g_test_message ("backend=%s: %s", backends[i], output);
      g_assert_nonnull (strstr (output, "[whisper] backend"));
      g_assert_nonnull (strstr (output, g_str_equal (backends[i], "cuda") ? "CUDA" : "tpu"));
    }
}

static void
test_missing_model (void)
{
  g_autofree char *output = NULL;

  g_assert_cmpint (lmd_test_daemon_run_config ("[plugins]\nload=http;gst-decoder;whisper\n"
                                               "[whisper]\nmodel=/nonexistent/ggml-base.bin\n",
                                               &output, 60), !=, 0);
  g_assert_nonnull (strstr (output, "/nonexistent/ggml-base.bin"));
}

static void
test_model_url (void)
{
  g_autofree char *model_path = NULL;
  g_autoptr (GBytes) model = NULL;
  g_autofree char *sha256 = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *cached = NULL;
  g_autofree char *url = NULL;
  g_autofree char *config = NULL;
  g_autofree char *bad_config = NULL;
  g_autoptr (GError) error = NULL;
  LmdTestFileServer *files;
  LmdTestServer *server;
  g_autofree char *log = NULL;
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 60, NULL);

  if (!need_fixtures ())
    return;
  model_path = lmd_test_fixture_path ("whisper", "tiny-en-random", "model.ggml.bin", NULL);
  model = lmd_test_read_file (model_path);
  sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, model);
  cache = g_dir_make_tmp ("lmd-model-cache-XXXXXX", &error);
  g_assert_no_error (error);
  cached = g_build_filename (cache, "ggml-tiny-test.bin", NULL);
  files = lmd_test_file_server_start ();
  lmd_test_file_server_add (files, "/models/ggml-tiny-test.bin", model);
  url = lmd_test_file_server_url (files, "/models/ggml-tiny-test.bin");

  /* MODEL_URL and MODEL_CACHE_DIR come from the environment, as in a deployment */
  g_setenv ("MODEL_URL", url, TRUE);
  g_setenv ("MODEL_CACHE_DIR", cache, TRUE);
  config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n[server]\nrole=asr\n"
                            "[whisper]\nsha256=%s\n", sha256);
  /* the download is held back: the worker starts and says it is loading */
  lmd_test_file_server_hold (files, "/models/ggml-tiny-test.bin");
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 600 && lmd_test_file_server_get_held (files, "/models/ggml-tiny-test.bin") == 0; i++)
    g_usleep (100000);
  g_assert_cmpuint (lmd_test_file_server_get_held (files, "/models/ggml-tiny-test.bin"), ==, 1);
  {
    g_autofree char *health = lmd_test_server_url (server, "/health");
    g_autofree char *healthz = lmd_test_server_url (server, "/healthz");
    g_autofree char *listen = lmd_test_server_url (server, "/v1/listen");
    g_autofree char *wav = lmd_test_fixture_path ("audio", "speech-sample.wav", NULL);
    g_autoptr (GBytes) audio = lmd_test_read_file (wav);
    g_autoptr (LmdTestResponse) h = lmd_test_http (session, "GET", health, NULL, NULL, NULL);
    g_autoptr (LmdTestResponse) hz = lmd_test_http (session, "GET", healthz, NULL, NULL, NULL);
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", listen, "audio/wav", audio, NULL);
    JsonObject *ho = lmd_test_response_json (h);
    JsonObject *ro = lmd_test_response_json (r);
    g_autofree char *log_loading = NULL;

    g_assert_cmpuint (h->status, ==, 503);
    g_assert_cmpstr (json_object_get_string_member (ho, "status"), ==, "loading");
    g_assert_cmpstr (json_object_get_string_member (ho, "model"), ==, "ggml-tiny-test");
    g_assert_cmpstr (json_object_get_string_member (ho, "device"), ==, "cpu");
    g_assert_cmpuint (hz->status, ==, 503);
    g_assert_cmpuint (r->status, ==, 503);
    g_assert_cmpstr (json_object_get_string_member (ro, "code"), ==, "SERVICE_UNAVAILABLE");
    g_assert_cmpint (json_object_get_int_member (ro, "retry_after"), >, 0);
    log_loading = lmd_test_server_read_log (server);
    g_assert_nonnull (strstr (log_loading, "is loading"));
    g_assert_nonnull (strstr (log_loading, json_object_get_string_member (ro, "request_id")));
  }
  lmd_test_file_server_release (files, "/models/ggml-tiny-test.bin");
  {
    guint status = 0;
    g_autoptr (JsonObject) h = wait_health (server, session, "loading", &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (h, "status"), ==, "ready");
  }
  g_assert_cmpuint (lmd_test_file_server_get_hits (files, "/models/ggml-tiny-test.bin"), ==, 1);
  g_assert_true (g_file_test (cached, G_FILE_TEST_IS_REGULAR));
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "downloaded and verified"));
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);

  /* a restart uses the cache: no second download */
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  {
    guint status = 0;
    g_autoptr (JsonObject) h = wait_health (server, session, "loading", &status);
    g_assert_cmpuint (status, ==, 200);
  }
  g_assert_cmpuint (lmd_test_file_server_get_hits (files, "/models/ggml-tiny-test.bin"), ==, 1);
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);

  /* a wrong digest is refused: the cached copy does not match, the download does not either */
  /* a wrong digest in the background: the server stays up, unhealthy, with the reason */
  bad_config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n[whisper]\nsha256=%064d\n", 0);
  server = lmd_test_server_start (bad_config, NULL, &error);
  g_assert_no_error (error);
  {
    guint status = 0;
    g_autoptr (JsonObject) h = wait_health (server, session, "loading", &status);
    g_assert_cmpuint (status, ==, 503);
    g_assert_cmpstr (json_object_get_string_member (h, "status"), ==, "unhealthy");
    g_assert_nonnull (strstr (json_object_get_string_member (h, "reason"), "SHA-256"));
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_free (bad_config);
  /* and at start-up with background_load=false: the daemon refuses to start */
  bad_config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;whisper\n[whisper]\nsha256=%064d\n"
                                "background_load=false\n", 0);
  {
    g_autofree char *output = NULL;

    g_assert_cmpint (lmd_test_daemon_run_config (bad_config, &output, 60), !=, 0);
    g_assert_nonnull (strstr (output, "SHA-256"));
    g_assert_false (g_file_test (cached, G_FILE_TEST_EXISTS));
  }
  g_unsetenv ("MODEL_URL");
  g_unsetenv ("MODEL_CACHE_DIR");
  lmd_test_file_server_stop (files);
  lmd_test_rm_rf (cache);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/whisper-engine/transcribe", test_transcribe);
  g_test_add_func ("/whisper-engine/missing-model", test_missing_model);
  g_test_add_func ("/whisper-engine/cuda-emu", test_cuda_emu);
  g_test_add_func ("/whisper-engine/backend-refused", test_backend_refused);
  g_test_add_func ("/whisper-engine/model-url", test_model_url);
  return g_test_run ();
}
