/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-topk.h — the beam search's choice on the device, seen from the host.
 *
 * A beam-search step keeps, for every live beam, its beam_size + 1 best tokens under the
 * search's filters (lmw-search.c, beam_search).  With these kernels the filters run where the
 * logits are and a beam's row returns those few tokens and their log-probabilities instead of
 * its n_vocab logits.  The rows are those of a table-driven step (lmw_step_row, lmw-backend.h:
 * the filters of step_pick plus pick_k and pick_at), so the launch takes the same arguments
 * at every step and can be replayed in a CUDA graph.
 *
 * Built like lmw-cuda-step.cu: by nvcc for the GPU, and by the host C++ compiler under
 * emu/lmw-cuda-emu.h (emu/lmw-cuda-topk-emu.cc).  Conventions and statuses are those of
 * lmw-cuda-kernels.h.
 */
#ifndef LMW_CUDA_TOPK_H
#define LMW_CUDA_TOPK_H

#include "lmw-backend.h"
#include "lmw-cuda-kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Text of the last failure of the launcher below on this thread, "" if none. */
const char *lmw_cuda_topk_last_error (void);

/* For every row r of rows (R, device) whose pick_suppress is set, whose token is >= 0 and
 * whose pick_k is 1 .. LMW_PICK_K_MAX or whose flags have LMW_PICK_WANT:
 * out[rows[r].pick_at + j] for j < pick_k = the j-th best token of logits row r (row stride
 * ld) under the row's filters (lmw_backend_ops.step_topk): ranked by log-probability x - lse
 * (the log-sum-exp of what the filters leave, summed in f64 in the order of LMW_PICK_LANES),
 * equal ones by the lower token; token -1 with -inf past the tokens allowed; pick_k 1: the
 * greedy choice of lmw_cuda_step_pick.  With LMW_PICK_WANT, out[pick_at + pick_k] = pick_want
 * with its log-probability under the softmax of the whole row.  Other rows are left alone.
 * One block of LMW_PICK_LANES threads per row. */
lmw_cuda_status lmw_cuda_step_topk (lmw_pick_result *out, const float *logits, int ld,
                                    const lmw_step_row *rows, int R, int n_vocab, int eot,
                                    int ts_begin, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* LMW_CUDA_TOPK_H */
