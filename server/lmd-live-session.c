/* SPDX-License-Identifier: MIT */
/*
 * lmd-live-session.c — the live-transcription driver (see the header for the events).
 *
 * End of utterance: the engine's voice-activity detector opens an utterance when speech
 * starts; once it reports silence for eou_timeout_ms of audio, the utterance is finalised.
 * The audio is fed to the engine in 20 ms slices, so the decision falls within 20 ms of the
 * audio time it is due, whatever the size of the caller's frames.  The engine has decoded
 * the utterance's audio as it came, so ending it costs only the engine's last pass (sphinx:
 * about 20 ms): the final's delay after the end of speech is the detector's placement of
 * that end plus eou_timeout_ms (the debug line of end_utterance shows each part).
 *
 * Jobs (audio, finalize, close) are queued under the lock and run in order by one thread at
 * a time (a pool turn, or the caller's run_queued).  Events are queued under the lock in an
 * outbox and delivered on the owning context; the lock is never held while a callback runs.
 */
#define G_LOG_DOMAIN "lmd-live"

#include "lmd-live-session.h"

#include "lmd-error.h"
#include "lmd-log.h"

#define SLICE_SECONDS 0.02           /* audio fed to the engine between end-of-utterance checks */
#define INTERIM_INTERVAL_SECONDS 0.1 /* audio between two partial hypotheses */
#define INTERIM_MAX_BACKLOG_S 3.0    /* audio queued beyond which no partial is asked for (more
                                      * than the largest frame, 64 KiB of linear16 at 16 kHz, holds) */
#define TURN_SECONDS 0.5             /* audio one pool turn decodes before yielding */

typedef enum {
  JOB_AUDIO,
  JOB_FINALIZE,
  JOB_CLOSE,
} JobKind;

typedef struct {
  JobKind kind;
  GBytes *audio;              /* owned; JOB_AUDIO */
} Job;

typedef struct {
  LmdLiveEvent event;         /* its pointers point at the fields below */
  char *text;                 /* owned, nullable */
  LmdTranscript *transcript;  /* owned, nullable */
  GError *error;              /* owned, nullable */
} Posted;

struct _LmdLiveSession {
  GObject parent_instance;

  /* set at creation, read-only afterwards */
  LmdEngine *engine;          /* owned ref */
  LmdLivePool *pool;          /* owned ref, nullable */
  GMainContext *context;      /* owned ref: the owning context */
  LmdLiveEventFunc func;
  gpointer user_data;         /* borrowed */
  char *language;             /* owned */
  char *request_id;           /* owned, nullable */
  gboolean word_timestamps;
  gboolean interim_results;
  guint eou_timeout_ms;
  double max_utterance_s;
  LmdPcmEncoding encoding;
  guint sample_rate;
  double max_queue_seconds;
  double bytes_per_second;
  LmdVadOptions vad;

  /* shared: under lock */
  GMutex lock;
  GQueue jobs;                /* Job * */
  guint64 queued_bytes;       /* audio bytes in jobs */
  gboolean scheduled;         /* pool: in the pool or running on a thread */
  gboolean closed;            /* close() was called: no more input */
  gboolean cancelled;         /* cancel() was called: drop everything */
  GQueue outbox;              /* Posted * */
  gboolean outbox_scheduled;

  /* decoding thread only (one at a time) */
  LmdEngineSession *session;  /* owned; opened by the first job */
  LmdPcmConverter *converter; /* owned */
  GArray *samples;            /* owned; float at the engine rate, converted and not yet fed */
  guint engine_rate;
  guint64 fed;                /* engine-rate samples fed to the session */
  gboolean announced;         /* SPEECH_STARTED emitted for the open utterance */
  double last_partial_at;     /* session time of the last partial check */
  char *last_partial;         /* owned */
  gboolean done;              /* the engine failed or END was emitted: jobs are dropped */
};

G_DEFINE_FINAL_TYPE (LmdLiveSession, lmd_live_session, G_TYPE_OBJECT)

static void pool_turn (gpointer data);

static void
job_free (Job *job)
{
  g_clear_pointer (&job->audio, g_bytes_unref);
  g_free (job);
}

static void
posted_free (Posted *posted)
{
  g_free (posted->text);
  g_clear_pointer (&posted->transcript, lmd_transcript_free);
  g_clear_error (&posted->error);
  g_free (posted);
}

/* ---- events (delivered on the owning context) --------------------------------------------- */

