/* SPDX-License-Identifier: MIT */
/*
 * lmw-backend-cuda.c — the CUDA backend's host code: device buffers, f16 weights, cuBLAS
 * products and the kernel launchers of lmw-cuda-kernels.h, behind the operation table of
 * lmw-backend.h.
 *
 * One source, built twice:
 *   - into the "cuda" module (liblmw-backend-cuda.so) with lmw-cuda-runtime.c (CUDA runtime,
 *     cuBLAS) and the kernels compiled by nvcc; its one exported symbol is
 *     lmw_backend_cuda_entry, which the registry calls after it has seen a driver and a device;
 *   - with LMW_CUDA_EMU into the engine's own library as the "cuda-emu" backend, with
 *     lmw-cuda-runtime-emu.c (host memory, the host twin of cublasGemmEx) and the same kernels
 *     compiled by the host C++ compiler under the emulation header, so that this code runs,
 *     and is tested against the CPU reference, on machines without a GPU.
 *
 * Data on the device:
 *   - weights: every matrix (products, conv stem, token embedding) as f16 (rows, cols)
 *     row-major, whatever its file type (quantised types are expanded at load); every vector
 *     (biases, norms, positional embeddings) as f32.  The device copies are shared by every
 *     context of the process on the same device (reference-counted by host tensor), so many
 *     streams on one card hold one copy of the model;
 *   - activations f32, as the contract has them; a product converts its input to f16 (a
 *     scratch buffer of the context), multiplies on tensor cores with f32 accumulation
 *     (cublasGemmEx, CUBLAS_COMPUTE_32F) straight into the f32 output, and a fused epilogue
 *     kernel adds the bias and applies GELU or the residual add.  A layer norm writes the f16
 *     copy of its output as well (ctx->lnh), and the products that read that output next take
 *     it instead of converting again (the same bits: both round the same f32 to nearest even);
 *     every other operation, and a product writing over the output, forgets the copy.
 *
 * Product arguments (column-major, as cuBLAS sees them): out (M, N) row-major with row stride
 * ldc is the column-major (N, M) matrix C with leading dimension ldc; the weight (N, K)
 * row-major is the column-major (K, N) matrix W, so C = W^T · X with X the input (M, K)
 * row-major = column-major (K, M):  gemm (OP_T, OP_N, m = N, n = M, k = K, W, ld K, X, ld K,
 * C, ld ldc).
 *
 * Decoder steps of one-token rows can run from a row table (lmw_step_row, the step_* ops), and
 * graph_run records the operations of such a step once per key (the engine's number of rows)
 * as a CUDA graph and replays it afterwards: the first run of a key goes directly (it grows
 * the scratch buffers to their size for that key), the second is captured, the later ones
 * replay.  A scratch buffer that moves, or a buffer freed, forgets every graph.  Under cuda-emu
 * the same bookkeeping runs, with capture and replay as direct execution.
 *
 * Failures (a launch refused, device memory exhausted) are recorded, the rest of the
 * operation is skipped, and the engine reads the first one through status().
 */
#include "lmw-backend.h"
#include "lmw-cuda-kernels.h"
#include "lmw-cuda-mel.h"
#include "lmw-cuda-runtime.h"
#include "lmw-cuda-step.h"
#include "lmw-cuda-topk.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LMW_CUDA_EMU
#define BACKEND_NAME "cuda-emu"
#else
#define BACKEND_NAME "cuda"
#endif

/* ---- weights shared between contexts ---------------------------------------------------- */

typedef struct shared_weight {
  const void *host;      /* the model's tensor (the key, with the fields below) */
  lmw_type type;
  int rows, cols;
  lmw_weight_use use;
  int device;
  void *dev;             /* owned: f16 (rows, cols) for a matrix, f32 (cols) for a vector */
  size_t bytes;
  int refs;              /* contexts holding it; the last one frees it */
  struct shared_weight *next;
} shared_weight;

static pthread_mutex_t weights_lock = PTHREAD_MUTEX_INITIALIZER;
static shared_weight *weights; /* guarded by weights_lock */
static size_t device_bytes;    /* every allocation of every context; atomic */

static void *
dev_malloc (lmw_cuda_rt *rt, size_t bytes)
{
  void *p = lmw_cuda_rt_malloc (rt, bytes);
  if (p != NULL)
    __atomic_add_fetch (&device_bytes, bytes, __ATOMIC_RELAXED);
  return p;
}

