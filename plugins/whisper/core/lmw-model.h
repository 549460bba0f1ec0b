/* SPDX-License-Identifier: MIT */
/*
 * lmw-model.h — internal view of a loaded model: hyper-parameters, filterbank, vocabulary and
 * the weights, all tensors living in one 64-byte aligned arena.  Matrices keep their file type
 * (f32, f16 or block-quantised); vectors (biases, norms, positional embeddings) are f32.
 */
#ifndef LMW_MODEL_H
#define LMW_MODEL_H

#include "lmw-backend.h"
#include "lmw-context.h"

#include <stdarg.h>

typedef struct {
  /* self-attention */
  const float *attn_ln_w, *attn_ln_b;    /* (C) */
  lmw_weight attn_q, attn_k, attn_v, attn_o; /* (C, C) */
  const float *attn_q_b, *attn_v_b, *attn_o_b; /* (C); the key has no bias */
  /* cross-attention (decoder only) */
  const float *cross_ln_w, *cross_ln_b;
  lmw_weight cross_q, cross_k, cross_v, cross_o;
  const float *cross_q_b, *cross_v_b, *cross_o_b;
  /* MLP */
  const float *mlp_ln_w, *mlp_ln_b;      /* (C) */
  lmw_weight mlp_0;                      /* (4C, C) */
  const float *mlp_0_b;                  /* (4C) */
  lmw_weight mlp_2;                      /* (C, 4C) */
  const float *mlp_2_b;                  /* (C) */
} lmw_layer;

struct lmw_model {
  lmw_hparams hp;
  lmw_special_tokens sp;

  float *mel_filters; /* (n_mels, n_fft_bins), owned */
  int n_fft_bins;     /* 201 */

  int n_vocab_file;   /* tokens stored in the file (ids 0 .. n_vocab_file - 1) */
  char *vocab_blob;   /* owned: the bytes of every token back to back */
  uint32_t *vocab_off;/* owned: n_vocab_file + 1 offsets into vocab_blob */
  /* index from a token's bytes to its id (lmw-vocab.c), built once at load: open addressing,
   * token id + 1 per slot (0: empty), mask + 1 slots; the first id of a string wins */
  int *vocab_slots;   /* owned */
  size_t vocab_mask;
  size_t vocab_max_len; /* longest token in bytes */

  /* encoder */
  const float *enc_pos;         /* (n_audio_ctx, C) */
  lmw_weight conv1;             /* (C, n_mels * 3) */
  const float *conv1_b;         /* (C) */
  lmw_weight conv2;             /* (C, C * 3) */
  const float *conv2_b;         /* (C) */
  lmw_layer *enc;               /* owned, n_audio_layer */
  const float *enc_ln_w, *enc_ln_b;

  /* decoder */
  const float *dec_pos;         /* (n_text_ctx, C) */
  lmw_weight tok_emb;           /* (n_vocab, C) */
  lmw_layer *dec;               /* owned, n_text_layer */
  const float *dec_ln_w, *dec_ln_b;

  void *arena;                  /* owned: every tensor */
  size_t arena_size;
};

#include "lmw-error.h" /* lmw_set_error */

/* Derives the special tokens from the vocabulary size; false if the size is not a Whisper one. */
bool lmw_special_tokens_from_vocab (lmw_special_tokens *sp, int n_vocab);
/* Builds m->vocab_slots from the vocabulary read from the file; false when out of memory. */
bool lmw_vocab_index_build (lmw_model *m);

#endif /* LMW_MODEL_H */