static gboolean
deliver (gpointer data)
{
  LmdLiveSession *self = data;

  for (;;)
    {
      Posted *posted;

      g_mutex_lock (&self->lock);
      posted = self->cancelled ? NULL : g_queue_pop_head (&self->outbox);
      if (posted == NULL)
        {
          g_queue_clear_full (&self->outbox, (GDestroyNotify) posted_free);
          self->outbox_scheduled = FALSE;
          g_mutex_unlock (&self->lock);
          break;
        }
      g_mutex_unlock (&self->lock);
      self->func (self, &posted->event, self->user_data);
      posted_free (posted);
    }
  return G_SOURCE_REMOVE;
}

/* Decoding thread: queues @posted (taken) for the owning context. */
static void
post (LmdLiveSession *self, Posted *posted)
{
  gboolean schedule;

  posted->event.text = posted->text;
  posted->event.transcript = posted->transcript;
  posted->event.error = posted->error;
  g_mutex_lock (&self->lock);
  if (self->cancelled)
    {
      g_mutex_unlock (&self->lock);
      posted_free (posted);
      return;
    }
  g_queue_push_tail (&self->outbox, posted);
  schedule = !self->outbox_scheduled;
  self->outbox_scheduled = TRUE;
  g_mutex_unlock (&self->lock);
  /* runs deliver() at once when this thread owns the context */
  if (schedule)
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, deliver, g_object_ref (self),
                                g_object_unref);
}

static Posted *
posted_new (LmdLiveEventType type, double start)
{
  Posted *posted = g_new0 (Posted, 1);

  posted->event.type = type;
  posted->event.start = MAX (start, 0.0);
  return posted;
}

/* ---- decoding ------------------------------------------------------------------------------ */

static double
session_time (LmdLiveSession *self)
{
  return self->engine_rate > 0 ? (double) self->fed / self->engine_rate : 0.0;
}

static void
fail (LmdLiveSession *self, GError *error)
{
  Posted *posted = posted_new (LMD_LIVE_EVENT_ERROR, session_time (self));

  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id, "live session: %s", error->message);
  self->done = TRUE;
  posted->error = error;
  post (self, posted);
}

/* Ends the open utterance; emits its FINAL when it has words or when @always. */
static gboolean
end_utterance (LmdLiveSession *self, gboolean always, double speech_end)
{
  GError *error = NULL;
  g_autoptr (LmdTranscript) transcript = NULL;
  double utterance_start = -1.0;
  double now = session_time (self);

  gint64 t0 = g_get_monotonic_time ();

  lmd_engine_session_get_speech_state (self->session, NULL, &utterance_start);
  if (utterance_start < 0.0 && !always)
    return TRUE;
  transcript = lmd_engine_session_end_utterance (self->session, &error);
  if (transcript == NULL)
    {
      fail (self, error);
      return FALSE;
    }
  /* where the time between the end of speech and its final goes */
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id,
                   "live: utterance %.2f-%.2f s ended at %.2f s (speech end %.2f s, last word end "
                   "%.2f s), %u words decoded in %.0f ms",
                   utterance_start, now, now, speech_end,
                   transcript->words->len > 0
                     ? g_array_index (transcript->words, LmdWord, transcript->words->len - 1).end
                     : -1.0,
                   transcript->words->len, (g_get_monotonic_time () - t0) / 1e3);
  if (self->announced)
    post (self, posted_new (LMD_LIVE_EVENT_SPEECH_ENDED, MIN (speech_end, now)));
  self->announced = FALSE;
  g_clear_pointer (&self->last_partial, g_free);
  if (transcript->words->len > 0 || always)
    {
      double start = utterance_start >= 0.0 ? utterance_start : now;
      double end = now;
      Posted *posted;

      if (transcript->words->len > 0)
        {
          start = g_array_index (transcript->words, LmdWord, 0).start;
          end = g_array_index (transcript->words, LmdWord, transcript->words->len - 1).end;
        }
      posted = posted_new (LMD_LIVE_EVENT_FINAL, start);
      posted->event.end = MAX (end, posted->event.start);
      posted->transcript = g_steal_pointer (&transcript);
      post (self, posted);
    }
  return TRUE;
}

