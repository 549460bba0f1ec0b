/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-tracker.c — speech start and end, one probability at a time (see lmw-vad-tracker.h).
 */
#include "lmw-vad-tracker.h"

void
lmw_vad_tracker_init (lmw_vad_tracker *t, const lmw_vad_params *p, int window)
{
  float neg = p->neg_threshold > 0.0f ? p->neg_threshold : p->threshold - 0.15f;

  if (neg < 0.01f)
    neg = 0.01f;
  t->threshold = p->threshold;
  t->neg_threshold = neg;
  t->min_speech = (int64_t) p->min_speech_ms * LMW_VAD_SAMPLE_RATE / 1000;
  t->min_silence = (int64_t) p->min_silence_ms * LMW_VAD_SAMPLE_RATE / 1000;
  t->window = window > 0 ? window : 512;
  t->position = 0;
  t->speech = false;
  t->speech_start = -1;
  t->speech_end = -1;
  t->candidate = -1;
  t->silence = -1;
  t->last_prob = 0.0f;
  t->fall = -1;
  t->silence_fall = -1;
  t->speech_fall = -1;
}

lmw_vad_event
lmw_vad_tracker_push (lmw_vad_tracker *t, float prob)
{
  int64_t start = t->position;
  int64_t end = start + t->window;
  lmw_vad_event event = LMW_VAD_NONE;

  t->position = end;
  if (t->speech)
    {
      float last = t->last_prob;
      t->last_prob = prob;
      if (prob < last)
        {
          if (t->fall < 0)
            t->fall = start;
        }
      else
        t->fall = -1;
      if (prob >= t->threshold)
        t->silence = -1;
      else if (prob < t->neg_threshold)
        {
          if (t->silence < 0)
            {
              /* the probability trails the sound: where it began the fall that led here is
               * where the speech most likely ended, looked for at most min_silence back */
              int64_t fall = t->fall >= 0 ? t->fall : start;
              t->silence = start;
              t->silence_fall = fall > start - t->min_silence ? fall : start - t->min_silence;
              if (t->silence_fall < t->speech_start)
                t->silence_fall = t->speech_start;
            }
          if (end - t->silence >= t->min_silence)
            {
              t->speech = false;
              t->speech_end = t->silence;
              t->speech_fall = t->silence_fall;
              t->silence = -1;
              t->candidate = -1;
              event = LMW_VAD_SPEECH_ENDED;
            }
        }
      /* between the thresholds: the speech goes on, a silent run too */
      return event;
    }
  if (prob < t->neg_threshold)
    {
      t->candidate = -1;
      return event;
    }
  if (t->candidate < 0)
    {
      if (prob < t->threshold)
        return event; /* only a window at or above the threshold opens speech */
      t->candidate = start;
    }
  if (end - t->candidate >= t->min_speech)
    {
      t->speech = true;
      t->speech_start = t->candidate;
      t->last_prob = prob;
      t->fall = -1;
      t->candidate = -1;
      t->silence = -1;
      event = LMW_VAD_SPEECH_STARTED;
    }
  return event;
}
