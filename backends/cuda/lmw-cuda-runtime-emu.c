/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-runtime-emu.c — the device services of lmw-cuda-runtime.h on the CPU, for the
 * cuda-emu backend: "device" memory is host memory, the stream is the calling thread (the
 * emulated kernel launches run before they return), and the products run in
 * lmw_host_gemm_ex, the host twin of cublasGemmEx with its column-major argument semantics.
 */
#include "lmw-cuda-runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lmw_cuda_rt {
  int capturing; /* between capture_begin and capture_end: what a capture forbids fails */
  char error[200];
};

/* -1 with the reason when a capture is under way (as the CUDA runtime refuses it) */
static int
refused_in_capture (lmw_cuda_rt *rt, const char *what)
{
  if (!rt->capturing)
    return 0;
  snprintf (rt->error, sizeof rt->error, "%s: operation not permitted when stream is capturing",
            what);
  return -1;
}

int
lmw_cuda_rt_device_count (void)
{
  return 1;
}

lmw_cuda_rt *
lmw_cuda_rt_new (int device, char *err, size_t err_len)
{
  if (device != 0) { /* one emulated device, refused as the runtime refuses a missing one */
    snprintf (err, err_len, "CUDA device %d does not exist (1 device)", device);
    return NULL;
  }
  lmw_cuda_rt *rt = calloc (1, sizeof *rt);
  if (rt == NULL)
    snprintf (err, err_len, "out of memory");
  return rt;
}

void
lmw_cuda_rt_free (lmw_cuda_rt *rt)
{
  free (rt);
}

void
lmw_cuda_rt_enter (lmw_cuda_rt *rt)
{
  (void) rt; /* one thread runs each emulated launch: nothing is per thread */
}

void *
lmw_cuda_rt_stream (lmw_cuda_rt *rt)
{
  (void) rt;
  return NULL;
}

const char *
lmw_cuda_rt_device_name (lmw_cuda_rt *rt)
{
  (void) rt;
  return "CPU emulation of CUDA (kernels under the emulation header, host twin of cuBLAS)";
}

const char *
lmw_cuda_rt_error (lmw_cuda_rt *rt)
{
  return rt->error;
}

void *
lmw_cuda_rt_malloc (lmw_cuda_rt *rt, size_t bytes)
{
  if (refused_in_capture (rt, "cudaMalloc") != 0)
    return NULL;
  void *p = aligned_alloc (256, bytes ? (bytes + 255) / 256 * 256 : 256);
  if (p == NULL)
    snprintf (rt->error, sizeof rt->error, "out of memory for %zu bytes", bytes);
  return p;
}

void
lmw_cuda_rt_free_mem (lmw_cuda_rt *rt, void *p)
{
  if (p != NULL && refused_in_capture (rt, "cudaFree") != 0)
    abort (); /* the caller cannot report it, and the GPU's capture would be invalidated */
  free (p);
}

int
lmw_cuda_rt_upload (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes)
{
  if (refused_in_capture (rt, "upload") != 0)
    return -1;
  if (bytes > 0)
    memcpy (dst, src, bytes);
  return 0;
}

int
lmw_cuda_rt_download (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes)
{
  if (refused_in_capture (rt, "download") != 0)
    return -1;
  if (bytes > 0)
    memcpy (dst, src, bytes);
  return 0;
}

int
lmw_cuda_rt_copy (lmw_cuda_rt *rt, void *dst, const void *src, size_t bytes)
{
  (void) rt;
  if (bytes > 0)
    memmove (dst, src, bytes);
  return 0;
}

int
lmw_cuda_rt_sync (lmw_cuda_rt *rt)
{
  return refused_in_capture (rt, "cudaStreamSynchronize");
}

int
lmw_cuda_rt_capture_begin (lmw_cuda_rt *rt)
{
  if (refused_in_capture (rt, "cudaStreamBeginCapture") != 0)
    return -1;
  rt->capturing = 1;
  return 0;
}

int
lmw_cuda_rt_capture_end (lmw_cuda_rt *rt, void **exec)
{
  *exec = NULL;
  if (!rt->capturing) {
    snprintf (rt->error, sizeof rt->error, "cudaStreamEndCapture: the stream is not capturing");
    return -1;
  }
  rt->capturing = 0;
  *exec = rt; /* a token: the work ran as it was queued */
  return 0;
}

int
lmw_cuda_rt_graph_launch (lmw_cuda_rt *rt, void *exec)
{
  if (exec == NULL) {
    snprintf (rt->error, sizeof rt->error, "cudaGraphLaunch: no graph");
    return -1;
  }
  return refused_in_capture (rt, "cudaGraphLaunch");
}

