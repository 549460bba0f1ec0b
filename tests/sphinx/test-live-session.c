/* SPDX-License-Identifier: MIT */
/*
 * test-live-session.c — the live-transcription driver (server/lmd-live-session.h) with the real
 * sphinx engine plugin on a LibriVox recording:
 *   - with a pool, created in a thread that pushed its own GMainContext: every event is
 *     delivered on that thread and context (none on the global default context), in order
 *     (SPEECH_STARTED before its FINAL, END last), with the recording's words;
 *   - without a pool: run_queued() on the owning thread delivers the events synchronously;
 *   - more than max_queue_seconds queued: RATE_LIMIT_EXCEEDED, nothing queued;
 *   - cancel: no callback afterwards, even with audio queued.
 */
#include <stdio.h>
#include <string.h>

#include "lmd-build-config.h"
#include "lmd-error.h"
#include "lmd-live-session.h"
#include "lmd-plugin-loader.h"
#include "lmd-test-audio.h"
#include "lmd-wer.h"

#define REC "sense_and_sensibility_01_austen_64kb-0870"

static LmdEngine *engine;

typedef struct {
  GThread *thread;            /* where events must arrive */
  GMainContext *context;
  GArray *types;              /* LmdLiveEventType */
  GString *text;
  gboolean ended;
  gboolean wrong_thread;
  gboolean wrong_context;
} Events;

static void
on_event (LmdLiveSession *session, const LmdLiveEvent *event, gpointer user_data)
{
  Events *ev = user_data;

  if (g_thread_self () != ev->thread)
    ev->wrong_thread = TRUE;
  if (g_main_context_get_thread_default () != ev->context)
    ev->wrong_context = TRUE;
  g_array_append_val (ev->types, event->type);
  if (event->type == LMD_LIVE_EVENT_FINAL)
    {
      g_assert_cmpfloat (event->start, <=, event->end);
      g_string_append_printf (ev->text, "%s%s", ev->text->len > 0 ? " " : "",
                              event->transcript->text);
    }
  if (event->type == LMD_LIVE_EVENT_ERROR)
    g_error ("live session error: %s", event->error->message);
  if (event->type == LMD_LIVE_EVENT_END)
    ev->ended = TRUE;
}

static GBytes *
recording_f32 (void)
{
  gsize n;
  float *samples = lmd_test_librivox_read (REC, &n);

  return g_bytes_new_take (samples, n * sizeof (float));
}

static void
check_order (Events *ev)
{
  gint open = 0;

  g_assert_cmpuint (ev->types->len, >, 2);
  for (guint i = 0; i < ev->types->len; i++)
    {
      LmdLiveEventType type = g_array_index (ev->types, LmdLiveEventType, i);
      if (type == LMD_LIVE_EVENT_SPEECH_STARTED)
        open++;
      if (type == LMD_LIVE_EVENT_SPEECH_ENDED)
        open--;
      g_assert_cmpint (open, >=, 0);
      g_assert_cmpint (open, <=, 1);
      if (type == LMD_LIVE_EVENT_END)
        g_assert_cmpuint (i, ==, ev->types->len - 1);
    }
}

static double
wer (const char *text)
{
  g_autofree char *path = g_build_filename (lmd_test_librivox_dir (), "transcription", NULL);
  g_autoptr (GHashTable) refs = lmd_wer_load_transcription (path, NULL);
  LmdWerCounts counts = { 0 };

  lmd_wer_accumulate (&counts, g_hash_table_lookup (refs, REC), text);
  return lmd_wer_rate (&counts);
}

