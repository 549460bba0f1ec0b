/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-vad-cut.h"

#include <string.h>

#include "lmd-error.h"

void
lmd_vad_cut_free (LmdVadCut *self)
{
  if (self == NULL)
    return;
  g_array_unref (self->pieces);
  g_free (self);
}

double
lmd_vad_cut_to_recording (const LmdVadCut *self, double seconds)
{
  gint64 s = (gint64) (seconds * LMW_VAD_SAMPLE_RATE + 0.5);
  guint lo = 0, hi = self->pieces->len;
  const LmdVadPiece *p;

  if (hi == 0)
    return 0.0;
  /* the last piece that starts at or before s */
  while (hi - lo > 1)
    {
      guint mid = (lo + hi) / 2;
      if (g_array_index (self->pieces, LmdVadPiece, mid).cut_start <= s)
        lo = mid;
      else
        hi = mid;
    }
  p = &g_array_index (self->pieces, LmdVadPiece, lo);
  s = CLAMP (s - p->cut_start, 0, p->length);
  return (double) (p->recording_start + s) / LMW_VAD_SAMPLE_RATE;
}

void
lmd_vad_cut_map_transcript (const LmdVadCut *self, LmdTranscript *transcript)
{
  for (guint i = 0; i < transcript->words->len; i++)
    {
      LmdWord *w = &g_array_index (transcript->words, LmdWord, i);
      w->start = lmd_vad_cut_to_recording (self, w->start);
      w->end = MAX (w->start, lmd_vad_cut_to_recording (self, w->end));
    }
  for (guint i = 0; transcript->segments != NULL && i < transcript->segments->len; i++)
    {
      LmdSegment *s = &g_array_index (transcript->segments, LmdSegment, i);
      s->start = lmd_vad_cut_to_recording (self, s->start);
      s->end = MAX (s->start, lmd_vad_cut_to_recording (self, s->end));
      s->seek = (gint64) (lmd_vad_cut_to_recording (self, s->seek / 100.0) * 100.0);
    }
  transcript->duration = self->recording_seconds;
}

/* Samples the VAD reads from the recording at a time. */
#define VAD_READ_CHUNK (30 * LMW_VAD_SAMPLE_RATE)

LmdVadCut *
lmd_vad_cut_new (lmw_vad_state *state, LmdVadCutReader read, gpointer user_data, guint64 n_samples,
                 const lmw_vad_params *params, GError **error)
{
  g_autoptr (LmdVadCut) self = g_new0 (LmdVadCut, 1);
  g_autofree float *chunk = g_new (float, VAD_READ_CHUNK);
  g_autoptr (GArray) probs = g_array_new (FALSE, FALSE, sizeof (float));
  g_autofree lmw_vad_segment *segments = NULL;
  size_t n_segments = 0;
  gint64 started = g_get_monotonic_time ();
  gint64 gap = (gint64) (LMD_VAD_CUT_GAP_S * LMW_VAD_SAMPLE_RATE);
  gint64 kept = 0, at = 0;
  lmw_error err = { 0 };
  float last;

  self->pieces = g_array_new (FALSE, FALSE, sizeof (LmdVadPiece));
  self->recording_seconds = (double) n_samples / LMW_VAD_SAMPLE_RATE;
  lmw_vad_state_reset (state);
  for (guint64 offset = 0; offset < n_samples;)
    {
      gsize m = (gsize) MIN ((guint64) VAD_READ_CHUNK, n_samples - offset);
      guint have = probs->len;

      if (!read (user_data, offset, chunk, m, error))
        return NULL;
      g_array_set_size (probs, have + (guint) lmw_vad_feed_max (state, m));
      g_array_set_size (probs, have + (guint) lmw_vad_feed (state, chunk, m,
                                                            &g_array_index (probs, float, have)));
      offset += m;
    }
  if (lmw_vad_flush (state, &last))
    g_array_append_val (probs, last);
  if (lmw_vad_segments ((const float *) probs->data, probs->len,
                        lmw_vad_model_window (lmw_vad_state_model (state)), (size_t) n_samples,
                        params, &segments, &n_segments, &err) != 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "VAD: %s", err.message);
      return NULL;
    }
  for (size_t i = 0; i < n_segments; i++)
    {
      LmdVadPiece piece = { segments[i].start, at, segments[i].end - segments[i].start };

      g_array_append_val (self->pieces, piece);
      kept += piece.length;
      at += piece.length + gap;
    }
  self->n_samples = n_segments > 0 ? (gsize) (at - gap) : 0;
  self->skipped_seconds = (double) ((gint64) n_samples - kept) / LMW_VAD_SAMPLE_RATE;
  self->vad_seconds = (g_get_monotonic_time () - started) / 1e6;
  return g_steal_pointer (&self);
}

gboolean
lmd_vad_cut_read (const LmdVadCut *self, LmdVadCutReader read, gpointer user_data, guint64 offset,
                  float *out, gsize n, GError **error)
{
  gint64 begin = (gint64) offset, end = (gint64) offset + (gint64) n;

  memset (out, 0, n * sizeof (float));
  for (guint i = 0; i < self->pieces->len; i++)
    {
      const LmdVadPiece *p = &g_array_index (self->pieces, LmdVadPiece, i);
      gint64 from = MAX (begin, p->cut_start), to = MIN (end, p->cut_start + p->length);

      if (p->cut_start >= end)
        break;
      if (from >= to)
        continue;
      if (!read (user_data, (guint64) (p->recording_start + (from - p->cut_start)),
                 out + (from - begin), (gsize) (to - from), error))
        return FALSE;
    }
  return TRUE;
}