/* After each slice: speech events, end of utterance, partial hypotheses. */
static gboolean
check_utterance (LmdLiveSession *self, gboolean want_partial)
{
  double since = 0.0, utterance_start = -1.0;
  double now = session_time (self);
  gboolean speech = lmd_engine_session_get_speech_state (self->session, &since, &utterance_start);

  if (utterance_start < 0.0)
    return TRUE;
  if (!self->announced)
    {
      self->announced = TRUE;
      post (self, posted_new (LMD_LIVE_EVENT_SPEECH_STARTED, speech ? since : utterance_start));
    }
  if (!speech && now - since >= self->eou_timeout_ms / 1000.0)
    return end_utterance (self, FALSE, since);
  if (now - utterance_start >= self->max_utterance_s)
    return end_utterance (self, FALSE, now);
  /* until the utterance's first interim, every frame is checked: the first word goes out as
   * soon as the decoder has it; later ones at most every INTERIM_INTERVAL_SECONDS of audio */
  if (want_partial && self->interim_results &&
      (self->last_partial == NULL || now - self->last_partial_at >= INTERIM_INTERVAL_SECONDS) &&
      lmd_live_session_get_queued_seconds (self) <= INTERIM_MAX_BACKLOG_S)
    {
      g_autofree char *partial = lmd_engine_session_get_partial (self->session);

      self->last_partial_at = now;
      if (partial != NULL && partial[0] != '\0' && g_strcmp0 (partial, self->last_partial) != 0)
        {
          Posted *posted = posted_new (LMD_LIVE_EVENT_INTERIM, utterance_start);

          posted->text = g_strdup (partial);
          posted->event.end = MAX (now, posted->event.start);
          post (self, posted);
          g_free (self->last_partial);
          self->last_partial = g_steal_pointer (&partial);
        }
    }
  return TRUE;
}

/* Feeds the converted samples in slices. */
static gboolean
feed_samples (LmdLiveSession *self)
{
  guint slice = MAX ((guint) (SLICE_SECONDS * self->engine_rate), 1);
  guint done = 0;

  while (done < self->samples->len)
    {
      guint n = MIN (slice, self->samples->len - done);
      GError *error = NULL;

      if (!lmd_engine_session_feed (self->session, (const float *) self->samples->data + done, n,
                                    &error))
        {
          g_array_set_size (self->samples, 0);
          fail (self, error);
          return FALSE;
        }
      self->fed += n;
      done += n;
      if (!check_utterance (self, done == self->samples->len))
        {
          g_array_set_size (self->samples, 0);
          return FALSE;
        }
    }
  g_array_set_size (self->samples, 0);
  return TRUE;
}

static gboolean
open_session (LmdLiveSession *self)
{
  GError *error = NULL;
  LmdSessionOptions options = { 0 };

  options.language = self->language;
  options.word_timestamps = self->word_timestamps;
  options.punctuate = TRUE;
  options.request_id = self->request_id;
  options.streaming = TRUE;
  options.vad = &self->vad;
  self->session = lmd_engine_open_session (self->engine, &options, &error);
  if (self->session != NULL && !lmd_engine_session_can_stream (self->session))
    {
      g_clear_object (&self->session);
      g_set_error (&error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                   "model %s cannot transcribe live streams", lmd_engine_get_model_name (self->engine));
    }
  if (self->session == NULL)
    {
      fail (self, error);
      return FALSE;
    }
  self->engine_rate = lmd_engine_get_sample_rate (self->engine);
  self->converter = lmd_pcm_converter_new (self->encoding,
                                           self->sample_rate > 0 ? self->sample_rate : self->engine_rate,
                                           self->engine_rate);
  return TRUE;
}

static void
run_job (LmdLiveSession *self, Job *job)
{
  if (self->done)
    return;
  if (self->session == NULL && !open_session (self))
    return;
  switch (job->kind)
    {
    case JOB_AUDIO:
      {
        gsize len;
        const guint8 *data = g_bytes_get_data (job->audio, &len);
        lmd_pcm_converter_push (self->converter, data, len, self->samples);
        feed_samples (self);
      }
      break;
    case JOB_FINALIZE:
      end_utterance (self, TRUE, session_time (self));
      break;
    case JOB_CLOSE:
      {
        double since = 0.0;
        gboolean speech;
        Posted *posted;

        lmd_pcm_converter_drain (self->converter, self->samples);
        if (!feed_samples (self))
          return;
        speech = lmd_engine_session_get_speech_state (self->session, &since, NULL);
        if (!end_utterance (self, FALSE, speech ? session_time (self) : since))
          return;
        posted = posted_new (LMD_LIVE_EVENT_END, session_time (self));
        posted->event.duration = session_time (self);
        post (self, posted);
        self->done = TRUE; /* nothing after END */
      }
      break;
    }
}

/* Pops the next job, or NULL when none (or cancelled).  @budget (nullable): bytes of audio
 * this turn may still decode; when spent, *yield is set and NULL returned. */
