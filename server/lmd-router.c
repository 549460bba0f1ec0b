/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-router"

#include "lmd-router.h"

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-log.h"
#include "lmd-channel-sessions.h"
#include "lmd-url-fetcher.h"

struct _LmdRouter {
  GObject parent_instance;

  LmdLimits limits;
  LmdAudioDecoder *decoder; /* owned */
  LmdLicense *license;      /* owned, nullable */
  LmdState *state;          /* owned, nullable: worker registry (roles api and asr) */
  LmdJobStore *job_store;   /* owned, nullable */
  GHashTable *engines;      /* owned: model name or alias → LmdEngine (owned) */
  GPtrArray *models;        /* owned: model names in order of registration */
  char *default_model;      /* owned */
  GThreadPool *pool;        /* owned: inference */
  GThreadPool *fetch_pool;  /* owned: URL fetches, which then go to pool */

  /* counters, atomics */
  gint admitted; /* queued + running */
  gint active;
  gint draining;
  gint shutting_down;
  guint64 completed;
  GMutex stats_lock;
  double audio_seconds_total; /* under stats_lock */
  GHashTable *live_jobs;      /* under stats_lock: Job* admitted and not yet returned */
};

G_DEFINE_FINAL_TYPE (LmdRouter, lmd_router, G_TYPE_OBJECT)

/* One admitted request.  Created on the caller's thread-default context (the owning context);
 * run on a pool thread; its GTask returns on the owning context, its timeout fires there, and
 * it is freed there: the pool thread hands its reference to the task back to the owning
 * context, so job_free never runs while job_timeout_cb does. */
typedef struct {
  LmdRouter *router;              /* owned ref */
  LmdTranscribeRequest *request;  /* owned */
  LmdEngine *engine;              /* owned ref */
  GTask *task;                    /* owned ref */
  GCancellable *cancellable;      /* owned: cancelled by timeout or by the caller */
  GCancellable *caller_cancellable; /* owned ref, nullable */
  gulong caller_handler;
  GSource *timeout;               /* owned: attached to the owning context */
  gint timed_out;
  gint64 admitted_at;
  GBytes *fetched;                /* owned, nullable: the body of request->url, once fetched */
} Job;

static void
job_free (Job *job)
{
  g_mutex_lock (&job->router->stats_lock);
  g_hash_table_remove (job->router->live_jobs, job);
  g_mutex_unlock (&job->router->stats_lock);
  if (job->timeout != NULL)
    {
      g_source_destroy (job->timeout);
      g_source_unref (job->timeout);
    }
  if (job->caller_cancellable != NULL)
    g_cancellable_disconnect (job->caller_cancellable, job->caller_handler);
  g_clear_object (&job->caller_cancellable);
  g_clear_object (&job->cancellable);
  g_clear_object (&job->engine);
  g_clear_pointer (&job->request, lmd_transcribe_request_free);
  g_clear_pointer (&job->fetched, g_bytes_unref);
  g_clear_object (&job->router);
  g_free (job);
}

gboolean
lmd_limits_load (LmdLimits *limits, GKeyFile *config, GError **error)
{
  gint64 workers, queue, timeout, fetch_timeout, fetch_workers, retry;
  double body_mb, audio_s;

  if (!lmd_config_get_int (config, "limits", "workers", g_get_num_processors (), &workers, error) ||
      !lmd_config_get_int (config, "limits", "queue_size", 64, &queue, error) ||
      !lmd_config_get_double (config, "limits", "max_body_mb", 100.0, &body_mb, error) ||
      !lmd_config_get_double (config, "limits", "max_audio_seconds", 7200.0, &audio_s, error) ||
      !lmd_config_get_int (config, "limits", "request_timeout_s", 300, &timeout, error) ||
      !lmd_config_get_int (config, "limits", "fetch_timeout_s", 60, &fetch_timeout, error) ||
      !lmd_config_get_int (config, "limits", "fetch_workers", 8, &fetch_workers, error) ||
      !lmd_config_get_int (config, "limits", "retry_after_s", 2, &retry, error) ||
      !lmd_config_get_boolean (config, "limits", "allow_private_urls", FALSE,
                               &limits->allow_private_urls, error))
    return FALSE;
  /* bodies are held and handed around with 32-bit lengths in places (GByteArray): the
   * largest body stays well below 4 GiB */
  if (workers < 1 || workers > 1024 || queue < 0 || queue > 100000 || body_mb <= 0 ||
      body_mb > LMD_LIMITS_MAX_BODY_MB || audio_s <= 0 || timeout < 1 || fetch_timeout < 1 ||
      retry < 1 || fetch_workers < 1 || fetch_workers > 1024)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [limits]: a value is out of range (workers 1..1024, queue_size >= 0, "
                   "max_body_mb > 0 and at most %d, max_audio_seconds > 0, timeouts >= 1 s, "
                   "fetch_workers 1..1024)",
                   LMD_LIMITS_MAX_BODY_MB);
      return FALSE;
    }
  limits->workers = (guint) workers;
  limits->queue_size = (guint) queue;
  limits->max_body_bytes = (guint64) (body_mb * 1024.0 * 1024.0);
  limits->max_audio_seconds = audio_s;
  limits->request_timeout_s = (guint) timeout;
  limits->fetch_timeout_s = (guint) fetch_timeout;
  limits->fetch_workers = (guint) fetch_workers;
  limits->retry_after_s = (guint) retry;
  return TRUE;
}