static void
dev_free (lmw_cuda_rt *rt, void *p, size_t bytes)
{
  if (p == NULL)
    return;
  lmw_cuda_rt_free_mem (rt, p);
  __atomic_sub_fetch (&device_bytes, bytes, __ATOMIC_RELAXED);
}

typedef struct {
  void *p;
  size_t bytes;
} allocation;

typedef struct {
  lmw_cuda_rt *rt;          /* owned */
  void *stream;
  int device;
  shared_weight **held;     /* owned array; one reference to each */
  int n_held, cap_held;
  allocation *allocs;       /* owned: the buffers of alloc, for memory_used */
  int n_allocs, cap_allocs;
  uint16_t *xh;             /* f16 scratch: a product's input, or the conv stem's columns */
  size_t xh_len;            /* elements */
  float *tmp;               /* f32 scratch: a product before a residual add */
  size_t tmp_len;
  int *ids;                 /* device copy of get_rows' ids */
  size_t ids_len;
  uint16_t *lnh;            /* f16 copy of the last layer norm's output */
  size_t lnh_len;
  const float *ln_out;      /* that output (ln_rows, ln_cols), row stride ln_cols, while lnh
                             * still equals it rounded; NULL otherwise */
  int ln_rows, ln_cols;
  struct step_graph *graphs; /* owned: graph_run's records, n_graphs of them */
  int n_graphs;
  bool failed;
  char error[256];          /* the first failure since status() */
} cuda_ctx;

/* a key of graph_run: run once directly (exec NULL), then recorded */
typedef struct step_graph {
  int key;
  void *exec; /* owned (lmw_cuda_rt_graph_free); NULL until recorded */
} step_graph;

static void
fail (cuda_ctx *ctx, const char *what, const char *why)
{
  if (ctx->failed)
    return;
  ctx->failed = true;
  snprintf (ctx->error, sizeof ctx->error, BACKEND_NAME ": %s: %s", what, why);
}

/* records a launcher's failure; true when it succeeded */
static bool
launched (cuda_ctx *ctx, lmw_cuda_status s, const char *what)
{
  if (s == LMW_CUDA_OK)
    return true;
  const char *detail = lmw_cuda_last_error ();
  char why[200];
  snprintf (why, sizeof why, "%s%s%s", lmw_cuda_status_string (s), detail[0] ? ": " : "", detail);
  fail (ctx, what, why);
  return false;
}

static bool
rt_ok (cuda_ctx *ctx, int rc, const char *what)
{
  if (rc == 0)
    return true;
  fail (ctx, what, lmw_cuda_rt_error (ctx->rt));
  return false;
}

/* the layer norm's f16 copy no longer matches its output (an operation may write to it) */
static void
forget_ln (cuda_ctx *ctx)
{
  ctx->ln_out = NULL;
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int
cuda_score (void)
{
#ifdef LMW_CUDA_EMU
  return 1; /* runs anywhere, slowly: chosen by name only (see lmw-backend-registry.c) */
#else
  return lmw_cuda_rt_device_count () > 0 ? 100 : 0;
#endif
}

static void cuda_destroy (void *vctx);
static void cuda_graph_reset (void *vctx);

static void *
cuda_create_on (int device, int n_threads, char *err, size_t err_len)
{
  (void) n_threads; /* the device runs the work; under emulation, the calling thread */
  cuda_ctx *ctx = calloc (1, sizeof *ctx);
  if (ctx == NULL) {
    snprintf (err, err_len, BACKEND_NAME ": out of memory");
    return NULL;
  }
  char why[200] = "";
  ctx->rt = lmw_cuda_rt_new (device, why, sizeof why);
  if (ctx->rt == NULL) {
    snprintf (err, err_len, BACKEND_NAME ": %s", why);
    free (ctx);
    return NULL;
  }
  ctx->device = device;
  ctx->stream = lmw_cuda_rt_stream (ctx->rt);
  return ctx;
}

static void *
cuda_create (int n_threads, char *err, size_t err_len)
{
  return cuda_create_on (0, n_threads, err, err_len);
}

static void
release_weight (cuda_ctx *ctx, shared_weight *w)
{
  pthread_mutex_lock (&weights_lock);
  if (--w->refs == 0) {
    for (shared_weight **pp = &weights; *pp != NULL; pp = &(*pp)->next)
      if (*pp == w) {
        *pp = w->next;
        break;
      }
    dev_free (ctx->rt, w->dev, w->bytes);
    free (w);
  }
  pthread_mutex_unlock (&weights_lock);
}

static void
cuda_destroy (void *vctx)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (ctx == NULL)
    return;
  lmw_cuda_rt_sync (ctx->rt);
  cuda_graph_reset (ctx);
  for (int i = 0; i < ctx->n_held; i++)
    release_weight (ctx, ctx->held[i]);
  for (int i = 0; i < ctx->n_allocs; i++) /* buffers the engine did not free */
    dev_free (ctx->rt, ctx->allocs[i].p, ctx->allocs[i].bytes);
  dev_free (ctx->rt, ctx->xh, ctx->xh_len * sizeof (uint16_t));
  dev_free (ctx->rt, ctx->tmp, ctx->tmp_len * sizeof (float));
  dev_free (ctx->rt, ctx->ids, ctx->ids_len * sizeof (int));
  dev_free (ctx->rt, ctx->lnh, ctx->lnh_len * sizeof (uint16_t));
  lmw_cuda_rt_free (ctx->rt);
  free (ctx->held);
  free (ctx->allocs);
  free (ctx);
}

