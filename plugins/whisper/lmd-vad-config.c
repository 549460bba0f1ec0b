/* SPDX-License-Identifier: MIT */
/*
 * lmd-vad-config.c — the [vad] configuration (see lmd-vad-config.h).
 */
#include "lmd-vad-config.h"

#include <gio/gio.h>

#include "lmd-config.h"

gboolean
lmd_vad_config_load (LmdVadConfig *self, GKeyFile *key_file, GError **error)
{
  g_autofree char *path = lmd_config_get_string (key_file, "vad", "model", NULL);
  gint64 min_speech, min_silence, pad;
  double threshold, max_speech;
  lmw_error err = { 0 };

  if (!lmd_config_get_double (key_file, "vad", "threshold", 0.5, &threshold, error) ||
      !lmd_config_get_int (key_file, "vad", "min_speech_ms", 250, &min_speech, error) ||
      !lmd_config_get_int (key_file, "vad", "min_silence_ms", 100, &min_silence, error) ||
      !lmd_config_get_int (key_file, "vad", "speech_pad_ms", 30, &pad, error) ||
      !lmd_config_get_double (key_file, "vad", "max_speech_s", 0.0, &max_speech, error))
    return FALSE;
  if (threshold < 0.01 || threshold > 1.0 || min_speech < 0 || min_speech > 60000 ||
      min_silence < 0 || min_silence > 60000 || pad < 0 || pad > 2000 || max_speech < 0.0 ||
      max_speech > 3600.0)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [vad]: threshold must be 0.01..1, min_speech_ms and min_silence_ms "
                   "0..60000, speech_pad_ms 0..2000 and max_speech_s 0..3600");
      return FALSE;
    }
  self->params = lmw_vad_default_params ();
  self->params.threshold = (float) threshold;
  self->params.min_speech_ms = (int) min_speech;
  self->params.min_silence_ms = (int) min_silence;
  self->params.speech_pad_ms = (int) pad;
  self->params.max_speech_s = (float) max_speech;
  if (path == NULL)
    return TRUE;
  self->model = lmw_vad_model_load_file (path, &err);
  if (self->model == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "config [vad] model: %s", err.message);
      return FALSE;
    }
  g_info ("VAD model %s loaded from %s", lmw_vad_model_description (self->model), path);
  return TRUE;
}

void
lmd_vad_config_clear (LmdVadConfig *self)
{
  g_clear_pointer (&self->model, lmw_vad_model_free);
}

gboolean
lmd_vad_config_get_params (const LmdVadConfig *self, const LmdVadOptions *options,
                           lmw_vad_params *params)
{
  *params = self->params;
  if (options == NULL)
    return self->model != NULL;
  if (options->threshold >= 0)
    params->threshold = (float) options->threshold;
  if (options->min_speech_ms >= 0)
    params->min_speech_ms = options->min_speech_ms;
  if (options->min_silence_ms >= 0)
    params->min_silence_ms = options->min_silence_ms;
  if (options->speech_pad_ms >= 0)
    params->speech_pad_ms = options->speech_pad_ms;
  if (options->max_speech_s >= 0)
    params->max_speech_s = (float) options->max_speech_s;
  return self->model != NULL && options->enabled != 0;
}
