/* SPDX-License-Identifier: MIT */
/*
 * lmd-whisper-stream.h — live transcription with a Whisper model: the streaming half of a
 * whisper session (LmdSessionOptions.streaming), kept apart from the batch path.
 *
 * Every sample fed goes through the Silero VAD (its LSTM state carried across calls) and the
 * endpointing tracker (lmw-vad-tracker.h).  Confirmed speech opens an utterance, starting
 * speech_pad_ms before the onset; the utterance's audio is held in memory and decoded again
 * as it grows, from its start, as one window:
 *   - interim decodes (get_partial) run at most every stream_interval_ms of new audio, and
 *     only while the stream's interim decoding stays within stream_interim_budget of real
 *     time: after a decode that took d seconds, the next waits for d / budget seconds of new
 *     audio.  So when decoding cannot keep up (a slow machine, many streams sharing the
 *     cores) interims thin out; and none runs while the stream works through a backlog (over
 *     the last 10 s of wall time, 3 s more audio was fed than time passed): its interims
 *     would be stale, and skipping them lets it catch up.  Finals are never skipped;
 *   - the interim text is the local agreement of consecutive decodes (lmw-agreement.h):
 *     words two decodes in a row agree on, committed once, never taken back;
 *   - when the tracker confirms the end of speech the utterance's audio is complete (up to
 *     the speech end plus padding): it is decoded at once (never skipped), so the final that
 *     end_utterance() returns after the caller's end-of-utterance timeout needs no decoding;
 *     audio that did not change since the last decode is never decoded again;
 *   - the caller ends an utterance (end_utterance) after the silence timeout or at its
 *     maximum length; speech still going on opens the next utterance at once.
 * Decodes of a stream use greedy search without temperature fallback and at most
 * 16 + 12 tokens per second of audio (a random or confused model cannot loop for 224 tokens);
 * a decode after the first of an utterance gets the previous one's tokens as its draft
 * (lmw_params.draft_tokens: the tokens it shares with it go through the decoder in multi-row
 * steps instead of one step each; the tokens chosen are the same).
 *
 * Config ([whisper]): stream_interval_ms (1000, 100..30000), stream_interim_budget (0.5,
 * 0..1; 0: no interim decodes), stream_bench_tokens_per_s (0, 0..12: benchmarks only).
 *
 * One thread at a time (the session's).
 */
#pragma once

#include <glib.h>

#include "lmd-transcript.h"
#include "lmw-context.h"
#include "lmw-vad.h"

G_BEGIN_DECLS

typedef struct {
  guint interval_ms;     /* stream_interval_ms */
  double interim_budget; /* stream_interim_budget */
  double bench_tokens_per_s; /* stream_bench_tokens_per_s: 0; for benchmarks with random
                              * weights, each decode writes exactly this many tokens per
                              * second of audio (lmw_params.min_tokens = max_tokens; timestamp
                              * tokens off, so that they are text) */
} LmdWhisperStreamConfig;

/* Reads the [whisper] stream_* settings (defaults when absent). */
gboolean lmd_whisper_stream_config_load (LmdWhisperStreamConfig *config, GKeyFile *key_file,
                                         GError **error);

typedef struct _LmdWhisperStream LmdWhisperStream;

/* A stream decoding on @state (borrowed: outlives the stream) with @params (copied; its
 * strings must outlive the stream), the VAD @model (borrowed) with @vad_params.  @request_id
 * (nullable) for log lines.  (transfer full) */
LmdWhisperStream *lmd_whisper_stream_new (lmw_state *state, const lmw_params *params,
                                          const lmw_vad_model *model,
                                          const lmw_vad_params *vad_params,
                                          const LmdWhisperStreamConfig *config,
                                          const char *request_id, GError **error);
/* Adds the stream's VAD time and the audio it left undecoded to /metrics, then frees it. */
void lmd_whisper_stream_free (LmdWhisperStream *self);

gboolean lmd_whisper_stream_feed (LmdWhisperStream *self, const float *samples, gsize n,
                                  GError **error);
/* (transfer full) (nullable: no utterance open) the committed words of the open utterance */
char *lmd_whisper_stream_get_partial (LmdWhisperStream *self);
/* (transfer full) (nullable: NULL with @error set when decoding fails) */
LmdTranscript *lmd_whisper_stream_end_utterance (LmdWhisperStream *self, GError **error);
gboolean lmd_whisper_stream_get_speech_state (LmdWhisperStream *self, double *since,
                                              double *utterance_start);
/* Decodes run so far: for interims, and for finals (each nullable). */
void lmd_whisper_stream_get_decodes (LmdWhisperStream *self, guint *interim, guint *final);

G_END_DECLS