void
lmw_cuda_rt_graph_free (lmw_cuda_rt *rt, void *exec)
{
  (void) rt;
  (void) exec;
}

int
lmw_cuda_rt_gemm (lmw_cuda_rt *rt, lmw_gemm_op op_a, lmw_gemm_op op_b, int m, int n, int k,
                  float alpha, const void *A, lmw_type a_type, int lda, const void *B,
                  lmw_type b_type, int ldb, float beta, void *C, lmw_type c_type, int ldc)
{
  if (lmw_host_gemm_ex (op_a, op_b, m, n, k, alpha, A, a_type, lda, B, b_type, ldb, beta, C,
                        c_type, ldc) != 0) {
    snprintf (rt->error, sizeof rt->error, "gemm: invalid value (m %d n %d k %d lda %d ldb %d "
              "ldc %d)", m, n, k, lda, ldb, ldc);
    return -1;
  }
  return 0;
}

/* ---- the host twin of cublasGemmEx ----------------------------------------------------- */

/* dst (k) = row i of op (X) where op (X) is (rows, k) column-major with leading dimension ld:
 * stored X is (rows, k) for LMW_OP_N and (k, rows) for LMW_OP_T */
static void
load_row (float *dst, const void *X, lmw_type type, int ld, lmw_gemm_op op, int i, int k)
{
  for (int p = 0; p < k; p++) {
    size_t at = op == LMW_OP_N ? (size_t) i + (size_t) p * ld : (size_t) p + (size_t) i * ld;
    dst[p] = type == LMW_TYPE_F16 ? lmw_fp16_to_fp32 (((const uint16_t *) X)[at])
                                  : ((const float *) X)[at];
  }
}

static float
dot (const float *a, const float *b, int k)
{
  float s[8] = { 0 };
  int p = 0;
  for (; p + 8 <= k; p += 8)
    for (int j = 0; j < 8; j++)
      s[j] += a[p + j] * b[p + j];
  for (; p < k; p++)
    s[p & 7] += a[p] * b[p];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

int
lmw_host_gemm_ex (lmw_gemm_op op_a, lmw_gemm_op op_b, int m, int n, int k, float alpha,
                  const void *A, lmw_type a_type, int lda, const void *B, lmw_type b_type,
                  int ldb, float beta, void *C, lmw_type c_type, int ldc)
{
  int a_rows = op_a == LMW_OP_N ? m : k, b_rows = op_b == LMW_OP_N ? k : n;
  if (m < 0 || n < 0 || k < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
      ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1) || a_type != b_type ||
      (a_type != LMW_TYPE_F16 && a_type != LMW_TYPE_F32) ||
      (c_type != LMW_TYPE_F32 && !(c_type == LMW_TYPE_F16 && a_type == LMW_TYPE_F16)) ||
      (op_a != LMW_OP_N && op_a != LMW_OP_T) || (op_b != LMW_OP_N && op_b != LMW_OP_T))
    return -1;
  if (m == 0 || n == 0)
    return 0;
  /* op (B)^T, (n, k) row-major: column j of op (B) is row j here */
  float *bt = malloc (sizeof (float) * (size_t) n * (k > 0 ? k : 1));
  float *arow = malloc (sizeof (float) * (size_t) (k > 0 ? k : 1));
  if (bt == NULL || arow == NULL) {
    free (bt);
    free (arow);
    return -1;
  }
  lmw_gemm_op op_bt = op_b == LMW_OP_N ? LMW_OP_T : LMW_OP_N; /* rows of op (B)^T */
  for (int j = 0; j < n; j++)
    load_row (bt + (size_t) j * k, B, b_type, ldb, op_bt, j, k);
  for (int i = 0; i < m; i++) {
    load_row (arow, A, a_type, lda, op_a, i, k);
    for (int j = 0; j < n; j++) {
      size_t at = (size_t) i + (size_t) j * ldc;
      float v = alpha * dot (arow, bt + (size_t) j * k, k);
      if (c_type == LMW_TYPE_F32) {
        float *c = (float *) C + at;
        *c = beta == 0.0f ? v : v + beta * *c;
      } else {
        uint16_t *c = (uint16_t *) C + at;
        *c = lmw_fp32_to_fp16 (beta == 0.0f ? v : v + beta * lmw_fp16_to_fp32 (*c));
      }
    }
  }
  free (bt);
  free (arow);
  return 0;
}
