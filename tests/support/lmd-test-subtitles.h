/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-subtitles.h — a strict SRT and WebVTT parser for tests.
 *
 * SRT: cues numbered 1, 2, ... in order, "HH:MM:SS,mmm --> HH:MM:SS,mmm", one or more text
 * lines, a blank line after each cue.  WebVTT: the "WEBVTT" line and a blank line, then cues
 * with an optional identifier line, "HH:MM:SS.mmm --> HH:MM:SS.mmm", text, a blank line.
 * Beyond the syntax, cues must be ordered and must not overlap (each starts at or after the
 * end of the one before), each must end after it starts, and none may end after @duration.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double start; /* seconds */
  double end;
  char *text;   /* owned; the cue's lines joined by spaces */
} LmdTestCue;

/* (transfer full) the cues (element-type LmdTestCue, freeing their text), or NULL with
 * @error (G_MARKUP_ERROR_PARSE) naming the line and the rule it breaks. */
GArray *lmd_test_subtitles_parse (const char *text, gboolean vtt, double duration, GError **error);

/* (transfer full) the text of every cue joined by single spaces. */
char *lmd_test_subtitles_join (GArray *cues);

G_END_DECLS
