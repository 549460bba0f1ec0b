/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-whisper-engine.h"

#include <string.h>

#include "lmw-backend.h"
#include "lmw-scheduler.h"

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-engine.h"
#include "lmd-log.h"
#include "lmd-model-fetcher.h"
#include "lmd-transcribe-options.h"
#include "lmd-whisper-session.h"

struct _LmdWhisperEngine {
  GObject parent_instance;

  /* under lock while loading; read-only once state is READY */
  GMutex lock;
  LmdEngineState state;
  char *state_message; /* owned: what the loader is doing, or why it failed */
  lmw_model *model;    /* owned */
  char *model_path;    /* owned */
  GThread *loader;     /* owned: the background load, joined in finalize */
  GCancellable *cancel_load; /* owned: stops a download when the engine goes away */
  /* the model's weights kept on a device backend while it is loaded (no stream buffers): they
   * stay on the device between requests, every stream of the device shares them, and it names
   * the device */
  lmw_state *resident;       /* owned, nullable */
  char *device_name;         /* owned: "cpu", or "cuda: <the device>" once resident */
  guint64 batches[LMD_ENGINE_MAX_BATCH + 1]; /* decoder steps of finished sessions, by rows */
  /* the device's scheduler (GPU backends, [whisper] scheduler): every session's state is one
   * of its slots, and their encoder windows and decoder steps run batched */
  lmw_scheduler *scheduler;  /* owned, nullable; created with the model */

  /* set in setup, read-only afterwards */
  char *model_name;    /* owned */
  char *url;           /* owned, nullable: MODEL_URL */
  char *sha256;        /* owned, nullable */
  char *cache_dir;     /* owned */
  char *spool_dir;     /* owned: where sessions keep audio beyond one window */
  char *backend;       /* owned: the compute backend in use ("cpu", "cuda", "cuda-emu") */
  int gpu_device;      /* GPU_DEVICE_ID */
  int threads;
  int beam_size;
  gboolean condition;    /* condition_on_previous_text */
  int best_of;
  double temperature_inc;
  double logprob_threshold;
  double no_speech_threshold;
  double compression_threshold;
  LmdVadConfig vad;          /* [vad]: the Silero model (nullable) and settings */
  LmdWhisperStreamConfig stream_config; /* [whisper] stream_* settings */
  gboolean use_scheduler;
  lmw_scheduler_params sched_params; /* [whisper] slots, beam_caches, encoder_batch, ... */
};

static void lmd_whisper_engine_iface_init (LmdEngineInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdWhisperEngine, lmd_whisper_engine, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_ENGINE, lmd_whisper_engine_iface_init))

