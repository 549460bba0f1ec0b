/* SPDX-License-Identifier: MIT */
/*
 * lmd-transcript.h — what an engine returns: text, confidence, and timed words.
 *
 * Times are seconds from the start of the audio the session was fed.  A transcript is a
 * boxed type (copy = deep copy) so it can travel through GTask and signals.
 */
#pragma once

#include <glib-object.h>

#include "lmd-json-writer.h"
#include "lmd-segment.h"
#include "lmd-transcribe-options.h"

G_BEGIN_DECLS

typedef struct {
  char *word;        /* owned; UTF-8, no surrounding spaces */
  double start;      /* seconds */
  double end;        /* seconds, >= start */
  double confidence; /* 0..1 */
} LmdWord;

typedef struct {
  char *text;        /* owned; the words joined with single spaces (or the model's own text) */
  double confidence; /* 0..1, overall */
  double duration;   /* seconds of audio fed to the session */
  char *language;    /* owned; ISO 639-1, e.g. "en" */
  GArray *words;     /* owned; element-type LmdWord, in time order */
  GArray *segments;  /* owned; nullable: element-type LmdSegment, the engine's own segments
                      * (whisper's decoding windows' segments); NULL when it has none */
  char *audio_sha256; /* owned, nullable: SHA-256 (hex) of the encoded audio transcribed, set
                       * by the router when the request asks (LmdTranscribeOptions.hash_audio;
                       * for a request by URL: of the bytes it fetched) */
  GPtrArray *channels; /* owned, nullable: element-type LmdTranscript (owned), one per input
                        * channel of a multichannel request (LmdTranscribeOptions.multichannel);
                        * the transcript itself is then channel 0's */
} LmdTranscript;

#define LMD_TYPE_TRANSCRIPT (lmd_transcript_get_type ())
GType lmd_transcript_get_type (void);

/* (transfer full) an empty transcript: text "", no words, language @language (nullable → "en") */
LmdTranscript *lmd_transcript_new (const char *language);
LmdTranscript *lmd_transcript_copy (const LmdTranscript *self);
void lmd_transcript_free (LmdTranscript *self);

/* Appends a word (copied) and returns it. */
LmdWord *lmd_transcript_add_word (LmdTranscript *self, const char *word, double start, double end,
                                  double confidence);
/* Sets text to the words joined by spaces and confidence to their mean (1.0 when no words). */
void lmd_transcript_update_text_from_words (LmdTranscript *self);
/* Appends @other's words, shifted by @offset seconds, to @self, and re-derives the text. */
void lmd_transcript_append (LmdTranscript *self, const LmdTranscript *other, double offset);

/* Writes the member "words": [{"word","start","end","confidence"}...] with @decimals. */
void lmd_transcript_write_words (const LmdTranscript *self, LmdJsonWriter *w, guint decimals);
/* (transfer full) the answer of POST /v1/listen for @self:
 * {"request_id","text","confidence","duration","language"[,"words"][,"speakers"]}. */
char *lmd_transcript_to_listen_json (const LmdTranscript *self, const LmdTranscribeOptions *options,
                                     const char *request_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTranscript, lmd_transcript_free)

G_END_DECLS