typedef struct {
  Job *job;
  LmdEngineSession *session;
  guint sample_rate;
  guint64 samples;
  guint64 max_samples;
} FeedState;

static gboolean
feed_pcm (const float *samples, gsize n_samples, gpointer user_data, GError **error)
{
  FeedState *state = user_data;

  state->samples += n_samples;
  if (state->samples > state->max_samples)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is longer than the limit of %.0f s",
                   state->job->router->limits.max_audio_seconds);
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (state->job->cancellable, error))
    return FALSE;
  return lmd_engine_session_feed (state->session, samples, n_samples, error);
}

/* Runs on a pool thread. */
static LmdTranscript *
job_run (Job *job, GError **error)
{
  LmdRouter *self = job->router;
  LmdTranscribeRequest *req = job->request;
  g_autoptr (GBytes) audio = NULL;
  g_autoptr (LmdEngineSession) session = NULL;
  LmdTranscript *transcript;
  LmdSessionOptions opts = {
    .language = req->options.language,
    .word_timestamps = req->options.word_timestamps,
    .punctuate = req->options.punctuate,
    .request_id = req->request_id,
    .beam_size = req->options.beam_size,
    .prompt = req->options.prompt,
    .condition_on_previous_text = req->options.condition_on_previous_text < 0 ? 0
                                  : req->options.condition_on_previous_text ? 1 : -1,
    .vad = &req->options.vad,
    .cancellable = job->cancellable,
    .translate = req->options.translate,
  };
  FeedState state = { job };

  /* a request by URL comes here from the fetch pool with its body */
  audio = g_bytes_ref (job->fetched != NULL ? job->fetched : req->audio);

  state.sample_rate = lmd_engine_get_sample_rate (job->engine);
  state.max_samples = (guint64) (self->limits.max_audio_seconds * state.sample_rate);
  if (req->options.multichannel && lmd_audio_decoder_can_decode_channels (self->decoder))
    {
      /* each channel on its own session (lmd-channel-sessions.h) */
      g_autoptr (LmdChannelSessions) channels =
        lmd_channel_sessions_new (job->engine, &opts, state.max_samples, self->limits.max_audio_seconds);

      if (!lmd_audio_decoder_decode_channels (self->decoder, audio, state.sample_rate,
                                              self->limits.max_audio_seconds, lmd_channel_sessions_feed,
                                              channels, job->cancellable, error) ||
          (transcript = lmd_channel_sessions_finish (channels, state.sample_rate, error)) == NULL)
        return NULL;
      if (req->options.hash_audio)
        transcript->audio_sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, audio);
      return transcript;
    }
  session = lmd_engine_open_session (job->engine, &opts, error);
  if (session == NULL)
    return NULL;
  state.session = session;
  if (!lmd_audio_decoder_decode (self->decoder, audio, state.sample_rate,
                                 self->limits.max_audio_seconds, feed_pcm, &state,
                                 job->cancellable, error))
    return NULL;
  transcript = lmd_engine_session_finish (session, error);
  if (transcript == NULL)
    return NULL;
  transcript->duration = (double) state.samples / state.sample_rate;
  if (req->options.hash_audio)
    transcript->audio_sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, audio);
  return transcript;
}

