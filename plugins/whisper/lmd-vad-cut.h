/* SPDX-License-Identifier: MIT */
/*
 * lmd-vad-cut.h — a recording without its silences: the speech segments the VAD found, back
 * to back with LMD_VAD_CUT_GAP_S of zeros between them, and the map from times in that cut
 * audio back to times in the recording (so words keep their absolute times).
 */
#pragma once

#include <glib.h>

#include "lmd-transcript.h"
#include "lmw-vad.h"

G_BEGIN_DECLS

/* Zeros between two segments in the cut audio: the decoder sees a pause, not a splice. */
#define LMD_VAD_CUT_GAP_S 0.1

typedef struct {
  gint64 recording_start; /* first sample in the recording */
  gint64 cut_start;       /* first sample in the cut audio */
  gint64 length;          /* samples */
} LmdVadPiece;

typedef struct {
  float *pcm;             /* owned: the cut audio (NULL when no speech) */
  gsize n_samples;
  GArray *pieces;         /* owned: element-type LmdVadPiece, in time order */
  double recording_seconds;
  double vad_seconds;     /* wall time the VAD took */
  double skipped_seconds; /* recording seconds in no segment */
} LmdVadCut;

/* Runs @state (reset first) over @pcm (16 kHz mono) and cuts out the speech segments found
 * with @params.  (transfer full), or NULL with @error set (LMD_ERROR_INTERNAL). */
LmdVadCut *lmd_vad_cut_new (lmw_vad_state *state, const float *pcm, gsize n_samples,
                            const lmw_vad_params *params, GError **error);
void lmd_vad_cut_free (LmdVadCut *self);

/* The time in the recording of @seconds in the cut audio (a time inside a gap maps to the end
 * of the segment before it). */
double lmd_vad_cut_to_recording (const LmdVadCut *self, double seconds);
/* Moves every word of @transcript from cut-audio times to recording times and sets its
 * duration to the recording's. */
void lmd_vad_cut_map_transcript (const LmdVadCut *self, LmdTranscript *transcript);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdVadCut, lmd_vad_cut_free)

G_END_DECLS
