/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-step.h — the kernels of a table-driven decoder step, seen from the host.
 *
 * A batched decoder step of one-token rows (every greedy sequence and every beam after its
 * prompt) reads everything that changes from step to step — each row's token, position,
 * self-attention caches and cross-attention K/V — from a row table in device memory
 * (lmw_step_row, lmw-backend.h) that the host writes with one copy before the step.  The
 * launches of a step then take the same arguments whatever the rows are, so a step of a given
 * number of rows can be captured once as a CUDA graph and replayed.
 *
 * Built like lmw-cuda-kernels.cu: by nvcc for the GPU, and by the host C++ compiler under
 * emu/lmw-cuda-emu.h (emu/lmw-cuda-step-emu.cc), where a launch runs before it returns.
 * Conventions and statuses are those of lmw-cuda-kernels.h; every matrix here has row stride
 * C = H * D.  A row whose token is negative is padding: its outputs are zero and it writes no
 * cache.
 */
#ifndef LMW_CUDA_STEP_H
#define LMW_CUDA_STEP_H

#include "lmw-backend.h"
#include "lmw-cuda-kernels.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Text of the last failure of a launcher below on this thread, "" if none. */
const char *lmw_cuda_step_last_error (void);

/* x (R, C) = tok_emb[rows[r].token] + pos_emb[rows[r].pos] (zeros for padding rows and for
 * tokens outside 0 .. n_vocab - 1); tok_emb (n_vocab, C) typed (F32 or F16), pos_emb (n_pos, C)
 * f32; rows (R) (device). */
lmw_cuda_status lmw_cuda_step_embed (float *x, const void *tok_emb, lmw_type type, int n_vocab,
                                     const float *pos_emb, int n_pos, const lmw_step_row *rows,
                                     int R, int C, void *stream);

/* Self-attention of one layer, one launch for every row: row r first stores its new key and
 * value (k, v row r) at position rows[r].pos of its own caches (rows[r].self_k, .self_v plus
 * layer_offset, rows of C f32), then attends with its query (q row r, scaled by 1/sqrt (D)) to
 * keys 0 .. pos of those caches; out row r gets the result.  A block per (head, row).
 * D <= LMW_CUDA_ATTN_D_MAX, pos < LMW_BACKEND_MAX_KEYS. */
lmw_cuda_status lmw_cuda_step_self_attention (float *out, const float *q, const float *k,
                                              const float *v, const lmw_step_row *rows,
                                              size_t layer_offset, int R, int H, int D,
                                              void *stream);

/* Cross-attention of one layer, one launch for every row: row r attends with q row r to the Tk
 * keys and values at rows[r].cross_k, .cross_v plus layer_offset values (rows of C: f16, or
 * int8 with their scales where rows[r].cross_q8, LMW_CROSS_Q8_BYTES), without a mask.  Rows
 * grouped by cross_lead (lmw_step_row) are served by one read of their K/V per head: a block
 * per (head, row), of which only the groups' first rows work.  Padding rows get zeros.
 * Tk <= LMW_BACKEND_MAX_KEYS, D <= LMW_CUDA_ATTN_D_MAX, D % 8 == 0; int8 rows need C % 64 == 0.
 * Precision: f32 arithmetic on the stored values (online softmax). */
lmw_cuda_status lmw_cuda_step_cross_attention (float *out, const float *q,
                                               const lmw_step_row *rows, size_t layer_offset,
                                               int Tk, int R, int H, int D, void *stream);

/* dst = the int8 rows (LMW_CROSS_Q8_BYTES (rows * C) bytes, lmw-backend.h) of src (rows, C)
 * f32; C % 64 == 0. */
lmw_cuda_status lmw_cuda_cross_q8 (void *dst, const float *src, int rows, int C, void *stream);

/* out (Tq, H*D) row stride ldo = attention of q (Tq, H*D) (stride ldq) to the Tk int8 rows of
 * k and v (LMW_CROSS_Q8_BYTES, C = H * D, C % 64 == 0; 8-byte aligned), without a mask: one
 * read of the K/V per head for every LMW_STEP_GROUP_MAX query rows. */
lmw_cuda_status lmw_cuda_cross_attention_q8 (float *out, int ldo, const float *q, int ldq,
                                             const void *k, const void *v, int Tq, int Tk,
                                             int H, int D, void *stream);

/* The greedy pick of every row whose pick_suppress is set (lmw_backend_ops.step_pick
 * documents the filters): out[r] = the token and its log-probability.  Rows without
 * pick_suppress are left alone.  One block per row. */
lmw_cuda_status lmw_cuda_step_pick (lmw_pick_result *out, const float *logits, int ld,
                                    const lmw_step_row *rows, int R, int n_vocab, int eot,
                                    int ts_begin, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* LMW_CUDA_STEP_H */
