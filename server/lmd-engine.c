/* SPDX-License-Identifier: MIT */
#include "lmd-engine.h"

#include <string.h>

G_DEFINE_INTERFACE (LmdEngineSession, lmd_engine_session, G_TYPE_OBJECT)
G_DEFINE_INTERFACE (LmdEngine, lmd_engine, G_TYPE_OBJECT)

static void
lmd_engine_session_default_init (LmdEngineSessionInterface *iface)
{
}

static void
lmd_engine_default_init (LmdEngineInterface *iface)
{
}

gboolean
lmd_engine_session_feed (LmdEngineSession *self, const float *samples, gsize n_samples,
                         GError **error)
{
  g_return_val_if_fail (LMD_IS_ENGINE_SESSION (self), FALSE);
  g_return_val_if_fail (samples != NULL || n_samples == 0, FALSE);
  return LMD_ENGINE_SESSION_GET_IFACE (self)->feed (self, samples, n_samples, error);
}

LmdTranscript *
lmd_engine_session_finish (LmdEngineSession *self, GError **error)
{
  g_return_val_if_fail (LMD_IS_ENGINE_SESSION (self), NULL);
  return LMD_ENGINE_SESSION_GET_IFACE (self)->finish (self, error);
}

gboolean
lmd_engine_session_can_stream (LmdEngineSession *self)
{
  LmdEngineSessionInterface *iface;

  g_return_val_if_fail (LMD_IS_ENGINE_SESSION (self), FALSE);
  iface = LMD_ENGINE_SESSION_GET_IFACE (self);
  return iface->get_partial != NULL && iface->end_utterance != NULL &&
         iface->get_speech_state != NULL && (iface->can_stream == NULL || iface->can_stream (self));
}

char *
lmd_engine_session_get_partial (LmdEngineSession *self)
{
  g_return_val_if_fail (lmd_engine_session_can_stream (self), NULL);
  return LMD_ENGINE_SESSION_GET_IFACE (self)->get_partial (self);
}

LmdTranscript *
lmd_engine_session_end_utterance (LmdEngineSession *self, GError **error)
{
  g_return_val_if_fail (lmd_engine_session_can_stream (self), NULL);
  return LMD_ENGINE_SESSION_GET_IFACE (self)->end_utterance (self, error);
}

gboolean
lmd_engine_session_get_speech_state (LmdEngineSession *self, double *since,
                                     double *utterance_start)
{
  g_return_val_if_fail (lmd_engine_session_can_stream (self), FALSE);
  return LMD_ENGINE_SESSION_GET_IFACE (self)->get_speech_state (self, since, utterance_start);
}

gboolean
lmd_engine_setup (LmdEngine *self, GKeyFile *config, GError **error)
{
  LmdEngineInterface *iface;

  g_return_val_if_fail (LMD_IS_ENGINE (self), FALSE);
  iface = LMD_ENGINE_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

guint
lmd_engine_get_sample_rate (LmdEngine *self)
{
  LmdEngineInterface *iface;

  g_return_val_if_fail (LMD_IS_ENGINE (self), 16000);
  iface = LMD_ENGINE_GET_IFACE (self);
  return iface->get_sample_rate != NULL ? iface->get_sample_rate (self) : 16000;
}

const char *
lmd_engine_get_model_name (LmdEngine *self)
{
  g_return_val_if_fail (LMD_IS_ENGINE (self), NULL);
  return LMD_ENGINE_GET_IFACE (self)->get_model_name (self);
}

LmdEngineState
lmd_engine_get_state (LmdEngine *self, char **message)
{
  LmdEngineInterface *iface;

  if (message != NULL)
    *message = NULL;
  g_return_val_if_fail (LMD_IS_ENGINE (self), LMD_ENGINE_FAILED);
  iface = LMD_ENGINE_GET_IFACE (self);
  return iface->get_state != NULL ? iface->get_state (self, message) : LMD_ENGINE_READY;
}

void
lmd_engine_get_device (LmdEngine *self, LmdEngineDevice *device)
{
  LmdEngineInterface *iface;

  memset (device, 0, sizeof *device);
  g_return_if_fail (LMD_IS_ENGINE (self));
  iface = LMD_ENGINE_GET_IFACE (self);
  if (iface->get_device != NULL)
    iface->get_device (self, device);
  if (device->name == NULL)
    device->name = g_strdup ("cpu");
}

gboolean
lmd_engine_can_translate (LmdEngine *self)
{
  LmdEngineInterface *iface;

  g_return_val_if_fail (LMD_IS_ENGINE (self), FALSE);
  iface = LMD_ENGINE_GET_IFACE (self);
  return iface->can_translate != NULL && iface->can_translate (self);
}

gboolean
lmd_engine_supports_language (LmdEngine *self, const char *language)
{
  LmdEngineInterface *iface;

  g_return_val_if_fail (LMD_IS_ENGINE (self), FALSE);
  iface = LMD_ENGINE_GET_IFACE (self);
  if (iface->supports_language == NULL)
    return language == NULL || g_str_equal (language, "en");
  return iface->supports_language (self, language);
}

LmdEngineSession *
lmd_engine_open_session (LmdEngine *self, const LmdSessionOptions *options, GError **error)
{
  g_return_val_if_fail (LMD_IS_ENGINE (self), NULL);
  g_return_val_if_fail (options != NULL, NULL);
  return LMD_ENGINE_GET_IFACE (self)->open_session (self, options, error);
}