static char *
default_model_name (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  const char *suffixes[] = { ".bin", ".ggml" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (g_str_has_suffix (base, suffixes[i]) && strlen (base) > strlen (suffixes[i]))
      base[strlen (base) - strlen (suffixes[i])] = '\0';
  return g_steal_pointer (&base);
}

static void
set_state (LmdWhisperEngine *self, LmdEngineState state, char *message)
{
  g_mutex_lock (&self->lock);
  self->state = state;
  g_free (self->state_message);
  self->state_message = message;
  g_mutex_unlock (&self->lock);
}

/* Fetches (MODEL_URL), verifies and loads the model; TRUE when ready. */
static gboolean
load_model (LmdWhisperEngine *self, const char *local_path, GError **error)
{
  g_autofree char *path = g_strdup (local_path);
  lmw_model *model;
  lmw_error err = { 0 };
  gint64 started = g_get_monotonic_time ();

  if (path == NULL)
    {
      set_state (self, LMD_ENGINE_LOADING, g_strdup_printf ("downloading %s", self->url));
      path = lmd_model_fetch (self->url, self->cache_dir, self->sha256, self->cancel_load, error);
      if (path == NULL)
        return FALSE;
    }
  else
    {
      set_state (self, LMD_ENGINE_LOADING, g_strdup_printf ("verifying %s", path));
      if (!lmd_model_verify (path, self->sha256, error))
        return FALSE;
    }
  set_state (self, LMD_ENGINE_LOADING, g_strdup_printf ("loading %s", path));
  model = lmw_model_load_file (path, &err);
  if (model == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot load the model %s: %s", path, err.message);
      return FALSE;
    }
  g_info ("model %s loaded from %s: %s, %d mels, %.1f MB of weights, %.2f s", self->model_name,
          path, lmw_model_special (model)->multilingual ? "multilingual" : "English-only",
          lmw_model_hparams (model)->n_mels, lmw_model_weight_bytes (model) / 1048576.0,
          (g_get_monotonic_time () - started) / 1e6);
  if (!g_str_equal (self->backend, "cpu"))
    {
      lmw_state *resident = lmw_state_new_resident (model, self->backend, self->gpu_device, &err);
      if (resident == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "model %s on backend %s: %s",
                       self->model_name, self->backend, err.message);
          lmw_model_free (model);
          return FALSE;
        }
      g_info ("model %s on %s: %s, %.1f MB of device memory", self->model_name, self->backend,
              lmw_state_device_name (resident), lmw_state_memory_used (resident) / 1048576.0);
      g_mutex_lock (&self->lock);
      self->resident = resident;
      g_free (self->device_name);
      self->device_name = g_strdup_printf ("%s: %s", self->backend, lmw_state_device_name (resident));
      g_mutex_unlock (&self->lock);
    }
  if (self->use_scheduler)
    {
      lmw_scheduler *sched;

      self->sched_params.n_threads = self->threads;
      sched = lmw_scheduler_new (model, self->backend, self->gpu_device, &self->sched_params, &err);
      if (sched == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "model %s on backend %s: %s",
                       self->model_name, self->backend, err.message);
          lmw_model_free (model);
          return FALSE;
        }
      g_info ("model %s: scheduler of %d slots, %d beam caches, encoder batches of %d windows, "
              "decoder steps of up to %d rows, %.1f ms for company, CUDA graphs %s, cross K/V %s: "
              "%.1f MB of device memory besides the weights", self->model_name,
              self->sched_params.slots, self->sched_params.beam_caches,
              self->sched_params.encoder_batch, self->sched_params.max_rows,
              self->sched_params.max_wait_ms, self->sched_params.cuda_graphs ? "on" : "off",
              self->sched_params.cross_kv_q8 ? "int8" : "f16",
              lmw_scheduler_budget_bytes (model, &self->sched_params) / 1048576.0);
      g_mutex_lock (&self->lock);
      self->scheduler = sched;
      g_mutex_unlock (&self->lock);
    }
  g_mutex_lock (&self->lock);
  self->model = model;
  self->model_path = g_steal_pointer (&path);
  self->state = LMD_ENGINE_READY;
  g_clear_pointer (&self->state_message, g_free);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

typedef struct {
  LmdWhisperEngine *self; /* borrowed: finalize joins the thread first */
  char *path;             /* owned, nullable */
} LoadJob;

static gpointer
load_thread (gpointer data)
{
  LoadJob *job = data;
  g_autoptr (GError) error = NULL;

  if (!load_model (job->self, job->path, &error))
    {
      g_warning ("model %s could not be loaded: %s", job->self->model_name, error->message);
      set_state (job->self, LMD_ENGINE_FAILED, g_strdup (error->message));
    }
  g_free (job->path);
  g_free (job);
  return NULL;
}

static char *
name_from_url (const char *url)
{
  g_autofree char *no_query = g_strndup (url, strcspn (url, "?#"));
  return default_model_name (no_query);
}

/* [whisper] scheduler, slots, beam_caches, encoder_batch, max_batch_rows, batch_wait_ms,
 * cuda_graphs, cuda_cross_kv: whether sessions share the device through lmw_scheduler, and its
 * memory budget */
