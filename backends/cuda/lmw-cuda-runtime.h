/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-runtime.h — the few device services the CUDA backend's host code uses: device memory,
 * copies, one stream, and matrix products with the argument semantics of cublasGemmEx.
 *
 * Two implementations, chosen when the backend is built:
 *   lmw-cuda-runtime.c      the CUDA runtime and cuBLAS (the "cuda" module);
 *   lmw-cuda-runtime-emu.c  host memory, and lmw_host_gemm_ex, a host twin of the cublasGemmEx
 *                           calls the backend makes (the "cuda-emu" backend).
 * So lmw-backend-cuda.c is one source: what runs on the CPU under cuda-emu is the code that
 * drives the GPU, with the same kernels (built under the emulation header) and the same
 * column-major product arguments.
 *
 * Every function returns 0 or -1; after -1, lmw_cuda_rt_error says why.  A context is used by
 * one thread at a time.
 */
#ifndef LMW_CUDA_RUNTIME_H
#define LMW_CUDA_RUNTIME_H

#include "lmw-backend.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmw_cuda_rt lmw_cuda_rt;

/* Operand transposition, as cublasOperation_t: N uses the column-major matrix as stored, T its
 * transpose. */
typedef enum {
  LMW_OP_N = 0,
  LMW_OP_T = 1,
} lmw_gemm_op;

/* Devices usable here (0 when none, or no driver). */
int lmw_cuda_rt_device_count (void);
/* A context on device `device`: its own stream and cuBLAS handle.  (transfer full) (nullable:
 * NULL with err filled) */
lmw_cuda_rt *lmw_cuda_rt_new (int device, char *err, size_t err_len);
void lmw_cuda_rt_free (lmw_cuda_rt *rt);
/* Makes the context's device the calling thread's current one (the runtime keeps it per
 * thread, and a stream can only be used on its device): every operation starts with it. */
void lmw_cuda_rt_enter (lmw_cuda_rt *rt);
/* The stream kernel launchers take (a cudaStream_t; NULL under emulation). */
void *lmw_cuda_rt_stream (lmw_cuda_rt *rt);
/* "NVIDIA H100 80GB HBM3 (device 0, sm_90)"; "CPU emulation of CUDA" under emulation. */
const char *lmw_cuda_rt_device_name (lmw_cuda_rt *rt);
/* The reason of the last failure. */
const char *lmw_cuda_rt_error (lmw_cuda_rt *rt);

/* Device memory, at least 256-byte aligned; NULL when out of memory. */
void *lmw_cuda_rt_malloc (lmw_cuda_rt *rt, size_t bytes);
void lmw_cuda_rt_free_mem (lmw_cuda_rt *rt, void *p);
/* host -> device, complete on return */
int lmw_cuda_rt_upload (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes);
/* device -> host, after everything queued on the stream */
int lmw_cuda_rt_download (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes);
/* device -> device, queued on the stream */
int lmw_cuda_rt_copy (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes);
/* waits for the stream; reports an error a kernel raised while it ran */
int lmw_cuda_rt_sync (lmw_cuda_rt *rt);

/* Stream capture (CUDA graphs).  capture_begin starts recording the work queued on the stream
 * (nothing of it runs); capture_end stops and instantiates the record into *exec, which
 * graph_launch queues on the stream as often as wanted, and graph_free frees.  While
 * capturing, nothing may upload, download, sync, allocate or free (each fails).  Under
 * emulation the queued work runs as it is queued (launches always run at once), *exec is a
 * token, and graph_launch runs nothing: the caller queues the work again instead. */
int lmw_cuda_rt_capture_begin (lmw_cuda_rt *rt);
int lmw_cuda_rt_capture_end (lmw_cuda_rt *rt, void **exec);
int lmw_cuda_rt_graph_launch (lmw_cuda_rt *rt, void *exec);
void lmw_cuda_rt_graph_free (lmw_cuda_rt *rt, void *exec);

/* C (m, n) = alpha * op (A) · op (B) + beta * C, column-major as cublasGemmEx: op (A) is
 * (m, k), op (B) (k, n); A, B of a_type, b_type (LMW_TYPE_F16 or LMW_TYPE_F32, the same for
 * both), C of c_type (LMW_TYPE_F32, or LMW_TYPE_F16 when A and B are), leading dimensions in
 * elements; products accumulate in f32 (CUBLAS_COMPUTE_32F).  Queued on the stream. */
int lmw_cuda_rt_gemm (lmw_cuda_rt *rt, lmw_gemm_op op_a, lmw_gemm_op op_b, int m, int n, int k,
                      float alpha, const void *A, lmw_type a_type, int lda, const void *B,
                      lmw_type b_type, int ldb, float beta, void *C, lmw_type c_type, int ldc);

/* The host twin of those products (lmw-cuda-runtime-emu.c), exposed for its tests: the same
 * arguments on host memory, f16 operands read as the device reads them, f32 accumulation
 * (eight partial sums over k, as a tensor-core product also sums in its own order), an f16 C
 * rounded to nearest even; beta == 0 never reads C.  0, or -1 for arguments cublasGemmEx
 * rejects (CUBLAS_STATUS_INVALID_VALUE: negative sizes, short leading dimensions, mixed or
 * unsupported types). */
int lmw_host_gemm_ex (lmw_gemm_op op_a, lmw_gemm_op op_b, int m, int n, int k, float alpha,
                      const void *A, lmw_type a_type, int lda, const void *B, lmw_type b_type,
                      int ldb, float beta, void *C, lmw_type c_type, int ldc);

#ifdef __cplusplus
}
#endif

#endif /* LMW_CUDA_RUNTIME_H */
