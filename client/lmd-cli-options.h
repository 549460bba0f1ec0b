/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-options.h — what lightning-transcribe was asked to do (its command line).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  LMD_CLI_FORMAT_TEXT,
  LMD_CLI_FORMAT_JSON,
  LMD_CLI_FORMAT_SRT,
  LMD_CLI_FORMAT_VTT,
} LmdCliFormat;

typedef struct {
  char *url;          /* owned; the server's base URL, "http://127.0.0.1:7100" */
  char *key;          /* owned; nullable: the API key, sent as "Authorization: Token <key>" */
  char *model;        /* owned; nullable: the server's default model */
  char *language;     /* owned; nullable: the server's default language */
  LmdCliFormat format;
  gboolean stream;    /* live transcription over the WebSocket instead of one upload */
  guint sample_rate;  /* --stream, raw PCM input: its rate (the rate of a WAV is read from it) */
  double speed;       /* --stream: audio seconds sent per second (1 = real time) */
  gboolean progress;  /* a progress bar on standard error (a terminal, not --quiet) */
  gboolean interim_in_place; /* --stream text: interims rewritten in place (stdout is a terminal) */
} LmdCliOptions;

/* "text", "json", "srt", "vtt" → @out; FALSE for anything else. */
gboolean lmd_cli_format_from_string (const char *name, LmdCliFormat *out);

G_END_DECLS
