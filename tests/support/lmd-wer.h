/* SPDX-License-Identifier: MIT */
/*
 * lmd-wer.h — word error rate scorer used by tests and benchmarks.
 *
 * Both texts are normalised the same way before scoring: lower-cased, punctuation other than
 * in-word apostrophes removed, sentence markers (<s>, </s>) and a trailing "(utterance-id)"
 * dropped, whitespace collapsed.  Errors are the word-level Levenshtein distance
 * (substitutions + deletions + insertions).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint errors;          /* S + D + I */
  guint substitutions;
  guint deletions;
  guint insertions;
  guint reference_words; /* N */
} LmdWerCounts;

/* Scores @hypothesis against @reference and adds the counts to @counts (so a set can be summed). */
void lmd_wer_accumulate (LmdWerCounts *counts, const char *reference, const char *hypothesis);
/* errors / reference_words, or 0 when there are no reference words */
double lmd_wer_rate (const LmdWerCounts *counts);
/* (transfer full) the normalised word list of @text */
GStrv lmd_wer_normalise (const char *text);

/* Reads a Sphinx-style transcription file ("<s> words </s> (utt-id)" per line) into a table
 * utt-id → normalised reference text.  (transfer full) */
GHashTable *lmd_wer_load_transcription (const char *path, GError **error);

G_END_DECLS
