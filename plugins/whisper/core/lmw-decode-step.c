/* SPDX-License-Identifier: MIT */
/*
 * lmw-decode-step.c — one decoder step over the rows of many sequences (continuous batching).
 *
 * The scheduler (lmw-scheduler.c) gathers, between two steps, every sequence that is ready:
 * greedy requests (one row), the live beams of beam-search requests (one row each, sharing
 * their window's cross K/V) and prompts (several rows of one sequence).  Stacked, they form
 * x (R, C), and the decoder runs as lmw_decode does, with these differences:
 *
 *   x = token_embedding[tokens] + pos[each row's own position]
 *   for each block:
 *     products (q, k, v, out, mlp) with M = R: each weight matrix read once per step
 *     self-attention: each sequence's new K/V appended to its own cache, then its rows
 *                     attend to that cache (causal from its n_past)
 *     cross-attention: one call per run of neighbouring sequences with the same K/V, so a
 *                      request's beams read its K/V once
 *   logits = ln (x[rows wanted]) · token_embedding^T, gathered into one product.
 */
#include "lmw-state.h"

#include <stdlib.h>
#include <string.h>

void lmw_mlp_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C);
void lmw_matmul_fused (lmw_state *st, float *out, int ldc, const float *inp, int lda,
                       const lmw_weight *w, const float *bias, int M, unsigned flags);

/* x (R, C) += self-attention of every sequence on its own cache */
static void
step_self_attention (lmw_state *st, float *x, const lmw_layer *L, int layer, const lmw_step_seq *seqs,
                     int n_seqs, int R)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, H = m->hp.n_text_head, Tt = m->hp.n_text_ctx;
  size_t lay = (size_t) layer * Tt * C;
  ops->layernorm (st->be, st->xn, x, L->attn_ln_w, L->attn_ln_b, R, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->attn_q, L->attn_q_b, R);
  ops->matmul (st->be, st->k, C, st->xn, C, &L->attn_k, NULL, R);
  ops->matmul (st->be, st->v, C, st->xn, C, &L->attn_v, L->attn_v_b, R);
  int row = 0;
  for (int i = 0; i < n_seqs; i++) {
    const lmw_step_seq *sq = &seqs[i];
    float *kc = sq->self_k + lay, *vc = sq->self_v + lay;
    size_t at = (size_t) row * C;
    lmw_state_copy_floats (st, kc + (size_t) sq->n_past * C, st->k + at, (size_t) sq->n * C);
    lmw_state_copy_floats (st, vc + (size_t) sq->n_past * C, st->v + at, (size_t) sq->n * C);
    ops->attention (st->be, st->att + at, C, st->q + at, C, kc, C, vc, C, sq->n,
                    sq->n_past + sq->n, H, C / H, sq->n_past);
    row += sq->n;
  }
  lmw_matmul_fused (st, x, C, st->att, C, &L->attn_o, L->attn_o_b, R, LMW_MATMUL_ACCUMULATE);
}

static bool
same_cross (const lmw_step_seq *a, const lmw_step_seq *b)
{
  return a->cross_k == b->cross_k && a->cross_v == b->cross_v && a->cross_kh == b->cross_kh &&
         a->cross_vh == b->cross_vh;
}

/* x (R, C) += cross-attention, one backend call per run of sequences sharing their K/V */
static void
step_cross_attention (lmw_state *st, float *x, const lmw_layer *L, int layer,
                      const lmw_step_seq *seqs, int n_seqs, int R)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, H = m->hp.n_text_head, T = m->hp.n_audio_ctx;
  size_t lay = (size_t) layer * T * C;
  ops->layernorm (st->be, st->xn, x, L->cross_ln_w, L->cross_ln_b, R, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->cross_q, L->cross_q_b, R);
  int row = 0;
  for (int i = 0; i < n_seqs;) {
    int rows = 0, j = i;
    while (j < n_seqs && same_cross (&seqs[i], &seqs[j]))
      rows += seqs[j++].n;
    size_t at = (size_t) row * C;
    if (seqs[i].cross_vh != NULL)
      lmw_state_cross_kv_attend (st, seqs[i].cross_q8, st->att + at, st->q + at,
                                 seqs[i].cross_kh, seqs[i].cross_vh, lay, rows, T, H, C / H);
    else
      ops->attention (st->be, st->att + at, C, st->q + at, C, seqs[i].cross_k + lay, C,
                      seqs[i].cross_v + lay, C, rows, T, H, C / H, -1);
    row += rows;
    i = j;
  }
  lmw_matmul_fused (st, x, C, st->att, C, &L->cross_o, L->cross_o_b, R, LMW_MATMUL_ACCUMULATE);
}

