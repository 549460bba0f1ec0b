/* SPDX-License-Identifier: MIT */
/*
 * lmw-state.h — internal view of one stream: the backend context and every activation buffer,
 * allocated once in lmw_state_new for the model's maximum sizes.
 */
#ifndef LMW_STATE_H
#define LMW_STATE_H

#include "lmw-model.h"

struct lmw_state {
  const lmw_model *model;          /* borrowed; must outlive the state */
  const lmw_backend_ops *ops;
  void *be;                        /* owned backend context */

  /* encoder, T = n_audio_ctx, C = n_audio_state */
  float *mel_win;   /* (n_mels, 2T) */
  float *enc_x;     /* (T, C) residual stream */
  float *enc_out;   /* (T, C) */
  float *cross_k;   /* (n_text_layer, T, C) */
  float *cross_v;   /* (n_text_layer, T, C) */
  bool have_audio;
  double encoder_ms; /* wall time of the last encoder pass, without the cross K/V */
  double cross_ms;   /* wall time of the last cross K/V projections */

  /* decoder, Tt = n_text_ctx */
  float *self_k;    /* (n_text_layer, Tt, C) */
  float *self_v;    /* (n_text_layer, Tt, C) */
  int n_cached;     /* positions held by self_k / self_v */
  float *dec_x;     /* (Tt, C) */

  /* optional: called by the decoder with each layer's cross-attention queries q (n, C) and
   * keys k (T, C) of the window, for word alignment (lmw-align.c); NULL in normal decoding */
  void (*xattn_cb) (void *user_data, int layer, const float *q, int n, const float *k, int T,
                    int C, int H);
  void *xattn_user_data;

  /* scratch shared by encoder and decoder, rows = max (2T, Tt) */
  float *xn;        /* (rows, C) */
  float *q;         /* (rows, C) */
  float *k;         /* (rows, C) */
  float *v;         /* (rows, C) */
  float *att;       /* (rows, C) */
  float *hidden;    /* (rows, 4C); also the conv1 output (2T, C) */
};

/* encoder / decoder entry points (lmw-encoder.c, lmw-decoder.c) */
int lmw_encoder_forward (lmw_state *st, lmw_error *err);

#endif /* LMW_STATE_H */
