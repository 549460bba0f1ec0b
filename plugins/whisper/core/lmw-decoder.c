/* SPDX-License-Identifier: MIT */
/*
 * lmw-decoder.c — the text decoder with a self-attention K/V cache, one function per layer:
 *
 *   x = token_embedding[tokens] + pos[n_past .. n_past + n)
 *   for each block (pre-LN):
 *     x = x + self-attention (ln x)   causal; new K/V appended to the cache at n_past
 *     x = x + cross-attention (ln x)  K/V of the encoder output, computed once per window
 *     x = x + mlp (ln x)
 *   logits = ln (x) · token_embedding^T
 *
 * Running n tokens at once or one at a time gives the same logits: the cache holds exactly
 * what a full recomputation would produce for the earlier positions.
 *
 * lmw_decode_batch runs B independent rows (the live beams of a beam-search step), each one
 * token at the same position with its own cache: the products run once with M = B rows, so
 * every weight matrix is read once per step instead of once per beam; only the self-attention
 * (each row against its own cache) runs row by row.
 */
#include "lmw-state.h"

#include <stdlib.h>
#include <string.h>

void lmw_mlp_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C);
void lmw_matmul_fused (lmw_state *st, float *out, int ldc, const float *inp, int lda,
                       const lmw_weight *w, const float *bias, int M, unsigned flags);

/* x (n, C) += causal self-attention of x at positions n_past .. n_past + n, cache extended */
static void
decoder_self_attention (lmw_state *st, float *x, const lmw_layer *L, int layer, int n, int n_past)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, H = m->hp.n_text_head, Tt = m->hp.n_text_ctx;
  float *kc = st->self_k + (size_t) layer * Tt * C; /* (Tt, C) */
  float *vc = st->self_v + (size_t) layer * Tt * C;
  ops->layernorm (st->be, st->xn, x, L->attn_ln_w, L->attn_ln_b, n, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->attn_q, L->attn_q_b, n);
  ops->matmul (st->be, kc + (size_t) n_past * C, C, st->xn, C, &L->attn_k, NULL, n);
  ops->matmul (st->be, vc + (size_t) n_past * C, C, st->xn, C, &L->attn_v, L->attn_v_b, n);
  ops->attention (st->be, st->att, C, st->q, C, kc, C, vc, C, n, n_past + n, H, C / H, n_past);
  lmw_matmul_fused (st, x, C, st->att, C, &L->attn_o, L->attn_o_b, n, LMW_MATMUL_ACCUMULATE);
}

/* x (B, C) += self-attention of B rows, row b one token at position n_past with its own
 * cache cache_k[b] / cache_v[b] (n_text_layer, Tt, C), which its new K/V extend */
static void
decoder_self_attention_batch (lmw_state *st, float *x, const lmw_layer *L, int layer, int B,
                              int n_past, float *const *cache_k, float *const *cache_v)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, H = m->hp.n_text_head, Tt = m->hp.n_text_ctx;
  size_t lay = (size_t) layer * Tt * C;
  ops->layernorm (st->be, st->xn, x, L->attn_ln_w, L->attn_ln_b, B, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->attn_q, L->attn_q_b, B);
  ops->matmul (st->be, st->k, C, st->xn, C, &L->attn_k, NULL, B);
  ops->matmul (st->be, st->v, C, st->xn, C, &L->attn_v, L->attn_v_b, B);
  for (int b = 0; b < B; b++) {
    float *kc = cache_k[b] + lay, *vc = cache_v[b] + lay;
    lmw_state_copy_floats (st, kc + (size_t) n_past * C, st->k + (size_t) b * C, (size_t) C);
    lmw_state_copy_floats (st, vc + (size_t) n_past * C, st->v + (size_t) b * C, (size_t) C);
    ops->attention (st->be, st->att + (size_t) b * C, C, st->q + (size_t) b * C, C, kc, C, vc, C,
                    1, n_past + 1, H, C / H, n_past);
  }
  lmw_matmul_fused (st, x, C, st->att, C, &L->attn_o, L->attn_o_b, B, LMW_MATMUL_ACCUMULATE);
}

