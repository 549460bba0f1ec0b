/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-runtime.c — the device services of lmw-cuda-runtime.h on a GPU: the CUDA runtime
 * (one non-blocking stream per context) and cuBLAS (cublasGemmEx on tensor cores, f32
 * accumulation).  Built only into the CUDA module, which the registry opens once it has seen a
 * driver and a device.
 */
#include "lmw-cuda-runtime.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LMW_CUBLAS_WORKSPACE ((size_t) 32 << 20)

struct lmw_cuda_rt {
  int device;
  cudaStream_t stream;   /* owned */
  cublasHandle_t blas;   /* owned, bound to stream */
  void *workspace;       /* owned: cuBLAS's workspace, fixed so that products can be captured */
  char name[340];
  char error[200];
};

static int
fail (lmw_cuda_rt *rt, const char *what, cudaError_t e)
{
  snprintf (rt->error, sizeof rt->error, "%s: %s", what, cudaGetErrorString (e));
  return -1;
}

int
lmw_cuda_rt_device_count (void)
{
  int n = 0;
  if (cudaGetDeviceCount (&n) != cudaSuccess)
    return 0;
  return n;
}

lmw_cuda_rt *
lmw_cuda_rt_new (int device, char *err, size_t err_len)
{
  int n = lmw_cuda_rt_device_count ();
  if (device < 0 || device >= n) {
    snprintf (err, err_len, "CUDA device %d does not exist (%d device%s)", device, n,
              n == 1 ? "" : "s");
    return NULL;
  }
  lmw_cuda_rt *rt = calloc (1, sizeof *rt);
  if (rt == NULL) {
    snprintf (err, err_len, "out of memory");
    return NULL;
  }
  rt->device = device;
  struct cudaDeviceProp prop;
  cudaError_t e = cudaSetDevice (device);
  if (e == cudaSuccess)
    e = cudaGetDeviceProperties (&prop, device);
  if (e == cudaSuccess)
    e = cudaStreamCreateWithFlags (&rt->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    snprintf (err, err_len, "CUDA device %d: %s", device, cudaGetErrorString (e));
    free (rt);
    return NULL;
  }
  if (cublasCreate (&rt->blas) != CUBLAS_STATUS_SUCCESS) {
    snprintf (err, err_len, "CUDA device %d: cublasCreate failed", device);
    cudaStreamDestroy (rt->stream);
    free (rt);
    return NULL;
  }
  cublasSetStream (rt->blas, rt->stream);
  /* a workspace of our own: cuBLAS then never allocates inside a captured step */
  if (cudaMalloc (&rt->workspace, LMW_CUBLAS_WORKSPACE) == cudaSuccess)
    cublasSetWorkspace (rt->blas, rt->workspace, LMW_CUBLAS_WORKSPACE);
  else
    rt->workspace = NULL;
  cublasSetMathMode (rt->blas, CUBLAS_DEFAULT_MATH);
  snprintf (rt->name, sizeof rt->name, "%s (device %d, sm_%d%d, %zu MiB)", prop.name, device,
            prop.major, prop.minor, (size_t) (prop.totalGlobalMem >> 20));
  return rt;
}

void
lmw_cuda_rt_free (lmw_cuda_rt *rt)
{
  if (rt == NULL)
    return;
  cudaSetDevice (rt->device);
  cudaStreamSynchronize (rt->stream);
  cublasDestroy (rt->blas);
  cudaFree (rt->workspace);
  cudaStreamDestroy (rt->stream);
  free (rt);
}

void
lmw_cuda_rt_enter (lmw_cuda_rt *rt)
{
  cudaSetDevice (rt->device);
}

void *
lmw_cuda_rt_stream (lmw_cuda_rt *rt)
{
  return rt->stream;
}

const char *
lmw_cuda_rt_device_name (lmw_cuda_rt *rt)
{
  return rt->name;
}

const char *
lmw_cuda_rt_error (lmw_cuda_rt *rt)
{
  return rt->error;
}

void *
lmw_cuda_rt_malloc (lmw_cuda_rt *rt, size_t bytes)
{
  void *p = NULL;
  cudaSetDevice (rt->device); /* the calling thread may be new to this context */
  cudaError_t e = cudaMalloc (&p, bytes ? bytes : 256);
  if (e != cudaSuccess) {
    fail (rt, "cudaMalloc", e);
    return NULL;
  }
  return p;
}

