/* SPDX-License-Identifier: MIT */
/*
 * lmw-agreement.h — the local-agreement policy of live transcription (prefix lmw_agreement_),
 * plain C11, no GLib.
 *
 * An utterance is decoded again and again as its audio grows; each decoding is a hypothesis,
 * a list of words.  A word is committed once two consecutive hypotheses agree on it and on
 * every word before it, and once committed it stays: the committed words only ever grow, so
 * a client shown them never sees text taken back.  A hypothesis that disagrees with the
 * committed words commits nothing (neither does the next one, compared with it); the
 * committed words are kept as they are.
 *
 * The words are compared as bytes: the caller decides what a word is (whitespace-separated
 * text as the model wrote it, punctuation included).
 */
#ifndef LMW_AGREEMENT_H
#define LMW_AGREEMENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmw_agreement lmw_agreement;

/* (transfer full) (nullable: NULL when out of memory) */
lmw_agreement *lmw_agreement_new (void);
void lmw_agreement_free (lmw_agreement *agreement);
/* Forgets the hypotheses and the committed words (a new utterance). */
void lmw_agreement_reset (lmw_agreement *agreement);

/* Adds the next hypothesis, n_words words (copied).  Returns the number of words it
 * committed (0 or more), or -1 when out of memory (the state is then as before the call). */
int lmw_agreement_push (lmw_agreement *agreement, const char *const *words, size_t n_words);
/* Same, for UTF-8 text split at ASCII whitespace. */
int lmw_agreement_push_text (lmw_agreement *agreement, const char *text);

/* The committed words.  (transfer none: valid until the next push or reset) */
const char *const *lmw_agreement_committed (const lmw_agreement *agreement, size_t *n_words);
/* The committed words joined by single spaces ("" when none).  (transfer full, free ())
 * (nullable: NULL when out of memory) */
char *lmw_agreement_text (const lmw_agreement *agreement);
/* Hypotheses pushed since creation or the last reset. */
size_t lmw_agreement_hypotheses (const lmw_agreement *agreement);

#ifdef __cplusplus
}
#endif

#endif /* LMW_AGREEMENT_H */