/* ---- memory ----------------------------------------------------------------------------- */

static void *
cuda_alloc (void *vctx, size_t bytes)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (ctx->n_allocs == ctx->cap_allocs) {
    int cap = ctx->cap_allocs ? 2 * ctx->cap_allocs : 32;
    allocation *a = realloc (ctx->allocs, sizeof *a * (size_t) cap);
    if (a == NULL)
      return NULL;
    ctx->allocs = a;
    ctx->cap_allocs = cap;
  }
  void *p = dev_malloc (ctx->rt, bytes);
  if (p == NULL)
    return NULL;
  ctx->allocs[ctx->n_allocs++] = (allocation) { p, bytes };
  return p;
}

static void
cuda_free (void *vctx, void *p)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (p == NULL)
    return;
  forget_ln (ctx);
  cuda_graph_reset (ctx); /* a record may use the buffer */
  for (int i = 0; i < ctx->n_allocs; i++)
    if (ctx->allocs[i].p == p) {
      dev_free (ctx->rt, p, ctx->allocs[i].bytes);
      ctx->allocs[i] = ctx->allocs[--ctx->n_allocs];
      return;
    }
  fail (ctx, "free", "a pointer this context did not allocate");
}

static void
cuda_upload (void *vctx, void *dst, const void *src, size_t bytes)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  rt_ok (ctx, lmw_cuda_rt_upload (ctx->rt, dst, src, bytes), "upload");
}

static void
cuda_download (void *vctx, void *dst, const void *src, size_t bytes)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  rt_ok (ctx, lmw_cuda_rt_download (ctx->rt, dst, src, bytes), "download");
}

static void
cuda_copy (void *vctx, void *dst, const void *src, size_t bytes)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  rt_ok (ctx, lmw_cuda_rt_copy (ctx->rt, dst, src, bytes), "copy");
}

static void
cuda_sync (void *vctx)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  rt_ok (ctx, lmw_cuda_rt_sync (ctx->rt), "sync");
}

static const char *
cuda_device_name (void *vctx)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  return lmw_cuda_rt_device_name (ctx->rt);
}

static size_t
cuda_memory_used (void *vctx)
{
  (void) vctx;
  return __atomic_load_n (&device_bytes, __ATOMIC_RELAXED);
}

static int
cuda_status (void *vctx, char *err, size_t err_len)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (!ctx->failed)
    return 0;
  snprintf (err, err_len, "%s", ctx->error);
  ctx->failed = false;
  ctx->error[0] = '\0';
  return -1;
}

/* grows a scratch buffer to n elements of size elem; false (recorded) when out of memory */
static bool
scratch (cuda_ctx *ctx, void **buf, size_t *len, size_t n, size_t elem)
{
  if (*len >= n)
    return true;
  cuda_graph_reset (ctx); /* the records use the buffer that moves */
  dev_free (ctx->rt, *buf, *len * elem);
  *len = 0;
  *buf = dev_malloc (ctx->rt, n * elem);
  if (*buf == NULL) {
    fail (ctx, "scratch", lmw_cuda_rt_error (ctx->rt));
    return false;
  }
  *len = n;
  return true;
}

