/* SPDX-License-Identifier: MIT */
/*
 * lmw-decode-table.c — a batched decoder step driven by a row table, so that a GPU can record
 * the step once per number of rows (a CUDA graph) and replay it.
 *
 * lmw_decode_step (lmw-decode-step.c) passes each sequence's cache pointers, position and
 * token as arguments of its operations, which change at every step.  Here every one-token
 * row (a greedy sequence, or a beam after its prompt) is one lmw_step_row in a table in backend
 * memory, written by ONE upload per step; the operations read the rows from the table:
 *
 *   x = step_embed (table)                         token and positional embedding per row
 *   for each block:
 *     products (q, k, v, out, mlp) with M = Rb     as lmw_decode_step
 *     step_self_attention (table, layer)           one launch: each row appends to its own
 *                                                  cache at its position and attends to it
 *     step_cross_attention (table, layer)          one launch: the rows on one window's K/V
 *                                                  (a request's beams) read it once
 *   logits (Rb, n_vocab) = ln (x) · token_embedding^T
 *   step_pick (table)                              the rows whose search picks greedily get
 *                                                  their next token and its log-probability,
 *                                                  filtered on the device: 8 bytes come back
 *                                                  for such a row instead of its logits
 *   step_topk (table)                              the beams get their beam_size + 1 best
 *                                                  tokens under the same filters: 8 bytes per
 *                                                  candidate come back instead of the logits
 *
 * Rb is the number of rows rounded up to a power of two (at most step_rows), the rows beyond
 * the step's being padding (token -1): the operations of a step of Rb rows then take the same
 * arguments at every step, and ops->graph_run records them once per Rb and replays them.
 */
#include "lmw-state.h"

#include <stdlib.h>
#include <string.h>

void lmw_mlp_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C);
void lmw_matmul_fused (lmw_state *st, float *out, int ldc, const float *inp, int lda,
                       const lmw_weight *w, const float *bias, int M, unsigned flags);

typedef struct {
  lmw_state *st;
  int rows;      /* Rb */
  float *logits; /* (Rb, n_vocab) (backend) */
} table_step;

/* queues the step's operations; their arguments depend only on (st, Rb) */
static void
issue_step (void *user)
{
  const table_step *ts = user;
  lmw_state *st = ts->st;
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, H = m->hp.n_text_head, Tt = m->hp.n_text_ctx;
  int T = m->hp.n_audio_ctx, nv = m->hp.n_vocab, R = ts->rows;
  float *x = st->dec_x;
  ops->step_embed (st->be, x, &m->tok_emb, m->dec_pos, Tt, st->step_table, R, C);
  for (int l = 0; l < m->hp.n_text_layer; l++) {
    const lmw_layer *L = &m->dec[l];
    ops->layernorm (st->be, st->xn, x, L->attn_ln_w, L->attn_ln_b, R, C, 1e-5f);
    ops->matmul (st->be, st->q, C, st->xn, C, &L->attn_q, L->attn_q_b, R);
    ops->matmul (st->be, st->k, C, st->xn, C, &L->attn_k, NULL, R);
    ops->matmul (st->be, st->v, C, st->xn, C, &L->attn_v, L->attn_v_b, R);
    ops->step_self_attention (st->be, st->att, st->q, st->k, st->v, st->step_table,
                              (size_t) l * Tt * C, R, H, C / H);
    lmw_matmul_fused (st, x, C, st->att, C, &L->attn_o, L->attn_o_b, R, LMW_MATMUL_ACCUMULATE);
    ops->layernorm (st->be, st->xn, x, L->cross_ln_w, L->cross_ln_b, R, C, 1e-5f);
    ops->matmul (st->be, st->q, C, st->xn, C, &L->cross_q, L->cross_q_b, R);
    ops->step_cross_attention (st->be, st->att, st->q, st->step_table, (size_t) l * T * C, T, R,
                               H, C / H);
    lmw_matmul_fused (st, x, C, st->att, C, &L->cross_o, L->cross_o_b, R, LMW_MATMUL_ACCUMULATE);
    lmw_mlp_block (st, x, L, R, C);
  }
  ops->layernorm (st->be, st->xn, x, m->dec_ln_w, m->dec_ln_b, R, C, 1e-5f);
  ops->matmul (st->be, ts->logits, nv, st->xn, C, &m->tok_emb, NULL, R);
  if (ops->step_pick != NULL) /* the rows that pick their next token here */
    ops->step_pick (st->be, st->step_picks, ts->logits, nv, st->step_table, R, nv, m->sp.eot,
                    m->sp.timestamp_begin);
  if (ops->step_topk != NULL) /* the beams that choose their candidates here */
    ops->step_topk (st->be, st->step_topk, ts->logits, nv, st->step_table, R, nv, m->sp.eot,
                    m->sp.timestamp_begin);
}

