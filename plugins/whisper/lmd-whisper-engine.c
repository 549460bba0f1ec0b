/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-whisper-engine.h"

#include <string.h>

#include "lmd-config.h"
#include "lmd-engine.h"
#include "lmd-model-fetcher.h"
#include "lmd-transcribe-options.h"
#include "lmd-whisper-session.h"

struct _LmdWhisperEngine {
  GObject parent_instance;

  lmw_model *model;  /* owned */
  char *model_name;  /* owned */
  char *model_path;  /* owned */
  int threads;
  int beam_size;
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

static gboolean
whisper_setup (LmdEngine *engine, GKeyFile *config, GError **error)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (engine);
  g_autofree char *path = lmd_config_get_string (config, "whisper", "model", NULL);
  g_autofree char *url = lmd_config_get_string (config, "whisper", "model_url", NULL);
  g_autofree char *sha256 = lmd_config_get_string (config, "whisper", "sha256", NULL);
  g_autofree char *default_cache = g_build_filename (g_get_user_cache_dir (), "lightning-mediad", "models", NULL);
  g_autofree char *cache_dir = lmd_config_get_string (config, "whisper", "cache_dir", default_cache);
  g_autofree char *name = NULL;
  gint64 threads, beam;
  lmw_error err = { 0 };
  gint64 started = g_get_monotonic_time ();

  if (!lmd_config_get_int (config, "whisper", "threads", 1, &threads, error) ||
      !lmd_config_get_int (config, "whisper", "beam_size", 1, &beam, error))
    return FALSE;
  if (threads < 1 || threads > 256 || beam < 1 || beam > 8)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper]: threads must be 1..256 and beam_size 1..8");
      return FALSE;
    }
  self->threads = (int) threads;
  self->beam_size = (int) beam;

  if (path == NULL && url == NULL)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "no model configured: set [whisper] model to a ggml file, or model_url (MODEL_URL)");
      return FALSE;
    }
  if (path == NULL)
    {
      path = lmd_model_fetch (url, cache_dir, sha256, NULL, error);
      if (path == NULL)
        return FALSE;
    }
  else if (!lmd_model_verify (path, sha256, error))
    return FALSE;
  self->model = lmw_model_load_file (path, &err);
  if (self->model == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot load the model %s: %s", path, err.message);
      return FALSE;
    }
  name = lmd_config_get_string (config, "whisper", "name", NULL);
  self->model_name = name != NULL ? g_steal_pointer (&name) : default_model_name (path);
  self->model_path = g_steal_pointer (&path);
  g_info ("model %s loaded from %s: %s, %d mels, %.1f MB of weights, %.2f s", self->model_name,
          self->model_path, lmw_model_special (self->model)->multilingual ? "multilingual" : "English-only",
          lmw_model_hparams (self->model)->n_mels, lmw_model_weight_bytes (self->model) / 1048576.0,
          (g_get_monotonic_time () - started) / 1e6);
  return TRUE;
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

  if (language == NULL || g_str_equal (language, "auto") || g_str_equal (language, "en"))
    return TRUE;
  return lmw_model_special (self->model)->multilingual && lmw_language_token (self->model, language) >= 0;
}

static LmdEngineSession *
whisper_open_session (LmdEngine *engine, const LmdSessionOptions *options, GError **error)
{
  return LMD_ENGINE_SESSION (lmd_whisper_session_new (LMD_WHISPER_ENGINE (engine), options, error));
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

lmw_params
lmd_whisper_engine_get_params (LmdWhisperEngine *self, const char *language)
{
  lmw_params params = lmw_default_params ();

  params.n_threads = self->threads;
  params.beam_size = self->beam_size;
  params.timestamps = true;
  if (!lmw_model_special (self->model)->multilingual)
    params.language = "en";
  else if (language == NULL || g_str_equal (language, "auto"))
    params.language = NULL;
  else
    params.language = language;
  return params;
}

static void
lmd_whisper_engine_iface_init (LmdEngineInterface *iface)
{
  iface->setup = whisper_setup;
  iface->get_sample_rate = whisper_get_sample_rate;
  iface->get_model_name = whisper_get_model_name;
  iface->supports_language = whisper_supports_language;
  iface->open_session = whisper_open_session;
}

static void
lmd_whisper_engine_finalize (GObject *object)
{
  LmdWhisperEngine *self = LMD_WHISPER_ENGINE (object);

  g_clear_pointer (&self->model, lmw_model_free);
  g_free (self->model_name);
  g_free (self->model_path);
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
  self->threads = 1;
  self->beam_size = 1;
}