/* hands the alignment callback this layer's queries st->q (n, C) and the window's keys */
static void
report_cross_attention (lmw_state *st, int layer, int n)
{
  const lmw_hparams *hp = &st->model->hp;
  int C = hp->n_text_state, H = hp->n_text_head, T = hp->n_audio_ctx, Tt = hp->n_text_ctx;
  const float *kx = st->cross_k + (size_t) layer * T * C, *q = st->q;
  if (!st->host_memory) {
    if (st->xattn_host == NULL)
      st->xattn_host = malloc (sizeof (float) * (size_t) (T + Tt) * C);
    if (st->xattn_host == NULL)
      return; /* no alignment weights: word times fall back to the tokens' */
    st->ops->download (st->be, st->xattn_host, kx, sizeof (float) * (size_t) T * C);
    st->ops->download (st->be, st->xattn_host + (size_t) T * C, q, sizeof (float) * (size_t) n * C);
    kx = st->xattn_host;
    q = st->xattn_host + (size_t) T * C;
  }
  st->xattn_cb (st->xattn_user_data, layer, q, n, kx, T, C, H);
}

/* x (n, C) += cross-attention of x on the encoder output of this window; the alignment
 * callback sees the queries when `report` */
static void
decoder_cross_attention (lmw_state *st, float *x, const lmw_layer *L, int layer, int n,
                         bool report)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state, H = m->hp.n_text_head, T = m->hp.n_audio_ctx;
  size_t at = (size_t) layer * T * C;
  ops->layernorm (st->be, st->xn, x, L->cross_ln_w, L->cross_ln_b, n, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->cross_q, L->cross_q_b, n);
  if (report && st->xattn_cb != NULL)
    report_cross_attention (st, layer, n);
  if (st->cross_vh != NULL) /* f16 or int8 K/V, read once for all n rows */
    lmw_state_cross_kv_attend (st, st->cross_q8, st->att, st->q, st->cross_kh, st->cross_vh, at,
                               n, T, H, C / H);
  else
    ops->attention (st->be, st->att, C, st->q, C, st->cross_k + at, C, st->cross_v + at, C, n,
                    T, H, C / H, -1);
  lmw_matmul_fused (st, x, C, st->att, C, &L->cross_o, L->cross_o_b, n, LMW_MATMUL_ACCUMULATE);
}

int
lmw_decode (lmw_state *st, const int *tokens, int n_tokens, int n_past, float *logits,
            bool all_logits, lmw_error *err)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state;
  if (!st->have_audio) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode: no audio encoded yet");
    return -1;
  }
  if (n_tokens < 1 || n_past < 0 || n_past > st->n_cached || n_tokens > m->hp.n_text_ctx - n_past) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode: %d tokens after %d (cache holds %d, context %d)",
                   n_tokens, n_past, st->n_cached, m->hp.n_text_ctx);
    return -1;
  }
  for (int i = 0; i < n_tokens; i++)
    if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
      lmw_set_error (err, LMW_ERR_ARG, "lmw_decode: token %d out of range", tokens[i]);
      return -1;
    }
  st->batches[1]++;
  if (st->sched != NULL) { /* a slot: one sequence of the scheduler's next step */
    if (lmw_scheduler_decode (st->sched, st, tokens, n_tokens, n_past, NULL, NULL, logits,
                              all_logits, err) != 0)
      return -1;
    st->n_cached = n_past + n_tokens;
    return 0;
  }
  float *x = st->dec_x; /* (n, C) */
  ops->get_rows (st->be, x, &m->tok_emb, tokens, n_tokens);
  ops->add (st->be, x, m->dec_pos + (size_t) n_past * C, (size_t) n_tokens * C);
  for (int l = 0; l < m->hp.n_text_layer; l++) {
    const lmw_layer *L = &m->dec[l];
    decoder_self_attention (st, x, L, l, n_tokens, n_past);
    decoder_cross_attention (st, x, L, l, n_tokens, true);
    lmw_mlp_block (st, x, L, n_tokens, C);
  }
  st->n_cached = n_past + n_tokens;
  if (logits == NULL)
    return lmw_state_check (st, "lmw_decode", err);
  const float *xl = all_logits ? x : x + (size_t) (n_tokens - 1) * C;
  int rows = all_logits ? n_tokens : 1;
  size_t n_out = (size_t) rows * m->hp.n_vocab;
  float *out = lmw_state_output_buffer (st, logits, n_out);
  if (out == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode: out of backend memory for the logits");
    return -1;
  }
  ops->layernorm (st->be, st->xn, xl, m->dec_ln_w, m->dec_ln_b, rows, C, 1e-5f);
  ops->matmul (st->be, out, m->hp.n_vocab, st->xn, C, &m->tok_emb, NULL, rows);
  lmw_state_output_done (st, logits, out, n_out);
  return lmw_state_check (st, "lmw_decode", err);
}

