/* SPDX-License-Identifier: MIT */
/*
 * test-router.c — LmdRouter in process, with the real gst-decoder plugin and the real sphinx
 * engine, driven from a thread of its own whose thread-default GMainContext is not the
 * global default one (as a transport on its own context would).
 *
 *   /router/timeout-on-owning-context  a request past request_timeout_s (1 s; 56 s of speech)
 *                                      is cancelled and answers TIMEOUT while only the
 *                                      caller's context runs (the global default one is never
 *                                      iterated); the request is freed on the caller's thread
 *                                      once its context has run, and the router is then idle
 */
#include <string.h>

#include "lmd-audio-decoder.h"
#include "lmd-build-config.h"
#include "lmd-engine.h"
#include "lmd-error.h"
#include "lmd-plugin-loader.h"
#include "lmd-router.h"
#include "lmd-test-audio.h"
#include "lmd-test-wav.h"

#define SPEECH_COPIES 8

static GObject *
load_plugin (const char *name, GKeyFile *config)
{
  const char *build_dir = g_getenv ("LMD_BUILD_DIR");
  g_autofree char *plugin_dir = g_build_filename (build_dir != NULL ? build_dir : LMD_BUILD_DIR,
                                                  "plugins", NULL);
  const char *dirs[] = { plugin_dir, NULL };
  g_autoptr (LmdPluginLoader) loader = lmd_plugin_loader_new (dirs);
  g_autoptr (GError) error = NULL;
  g_autoptr (GObject) object = lmd_plugin_loader_load (loader, name, &error);

  g_assert_no_error (error);
  if (LMD_IS_AUDIO_DECODER (object))
    g_assert_true (lmd_audio_decoder_setup (LMD_AUDIO_DECODER (object), config, &error));
  else
    g_assert_true (lmd_engine_setup (LMD_ENGINE (object), config, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&object);
}

typedef struct {
  LmdRouter *router;
  GBytes *audio;
  GThread *caller;          /* the thread the request was made on */
  GError *error;            /* owned: the request's outcome */
  gboolean done;
  gboolean answered_on_caller;
} Call;

static void
transcribed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Call *call = user_data;
  LmdTranscript *transcript = lmd_router_transcribe_finish (LMD_ROUTER (source), result, &call->error);

  g_clear_pointer (&transcript, lmd_transcript_free);
  call->answered_on_caller = g_thread_self () == call->caller;
  call->done = TRUE;
}

static gpointer
caller_thread (gpointer data)
{
  Call *call = data;
  g_autoptr (GMainContext) context = g_main_context_new ();
  LmdTranscribeRequest *request = lmd_transcribe_request_new ("router-timeout-1");
  gint64 deadline;

  g_main_context_push_thread_default (context);
  call->caller = g_thread_self ();
  request->audio = g_bytes_ref (call->audio);
  lmd_router_transcribe_async (call->router, request, NULL, transcribed, call);
  /* bounded: the whole speech takes several times the time limit to decode */
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (!call->done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  /* the pool thread hands the request back to this context to be freed */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while ((lmd_router_get_active (call->router) > 0 || lmd_router_get_queued (call->router) > 0 ||
          g_main_context_pending (context)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, FALSE);
  g_main_context_pop_thread_default (context);
  return NULL;
}

static void
test_timeout_on_owning_context (void)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GObject) decoder = NULL;
  g_autoptr (GObject) engine = NULL;
  g_autoptr (LmdRouter) router = NULL;
  g_autofree float *speech = NULL;
  g_autofree float *samples = NULL;
  g_autoptr (GBytes) audio = NULL;
  g_auto (GStrv) ids = NULL;
  LmdLimits limits;
  Call call = { 0 };
  gsize n = 0;
  GThread *thread;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  ids = lmd_test_librivox_ids ();
  speech = lmd_test_librivox_read (ids[0], &n);
  samples = g_new (float, n * SPEECH_COPIES);
  for (guint c = 0; c < SPEECH_COPIES; c++)
    memcpy (samples + c * n, speech, n * sizeof (float));
  audio = lmd_test_wav_encode (samples, n * SPEECH_COPIES, LMD_TEST_LIBRIVOX_RATE);

  g_assert_true (g_key_file_load_from_data (config,
                                            "[limits]\nworkers=1\nrequest_timeout_s=1\n"
                                            "[sphinx]\ndecoders=1\nstream_prewarm=0\n",
                                            -1, 0, &error));
  decoder = load_plugin ("gst-decoder", config);
  engine = load_plugin ("sphinx", config);
  g_assert_true (lmd_limits_load (&limits, config, &error));
  router = lmd_router_new (&limits);
  lmd_router_set_decoder (router, LMD_AUDIO_DECODER (decoder));
  lmd_router_add_engine (router, LMD_ENGINE (engine), "sphinx");

  call.router = router;
  call.audio = audio;
  thread = g_thread_new ("caller", caller_thread, &call);
  g_thread_join (thread);

  g_test_message ("%.1f s of speech; the request ended with: %s", n * SPEECH_COPIES / 16000.0,
                  call.error != NULL ? call.error->message : "a transcript");
  g_assert_true (call.done);
  g_assert_true (call.answered_on_caller);
  g_assert_error (call.error, LMD_ERROR, LMD_ERROR_TIMEOUT);
  g_assert_cmpuint (lmd_router_get_active (router), ==, 0);
  g_assert_cmpuint (lmd_router_get_queued (router), ==, 0);
  g_clear_error (&call.error);
  lmd_router_shutdown (router);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the router logs the cancellation as a warning: expected here */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_test_add_func ("/router/timeout-on-owning-context", test_timeout_on_owning_context);
  return g_test_run ();
}
