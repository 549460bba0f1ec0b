/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-segments.c — speech probabilities (one per window) → speech segments.
 *
 * One pass over the windows with two thresholds (hysteresis): a window at or above
 * `threshold` opens a segment; inside one, a run of windows below `neg_threshold` that lasts
 * `min_silence_ms` closes it where the run began (windows in between keep it open).  A
 * segment that would grow past the maximum length is cut at the start of the last silence of
 * at least 98 ms it holds (the next one starting where that silence ended), else where the
 * limit falls.  Segments shorter than `min_speech_ms` are dropped; the rest get
 * `speech_pad_ms` on both sides, or half the gap each when neighbours are closer than two
 * paddings, and are clamped to the recording.
 */
#include "lmw-vad.h"

#include "lmw-error.h"

#include <stdlib.h>

#define CUT_SILENCE_MS 98 /* a silence this long is a place to cut an over-long segment */

lmw_vad_params
lmw_vad_default_params (void)
{
  lmw_vad_params p = {
    .threshold = 0.5f,
    .neg_threshold = 0.0f,
    .min_speech_ms = 250,
    .min_silence_ms = 100,
    .speech_pad_ms = 30,
    .max_speech_s = 0.0f,
  };
  return p;
}

typedef struct {
  lmw_vad_segment *v; /* owned */
  size_t n, cap;
  int64_t min_len;
  bool oom;
} seg_list;

static void
seg_close (seg_list *l, int64_t start, int64_t end)
{
  if (end - start < l->min_len || l->oom)
    return;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 16;
    lmw_vad_segment *v = realloc (l->v, cap * sizeof *v);
    if (v == NULL) {
      l->oom = true;
      return;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n].start = start;
  l->v[l->n].end = end;
  l->n++;
}

static int64_t
ms_to_samples (double ms)
{
  return (int64_t) (ms * LMW_VAD_SAMPLE_RATE / 1000.0 + 0.5);
}

int
lmw_vad_segments (const float *probs, size_t n_probs, int window, size_t n_samples,
                  const lmw_vad_params *params, lmw_vad_segment **segments, size_t *n_segments,
                  lmw_error *err)
{
  const lmw_vad_params *p = params;
  *segments = NULL;
  *n_segments = 0;
  if (window <= 0 || !(p->threshold > 0.0f && p->threshold <= 1.0f) ||
      !(p->neg_threshold >= 0.0f && p->neg_threshold <= p->threshold) ||
      p->min_speech_ms < 0 || p->min_silence_ms < 0 || p->speech_pad_ms < 0 ||
      !(p->max_speech_s >= 0.0f && p->max_speech_s <= 86400.0f)) {
    lmw_set_error (err, LMW_ERR_ARG, "VAD: invalid segment parameters (threshold %g, "
                   "neg_threshold %g, min_speech_ms %d, min_silence_ms %d, speech_pad_ms %d, "
                   "max_speech_s %g)", p->threshold, p->neg_threshold, p->min_speech_ms,
                   p->min_silence_ms, p->speech_pad_ms, p->max_speech_s);
    return -1;
  }
  float neg = p->neg_threshold > 0.0f ? p->neg_threshold : p->threshold - 0.15f;
  if (neg < 0.01f)
    neg = 0.01f;
  const int64_t W = window;
  const int64_t min_silence = ms_to_samples (p->min_silence_ms);
  const int64_t cut_silence = ms_to_samples (CUT_SILENCE_MS);
  const int64_t pad = ms_to_samples (p->speech_pad_ms);
  /* the limit holds after padding */
  int64_t max_len = 0;
  if (p->max_speech_s > 0.0f) {
    max_len = (int64_t) ((double) p->max_speech_s * LMW_VAD_SAMPLE_RATE) - 2 * pad;
    if (max_len < W)
      max_len = W;
  }

  seg_list l = { NULL, 0, 0, ms_to_samples (p->min_speech_ms), false };
  bool in_speech = false;
  int64_t start = 0;
  int64_t silence = -1;              /* start of the current run of silent windows, or -1 */
  int64_t cut_end = -1, cut_resume = -1; /* the last long-enough silence inside the segment */
  for (size_t i = 0; i < n_probs; i++) {
    int64_t s = (int64_t) i * W;
    float pr = probs[i];
    if (!in_speech) {
      if (pr >= p->threshold) {
        in_speech = true;
        start = s;
        silence = cut_end = cut_resume = -1;
      }
      continue;
    }
    if (pr >= p->threshold) {
      if (silence >= 0 && s - silence >= cut_silence) {
        cut_end = silence;
        cut_resume = s;
      }
      silence = -1;
    } else if (pr < neg) {
      if (silence < 0)
        silence = s;
      if (s + W - silence >= min_silence) {
        seg_close (&l, start, silence);
        in_speech = false;
        continue;
      }
    }
    if (max_len > 0 && s + W - start > max_len) {
      if (cut_end >= 0) {
        seg_close (&l, start, cut_end);
        start = cut_resume;
      } else {
        seg_close (&l, start, s);
        start = s;
      }
      cut_end = cut_resume = -1;
    }
  }
  if (in_speech)
    seg_close (&l, start, silence >= 0 ? silence : (int64_t) n_probs * W);
  if (l.oom) {
    free (l.v);
    lmw_set_error (err, LMW_ERR_NOMEM, "VAD: out of memory for segments");
    return -1;
  }

  /* padding, half the gap between close neighbours, clamped to the recording */
  const int64_t total = (int64_t) n_samples;
  size_t n = 0;
  int64_t prev_end = 0; /* the previous segment's end before padding */
  for (size_t i = 0; i < l.n; i++) {
    lmw_vad_segment sg = l.v[i];
    int64_t lo = sg.start - pad;
    if (i > 0 && sg.start - prev_end < 2 * pad)
      lo = sg.start - (sg.start - prev_end) / 2;
    int64_t hi = sg.end + pad;
    if (i + 1 < l.n && l.v[i + 1].start - sg.end < 2 * pad)
      hi = sg.end + (l.v[i + 1].start - sg.end) / 2;
    prev_end = sg.end;
    if (lo < 0)
      lo = 0;
    if (hi > total)
      hi = total;
    if (lo >= hi)
      continue;
    if (n > 0 && lo < l.v[n - 1].end)
      lo = l.v[n - 1].end;
    l.v[n].start = lo;
    l.v[n].end = hi;
    n++;
  }
  if (n == 0) {
    free (l.v);
    return 0;
  }
  *segments = l.v;
  *n_segments = n;
  return 0;
}