/* Owning context: drops the reference the pool thread held. */
static gboolean
unref_task (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

/* Any pool thread: returns @transcript (taken) or @error (taken) and leaves the router. */
static void
job_complete (Job *job, LmdTranscript *transcript, GError *error, gint64 started)
{
  LmdRouter *self = job->router;

  g_atomic_int_add (&self->admitted, -1);

  if (transcript != NULL)
    {
      g_mutex_lock (&self->stats_lock);
      self->audio_seconds_total += transcript->duration;
      self->completed++;
      g_mutex_unlock (&self->stats_lock);
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, job->request->request_id,
                       "transcribed %.2f s of audio in %.3f s (%u words)", transcript->duration,
                       (g_get_monotonic_time () - started) / 1e6, transcript->words->len);
      g_task_return_pointer (job->task, transcript, (GDestroyNotify) lmd_transcript_free);
    }
  else
    {
      if (g_atomic_int_get (&self->shutting_down) &&
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          g_set_error (&error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                       "the server shut down before the request finished; retry it");
        }
      else if (g_atomic_int_get (&job->timed_out) &&
               g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_clear_error (&error);
          g_set_error (&error, LMD_ERROR, LMD_ERROR_TIMEOUT,
                       "processing took longer than the limit of %u s",
                       self->limits.request_timeout_s);
        }
      g_task_return_error (job->task, error);
    }
  /* The task keeps the Job alive (task data): its last reference goes on the owning context,
   * after the callback.  @job may be freed as soon as this is queued. */
  g_main_context_invoke_full (g_task_get_context (job->task), G_PRIORITY_DEFAULT, unref_task,
                              job->task, NULL);
}

static void
pool_func (gpointer data, gpointer user_data)
{
  Job *job = data;
  LmdRouter *self = job->router;
  GError *error = NULL;
  LmdTranscript *transcript = NULL;
  gint64 started = g_get_monotonic_time ();

  g_atomic_int_inc (&self->active);
  lmd_log_set_thread_request_id (job->request->request_id);
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, job->request->request_id,
                   "started on model %s after %.3f s in the queue",
                   lmd_engine_get_model_name (job->engine),
                   (started - job->admitted_at) / 1e6);
  if (!g_cancellable_set_error_if_cancelled (job->cancellable, &error))
    transcript = job_run (job, &error);
  lmd_log_set_thread_request_id (NULL);
  g_atomic_int_add (&self->active, -1);
  job_complete (job, transcript, error, started);
}

/* A fetch thread: fetches request->url, then queues the job for an inference thread. */
static void
fetch_func (gpointer data, gpointer user_data)
{
  Job *job = data;
  LmdRouter *self = job->router;
  LmdTranscribeRequest *req = job->request;
  LmdFetchLimits fetch = { self->limits.max_body_bytes, self->limits.fetch_timeout_s,
                           self->limits.allow_private_urls };
  GError *error = NULL;
  gint64 started = g_get_monotonic_time ();

  lmd_log_set_thread_request_id (req->request_id);
  if (!g_cancellable_set_error_if_cancelled (job->cancellable, &error))
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, req->request_id, "fetching %s", req->url);
      job->fetched = lmd_url_fetch (req->url, &fetch, job->cancellable, &error);
    }
  lmd_log_set_thread_request_id (NULL);
  if (job->fetched == NULL)
    {
      job_complete (job, NULL, error, started);
      return;
    }
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, req->request_id,
                   "fetched %" G_GSIZE_FORMAT " bytes from the URL in %.3f s",
                   g_bytes_get_size (job->fetched), (g_get_monotonic_time () - started) / 1e6);
  g_thread_pool_push (self->pool, job, NULL);
}

static gboolean
job_timeout_cb (gpointer data)
{
  Job *job = data;

  g_atomic_int_set (&job->timed_out, 1);
  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, job->request->request_id,
                   "cancelling: past the time limit of %u s", job->router->limits.request_timeout_s);
  g_cancellable_cancel (job->cancellable);
  return G_SOURCE_REMOVE;
}

static void
caller_cancelled_cb (GCancellable *caller, gpointer data)
{
  GCancellable *ours = data;

  g_cancellable_cancel (ours);
}