int
lmw_decode_batch (lmw_state *st, const int *tokens, int B, int n_past, float *const *cache_k,
                  float *const *cache_v, float *logits, lmw_error *err)
{
  return lmw_decode_batch_pick (st, tokens, B, n_past, cache_k, cache_v, logits, NULL, NULL, err);
}

int
lmw_decode_batch_pick (lmw_state *st, const int *tokens, int B, int n_past, float *const *cache_k,
                       float *const *cache_v, float *logits, const lmw_pick *picks,
                       lmw_pick_result *picked, lmw_error *err)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int C = m->hp.n_text_state;
  if (!st->have_audio) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_batch: no audio encoded yet");
    return -1;
  }
  if (B < 1 || B > LMW_MAX_BEAM || n_past < 0 || n_past >= m->hp.n_text_ctx || tokens == NULL ||
      cache_k == NULL || cache_v == NULL || logits == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_batch: %d rows at position %d (at most %d rows, "
                   "context %d)", B, n_past, LMW_MAX_BEAM, m->hp.n_text_ctx);
    return -1;
  }
  for (int b = 0; b < B; b++) {
    if (tokens[b] < 0 || tokens[b] >= m->hp.n_vocab) {
      lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_batch: token %d of row %d out of range",
                     tokens[b], b);
      return -1;
    }
    if (cache_k[b] == NULL || cache_v[b] == NULL) {
      lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_batch: row %d has no cache", b);
      return -1;
    }
    for (int c = 0; c < b; c++) /* each row writes its new K/V into its own cache */
      if (cache_k[c] == cache_k[b] || cache_v[c] == cache_v[b]) {
        lmw_set_error (err, LMW_ERR_ARG, "lmw_decode_batch: rows %d and %d share a cache", c, b);
        return -1;
      }
  }
  st->batches[B]++;
  if (st->sched != NULL) /* a slot: B sequences of the scheduler's next step */
    return lmw_scheduler_decode_beams (st->sched, st, tokens, B, n_past, cache_k, cache_v, logits,
                                       picked != NULL ? picks : NULL, picked, err);
  float *x = st->dec_x; /* (B, C) */
  ops->get_rows (st->be, x, &m->tok_emb, tokens, B);
  for (int b = 0; b < B; b++)
    ops->add (st->be, x + (size_t) b * C, m->dec_pos + (size_t) n_past * C, (size_t) C);
  for (int l = 0; l < m->hp.n_text_layer; l++) {
    const lmw_layer *L = &m->dec[l];
    decoder_self_attention_batch (st, x, L, l, B, n_past, cache_k, cache_v);
    decoder_cross_attention (st, x, L, l, B, false);
    lmw_mlp_block (st, x, L, B, C);
  }
  size_t n_out = (size_t) B * m->hp.n_vocab;
  float *out = lmw_state_output_buffer (st, logits, n_out);
  if (out == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "lmw_decode_batch: out of backend memory for the logits");
    return -1;
  }
  ops->layernorm (st->be, st->xn, x, m->dec_ln_w, m->dec_ln_b, B, C, 1e-5f);
  ops->matmul (st->be, out, m->hp.n_vocab, st->xn, C, &m->tok_emb, NULL, B);
  lmw_state_output_done (st, logits, out, n_out);
  return lmw_state_check (st, "lmw_decode_batch", err);
}