static gboolean
setup_scheduler (LmdWhisperEngine *self, GKeyFile *config, GError **error)
{
  g_autofree char *mode = lmd_config_get_string (config, "whisper", "scheduler", "auto");
  g_autofree char *cross_kv = lmd_config_get_string (config, "whisper", "cuda_cross_kv", "f16");
  gint64 slots, beam_caches, encoder_batch, max_rows;
  double wait_ms;
  gboolean cuda_graphs;

  if (!lmd_config_get_int (config, "whisper", "slots", 8, &slots, error) ||
      !lmd_config_get_int (config, "whisper", "beam_caches", MAX (8, self->beam_size), &beam_caches, error) ||
      !lmd_config_get_int (config, "whisper", "encoder_batch", 8, &encoder_batch, error) ||
      !lmd_config_get_int (config, "whisper", "max_batch_rows", 256, &max_rows, error) ||
      !lmd_config_get_double (config, "whisper", "batch_wait_ms", 2.0, &wait_ms, error) ||
      !lmd_config_get_boolean (config, "whisper", "cuda_graphs", TRUE, &cuda_graphs, error))
    return FALSE;
  if (!g_str_equal (mode, "auto") && !g_str_equal (mode, "on") && !g_str_equal (mode, "off"))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper] scheduler: \"%s\" is not auto, on or off", mode);
      return FALSE;
    }
  if (!g_str_equal (cross_kv, "f16") && !g_str_equal (cross_kv, "int8"))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper] cuda_cross_kv: \"%s\" is not f16 or int8", cross_kv);
      return FALSE;
    }
  if (slots < 1 || slots > 1024 || beam_caches < 8 || beam_caches > 4096 || encoder_batch < 1 ||
      encoder_batch > 64 || max_rows < 1 || max_rows > 65536 || wait_ms < 0.0 || wait_ms > 1000.0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper]: slots must be 1..1024, beam_caches 8..4096, encoder_batch "
                   "1..64, max_batch_rows 1..65536 and batch_wait_ms 0..1000");
      return FALSE;
    }
  /* auto: on a GPU backend (cuda, and cuda-emu, its twin on the CPU); the CPU backend runs each
   * request on a stream of its own, its threads already busy */
  self->use_scheduler = g_str_equal (mode, "on") ||
                        (g_str_equal (mode, "auto") && !g_str_equal (self->backend, "cpu"));
  self->sched_params = lmw_scheduler_default_params ();
  self->sched_params.slots = (int) slots;
  self->sched_params.beam_caches = (int) beam_caches;
  self->sched_params.encoder_batch = (int) encoder_batch;
  self->sched_params.max_rows = (int) max_rows;
  self->sched_params.max_wait_ms = wait_ms;
  self->sched_params.cuda_graphs = cuda_graphs;
  /* int8 K/V: the scheduler's slots, on a backend that has them (else the model does not load) */
  self->sched_params.cross_kv_q8 = self->use_scheduler && g_str_equal (cross_kv, "int8");
  if (g_str_equal (cross_kv, "int8") && !self->use_scheduler)
    g_info ("whisper: [whisper] cuda_cross_kv = int8 applies to the scheduler's slots; the "
            "scheduler is off on backend %s, the cross K/V stay as they are", self->backend);
  return TRUE;
}