/* ---- weights ---------------------------------------------------------------------------- */

/* dst (rows, cols) f16 = the host matrix w in any of its types */
static bool
matrix_to_f16 (uint16_t *dst, const lmw_weight *w)
{
  float *row = malloc (sizeof (float) * (size_t) (w->cols > 0 ? w->cols : 1));
  if (row == NULL)
    return false;
  for (int r = 0; r < w->rows; r++) {
    const uint8_t *src = (const uint8_t *) w->data + (size_t) r * w->row_bytes;
    uint16_t *out = dst + (size_t) r * w->cols;
    if (w->type == LMW_TYPE_F16) {
      memcpy (out, src, sizeof (uint16_t) * (size_t) w->cols);
      continue;
    }
    lmw_dequantize_row (row, w->type, src, 0, w->cols);
    for (int c = 0; c < w->cols; c++)
      out[c] = lmw_fp32_to_fp16 (row[c]);
  }
  free (row);
  return true;
}

static int
cuda_map_weight (void *vctx, lmw_weight *out, const lmw_weight *w, lmw_weight_use use, char *err,
                 size_t err_len)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (use == LMW_USE_VECTOR ? w->type != LMW_TYPE_F32 : lmw_type_name (w->type) == NULL) {
    snprintf (err, err_len, BACKEND_NAME ": a %s of type %d", use == LMW_USE_VECTOR ? "vector"
              : "matrix", (int) w->type);
    return -1;
  }
  if (ctx->n_held == ctx->cap_held) {
    int cap = ctx->cap_held ? 2 * ctx->cap_held : 64;
    shared_weight **h = realloc (ctx->held, sizeof *h * (size_t) cap);
    if (h == NULL) {
      snprintf (err, err_len, BACKEND_NAME ": out of memory");
      return -1;
    }
    ctx->held = h;
    ctx->cap_held = cap;
  }
  size_t n = (size_t) w->rows * (size_t) w->cols;
  pthread_mutex_lock (&weights_lock); /* held while uploading: a second stream waits for the copy */
  shared_weight *sw = weights;
  for (; sw != NULL; sw = sw->next)
    if (sw->host == w->data && sw->type == w->type && sw->rows == w->rows &&
        sw->cols == w->cols && sw->use == use && sw->device == ctx->device)
      break;
  if (sw == NULL) {
    sw = calloc (1, sizeof *sw);
    void *host = NULL;
    size_t bytes = n * (use == LMW_USE_VECTOR ? sizeof (float) : sizeof (uint16_t));
    bool ok = sw != NULL;
    if (ok && use == LMW_USE_MATRIX) {
      host = malloc (bytes ? bytes : 1);
      ok = host != NULL && matrix_to_f16 (host, w);
    }
    if (ok)
      ok = (sw->dev = dev_malloc (ctx->rt, bytes)) != NULL;
    if (ok)
      ok = lmw_cuda_rt_upload (ctx->rt, sw->dev, host ? host : w->data, bytes) == 0;
    free (host);
    if (!ok) {
      snprintf (err, err_len, BACKEND_NAME ": a (%d, %d) tensor: %s", w->rows, w->cols,
                sw ? lmw_cuda_rt_error (ctx->rt) : "out of memory");
      if (sw)
        dev_free (ctx->rt, sw->dev, bytes);
      free (sw);
      pthread_mutex_unlock (&weights_lock);
      return -1;
    }
    *sw = (shared_weight) { w->data, w->type, w->rows, w->cols, use, ctx->device, sw->dev,
                            bytes, 0, weights };
    weights = sw;
  }
  sw->refs++;
  pthread_mutex_unlock (&weights_lock);
  ctx->held[ctx->n_held++] = sw;
  *out = *w;
  out->data = sw->dev;
  if (use == LMW_USE_MATRIX) {
    out->type = LMW_TYPE_F16;
    out->row_bytes = sizeof (uint16_t) * (size_t) w->cols;
  }
  return 0;
}

/* ---- products --------------------------------------------------------------------------- */

