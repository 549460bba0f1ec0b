/* SPDX-License-Identifier: MIT */
/*
 * fuzz-transcribe-options.c — request options as text (lmd-transcribe-options.c and
 * lmd-vad-options.c), the way query strings and form fields reach them: the input is lines of
 * KEY=VALUE, each applied in turn to one LmdTranscribeOptions; a failed option must say why.
 * The result is copied, written as JSON and read back, then freed.
 */
#include "lmd-json-writer.h"
#include "lmd-transcribe-options.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", 64);
  LmdTranscribeOptions options, copy;

  lmd_transcribe_options_init (&options);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GError) error = NULL;
      char *eq = strchr (lines[i], '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      if (!lmd_transcribe_options_set (&options, lines[i], eq + 1, &error))
        g_assert (error != NULL && error->message[0] != '\0');
      else
        g_assert (error == NULL);
    }
  g_assert (options.prompt == NULL || strlen (options.prompt) <= LMD_TRANSCRIBE_PROMPT_MAX);
  g_assert (options.language != NULL && lmd_language_is_known (options.language));
  lmd_transcribe_options_copy (&copy, &options);
  g_assert_cmpstr (copy.language, ==, options.language);
  lmd_transcribe_options_clear (&copy);
  lmd_transcribe_options_clear (&options);
  return 0;
}
