/* SPDX-License-Identifier: MIT */
/*
 * cuda-host-shim.c — the CUDA runtime and cuBLAS calls of bench/cuda/lmw-cuda-bench.c done on
 * the host, so that the benchmark runs on a machine without a GPU against the emulated kernels
 * (test cuda-bench-emu): every launcher call it makes is checked (arguments, and under ASan
 * every index) before a GPU machine's time is spent on it.  The times it prints mean nothing.
 *
 * Memory is host memory (cudaMalloc is malloc, every copy a memcpy); streams and events are
 * tokens, an event holds the time it was recorded; cublasGemmEx computes the column-major
 * product of its arguments with f16 inputs converted exactly and f32 accumulation, for the
 * types the benchmark uses (A, B: 16F or 32F; C: 32F or 16F; compute 32F).
 */
#include "lmw-backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

cudaError_t CUDARTAPI
cudaMalloc (void **p, size_t n)
{
  *p = malloc (n ? n : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t CUDARTAPI
cudaFree (void *p)
{
  free (p);
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaMemcpy (void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
  (void) kind;
  memmove (dst, src, n);
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaSetDevice (int device)
{
  return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

cudaError_t CUDARTAPI
cudaGetDeviceProperties (struct cudaDeviceProp *prop, int device)
{
  memset (prop, 0, sizeof *prop);
  strcpy (prop->name, "host (emulated kernels)");
  return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

const char *CUDARTAPI
cudaGetErrorString (cudaError_t e)
{
  return e == cudaSuccess ? "no error" : "host shim error";
}

cudaError_t CUDARTAPI
cudaGetLastError (void)
{
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaStreamCreate (cudaStream_t *s)
{
  static int token;
  *s = (cudaStream_t) &token;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaStreamSynchronize (cudaStream_t s)
{
  (void) s;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaStreamDestroy (cudaStream_t s)
{
  (void) s;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaEventCreate (cudaEvent_t *e)
{
  *e = (cudaEvent_t) calloc (1, sizeof (double));
  return *e ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t CUDARTAPI
cudaEventRecord (cudaEvent_t e, cudaStream_t s)
{
  (void) s;
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  *(double *) e = t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaEventSynchronize (cudaEvent_t e)
{
  (void) e;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaEventElapsedTime (float *ms, cudaEvent_t a, cudaEvent_t b)
{
  *ms = (float) (*(double *) b - *(double *) a);
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaEventDestroy (cudaEvent_t e)
{
  free ((void *) e);
  return cudaSuccess;
}

/* stream capture: the emulated launches run as they are queued, so a capture records nothing
 * and a graph launch runs nothing (the times mean nothing here either) */
cudaError_t CUDARTAPI
cudaStreamBeginCapture (cudaStream_t s, enum cudaStreamCaptureMode mode)
{
  (void) s;
  (void) mode;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaStreamEndCapture (cudaStream_t s, cudaGraph_t *g)
{
  (void) s;
  static int token;
  *g = (cudaGraph_t) &token;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaGraphInstantiate (cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long flags)
{
  (void) flags;
  *exec = (cudaGraphExec_t) g;
  return g ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t CUDARTAPI
cudaGraphLaunch (cudaGraphExec_t exec, cudaStream_t s)
{
  (void) s;
  return exec ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t CUDARTAPI
cudaGraphDestroy (cudaGraph_t g)
{
  (void) g;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaGraphExecDestroy (cudaGraphExec_t exec)
{
  (void) exec;
  return cudaSuccess;
}

cudaError_t CUDARTAPI
cudaMemset (void *p, int v, size_t n)
{
  memset (p, v, n);
  return cudaSuccess;
}

cublasStatus_t CUBLASWINAPI
cublasSetWorkspace_v2 (cublasHandle_t h, void *ws, size_t bytes)
{
  (void) h;
  (void) ws;
  (void) bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI
cublasCreate_v2 (cublasHandle_t *h)
{
  static int token;
  *h = (cublasHandle_t) &token;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI
cublasDestroy_v2 (cublasHandle_t h)
{
  (void) h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t CUBLASWINAPI
cublasSetStream_v2 (cublasHandle_t h, cudaStream_t s)
{
  (void) h, (void) s;
  return CUBLAS_STATUS_SUCCESS;
}

static float
load (const void *p, cudaDataType t, size_t i)
{
  return t == CUDA_R_16F ? lmw_fp16_to_fp32 (((const uint16_t *) p)[i]) : ((const float *) p)[i];
}

cublasStatus_t CUBLASWINAPI
cublasGemmEx (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
              int n, int k, const void *alpha, const void *A, cudaDataType Atype, int lda,
              const void *B, cudaDataType Btype, int ldb, const void *beta, void *C,
              cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
              cublasGemmAlgo_t algo)
{
  (void) handle, (void) algo;
  if (computeType != CUBLAS_COMPUTE_32F || (Atype != CUDA_R_16F && Atype != CUDA_R_32F) ||
      (Btype != CUDA_R_16F && Btype != CUDA_R_32F) || (Ctype != CUDA_R_32F && Ctype != CUDA_R_16F))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m < 0 || n < 0 || k < 0 || ldc < m ||
      lda < (transa == CUBLAS_OP_N ? m : k) || ldb < (transb == CUBLAS_OP_N ? k : n))
    return CUBLAS_STATUS_INVALID_VALUE;
  float al = *(const float *) alpha, be = *(const float *) beta;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      float s = 0.0f;
      for (int p = 0; p < k; p++) {
        size_t ia = transa == CUBLAS_OP_N ? (size_t) i + (size_t) p * lda : (size_t) p + (size_t) i * lda;
        size_t ib = transb == CUBLAS_OP_N ? (size_t) p + (size_t) j * ldb : (size_t) j + (size_t) p * ldb;
        s += load (A, Atype, ia) * load (B, Btype, ib);
      }
      size_t ic = (size_t) i + (size_t) j * ldc;
      float c = be != 0.0f ? be * load (C, Ctype, ic) : 0.0f;
      float v = al * s + c;
      if (Ctype == CUDA_R_16F)
        ((uint16_t *) C)[ic] = lmw_fp32_to_fp16 (v);
      else
        ((float *) C)[ic] = v;
    }
  return CUBLAS_STATUS_SUCCESS;
}
