/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-emu.h — just enough of CUDA for the host C++ compiler to build and run the kernels of
 * lmw-cuda-kernels.cu on the CPU, so that they are tested (and checked by ASan) where no GPU is.
 *
 * The model:
 *   - a launch (LMW_LAUNCH) runs the blocks of the grid one after the other, on the calling
 *     thread, before it returns; streams are ignored;
 *   - each CUDA thread of a block is a fiber with its own stack; fibers run until they
 *     finish or reach a barrier, then the next one runs (cooperative, in thread order);
 *   - __syncthreads waits for every thread of the block, __syncwarp and the warp shuffles for every
 *     lane of the warp (32 consecutive threads of the block, the last warp possibly partial).
 *     A barrier that some thread of the group can no longer reach (it returned, or waits at a
 *     different barrier) aborts the program with a message: on a GPU that is a hang or undefined;
 *   - `__shared__` variables are thread_local statics: blocks run one at a time, so every block
 *     has its own copy (holding whatever the block before left, where a GPU's is undefined);
 *     dynamic shared memory is declared with LMW_DYNAMIC_SHARED, sized by the launch and
 *     filled with 0xff bytes before each block;
 *   - LMW_CUDA_EMU_ORDER (forward, reverse, random) sets the order in which the ready threads
 *     run between barriers, to expose missing barriers;
 *   - atomics are plain read-modify-writes (fibers never run at the same time);
 *   - __half is IEEE binary16 with round-to-nearest-even conversions, as on the device.
 *
 * What it does not model: timing, memory coalescing, warp divergence inside a shuffle's mask
 * (masks must name every live lane), the limits of registers and shared memory (the nvcc build
 * and its ptxas check cover those), and launch failures (the emulated launch always succeeds).
 *
 * Kernel code compiles both ways when it uses threadIdx/blockIdx/blockDim/gridDim, __syncthreads,
 * __syncwarp, __shfl_xor_sync/__shfl_sync/__shfl_down_sync, atomicAdd/atomicMax, the
 * float/int math of <math.h>, __half conversions, the vector types below, and launches through
 * LMW_LAUNCH (kernel, grid, block, shared_bytes, stream, args...).
 */
#ifndef LMW_CUDA_EMU_H
#define LMW_CUDA_EMU_H

#ifndef __cplusplus
#error "lmw-cuda-emu.h is C++: include it from a .cu file compiled as C++"
#endif

#include <math.h>
#include <stdint.h>
#include <type_traits>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define LMW_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LMW_EMU_ASAN 1
#endif
#endif
#ifdef LMW_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h> /* fiber stacks registered: no "switching stacks?" warnings */
#define LMW_EMU_VALGRIND 1
#endif
#endif

#define LMW_CUDA_EMU 1

/* ---- qualifiers ------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__ ((always_inline))
#define __noinline__ __attribute__ ((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __shared__ static thread_local
#define __align__(n) __attribute__ ((aligned (n)))
#define __ldg(p) (*(p))
#define warpSize 32

/* ---- vector types ----------------------------------------------------------------------- */
struct dim3 {
  unsigned x, y, z;
  constexpr dim3 (unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x (vx), y (vy), z (vz) {}
};
struct uint3 {
  unsigned x, y, z;
};
struct alignas (8) float2 {
  float x, y;
};
struct alignas (16) float4 {
  float x, y, z, w;
};
struct alignas (8) uint2 {
  unsigned x, y;
};
struct alignas (16) uint4 {
  unsigned x, y, z, w;
};
static inline float2 make_float2 (float x, float y) { return float2 {x, y}; }
static inline float4 make_float4 (float x, float y, float z, float w) { return float4 {x, y, z, w}; }
static inline uint4 make_uint4 (unsigned x, unsigned y, unsigned z, unsigned w) { return uint4 {x, y, z, w}; }

/* ---- half precision --------------------------------------------------------------------- */
struct __half {
  uint16_t x;
};
struct alignas (4) __half2 {
  __half x, y;
};

static inline float
__half2float (__half h)
{
  uint32_t sign = (uint32_t) (h.x & 0x8000) << 16;
  uint32_t exp = (h.x >> 10) & 0x1f;
  uint32_t mant = h.x & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal */
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        exp--;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

/* round to nearest even, overflow to infinity, NaN kept quiet */
static inline __half
__float2half_rn (float f)
{
  uint32_t x;
  memcpy (&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t a = x & 0x7fffffffu;
  uint32_t h;
  if (a >= 0x7f800000u) {
    h = 0x7c00 | (a > 0x7f800000u ? 0x200 : 0);
  } else if (a >= 0x477ff000u) {
    h = 0x7c00;
  } else if (a < 0x38800000u) {
    if (a < 0x33000000u) {
      h = 0;
    } else {
      uint32_t e = a >> 23;
      uint32_t m = (a & 0x7fffff) | 0x800000;
      uint32_t shift = 126 - e;
      uint32_t rem = m & ((1u << shift) - 1);
      uint32_t mid = 1u << (shift - 1);
      h = m >> shift;
      if (rem > mid || (rem == mid && (h & 1)))
        h++;
    }
  } else {
    uint32_t rem = a & 0x1fff;
    h = (a >> 13) - ((127 - 15) << 10);
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
      h++;
  }
  return __half {(uint16_t) (sign | h)};
}
static inline __half __float2half (float f) { return __float2half_rn (f); }
static inline float2 __half22float2 (__half2 h) { return float2 {__half2float (h.x), __half2float (h.y)}; }
static inline __half2 __floats2half2_rn (float a, float b) { return __half2 {__float2half_rn (a), __float2half_rn (b)}; }
static inline __half2 __float22half2_rn (float2 f) { return __floats2half2_rn (f.x, f.y); }

/* ---- math ------------------------------------------------------------------------------- */
static inline float rsqrtf (float x) { return 1.0f / sqrtf (x); }
#define __expf expf /* glibc declares its own __expf and __logf */
#define __logf logf
static inline float __fdividef (float a, float b) { return a / b; }
static inline float __int_as_float (int i) { float f; memcpy (&f, &i, sizeof f); return f; }
static inline int __float_as_int (float f) { int i; memcpy (&i, &f, sizeof i); return i; }
static inline float __saturatef (float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }

/* ---- the fiber scheduler ---------------------------------------------------------------- */
enum { LMW_EMU_READY, LMW_EMU_AT_BLOCK, LMW_EMU_AT_WARP, LMW_EMU_DONE };
#define LMW_EMU_MAX_THREADS 1024
#define LMW_EMU_STACK (256 * 1024)

/* Switching fibers: on x86-64 a hand-written switch of the callee-saved registers and the
 * stack pointer (a few nanoseconds; swapcontext also saves the signal mask with a system call
 * every time, which made an emulated encoder-sized attention 30 times slower); elsewhere, or
 * with LMW_EMU_UCONTEXT defined, ucontext. */
#if defined(__x86_64__) && !defined(LMW_EMU_UCONTEXT)
#define LMW_EMU_FAST_SWITCH 1
/* saves the callee-saved registers on the current stack, stores the stack pointer in *save_sp,
 * and continues on new_sp where an earlier lmw_emu_switch (or a new fiber's frame) left off */
extern "C" void lmw_emu_switch (void **save_sp, void *new_sp);
__asm__ (".pushsection .text\n"
         ".weak lmw_emu_switch\n"
         ".type lmw_emu_switch, @function\n"
         "lmw_emu_switch:\n"
         "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
         "  movq %rsp, (%rdi)\n"
         "  movq %rsi, %rsp\n"
         "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
         "  ret\n"
         ".size lmw_emu_switch, .-lmw_emu_switch\n"
         ".popsection\n");
#else
#include <ucontext.h>
#endif

struct lmw_emu_fiber {
#ifdef LMW_EMU_FAST_SWITCH
  void *sp;
#else
  ucontext_t ctx;
#endif
  uint3 tid;
  int state;
  unsigned shuffles; /* shuffles done: selects the exchange buffer */
#ifdef LMW_EMU_ASAN
  void *fake_stack;
#endif
};

struct lmw_emu_block {
#ifdef LMW_EMU_FAST_SWITCH
  void *sched_sp;
#else
  ucontext_t sched;
#endif
  lmw_emu_fiber fibers[LMW_EMU_MAX_THREADS];
  char *stacks;            /* LMW_EMU_MAX_THREADS stacks of LMW_EMU_STACK bytes */
  int n;                   /* threads in the block */
  int cur;                 /* the running fiber */
  uint3 bid;
  dim3 grid, block;
  unsigned char *dyn_shared;
  size_t dyn_shared_size;
  void (*body) (void *);
  void *arg;
  /* warp shuffle exchange, two buffers used in turn: a lane can only write the buffer of its
   * next-but-one shuffle after every lane of its warp has passed the barrier of the next one,
   * that is, after they all read this one */
  uint64_t slots[2][LMW_EMU_MAX_THREADS];
  int order[LMW_EMU_MAX_THREADS]; /* the fibers of one pass, in the order they run */
  uint64_t rng;
#ifdef LMW_EMU_ASAN
  const void *sched_stack;
  size_t sched_stack_size;
#endif
};

inline thread_local lmw_emu_block *lmw_emu_cur_block = nullptr;

/* The order in which the scheduler runs the ready fibers between two barriers.  A kernel that
 * misses a barrier can still give the right result in one order (thread t - 1 always ran before
 * thread t read what it wrote); running the tests in the other orders exposes it.
 * LMW_CUDA_EMU_ORDER=forward (default), reverse, or random (a fresh permutation for every
 * pass, from a fixed seed: reproducible); lmw_emu_set_order overrides the variable. */
enum { LMW_EMU_ORDER_UNSET = -1, LMW_EMU_FORWARD, LMW_EMU_REVERSE, LMW_EMU_RANDOM };
inline int lmw_emu_order = LMW_EMU_ORDER_UNSET;

static inline void
lmw_emu_set_order (int order)
{
  lmw_emu_order = order;
}

static inline int
lmw_emu_get_order (void)
{
  if (lmw_emu_order == LMW_EMU_ORDER_UNSET) {
    const char *e = getenv ("LMW_CUDA_EMU_ORDER");
    int o = LMW_EMU_FORWARD;
    if (e && strcmp (e, "reverse") == 0)
      o = LMW_EMU_REVERSE;
    else if (e && strcmp (e, "random") == 0)
      o = LMW_EMU_RANDOM;
    else if (e && *e && strcmp (e, "forward") != 0)
      fprintf (stderr, "lmw-cuda-emu: LMW_CUDA_EMU_ORDER=%s unknown, running forward\n", e);
    lmw_emu_order = o;
  }
  return lmw_emu_order;
}

static inline lmw_emu_block *
lmw_emu_block_get (void)
{
  lmw_emu_block *b = lmw_emu_cur_block;
  if (!b) {
    fprintf (stderr, "lmw-cuda-emu: a device builtin used outside a kernel\n");
    abort ();
  }
  return b;
}

static inline const uint3 &lmw_emu_thread_idx (void) { lmw_emu_block *b = lmw_emu_block_get (); return b->fibers[b->cur].tid; }
static inline const uint3 &lmw_emu_block_idx (void) { return lmw_emu_block_get ()->bid; }
static inline const dim3 &lmw_emu_block_dim (void) { return lmw_emu_block_get ()->block; }
static inline const dim3 &lmw_emu_grid_dim (void) { return lmw_emu_block_get ()->grid; }
#define threadIdx (lmw_emu_thread_idx ())
#define blockIdx (lmw_emu_block_idx ())
#define blockDim (lmw_emu_block_dim ())
#define gridDim (lmw_emu_grid_dim ())

/* from the running fiber to the scheduler */
static inline void
lmw_emu_to_scheduler (lmw_emu_block *b, lmw_emu_fiber *f, bool finished)
{
#ifdef LMW_EMU_ASAN
  __sanitizer_start_switch_fiber (finished ? nullptr : &f->fake_stack, b->sched_stack,
                                  b->sched_stack_size);
#endif
#ifdef LMW_EMU_FAST_SWITCH
  lmw_emu_switch (&f->sp, b->sched_sp);
#else
  if (finished)
    return; /* the fiber's function returns to b->sched through uc_link */
  swapcontext (&f->ctx, &b->sched);
#endif
#ifdef LMW_EMU_ASAN
  __sanitizer_finish_switch_fiber (f->fake_stack, nullptr, nullptr);
#endif
}

/* the running fiber gives the CPU back to the scheduler with state `state` */
static inline void
lmw_emu_yield (int state)
{
  lmw_emu_block *b = lmw_emu_block_get ();
  lmw_emu_fiber *f = &b->fibers[b->cur];
  f->state = state;
  lmw_emu_to_scheduler (b, f, false);
}

static inline void __syncthreads (void) { lmw_emu_yield (LMW_EMU_AT_BLOCK); }
static inline void __syncwarp (unsigned mask = 0xffffffffu) { (void) mask; lmw_emu_yield (LMW_EMU_AT_WARP); }
static inline void __threadfence (void) {}
static inline void __threadfence_block (void) {}

static inline void
lmw_emu_fiber_main (void)
{
  lmw_emu_block *b = lmw_emu_cur_block;
#ifdef LMW_EMU_ASAN
  __sanitizer_finish_switch_fiber (nullptr, &b->sched_stack, &b->sched_stack_size);
#endif
  b->body (b->arg);
  lmw_emu_fiber *f = &b->fibers[b->cur];
  f->state = LMW_EMU_DONE;
  lmw_emu_to_scheduler (b, f, true);
#ifdef LMW_EMU_FAST_SWITCH
  abort (); /* a finished fiber is never resumed */
#endif
}

static inline void
lmw_emu_fail (const lmw_emu_block *b, const char *what)
{
  fprintf (stderr, "lmw-cuda-emu: %s in block (%u,%u,%u) of a (%u,%u,%u) x (%u,%u,%u) launch\n",
           what, b->bid.x, b->bid.y, b->bid.z, b->grid.x, b->grid.y, b->grid.z, b->block.x,
           b->block.y, b->block.z);
  abort ();
}

/* a fresh fiber i, to start in lmw_emu_fiber_main */
static inline void
lmw_emu_fiber_init (lmw_emu_block *b, int i)
{
  lmw_emu_fiber *f = &b->fibers[i];
  char *stack = b->stacks + (size_t) i * LMW_EMU_STACK;
#ifdef LMW_EMU_FAST_SWITCH
  /* the frame lmw_emu_switch pops: six registers, then the address it returns to; above it
   * the (never used) return address of lmw_emu_fiber_main, 16-byte aligned as after a call */
  void **sp = (void **) (((uintptr_t) (stack + LMW_EMU_STACK)) & ~(uintptr_t) 15);
  *--sp = nullptr;
  *--sp = (void *) lmw_emu_fiber_main;
  for (int r = 0; r < 6; r++)
    *--sp = nullptr;
  f->sp = sp;
#else
  getcontext (&f->ctx);
  f->ctx.uc_stack.ss_sp = stack;
  f->ctx.uc_stack.ss_size = LMW_EMU_STACK;
  f->ctx.uc_link = &b->sched;
  makecontext (&f->ctx, lmw_emu_fiber_main, 0);
#endif
}

/* Runs one block to completion. */
static inline void
lmw_emu_run_block (lmw_emu_block *b)
{
  for (int i = 0; i < b->n; i++) {
    lmw_emu_fiber *f = &b->fibers[i];
    f->tid.x = (unsigned) i % b->block.x;
    f->tid.y = ((unsigned) i / b->block.x) % b->block.y;
    f->tid.z = (unsigned) i / (b->block.x * b->block.y);
    f->state = LMW_EMU_READY;
    f->shuffles = 0;
    lmw_emu_fiber_init (b, i);
  }
  /* dynamic shared memory starts as garbage (NaN floats, -1 ints), as a GPU's may: a kernel
   * that reads it before writing shows it */
  if (b->dyn_shared_size)
    memset (b->dyn_shared, 0xff, b->dyn_shared_size);
  int n_warps = (b->n + 31) / 32;
  int mode = lmw_emu_get_order ();
  for (int i = 0; i < b->n; i++)
    b->order[i] = mode == LMW_EMU_REVERSE ? b->n - 1 - i : i;
  for (;;) {
    if (mode == LMW_EMU_RANDOM)
      for (int i = b->n - 1; i > 0; i--) { /* Fisher-Yates with xorshift64 */
        b->rng ^= b->rng << 13;
        b->rng ^= b->rng >> 7;
        b->rng ^= b->rng << 17;
        int j = (int) (b->rng % (uint64_t) (i + 1)), t = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = t;
      }
    for (int k = 0; k < b->n; k++) {
      int i = b->order[k];
      lmw_emu_fiber *f = &b->fibers[i];
      if (f->state != LMW_EMU_READY)
        continue;
      b->cur = i;
#ifdef LMW_EMU_ASAN
      void *fake = nullptr;
      __sanitizer_start_switch_fiber (&fake, b->stacks + (size_t) i * LMW_EMU_STACK, LMW_EMU_STACK);
#endif
#ifdef LMW_EMU_FAST_SWITCH
      lmw_emu_switch (&b->sched_sp, f->sp);
#else
      swapcontext (&b->sched, &f->ctx);
#endif
#ifdef LMW_EMU_ASAN
      __sanitizer_finish_switch_fiber (fake, nullptr, nullptr);
#endif
    }
    /* every fiber is now done or waiting at a barrier: release the complete barriers */
    int done = 0, at_block = 0;
    for (int i = 0; i < b->n; i++) {
      done += b->fibers[i].state == LMW_EMU_DONE;
      at_block += b->fibers[i].state == LMW_EMU_AT_BLOCK;
    }
    if (done == b->n)
      return;
    bool released = false;
    if (at_block == b->n) {
      for (int i = 0; i < b->n; i++)
        b->fibers[i].state = LMW_EMU_READY;
      released = true;
    }
    for (int w = 0; w < n_warps && at_block != b->n; w++) {
      int lo = w * 32, hi = lo + 32 < b->n ? lo + 32 : b->n, at_warp = 0;
      for (int i = lo; i < hi; i++)
        at_warp += b->fibers[i].state == LMW_EMU_AT_WARP;
      if (at_warp == hi - lo) {
        for (int i = lo; i < hi; i++)
          b->fibers[i].state = LMW_EMU_READY;
        released = true;
      }
    }
    if (!released)
      lmw_emu_fail (b, at_block ? "__syncthreads not reached by every thread of the block"
                                : "a warp barrier or shuffle not reached by every lane of the warp");
  }
}

struct lmw_emu_state {
  lmw_emu_block *block;
  unsigned char *dyn;
  size_t dyn_cap;
  ~lmw_emu_state ()
  {
    if (block) {
      free (block->stacks);
      free (block);
    }
    free (dyn);
  }
};
inline thread_local lmw_emu_state lmw_emu_tls;

/* Runs every block of a (grid, block) launch of body(arg); shared_bytes of dynamic shared memory. */
static inline void
lmw_emu_launch_raw (dim3 grid, dim3 block, size_t shared_bytes, void (*body) (void *), void *arg)
{
  size_t n = (size_t) block.x * block.y * block.z;
  if (n == 0 || n > LMW_EMU_MAX_THREADS || grid.x == 0 || grid.y == 0 || grid.z == 0) {
    fprintf (stderr, "lmw-cuda-emu: bad launch (%u,%u,%u) x (%u,%u,%u)\n", grid.x, grid.y,
             grid.z, block.x, block.y, block.z);
    abort ();
  }
  lmw_emu_state *st = &lmw_emu_tls;
  if (!st->block) {
    st->block = (lmw_emu_block *) calloc (1, sizeof *st->block);
    st->block->rng = 0x9e3779b97f4a7c15ull;
    st->block->stacks = (char *) malloc ((size_t) LMW_EMU_MAX_THREADS * LMW_EMU_STACK);
    if (!st->block->stacks) {
      fprintf (stderr, "lmw-cuda-emu: out of memory for fiber stacks\n");
      abort ();
    }
#ifdef LMW_EMU_VALGRIND
    for (int i = 0; i < LMW_EMU_MAX_THREADS; i++) {
      char *lo = st->block->stacks + (size_t) i * LMW_EMU_STACK;
      VALGRIND_STACK_REGISTER (lo, lo + LMW_EMU_STACK);
    }
#endif
  }
  if (shared_bytes > st->dyn_cap) {
    free (st->dyn);
    st->dyn = (unsigned char *) aligned_alloc (64, (shared_bytes + 63) / 64 * 64);
    st->dyn_cap = shared_bytes;
  }
  lmw_emu_block *b = st->block;
  lmw_emu_block *outer = lmw_emu_cur_block;
  if (outer) {
    fprintf (stderr, "lmw-cuda-emu: a launch from inside a kernel\n");
    abort ();
  }
  b->n = (int) n;
  b->grid = grid;
  b->block = block;
  b->dyn_shared = st->dyn;
  b->dyn_shared_size = shared_bytes;
  b->body = body;
  b->arg = arg;
  lmw_emu_cur_block = b;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        b->bid = uint3 {x, y, z};
        lmw_emu_run_block (b);
      }
  lmw_emu_cur_block = nullptr;
}

template <class F>
static void
lmw_emu_thunk (void *p)
{
  (*(F *) p) ();
}

template <class F>
static inline void
lmw_emu_launch (dim3 grid, dim3 block, size_t shared_bytes, F f)
{
  lmw_emu_launch_raw (grid, block, shared_bytes, lmw_emu_thunk<F>, &f);
}

/* kernel<<<grid, block, shared, stream>>> (args...): the arguments are taken by value as a
 * launch does (arrays decay to pointers) and converted to the kernel's parameter types at the
 * call, in every thread */
template <class K, class... A>
static inline void
lmw_emu_launch_kernel (dim3 grid, dim3 block, size_t shared_bytes, K kernel, A... args)
{
  lmw_emu_launch (grid, block, shared_bytes, [=] () { kernel (args...); });
}
#define LMW_LAUNCH(kernel, grid, block, shared, stream, ...)                                   \
  lmw_emu_launch_kernel ((grid), (block), (shared), kernel, __VA_ARGS__)

#define LMW_DYNAMIC_SHARED(type, name)                                                         \
  type *name = reinterpret_cast<type *> (lmw_emu_block_get ()->dyn_shared)

/* ---- warp operations -------------------------------------------------------------------- */
static inline int
lmw_emu_linear_tid (const lmw_emu_block *b)
{
  return b->cur;
}

template <class T>
static inline T
lmw_emu_shfl (T v, int src_lane_in_warp)
{
  static_assert (sizeof (T) <= sizeof (uint64_t), "shuffle of a type wider than 8 bytes");
  lmw_emu_block *b = lmw_emu_block_get ();
  int me = lmw_emu_linear_tid (b);
  uint64_t *slots = b->slots[b->fibers[me].shuffles++ & 1];
  uint64_t bits = 0;
  memcpy (&bits, &v, sizeof v);
  slots[me] = bits;
  lmw_emu_yield (LMW_EMU_AT_WARP);
  int src = (me & ~31) + src_lane_in_warp;
  if (src >= b->n)
    src = me; /* a lane past the end of a partial warp: the caller's own value */
  T r;
  memcpy (&r, &slots[src], sizeof r);
  return r;
}

template <class T>
static inline T
__shfl_xor_sync (unsigned mask, T v, int lane_mask, int width = 32)
{
  (void) mask;
  int lane = lmw_emu_linear_tid (lmw_emu_block_get ()) & 31;
  int src = lane ^ lane_mask;
  if ((src & ~(width - 1)) != (lane & ~(width - 1)))
    src = lane;
  return lmw_emu_shfl (v, src);
}

template <class T>
static inline T
__shfl_sync (unsigned mask, T v, int src_lane, int width = 32)
{
  (void) mask;
  int lane = lmw_emu_linear_tid (lmw_emu_block_get ()) & 31;
  int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
  return lmw_emu_shfl (v, src);
}

template <class T>
static inline T
__shfl_down_sync (unsigned mask, T v, unsigned delta, int width = 32)
{
  (void) mask;
  int lane = lmw_emu_linear_tid (lmw_emu_block_get ()) & 31;
  int src = lane + (int) delta;
  if ((src & ~(width - 1)) != (lane & ~(width - 1)))
    src = lane;
  return lmw_emu_shfl (v, src);
}

/* ---- atomics (fibers never run at once) ------------------------------------------------- */
template <class T>
static inline T
atomicAdd (T *p, T v)
{
  T old = *p;
  *p = old + v;
  return old;
}
static inline int
atomicMax (int *p, int v)
{
  int old = *p;
  if (v > old)
    *p = v;
  return old;
}
static inline unsigned
atomicCAS (unsigned *p, unsigned cmp, unsigned v)
{
  unsigned old = *p;
  if (old == cmp)
    *p = v;
  return old;
}

/* ---- tensor cores: nvcuda::wmma, m16n16k16, f16 inputs, f32 accumulator ---------------- */
/* Every lane holds the whole 16 x 16 tile (on a GPU each holds an unspecified part), so the
 * kernels may only load, store, fill and multiply fragments, never index their elements; the
 * product is computed in f32 from the exact f16 values.  Loads and stores are warp-collective
 * as on a GPU: every lane has loaded before any lane goes on (a warp barrier after the load),
 * and every lane reaches a store before any lane writes (a barrier before it), so a fragment
 * loaded from shared memory, updated and stored back is updated once, not once per lane.
 * Pointers must be 32-byte aligned and ldm a multiple of 16 bytes, as on a GPU: a violation
 * aborts. */
namespace nvcuda
{
namespace wmma
{
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static_assert (M == 16 && N == 16 && K == 16, "lmw-cuda-emu: only m16n16k16 fragments");
  float t[16][16]; /* [row][col] of the tile this fragment holds */
};

static inline void
lmw_emu_wmma_check (const void *p, unsigned ldm, size_t elem)
{
  if (((uintptr_t) p & 31) != 0 || (ldm * elem) % 16 != 0) {
    fprintf (stderr, "lmw-cuda-emu: wmma pointer not 32-byte aligned or ldm not a multiple of "
                     "16 bytes\n");
    abort ();
  }
}

static inline float lmw_emu_wmma_get (const __half *p, size_t i) { return __half2float (p[i]); }
static inline float lmw_emu_wmma_get (const float *p, size_t i) { return p[i]; }

template <class Use, class T, class Layout, class P>
static inline void
load_matrix_sync (fragment<Use, 16, 16, 16, T, Layout> &f, const P *p, unsigned ldm)
{
  static_assert (!std::is_same<Use, accumulator>::value, "accumulator loads need a layout");
  lmw_emu_wmma_check (p, ldm, sizeof (P));
  bool row = std::is_same<Layout, row_major>::value;
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++)
      f.t[i][j] = lmw_emu_wmma_get (p, row ? (size_t) i * ldm + j : (size_t) j * ldm + i);
  __syncwarp ();
}

static inline void
load_matrix_sync (fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm,
                  layout_t layout)
{
  lmw_emu_wmma_check (p, ldm, sizeof (float));
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++)
      f.t[i][j] = p[layout == mem_row_major ? (size_t) i * ldm + j : (size_t) j * ldm + i];
  __syncwarp ();
}

static inline void
store_matrix_sync (float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm,
                   layout_t layout)
{
  lmw_emu_wmma_check (p, ldm, sizeof (float));
  __syncwarp ();
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++)
      p[layout == mem_row_major ? (size_t) i * ldm + j : (size_t) j * ldm + i] = f.t[i][j];
}

template <class Use, class T, class Layout>
static inline void
fill_fragment (fragment<Use, 16, 16, 16, T, Layout> &f, float v)
{
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++)
      f.t[i][j] = v;
}

template <class LA, class LB>
static inline void
mma_sync (fragment<accumulator, 16, 16, 16, float> &d,
          const fragment<matrix_a, 16, 16, 16, __half, LA> &a,
          const fragment<matrix_b, 16, 16, 16, __half, LB> &b,
          const fragment<accumulator, 16, 16, 16, float> &c)
{
  float r[16][16];
  for (int i = 0; i < 16; i++)
    for (int j = 0; j < 16; j++) {
      float s = c.t[i][j];
      for (int k = 0; k < 16; k++)
        s += a.t[i][k] * b.t[k][j];
      r[i][j] = s;
    }
  memcpy (d.t, r, sizeof r);
}
} /* namespace wmma */
} /* namespace nvcuda */

#endif /* LMW_CUDA_EMU_H */
