/* SPDX-License-Identifier: MIT */
/*
 * lmd-vad-cut.h — a recording without its silences: the speech segments the VAD found, back
 * to back with LMD_VAD_CUT_GAP_S of zeros between them (read on demand from the recording), and the map from times in that cut
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
  gsize n_samples;        /* samples of the cut audio */
  GArray *pieces;         /* owned: element-type LmdVadPiece, in time order */
  double recording_seconds;
  double vad_seconds;     /* wall time the VAD took */
  double skipped_seconds; /* recording seconds in no segment */
} LmdVadCut;

void lmd_vad_cut_free (LmdVadCut *self);

/* The time in the recording of @seconds in the cut audio (a time inside a gap maps to the end
 * of the segment before it). */
double lmd_vad_cut_to_recording (const LmdVadCut *self, double seconds);
/* Moves every word of @transcript from cut-audio times to recording times and sets its
 * duration to the recording's. */
void lmd_vad_cut_map_transcript (const LmdVadCut *self, LmdTranscript *transcript);

/* Reads @n samples of the recording from @offset on into @out; FALSE with @error set. */
typedef gboolean (*LmdVadCutReader) (gpointer user_data, guint64 offset, float *out, gsize n,
                                     GError **error);

/* Runs @state (reset first) over a recording of @n_samples (16 kHz mono) read through @read,
 * a chunk at a time, so that it never needs to be in memory, and finds its speech segments
 * with @params.  The cut holds only the map; its audio is read back with lmd_vad_cut_read ().
 * (transfer full), or NULL with @error set (LMD_ERROR_INTERNAL, or @read's error). */
LmdVadCut *lmd_vad_cut_new (lmw_vad_state *state, LmdVadCutReader read, gpointer user_data,
                            guint64 n_samples, const lmw_vad_params *params, GError **error);
/* The @n samples of the cut audio from @offset on, read from the recording through @read
 * (zeros between segments).  FALSE with @error set when @read fails. */
gboolean lmd_vad_cut_read (const LmdVadCut *self, LmdVadCutReader read, gpointer user_data,
                           guint64 offset, float *out, gsize n, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdVadCut, lmd_vad_cut_free)

G_END_DECLS