static gboolean
whisper_setup (LmdEngine *engine, GKeyFile *config, GError **error)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (engine);
  g_autofree char *path = lmd_config_get_string (config, "whisper", "model", NULL);
  g_autofree char *default_cache = g_build_filename (g_get_user_cache_dir (), "lightning-mediad", "models", NULL);
  g_autofree char *name = NULL;
  gint64 threads, beam, best_of, gpu_device;
  gboolean background;
  g_autofree char *backend = lmd_config_get_string (config, "whisper", "backend", "auto");
  const lmw_backend_ops *ops;
  char why[300] = "";

  self->url = lmd_config_get_string (config, "whisper", "model_url", NULL);
  self->sha256 = lmd_config_get_string (config, "whisper", "sha256", NULL);
  self->cache_dir = lmd_config_get_string (config, "whisper", "cache_dir", default_cache);
  self->spool_dir = lmd_config_get_string (config, "whisper", "spool_dir", g_get_tmp_dir ());
  if (!g_file_test (self->spool_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper] spool_dir: %s is not a directory", self->spool_dir);
      return FALSE;
    }
  if (!lmd_config_get_int (config, "whisper", "threads", 1, &threads, error) ||
      !lmd_config_get_int (config, "whisper", "beam_size", 1, &beam, error) ||
      !lmd_config_get_int (config, "whisper", "best_of", 5, &best_of, error) ||
      !lmd_config_get_int (config, "whisper", "gpu_device", 0, &gpu_device, error) ||
      !lmd_config_get_double (config, "whisper", "temperature_increment", 0.2, &self->temperature_inc, error) ||
      !lmd_config_get_double (config, "whisper", "logprob_threshold", -1.0, &self->logprob_threshold, error) ||
      !lmd_config_get_double (config, "whisper", "no_speech_threshold", 0.6, &self->no_speech_threshold, error) ||
      !lmd_config_get_double (config, "whisper", "compression_ratio_threshold", 2.4,
                              &self->compression_threshold, error) ||
      !lmd_config_get_boolean (config, "whisper", "background_load", TRUE, &background, error) ||
      !lmd_config_get_boolean (config, "whisper", "condition_on_previous_text", TRUE, &self->condition, error))
    return FALSE;
  if (threads < 1 || threads > 256 || beam < 1 || beam > 8 || best_of < 1 || best_of > 16 ||
      self->temperature_inc < 0.0 || self->temperature_inc > 1.0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper]: threads must be 1..256, beam_size 1..8, best_of 1..16 and "
                   "temperature_increment 0..1");
      return FALSE;
    }
  if (!lmd_vad_config_load (&self->vad, config, error) ||
      !lmd_whisper_stream_config_load (&self->stream_config, config, error))
    return FALSE;
  self->threads = (int) threads;
  self->beam_size = (int) beam;
  self->best_of = (int) best_of;
  if (!g_str_equal (backend, "auto") && !g_str_equal (backend, "cpu") &&
      !g_str_equal (backend, "cuda") && !g_str_equal (backend, "cuda-emu"))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper] backend: \"%s\" is not auto, cpu, cuda or cuda-emu", backend);
      return FALSE;
    }
  if (gpu_device < 0 || gpu_device > 1024)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper] gpu_device (GPU_DEVICE_ID): %" G_GINT64_FORMAT " is not a "
                   "device number (0..1024)", gpu_device);
      return FALSE;
    }
  self->gpu_device = (int) gpu_device;
  ops = lmw_backend_find (backend, why, sizeof why);
  if (ops == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "config [whisper] backend %s can't run here: %s", backend, why);
      return FALSE;
    }
  g_free (self->backend);
  self->backend = g_strdup (ops->name);
  if (g_str_equal (backend, "auto") && why[0] != '\0')
    g_message ("whisper: computing on the CPU: %s", why); /* the one line saying why not the GPU */
  else
    g_info ("whisper: compute backend %s (chosen by [whisper] backend=%s)%s", ops->name, backend,
            g_str_equal (ops->name, "cpu") ? "" : ", GPU_DEVICE_ID selects the device");

  if (!setup_scheduler (self, config, error))
    return FALSE;

  if (path == NULL && self->url == NULL)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "no model configured: set [whisper] model to a ggml file, or model_url (MODEL_URL)");
      return FALSE;
    }
  if (path != NULL && !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the model file %s does not exist", path);
      return FALSE;
    }
  name = lmd_config_get_string (config, "whisper", "name", NULL);
  self->model_name = name != NULL ? g_steal_pointer (&name)
                     : path != NULL ? default_model_name (path) : name_from_url (self->url);
  if (!background)
    return load_model (self, path, error);
  {
    LoadJob *job = g_new0 (LoadJob, 1);

    job->self = self;
    job->path = g_steal_pointer (&path);
    self->state = LMD_ENGINE_LOADING;
    self->state_message = g_strdup ("starting");
    self->loader = g_thread_new ("lmd-whisper-load", load_thread, job);
  }
  g_info ("model %s: loading in the background", self->model_name);
  return TRUE;
}

static LmdEngineState
whisper_get_state (LmdEngine *engine, char **message)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (engine);
  LmdEngineState state;

  g_mutex_lock (&self->lock);
  state = self->state;
  if (message != NULL)
    *message = g_strdup (self->state_message);
  g_mutex_unlock (&self->lock);
  return state;
}

static const lmw_model *
ready_model (LmdWhisperEngine *self)
{
  const lmw_model *model;

  g_mutex_lock (&self->lock);
  model = self->state == LMD_ENGINE_READY ? self->model : NULL;
  g_mutex_unlock (&self->lock);
  return model;
}

static guint
whisper_get_sample_rate (LmdEngine *engine)
{
  return LMW_SAMPLE_RATE;
}