/* xh (M, K) f16 = inp (M, K) f32 with row stride lda */
static bool
to_f16 (cuda_ctx *ctx, uint16_t *xh, const float *inp, int lda, int M, int K)
{
  if (lda == K)
    return launched (ctx, lmw_cuda_f32_to_f16 (xh, inp, (size_t) M * K, ctx->stream), "f32_to_f16");
  for (int m = 0; m < M; m++)
    if (!launched (ctx, lmw_cuda_f32_to_f16 (xh + (size_t) m * K, inp + (size_t) m * lda,
                                             (size_t) K, ctx->stream), "f32_to_f16"))
      return false;
  return true;
}

/* out (M, N) (row stride ldc) = xh (M, K) f16 · w^T (w f16 (N, K)) */
static bool
gemm_f16 (cuda_ctx *ctx, float *out, int ldc, const uint16_t *xh, const lmw_weight *w, int M)
{
  int N = w->rows, K = w->cols;
  return rt_ok (ctx, lmw_cuda_rt_gemm (ctx->rt, LMW_OP_T, LMW_OP_N, N, M, K, 1.0f, w->data,
                                       LMW_TYPE_F16, K, xh, LMW_TYPE_F16, K, 0.0f, out,
                                       LMW_TYPE_F32, ldc), "gemm");
}

static void
cuda_matmul_ex (void *vctx, float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
                const float *bias, int M, unsigned flags)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  int N = w->rows, K = w->cols;
  if (M <= 0 || ctx->failed)
    return;
  if (w->type != LMW_TYPE_F16) {
    fail (ctx, "matmul", "a weight that map_weight did not return");
    return;
  }
  const uint16_t *xh = ctx->lnh; /* the layer norm's copy when inp is its output */
  if (ctx->ln_out == NULL || inp != ctx->ln_out || lda != ctx->ln_cols || K != ctx->ln_cols ||
      M > ctx->ln_rows) {
    if (!scratch (ctx, (void **) &ctx->xh, &ctx->xh_len, (size_t) M * K, sizeof (uint16_t)) ||
        !to_f16 (ctx, ctx->xh, inp, lda, M, K))
      return;
    xh = ctx->xh;
  }
  uintptr_t o0 = (uintptr_t) out, o1 = (uintptr_t) (out + (size_t) (M - 1) * ldc + N);
  uintptr_t n0 = (uintptr_t) ctx->ln_out;
  if (ctx->ln_out != NULL && o0 < n0 + sizeof (float) * (size_t) ctx->ln_rows * ctx->ln_cols &&
      n0 < o1)
    forget_ln (ctx); /* the product writes over the normed rows */
  if (flags & LMW_MATMUL_ACCUMULATE) {
    if (!scratch (ctx, (void **) &ctx->tmp, &ctx->tmp_len, (size_t) M * N, sizeof (float)) ||
        !gemm_f16 (ctx, ctx->tmp, N, xh, w, M))
      return;
    launched (ctx, lmw_cuda_bias_act (out, ldc, NULL, 0, ctx->tmp, N, bias, M, N,
                                      flags & (LMW_CUDA_ACCUMULATE | LMW_CUDA_GELU), ctx->stream),
              "bias_act");
    return;
  }
  if (!gemm_f16 (ctx, out, ldc, xh, w, M))
    return;
  if (bias != NULL || (flags & LMW_MATMUL_GELU))
    launched (ctx, lmw_cuda_bias_act (out, ldc, NULL, 0, out, ldc, bias, M, N,
                                      flags & LMW_CUDA_GELU, ctx->stream), "bias_act");
}

static void
cuda_matmul (void *vctx, float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
             const float *bias, int M)
{
  cuda_matmul_ex (vctx, out, ldc, inp, lda, w, bias, M, 0);
}

/* the stem as a product: columns (T_out, 3 C_in) f16 by im2col, times w^T, plus the bias */
static void
cuda_conv1d_k3 (void *vctx, float *out, const float *inp, size_t in_cstride, size_t in_tstride,
                const lmw_weight *w, const float *bias, int T_in, int C_in, int stride)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  int T_out = (T_in - 1) / stride + 1, C_out = w->rows, K = 3 * C_in;
  forget_ln (ctx);
  if (T_in <= 0 || ctx->failed)
    return;
  if (w->type != LMW_TYPE_F16 || w->cols != K) {
    fail (ctx, "conv1d_k3", "weight shape or type");
    return;
  }
  if (!scratch (ctx, (void **) &ctx->xh, &ctx->xh_len, (size_t) T_out * K, sizeof (uint16_t)) ||
      !launched (ctx, lmw_cuda_im2col_k3 (ctx->xh, K, inp, in_cstride, in_tstride, T_in, C_in,
                                          stride, ctx->stream), "im2col_k3") ||
      !gemm_f16 (ctx, out, C_out, ctx->xh, w, T_out))
    return;
  if (bias != NULL)
    launched (ctx, lmw_cuda_bias_act (out, C_out, NULL, 0, out, C_out, bias, T_out, C_out, 0,
                                      ctx->stream), "bias_act");
}