static gboolean
validate_request (LmdRouter *self, LmdTranscribeRequest *request, LmdEngine **engine, GError **error)
{
  if (request->audio == NULL && request->url == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "audio" LMD_ERROR_PARAM_SEPARATOR "the request has no audio");
      return FALSE;
    }
  if (request->audio != NULL && g_bytes_get_size (request->audio) == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "audio" LMD_ERROR_PARAM_SEPARATOR "the audio is empty");
      return FALSE;
    }
  if (request->audio != NULL && g_bytes_get_size (request->audio) > self->limits.max_body_bytes)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is larger than the limit of %" G_GUINT64_FORMAT " MB",
                   self->limits.max_body_bytes / (1024 * 1024));
      return FALSE;
    }
  *engine = lmd_router_find_engine (self, request->options.model);
  if (*engine == NULL)
    {
      g_autoptr (GPtrArray) models = lmd_router_list_models (self);
      g_ptr_array_add (models, NULL);
      g_autofree char *list = g_strjoinv (", ", (char **) models->pdata);
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "model" LMD_ERROR_PARAM_SEPARATOR "'%s' is not loaded (available: %s)",
                   request->options.model, list);
      return FALSE;
    }
  {
    g_autofree char *why = NULL;
    LmdEngineState state = lmd_engine_get_state (*engine, &why);

    if (state != LMD_ENGINE_READY)
      {
        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, request->request_id, "refused: model %s is %s (%s)",
                         lmd_engine_get_model_name (*engine),
                         state == LMD_ENGINE_LOADING ? "loading" : "not usable", why ? why : "");
        g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                     state == LMD_ENGINE_LOADING ? "model %s is loading (%s); retry later"
                                                 : "model %s could not be loaded: %s",
                     lmd_engine_get_model_name (*engine), why ? why : "");
        return FALSE;
      }
  }
  if (request->options.translate && !lmd_engine_can_translate (*engine))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "model" LMD_ERROR_PARAM_SEPARATOR "model %s cannot translate: translation to "
                   "English needs a multilingual whisper model", lmd_engine_get_model_name (*engine));
      return FALSE;
    }
  if (!lmd_engine_supports_language (*engine, request->options.language))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "language" LMD_ERROR_PARAM_SEPARATOR "model %s does not support '%s'",
                   lmd_engine_get_model_name (*engine), request->options.language);
      return FALSE;
    }
  return TRUE;
}

void
lmd_router_transcribe_async (LmdRouter *self, LmdTranscribeRequest *request,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  GError *error = NULL;
  LmdEngine *engine = NULL;
  Job *job;
  guint capacity;

  g_return_if_fail (LMD_IS_ROUTER (self));
  g_return_if_fail (request != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lmd_router_transcribe_async);
  g_task_set_check_cancellable (task, FALSE);

  if (g_atomic_int_get (&self->draining))
    {
      lmd_transcribe_request_free (request);
      g_task_return_new_error (task, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                               "the server is shutting down");
      return;
    }
  if (!validate_request (self, request, &engine, &error))
    {
      lmd_transcribe_request_free (request);
      g_task_return_error (task, error);
      return;
    }
  capacity = self->limits.workers + self->limits.queue_size;
  if ((guint) g_atomic_int_add (&self->admitted, 1) >= capacity)
    {
      g_atomic_int_add (&self->admitted, -1);
      LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, request->request_id,
                       "refused: %u requests running or queued (capacity %u)", capacity, capacity);
      lmd_transcribe_request_free (request);
      g_task_return_new_error (task, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                               "the server is at capacity; retry later");
      return;
    }

  job = g_new0 (Job, 1);
  job->router = g_object_ref (self);
  job->request = request;
  job->engine = g_object_ref (engine);
  job->task = g_object_ref (task);
  job->cancellable = g_cancellable_new ();
  job->admitted_at = g_get_monotonic_time ();
  if (cancellable != NULL)
    {
      job->caller_cancellable = g_object_ref (cancellable);
      job->caller_handler = g_cancellable_connect (cancellable, G_CALLBACK (caller_cancelled_cb),
                                                   job->cancellable, NULL);
    }
  job->timeout = g_timeout_source_new_seconds (self->limits.request_timeout_s);
  g_source_set_callback (job->timeout, job_timeout_cb, job, NULL);
  g_source_attach (job->timeout, g_task_get_context (task));
  g_task_set_task_data (task, job, (GDestroyNotify) job_free);
  g_mutex_lock (&self->stats_lock);
  g_hash_table_add (self->live_jobs, job);
  g_mutex_unlock (&self->stats_lock);
  g_thread_pool_push (request->url != NULL ? self->fetch_pool : self->pool, job, NULL);
}

