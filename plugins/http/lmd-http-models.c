/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-models.c — the models endpoints of the OpenAI dialect (see the header).
 */
#include "lmd-http-models.h"

#include <string.h>

#include "lmd-engine.h"
#include "lmd-error.h"
#include "lmd-http-response.h"
#include "lmd-json-writer.h"
#include "lmd-state.h"
#include "lmd-worker-info.h"

#define MODELS_PATH "/v1/models"

/* (transfer full) the model names: the router's, else (role api) the live workers' */
static GPtrArray *
list_models (LmdRouter *router)
{
  g_autoptr (GPtrArray) local = lmd_router_list_models (router);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  LmdState *state = lmd_router_get_state (router);

  for (guint i = 0; i < local->len; i++)
    g_ptr_array_add (names, g_strdup (local->pdata[i]));
  if (names->len == 0 && state != NULL)
    {
      g_autoptr (GPtrArray) workers = lmd_state_list_workers (state);
      for (guint i = 0; workers != NULL && i < workers->len; i++)
        {
          const LmdWorkerInfo *info = workers->pdata[i];
          for (guint m = 0; info->models != NULL && info->models[m] != NULL; m++)
            if (!g_ptr_array_find_with_equal_func (names, info->models[m], g_str_equal, NULL))
              g_ptr_array_add (names, g_strdup (info->models[m]));
        }
    }
  return names;
}

/* "LmdSphinxEngine" → "sphinx" */
static char *
engine_name (LmdEngine *engine)
{
  const char *type = G_OBJECT_TYPE_NAME (engine);
  g_autofree char *name = g_strdup (g_str_has_prefix (type, "Lmd") ? type + 3 : type);
  char *suffix = g_strrstr (name, "Engine");

  if (suffix != NULL && suffix != name)
    *suffix = '\0';
  return g_ascii_strdown (name, -1);
}

static void
write_model (LmdJsonWriter *w, LmdRouter *router, const char *id, gboolean is_default, gint64 started_at)
{
  LmdEngine *engine = lmd_router_find_engine (router, id);

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "id");
  lmd_json_writer_string (w, id);
  lmd_json_writer_key (w, "object");
  lmd_json_writer_string (w, "model");
  lmd_json_writer_key (w, "created");
  lmd_json_writer_int (w, started_at);
  lmd_json_writer_key (w, "owned_by");
  lmd_json_writer_string (w, "lightning-mediad");
  lmd_json_writer_key (w, "default");
  lmd_json_writer_boolean (w, is_default);
  if (engine != NULL)
    {
      g_autofree char *name = engine_name (engine);
      LmdEngineState state = lmd_engine_get_state (engine, NULL);

      lmd_json_writer_key (w, "engine");
      lmd_json_writer_string (w, name);
      lmd_json_writer_key (w, "status");
      lmd_json_writer_string (w, state == LMD_ENGINE_READY ? "ready" : state == LMD_ENGINE_LOADING ? "loading" : "failed");
      lmd_json_writer_key (w, "translation");
      lmd_json_writer_boolean (w, lmd_engine_can_translate (engine));
    }
  lmd_json_writer_end_object (w);
}

gboolean
lmd_http_models_respond (SoupServerMessage *msg, LmdRouter *router, const char *path,
                         gint64 started_at, GError **error)
{
  g_autoptr (GPtrArray) models = list_models (router);
  LmdJsonWriter *w = lmd_json_writer_new (); /* owned until finished */

  if (g_str_equal (path, MODELS_PATH) || g_str_equal (path, MODELS_PATH "/"))
    {
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "object");
      lmd_json_writer_string (w, "list");
      lmd_json_writer_key (w, "data");
      lmd_json_writer_begin_array (w);
      for (guint i = 0; i < models->len; i++)
        write_model (w, router, models->pdata[i], i == 0, started_at);
      lmd_json_writer_end_array (w);
      lmd_json_writer_end_object (w);
      lmd_http_respond_json (msg, SOUP_STATUS_OK, lmd_json_writer_finish (w));
      return TRUE;
    }
  if (g_str_has_prefix (path, MODELS_PATH "/"))
    {
      g_autofree char *id = g_uri_unescape_string (path + strlen (MODELS_PATH "/"), NULL);
      guint index;

      if (id != NULL && g_ptr_array_find_with_equal_func (models, id, g_str_equal, &index))
        {
          write_model (w, router, id, index == 0, started_at);
          lmd_http_respond_json (msg, SOUP_STATUS_OK, lmd_json_writer_finish (w));
          return TRUE;
        }
      g_set_error (error, LMD_ERROR, LMD_ERROR_NOT_FOUND, "no model '%s' is loaded (GET " MODELS_PATH " lists them)",
                   id != NULL ? id : path + strlen (MODELS_PATH "/"));
      lmd_json_writer_free (w);
      return FALSE;
    }
  lmd_json_writer_free (w);
  g_set_error (error, LMD_ERROR, LMD_ERROR_NOT_FOUND, "no such path: %s", path);
  return FALSE;
}
