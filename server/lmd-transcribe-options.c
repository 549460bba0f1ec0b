/* SPDX-License-Identifier: MIT */
#include "lmd-transcribe-options.h"

#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"

/* ISO 639-1 codes of the languages Whisper-family models know, plus "auto". */
static const char *const known_languages[] = {
  "auto", "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs",
  "cy", "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha",
  "haw", "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km",
  "kn", "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms",
  "mt", "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd",
  "si", "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk",
  "tl", "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "yue", "zh", NULL,
};

gboolean
lmd_language_is_known (const char *code)
{
  if (code == NULL)
    return FALSE;
  for (guint i = 0; known_languages[i] != NULL; i++)
    if (g_ascii_strcasecmp (code, known_languages[i]) == 0)
      return TRUE;
  return FALSE;
}

const char *const *
lmd_language_list_known (void)
{
  return known_languages;
}

void
lmd_transcribe_options_init (LmdTranscribeOptions *self)
{
  memset (self, 0, sizeof *self);
  self->language = g_strdup ("en");
  self->punctuate = TRUE;
  self->condition_on_previous_text = -1;
  lmd_vad_options_init (&self->vad);
}

void
lmd_transcribe_options_clear (LmdTranscribeOptions *self)
{
  g_clear_pointer (&self->language, g_free);
  g_clear_pointer (&self->model, g_free);
  g_clear_pointer (&self->callback_url, g_free);
  g_clear_pointer (&self->response_format, g_free);
  g_clear_pointer (&self->prompt, g_free);
}

void
lmd_transcribe_options_copy (LmdTranscribeOptions *dest, const LmdTranscribeOptions *src)
{
  *dest = *src;
  dest->language = g_strdup (src->language);
  dest->model = g_strdup (src->model);
  dest->callback_url = g_strdup (src->callback_url);
  dest->response_format = g_strdup (src->response_format);
  dest->prompt = g_strdup (src->prompt);
}

static gboolean
set_boolean (gboolean *field, const char *key, const char *value, GError **error)
{
  if (!lmd_parse_boolean (value, field))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "%s" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a boolean (true, false, 1 or 0)",
                   key, value);
      return FALSE;
    }
  return TRUE;
}

gboolean
lmd_transcribe_options_set (LmdTranscribeOptions *self, const char *key, const char *value,
                            GError **error)
{
  g_return_val_if_fail (key != NULL, FALSE);

  if (value == NULL)
    value = "";
  if (g_str_equal (key, "language"))
    {
      g_autofree char *lower = g_ascii_strdown (value, -1);
      if (!lmd_language_is_known (lower))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "language" LMD_ERROR_PARAM_SEPARATOR
                       "'%s' is not an ISO 639-1 language code or 'auto'", value);
          return FALSE;
        }
      g_free (self->language);
      self->language = g_steal_pointer (&lower);
    }
  else if (g_str_equal (key, "model"))
    {
      g_free (self->model);
      self->model = value[0] != '\0' ? g_strdup (value) : NULL;
    }
  else if (g_str_equal (key, "timestamps") || g_str_equal (key, "word_timestamps"))
    return set_boolean (&self->word_timestamps, key, value, error);
  else if (g_str_equal (key, "punctuate"))
    return set_boolean (&self->punctuate, key, value, error);
  else if (g_str_equal (key, "diarize"))
    return set_boolean (&self->diarize, key, value, error);
  else if (g_str_equal (key, "num_speakers"))
    {
      char *end = NULL;
      gint64 n = g_ascii_strtoll (value, &end, 10);
      if (value[0] == '\0' || *end != '\0' || n < 0 || n > 64)
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "num_speakers" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a number from 0 to 64",
                       value);
          return FALSE;
        }
      self->num_speakers = (gint) n;
    }
  else if (g_str_equal (key, "beam_size"))
    {
      char *end = NULL;
      gint64 n = g_ascii_strtoll (value, &end, 10);
      if (value[0] == '\0' || *end != '\0' || n < 1 || n > 8)
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "beam_size" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a number from 1 to 8",
                       value);
          return FALSE;
        }
      self->beam_size = (gint) n;
    }
  else if (g_str_equal (key, "prompt"))
    {
      if (strlen (value) > LMD_TRANSCRIBE_PROMPT_MAX || !g_utf8_validate (value, -1, NULL))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "prompt" LMD_ERROR_PARAM_SEPARATOR "must be UTF-8 text of at most %d bytes",
                       LMD_TRANSCRIBE_PROMPT_MAX);
          return FALSE;
        }
      g_free (self->prompt);
      self->prompt = value[0] != '\0' ? g_strdup (value) : NULL;
    }
  else if (lmd_vad_options_handles (key))
    return lmd_vad_options_set (&self->vad, key, value, error);
  else if (g_str_equal (key, "task"))
    {
      if (!g_str_equal (value, "transcribe") && !g_str_equal (value, "translate"))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "task" LMD_ERROR_PARAM_SEPARATOR "'%s' is neither transcribe nor translate", value);
          return FALSE;
        }
      self->translate = g_str_equal (value, "translate");
    }
  else if (g_str_equal (key, "condition_on_previous_text"))
    {
      gboolean on = FALSE;
      if (!set_boolean (&on, key, value, error))
        return FALSE;
      self->condition_on_previous_text = on ? 1 : 0;
    }
  else if (g_str_equal (key, "callback_url"))
    {
      if (value[0] != '\0' && !g_str_has_prefix (value, "http://") &&
          !g_str_has_prefix (value, "https://"))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "callback_url" LMD_ERROR_PARAM_SEPARATOR "must be an http(s) URL");
          return FALSE;
        }
      g_free (self->callback_url);
      self->callback_url = value[0] != '\0' ? g_strdup (value) : NULL;
    }
  else if (g_str_equal (key, "response_format"))
    {
      static const char *const formats[] = { "json", "text", "srt", "vtt", "verbose_json" };
      gboolean ok = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
        ok = ok || g_str_equal (value, formats[i]);
      if (!ok)
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "response_format" LMD_ERROR_PARAM_SEPARATOR
                       "'%s' is not one of json, text, srt, vtt, verbose_json", value);
          return FALSE;
        }
      g_free (self->response_format);
      self->response_format = g_strdup (value);
    }
  return TRUE;
}