static gboolean
quit_default (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gpointer
pool_thread (gpointer data)
{
  Events *ev = data;
  LmdLiveSettings settings = { .word_timestamps = TRUE, .interim_results = TRUE,
                               .encoding = LMD_PCM_LINEAR32, .sample_rate = 16000,
                               .request_id = "test-live" };
  g_autoptr (LmdLivePool) pool = lmd_live_pool_new (2);
  g_autoptr (LmdLiveSession) session = NULL;
  g_autoptr (GBytes) audio = recording_f32 ();
  gsize half = g_bytes_get_size (audio) / 2 / sizeof (float) * sizeof (float);
  g_autoptr (GBytes) a = g_bytes_new_from_bytes (audio, 0, half);
  g_autoptr (GBytes) b = g_bytes_new_from_bytes (audio, half, g_bytes_get_size (audio) - half);
  gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;

  ev->thread = g_thread_self ();
  g_main_context_push_thread_default (ev->context);
  session = lmd_live_session_new (engine, pool, &settings, on_event, ev);
  g_assert_true (lmd_live_session_push_audio (session, a, NULL));
  g_assert_true (lmd_live_session_push_audio (session, b, NULL));
  lmd_live_session_close (session);
  /* after close, input is refused without an error */
  g_assert_false (lmd_live_session_push_audio (session, a, NULL));
  while (!ev->ended && g_get_monotonic_time () < deadline)
    g_main_context_iteration (ev->context, TRUE);
  g_main_context_pop_thread_default (ev->context);
  return NULL;
}

static void
test_pool_context (void)
{
  Events ev = { 0 };
  gboolean default_ran = FALSE;
  GThread *thread;

  if (engine == NULL)
    {
      g_test_skip ("pocketsphinx-en-us or pocketsphinx-testdata is not installed");
      return;
    }
  ev.context = g_main_context_new ();
  ev.types = g_array_new (FALSE, FALSE, sizeof (LmdLiveEventType));
  ev.text = g_string_new (NULL);
  thread = g_thread_new ("owner", pool_thread, &ev);
  g_thread_join (thread);
  /* nothing of the session went to the global default context: the only source there is ours */
  g_idle_add (quit_default, &default_ran);
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (default_ran);
  printf ("# pool: %u events, WER %.1f%%: %s\n", ev.types->len, 100.0 * wer (ev.text->str), ev.text->str);
  g_assert_true (ev.ended);
  g_assert_false (ev.wrong_thread);
  g_assert_false (ev.wrong_context);
  check_order (&ev);
  g_assert_cmpfloat (wer (ev.text->str), <=, 0.40);
  g_array_unref (ev.types);
  g_string_free (ev.text, TRUE);
  g_main_context_unref (ev.context);
}

static void
test_run_queued (void)
{
  Events ev = { 0 };
  LmdLiveSettings settings = { .word_timestamps = TRUE, .encoding = LMD_PCM_LINEAR32,
                               .sample_rate = 16000, .max_queue_seconds = 10 };
  g_autoptr (LmdLiveSession) session = NULL;
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (GError) error = NULL;

  if (engine == NULL)
    {
      g_test_skip ("pocketsphinx-en-us or pocketsphinx-testdata is not installed");
      return;
    }
  audio = recording_f32 ();
  ev.thread = g_thread_self ();
  ev.context = g_main_context_new ();
  ev.types = g_array_new (FALSE, FALSE, sizeof (LmdLiveEventType));
  ev.text = g_string_new (NULL);
  g_main_context_push_thread_default (ev.context);
  session = lmd_live_session_new (engine, NULL, &settings, on_event, &ev);
  g_assert_true (lmd_live_session_push_audio (session, audio, NULL));
  /* 7.1 s queued, 10 s allowed: a second copy is over the bound and is refused whole */
  g_assert_false (lmd_live_session_push_audio (session, audio, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  g_assert_cmpfloat_with_epsilon (lmd_live_session_get_queued_seconds (session),
                                  g_bytes_get_size (audio) / 4 / 16000.0, 1e-6);
  lmd_live_session_close (session);
  g_assert_cmpuint (ev.types->len, ==, 0); /* only queued so far */
  lmd_live_session_run_queued (session);
  /* this thread owns its context: the events came during run_queued */
  g_assert_true (ev.ended);
  g_assert_false (ev.wrong_thread);
  g_assert_false (ev.wrong_context);
  check_order (&ev);
  printf ("# run_queued: %u events: %s\n", ev.types->len, ev.text->str);
  g_assert_cmpfloat (wer (ev.text->str), <=, 0.40);
  g_main_context_pop_thread_default (ev.context);
  g_array_unref (ev.types);
  g_string_free (ev.text, TRUE);
  g_main_context_unref (ev.context);
}

static void
test_cancel (void)
{
  Events ev = { 0 };
  LmdLiveSettings settings = { .encoding = LMD_PCM_LINEAR32, .sample_rate = 16000 };
  g_autoptr (LmdLivePool) pool = lmd_live_pool_new (1);
  g_autoptr (LmdLiveSession) session = NULL;
  g_autoptr (GBytes) audio = NULL;

  if (engine == NULL)
    {
      g_test_skip ("pocketsphinx-en-us or pocketsphinx-testdata is not installed");
      return;
    }
  audio = recording_f32 ();
  ev.thread = g_thread_self ();
  ev.context = g_main_context_new ();
  ev.types = g_array_new (FALSE, FALSE, sizeof (LmdLiveEventType));
  ev.text = g_string_new (NULL);
  g_main_context_push_thread_default (ev.context);
  session = lmd_live_session_new (engine, pool, &settings, on_event, &ev);
  for (guint i = 0; i < 3; i++)
    lmd_live_session_push_audio (session, audio, NULL);
  lmd_live_session_close (session);
  /* wait until the decoding thread has posted an event (not yet delivered: this thread has
   * not iterated its context), so that cancel has something to hold back */
  for (guint i = 0; i < 1000 && !g_main_context_pending (ev.context); i++)
    g_usleep (10 * 1000);
  g_assert_true (g_main_context_pending (ev.context));
  lmd_live_session_cancel (session);
  g_assert_cmpuint (lmd_live_pool_get_queued (pool), ==, 0);
  for (guint i = 0; i < 50; i++)
    {
      while (g_main_context_iteration (ev.context, FALSE))
        ;
      g_usleep (20 * 1000);
    }
  printf ("# cancel with events posted and audio queued: %u delivered after it\n", ev.types->len);
  g_assert_cmpuint (ev.types->len, ==, 0);
  g_assert_false (ev.ended);
  g_main_context_pop_thread_default (ev.context);
  g_clear_object (&session);
  g_array_unref (ev.types);
  g_string_free (ev.text, TRUE);
  g_main_context_unref (ev.context);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  if (lmd_test_librivox_dir () != NULL &&
      g_file_test ("/usr/share/pocketsphinx/model/en-us/en-us", G_FILE_TEST_IS_DIR))
    {
      const char *build_dir = g_getenv ("LMD_BUILD_DIR");
      g_autofree char *plugin_dir = g_build_filename (build_dir != NULL ? build_dir : LMD_BUILD_DIR,
                                                      "plugins", NULL);
      const char *dirs[] = { plugin_dir, NULL };
      g_autoptr (LmdPluginLoader) loader = lmd_plugin_loader_new (dirs);
      g_autoptr (GKeyFile) config = g_key_file_new ();
      GObject *object = lmd_plugin_loader_load (loader, "sphinx", &error);

      g_assert_no_error (error);
      engine = LMD_ENGINE (object);
      g_assert_true (lmd_engine_setup (engine, config, &error));
      g_assert_no_error (error);
    }
  g_test_add_func ("/live-session/pool-context", test_pool_context);
  g_test_add_func ("/live-session/run-queued", test_run_queued);
  g_test_add_func ("/live-session/cancel", test_cancel);
  ret = g_test_run ();
  g_clear_object (&engine);
  return ret;
}
