/* SPDX-License-Identifier: MIT */
/*
 * lmw-decode-pick.c — a greedy decoder step whose next token is chosen where the logits are.
 *
 * On a scheduler's slot, the step runs in the scheduler's batch; when that batch runs from the
 * row table (lmw-decode-table.c) the backend filters the row's logits as the search does and
 * returns the arg-max and its log-probability (ops->step_pick), so 8 bytes come back instead
 * of n_vocab floats.  A beam search's step does the same for its beams
 * (lmw_decode_batch_pick, lmw-decoder.c): each beam's beam_size + 1 best tokens come back
 * (ops->step_topk).  Everywhere else (the CPU backend, a stream of its own, a step the table
 * can't run) the logits come back and the search filters them itself.
 */
#include "lmw-state.h"

int
lmw_decode_pick (lmw_state *st, int token, int n_past, float *logits, const lmw_pick *pick,
                 lmw_pick_result *picked, lmw_error *err)
{
  picked->token = -1;
  if (st->sched == NULL || pick == NULL || st->xattn_cb != NULL)
    return lmw_decode (st, &token, 1, n_past, logits, false, err);
  const lmw_model *m = st->model;
  if (!st->have_audio) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_pick: no audio encoded yet");
    return -1;
  }
  if (n_past < 0 || n_past > st->n_cached || n_past + 1 > m->hp.n_text_ctx || token < 0 ||
      token >= m->hp.n_vocab) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_pick: token %d after %d (cache holds %d)",
                   token, n_past, st->n_cached);
    return -1;
  }
  st->batches[1]++;
  if (lmw_scheduler_decode_pick (st->sched, st, &token, n_past, logits, pick, picked, err) != 0)
    return -1;
  st->n_cached = n_past + 1;
  return 0;
}
