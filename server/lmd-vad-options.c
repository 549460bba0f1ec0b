/* SPDX-License-Identifier: MIT */
#include "lmd-vad-options.h"

#include <math.h>
#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-json.h"

/* The numeric parameters: name, range, and where the value goes. */
typedef struct {
  const char *key;
  double min, max;
  gboolean integer;
  gsize offset;
} VadParam;

static const VadParam params[] = {
  { "vad_threshold", 0.01, 1.0, FALSE, G_STRUCT_OFFSET (LmdVadOptions, threshold) },
  { "vad_min_speech_ms", 0, 60000, TRUE, G_STRUCT_OFFSET (LmdVadOptions, min_speech_ms) },
  { "vad_min_silence_ms", 0, 60000, TRUE, G_STRUCT_OFFSET (LmdVadOptions, min_silence_ms) },
  { "vad_speech_pad_ms", 0, 2000, TRUE, G_STRUCT_OFFSET (LmdVadOptions, speech_pad_ms) },
  { "vad_max_speech_s", 0, 3600, FALSE, G_STRUCT_OFFSET (LmdVadOptions, max_speech_s) },
};

void
lmd_vad_options_init (LmdVadOptions *self)
{
  self->enabled = -1;
  self->threshold = -1.0;
  self->min_speech_ms = -1;
  self->min_silence_ms = -1;
  self->speech_pad_ms = -1;
  self->max_speech_s = -1.0;
}

gboolean
lmd_vad_options_handles (const char *key)
{
  if (g_str_equal (key, "vad"))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (params); i++)
    if (g_str_equal (key, params[i].key))
      return TRUE;
  return FALSE;
}

static void
store (LmdVadOptions *self, const VadParam *p, double v)
{
  if (p->integer)
    G_STRUCT_MEMBER (gint, self, p->offset) = (gint) v;
  else
    G_STRUCT_MEMBER (double, self, p->offset) = v;
}

gboolean
lmd_vad_options_set (LmdVadOptions *self, const char *key, const char *value, GError **error)
{
  if (value == NULL)
    value = "";
  if (g_str_equal (key, "vad"))
    {
      gboolean on = FALSE;
      /* "silero" names the detector: the same as true (the one detector there is) */
      if (g_ascii_strcasecmp (value, "silero") == 0)
        on = TRUE;
      else if (!lmd_parse_boolean (value, &on))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "vad" LMD_ERROR_PARAM_SEPARATOR "'%s' is not silero or a boolean (true, "
                       "false, 1 or 0)", value);
          return FALSE;
        }
      self->enabled = on ? 1 : 0;
      return TRUE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (params); i++)
    {
      const VadParam *p = &params[i];
      char *end = NULL;
      double v;

      if (!g_str_equal (key, p->key))
        continue;
      v = g_ascii_strtod (value, &end);
      if (value[0] == '\0' || *end != '\0' || !isfinite (v) || v < p->min || v > p->max ||
          (p->integer && v != floor (v)))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "%s" LMD_ERROR_PARAM_SEPARATOR "'%s' is not %s from %g to %g", key, value,
                       p->integer ? "a whole number" : "a number", p->min, p->max);
          return FALSE;
        }
      store (self, p, v);
      return TRUE;
    }
  g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
               "%s" LMD_ERROR_PARAM_SEPARATOR "not a VAD option", key);
  return FALSE;
}

void
lmd_vad_options_write (const LmdVadOptions *self, LmdJsonWriter *w)
{
  if (self->enabled >= 0)
    {
      lmd_json_writer_key (w, "vad");
      lmd_json_writer_boolean (w, self->enabled > 0);
    }
  for (guint i = 0; i < G_N_ELEMENTS (params); i++)
    {
      const VadParam *p = &params[i];
      double v = p->integer ? G_STRUCT_MEMBER (gint, self, p->offset)
                            : G_STRUCT_MEMBER (double, self, p->offset);
      if (v < 0)
        continue;
      lmd_json_writer_key (w, p->key);
      lmd_json_writer_double (w, v, 4);
    }
}

void
lmd_vad_options_read (LmdVadOptions *self, JsonObject *object)
{
  lmd_vad_options_init (self);
  if (json_object_has_member (object, "vad"))
    self->enabled = lmd_json_object_get_boolean (object, "vad", FALSE) ? 1 : 0;
  for (guint i = 0; i < G_N_ELEMENTS (params); i++)
    {
      const VadParam *p = &params[i];
      double v;

      if (!json_object_has_member (object, p->key))
        continue;
      v = lmd_json_object_get_double (object, p->key, -1.0);
      if (v >= p->min && v <= p->max)
        store (self, p, p->integer ? floor (v) : v);
    }
}
