/* SPDX-License-Identifier: MIT */
/*
 * lmw-align.h — token timing from the decoder's cross-attention (internal).
 */
#ifndef LMW_ALIGN_H
#define LMW_ALIGN_H

#include "lmw-state.h"

/* Times the text tokens text[0..n_text) of the window whose encoder output is in st: runs the
 * decoder once over <sot sequence> <|notimestamps|> text <|endoftext|> (which overwrites the
 * self-attention cache), takes the cross-attention weights of every head in the second half
 * of the decoder layers over the first content_frames / 2 audio positions, softmax, each
 * position normalised over the tokens, median-filtered (width 7) along time, averaged over
 * the heads, then aligns tokens to time with dynamic time warping.  times[0..n_text] gets
 * milliseconds from the window start: token i spans times[i] .. times[i + 1].
 * Returns 0, or -1 (err filled) when the sequence does not fit the text context. */
int lmw_align_tokens (lmw_state *st, const int *sot_seq, int n_sot, const int *text, int n_text,
                      int content_frames, int64_t *times, lmw_error *err);

/* Dynamic time warping over cost (N, M) from (0, 0) to (N - 1, M - 1), steps (1, 1), (1, 0)
 * and (0, 1); starts[i] gets the first column of row i on the cheapest path.  0, or -1 when
 * out of memory. */
int lmw_dtw_starts (const float *cost, int N, int M, int *starts);

#endif /* LMW_ALIGN_H */