int
lmw_decode_step (lmw_state *st, const lmw_step_seq *seqs, int n_seqs, lmw_error *err)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, nv = m->hp.n_vocab, Tt = m->hp.n_text_ctx;
  int R = 0, G = 0;
  if (st->dec_x == NULL || n_seqs < 1) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_step: no sequences, or a state without scratch");
    return -1;
  }
  for (int i = 0; i < n_seqs; i++) {
    const lmw_step_seq *sq = &seqs[i];
    if (sq->n < 1 || sq->n_past < 0 || sq->n > Tt - sq->n_past || sq->self_k == NULL ||
        sq->self_v == NULL || (sq->cross_vh == NULL && sq->cross_v == NULL) ||
        (sq->logits_rows != 0 && sq->logits_rows != 1 && sq->logits_rows != sq->n) ||
        (sq->logits_rows > 0 && sq->logits == NULL)) {
      lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_step: sequence %d is malformed", i);
      return -1;
    }
    for (int t = 0; t < sq->n; t++)
      if (sq->tokens[t] < 0 || sq->tokens[t] >= nv) {
        lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_step: token %d out of range", sq->tokens[t]);
        return -1;
      }
    R += sq->n;
    G += sq->logits_rows;
  }
  int table = lmw_decode_step_table (st, seqs, n_seqs, err); /* one-token rows: lmw-decode-table.c */
  if (table != 0)
    return table > 0 ? 0 : -1;
  if (R > st->step_rows) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_step: %d rows, the scratch holds %d", R,
                   st->step_rows);
    return -1;
  }
  int *tokens = malloc (sizeof (int) * (size_t) R);
  float *host = G > 0 ? malloc (sizeof (float) * (size_t) G * nv) : NULL;
  if (tokens == NULL || (G > 0 && host == NULL)) {
    free (tokens);
    free (host);
    lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode_step: out of memory");
    return -1;
  }
  int row = 0;
  for (int i = 0; i < n_seqs; i++) {
    memcpy (tokens + row, seqs[i].tokens, sizeof (int) * (size_t) seqs[i].n);
    row += seqs[i].n;
  }
  float *x = st->dec_x; /* (R, C) */
  ops->get_rows (st->be, x, &m->tok_emb, tokens, R);
  row = 0;
  for (int i = 0; i < n_seqs; i++) {
    ops->add (st->be, x + (size_t) row * C, m->dec_pos + (size_t) seqs[i].n_past * C,
              (size_t) seqs[i].n * C);
    row += seqs[i].n;
  }
  for (int l = 0; l < m->hp.n_text_layer; l++) {
    const lmw_layer *L = &m->dec[l];
    step_self_attention (st, x, L, l, seqs, n_seqs, R);
    step_cross_attention (st, x, L, l, seqs, n_seqs, R);
    lmw_mlp_block (st, x, L, R, C);
  }
  int rc = 0;
  if (G > 0) {
    /* the rows whose logits are wanted, gathered into st->att (G <= R rows) */
    int g = 0;
    row = 0;
    for (int i = 0; i < n_seqs; i++) {
      const lmw_step_seq *sq = &seqs[i];
      int first = row + sq->n - sq->logits_rows;
      lmw_state_copy_floats (st, st->att + (size_t) g * C, x + (size_t) first * C,
                             (size_t) sq->logits_rows * C);
      g += sq->logits_rows;
      row += sq->n;
    }
    float *out = lmw_state_output_buffer (st, host, (size_t) G * nv);
    bool *served = calloc ((size_t) n_seqs, sizeof (bool));
    if (out == NULL || served == NULL) {
      lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode_step: out of backend memory for the logits");
      rc = -1;
    } else {
      ops->layernorm (st->be, st->xn, st->att, m->dec_ln_w, m->dec_ln_b, G, C, 1e-5f);
      ops->matmul (st->be, out, nv, st->xn, C, &m->tok_emb, NULL, G);
      /* the sequences that choose on the backend (lmw-decode-prompt.c) need no logits back:
       * only rows 0 .. Gd - 1 come back, those of the last sequence that still needs them */
      int n_served = out != host ? lmw_decode_pick_rows (st, seqs, n_seqs, out, G, served, err) : 0;
      int Gd = 0;
      g = 0;
      for (int i = 0; i < n_seqs; i++) {
        g += seqs[i].logits_rows;
        Gd = n_served > 0 && served[i] ? Gd : g;
      }
      if (n_served < 0)
        rc = -1;
      else if (Gd > 0)
        lmw_state_output_done (st, host, out, (size_t) Gd * nv);
      g = 0;
      for (int i = 0; rc == 0 && i < n_seqs; i++) {
        if (seqs[i].logits_rows > 0 && !(n_served > 0 && served[i])) /* logits NULL at 0 */
          memcpy (seqs[i].logits, host + (size_t) g * nv,
                  sizeof (float) * (size_t) seqs[i].logits_rows * nv);
        g += seqs[i].logits_rows;
      }
    }
    free (served);
  } else {
    ops->sync (st->be);
  }
  free (tokens);
  free (host);
  if (rc != 0)
    return rc;
  return lmw_state_check (st, "lmw_decode_step", err);
}