LmdTranscript *
lmd_router_transcribe_finish (LmdRouter *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

LmdRouter *
lmd_router_new (const LmdLimits *limits)
{
  LmdRouter *self = g_object_new (LMD_TYPE_ROUTER, NULL);

  self->limits = *limits;
  self->pool = g_thread_pool_new (pool_func, self, (gint) limits->workers, FALSE, NULL);
  self->fetch_pool = g_thread_pool_new (fetch_func, self, (gint) MAX (limits->fetch_workers, 1u),
                                        FALSE, NULL);
  return self;
}

const LmdLimits *
lmd_router_get_limits (LmdRouter *self)
{
  return &self->limits;
}

void
lmd_router_set_decoder (LmdRouter *self, LmdAudioDecoder *decoder)
{
  g_set_object (&self->decoder, decoder);
}

LmdAudioDecoder *
lmd_router_get_decoder (LmdRouter *self)
{
  return self->decoder;
}

void
lmd_router_set_license (LmdRouter *self, LmdLicense *license)
{
  g_set_object (&self->license, license);
}

void
lmd_router_set_state (LmdRouter *self, LmdState *state)
{
  g_set_object (&self->state, state);
}

LmdState *
lmd_router_get_state (LmdRouter *self)
{
  return self->state;
}

LmdLicense *
lmd_router_get_license (LmdRouter *self)
{
  return self->license;
}

void
lmd_router_set_job_store (LmdRouter *self, LmdJobStore *store)
{
  g_set_object (&self->job_store, store);
}

LmdJobStore *
lmd_router_get_job_store (LmdRouter *self)
{
  return self->job_store;
}

void
lmd_router_add_engine (LmdRouter *self, LmdEngine *engine, const char *alias)
{
  const char *name = lmd_engine_get_model_name (engine);

  g_hash_table_replace (self->engines, g_strdup (name), g_object_ref (engine));
  g_ptr_array_add (self->models, g_strdup (name));
  if (alias != NULL && !g_str_equal (alias, name))
    g_hash_table_replace (self->engines, g_strdup (alias), g_object_ref (engine));
  if (self->default_model == NULL)
    self->default_model = g_strdup (name);
  {
    /* an engine that batches on a device needs its slots' requests in flight at once: as many
     * workers as twice its slots (half decoding audio while the others hold the slots) */
    LmdEngineDevice device;

    lmd_engine_get_device (engine, &device);
    g_free (device.name);
    if (device.slots > 0 && self->limits.workers < 2 * device.slots)
      {
        g_info ("model %s batches %u requests on its device: %u workers instead of %u", name,
                device.slots, 2 * device.slots, self->limits.workers);
        self->limits.workers = 2 * device.slots;
        g_thread_pool_set_max_threads (self->pool, (gint) self->limits.workers, NULL);
      }
  }
}

gboolean
lmd_router_set_default_model (LmdRouter *self, const char *model, GError **error)
{
  LmdEngine *engine = g_hash_table_lookup (self->engines, model);

  if (engine == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "default_model" LMD_ERROR_PARAM_SEPARATOR "no loaded engine serves '%s'", model);
      return FALSE;
    }
  g_free (self->default_model);
  self->default_model = g_strdup (lmd_engine_get_model_name (engine));
  return TRUE;
}

LmdEngine *
lmd_router_find_engine (LmdRouter *self, const char *model)
{
  if (model == NULL || model[0] == '\0' || g_str_equal (model, "default"))
    model = self->default_model;
  if (model == NULL)
    return NULL;
  return g_hash_table_lookup (self->engines, model);
}

GPtrArray *
lmd_router_list_models (LmdRouter *self)
{
  GPtrArray *list = g_ptr_array_new ();

  if (self->default_model != NULL)
    g_ptr_array_add (list, self->default_model);
  for (guint i = 0; i < self->models->len; i++)
    if (g_strcmp0 (self->models->pdata[i], self->default_model) != 0)
      g_ptr_array_add (list, self->models->pdata[i]);
  return list;
}