/* ---- row operations --------------------------------------------------------------------- */

static void
cuda_layernorm (void *vctx, float *out, const float *inp, const float *weight, const float *bias,
                int N, int C, float eps)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (ctx->failed || N <= 0)
    return;
  if (!scratch (ctx, (void **) &ctx->lnh, &ctx->lnh_len, (size_t) N * C, sizeof (uint16_t)))
    return;
  if (launched (ctx, lmw_cuda_layernorm (out, C, ctx->lnh, C, inp, C, weight, bias, N, C, eps,
                                         ctx->stream), "layernorm")) {
    ctx->ln_out = out;
    ctx->ln_rows = N;
    ctx->ln_cols = C;
  }
}

static void
cuda_gelu (void *vctx, float *x, size_t n)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    launched (ctx, lmw_cuda_gelu (x, n, ctx->stream), "gelu");
}

static void
cuda_softmax (void *vctx, float *x, int rows, int cols)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    launched (ctx, lmw_cuda_softmax (x, cols, rows, cols, 1.0f, ctx->stream), "softmax");
}

/* out (n) += inp (n): the residual epilogue with one row per INT_MAX elements */
static void
cuda_add (void *vctx, float *out, const float *inp, size_t n)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  for (size_t done = 0; done < n && !ctx->failed;) {
    int part = n - done > (size_t) INT_MAX ? INT_MAX : (int) (n - done);
    launched (ctx, lmw_cuda_bias_act (out + done, part, NULL, 0, inp + done, part, NULL, 1, part,
                                      LMW_CUDA_ACCUMULATE, ctx->stream), "add");
    done += (size_t) part;
  }
}

static void
cuda_attention (void *vctx, float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
                const float *v, int ldv, int Tq, int Tk, int H, int D, int causal_past)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    launched (ctx, lmw_cuda_attention (out, ldo, 0, NULL, 0, 0, q, ldq, 0, k, ldk, v, ldv, 0,
                                       LMW_TYPE_F32, 1, Tq, Tk, H, D, causal_past, ctx->stream),
              "attention");
}

static void
cuda_to_f16 (void *vctx, uint16_t *dst, const float *src, size_t n)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    launched (ctx, lmw_cuda_f32_to_f16 (dst, src, n, ctx->stream), "f32_to_f16");
}

/* one request (R = 1) whose Tq query rows (a step's beams, or a prompt) share the K/V: the
 * wide-load kernel reads them once per head for every LMW_CUDA_XATTN_GROUP rows */
static void
cuda_cross_attention (void *vctx, float *out, int ldo, const float *q, int ldq, const uint16_t *k,
                      const uint16_t *v, int ldkv, int Tq, int Tk, int H, int D)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    launched (ctx, lmw_cuda_cross_attention (out, ldo, NULL, 0, q, ldq, k, v, ldkv, 0, 1, Tq, Tk,
                                             H, D, ctx->stream), "cross_attention");
}

static void
cuda_get_rows (void *vctx, float *out, const lmw_weight *w, const int *ids, int n)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (n <= 0 || ctx->failed)
    return;
  if (!scratch (ctx, (void **) &ctx->ids, &ctx->ids_len, (size_t) n, sizeof (int)) ||
      !rt_ok (ctx, lmw_cuda_rt_upload (ctx->rt, ctx->ids, ids, sizeof (int) * (size_t) n),
              "upload"))
    return;
  launched (ctx, lmw_cuda_get_rows (out, w->cols, w->data, w->type, (size_t) w->cols, w->rows,
                                    ctx->ids, n, w->cols, ctx->stream), "get_rows");
}

