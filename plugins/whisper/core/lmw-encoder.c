/* SPDX-License-Identifier: MIT */
/*
 * lmw-encoder.c — the audio encoder, one function per layer:
 *
 *   h = gelu (conv1 (mel))             mel (n_mels, 2T) -> (2T, C), kernel 3, padding 1
 *   x = gelu (conv2 (h)) + pos         (2T, C) -> (T, C), kernel 3, stride 2, padding 1
 *   for each block (pre-LN):
 *     x = x + out (attention (q (ln x), k (ln x), v (ln x)))   the key has no bias
 *     x = x + mlp2 (gelu (mlp0 (ln x)))
 *   enc = ln_post (x)
 * then the cross-attention K/V of every decoder layer from enc, once per window.
 * Weights are the backend's view of the model (st->dm), activations the backend's buffers.
 */
#include "lmw-state.h"

#include <string.h>
#include <time.h>

/* out (T, N) (+)= inp · w^T + bias with the epilogue of flags, fused when the backend can */
void lmw_matmul_fused (lmw_state *st, float *out, int ldc, const float *inp, int lda,
                       const lmw_weight *w, const float *bias, int M, unsigned flags);
/* x (T, C) += attention block (x); uses st->xn, q, k, v, att */
void lmw_self_attention_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C, int H);
/* x (T, C) += mlp block (x); uses st->xn, hidden */
void lmw_mlp_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C);

void
lmw_matmul_fused (lmw_state *st, float *out, int ldc, const float *inp, int lda,
                  const lmw_weight *w, const float *bias, int M, unsigned flags)
{
  const lmw_backend_ops *ops = st->ops;
  if (ops->matmul_ex != NULL) {
    ops->matmul_ex (st->be, out, ldc, inp, lda, w, bias, M, flags);
    return;
  }
  if (flags & LMW_MATMUL_ACCUMULATE) { /* through st->xn, which no caller passes as out */
    ops->matmul (st->be, st->xn, w->rows, inp, lda, w, bias, M);
    for (int m = 0; m < M; m++)
      ops->add (st->be, out + (size_t) m * ldc, st->xn + (size_t) m * w->rows, (size_t) w->rows);
    return;
  }
  ops->matmul (st->be, out, ldc, inp, lda, w, bias, M);
  if (flags & LMW_MATMUL_GELU)
    for (int m = 0; m < M; m++)
      ops->gelu (st->be, out + (size_t) m * ldc, (size_t) w->rows);
}

void
lmw_self_attention_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C, int H)
{
  const lmw_backend_ops *ops = st->ops;
  ops->layernorm (st->be, st->xn, x, L->attn_ln_w, L->attn_ln_b, T, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->attn_q, L->attn_q_b, T);
  ops->matmul (st->be, st->k, C, st->xn, C, &L->attn_k, NULL, T);
  ops->matmul (st->be, st->v, C, st->xn, C, &L->attn_v, L->attn_v_b, T);
  ops->attention (st->be, st->att, C, st->q, C, st->k, C, st->v, C, T, T, H, C / H, -1);
  lmw_matmul_fused (st, x, C, st->att, C, &L->attn_o, L->attn_o_b, T, LMW_MATMUL_ACCUMULATE);
}

void
lmw_mlp_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C)
{
  const lmw_backend_ops *ops = st->ops;
  ops->layernorm (st->be, st->xn, x, L->mlp_ln_w, L->mlp_ln_b, T, C, 1e-5f);
  lmw_matmul_fused (st, st->hidden, 4 * C, st->xn, C, &L->mlp_0, L->mlp_0_b, T, LMW_MATMUL_GELU);
  lmw_matmul_fused (st, x, C, st->hidden, 4 * C, &L->mlp_2, L->mlp_2_b, T, LMW_MATMUL_ACCUMULATE);
}

/* enc_x (T, C) = gelu (conv2 (gelu (conv1 (mel_win)))) + pos */
static void
encoder_conv_stem (lmw_state *st)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int T = m->hp.n_audio_ctx, C = m->hp.n_audio_state, Tm = 2 * T;
  float *h = st->hidden; /* (2T, C) */
  ops->conv1d_k3 (st->be, h, st->mel_win, (size_t) Tm, 1, &m->conv1, m->conv1_b, Tm,
                  m->hp.n_mels, 1);
  ops->gelu (st->be, h, (size_t) Tm * C);
  ops->conv1d_k3 (st->be, st->enc_x, h, 1, (size_t) C, &m->conv2, m->conv2_b, Tm, C, 2);
  ops->gelu (st->be, st->enc_x, (size_t) T * C);
  ops->add (st->be, st->enc_x, m->enc_pos, (size_t) T * C);
}

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int
lmw_encoder_forward (lmw_state *st, lmw_error *err)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int T = m->hp.n_audio_ctx, C = m->hp.n_audio_state, H = m->hp.n_audio_head;

  double t0 = now_ms ();
  encoder_conv_stem (st);
  for (int l = 0; l < m->hp.n_audio_layer; l++) {
    lmw_self_attention_block (st, st->enc_x, &m->enc[l], T, C, H);
    lmw_mlp_block (st, st->enc_x, &m->enc[l], T, C);
  }
  ops->layernorm (st->be, st->enc_out, st->enc_x, m->enc_ln_w, m->enc_ln_b, T, C, 1e-5f);
  ops->sync (st->be); /* an asynchronous backend has only queued the work */
  double t1 = now_ms ();

  /* cross-attention K/V of each decoder layer: k = enc · Wk^T, v = enc · Wv^T + bv */
  for (int l = 0; l < m->hp.n_text_layer; l++) {
    const lmw_layer *L = &m->dec[l];
    size_t at = (size_t) l * T * C;
    ops->matmul (st->be, st->cross_k + at, C, st->enc_out, C, &L->cross_k, NULL, T);
    if (st->cross_vh == NULL) {
      ops->matmul (st->be, st->cross_v + at, C, st->enc_out, C, &L->cross_v, L->cross_v_b, T);
      continue;
    }
    /* f16 (or int8) K/V for the decoder; V passes through the scratch st->hidden */
    lmw_state_cross_kv_store (st, st, st->cross_kh, at, st->cross_k + at, T, C);
    ops->matmul (st->be, st->hidden, C, st->enc_out, C, &L->cross_v, L->cross_v_b, T);
    lmw_state_cross_kv_store (st, st, st->cross_vh, at, st->hidden, T, C);
  }
  ops->sync (st->be);
  st->encoder_ms = t1 - t0;
  st->cross_ms = now_ms () - t1;
  st->n_cached = 0;
  st->have_audio = lmw_state_check (st, "lmw_encode", err) == 0;
  return st->have_audio ? 0 : -1;
}
