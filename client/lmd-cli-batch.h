/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-batch.h — lightning-transcribe without --stream: one upload, one answer.
 *
 * text and json go to POST /v1/listen (the audio as the body, options in the query; json
 * prints the server's document with words as it is), srt and vtt to the OpenAI-style
 * POST /v1/audio/transcriptions (multipart, response_format).
 */
#pragma once

#include "lmd-cli-exit.h"
#include "lmd-cli-options.h"

G_BEGIN_DECLS

/* Transcribes @audio (named @filename, for the multipart form) and prints the transcript on
 * standard output; errors go to standard error.  Runs its own main loop. */
LmdCliExit lmd_cli_batch_run (const LmdCliOptions *options, GBytes *audio, const char *filename);

G_END_DECLS
