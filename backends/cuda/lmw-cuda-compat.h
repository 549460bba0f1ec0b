/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-compat.h — what kernel sources include instead of the CUDA headers, so that one
 * source builds with nvcc and, with LMW_CUDA_EMU defined, with the host C++ compiler under
 * emu/lmw-cuda-emu.h.  Both ways it provides:
 *   LMW_LAUNCH (kernel, grid, block, shared_bytes, stream, args...)
 *       kernel<<<grid, block, shared_bytes, stream>>> (args...); `kernel` is a name (a template
 *       instance goes through a local variable: auto k = kernel<64, float>;), stream a void *
 *   LMW_DYNAMIC_SHARED (type, name)
 *       declares `type *name` pointing at the launch's dynamic shared memory (16-byte aligned)
 *   nvcuda::wmma (m16n16k16, f16 inputs, f32 accumulator: load, store, fill, mma only)
 *   LMW_GRID_CAP
 *       the most blocks a grid-stride kernel needs: many on a GPU, a few under emulation,
 *       where every block costs its threads' fibers and the result is the same
 */
#ifndef LMW_CUDA_COMPAT_H
#define LMW_CUDA_COMPAT_H

#ifdef LMW_CUDA_EMU
#include "emu/lmw-cuda-emu.h"
#define LMW_GRID_CAP 8u
#else
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>
#define LMW_LAUNCH(kernel, grid, block, shared, stream, ...)                                   \
  kernel<<<(grid), (block), (shared), (cudaStream_t) (stream)>>> (__VA_ARGS__)
#define LMW_DYNAMIC_SHARED(type, name)                                                         \
  extern __shared__ __align__ (16) unsigned char lmw_dynamic_shared[];                        \
  type *name = reinterpret_cast<type *> (lmw_dynamic_shared)
#define LMW_GRID_CAP 4096u
#endif

#endif /* LMW_CUDA_COMPAT_H */
