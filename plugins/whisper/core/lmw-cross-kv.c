/* SPDX-License-Identifier: MIT */
/*
 * lmw-cross-kv.c — how a stream stores its window's cross-attention K/V for the decoder, and
 * reads them.
 *
 * A backend with to_f16 and cross_attention (version 4) gets the decoder's copy of the K/V as
 * f16 rows (cross_kh, cross_vh: 2 bytes a value).  One that also has to_q8 and
 * cross_attention_q8 (version 7) may get int8 rows with an f32 scale per block of 32 values
 * instead (LMW_CROSS_Q8_BYTES: 9/8 byte a value), when asked (lmw_state_set_cross_q8: the
 * scheduler's `cuda_cross_kv = int8`); the K/V then cross the memory bus at a little over half
 * of f16's bytes at every decoder step.  tests/whisper/test-cross-kv-precision.c measures what
 * int8 blocks do to the logits.  The f32 K stays beside them either way (word alignment reads
 * it).  Offsets into these buffers are counted in values, a multiple of C.
 */
#include "lmw-state.h"

#include <stdlib.h>

const uint16_t *
lmw_cross_kv_at (const uint16_t *base, bool q8, size_t e)
{
  const unsigned char *b = (const unsigned char *) base;
  return (const uint16_t *) (b + (q8 ? LMW_CROSS_Q8_BYTES (e) : 2 * e));
}

void
lmw_state_cross_kv_store (lmw_state *st, const lmw_state *slot, uint16_t *base, size_t e,
                          const float *src, int rows, int C)
{
  uint16_t *dst = (uint16_t *) lmw_cross_kv_at (base, slot->cross_q8, e);
  if (slot->cross_q8)
    st->ops->to_q8 (st->be, dst, src, rows, C);
  else
    st->ops->to_f16 (st->be, dst, src, (size_t) rows * C);
}

void
lmw_state_cross_kv_attend (lmw_state *st, bool q8, float *out, const float *q,
                           const uint16_t *k, const uint16_t *v, size_t e, int Tq, int Tk,
                           int H, int D)
{
  int C = H * D;
  const uint16_t *ka = lmw_cross_kv_at (k, q8, e), *va = lmw_cross_kv_at (v, q8, e);
  if (q8)
    st->ops->cross_attention_q8 (st->be, out, C, q, C, ka, va, Tq, Tk, H, D);
  else
    st->ops->cross_attention (st->be, out, C, q, C, ka, va, C, Tq, Tk, H, D);
}

bool
lmw_state_can_cross_q8 (const lmw_state *st)
{
  const lmw_backend_ops *ops = st->ops;
  const lmw_hparams *hp = &st->model->hp;
  return st->cross_kh != NULL && ops->version >= 7 && ops->to_q8 != NULL &&
         ops->cross_attention_q8 != NULL && hp->n_text_state % 64 == 0 &&
         hp->n_text_head > 0 && (hp->n_text_state / hp->n_text_head) % 8 == 0;
}

int
lmw_state_set_cross_q8 (lmw_state *st, lmw_error *err)
{
  if (st->cross_q8)
    return 0;
  if (!lmw_state_can_cross_q8 (st)) {
    lmw_set_error (err, LMW_ERR_ARG, "int8 cross-attention K/V need a backend that has them "
                   "(cuda, cuda-emu; %s has not) and a model width that is a multiple of 64",
                   st->ops->name);
    return -1;
  }
  const lmw_hparams *hp = &st->model->hp;
  size_t n = (size_t) hp->n_text_layer * hp->n_audio_ctx * hp->n_audio_state;
  uint16_t *k = st->ops->alloc (st->be, LMW_CROSS_Q8_BYTES (n));
  uint16_t *v = st->ops->alloc (st->be, LMW_CROSS_Q8_BYTES (n));
  if (k == NULL || v == NULL) {
    st->ops->free (st->be, k);
    st->ops->free (st->be, v);
    lmw_set_error (err, LMW_ERR_NOMEM, "out of backend memory for int8 cross K/V");
    return -1;
  }
  st->ops->free (st->be, st->cross_kh);
  st->ops->free (st->be, st->cross_vh);
  st->cross_kh = k;
  st->cross_vh = v;
  st->cross_q8 = true;
  st->have_audio = false; /* what the f16 rows held is gone */
  return 0;
}
