/* SPDX-License-Identifier: MIT */
/*
 * lmd-transcribe-options.h — the options of a batch transcription request, as the API
 * documents them (query parameters, form fields or JSON members: all the same names).
 */
#pragma once

#include <glib.h>

#include "lmd-vad-options.h"

G_BEGIN_DECLS

typedef struct {
  char *language;         /* owned; ISO 639-1 or "auto"; default "en" */
  char *model;            /* owned; nullable = the deployment's default model */
  gboolean word_timestamps;
  gboolean punctuate;
  gboolean diarize;
  gint num_speakers;      /* 0 = unknown */
  gint beam_size;         /* 0 = the engine's default; 1 greedy; 2..8 beam search (whisper) */
  char *callback_url;     /* owned; nullable */
  char *response_format;  /* owned; nullable; OpenAI-style dialect only */
  char *prompt;           /* owned; nullable; text that precedes the audio (whisper) */
  gint condition_on_previous_text; /* -1 = the engine's default; 0 or 1 (whisper) */
  LmdVadOptions vad;      /* voice-activity detection before decoding (whisper) */
  gboolean translate;     /* "task": translate the speech to English text (engines that can) */
  gboolean multichannel;  /* each input channel transcribed on its own (LmdTranscript.channels);
                           * FALSE: the channels are mixed to mono */
  gboolean hash_audio;    /* set LmdTranscript.audio_sha256 (hashing costs about 10 ms a MiB) */
} LmdTranscribeOptions;

/* Longest accepted prompt, in bytes (a prompt uses at most 223 tokens; longer text is cut
 * to its last 223 tokens by the engine). */
#define LMD_TRANSCRIBE_PROMPT_MAX 4096

void lmd_transcribe_options_init (LmdTranscribeOptions *self);
void lmd_transcribe_options_clear (LmdTranscribeOptions *self);
void lmd_transcribe_options_copy (LmdTranscribeOptions *dest, const LmdTranscribeOptions *src);

/* Applies one option given as text.  Unknown keys are ignored (returns TRUE) so clients may
 * send options of other servers; a bad value is LMD_ERROR_INVALID_PARAMETER ("key: reason"). */
gboolean lmd_transcribe_options_set (LmdTranscribeOptions *self, const char *key, const char *value,
                                     GError **error);

/* Whether @code is an ISO 639-1 language code (or "auto") that the server knows. */
gboolean lmd_language_is_known (const char *code);
/* (transfer none) every code lmd_language_is_known() accepts, "auto" first, NULL-terminated. */
const char *const *lmd_language_list_known (void);

G_END_DECLS
