/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-subtitles.h — SRT and WebVTT from the finals of a live stream (one cue per final).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double start; /* seconds since the first audio byte */
  double end;   /* seconds, >= start */
  char *text;   /* owned */
} LmdCliCue;

/* (transfer full) an array of LmdCliCue that frees their text */
GArray *lmd_cli_cues_new (void);
/* Appends a cue; times are clamped so that cues stay ordered and never overlap. */
void lmd_cli_cues_add (GArray *cues, double start, double end, const char *text);
/* (transfer full) the cues as SRT (@vtt FALSE) or WebVTT. */
char *lmd_cli_cues_render (GArray *cues, gboolean vtt);

G_END_DECLS
