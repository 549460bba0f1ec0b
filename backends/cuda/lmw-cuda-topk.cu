/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-topk.cu — the beam search's best tokens of a row on the device (lmw-cuda-topk.h
 * documents the launcher).
 *
 * One source, two builds, as lmw-cuda-step.cu: nvcc for the GPU, and with LMW_CUDA_EMU the
 * host C++ compiler under emu/lmw-cuda-emu.h.  A block leaves early only as a whole.
 *
 * k_step_topk, a block per row: with LMW_PICK_WANT first the log-probability of pick_want
 * under the whole row's softmax (a window's no-speech probability); then the row's filters
 * and the log-sum-exp of what they leave
 * (pick_prepare, lmw-cuda-pick.cuh: the same code as the greedy pick), then pick_k rounds,
 * each the block's best allowed token after the previous one in the search's order — larger
 * log-probability first, the lower token among equal ones — so round j yields the j-th
 * candidate that the host's insertion into a sorted list of pick_k keeps (top_k of
 * lmw-search.c).  A round reads the row again (from L2: the row is 200 KB for 51865 tokens);
 * pick_k is at most LMW_PICK_K_MAX, and at 5 beams it is 6.
 */
#include "lmw-cuda-compat.h"
#include "lmw-cuda-pick.cuh"
#include "lmw-cuda-topk.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>

/* ---- status ----------------------------------------------------------------------------- */

static thread_local char topk_error[256];

const char *
lmw_cuda_topk_last_error (void)
{
  return topk_error;
}

/* ---- kernel ----------------------------------------------------------------------------- */

/* at least one block per multiprocessor: without the second bound ptxas (CUDA 13) holds the
 * sm_90 build to 32 registers and spills; with it, 39 and no spills */
__global__ void __launch_bounds__ (PICK_THREADS, 1)
k_step_topk (lmw_pick_result *out, const float *logits, int ld, const lmw_step_row *rows,
             int n_vocab, int eot, int ts_begin)
{
  __shared__ float sv[PICK_THREADS];
  __shared__ int si[PICK_THREADS];
  __shared__ double sd[PICK_THREADS];
  int r = blockIdx.x;
  lmw_step_row row = rows[r];
  bool want = (row.pick_flags & LMW_PICK_WANT) && row.pick_want >= 0 && row.pick_want < n_vocab;
  if (row.pick_suppress == NULL || row.token < 0 || !(row.pick_k >= 1 || want) ||
      row.pick_k < 0 || row.pick_k > LMW_PICK_K_MAX || row.pick_at < 0) /* the whole block */
    return;
  const float *x = logits + (size_t) r * ld;
  lmw_pick_result *o = out + row.pick_at;
  int k = row.pick_k;
  if (want) { /* before the filters: the softmax of the whole row */
    pick_filter none = { NULL, 0, 0, eot, false };
    int a;
    float lse_all = pick_lse (x, none, n_vocab, ts_begin, sv, si, sd, &a);
    if (threadIdx.x == 0) {
      o[k].token = row.pick_want;
      o[k].logprob = x[row.pick_want] - lse_all;
    }
  }
  if (k == 0)
    return; /* the whole block */
  pick_filter f;
  int arg;
  float lse = pick_prepare (x, row.pick_suppress, row.pick_ts_lo, row.pick_flags, n_vocab, eot,
                            ts_begin, sv, si, sd, &f, &arg);
  if (k == 1) { /* the greedy choice, as step_pick's */
    if (threadIdx.x == 0) {
      o[0].token = arg;
      o[0].logprob = arg >= 0 ? x[arg] - lse : -INFINITY;
    }
    return;
  }
  float prev_v = INFINITY; /* the last candidate taken: (prev_v, prev_i) */
  int prev_i = -1;
  for (int j = 0; j < k; j++) {
    float best = -INFINITY;
    int bi = -1;
    if (prev_i >= 0 || j == 0)
      for (int i = threadIdx.x; i < n_vocab; i += PICK_THREADS) {
        if (!pick_allowed (f, i, ts_begin))
          continue;
        float lp = x[i] - lse;
        if (!(lp > -INFINITY)) /* the host's search skips -inf (and NaN never ranks) */
          continue;
        if (lp > prev_v || (lp == prev_v && i <= prev_i)) /* taken already */
          continue;
        if (bi < 0 || lp > best) { /* a thread's ids rise: the first of equal ones stays */
          best = lp;
          bi = i;
        }
      }
    pick_argmax (best, bi, sv, si);
    if (threadIdx.x == 0) {
      o[j].token = bi;
      o[j].logprob = bi >= 0 ? best : -INFINITY;
    }
    prev_v = best;
    prev_i = bi;
  }
}

/* ---- launcher --------------------------------------------------------------------------- */

lmw_cuda_status
lmw_cuda_step_topk (lmw_pick_result *out, const float *logits, int ld, const lmw_step_row *rows,
                    int R, int n_vocab, int eot, int ts_begin, void *stream)
{
  if (!(R >= 0 && R <= 65535 && n_vocab > 0 && ld >= n_vocab && eot >= 0 && eot < n_vocab &&
        ts_begin > eot && ts_begin <= n_vocab)) {
    snprintf (topk_error, sizeof topk_error, "%s: dimensions", __func__);
    return LMW_CUDA_EINVAL;
  }
  if (out == NULL || logits == NULL || rows == NULL) {
    snprintf (topk_error, sizeof topk_error, "%s: pointers", __func__);
    return LMW_CUDA_EINVAL;
  }
  if (R == 0)
    return LMW_CUDA_OK;
  LMW_LAUNCH (k_step_topk, dim3 ((unsigned) R), dim3 (PICK_THREADS), 0, stream, out, logits, ld,
              rows, n_vocab, eot, ts_begin);
#ifdef LMW_CUDA_EMU
  return LMW_CUDA_OK;
#else
  cudaError_t e = cudaGetLastError ();
  if (e == cudaSuccess)
    return LMW_CUDA_OK;
  snprintf (topk_error, sizeof topk_error, "%s: %s", __func__, cudaGetErrorString (e));
  return LMW_CUDA_ELAUNCH;
#endif
}
