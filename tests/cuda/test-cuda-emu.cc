/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-emu.cc — the CUDA emulation header (backends/cuda/emu/lmw-cuda-emu.h) itself: the
 * kernel tests are only as good as its barriers, shuffles and shared memory.
 *
 * Asserts (TAP):
 *   every (block, thread) of a 3-D grid of 3-D blocks runs exactly once with the right indices;
 *   __shared__ data written before __syncthreads is seen by every thread after it (a block
 *   reverses an array through shared memory, twice in a loop, with 1000 threads);
 *   blocks see their own shared memory (a per-block sum is not mixed with other blocks');
 *   __shfl_xor_sync / __shfl_down_sync / __shfl_sync give the lanes CUDA defines, with widths
 *   8 and 32, in a partial last warp, and many shuffles in a row don't overwrite each other;
 *   dynamic shared memory is as large as the launch asked;
 *   atomicAdd from every thread of every block counts them all;
 *   wmma C += A B through shared memory updates C once for the warp, not once per lane, and a
 *   misaligned fragment pointer aborts;
 *   a race (a read of another thread's shared write without a barrier) that forward order
 *   hides shows in reverse and random order, and the kernel with the barrier is right in all;
 *   a __syncthreads that one thread skipped by returning, and a shuffle with a lane at a block
 *   barrier instead, abort with a message (in a child process) instead of running on.
 */
#define LMW_CUDA_EMU 1
#include "lmw-cuda-compat.h"

extern "C" {
#include "lmw-test.h"
}

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

__global__ void
k_indices (int *seen, int *bad)
{
  int bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  int tx = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int nt = blockDim.x * blockDim.y * blockDim.z;
  atomicAdd (&seen[bx * nt + tx], 1);
  if (blockIdx.x >= gridDim.x || threadIdx.z >= blockDim.z)
    atomicAdd (bad, 1);
}

__global__ void
k_reverse (int *out, const int *in, int n)
{
  __shared__ int buf[1024];
  int t = threadIdx.x;
  int v = in[blockIdx.x * n + t];
  for (int round = 0; round < 2; round++) {
    buf[t] = v;
    __syncthreads ();
    v = buf[n - 1 - t];
    __syncthreads ();
  }
  out[blockIdx.x * n + t] = buf[t] * 0 + v; /* twice reversed: the input again */
}

__global__ void
k_block_sum (int *out)
{
  __shared__ int total;
  if (threadIdx.x == 0)
    total = 0;
  __syncthreads ();
  atomicAdd (&total, (int) blockIdx.x + 1);
  __syncthreads ();
  if (threadIdx.x == 0)
    out[blockIdx.x] = total;
}

__global__ void
k_shuffles (int *xor8, int *down, int *bcast, int *chain)
{
  int t = threadIdx.x, lane = t & 31;
  xor8[t] = __shfl_xor_sync (0xffffffffu, t, 3, 8);
  down[t] = __shfl_down_sync (0xffffffffu, t, 5);
  bcast[t] = __shfl_sync (0xffffffffu, t * 10, 7);
  float v = (float) lane;
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync (0xffffffffu, v, o);
  chain[t] = (int) v;
}

__global__ void
k_dynamic (int *out, int n)
{
  LMW_DYNAMIC_SHARED (int, dyn);
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    dyn[i] = i;
  __syncthreads ();
  int s = 0;
  for (int i = 0; i < n; i++)
    s += dyn[i];
  out[threadIdx.x] = s;
}

__global__ void
k_count (int *counter)
{
  atomicAdd (counter, 1);
}

__global__ void
k_divergent_barrier (int *out)
{
  if (threadIdx.x == 5)
    return;
  __syncthreads ();
  out[threadIdx.x] = 1;
}

__global__ void
k_divergent_shuffle (int *out)
{
  if (threadIdx.x == 3) {
    __syncthreads ();
    return;
  }
  out[threadIdx.x] = __shfl_xor_sync (0xffffffffu, (int) threadIdx.x, 1);
}

/* reads what the thread before wrote without a barrier in between: a race */
__global__ void
k_racy (int *out, int salt)
{
  __shared__ int buf[64];
  int t = threadIdx.x;
  buf[t] = t + salt;
  out[t] = t > 0 ? buf[t - 1] : salt - 1; /* needs a __syncthreads before the read */
}

/* the same with the barrier */
__global__ void
k_not_racy (int *out, int salt)
{
  __shared__ int buf[64];
  int t = threadIdx.x;
  buf[t] = t + salt;
  __syncthreads ();
  out[t] = t > 0 ? buf[t - 1] : salt - 1;
}

/* how many threads did not see what the one before wrote (a new salt every launch, so that
 * what an earlier launch left in shared memory doesn't count as right) */
static int
racy_wrong (void (*kernel) (int *, int), int order)
{
  static int salt = 1000;
  int out[64];
  salt += 100;
  lmw_emu_set_order (order);
  LMW_LAUNCH (kernel, 1, 64, 0, nullptr, out, salt);
  lmw_emu_set_order (LMW_EMU_FORWARD);
  int wrong = 0;
  for (int t = 0; t < 64; t++)
    wrong += out[t] != t - 1 + salt;
  return wrong;
}

/* one warp: C (16 x 16, shared, starts as c_in) += A B with wmma, A = identity * 2, B = b_in;
 * the tile goes through shared memory: loaded, multiplied, stored back once */
__global__ void
k_wmma (float *c_out, const float *c_in, const float *b_in, int misalign)
{
  using namespace nvcuda;
  __shared__ __align__ (32) float C[16 * 16];
  __shared__ __align__ (32) __half A[16 * 16 + 16], B[16 * 16];
  for (int e = threadIdx.x; e < 256; e += 32) {
    C[e] = c_in[e];
    A[e + misalign] = __float2half_rn (e / 16 == e % 16 ? 2.0f : 0.0f);
    B[e] = __float2half_rn (b_in[e]);
  }
  __syncwarp ();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
  wmma::load_matrix_sync (a, A + misalign, 16);
  wmma::load_matrix_sync (b, B, 16);
  wmma::load_matrix_sync (c, C, 16, wmma::mem_row_major);
  wmma::mma_sync (c, a, b, c);
  wmma::store_matrix_sync (C, c, 16, wmma::mem_row_major);
  __syncwarp ();
  for (int e = threadIdx.x; e < 256; e += 32)
    c_out[e] = C[e];
}

/* runs f in a child process: true when it died of SIGABRT */
template <class F>
static bool
aborts (F f)
{
  fflush (stdout);
  pid_t pid = fork ();
  if (pid == 0) {
    f ();
    _exit (0);
  }
  int status = 0;
  waitpid (pid, &status, 0);
  return WIFSIGNALED (status) && WTERMSIG (status) == SIGABRT;
}

int
main (void)
{
  {
    dim3 grid (3, 2, 2), block (5, 3, 2);
    int nb = 12, nt = 30;
    int *seen = (int *) calloc (nb * nt, sizeof (int)), bad = 0;
    LMW_LAUNCH (k_indices, grid, block, 0, nullptr, seen, &bad);
    int wrong = 0;
    for (int i = 0; i < nb * nt; i++)
      wrong += seen[i] != 1;
    TEST_OK (wrong == 0 && bad == 0, "3-D grid of 3-D blocks: every thread once (%d wrong)", wrong);
    free (seen);
  }
  {
    int n = 1000, blocks = 3;
    int *in = (int *) malloc (sizeof (int) * n * blocks), *out = (int *) malloc (sizeof (int) * n * blocks);
    for (int i = 0; i < n * blocks; i++)
      in[i] = i * 7 + 1;
    LMW_LAUNCH (k_reverse, blocks, n, 0, nullptr, out, in, n);
    int wrong = 0;
    for (int i = 0; i < n * blocks; i++)
      wrong += out[i] != in[i];
    TEST_OK (wrong == 0, "__syncthreads orders shared memory between 1000 threads (%d wrong)",
             wrong);
    free (in);
    free (out);
  }
  {
    int out[4];
    LMW_LAUNCH (k_block_sum, 4, 64, 0, nullptr, out);
    TEST_OK (out[0] == 64 && out[1] == 128 && out[2] == 192 && out[3] == 256,
             "each block has its own shared memory: %d %d %d %d", out[0], out[1], out[2], out[3]);
  }
  {
    int n = 40; /* a full warp and a partial one */
    int xor8[40], down[40], bcast[40], chain[40];
    LMW_LAUNCH (k_shuffles, 1, n, 0, nullptr, xor8, down, bcast, chain);
    int wrong = 0;
    for (int t = 0; t < n; t++) {
      int lane = t & 31, base = t & ~31;
      wrong += xor8[t] != (t ^ 3);
      int src = lane + 5 < 32 && base + lane + 5 < n ? t + 5 : t;
      wrong += down[t] != src;
      wrong += bcast[t] != (base + 7) * 10;
      if (base == 0) /* (the partial warp's butterfly reads missing lanes: undefined on a GPU) */
        wrong += chain[t] != 496; /* 0 + 1 + ... + 31 */
    }
    TEST_OK (wrong == 0, "shuffles: xor (width 8), down, broadcast, a reduction chain (%d wrong)",
             wrong);
  }
  {
    int out[64];
    int n = 3000;
    LMW_LAUNCH (k_dynamic, 1, 64, n * sizeof (int), nullptr, out, n);
    int wrong = 0;
    for (int t = 0; t < 64; t++)
      wrong += out[t] != n * (n - 1) / 2;
    TEST_OK (wrong == 0, "dynamic shared memory of %d ints", n);
  }
  {
    int counter = 0;
    LMW_LAUNCH (k_count, dim3 (7, 3), 96, 0, nullptr, &counter);
    TEST_OK (counter == 7 * 3 * 96, "atomicAdd counts every thread: %d", counter);
  }
  {
    int out[64];
    TEST_OK (aborts ([&] () { LMW_LAUNCH (k_divergent_barrier, 1, 64, 0, nullptr, out); }),
             "a __syncthreads skipped by one thread aborts");
    TEST_OK (aborts ([&] () { LMW_LAUNCH (k_divergent_shuffle, 1, 64, 0, nullptr, out); }),
             "a shuffle missing a lane aborts");
  }
  {
    float c_in[256], b_in[256], c_out[256];
    for (int e = 0; e < 256; e++) {
      c_in[e] = (float) (e % 7);
      b_in[e] = (float) (e % 5) - 2.0f;
    }
    LMW_LAUNCH (k_wmma, 1, 32, 0, nullptr, c_out, c_in, b_in, 0);
    int wrong = 0;
    for (int e = 0; e < 256; e++)
      wrong += c_out[e] != c_in[e] + 2.0f * b_in[e];
    TEST_OK (wrong == 0, "wmma: C += A B through shared memory, once for the warp (%d wrong)",
             wrong);
    TEST_OK (aborts ([&] () { LMW_LAUNCH (k_wmma, 1, 32, 0, nullptr, c_out, c_in, b_in, 4); }),
             "wmma: a fragment load from a pointer not 32-byte aligned aborts");
  }
  {
    /* the race hides in forward order (each thread runs after the one before it, to its end);
     * reverse and random orders expose it, and leave the correct kernel correct */
    int fwd = racy_wrong (k_racy, LMW_EMU_FORWARD), rev = racy_wrong (k_racy, LMW_EMU_REVERSE);
    int rnd = racy_wrong (k_racy, LMW_EMU_RANDOM);
    TEST_OK (fwd == 0 && rev > 0 && rnd > 0,
             "a missing __syncthreads shows in reverse (%d wrong) and random (%d wrong) order",
             rev, rnd);
    TEST_OK (racy_wrong (k_not_racy, LMW_EMU_FORWARD) == 0 &&
               racy_wrong (k_not_racy, LMW_EMU_REVERSE) == 0 &&
               racy_wrong (k_not_racy, LMW_EMU_RANDOM) == 0,
             "with the barrier every order gives the right result");
  }
  return test_done ();
}