static Job *
pop_job (LmdLiveSession *self, guint64 *budget, gboolean *yield)
{
  Job *job = NULL;

  g_mutex_lock (&self->lock);
  if (self->cancelled || g_queue_is_empty (&self->jobs))
    {
      self->scheduled = FALSE;
    }
  else if (budget != NULL && *budget == 0)
    {
      *yield = TRUE; /* stays scheduled */
    }
  else
    {
      job = g_queue_pop_head (&self->jobs);
      if (job->kind == JOB_AUDIO)
        {
          gsize len = g_bytes_get_size (job->audio);

          self->queued_bytes -= len;
          if (self->pool != NULL)
            lmd_live_pool_add_queued (self->pool, -1);
          if (budget != NULL)
            *budget -= MIN (*budget, len);
        }
    }
  g_mutex_unlock (&self->lock);
  return job;
}

/* A pool thread: runs the session's jobs in order, yielding after TURN_SECONDS of audio. */
static void
pool_turn (gpointer data)
{
  LmdLiveSession *self = data;
  guint64 budget = MAX ((guint64) (TURN_SECONDS * self->bytes_per_second), 1);
  gboolean again = FALSE;
  Job *job;

  lmd_log_set_thread_request_id (self->request_id);
  while ((job = pop_job (self, &budget, &again)) != NULL)
    {
      run_job (self, job);
      job_free (job);
    }
  lmd_log_set_thread_request_id (NULL);
  if (again)
    lmd_live_pool_push (self->pool, pool_turn, self); /* keeps this turn's reference */
  else
    g_object_unref (self);
}

void
lmd_live_session_run_queued (LmdLiveSession *self)
{
  Job *job;

  g_return_if_fail (LMD_IS_LIVE_SESSION (self));
  g_return_if_fail (self->pool == NULL);
  while ((job = pop_job (self, NULL, NULL)) != NULL)
    {
      run_job (self, job);
      job_free (job);
    }
}

/* ---- input (owning context) ------------------------------------------------------------------ */

/* Returns FALSE (job freed) after close or cancel. */
static gboolean
enqueue (LmdLiveSession *self, Job *job, gboolean closing)
{
  gboolean schedule = FALSE;

  g_mutex_lock (&self->lock);
  if (self->closed || self->cancelled)
    {
      g_mutex_unlock (&self->lock);
      job_free (job);
      return FALSE;
    }
  g_queue_push_tail (&self->jobs, job);
  if (job->kind == JOB_AUDIO)
    {
      self->queued_bytes += g_bytes_get_size (job->audio);
      if (self->pool != NULL)
        lmd_live_pool_add_queued (self->pool, 1);
    }
  if (closing)
    self->closed = TRUE;
  if (self->pool != NULL && !self->scheduled)
    schedule = self->scheduled = TRUE;
  g_mutex_unlock (&self->lock);
  if (schedule)
    lmd_live_pool_push (self->pool, pool_turn, g_object_ref (self));
  return TRUE;
}

gboolean
lmd_live_session_push_audio (LmdLiveSession *self, GBytes *audio, GError **error)
{
  gsize len;
  guint64 queued;
  Job *job;

  g_return_val_if_fail (LMD_IS_LIVE_SESSION (self), FALSE);
  g_return_val_if_fail (audio != NULL, FALSE);
  len = g_bytes_get_size (audio);
  if (len == 0)
    return TRUE;
  g_mutex_lock (&self->lock);
  queued = self->queued_bytes;
  g_mutex_unlock (&self->lock);
  if ((double) (queued + len) / self->bytes_per_second > self->max_queue_seconds)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED,
                   "more than %.0f s of audio are waiting to be decoded: send at most in real time",
                   self->max_queue_seconds);
      return FALSE;
    }
  job = g_new0 (Job, 1);
  job->kind = JOB_AUDIO;
  job->audio = g_bytes_ref (audio);
  return enqueue (self, job, FALSE);
}

void
lmd_live_session_finalize (LmdLiveSession *self)
{
  Job *job;

  g_return_if_fail (LMD_IS_LIVE_SESSION (self));
  job = g_new0 (Job, 1);
  job->kind = JOB_FINALIZE;
  enqueue (self, job, FALSE);
}

void
lmd_live_session_close (LmdLiveSession *self)
{
  Job *job;

  g_return_if_fail (LMD_IS_LIVE_SESSION (self));
  job = g_new0 (Job, 1);
  job->kind = JOB_CLOSE;
  enqueue (self, job, TRUE);
}