static const char *
whisper_get_model_name (LmdEngine *engine)
{
  return LMD_WHISPER_ENGINE (engine)->model_name;
}

static gboolean
whisper_supports_language (LmdEngine *engine, const char *language)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (engine);
  const lmw_model *model = ready_model (self);

  if (language == NULL || g_str_equal (language, "auto") || g_str_equal (language, "en"))
    return TRUE;
  /* while loading, any known code passes; the session is refused until the model is ready */
  if (model == NULL)
    return TRUE;
  return lmw_model_special (model)->multilingual && lmw_language_token (model, language) >= 0;
}

/* Only multilingual models know the translate task (English-only ones have no such token). */
static gboolean
whisper_can_translate (LmdEngine *engine)
{
  const lmw_model *model = ready_model (LMD_WHISPER_ENGINE (engine));

  /* while loading, the request is refused as the model's state says */
  return model == NULL || lmw_model_special (model)->multilingual;
}

static LmdEngineSession *
whisper_open_session (LmdEngine *engine, const LmdSessionOptions *options, GError **error)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (engine);
  g_autofree char *why = NULL;

  if (whisper_get_state (engine, &why) != LMD_ENGINE_READY)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE, "model %s is not ready (%s); retry later",
                   self->model_name, why != NULL ? why : "loading");
      return NULL;
    }
  return LMD_ENGINE_SESSION (lmd_whisper_session_new (self, options, error));
}

const lmw_model *
lmd_whisper_engine_get_model (LmdWhisperEngine *self)
{
  return self->model;
}

int
lmd_whisper_engine_get_threads (LmdWhisperEngine *self)
{
  return self->threads;
}

const char *
lmd_whisper_engine_get_spool_dir (LmdWhisperEngine *self)
{
  return self->spool_dir;
}

const lmw_vad_model *
lmd_whisper_engine_get_vad_model (LmdWhisperEngine *self)
{
  return self->vad.model;
}

gboolean
lmd_whisper_engine_get_vad_params (LmdWhisperEngine *self, const LmdVadOptions *options,
                                   lmw_vad_params *params)
{
  return lmd_vad_config_get_params (&self->vad, options, params);
}

const LmdWhisperStreamConfig *
lmd_whisper_engine_get_stream_config (LmdWhisperEngine *self)
{
  return &self->stream_config;
}

lmw_params
lmd_whisper_engine_get_params (LmdWhisperEngine *self, const char *language)
{
  lmw_params params = lmw_default_params ();

  params.n_threads = self->threads;
  params.beam_size = self->beam_size;
  params.best_of = self->best_of;
  params.temperature_inc = (float) self->temperature_inc;
  params.logprob_threshold = (float) self->logprob_threshold;
  params.no_speech_threshold = (float) self->no_speech_threshold;
  params.compression_threshold = (float) self->compression_threshold;
  params.condition_on_previous_text = self->condition;
  params.timestamps = true;
  params.word_timestamps = true;
  if (!lmw_model_special (self->model)->multilingual)
    params.language = "en";
  else if (language == NULL || g_str_equal (language, "auto"))
    params.language = NULL;
  else
    params.language = language;
  return params;
}

static void
whisper_get_device (LmdEngine *engine, LmdEngineDevice *device)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (engine);

  g_mutex_lock (&self->lock);
  device->name = g_strdup (self->device_name != NULL ? self->device_name : "cpu");
  device->gpu = self->resident != NULL && !g_str_equal (self->backend, "cuda-emu");
  device->memory_bytes = self->resident != NULL ? lmw_state_memory_used (self->resident) : 0;
  memcpy (device->batches, self->batches, sizeof device->batches);
  if (self->use_scheduler)
    device->slots = (guint) self->sched_params.slots;
  if (self->scheduler != NULL)
    {
      lmw_scheduler_stats st;

      G_STATIC_ASSERT (LMD_ENGINE_STEP_BUCKETS == LMW_SCHED_ROW_BUCKETS);
      lmw_scheduler_get_stats (self->scheduler, &st);
      device->slots_in_use = (guint) st.slots_in_use;
      device->slots_waiting = (guint) st.waiting;
      device->slot_waits = st.acquired;
      device->slot_wait_seconds = st.wait_ms_total / 1000.0;
      memcpy (device->steps, st.steps, sizeof device->steps);
      memcpy (device->table_steps, st.table_steps, sizeof device->table_steps);
      device->rows_picked = st.rows_picked;
      device->rows_cross_shared = st.rows_cross_shared;
      device->step_rows = st.step_rows;
      device->encoder_batches = st.encoder_batches;
      device->encoder_windows = st.encoder_windows;
    }
  g_mutex_unlock (&self->lock);
}

