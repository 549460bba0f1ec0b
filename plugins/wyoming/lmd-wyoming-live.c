/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-wyoming"

#include "lmd-wyoming-live.h"

#include <string.h>

#include "lmd-error.h"
#include "lmd-log.h"
#include "lmd-pcm-converter.h"

#define SLICE_SECONDS 0.02

struct _LmdWyomingLive {
  GObject parent_instance;

  /* set at creation, read-only afterwards */
  GThreadPool *pool;            /* borrowed */
  GMainContext *context;        /* owned ref: where reports go */
  LmdEngine *engine;            /* owned ref */
  char *language;               /* owned */
  char *request_id;             /* owned */
  LmdWyomingFormat format;
  LmdWyomingLiveFunc func;
  gpointer user_data;

  /* shared: under lock */
  GMutex lock;
  GQueue jobs;                  /* GBytes * (owned); NULL-data bytes of size 0 = stop */
  gboolean scheduled;           /* in the pool or running */
  gboolean cancelled;

  /* worker only */
  LmdEngineSession *session;    /* owned */
  gboolean unavailable;         /* the model cannot stream: jobs are dropped */
  gboolean finished;
  LmdPcmConverter *converter;   /* owned */
  GByteArray *carry;            /* owned: the bytes of a frame split across chunks */
  GArray *mono;                 /* owned: float32 mono at the client's rate, reused */
  GArray *samples;              /* owned: float at the engine's rate, not yet fed */
  guint engine_rate;
  guint64 fed;
  GString *text;                /* owned: the chunks reported so far */
};

G_DEFINE_FINAL_TYPE (LmdWyomingLive, lmd_wyoming_live, G_TYPE_OBJECT)

/* ---- reports ------------------------------------------------------------------------------ */

typedef struct {
  LmdWyomingLive *live;          /* owned ref */
  LmdWyomingLiveReport report;
  char *text;                    /* owned, nullable */
  GError *error;                 /* owned, nullable */
} Report;

static gboolean
deliver (gpointer data)
{
  Report *r = data;
  gboolean cancelled;

  g_mutex_lock (&r->live->lock);
  cancelled = r->live->cancelled;
  g_mutex_unlock (&r->live->lock);
  if (!cancelled)
    r->live->func (r->report, r->text, r->error, r->live->user_data);
  return G_SOURCE_REMOVE;
}

static void
report_free (gpointer data)
{
  Report *r = data;

  g_object_unref (r->live);
  g_free (r->text);
  g_clear_error (&r->error);
  g_free (r);
}

/* Worker: queues a report for the main context (text copied). */
static void
post (LmdWyomingLive *self, LmdWyomingLiveReport report, const char *text, const GError *error)
{
  Report *r = g_new0 (Report, 1);

  r->live = g_object_ref (self);
  r->report = report;
  r->text = g_strdup (text);
  r->error = error != NULL ? g_error_copy (error) : NULL;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, deliver, r, report_free);
}

/* ---- worker ------------------------------------------------------------------------------- */

static double
session_time (LmdWyomingLive *self)
{
  return (double) self->fed / self->engine_rate;
}

static void
fail (LmdWyomingLive *self, const GError *error)
{
  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id, "streaming: %s", error->message);
  self->finished = TRUE;
  post (self, LMD_WYOMING_LIVE_FAILED, NULL, error);
}

static gboolean
open_session (LmdWyomingLive *self)
{
  g_autoptr (GError) error = NULL;
  LmdSessionOptions options = { 0 };

  options.language = self->language;
  options.punctuate = TRUE;
  options.request_id = self->request_id;
  options.streaming = TRUE;
  self->session = lmd_engine_open_session (self->engine, &options, &error);
  if (self->session != NULL && !lmd_engine_session_can_stream (self->session))
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                       "model %s cannot stream; the utterance is transcribed whole",
                       lmd_engine_get_model_name (self->engine));
      g_clear_object (&self->session);
      self->unavailable = TRUE;
      post (self, LMD_WYOMING_LIVE_UNAVAILABLE, NULL, NULL);
      return FALSE;
    }
  if (self->session == NULL)
    {
      fail (self, error);
      return FALSE;
    }
  self->engine_rate = lmd_engine_get_sample_rate (self->engine);
  self->converter = lmd_pcm_converter_new (LMD_PCM_LINEAR32, self->format.rate, self->engine_rate);
  return TRUE;
}