void
lmd_router_drain (LmdRouter *self)
{
  g_atomic_int_set (&self->draining, 1);
}

void
lmd_router_shutdown (LmdRouter *self)
{
  GHashTableIter iter;
  gpointer job;

  lmd_router_drain (self);
  g_atomic_int_set (&self->shutting_down, 1);
  g_mutex_lock (&self->stats_lock);
  g_hash_table_iter_init (&iter, self->live_jobs);
  while (g_hash_table_iter_next (&iter, &job, NULL))
    g_cancellable_cancel (((Job *) job)->cancellable);
  g_mutex_unlock (&self->stats_lock);
  /* fetches first: a fetch that ends queues its job on the inference pool */
  if (self->fetch_pool != NULL)
    {
      g_thread_pool_free (self->fetch_pool, FALSE, TRUE);
      self->fetch_pool = NULL;
    }
  if (self->pool != NULL)
    {
      /* cancelled jobs end at their next chunk; queued ones end before they start */
      g_thread_pool_free (self->pool, FALSE, TRUE);
      self->pool = NULL;
    }
}

LmdEngineState
lmd_router_get_engines_state (LmdRouter *self, char **message)
{
  LmdEngineState worst = LMD_ENGINE_READY;

  if (message != NULL)
    *message = NULL;
  for (guint i = 0; i < self->models->len; i++)
    {
      LmdEngine *engine = g_hash_table_lookup (self->engines, self->models->pdata[i]);
      g_autofree char *why = NULL;
      LmdEngineState state = engine != NULL ? lmd_engine_get_state (engine, &why) : LMD_ENGINE_READY;

      if (state > worst)
        {
          worst = state;
          if (message != NULL)
            {
              g_free (*message);
              *message = g_strdup_printf ("model %s: %s", (const char *) self->models->pdata[i],
                                          why != NULL ? why : state == LMD_ENGINE_LOADING ? "loading" : "failed");
            }
        }
    }
  return worst;
}

gboolean
lmd_router_is_draining (LmdRouter *self)
{
  return g_atomic_int_get (&self->draining) != 0;
}

guint
lmd_router_get_active (LmdRouter *self)
{
  return (guint) g_atomic_int_get (&self->active);
}

guint
lmd_router_get_queued (LmdRouter *self)
{
  gint admitted = g_atomic_int_get (&self->admitted);
  gint active = g_atomic_int_get (&self->active);
  return admitted > active ? (guint) (admitted - active) : 0;
}

guint64
lmd_router_get_completed (LmdRouter *self)
{
  guint64 n;

  g_mutex_lock (&self->stats_lock);
  n = self->completed;
  g_mutex_unlock (&self->stats_lock);
  return n;
}

double
lmd_router_get_audio_seconds_total (LmdRouter *self)
{
  double s;

  g_mutex_lock (&self->stats_lock);
  s = self->audio_seconds_total;
  g_mutex_unlock (&self->stats_lock);
  return s;
}

static void
lmd_router_finalize (GObject *object)
{
  LmdRouter *self = LMD_ROUTER (object);

  /* Jobs hold a reference, so no job is running here. */
  if (self->fetch_pool != NULL)
    g_thread_pool_free (self->fetch_pool, FALSE, TRUE);
  if (self->pool != NULL)
    g_thread_pool_free (self->pool, FALSE, TRUE);
  g_clear_object (&self->decoder);
  g_clear_object (&self->license);
  g_clear_object (&self->state);
  g_clear_object (&self->job_store);
  g_hash_table_unref (self->engines);
  g_ptr_array_unref (self->models);
  g_free (self->default_model);
  g_hash_table_unref (self->live_jobs);
  g_mutex_clear (&self->stats_lock);
  G_OBJECT_CLASS (lmd_router_parent_class)->finalize (object);
}

static void
lmd_router_class_init (LmdRouterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_router_finalize;
}

static void
lmd_router_init (LmdRouter *self)
{
  self->engines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->models = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&self->stats_lock);
  self->live_jobs = g_hash_table_new (g_direct_hash, g_direct_equal);
}
