/* SPDX-License-Identifier: MIT */
/*
 * lmd-segment.h — one segment of a transcript as the engine decoded it: a stretch of text
 * with its times and, for engines that decode in windows (whisper), the decoder's figures
 * that OpenAI's verbose_json reports per segment.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  double start;             /* seconds from the start of the audio */
  double end;               /* seconds, >= start */
  char *text;               /* owned; UTF-8, no surrounding spaces */
  GArray *tokens;           /* owned; element-type gint32: the text's token ids */
  gint64 seek;              /* start of the decoding window, in 10 ms frames */
  double temperature;       /* the temperature the window was decoded at */
  double avg_logprob;       /* mean log-probability of the window's decoding */
  double compression_ratio; /* the text's length over its zlib-compressed length */
  double no_speech_prob;    /* probability of the window holding no speech */
} LmdSegment;

/* Fills @self with @text (copied), no tokens and zero figures. */
void lmd_segment_init (LmdSegment *self, double start, double end, const char *text);
/* Frees what @self owns (an element clear function for GArray). */
void lmd_segment_clear (LmdSegment *self);
/* Deep copy of @src into @dest. */
void lmd_segment_copy (LmdSegment *dest, const LmdSegment *src);

/* (transfer full) an empty array of LmdSegment that clears its elements */
GArray *lmd_segment_array_new (void);

G_END_DECLS