/* the spectrogram on the device (lmw-cuda-mel.cu): only samples are uploaded */
static void
cuda_log_mel (void *vctx, float *out, int ldo, float *max, const float *pcm, size_t pcm_base,
              size_t n_pcm, size_t n_samples, size_t n_total, const float *filters, int n_mels,
              int f0, int f1)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (ctx->failed)
    return;
  lmw_cuda_status s = lmw_cuda_log_mel (out, ldo, max, pcm, pcm_base, n_pcm, n_samples, n_total,
                                        filters, n_mels, f0, f1, ctx->stream);
  if (s != LMW_CUDA_OK) {
    (void) s;
    fail (ctx, "log_mel", lmw_cuda_mel_last_error ());
  }
}

/* ---- table-driven decoder steps and their graphs -------------------------------------- */

static bool
step_launched (cuda_ctx *ctx, lmw_cuda_status s, const char *what)
{
  if (s == LMW_CUDA_OK)
    return true;
  char why[200];
  snprintf (why, sizeof why, "%s: %.160s", lmw_cuda_status_string (s),
            lmw_cuda_step_last_error ());
  fail (ctx, what, why);
  return false;
}

static void
cuda_step_embed (void *vctx, float *x, const lmw_weight *tok_emb, const float *pos_emb, int n_pos,
                 const lmw_step_row *rows, int R, int C)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    step_launched (ctx, lmw_cuda_step_embed (x, tok_emb->data, tok_emb->type, tok_emb->rows,
                                             pos_emb, n_pos, rows, R, C, ctx->stream),
                   "step_embed");
}

static void
cuda_step_self_attention (void *vctx, float *out, const float *q, const float *k, const float *v,
                          const lmw_step_row *rows, size_t layer_offset, int R, int H, int D)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    step_launched (ctx, lmw_cuda_step_self_attention (out, q, k, v, rows, layer_offset, R, H, D,
                                                      ctx->stream), "step_self_attention");
}

static void
cuda_step_cross_attention (void *vctx, float *out, const float *q, const lmw_step_row *rows,
                           size_t layer_offset, int Tk, int R, int H, int D)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    step_launched (ctx, lmw_cuda_step_cross_attention (out, q, rows, layer_offset, Tk, R, H, D,
                                                       ctx->stream), "step_cross_attention");
}

static void
cuda_to_q8 (void *vctx, void *dst, const float *src, int rows, int C)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    step_launched (ctx, lmw_cuda_cross_q8 (dst, src, rows, C, ctx->stream), "to_q8");
}

static void
cuda_cross_attention_q8 (void *vctx, float *out, int ldo, const float *q, int ldq, const void *k,
                         const void *v, int Tq, int Tk, int H, int D)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  forget_ln (ctx);
  if (!ctx->failed)
    step_launched (ctx, lmw_cuda_cross_attention_q8 (out, ldo, q, ldq, k, v, Tq, Tk, H, D,
                                                     ctx->stream), "cross_attention_q8");
}

static void
cuda_step_pick (void *vctx, lmw_pick_result *out, const float *logits, int ld,
                const lmw_step_row *rows, int R, int n_vocab, int eot, int ts_begin)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (!ctx->failed)
    step_launched (ctx, lmw_cuda_step_pick (out, logits, ld, rows, R, n_vocab, eot, ts_begin,
                                            ctx->stream), "step_pick");
}

static void
cuda_step_topk (void *vctx, lmw_pick_result *out, const float *logits, int ld,
                const lmw_step_row *rows, int R, int n_vocab, int eot, int ts_begin)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  if (ctx->failed)
    return;
  lmw_cuda_status s = lmw_cuda_step_topk (out, logits, ld, rows, R, n_vocab, eot, ts_begin,
                                          ctx->stream);
  if (s != LMW_CUDA_OK) {
    char why[200];
    snprintf (why, sizeof why, "%s: %.160s", lmw_cuda_status_string (s),
              lmw_cuda_topk_last_error ());
    fail (ctx, "step_topk", why);
  }
}

static void
cuda_graph_reset (void *vctx)
{
  cuda_ctx *ctx = vctx;
  for (int i = 0; i < ctx->n_graphs; i++)
    lmw_cuda_rt_graph_free (ctx->rt, ctx->graphs[i].exec);
  free (ctx->graphs);
  ctx->graphs = NULL;
  ctx->n_graphs = 0;
}

