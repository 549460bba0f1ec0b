/* SPDX-License-Identifier: MIT */
/*
 * gstlightningasrmodel.c — a process-wide table (engine:model → LmdEngine) under one lock.
 */
#include "gstlightningasrmodel.h"

#include "lmd-build-config.h"
#include "lmd-config.h"
#include "lmd-plugin-loader.h"

#define SPHINX_DEFAULT_HMM "/usr/share/pocketsphinx/model/en-us/en-us"

static GMutex models_lock;
static GHashTable *models;      /* under models_lock: "engine:model" → LmdEngine (owned) */
static char *plugin_dir;        /* set once at plugin_init */

void
gst_lightning_asr_model_set_plugin_file (const char *filename)
{
  if (plugin_dir == NULL && filename != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (filename);
      plugin_dir = g_build_filename (dir, "..", NULL);
    }
}

static void
post_progress (GstElement *element, GstProgressType type, const char *text)
{
  gst_element_post_message (element, gst_message_new_progress (GST_OBJECT (element), type,
                                                               "load-model", text));
}

/* Called with models_lock. */
static LmdEngine *
load (const char *engine_name, const char *model, const char *vad_model, GError **error)
{
  const char *dirs[3] = { plugin_dir, LMD_PLUGINDIR, NULL };
  g_autoptr (LmdPluginLoader) loader = NULL;
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GObject) plugin = NULL;
  g_autoptr (GError) local = NULL;

  if (g_strcmp0 (engine_name, "sphinx") == 0)
    {
      const char *hmm = model != NULL ? model : SPHINX_DEFAULT_HMM;

      if (!g_file_test (hmm, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
                       "the sphinx model directory %s does not exist (install pocketsphinx-en-us, "
                       "or set model= to an acoustic model directory)", hmm);
          return NULL;
        }
      g_key_file_set_string (config, "sphinx", "hmm", hmm);
      /* one decoder kept warm per process is enough for an element or two */
      g_key_file_set_integer (config, "sphinx", "stream_prewarm", 1);
    }
  else if (g_strcmp0 (engine_name, "whisper") == 0)
    {
      if (model == NULL || !g_file_test (model, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
                       "the whisper engine needs model= set to a model file (%s does not exist)",
                       model != NULL ? model : "none given");
          return NULL;
        }
      g_key_file_set_string (config, "whisper", "model", model);
      g_key_file_set_boolean (config, "whisper", "background_load", FALSE);
    }
  else
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                   "unknown engine '%s' (sphinx or whisper)", engine_name);
      return NULL;
    }
  if (vad_model != NULL)
    {
      if (!g_file_test (vad_model, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
                       "the voice-activity model %s does not exist (vad-model)", vad_model);
          return NULL;
        }
      g_key_file_set_string (config, "vad", "model", vad_model);
    }

  loader = lmd_plugin_loader_new (dirs[0] != NULL ? dirs : dirs + 1);
  plugin = lmd_plugin_loader_load (loader, engine_name, &local);
  if (plugin == NULL)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                   "the %s engine plugin: %s", engine_name, local->message);
      return NULL;
    }
  if (!LMD_IS_ENGINE (plugin))
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN,
                   "the plugin %s is not an engine", engine_name);
      return NULL;
    }
  if (!lmd_engine_setup (LMD_ENGINE (plugin), config, &local))
    {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ,
                   "the %s model %s could not be loaded: %s", engine_name,
                   model != NULL ? model : "(default)", local->message);
      return NULL;
    }
  return LMD_ENGINE (g_steal_pointer (&plugin));
}

char *
gst_lightning_asr_model_default_vad_model (void)
{
  g_autofree char *path = lmd_config_find_default ();
  g_autoptr (GKeyFile) config = g_key_file_new ();

  if (path == NULL || !g_key_file_load_from_file (config, path, G_KEY_FILE_NONE, NULL))
    return NULL;
  return lmd_config_get_string (config, "vad", "model", NULL);
}

LmdEngine *
gst_lightning_asr_model_get (GstElement *element, const char *engine_name, const char *model,
                             const char *vad_model, GError **error)
{
  g_autofree char *key = g_strdup_printf ("%s:%s:%s", engine_name, model != NULL ? model : "",
                                          vad_model != NULL ? vad_model : "");
  LmdEngine *engine;

  g_mutex_lock (&models_lock);
  if (models == NULL)
    models = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  engine = g_hash_table_lookup (models, key);
  if (engine != NULL)
    {
      g_object_ref (engine);
      g_mutex_unlock (&models_lock);
      return engine;
    }
  {
    g_autofree char *text = g_strdup_printf ("Loading the %s model %s", engine_name,
                                             model != NULL ? model : "(default)");
    /* posting does not take the lock of anything this table needs */
    post_progress (element, GST_PROGRESS_TYPE_START, text);
  }
  engine = load (engine_name, model, vad_model, error);
  if (engine != NULL)
    g_hash_table_insert (models, g_steal_pointer (&key), g_object_ref (engine));
  g_mutex_unlock (&models_lock);
  post_progress (element, engine != NULL ? GST_PROGRESS_TYPE_COMPLETE : GST_PROGRESS_TYPE_ERROR,
                 engine != NULL ? "Model loaded" : "The model could not be loaded");
  return engine;
}