/* Ends the open utterance and reports its text, if any. */
static gboolean
end_utterance (LmdWyomingLive *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTranscript) transcript = lmd_engine_session_end_utterance (self->session, &error);

  if (transcript == NULL)
    {
      fail (self, error);
      return FALSE;
    }
  if (transcript->text != NULL && transcript->text[0] != '\0')
    {
      if (self->text->len > 0)
        g_string_append_c (self->text, ' ');
      g_string_append (self->text, transcript->text);
      post (self, LMD_WYOMING_LIVE_CHUNK, transcript->text, NULL);
    }
  return TRUE;
}

static gboolean
feed_samples (LmdWyomingLive *self)
{
  guint slice = (guint) (SLICE_SECONDS * self->engine_rate);
  guint done = 0;

  while (done < self->samples->len)
    {
      g_autoptr (GError) error = NULL;
      guint n = MIN (slice, self->samples->len - done);
      double since = 0.0, utterance_start = -1.0, now;
      gboolean speech;

      if (!lmd_engine_session_feed (self->session, (const float *) self->samples->data + done, n, &error))
        {
          fail (self, error);
          return FALSE;
        }
      self->fed += n;
      done += n;
      now = session_time (self);
      speech = lmd_engine_session_get_speech_state (self->session, &since, &utterance_start);
      if (utterance_start >= 0.0 &&
          ((!speech && now - since >= LMD_WYOMING_LIVE_EOU_SECONDS) ||
           now - utterance_start >= LMD_WYOMING_LIVE_MAX_UTTERANCE_SECONDS) &&
          !end_utterance (self))
        return FALSE;
    }
  g_array_set_size (self->samples, 0);
  return TRUE;
}

/* Signed little-endian samples of @width bytes → float in [-1, 1). */
static float
sample_at (const guint8 *p, guint width)
{
  switch (width)
    {
    case 1:
      return (gint8) p[0] / 128.0f;
    case 2:
      return (gint16) (p[0] | (p[1] << 8)) / 32768.0f;
    case 3:
      return (gint32) (((guint32) p[0] << 8) | ((guint32) p[1] << 16) | ((guint32) p[2] << 24)) / 2147483648.0f;
    default:
      return (gint32) (p[0] | (p[1] << 8) | (p[2] << 16) | ((guint32) p[3] << 24)) / 2147483648.0f;
    }
}

/* Down-mixes the whole frames of @audio (plus the carried bytes) and converts them. */
static void
convert (LmdWyomingLive *self, GBytes *audio)
{
  guint frame = self->format.width * self->format.channels;
  gsize frames;

  g_byte_array_append (self->carry, g_bytes_get_data (audio, NULL), (guint) g_bytes_get_size (audio));
  frames = self->carry->len / frame;
  g_array_set_size (self->mono, frames);
  for (gsize i = 0; i < frames; i++)
    {
      const guint8 *p = self->carry->data + i * frame;
      float sum = 0.0f;
      for (guint c = 0; c < self->format.channels; c++)
        sum += sample_at (p + c * self->format.width, self->format.width);
      g_array_index (self->mono, float, i) = sum / self->format.channels;
    }
  g_byte_array_remove_range (self->carry, 0, (guint) (frames * frame));
  /* the converter reads float32 little-endian (linear32) */
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (gsize i = 0; i < frames; i++)
    {
      guint32 *u = (guint32 *) &g_array_index (self->mono, float, i);
      *u = GUINT32_TO_LE (*u);
    }
#endif
  lmd_pcm_converter_push (self->converter, (const guint8 *) self->mono->data, frames * sizeof (float),
                          self->samples);
}

static void
run_job (LmdWyomingLive *self, GBytes *job)
{
  if (self->finished || self->unavailable)
    return;
  if (self->session == NULL && !open_session (self))
    return;
  if (g_bytes_get_size (job) > 0)
    {
      convert (self, job);
      feed_samples (self);
      return;
    }
  /* stop */
  lmd_pcm_converter_drain (self->converter, self->samples);
  if (!feed_samples (self) || !end_utterance (self))
    return;
  self->finished = TRUE;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "streaming: %.2f s of audio decoded",
                   session_time (self));
  post (self, LMD_WYOMING_LIVE_DONE, self->text->str, NULL);
}

