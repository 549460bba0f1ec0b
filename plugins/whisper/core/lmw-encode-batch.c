/* SPDX-License-Identifier: MIT */
/*
 * lmw-encode-batch.c — the audio encoder over the windows of several requests at once.
 *
 * The windows are stacked as x (B * T, C): the conv stem and the self-attention run window by
 * window (a window attends only to itself), every product and norm runs once over all B * T
 * rows, so each weight matrix is read once per batch instead of once per window.  The
 * cross-attention K/V of every decoder layer are computed the same way and then handed to
 * each window's slot (f32 K for alignment, f16 K/V for the decoder when the backend has them).
 * Each window's result equals lmw_encoder_forward's on that window alone up to float rounding
 * (the products are row-independent).
 */
#include "lmw-state.h"

#include <string.h>
#include <time.h>

void lmw_mlp_block (lmw_state *st, float *x, const lmw_layer *L, int T, int C);
void lmw_matmul_fused (lmw_state *st, float *out, int ldc, const float *inp, int lda,
                       const lmw_weight *w, const float *bias, int M, unsigned flags);

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* x (B*T, C) += self-attention block, each window attending to itself */
static void
batch_attention_block (lmw_state *st, float *x, const lmw_layer *L, int B, int T, int C, int H)
{
  const lmw_backend_ops *ops = st->ops;
  int M = B * T;
  ops->layernorm (st->be, st->xn, x, L->attn_ln_w, L->attn_ln_b, M, C, 1e-5f);
  ops->matmul (st->be, st->q, C, st->xn, C, &L->attn_q, L->attn_q_b, M);
  ops->matmul (st->be, st->k, C, st->xn, C, &L->attn_k, NULL, M);
  ops->matmul (st->be, st->v, C, st->xn, C, &L->attn_v, L->attn_v_b, M);
  for (int b = 0; b < B; b++) {
    size_t at = (size_t) b * T * C;
    ops->attention (st->be, st->att + at, C, st->q + at, C, st->k + at, C, st->v + at, C, T, T,
                    H, C / H, -1);
  }
  lmw_matmul_fused (st, x, C, st->att, C, &L->attn_o, L->attn_o_b, M, LMW_MATMUL_ACCUMULATE);
}

int
lmw_encoder_forward_batch (lmw_state *st, lmw_state *const *slots, int B, lmw_error *err)
{
  const lmw_model *m = st->dm;
  const lmw_backend_ops *ops = st->ops;
  int T = m->hp.n_audio_ctx, C = m->hp.n_audio_state, H = m->hp.n_audio_head;
  int Tm = 2 * T, nm = m->hp.n_mels;
  if (B < 1 || B > st->enc_windows || st->enc_x == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_encoder_forward_batch: %d windows, the stream holds %d",
                   B, st->enc_windows);
    return -1;
  }
  double t0 = now_ms ();
  size_t mel_n = (size_t) nm * Tm;
  /* a window the front end computed on the backend is read where it is (lmw_encode_pcm) */
  for (int b = 0; b < B; b++)
    if (!slots[b]->mel_on_dev)
      ops->upload (st->be, st->mel_win + b * mel_n, slots[b]->mel_host, sizeof (float) * mel_n);
  /* conv stem, window by window: (n_mels, 2T) -> (T, C) through st->hidden (2T, C) */
  for (int b = 0; b < B; b++) {
    float *h = st->hidden, *x = st->enc_x + (size_t) b * T * C;
    const float *mel = slots[b]->mel_on_dev ? slots[b]->mel_dev : st->mel_win + b * mel_n;
    ops->conv1d_k3 (st->be, h, mel, (size_t) Tm, 1, &m->conv1, m->conv1_b, Tm, nm, 1);
    ops->gelu (st->be, h, (size_t) Tm * C);
    ops->conv1d_k3 (st->be, x, h, 1, (size_t) C, &m->conv2, m->conv2_b, Tm, C, 2);
    ops->gelu (st->be, x, (size_t) T * C);
    ops->add (st->be, x, m->enc_pos, (size_t) T * C);
  }
  for (int l = 0; l < m->hp.n_audio_layer; l++) {
    batch_attention_block (st, st->enc_x, &m->enc[l], B, T, C, H);
    lmw_mlp_block (st, st->enc_x, &m->enc[l], B * T, C);
  }
  ops->layernorm (st->be, st->enc_out, st->enc_x, m->enc_ln_w, m->enc_ln_b, B * T, C, 1e-5f);
  ops->sync (st->be);
  double t1 = now_ms ();

  /* cross K/V of each decoder layer for all windows at once, then each window's to its slot
   * (through st->q for K and st->k for V) */
  for (int l = 0; l < m->hp.n_text_layer; l++) {
    const lmw_layer *L = &m->dec[l];
    size_t at = (size_t) l * T * C, n = (size_t) T * C;
    ops->matmul (st->be, st->q, C, st->enc_out, C, &L->cross_k, NULL, B * T);
    ops->matmul (st->be, st->k, C, st->enc_out, C, &L->cross_v, L->cross_v_b, B * T);
    for (int b = 0; b < B; b++) {
      lmw_state *sl = slots[b];
      lmw_state_copy_floats (st, sl->cross_k + at, st->q + b * n, n);
      if (sl->cross_vh != NULL) {
        lmw_state_cross_kv_store (st, sl, sl->cross_kh, at, st->q + b * n, T, C);
        lmw_state_cross_kv_store (st, sl, sl->cross_vh, at, st->k + b * n, T, C);
      } else {
        lmw_state_copy_floats (st, sl->cross_v + at, st->k + b * n, n);
      }
    }
  }
  ops->sync (st->be);
  double t2 = now_ms ();
  int rc = lmw_state_check (st, "lmw_encode (batched)", err);
  for (int b = 0; b < B; b++) {
    lmw_state *sl = slots[b];
    sl->encoder_ms = (t1 - t0) / B;
    sl->cross_ms = (t2 - t1) / B;
    sl->n_cached = 0;
    sl->have_audio = rc == 0;
  }
  return rc;
}