/* whether the step is one the table can run: one-token rows on f16 cross K/V */
static bool
qualifies (const lmw_state *st, const lmw_step_seq *seqs, int n_seqs)
{
  const lmw_backend_ops *ops = st->ops;
  const lmw_hparams *hp = &st->dm->hp;
  if (!st->step_table_on || st->host_memory || ops->version < 6 || ops->step_embed == NULL ||
      ops->step_self_attention == NULL || ops->step_cross_attention == NULL ||
      st->dec_x == NULL || n_seqs < 1 || n_seqs > st->step_rows ||
      hp->n_text_head <= 0 || hp->n_text_state % hp->n_text_head != 0)
    return false;
  for (int i = 0; i < n_seqs; i++) {
    const lmw_step_seq *sq = &seqs[i];
    if (sq->n != 1 || sq->n_past < 0 || sq->n_past >= hp->n_text_ctx || sq->self_k == NULL ||
        sq->self_v == NULL || sq->cross_kh == NULL || sq->cross_vh == NULL ||
        (sq->logits_rows != 0 && sq->logits_rows != 1) ||
        (sq->logits_rows == 1 && sq->logits == NULL) || sq->tokens[0] < 0 ||
        sq->tokens[0] >= hp->n_vocab)
      return false;
  }
  return true;
}

int
lmw_step_table_alloc (lmw_state *st, lmw_error *err)
{
  const lmw_backend_ops *ops = st->ops;
  if (st->step_table == NULL) {
    st->step_table = ops->alloc (st->be, sizeof (lmw_step_row) * (size_t) st->step_rows);
    st->step_table_host = calloc ((size_t) st->step_rows, sizeof (lmw_step_row));
    st->step_picks = ops->alloc (st->be, sizeof (lmw_pick_result) * (size_t) st->step_rows);
    st->step_picks_host = calloc ((size_t) st->step_rows, sizeof (lmw_pick_result));
    size_t n_topk = (size_t) st->step_rows * LMW_PICK_K_MAX;
    st->step_topk = ops->alloc (st->be, sizeof (lmw_pick_result) * n_topk);
    st->step_topk_host = calloc (n_topk, sizeof (lmw_pick_result));
    if (st->step_table == NULL || st->step_table_host == NULL || st->step_picks == NULL ||
        st->step_picks_host == NULL || st->step_topk == NULL || st->step_topk_host == NULL) {
      lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode_step: out of memory for the row table");
      return -1;
    }
  }
  return 0;
}

