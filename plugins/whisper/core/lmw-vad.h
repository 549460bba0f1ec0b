/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad.h — Silero voice-activity detection (prefix lmw_vad_), plain C11, no GLib.
 *
 * Three pieces, one file each:
 *   lmw_vad_model     (lmw-vad-model.c) the weights of a Silero v5/v6 model in the ggml file
 *                     format; read-only after loading, shared by any number of streams;
 *   lmw_vad_state     (lmw-vad-state.c) one stream: the LSTM's hidden and cell state, carried
 *                     from one 512-sample window (32 ms at 16 kHz) to the next, and the samples
 *                     of a window not yet complete; one thread at a time;
 *   lmw_vad_segments  (lmw-vad-segments.c) speech probabilities → speech segments (threshold
 *                     with hysteresis, minimum speech, minimum silence, padding, maximum
 *                     segment length).
 *
 * Each window is analysed on its own (reflection-padded by the model's context of 64 samples
 * on both sides, no samples of the previous window), as whisper.cpp's VAD does, so the
 * probabilities equal that implementation's; only the LSTM state links the windows.
 *
 * Functions that can fail return a status (0 or a pointer) and fill an lmw_error when given.
 */
#ifndef LMW_VAD_H
#define LMW_VAD_H

#include "lmw-context.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LMW_VAD_SAMPLE_RATE 16000

typedef struct lmw_vad_model lmw_vad_model;
typedef struct lmw_vad_state lmw_vad_state;

/* ---- model ------------------------------------------------------------------------------- */

/* Loads a Silero model in the ggml format.  Every header field and every tensor's name, type
 * and shape is checked before anything is allocated; the file may hold at most
 * LMW_VAD_MAX_FILE_BYTES.  (transfer full) (nullable: NULL on error, err filled) */
#define LMW_VAD_MAX_FILE_BYTES (16u << 20)
lmw_vad_model *lmw_vad_model_load_file (const char *path, lmw_error *err);
/* Same, from a buffer the caller keeps; nothing of it is referenced after return. */
lmw_vad_model *lmw_vad_model_load_buffer (const void *data, size_t size, lmw_error *err);
void lmw_vad_model_free (lmw_vad_model *model);

/* Samples per probability (512). */
int lmw_vad_model_window (const lmw_vad_model *model);
/* "silero-16k 6.2.0"; (transfer none) */
const char *lmw_vad_model_description (const lmw_vad_model *model);

/* ---- per-stream state -------------------------------------------------------------------- */

/* (transfer full) (nullable) */
lmw_vad_state *lmw_vad_state_new (const lmw_vad_model *model, lmw_error *err);
void lmw_vad_state_free (lmw_vad_state *state);
/* The model the state runs.  (transfer none) */
const lmw_vad_model *lmw_vad_state_model (const lmw_vad_state *state);
/* Forgets the LSTM state and any pending samples: the next sample starts a new recording. */
void lmw_vad_state_reset (lmw_vad_state *state);

/* Most probabilities that feeding n more samples can produce (size for lmw_vad_feed's probs). */
size_t lmw_vad_feed_max (const lmw_vad_state *state, size_t n);
/* Streaming: appends pcm (16 kHz mono f32) and computes the speech probability of every window
 * completed, in order, into probs; samples of an incomplete window wait for the next call.
 * Returns the number of probabilities written (at most lmw_vad_feed_max (state, n)). */
size_t lmw_vad_feed (lmw_vad_state *state, const float *pcm, size_t n, float *probs);
/* Samples waiting for a complete window (0 .. window - 1). */
size_t lmw_vad_pending (const lmw_vad_state *state);
/* Ends the recording: pads an incomplete window with zeros and writes its probability into
 * *prob.  Returns 1 when there was one, else 0.  The LSTM state is kept (reset for a new
 * recording). */
int lmw_vad_flush (lmw_vad_state *state, float *prob);
/* Windows analysed since creation (resets included) and the wall time they took, in µs. */
uint64_t lmw_vad_state_windows (const lmw_vad_state *state);
uint64_t lmw_vad_state_time_us (const lmw_vad_state *state);

/* Batch: resets the state, then computes the probability of every window of pcm, the last one
 * padded with zeros: *n_probs = ceil (n_samples / window).  *probs (transfer full, free ()).
 * Returns 0, or -1 with err filled (allocation failure). */
int lmw_vad_probs (lmw_vad_state *state, const float *pcm, size_t n_samples, float **probs,
                   size_t *n_probs, lmw_error *err);

/* ---- segments ---------------------------------------------------------------------------- */

typedef struct {
  float threshold;     /* 0.5: a window at or above it is speech and opens a segment */
  float neg_threshold; /* 0: threshold - 0.15 (at least 0.01); a segment ends only after
                        * windows below this (hysteresis) */
  int min_speech_ms;   /* 250: shorter segments are dropped */
  int min_silence_ms;  /* 100: silence that closes a segment (shorter gaps stay inside) */
  int speech_pad_ms;   /* 30: added on both sides (half the gap when neighbours are closer) */
  float max_speech_s;  /* 0: unlimited; longer segments are cut, at the last silence of at
                        * least 98 ms inside when there is one, else where the limit falls */
} lmw_vad_params;

lmw_vad_params lmw_vad_default_params (void);

typedef struct {
  int64_t start, end; /* samples, end exclusive */
} lmw_vad_segment;

/* Speech segments of a recording of n_samples whose probabilities (one per `window` samples)
 * are probs.  Segments are ordered, disjoint and inside [0, n_samples).  *segments
 * (transfer full, free ()) holds *n_segments entries (NULL when none).  Returns 0, or -1 with
 * err filled (invalid parameters, allocation failure). */
int lmw_vad_segments (const float *probs, size_t n_probs, int window, size_t n_samples,
                      const lmw_vad_params *params, lmw_vad_segment **segments,
                      size_t *n_segments, lmw_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LMW_VAD_H */
