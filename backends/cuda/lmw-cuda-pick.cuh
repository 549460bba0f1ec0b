/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-pick.cuh — the search's filters of a row of logits on the device, shared by the
 * greedy pick (k_step_pick, lmw-cuda-step.cu) and the beam search's best tokens (k_step_topk,
 * lmw-cuda-topk.cu).  Device code only, included by those two sources (both builds: nvcc and
 * the emulation).
 *
 * A row's filters (lmw_step_row): the bitset of tokens never picked, the lowest timestamp
 * allowed, LMW_PICK_NO_TEXT, LMW_PICK_TS_RULE (computed here from the logits) and
 * LMW_PICK_EOT_LAST (the same).  Blocks of PICK_THREADS == LMW_PICK_LANES threads: thread t is
 * lane t of the f64 sums, so that they add their terms in the order lmw-backend.h fixes and
 * equal the search's sums on the host bit for bit.
 */
#ifndef LMW_CUDA_PICK_CUH
#define LMW_CUDA_PICK_CUH

#include "lmw-cuda-compat.h"
#include "lmw-backend.h"

#include <math.h>

#define PICK_THREADS LMW_PICK_LANES

/* the filters of a row: its bitset (NULL: none), its lowest timestamp, the first token allowed (eot
 * without text, ts_begin once the timestamp rule dropped it, else 0), and eot dropped by
 * LMW_PICK_EOT_LAST */
typedef struct {
  const uint32_t *suppress;
  int ts_lo, first, eot;
  bool no_eot;
} pick_filter;

__device__ __forceinline__ bool
pick_allowed (pick_filter f, int i, int ts_begin)
{
  return i >= f.first && (f.suppress == NULL || !((f.suppress[i >> 5] >> (i & 31)) & 1u)) &&
         !(i >= ts_begin && i < f.ts_lo) && !(f.no_eot && i == f.eot);
}

/* (m, idx): the block's largest value and its lowest index; every thread gets them */
__device__ __forceinline__ void
pick_argmax (float &m, int &idx, float *sv, int *si)
{
  int t = threadIdx.x;
  sv[t] = m;
  si[t] = idx;
  __syncthreads ();
  for (int s = PICK_THREADS / 2; s > 0; s >>= 1) {
    if (t < s) { /* an index < 0 is an empty slot */
      float ov = sv[t + s];
      int oi = si[t + s];
      if (oi >= 0 && (si[t] < 0 || ov > sv[t] || (ov == sv[t] && oi < si[t]))) {
        sv[t] = ov;
        si[t] = oi;
      }
    }
    __syncthreads ();
  }
  m = sv[0];
  idx = si[0];
  __syncthreads ();
}

/* the block's sum, in f64, lanes added pairwise as LMW_PICK_LANES says; every thread gets it */
__device__ __forceinline__ double
pick_sum (double v, double *sd)
{
  int t = threadIdx.x;
  sd[t] = v;
  __syncthreads ();
  for (int s = PICK_THREADS / 2; s > 0; s >>= 1) {
    if (t < s)
      sd[t] += sd[t + s];
    __syncthreads ();
  }
  double r = sd[0];
  __syncthreads ();
  return r;
}

/* the log-sum-exp of the allowed logits of x: max + log (sum exp (x - max)), the sum in f64;
 * *arg_out: the largest allowed logit's lowest index (-1: none allowed) */
__device__ __forceinline__ float
pick_lse (const float *x, pick_filter f, int nv, int ts_begin, float *sv, int *si, double *sd,
          int *arg_out)
{
  float m = -INFINITY;
  int idx = -1;
  for (int i = threadIdx.x; i < nv; i += PICK_THREADS)
    if (pick_allowed (f, i, ts_begin) && (idx < 0 || x[i] > m)) {
      m = x[i];
      idx = i;
    }
  pick_argmax (m, idx, sv, si);
  double sum = 0.0;
  for (int i = threadIdx.x; i < nv; i += PICK_THREADS)
    if (pick_allowed (f, i, ts_begin))
      sum += exp ((double) (x[i] - m));
  sum = pick_sum (sum, sd);
  *arg_out = idx;
  return m + (float) log (sum);
}

/* Every filter of a row (its pick_suppress, pick_ts_lo, pick_flags) over its logits x
 * (n_vocab): the row's own, then the timestamp rule
 * (LMW_PICK_TS_RULE), then LMW_PICK_EOT_LAST, in the search's order.  Returns the log-sum-exp
 * of what remains; *fo gets the final filters, *arg the largest remaining logit's lowest
 * index.  The whole block calls it. */
__device__ __forceinline__ float
pick_prepare (const float *x, const uint32_t *suppress, int ts_lo, int flags, int nv, int eot,
              int ts_begin, float *sv, int *si, double *sd, pick_filter *fo, int *arg)
{
  pick_filter f = { suppress, ts_lo, (flags & LMW_PICK_NO_TEXT) ? eot : 0, eot, false };
  float lse = pick_lse (x, f, nv, ts_begin, sv, si, sd, arg);
  if ((flags & LMW_PICK_TS_RULE) && ts_begin < nv) {
    /* the timestamps' summed probability against the likeliest other token */
    double ts = 0.0;
    float text = -INFINITY;
    for (int i = threadIdx.x; i < nv; i += PICK_THREADS) {
      if (!pick_allowed (f, i, ts_begin))
        continue;
      float lp = x[i] - lse;
      if (i >= ts_begin)
        ts += exp ((double) lp);
      else
        text = fmaxf (text, lp);
    }
    ts = pick_sum (ts, sd);
    int any = threadIdx.x;
    pick_argmax (text, any, sv, si);
    if (ts > 0.0 && log (ts) > (double) text) {
      f.first = ts_begin; /* only timestamps */
      lse = pick_lse (x, f, nv, ts_begin, sv, si, sd, arg);
    }
  }
  if ((flags & LMW_PICK_EOT_LAST) && pick_allowed (f, eot, ts_begin)) {
    /* end-of-text waits while another token is allowed */
    float zero = 0.0f;
    int other = -1;
    for (int i = threadIdx.x; i < nv && other < 0; i += PICK_THREADS)
      if (i != eot && pick_allowed (f, i, ts_begin))
        other = i;
    pick_argmax (zero, other, sv, si);
    if (other >= 0) {
      f.no_eot = true;
      lse = pick_lse (x, f, nv, ts_begin, sv, si, sd, arg);
    }
  }
  *fo = f;
  return lse;
}

#endif /* LMW_CUDA_PICK_CUH */