int
lmw_decode_step_table (lmw_state *st, const lmw_step_seq *seqs, int n_seqs, lmw_error *err)
{
  if (!qualifies (st, seqs, n_seqs))
    return 0;
  const lmw_backend_ops *ops = st->ops;
  int nv = st->dm->hp.n_vocab, R = n_seqs, Rb = 1;
  while (Rb < R)
    Rb *= 2;
  if (Rb > st->step_rows)
    Rb = st->step_rows;
  if (lmw_step_table_alloc (st, err) != 0)
    return -1;
  float *logits = lmw_state_output_buffer (st, NULL, (size_t) Rb * nv);
  if (logits == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode_step: out of backend memory for the logits");
    return -1;
  }
  if (logits != st->step_graph_logits && ops->graph_reset != NULL)
    ops->graph_reset (st->be); /* the records write the buffer that moved */
  st->step_graph_logits = logits;
  lmw_step_row *rows = st->step_table_host;
  /* rows 0 .. n_picks - 1 hold the greedy picks (step_pick); the choices of k > 1 tokens and
   * those with a wanted token (step_topk) n_topk results */
  int n_picks = 0, n_topk = 0, lead = 0;
  for (int r = 0; r < Rb; r++) {
    const lmw_step_seq *sq = &seqs[r < R ? r : 0];
    bool pick = r < R && sq->pick != NULL && sq->picked != NULL;
    bool want = pick && (sq->pick->flags & LMW_PICK_WANT);
    int k = pick && sq->pick->k > 1 ? sq->pick->k : 1;
    bool topk = pick && (k > 1 || want);
    if (pick && (topk ? ops->step_topk == NULL || k > LMW_PICK_K_MAX : ops->step_pick == NULL))
      pick = topk = want = false; /* the search filters the logits itself */
    rows[r] = (lmw_step_row) {
      .token = r < R ? sq->tokens[0] : -1, .pos = r < R ? sq->n_past : 0,
      .self_k = sq->self_k, .self_v = sq->self_v, .cross_k = sq->cross_kh,
      .cross_v = sq->cross_vh, .cross_q8 = sq->cross_q8,
      .pick_suppress = pick ? sq->pick->suppress : NULL,
      .pick_ts_lo = pick ? sq->pick->ts_lo : nv, .pick_flags = pick ? (int32_t) sq->pick->flags : 0,
      .pick_k = topk ? k : 0, .pick_at = topk ? n_topk : 0, .pick_want = want ? sq->pick->want : 0,
    };
    /* a request's beams sit next to each other: up to LMW_STEP_GROUP_MAX rows on the same
     * K/V are served by one read of them (padding rows stand alone) */
    if (r > 0 && r < R && r - lead < LMW_STEP_GROUP_MAX && rows[lead].cross_k == sq->cross_kh &&
        rows[lead].cross_v == sq->cross_vh)
      rows[r].cross_lead = r - lead, st->step_cross_shared++;
    else
      lead = r;
    if (topk)
      n_topk += k + (want ? 1 : 0);
    else if (pick)
      n_picks = r + 1;
  }
  ops->upload (st->be, st->step_table, rows, sizeof (lmw_step_row) * (size_t) Rb);
  table_step ts = { st, Rb, logits };
  int how = 0;
  if (st->step_graphs_on && ops->graph_run != NULL)
    how = ops->graph_run (st->be, Rb, issue_step, &ts);
  else
    issue_step (&ts);
  st->graph_steps[how >= 0 && how <= 2 ? how : 0]++;
  if (n_picks > 0) { /* rows 0 .. n_picks - 1 of the picks in one download */
    ops->download (st->be, st->step_picks_host, st->step_picks,
                   sizeof (lmw_pick_result) * (size_t) n_picks);
    for (int i = 0; i < n_picks; i++)
      if (rows[i].pick_suppress != NULL && rows[i].pick_k == 0) {
        *seqs[i].picked = st->step_picks_host[i];
        st->step_picked++;
      }
  }
  if (n_topk > 0) { /* every beam's candidates in one download */
    ops->download (st->be, st->step_topk_host, st->step_topk,
                   sizeof (lmw_pick_result) * (size_t) n_topk);
    for (int i = 0; i < R; i++)
      if (rows[i].pick_suppress != NULL && rows[i].pick_k > 0) {
        int nr = rows[i].pick_k + ((rows[i].pick_flags & LMW_PICK_WANT) ? 1 : 0);
        memcpy (seqs[i].picked, st->step_topk_host + rows[i].pick_at,
                sizeof (lmw_pick_result) * (size_t) nr);
        st->step_topk_rows++;
        st->step_first_picked += (rows[i].pick_flags & LMW_PICK_WANT) != 0;
      }
  }
  int G = 0;
  for (int i = 0; i < R; i++)
    G = seqs[i].logits_rows > 0 && rows[i].pick_suppress == NULL ? i + 1 : G;
  if (G > 0) { /* rows 0 .. G - 1 in one download */
    float *host = malloc (sizeof (float) * (size_t) G * nv);
    if (host == NULL) {
      lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode_step: out of memory");
      return -1;
    }
    ops->download (st->be, host, logits, sizeof (float) * (size_t) G * nv);
    for (int i = 0; i < G; i++)
      if (seqs[i].logits_rows == 1 && rows[i].pick_suppress == NULL)
        memcpy (seqs[i].logits, host + (size_t) i * nv, sizeof (float) * (size_t) nv);
    free (host);
  } else if (n_picks == 0 && n_topk == 0) {
    ops->sync (st->be);
  }
  return lmw_state_check (st, "lmw_decode_step", err) == 0 ? 1 : -1;
}