void
lmd_live_session_cancel (LmdLiveSession *self)
{
  GQueue dropped = G_QUEUE_INIT;
  GQueue undelivered = G_QUEUE_INIT;
  Job *job;

  g_return_if_fail (LMD_IS_LIVE_SESSION (self));
  g_mutex_lock (&self->lock);
  self->cancelled = TRUE;
  self->closed = TRUE;
  dropped = self->jobs;
  g_queue_init (&self->jobs);
  self->queued_bytes = 0;
  undelivered = self->outbox;
  g_queue_init (&self->outbox);
  g_mutex_unlock (&self->lock);
  while ((job = g_queue_pop_head (&dropped)) != NULL)
    {
      if (job->kind == JOB_AUDIO && self->pool != NULL)
        lmd_live_pool_add_queued (self->pool, -1);
      job_free (job);
    }
  g_queue_clear_full (&undelivered, (GDestroyNotify) posted_free);
}

double
lmd_live_session_get_queued_seconds (LmdLiveSession *self)
{
  guint64 queued;

  g_return_val_if_fail (LMD_IS_LIVE_SESSION (self), 0.0);
  g_mutex_lock (&self->lock);
  queued = self->queued_bytes;
  g_mutex_unlock (&self->lock);
  return (double) queued / self->bytes_per_second;
}

const char *
lmd_live_session_get_request_id (LmdLiveSession *self)
{
  g_return_val_if_fail (LMD_IS_LIVE_SESSION (self), NULL);
  return self->request_id;
}

LmdLiveSession *
lmd_live_session_new (LmdEngine *engine, LmdLivePool *pool, const LmdLiveSettings *settings,
                      LmdLiveEventFunc func, gpointer user_data)
{
  LmdLiveSession *self;

  g_return_val_if_fail (LMD_IS_ENGINE (engine), NULL);
  g_return_val_if_fail (settings != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  self = g_object_new (LMD_TYPE_LIVE_SESSION, NULL);
  self->engine = g_object_ref (engine);
  self->pool = pool != NULL ? lmd_live_pool_ref (pool) : NULL;
  self->context = g_main_context_ref_thread_default ();
  self->func = func;
  self->user_data = user_data;
  self->language = g_strdup (settings->language != NULL ? settings->language : "en");
  self->request_id = g_strdup (settings->request_id);
  self->word_timestamps = settings->word_timestamps;
  self->interim_results = settings->interim_results;
  self->max_utterance_s = settings->max_utterance_s > 0 ? settings->max_utterance_s : 30.0;
  self->encoding = settings->encoding;
  self->sample_rate = settings->sample_rate > 0 ? settings->sample_rate
                                                : lmd_engine_get_sample_rate (engine);
  self->max_queue_seconds = settings->max_queue_seconds > 0 ? settings->max_queue_seconds : 30.0;
  if (settings->vad != NULL)
    self->vad = *settings->vad;
  else
    lmd_vad_options_init (&self->vad);
  self->eou_timeout_ms = settings->eou_timeout_ms > 0 ? settings->eou_timeout_ms
                         : self->vad.enabled > 0     ? LMD_LIVE_EOU_TIMEOUT_SILERO_MS
                                                     : LMD_LIVE_EOU_TIMEOUT_MS;
  self->bytes_per_second = (double) self->sample_rate * lmd_pcm_encoding_sample_bytes (self->encoding);
  return self;
}

/* ---- GObject ------------------------------------------------------------------------------- */

static void
lmd_live_session_finalize_object (GObject *object)
{
  LmdLiveSession *self = LMD_LIVE_SESSION (object);

  /* may run on a pool thread */
  g_queue_clear_full (&self->jobs, (GDestroyNotify) job_free);
  g_queue_clear_full (&self->outbox, (GDestroyNotify) posted_free);
  g_clear_object (&self->session);
  g_clear_pointer (&self->converter, lmd_pcm_converter_free);
  g_array_unref (self->samples);
  g_free (self->last_partial);
  g_free (self->language);
  g_free (self->request_id);
  g_clear_object (&self->engine);
  g_clear_pointer (&self->pool, lmd_live_pool_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (lmd_live_session_parent_class)->finalize (object);
}

static void
lmd_live_session_class_init (LmdLiveSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_live_session_finalize_object;
}

static void
lmd_live_session_init (LmdLiveSession *self)
{
  g_mutex_init (&self->lock);
  g_queue_init (&self->jobs);
  g_queue_init (&self->outbox);
  self->samples = g_array_new (FALSE, FALSE, sizeof (float));
}