static int
cuda_graph_run (void *vctx, int key, void (*issue) (void *user), void *user)
{
  cuda_ctx *ctx = vctx;
  lmw_cuda_rt_enter (ctx->rt);
  step_graph *g = NULL;
  for (int i = 0; i < ctx->n_graphs; i++)
    if (ctx->graphs[i].key == key)
      g = &ctx->graphs[i];
  if (g == NULL || ctx->failed) { /* first run of the key: directly, growing the scratch */
    issue (user);
    if (g == NULL && !ctx->failed) {
      step_graph *a = realloc (ctx->graphs, sizeof *a * (size_t) (ctx->n_graphs + 1));
      if (a != NULL) { /* issue may have moved a scratch buffer, which forgot the records */
        ctx->graphs = a;
        ctx->graphs[ctx->n_graphs++] = (step_graph) { key, NULL };
      }
    }
    return 0;
  }
  if (g->exec == NULL) { /* second run: recorded, then run from the record */
    forget_ln (ctx);
    int n_before = ctx->n_graphs;
    if (!rt_ok (ctx, lmw_cuda_rt_capture_begin (ctx->rt), "capture"))
      return 0;
    issue (user);
    void *exec = NULL;
    bool captured = rt_ok (ctx, lmw_cuda_rt_capture_end (ctx->rt, &exec), "capture");
    if (!captured || ctx->failed || ctx->n_graphs != n_before) {
      lmw_cuda_rt_graph_free (ctx->rt, exec);
      return 0;
    }
    g->exec = exec;
#ifdef LMW_CUDA_EMU
    return 1; /* the work ran as it was queued */
#else
    rt_ok (ctx, lmw_cuda_rt_graph_launch (ctx->rt, g->exec), "graph launch");
    return 1;
#endif
  }
  forget_ln (ctx); /* the record leaves the layer norm's copy as its own last norm did */
#ifdef LMW_CUDA_EMU
  rt_ok (ctx, lmw_cuda_rt_graph_launch (ctx->rt, g->exec), "graph launch");
  issue (user); /* replay: the same work, queued again */
  forget_ln (ctx);
#else
  rt_ok (ctx, lmw_cuda_rt_graph_launch (ctx->rt, g->exec), "graph launch");
#endif
  return 2;
}

static const lmw_backend_ops cuda_ops = {
  .version = LMW_BACKEND_VERSION,
  .name = BACKEND_NAME,
  .score = cuda_score,
  .create = cuda_create,
  .destroy = cuda_destroy,
  .matmul = cuda_matmul,
  .layernorm = cuda_layernorm,
  .gelu = cuda_gelu,
  .softmax = cuda_softmax,
  .conv1d_k3 = cuda_conv1d_k3,
  .attention = cuda_attention,
  .add = cuda_add,
  .get_rows = cuda_get_rows,
  .matmul_ex = cuda_matmul_ex,
  .caps = 0,
  .alloc = cuda_alloc,
  .free = cuda_free,
  .upload = cuda_upload,
  .download = cuda_download,
  .copy = cuda_copy,
  .map_weight = cuda_map_weight,
  .sync = cuda_sync,
  .device_name = cuda_device_name,
  .memory_used = cuda_memory_used,
  .status = cuda_status,
  .create_on = cuda_create_on,
  .to_f16 = cuda_to_f16,
  .cross_attention = cuda_cross_attention,
  .log_mel = cuda_log_mel,
  .step_embed = cuda_step_embed,
  .step_self_attention = cuda_step_self_attention,
  .step_cross_attention = cuda_step_cross_attention,
  .step_pick = cuda_step_pick,
  .graph_run = cuda_graph_run,
  .graph_reset = cuda_graph_reset,
  .to_q8 = cuda_to_q8,
  .cross_attention_q8 = cuda_cross_attention_q8,
  .step_topk = cuda_step_topk,
};

#ifdef LMW_CUDA_EMU
const lmw_backend_ops *lmw_backend_cuda_emu (void);

const lmw_backend_ops *
lmw_backend_cuda_emu (void)
{
  return &cuda_ops;
}
#else
__attribute__ ((visibility ("default"))) const lmw_backend_ops *
lmw_backend_cuda_entry (int api_version);

const lmw_backend_ops *
lmw_backend_cuda_entry (int api_version)
{
  return api_version == LMW_BACKEND_VERSION ? &cuda_ops : NULL;
}
#endif