static int
cancelled_cb (void *data)
{
  return g_cancellable_is_cancelled (data);
}

lmw_state *
lmd_whisper_engine_acquire_state (LmdWhisperEngine *self, int n_beams, GCancellable *cancellable,
                                  const char *request_id, GError **error)
{
  lmw_error err = { 0 };
  lmw_state *state;
  double waited = 0.0;

  if (self->scheduler == NULL)
    {
      state = lmw_state_new_backend (self->model, self->threads, self->backend, self->gpu_device, &err);
      if (state == NULL)
        g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper: cannot create a decoding state: %s",
                     err.message);
      return state;
    }
  state = lmw_scheduler_acquire (self->scheduler, n_beams, cancellable != NULL ? cancelled_cb : NULL,
                                 cancellable, &waited, &err);
  if (state == NULL)
    {
      if (!g_cancellable_set_error_if_cancelled (cancellable, error))
        g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper: %s", err.message);
      return NULL;
    }
  if (waited >= 1.0)
    LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id, "waited %.3f s for a decoding slot", waited / 1000.0);
  return state;
}

void
lmd_whisper_engine_release_state (LmdWhisperEngine *self, lmw_state *state)
{
  if (state == NULL)
    return;
  if (self->scheduler != NULL)
    lmw_scheduler_release (self->scheduler, state);
  else
    lmw_state_free (state);
}

void
lmd_whisper_engine_add_batches (LmdWhisperEngine *self, const guint64 *counts)
{
  g_mutex_lock (&self->lock);
  for (int b = 1; b <= LMD_ENGINE_MAX_BATCH && b <= LMW_MAX_BEAM; b++)
    self->batches[b] += counts[b];
  g_mutex_unlock (&self->lock);
}

const char *
lmd_whisper_engine_get_backend (LmdWhisperEngine *self, int *device)
{
  if (device != NULL)
    *device = self->gpu_device;
  return self->backend;
}

static void
lmd_whisper_engine_iface_init (LmdEngineInterface *iface)
{
  iface->setup = whisper_setup;
  iface->get_sample_rate = whisper_get_sample_rate;
  iface->get_model_name = whisper_get_model_name;
  iface->supports_language = whisper_supports_language;
  iface->open_session = whisper_open_session;
  iface->get_state = whisper_get_state;
  iface->get_device = whisper_get_device;
  iface->can_translate = whisper_can_translate;
}

static void
lmd_whisper_engine_finalize (GObject *object)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (object);

  g_cancellable_cancel (self->cancel_load); /* a download in progress stops */
  if (self->loader != NULL)
    g_thread_join (self->loader);
  g_clear_object (&self->cancel_load);
  g_clear_pointer (&self->scheduler, lmw_scheduler_free); /* every session has released its slot */
  g_clear_pointer (&self->resident, lmw_state_free); /* before the model it reads */
  g_clear_pointer (&self->model, lmw_model_free);
  g_free (self->device_name);
  g_free (self->backend);
  lmd_vad_config_clear (&self->vad);
  g_free (self->model_name);
  g_free (self->model_path);
  g_free (self->state_message);
  g_free (self->url);
  g_free (self->sha256);
  g_free (self->cache_dir);
  g_free (self->spool_dir);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (lmd_whisper_engine_parent_class)->finalize (object);
}

static void
lmd_whisper_engine_class_init (LmdWhisperEngineClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_whisper_engine_finalize;
}

static void
lmd_whisper_engine_init (LmdWhisperEngine *self)
{
  g_mutex_init (&self->lock);
  self->cancel_load = g_cancellable_new ();
  self->state = LMD_ENGINE_READY;
  self->backend = g_strdup ("cpu");
  self->threads = 1;
  self->beam_size = 1;
  self->best_of = 5;
  self->condition = TRUE;
}
