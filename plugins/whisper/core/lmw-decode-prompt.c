/* SPDX-License-Identifier: MIT */
/*
 * lmw-decode-prompt.c — a window's prompt whose first choices are made where the logits are.
 *
 * The step after a window's prompt gives two things: the no-speech probability (the softmax of
 * <|nospeech|> at the <|startoftranscript|> row, before any filter) and the first token of the
 * window (the greedy choice, or a beam search's beam_size + 1 candidates, under the filters of
 * a window's first token: no text with timestamps, the first timestamp at most 1.00 s, no
 * blank).  On a scheduler's slot whose backend has step_topk, the prompt's rows run in the
 * scheduler's step as usual and then the backend makes both choices on its logits
 * (lmw_decode_pick_rows): a few numbers come back instead of the prompt's rows of n_vocab
 * logits.  Everywhere else the logits come back and the search filters them itself.
 */
#include "lmw-state.h"

#include <stdlib.h>
#include <string.h>

int
lmw_decode_prompt (lmw_state *st, const int *tokens, int n, int n_past, float *logits,
                   const lmw_pick *pick, lmw_pick_result *picked, lmw_error *err)
{
  const lmw_model *m = st->model;
  if (st->sched == NULL || pick == NULL || picked == NULL || st->xattn_cb != NULL ||
      st->host_memory)
    return lmw_decode (st, tokens, n, n_past, logits, true, err);
  if (!st->have_audio) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_prompt: no audio encoded yet");
    return -1;
  }
  if (n < 1 || n_past < 0 || n_past > st->n_cached || n > m->hp.n_text_ctx - n_past) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_prompt: %d tokens after %d (cache holds %d)",
                   n, n_past, st->n_cached);
    return -1;
  }
  for (int i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
      lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_prompt: token %d out of range", tokens[i]);
      return -1;
    }
  st->batches[1]++;
  if (lmw_scheduler_decode_prompt (st->sched, st, tokens, n, n_past, logits, pick, picked,
                                   err) != 0)
    return -1;
  st->n_cached = n_past + n;
  return 0;
}

/* the results of a choice: k (greedy: 1) and the wanted token's */
static int
n_results (const lmw_pick *k)
{
  return (k->k > 1 ? k->k : 1) + ((k->flags & LMW_PICK_WANT) ? 1 : 0);
}

int
lmw_decode_pick_rows (lmw_state *st, const lmw_step_seq *seqs, int n_seqs, const float *logits,
                      int G, bool *served, lmw_error *err)
{
  const lmw_backend_ops *ops = st->ops;
  const lmw_model *m = st->dm;
  int nv = m->hp.n_vocab, n_served = 0;
  for (int i = 0; i < n_seqs; i++) {
    const lmw_step_seq *sq = &seqs[i];
    served[i] = !st->host_memory && ops->version >= 8 && ops->step_topk != NULL &&
                sq->pick != NULL && sq->picked != NULL && sq->logits_rows == sq->n &&
                sq->pick->k <= LMW_PICK_K_MAX;
    n_served += served[i];
  }
  if (n_served == 0)
    return 0;
  if (G > st->step_rows || lmw_step_table_alloc (st, err) != 0)
    return G > st->step_rows ? 0 : -1;
  /* a table over the G gathered rows: the first row of a served sequence gives the wanted
   * token, its last row the choice (both the same row for one row) */
  lmw_step_row *rows = st->step_table_host;
  for (int g = 0; g < G; g++)
    rows[g] = (lmw_step_row) { .token = -1, .pick_ts_lo = nv };
  int g = 0, at = 0;
  for (int i = 0; i < n_seqs; i++) {
    const lmw_step_seq *sq = &seqs[i];
    if (served[i]) {
      const lmw_pick *k = sq->pick;
      bool want = (k->flags & LMW_PICK_WANT) != 0;
      int kk = k->k > 1 ? k->k : 1;
      lmw_step_row *last = &rows[g + sq->n - 1];
      *last = (lmw_step_row) { .token = 0, .pick_suppress = k->suppress, .pick_ts_lo = k->ts_lo,
                               .pick_flags = (int32_t) (k->flags & ~LMW_PICK_WANT),
                               .pick_k = kk, .pick_at = at };
      if (want && sq->n == 1) { /* one row: the choice and the wanted token */
        last->pick_flags |= (int32_t) LMW_PICK_WANT;
        last->pick_want = k->want;
      } else if (want) {
        rows[g] = (lmw_step_row) { .token = 0, .pick_suppress = k->suppress, .pick_ts_lo = nv,
                                   .pick_flags = (int32_t) LMW_PICK_WANT, .pick_at = at + kk,
                                   .pick_want = k->want };
      }
      at += n_results (k);
    }
    g += sq->logits_rows;
  }
  ops->upload (st->be, st->step_table, rows, sizeof (lmw_step_row) * (size_t) G);
  ops->step_topk (st->be, st->step_topk, logits, nv, st->step_table, G, nv, m->sp.eot,
                  m->sp.timestamp_begin);
  ops->download (st->be, st->step_topk_host, st->step_topk, sizeof (lmw_pick_result) * (size_t) at);
  at = 0;
  for (int i = 0; i < n_seqs; i++)
    if (served[i]) {
      int nr = n_results (seqs[i].pick);
      memcpy (seqs[i].picked, st->step_topk_host + at, sizeof (lmw_pick_result) * (size_t) nr);
      at += nr;
      st->step_topk_rows++;
      st->step_first_picked += (seqs[i].pick->flags & LMW_PICK_WANT) != 0;
    }
  return lmw_state_check (st, "lmw_decode_pick_rows", err) == 0 ? n_served : -1;
}