void
lmd_wyoming_live_run (gpointer data, gpointer user_data)
{
  g_autoptr (LmdWyomingLive) self = data;

  lmd_log_set_thread_request_id (self->request_id);
  for (;;)
    {
      GBytes *job;

      g_mutex_lock (&self->lock);
      job = self->cancelled ? NULL : g_queue_pop_head (&self->jobs);
      if (job == NULL)
        {
          self->scheduled = FALSE;
          g_mutex_unlock (&self->lock);
          break;
        }
      g_mutex_unlock (&self->lock);
      run_job (self, job);
      g_bytes_unref (job);
    }
  lmd_log_set_thread_request_id (NULL);
}

/* ---- main context ------------------------------------------------------------------------- */

static void
enqueue (LmdWyomingLive *self, GBytes *job)
{
  gboolean schedule;

  g_mutex_lock (&self->lock);
  if (self->cancelled)
    {
      g_mutex_unlock (&self->lock);
      g_bytes_unref (job);
      return;
    }
  g_queue_push_tail (&self->jobs, job);
  schedule = !self->scheduled;
  self->scheduled = TRUE;
  g_mutex_unlock (&self->lock);
  if (schedule)
    g_thread_pool_push (self->pool, g_object_ref (self), NULL);
}

LmdWyomingLive *
lmd_wyoming_live_new (GThreadPool *pool, LmdEngine *engine, const char *language,
                      const char *request_id, const LmdWyomingFormat *format,
                      LmdWyomingLiveFunc func, gpointer user_data)
{
  LmdWyomingLive *self = g_object_new (LMD_TYPE_WYOMING_LIVE, NULL);

  self->pool = pool;
  self->context = g_main_context_ref_thread_default ();
  self->engine = g_object_ref (engine);
  self->language = g_strdup (language);
  self->request_id = g_strdup (request_id);
  self->format = *format;
  self->func = func;
  self->user_data = user_data;
  return self;
}

void
lmd_wyoming_live_push (LmdWyomingLive *self, const guint8 *pcm, gsize len)
{
  g_return_if_fail (LMD_IS_WYOMING_LIVE (self));
  if (len > 0)
    enqueue (self, g_bytes_new (pcm, len));
}

void
lmd_wyoming_live_stop (LmdWyomingLive *self)
{
  g_return_if_fail (LMD_IS_WYOMING_LIVE (self));
  enqueue (self, g_bytes_new (NULL, 0));
}

void
lmd_wyoming_live_cancel (LmdWyomingLive *self)
{
  GQueue dropped;

  g_return_if_fail (LMD_IS_WYOMING_LIVE (self));
  g_mutex_lock (&self->lock);
  self->cancelled = TRUE;
  dropped = self->jobs;
  g_queue_init (&self->jobs);
  g_mutex_unlock (&self->lock);
  g_queue_clear_full (&dropped, (GDestroyNotify) g_bytes_unref);
}

/* ---- GObject ------------------------------------------------------------------------------ */

static void
lmd_wyoming_live_finalize (GObject *object)
{
  LmdWyomingLive *self = LMD_WYOMING_LIVE (object);

  /* may run on a worker thread */
  g_queue_clear_full (&self->jobs, (GDestroyNotify) g_bytes_unref);
  g_clear_object (&self->session);
  g_clear_pointer (&self->converter, lmd_pcm_converter_free);
  g_byte_array_unref (self->carry);
  g_array_unref (self->mono);
  g_array_unref (self->samples);
  g_string_free (self->text, TRUE);
  g_clear_object (&self->engine);
  g_main_context_unref (self->context);
  g_free (self->language);
  g_free (self->request_id);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (lmd_wyoming_live_parent_class)->finalize (object);
}

static void
lmd_wyoming_live_class_init (LmdWyomingLiveClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_wyoming_live_finalize;
}

static void
lmd_wyoming_live_init (LmdWyomingLive *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->jobs);
  self->carry = g_byte_array_new ();
  self->mono = g_array_new (FALSE, FALSE, sizeof (float));
  self->samples = g_array_new (FALSE, FALSE, sizeof (float));
  self->text = g_string_new (NULL);
}
