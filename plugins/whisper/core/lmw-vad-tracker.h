/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-tracker.h — live endpointing from Silero speech probabilities (prefix
 * lmw_vad_tracker_), plain C11, no GLib.
 *
 * The streaming twin of lmw_vad_segments (lmw-vad.h): it takes the probabilities one window
 * at a time, as lmw_vad_feed produces them, and says when speech starts and when it ends,
 * with the same settings and the same hysteresis: a run of windows not below `neg_threshold`
 * that reaches `min_speech_ms` from a window at or above `threshold` is speech, starting at
 * that window; inside speech, a run of windows below `neg_threshold` that lasts
 * `min_silence_ms` ends it where the run began.  Padding and the maximum length are left to
 * the caller (it knows what it does with the audio).
 *
 * The network's probability trails the sound: it often stays high for a window or three after
 * the voice stops and then falls over several windows (on the LibriVox recordings of
 * pocketsphinx-testdata the first silent window began 50 to 230 ms after the last word's end
 * in the sphinx engine's alignment).  So besides `speech_end`, the boundary of the speech's
 * audio (what batch segments use), the tracker reports `speech_fall`: where the probability
 * began the fall that led into the silence, looked for at most `min_silence_ms` before
 * `speech_end`.  Live sessions count their end-of-utterance timeout from it.
 *
 * A plain struct the caller owns (no allocation); one stream, one thread at a time.
 */
#ifndef LMW_VAD_TRACKER_H
#define LMW_VAD_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "lmw-vad.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  LMW_VAD_NONE = 0,
  LMW_VAD_SPEECH_STARTED, /* speech confirmed: it began at speech_start */
  LMW_VAD_SPEECH_ENDED,   /* silence confirmed: the speech ended at speech_end */
} lmw_vad_event;

typedef struct {
  /* settings (lmw_vad_tracker_init) */
  float threshold, neg_threshold;
  int64_t min_speech, min_silence; /* samples */
  int window;                      /* samples per probability */

  /* state */
  int64_t position;      /* samples analysed so far (windows pushed × window) */
  bool speech;           /* in confirmed speech */
  int64_t speech_start;  /* sample where the current (or last) speech began; -1 before any */
  int64_t speech_end;    /* sample where the last speech ended; -1 before any */
  int64_t candidate;     /* outside speech: where the run of speech-like windows began; -1 */
  int64_t silence;       /* inside speech: where the run of silent windows began; -1 */
  float last_prob;       /* inside speech: the previous window's probability */
  int64_t fall;          /* inside speech: where the current run of windows, each lower than
                          * the one before, began; -1 while the last window rose or held */
  int64_t silence_fall;  /* inside speech: that fall for the current silent run */
  int64_t speech_fall;   /* where the probability began the fall into the silence that ended
                          * the last speech: speech_end - min_silence .. speech_end, never
                          * before speech_start; -1 before any */
} lmw_vad_tracker;

/* Sets the thresholds and lengths from params (threshold, neg_threshold or its default,
 * min_speech_ms, min_silence_ms) for probabilities of `window` samples at 16 kHz, and starts
 * at sample 0 without speech. */
void lmw_vad_tracker_init (lmw_vad_tracker *tracker, const lmw_vad_params *params, int window);
/* The probability of the next window; returns what it changed. */
lmw_vad_event lmw_vad_tracker_push (lmw_vad_tracker *tracker, float prob);

#ifdef __cplusplus
}
#endif

#endif /* LMW_VAD_TRACKER_H */
