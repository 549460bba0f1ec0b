/* SPDX-License-Identifier: MIT */
/*
 * lmw-search.h — decoding one 30-second window into tokens (internal): the logit filters, then
 * greedy, sampling (best_of candidates at a temperature) or beam search over the decoder.
 */
#ifndef LMW_SEARCH_H
#define LMW_SEARCH_H

#include "lmw-state.h"

/* One decoded token sequence (after the prompt, end-of-text excluded). */
typedef struct {
  int *tokens;      /* (cap) */
  float *logprobs;  /* (cap): log-probability of each token under the filtered distribution */
  int n;
  double sum_logprob; /* of the tokens, plus end-of-text's when finished */
  bool finished;      /* ended with end-of-text */
} lmw_seq;

typedef struct {
  lmw_state *st;
  const lmw_model *m;
  const lmw_params *p;
  int max_tokens;       /* tokens per window */
  int cap;              /* capacity of every lmw_seq: max_tokens + 1 */
  bool *non_speech;     /* (n_vocab) */
  float *logits;        /* (n_vocab) */
  float *logprobs;      /* (n_vocab) */
  float *first_logits;  /* (n_vocab): logits after the prompt, set by the caller */
  int n_prompt;         /* positions of the prompt in the cache */
  uint64_t rng;         /* sampling state (splitmix64), set per window by the caller */
  /* beam search: per-beam self-attention caches, allocated on first use */
  float *beam_k[LMW_MAX_BEAM];
  float *beam_v[LMW_MAX_BEAM];
  int n_beam_bufs;
  int n_pooled;          /* the first n_pooled of them are lent by a scheduler (st->beam_pool_k) */
  bool beam_sequential;  /* run the beams of a step one at a time through lmw_decode (the
                          * reference for the batched step; false in normal decoding) */
  size_t kv_copy_bytes;
  double kv_copy_ms;     /* time spent copying them */
  int n_decoded;         /* tokens run through the decoder */
  /* greedy steps on a scheduler's slot pick their token on the backend (lmw_decode_pick):
   * the filters that never change within a window, as a bitset in the slot's backend memory
   * (NULL: the search filters the logits itself) */
  uint32_t *pick_suppress;
  int n_picked;          /* tokens picked on the backend */
  /* the window's first token chosen on the backend with the prompt's step (lmw_decode_prompt,
   * lmw_search_first_pick): its filters as a bitset (NULL: the backend can't), and the choice
   * the caller received — first_pick_k of them (1: greedy; beam_size + 1: a beam search's
   * candidates) — used at temperature 0 instead of first_logits; 0: first_logits holds them */
  uint32_t *pick_first;
  lmw_pick_result first_pick[LMW_PICK_K_MAX + 1];
  int first_pick_k;
  /* greedy drafting: tokens the window is expected to begin with (set by the caller for one
   * window, nullable), run through the decoder LMW_DRAFT_ROWS at a time in multi-row steps
   * and kept while greedy decoding chooses them (see decode_one) */
  const int *draft;
  int n_draft;
  float *draft_logits;   /* (LMW_DRAFT_ROWS, n_vocab), allocated on first use */
  int n_draft_kept;      /* tokens whose decoder step a multi-row step made */
} lmw_search;

#define LMW_DRAFT_ROWS 8

int lmw_search_init (lmw_search *s, lmw_state *st, const lmw_params *p, lmw_error *err);
void lmw_search_clear (lmw_search *s);
lmw_seq *lmw_seq_new (int cap);
void lmw_seq_free (lmw_seq *q);
void lmw_seq_copy (lmw_seq *dst, const lmw_seq *src);
void lmw_log_softmax (float *out, const float *x, int n);

/* The choice of a window's first token that lmw_search_window at temperature 0 uses (greedy,
 * or beam_size + 1 candidates for a beam search), with LMW_PICK_WANT of token want (the
 * no-speech probability), for lmw_decode_prompt; .suppress NULL when the backend can't. */
lmw_pick lmw_search_first_pick (const lmw_search *s, int want);

/* Decodes the window whose prompt is in the cache (s->n_prompt positions, s->first_logits)
 * at temperature t: beam search when t == 0 and beam_size > 1, greedy when t == 0, else
 * best_of sampled candidates; the best by sum log-prob / length goes to out. */
int lmw_search_window (lmw_search *s, float temperature, lmw_seq *out, lmw_error *err);

#endif /* LMW_SEARCH_H */