void
lmw_cuda_rt_free_mem (lmw_cuda_rt *rt, void *p)
{
  if (p == NULL)
    return;
  cudaSetDevice (rt->device);
  cudaStreamSynchronize (rt->stream); /* queued work may still read it */
  cudaFree (p);
}

int
lmw_cuda_rt_upload (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes)
{
  if (bytes == 0)
    return 0;
  cudaError_t e = cudaMemcpyAsync (dst, src, bytes, cudaMemcpyHostToDevice, rt->stream);
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (rt->stream);
  return e == cudaSuccess ? 0 : fail (rt, "upload", e);
}

int
lmw_cuda_rt_download (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes)
{
  if (bytes == 0)
    return 0;
  cudaError_t e = cudaMemcpyAsync (dst, src, bytes, cudaMemcpyDeviceToHost, rt->stream);
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (rt->stream);
  return e == cudaSuccess ? 0 : fail (rt, "download", e);
}

int
lmw_cuda_rt_copy (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes)
{
  if (bytes == 0)
    return 0;
  cudaError_t e = cudaMemcpyAsync (dst, src, bytes, cudaMemcpyDeviceToDevice, rt->stream);
  return e == cudaSuccess ? 0 : fail (rt, "copy", e);
}

int
lmw_cuda_rt_sync (lmw_cuda_rt *rt)
{
  cudaError_t e = cudaStreamSynchronize (rt->stream);
  return e == cudaSuccess ? 0 : fail (rt, "a kernel", e);
}

int
lmw_cuda_rt_capture_begin (lmw_cuda_rt *rt)
{
  cudaError_t e = cudaStreamBeginCapture (rt->stream, cudaStreamCaptureModeThreadLocal);
  return e == cudaSuccess ? 0 : fail (rt, "cudaStreamBeginCapture", e);
}

int
lmw_cuda_rt_capture_end (lmw_cuda_rt *rt, void **exec)
{
  cudaGraph_t graph = NULL;
  cudaGraphExec_t ge = NULL;
  *exec = NULL;
  cudaError_t e = cudaStreamEndCapture (rt->stream, &graph);
  if (e != cudaSuccess) {
    if (graph != NULL)
      cudaGraphDestroy (graph);
    return fail (rt, "cudaStreamEndCapture", e);
  }
  e = cudaGraphInstantiate (&ge, graph, 0);
  cudaGraphDestroy (graph);
  if (e != cudaSuccess)
    return fail (rt, "cudaGraphInstantiate", e);
  *exec = ge;
  return 0;
}

int
lmw_cuda_rt_graph_launch (lmw_cuda_rt *rt, void *exec)
{
  cudaError_t e = cudaGraphLaunch ((cudaGraphExec_t) exec, rt->stream);
  return e == cudaSuccess ? 0 : fail (rt, "cudaGraphLaunch", e);
}

void
lmw_cuda_rt_graph_free (lmw_cuda_rt *rt, void *exec)
{
  if (exec == NULL)
    return;
  cudaSetDevice (rt->device);
  cudaGraphExecDestroy ((cudaGraphExec_t) exec);
}

static cudaDataType_t
data_type (lmw_type t)
{
  return t == LMW_TYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
}

int
lmw_cuda_rt_gemm (lmw_cuda_rt *rt, lmw_gemm_op op_a, lmw_gemm_op op_b, int m, int n, int k,
                  float alpha, const void *A, lmw_type a_type, int lda, const void *B,
                  lmw_type b_type, int ldb, float beta, void *C, lmw_type c_type, int ldc)
{
  cublasStatus_t s = cublasGemmEx (rt->blas, op_a == LMW_OP_T ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   op_b == LMW_OP_T ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha,
                                   A, data_type (a_type), lda, B, data_type (b_type), ldb, &beta,
                                   C, data_type (c_type), ldc, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS) {
    snprintf (rt->error, sizeof rt->error, "cublasGemmEx (m %d n %d k %d): %s", m, n, k,
              cublasGetStatusString (s));
    return -1;
  }
  return 0;
}
