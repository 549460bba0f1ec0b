/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-segments.h — the segments of a transcript as subtitles and OpenAI's verbose_json
 * show them.
 *
 * The engine's own segments when it has them (whisper: its decoding windows' segments, with
 * tokens, seek, temperature, avg_logprob, compression_ratio and no_speech_prob); else the
 * words grouped at pauses of LMD_HTTP_SEGMENT_PAUSE_S or every LMD_HTTP_SEGMENT_MAX_WORDS
 * words, with what can be said of them: no tokens, seek = the 30-second window the segment
 * starts in, temperature 0, avg_logprob the mean log of the words' confidences, the text's
 * zlib compression ratio, no_speech_prob 0.  Either way the segments are ordered, do not
 * overlap and lie inside the audio.
 */
#pragma once

#include "lmd-transcript.h"

G_BEGIN_DECLS

#define LMD_HTTP_SEGMENT_PAUSE_S 0.5
#define LMD_HTTP_SEGMENT_MAX_WORDS 30

/* (transfer full) element-type LmdSegment */
GArray *lmd_http_segments_for (const LmdTranscript *transcript);

/* (transfer full) the segments as SRT cues (@vtt FALSE) or WebVTT, one cue per segment. */
char *lmd_http_segments_render_subtitles (const LmdTranscript *transcript, gboolean vtt);

/* (transfer full) OpenAI's verbose_json: {"task","language","duration","text","segments"
 * [,"words"]}; @task "transcribe" or "translate". */
char *lmd_http_segments_render_verbose_json (const LmdTranscript *transcript, const char *task,
                                             gboolean with_words);

/* The length of @text over its zlib-compressed length (1 for empty text). */
double lmd_http_compression_ratio (const char *text);

G_END_DECLS
