/* SPDX-License-Identifier: MIT */
/*
 * lmw-backend-cpu.c — the CPU backend: the reference every other backend is compared with.
 *
 * Operations are written as plain loops split into tasks for the thread pool; the inner loops
 * (GEMM micro-kernel, panel packing, f16/q8_0 dot products, exp, erf) come from
 * lmw-cpu-kernels.c, chosen once for the machine.  Matrix products above GEMV_MATMUL_MAX_M_*
 * rows use a packed, blocked GEMM: weight rows are converted to f32 and packed one (KC, nr)
 * panel at a time, so weights stay in their file type in memory; large products are split
 * between threads by bands of rows (each thread reads only its share of the activations),
 * smaller ones by columns.  An optional epilogue fuses GELU or the residual add (matmul_ex).
 * Smaller products use fused dot products directly on the f16 / q8_0 weights.  Attention for
 * many queries is blockwise: per head, K (and V, unless the kernel set reads it in place) is
 * packed once and only LMW_GEMM_MR rows of scores exist at a time (see attention_block_task;
 * the AVX-512 set does a whole block in its attn_block kernel).  OpenBLAS sgemm on weights converted to f32
 * per column block is available when the build has OpenBLAS and LMW_GEMM=blas is set.
 *
 * Products on block-quantised weights go to the integer path of lmw-cpu-int8.c first (unless
 * LMW_INT8=off, or for the row counts it leaves to the f32 path).  Cross-attention on f16 keys
 * and values (contract version 4, used by the engine for quantised models) runs lmw-cpu-cross.c
 * for a few queries (one row on the calling thread, more as a range of heads per thread), else
 * attention on f32 copies.  A context that maps
 * block-quantised weights (integer path on) computes the blockwise attention's scores with
 * bf16 products (AVX512-BF16, lmw_cpu_attn_bf16) where the processor has them.
 *
 * Environment: LMW_GEMM=own|blas picks the GEMM for large products (default: own).
 */
#include "lmw-backend.h"
#include "lmw-cpu-cross.h"
#include "lmw-cpu-int8.h"
#include "lmw-cpu.h"
#include "lmw-mel.h"
#include "lmw-pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LMW_HAVE_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads (int num_threads);
#endif

#define GEMV_MAX_M 4      /* attention: up to this many queries, dot products per query */
/* products with up to this many rows use the fused dot products, each weight row read from
 * memory once for all rows (beam search runs its 5 beams as 5 rows): f16 / f32 weights up to 8
 * rows, block-quantised ones (whose dot products convert more per element) up to 5; above,
 * the packed GEMM is faster (docs/benchmarks.md, lmw-bench --beam-step) */
#define GEMV_MATMUL_MAX_M_F16 8
#define GEMV_MATMUL_MAX_M_QUANT 5
#define ATTN_QCHUNK 64    /* query rows per attention task */
#define MAX_KEYS LMW_BACKEND_MAX_KEYS /* longest key sequence attention supports */
#define MAX_K LMW_BACKEND_MAX_K       /* widest inner dimension of a product */
#define BLAS_NC 256       /* weight rows converted to f32 per BLAS call */
/* below this many multiply-adds an operation runs on the calling thread alone: waking a worker
 * costs more than it saves, and much more when the machine is oversubscribed */
#define PARALLEL_MIN_WORK (1 << 20)
/* products with at least this many rows per thread are split by rows, smaller ones by columns */
#define ROW_SPLIT_MIN_M 96

static const float zero_row[LMW_GEMM_KC];

typedef struct {
  float *pack;   /* LMW_GEMM_KC * LMW_GEMM_NC, 32-byte aligned */
  float *rowtmp; /* MAX_K */
  float *scores; /* ATTN_QCHUNK * MAX_KEYS */
  float *blas_w; /* BLAS_NC * MAX_K, allocated on first use */
  float *attn;   /* attention: packed K and V of one head and a block of scores, grown on use */
  size_t attn_len;
} thread_scratch;

typedef struct {
  lmw_pool *pool;                /* owned */
  int n_threads;
  const lmw_cpu_kernels *kern;
  lmw_cpu_int8 *int8;            /* owned: integer products on quantised weights; NULL = off */
  const lmw_cpu_attn_bf16 *attn_bf16; /* encoder attention scores in bf16; NULL = f32 */
  bool use_blas;
  thread_scratch *scratch;       /* owned, n_threads */
  float *conv_x;                 /* conv1d im2col matrix, kept between calls (no page faults) */
  size_t conv_x_len;
  float *cross_f32;              /* cross_attention of many queries: K and V as f32, grown on use */
  size_t cross_f32_len;
  char device[128];              /* "CPU (avx2 kernels, avx2 integer, 2 threads)" */
} cpu_ctx;

/* ---- life cycle ------------------------------------------------------------------------- */

static int
cpu_score (void)
{
  return 1;
}

static void cpu_destroy (void *vctx);

static void *
cpu_create (int n_threads, char *err, size_t err_len)
{
  cpu_ctx *ctx = calloc (1, sizeof *ctx);
  if (ctx == NULL)
    goto oom;
  ctx->kern = lmw_cpu_kernels_get ();
  ctx->pool = lmw_pool_new (n_threads);
  if (ctx->pool == NULL)
    goto oom;
  ctx->n_threads = lmw_pool_n_threads (ctx->pool);
  const lmw_cpu_int8_kernels *ik = lmw_cpu_int8_kernels_for (ctx->kern);
  if (ik != NULL && (ctx->int8 = lmw_cpu_int8_new (ik, ctx->n_threads)) == NULL)
    goto oom;
  ctx->scratch = calloc ((size_t) ctx->n_threads, sizeof *ctx->scratch);
  if (ctx->scratch == NULL)
    goto oom;
  for (int i = 0; i < ctx->n_threads; i++) {
    thread_scratch *s = &ctx->scratch[i];
    s->pack = aligned_alloc (64, sizeof (float) * LMW_GEMM_KC * LMW_GEMM_NC);
    s->rowtmp = malloc (sizeof (float) * MAX_K);
    s->scores = malloc (sizeof (float) * ATTN_QCHUNK * MAX_KEYS);
    if (s->pack == NULL || s->rowtmp == NULL || s->scores == NULL)
      goto oom;
  }
#ifdef LMW_HAVE_OPENBLAS
  const char *g = getenv ("LMW_GEMM");
  ctx->use_blas = g != NULL && strcmp (g, "blas") == 0;
  if (ctx->use_blas)
    openblas_set_num_threads (1); /* our pool splits the work */
#endif
  snprintf (ctx->device, sizeof ctx->device, "CPU (%s kernels, %s integer, %d thread%s)",
            ctx->kern->name, lmw_cpu_int8_kernels_name (ik), ctx->n_threads,
            ctx->n_threads == 1 ? "" : "s");
  return ctx;
oom:
  snprintf (err, err_len, "cpu backend: out of memory");
  cpu_destroy (ctx);
  return NULL;
}

static void
cpu_destroy (void *vctx)
{
  cpu_ctx *ctx = vctx;
  if (ctx == NULL)
    return;
  lmw_pool_free (ctx->pool);
  lmw_cpu_int8_free (ctx->int8);
  if (ctx->scratch)
    for (int i = 0; i < ctx->n_threads; i++) {
      free (ctx->scratch[i].pack);
      free (ctx->scratch[i].rowtmp);
      free (ctx->scratch[i].scores);
      free (ctx->scratch[i].blas_w);
      free (ctx->scratch[i].attn);
    }
  free (ctx->scratch);
  free (ctx->conv_x);
  free (ctx->cross_f32);
  free (ctx);
}

/* splits n items into tasks of a multiple of `quantum` items, about `per_thread` tasks per
 * thread, each at most max_items wide; returns the task width */
static int
task_width (const cpu_ctx *ctx, int n, int quantum, int max_items, int per_thread)
{
  int tasks = ctx->n_threads * per_thread;
  int w = (n + tasks - 1) / tasks;
  w = (w + quantum - 1) / quantum * quantum;
  if (w > max_items)
    w = max_items;
  if (w < quantum)
    w = quantum;
  return w;
}

/* ---- matmul ------------------------------------------------------------------------------ */

typedef struct {
  cpu_ctx *ctx;
  float *out;
  int ldc;
  const float *inp;
  int lda;
  const lmw_weight *w;
  const float *bias;
  int M;
  int width;     /* output columns per task */
  int row_width; /* output rows per task (GEMM) */
  unsigned flags;
} matmul_job;

static void
gemv_task (void *arg, int task, int thread)
{
  matmul_job *j = arg;
  const lmw_weight *w = j->w;
  int n0 = task * j->width;
  int n1 = n0 + j->width < w->rows ? n0 + j->width : w->rows;
  float *tmp = j->ctx->scratch[thread].rowtmp;
  bool acc = j->flags & LMW_MATMUL_ACCUMULATE;
  for (int n = n0; n < n1; n++) {
    const uint8_t *row = (const uint8_t *) w->data + (size_t) n * w->row_bytes;
    float b = j->bias ? j->bias[n] : 0.0f;
    for (int m = 0; m < j->M; m++) {
      float d = j->ctx->kern->dot_row (j->inp + (size_t) m * j->lda, w->type, row, w->cols, tmp) + b;
      float *o = j->out + (size_t) m * j->ldc + n;
      *o = acc ? *o + d : d;
    }
  }
  if ((j->flags & LMW_MATMUL_GELU) && !acc)
    for (int m = 0; m < j->M; m++)
      j->ctx->kern->gelu (j->out + (size_t) m * j->ldc + n0, (size_t) (n1 - n0));
}

static void
gemm_task (void *arg, int task, int thread)
{
  matmul_job *j = arg;
  int n_col_tasks = (j->w->rows + j->width - 1) / j->width;
  int rt = task / n_col_tasks, ct = task % n_col_tasks;
  int n0 = ct * j->width;
  int n1 = n0 + j->width < j->w->rows ? n0 + j->width : j->w->rows;
  int m0 = rt * j->row_width;
  int m1 = m0 + j->row_width < j->M ? m0 + j->row_width : j->M;
  lmw_gemm_b B = { .kn = false, .w = j->w };
  thread_scratch *s = &j->ctx->scratch[thread];
  lmw_cpu_gemm_cols (j->ctx->kern, j->out + (size_t) m0 * j->ldc, j->ldc,
                     j->inp + (size_t) m0 * j->lda, j->lda, &B, j->bias, m1 - m0, j->w->cols,
                     n0, n1, j->flags, s->pack, s->rowtmp);
}

#ifdef LMW_HAVE_OPENBLAS
static void
blas_task (void *arg, int task, int thread)
{
  matmul_job *j = arg;
  const lmw_weight *w = j->w;
  int n0 = task * j->width;
  int n1 = n0 + j->width < w->rows ? n0 + j->width : w->rows;
  float *wf = j->ctx->scratch[thread].blas_w;
  for (int n = n0; n < n1; n++)
    j->ctx->kern->convert_row (wf + (size_t) (n - n0) * w->cols, w->type,
                               (const uint8_t *) w->data + (size_t) n * w->row_bytes, 0, w->cols);
  bool acc = j->flags & LMW_MATMUL_ACCUMULATE;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, j->M, n1 - n0, w->cols, 1.0f, j->inp,
               j->lda, wf, w->cols, acc ? 1.0f : 0.0f, j->out + n0, j->ldc);
  if (j->bias)
    for (int m = 0; m < j->M; m++)
      for (int n = n0; n < n1; n++)
        j->out[(size_t) m * j->ldc + n] += j->bias[n];
  if ((j->flags & LMW_MATMUL_GELU) && !acc)
    for (int m = 0; m < j->M; m++)
      j->ctx->kern->gelu (j->out + (size_t) m * j->ldc + n0, (size_t) (n1 - n0));
}

static bool
blas_ready (cpu_ctx *ctx)
{
  for (int i = 0; i < ctx->n_threads; i++) {
    if (ctx->scratch[i].blas_w == NULL)
      ctx->scratch[i].blas_w = malloc (sizeof (float) * BLAS_NC * MAX_K);
    if (ctx->scratch[i].blas_w == NULL)
      return false;
  }
  return true;
}
#endif

static void
cpu_matmul_ex (void *vctx, float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
               const float *bias, int M, unsigned flags)
{
  cpu_ctx *ctx = vctx;
  /* quantised weights: integer products (lmw-cpu-int8.c) unless turned off or out of memory */
  if (ctx->int8 != NULL && lmw_cpu_int8_matmul (ctx->int8, ctx->pool, ctx->kern, out, ldc, inp,
                                                lda, w, bias, M, flags))
    return;
  matmul_job j = { ctx, out, ldc, inp, lda, w, bias, M, 0, M, flags };
  int N = w->rows;
  bool plain = w->type == LMW_TYPE_F16 || w->type == LMW_TYPE_F32;
  if (M <= (plain ? GEMV_MATMUL_MAX_M_F16 : GEMV_MATMUL_MAX_M_QUANT)) {
    /* split by the weight's size, which is what these products cost (reading it), whatever M */
    j.width = (size_t) N * w->cols < PARALLEL_MIN_WORK ? N : task_width (ctx, N, 8, 1 << 30, 4);
    lmw_pool_run (ctx->pool, gemv_task, &j, (N + j.width - 1) / j.width);
    return;
  }
#ifdef LMW_HAVE_OPENBLAS
  if (ctx->use_blas && w->cols <= MAX_K && blas_ready (ctx)) {
    j.width = task_width (ctx, N, ctx->kern->nr, BLAS_NC, 1);
    lmw_pool_run (ctx->pool, blas_task, &j, (N + j.width - 1) / j.width);
    return;
  }
#endif
  if (ctx->n_threads > 1 && M >= ROW_SPLIT_MIN_M * ctx->n_threads) {
    /* each task a band of rows times every column: a thread reads only its share of the
     * activations, and the weights (small next to them) are packed once per task, so one band
     * per thread (two per thread packed every weight twice, and measured 0.5-1 % slower) */
    j.width = N;
    j.row_width = task_width (ctx, M, LMW_GEMM_MR, 1 << 30, 1);
    lmw_pool_run (ctx->pool, gemm_task, &j, (M + j.row_width - 1) / j.row_width);
    return;
  }
  j.width = task_width (ctx, N, ctx->kern->nr, LMW_GEMM_NC, 1);
  lmw_pool_run (ctx->pool, gemm_task, &j, (N + j.width - 1) / j.width);
}

static void
cpu_matmul (void *vctx, float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
            const float *bias, int M)
{
  cpu_matmul_ex (vctx, out, ldc, inp, lda, w, bias, M, 0);
}

/* ---- element-wise and row-wise operations ------------------------------------------------- */

typedef struct {
  cpu_ctx *ctx;
  float *out;
  const float *inp;
  const float *weight;
  const float *bias;
  int N, C;
  float eps;
  size_t n;
  int width;
} rows_job;

static void
layernorm_task (void *arg, int task, int thread)
{
  rows_job *j = arg;
  int r0 = task * j->width;
  int r1 = r0 + j->width < j->N ? r0 + j->width : j->N;
  for (int r = r0; r < r1; r++)
    j->ctx->kern->layernorm_row (j->out + (size_t) r * j->C, j->inp + (size_t) r * j->C, j->weight,
                                 j->bias, j->C, j->eps);
}

static void
cpu_layernorm (void *vctx, float *out, const float *inp, const float *weight, const float *bias,
               int N, int C, float eps)
{
  cpu_ctx *ctx = vctx;
  rows_job j = { .ctx = ctx, .out = out, .inp = inp, .weight = weight, .bias = bias, .N = N,
                 .C = C, .eps = eps };
  j.width = N * C < 65536 ? N : task_width (ctx, N, 1, 1 << 30, 2);
  lmw_pool_run (ctx->pool, layernorm_task, &j, (N + j.width - 1) / j.width);
}

#define ELEMS_PER_TASK 65536

static void
gelu_task (void *arg, int task, int thread)
{
  rows_job *j = arg;
  size_t i0 = (size_t) task * ELEMS_PER_TASK;
  size_t n = j->n - i0 < ELEMS_PER_TASK ? j->n - i0 : ELEMS_PER_TASK;
  j->ctx->kern->gelu (j->out + i0, n);
}

static void
cpu_gelu (void *vctx, float *x, size_t n)
{
  cpu_ctx *ctx = vctx;
  rows_job j = { .ctx = ctx, .out = x, .n = n };
  lmw_pool_run (ctx->pool, gelu_task, &j, (int) ((n + ELEMS_PER_TASK - 1) / ELEMS_PER_TASK));
}

static void
add_task (void *arg, int task, int thread)
{
  rows_job *j = arg;
  size_t i0 = (size_t) task * ELEMS_PER_TASK;
  size_t n = j->n - i0 < ELEMS_PER_TASK ? j->n - i0 : ELEMS_PER_TASK;
  for (size_t i = i0; i < i0 + n; i++)
    j->out[i] += j->inp[i];
}

static void
cpu_add (void *vctx, float *out, const float *inp, size_t n)
{
  cpu_ctx *ctx = vctx;
  rows_job j = { .ctx = ctx, .out = out, .inp = inp, .n = n };
  lmw_pool_run (ctx->pool, add_task, &j, (int) ((n + ELEMS_PER_TASK - 1) / ELEMS_PER_TASK));
}

static void
softmax_task (void *arg, int task, int thread)
{
  rows_job *j = arg;
  int r0 = task * j->width;
  int r1 = r0 + j->width < j->N ? r0 + j->width : j->N;
  for (int r = r0; r < r1; r++)
    j->ctx->kern->softmax_row (j->out + (size_t) r * j->C, j->C, 1.0f);
}

static void
cpu_softmax (void *vctx, float *x, int rows, int cols)
{
  cpu_ctx *ctx = vctx;
  rows_job j = { .ctx = ctx, .out = x, .N = rows, .C = cols };
  j.width = task_width (ctx, rows, 1, 1 << 30, 2);
  lmw_pool_run (ctx->pool, softmax_task, &j, (rows + j.width - 1) / j.width);
}

static void
cpu_get_rows (void *vctx, float *out, const lmw_weight *w, const int *ids, int n)
{
  for (int i = 0; i < n; i++)
    lmw_dequantize_row (out + (size_t) i * w->cols, w->type,
                        (const uint8_t *) w->data + (size_t) ids[i] * w->row_bytes, 0, w->cols);
}

/* ---- conv1d, kernel 3, padding 1 ---------------------------------------------------------- */

typedef struct {
  float *X;
  const float *inp;
  size_t in_cstride, in_tstride;
  int T_in, C_in, stride, T_out;
  int width; /* output steps per task */
} im2col_job;

static void
im2col_task (void *arg, int task, int thread)
{
  im2col_job *j = arg;
  int K = j->C_in * 3;
  int t0 = task * j->width, t1 = t0 + j->width < j->T_out ? t0 + j->width : j->T_out;
  for (int t = t0; t < t1; t++) {
    float *x = j->X + (size_t) t * K;
    for (int k = 0; k < 3; k++) {
      int ti = t * j->stride + k - 1;
      if (ti < 0 || ti >= j->T_in) {
        for (int c = 0; c < j->C_in; c++)
          x[c * 3 + k] = 0.0f;
        continue;
      }
      const float *src = j->inp + (size_t) ti * j->in_tstride;
      for (int c = 0; c < j->C_in; c++)
        x[c * 3 + k] = src[c * j->in_cstride];
    }
  }
}

/* As an im2col product: X (T_out, C_in * 3) with X[t][c * 3 + k] = inp (c, t * stride + k - 1),
 * built in parallel, then out = X · w^T + bias. */
static void
cpu_conv1d_k3 (void *vctx, float *out, const float *inp, size_t in_cstride, size_t in_tstride,
               const lmw_weight *w, const float *bias, int T_in, int C_in, int stride)
{
  cpu_ctx *ctx = vctx;
  int T_out = (T_in - 1) / stride + 1;
  int K = C_in * 3;
  size_t need = (size_t) T_out * K;
  if (ctx->conv_x_len < need) {
    free (ctx->conv_x);
    ctx->conv_x = malloc (sizeof (float) * need);
    ctx->conv_x_len = ctx->conv_x ? need : 0;
  }
  float *X = ctx->conv_x;
  if (X == NULL) { /* degrade to one output row at a time */
    float *x1 = malloc (sizeof (float) * (size_t) K);
    if (x1 == NULL)
      return;
    for (int t = 0; t < T_out; t++) {
      for (int c = 0; c < C_in; c++)
        for (int k = 0; k < 3; k++) {
          int ti = t * stride + k - 1;
          x1[c * 3 + k] = ti < 0 || ti >= T_in ? 0.0f : inp[c * in_cstride + ti * in_tstride];
        }
      cpu_matmul (vctx, out + (size_t) t * w->rows, w->rows, x1, K, w, bias, 1);
    }
    free (x1);
    return;
  }
  im2col_job j = { X, inp, in_cstride, in_tstride, T_in, C_in, stride, T_out, 0 };
  j.width = task_width (ctx, T_out, 1, 1 << 30, 2);
  lmw_pool_run (ctx->pool, im2col_task, &j, (T_out + j.width - 1) / j.width);
  cpu_matmul (vctx, out, w->rows, X, K, w, bias, T_out);
}

/* ---- attention ---------------------------------------------------------------------------- */

typedef struct {
  cpu_ctx *ctx;
  float *out;
  int ldo;
  const float *q, *k, *v;
  int ldq, ldk, ldv;
  int Tq, Tk, H, D;
  int causal_past;
  int n_chunks;
} attn_job;

static void
attention_task (void *arg, int task, int thread)
{
  attn_job *j = arg;
  thread_scratch *s = &j->ctx->scratch[thread];
  const lmw_cpu_kernels *kern = j->ctx->kern;
  int h = task / j->n_chunks;
  int q0 = (task % j->n_chunks) * ATTN_QCHUNK;
  int qn = j->Tq - q0 < ATTN_QCHUNK ? j->Tq - q0 : ATTN_QCHUNK;
  /* keys any row of this chunk can see */
  int kn = j->Tk;
  if (j->causal_past >= 0 && j->causal_past + q0 + qn < kn)
    kn = j->causal_past + q0 + qn;
  float scale = 1.0f / sqrtf ((float) j->D);
  const float *qh = j->q + (size_t) q0 * j->ldq + (size_t) h * j->D;
  const float *kh = j->k + (size_t) h * j->D;
  const float *vh = j->v + (size_t) h * j->D;
  float *oh = j->out + (size_t) q0 * j->ldo + (size_t) h * j->D;
  float *S = s->scores; /* (qn, kn) */

  /* S = Qh · Kh^T */
  if (qn <= GEMV_MAX_M) {
    for (int i = 0; i < qn; i++)
      kern->dot_rows (S + (size_t) i * kn, qh + (size_t) i * j->ldq, kh, (size_t) j->ldk, kn, j->D);
  } else {
#ifdef LMW_HAVE_OPENBLAS
    if (j->ctx->use_blas)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, qn, kn, j->D, 1.0f, qh, j->ldq, kh,
                   j->ldk, 0.0f, S, kn);
    else
#endif
    {
      lmw_weight kw = { LMW_TYPE_F32, kn, j->D, (size_t) j->ldk * sizeof (float), kh };
      lmw_gemm_b B = { .kn = false, .w = &kw };
      lmw_cpu_gemm_cols (kern, S, kn, qh, j->ldq, &B, NULL, qn, j->D, 0, kn, 0, s->pack,
                         s->rowtmp);
    }
  }
  /* mask and softmax */
  for (int i = 0; i < qn; i++) {
    float *row = S + (size_t) i * kn;
    int visible = kn;
    if (j->causal_past >= 0 && j->causal_past + q0 + i + 1 < visible)
      visible = j->causal_past + q0 + i + 1;
    kern->softmax_row (row, visible, scale);
    for (int t = visible; t < kn; t++)
      row[t] = 0.0f;
  }
  /* O = S · Vh */
  if (qn <= GEMV_MAX_M) {
    for (int i = 0; i < qn; i++)
      kern->gemv_t (oh + (size_t) i * j->ldo, S + (size_t) i * kn, vh, (size_t) j->ldv, kn, j->D);
  } else {
#ifdef LMW_HAVE_OPENBLAS
    if (j->ctx->use_blas)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, qn, j->D, kn, 1.0f, S, kn, vh,
                   j->ldv, 0.0f, oh, j->ldo);
    else
#endif
    {
      lmw_gemm_b B = { .kn = true, .f = vh, .ld = j->ldv };
      lmw_cpu_gemm_cols (kern, oh, j->ldo, S, kn, &B, NULL, qn, kn, 0, j->D, 0, s->pack,
                         s->rowtmp);
    }
  }
}

/* Blockwise attention for many queries: a task is one head and a range of queries.  It packs
 * the head's K as (D, 16)-panels of keys and V as (Tk, 16)-panels of channels once, then for
 * each block of LMW_GEMM_MR queries computes the block's scores (MR, Tk) with the GEMM kernel,
 * turns them into unnormalised exponentials in place (fused scale, max and sum), multiplies
 * them by V with the same kernel and divides each output row by its sum on the way out.
 * Only MR rows of scores exist at any time.  With a kernel set that has attn_block (AVX-512),
 * only K is packed and each block of queries is one call of that kernel (scores turned into
 * exponentials in registers, V read in place when its rows are 64-byte aligned). */
static int
attn_pad (int n)
{
  return (n + LMW_GEMM_NR_MAX - 1) / LMW_GEMM_NR_MAX * LMW_GEMM_NR_MAX;
}

static size_t
attn_scratch_floats (int Tk, int D)
{
  /* packed K, V (or V copied), scores, K as bf16 pairs */
  return (size_t) attn_pad (Tk) * D + (size_t) attn_pad (D) * Tk + (size_t) LMW_GEMM_MR * attn_pad (Tk) +
         (size_t) attn_pad (Tk) * ((D + 1) / 2);
}

static void
attention_block_task (void *arg, int task, int thread)
{
  attn_job *j = arg;
  thread_scratch *s = &j->ctx->scratch[thread];
  const lmw_cpu_kernels *kern = j->ctx->kern;
  const int D = j->D, NR = kern->nr, MR = LMW_GEMM_MR;
  int h = task / j->n_chunks;
  int rows = (j->Tq + j->n_chunks - 1) / j->n_chunks;
  rows = (rows + MR - 1) / MR * MR;
  int q0 = (task % j->n_chunks) * rows;
  int q1 = q0 + rows < j->Tq ? q0 + rows : j->Tq;
  if (q0 >= q1)
    return;
  int kn = j->Tk; /* keys any query of the task sees */
  if (j->causal_past >= 0 && j->causal_past + q1 < kn)
    kn = j->causal_past + q1;
  int np = (kn + NR - 1) / NR, ldS = np * NR, ne = (D + NR - 1) / NR;
  float *Kp = s->attn;                         /* np panels (D, NR) */
  float *Vp = Kp + (size_t) attn_pad (j->Tk) * D; /* ne panels (kn, NR) */
  float *S = Vp + (size_t) attn_pad (D) * j->Tk; /* (MR, ldS) */
  uint32_t *Kb = (uint32_t *) (S + (size_t) MR * attn_pad (j->Tk)); /* np panels (D / 2, NR) */
  const float *kh = j->k + (size_t) h * D, *vh = j->v + (size_t) h * D;
  /* K rows of this head seen as an f32 weight (kn, D): packed like any B operand */
  lmw_weight kw = { LMW_TYPE_F32, kn, D, (size_t) j->ldk * sizeof (float), kh };
  for (int p = 0; p < np; p++) {
    int nw = kn - p * NR < NR ? kn - p * NR : NR;
    kern->pack_rows (Kp + (size_t) p * D * NR, &kw, p * NR, nw, 0, D, s->rowtmp);
  }
  float scale = 1.0f / sqrtf ((float) D);
  if (kern->attn_block != NULL) {
    /* fused kernel: the exponentials live in S (MR, ldS); V is read in place when its rows
     * start on 64-byte boundaries, else copied to aligned rows first (loads that straddle two
     * cache lines made the P V product about 4% slower) */
    const float *vsrc = vh;
    size_t vld = (size_t) j->ldv;
    const lmw_cpu_attn_bf16 *bf = D % 2 == 0 && NR == 64 ? j->ctx->attn_bf16 : NULL;
    if (bf != NULL)
      bf->pack_keys (Kb, Kp, np, D);
    if ((uintptr_t) vh % 64 != 0 || j->ldv % 16 != 0) {
      vld = (size_t) (D + 15) / 16 * 16;
      for (int t = 0; t < kn; t++)
        memcpy (Vp + (size_t) t * vld, vh + (size_t) t * j->ldv, sizeof (float) * (size_t) D);
      vsrc = Vp;
    }
    for (int m = q0; m < q1; m += MR) {
      int mr = q1 - m < MR ? q1 - m : MR;
      const float *a[LMW_GEMM_MR];
      int visible[LMW_GEMM_MR];
      for (int r = 0; r < MR; r++) {
        a[r] = r < mr ? j->q + (size_t) (m + r) * j->ldq + (size_t) h * D : zero_row;
        visible[r] = r >= mr ? 0
                     : j->causal_past >= 0 && j->causal_past + m + r + 1 < kn ? j->causal_past + m + r + 1
                                                                             : kn;
      }
      /* the next block's queries, fetched while this one runs (64 floats of rows 512 or more
       * floats apart: no hardware prefetcher brings them in time) */
      for (int r = 0; r < MR && m + MR + r < q1; r++) {
        const char *nq = (const char *) (j->q + (size_t) (m + MR + r) * j->ldq + (size_t) h * D);
        for (int b = 0; b < D * (int) sizeof (float); b += 64)
          __builtin_prefetch (nq + b);
      }
      if (bf != NULL)
        bf->attn_block (j->out + (size_t) m * j->ldo + (size_t) h * D, (size_t) j->ldo, a, visible,
                        Kb, vsrc, vld, kn, D, scale, S, ldS);
      else
        kern->attn_block (j->out + (size_t) m * j->ldo + (size_t) h * D, (size_t) j->ldo, a,
                          visible, Kp, vsrc, vld, kn, D, scale, S, ldS);
    }
    return;
  }
  for (int e = 0; e < ne; e++) {
    float *dst = Vp + (size_t) e * kn * NR;
    int nw = D - e * NR < NR ? D - e * NR : NR;
    for (int t = 0; t < kn; t++) {
      float *d = dst + (size_t) t * NR;
      memcpy (d, vh + (size_t) t * j->ldv + e * NR, sizeof (float) * (size_t) nw);
      if (nw < NR)
        memset (d + nw, 0, sizeof (float) * (size_t) (NR - nw));
    }
  }
  float tile[LMW_GEMM_MR * LMW_GEMM_NR_MAX] __attribute__ ((aligned (64)));
  for (int m = q0; m < q1; m += MR) {
    int mr = q1 - m < MR ? q1 - m : MR;
    const float *a[LMW_GEMM_MR];
    for (int r = 0; r < MR; r++)
      a[r] = r < mr ? j->q + (size_t) (m + r) * j->ldq + (size_t) h * D : zero_row;
    for (int p = 0; p < np; p++)
      kern->kernel (D, a, Kp + (size_t) p * D * NR, S + (size_t) p * NR, ldS, NULL, false);
    float inv[LMW_GEMM_MR];
    for (int r = 0; r < MR; r++) {
      float *row = S + (size_t) r * ldS;
      int visible = kn;
      if (r >= mr) {
        visible = 0;
        inv[r] = 0.0f;
      } else {
        if (j->causal_past >= 0 && j->causal_past + m + r + 1 < visible)
          visible = j->causal_past + m + r + 1;
        inv[r] = 1.0f / kern->exp_row (row, visible, scale);
      }
      for (int t = visible; t < kn; t++)
        row[t] = 0.0f;
      a[r] = row;
    }
    for (int e = 0; e < ne; e++) {
      const float *bp = Vp + (size_t) e * kn * NR;
      int nw = D - e * NR < NR ? D - e * NR : NR;
      /* V is packed whole, so one call covers every key */
      kern->kernel (kn, a, bp, tile, NR, NULL, false);
      for (int r = 0; r < mr; r++) {
        float *o = j->out + (size_t) (m + r) * j->ldo + (size_t) h * D + e * NR;
        for (int c = 0; c < nw; c++)
          o[c] = tile[r * NR + c] * inv[r];
      }
    }
  }
}

static void
cpu_attention (void *vctx, float *out, int ldo, const float *q, int ldq, const float *k, int ldk,
               const float *v, int ldv, int Tq, int Tk, int H, int D, int causal_past)
{
  cpu_ctx *ctx = vctx;
  if (Tk > MAX_KEYS || D > MAX_K)
    return; /* the model loader refuses such shapes */
  attn_job j = { ctx, out, ldo, q, k, v, ldq, ldk, ldv, Tq, Tk, H, D, causal_past, 0 };
  if (Tq > GEMV_MAX_M && D <= LMW_GEMM_KC && !ctx->use_blas) {
    size_t need = attn_scratch_floats (Tk, D);
    bool ok = true;
    for (int i = 0; i < ctx->n_threads && ok; i++) {
      thread_scratch *s = &ctx->scratch[i];
      if (s->attn_len >= need)
        continue;
      free (s->attn);
      s->attn = aligned_alloc (64, (need * sizeof (float) + 63) / 64 * 64);
      s->attn_len = s->attn ? need : 0;
      ok = s->attn != NULL;
    }
    if (ok) {
      /* enough tasks for every thread to get an even share, each a multiple of MR queries */
      int split = (4 * ctx->n_threads + H - 1) / H;
      int max_split = (Tq + LMW_GEMM_MR - 1) / LMW_GEMM_MR;
      j.n_chunks = split < max_split ? split : max_split;
      if ((size_t) Tq * Tk * H * D < PARALLEL_MIN_WORK) {
        for (int t = 0; t < H * j.n_chunks; t++)
          attention_block_task (&j, t, 0);
        return;
      }
      lmw_pool_run (ctx->pool, attention_block_task, &j, H * j.n_chunks);
      return;
    }
  }
  j.n_chunks = (Tq + ATTN_QCHUNK - 1) / ATTN_QCHUNK;
  if ((size_t) Tq * Tk * H * D < PARALLEL_MIN_WORK) {
    for (int t = 0; t < H * j.n_chunks; t++)
      attention_task (&j, t, 0);
    return;
  }
  lmw_pool_run (ctx->pool, attention_task, &j, H * j.n_chunks);
}

/* ---- cross-attention on f16 keys and values (contract version 4) ------------------------- */

typedef struct {
  cpu_ctx *ctx;
  uint16_t *dst;
  const float *src;
  size_t n, width;
} to_f16_job;

static void
to_f16_task (void *arg, int task, int thread)
{
  (void) thread;
  to_f16_job *j = arg;
  size_t i0 = (size_t) task * j->width, n = j->n - i0 < j->width ? j->n - i0 : j->width;
  lmw_cpu_cross_to_f16 (j->ctx->kern, j->dst + i0, j->src + i0, n);
}

static void
cpu_to_f16 (void *vctx, uint16_t *dst, const float *src, size_t n)
{
  cpu_ctx *ctx = vctx;
  if (n < PARALLEL_MIN_WORK || ctx->n_threads == 1) {
    lmw_cpu_cross_to_f16 (ctx->kern, dst, src, n);
    return;
  }
  to_f16_job j = { ctx, dst, src, n, (n + (size_t) ctx->n_threads - 1) / (size_t) ctx->n_threads };
  j.width = (j.width + 63) / 64 * 64;
  lmw_pool_run (ctx->pool, to_f16_task, &j, (int) ((n + j.width - 1) / j.width));
}

typedef struct {
  cpu_ctx *ctx;
  float *out;
  int ldo;
  const float *q;
  int ldq;
  const uint16_t *k, *v;
  int ldkv, Tq, Tk, H, D;
  int heads; /* per task */
} cross_job;

static void
cross_task (void *arg, int task, int thread)
{
  cross_job *j = arg;
  int h0 = task * j->heads, h1 = h0 + j->heads < j->H ? h0 + j->heads : j->H;
  lmw_cpu_cross_heads (j->ctx->kern, j->out, j->ldo, j->q, j->ldq, j->k, j->v, j->ldkv, j->Tq,
                       j->Tk, h0, h1, j->D, j->ctx->scratch[thread].attn);
}

static void
cpu_cross_attention (void *vctx, float *out, int ldo, const float *q, int ldq, const uint16_t *k,
                     const uint16_t *v, int ldkv, int Tq, int Tk, int H, int D)
{
  cpu_ctx *ctx = vctx;
  if (Tk > MAX_KEYS || D > MAX_K || Tq < 1)
    return; /* the model loader refuses such shapes */
  if (Tq <= LMW_CPU_CROSS_MAX_Q) {
    /* one task per thread, each a range of heads reading its columns of K and V once; small
     * work (one query row) stays on the calling thread, as for attention: split between two
     * threads it took more CPU time per token on a busy machine (docs/benchmarks.md) */
    int n_tasks = (size_t) Tq * Tk * H * D < PARALLEL_MIN_WORK ? 1
                  : ctx->n_threads < H ? ctx->n_threads : H;
    cross_job j = { ctx, out, ldo, q, ldq, k, v, ldkv, Tq, Tk, H, D, (H + n_tasks - 1) / n_tasks };
    size_t need = lmw_cpu_cross_heads_scratch_floats (Tq, Tk, j.heads, D);
    bool ok = true;
    for (int i = 0; i < ctx->n_threads && ok; i++) {
      thread_scratch *s = &ctx->scratch[i];
      if (s->attn_len >= need)
        continue;
      free (s->attn);
      s->attn = aligned_alloc (64, (need * sizeof (float) + 63) / 64 * 64);
      s->attn_len = s->attn ? need : 0;
      ok = s->attn != NULL;
    }
    if (ok) {
      lmw_pool_run (ctx->pool, cross_task, &j, (H + j.heads - 1) / j.heads);
      return;
    }
  }
  /* many queries (a prompt, teacher forcing) or no scratch: the f32 attention on copies */
  size_t n = (size_t) Tk * ldkv;
  if (ctx->cross_f32_len < 2 * n) {
    free (ctx->cross_f32);
    ctx->cross_f32 = aligned_alloc (64, (2 * n * sizeof (float) + 63) / 64 * 64);
    ctx->cross_f32_len = ctx->cross_f32 ? 2 * n : 0;
  }
  if (ctx->cross_f32 == NULL)
    return;
  float *kf = ctx->cross_f32, *vf = ctx->cross_f32 + n;
  for (int t = 0; t < Tk; t++) { /* rows of ldkv f16 values; convert_row takes an int count */
    ctx->kern->convert_row (kf + (size_t) t * ldkv, LMW_TYPE_F16, k + (size_t) t * ldkv, 0, ldkv);
    ctx->kern->convert_row (vf + (size_t) t * ldkv, LMW_TYPE_F16, v + (size_t) t * ldkv, 0, ldkv);
  }
  cpu_attention (vctx, out, ldo, q, ldq, kf, ldkv, vf, ldkv, Tq, Tk, H, D, -1);
}

/* ---- memory: the host's -------------------------------------------------------------- */

static void *
cpu_alloc (void *vctx, size_t bytes)
{
  (void) vctx;
  return aligned_alloc (256, bytes ? (bytes + 255) / 256 * 256 : 256);
}

static void
cpu_free (void *vctx, void *p)
{
  (void) vctx;
  free (p);
}

static void
cpu_memcpy (void *vctx, void *dst, const void *src, size_t bytes)
{
  (void) vctx;
  if (bytes > 0 && dst != src)
    memcpy (dst, src, bytes);
}

/* operations read the model's tensors where they are, in their file type */
static int
cpu_map_weight (void *vctx, lmw_weight *out, const lmw_weight *w, lmw_weight_use use, char *err,
                size_t err_len)
{
  cpu_ctx *ctx = vctx;
  (void) err;
  (void) err_len;
  /* a context holding block-quantised weights on the integer path also computes attention
   * scores in bf16 where the processor has it (its products are already rounded to 8 bits) */
  bool quantised = w->type == LMW_TYPE_Q8_0 || w->type == LMW_TYPE_Q5_0 || w->type == LMW_TYPE_Q5_1 ||
                   w->type == LMW_TYPE_Q4_0 || w->type == LMW_TYPE_Q4_1;
  if (use == LMW_USE_MATRIX && quantised && ctx->int8 != NULL)
    ctx->attn_bf16 = lmw_cpu_attn_bf16_get ();
  *out = *w;
  return 0;
}

static void
cpu_sync (void *vctx)
{
  (void) vctx; /* every operation has finished when it returns */
}

static const char *
cpu_device_name (void *vctx)
{
  return ((cpu_ctx *) vctx)->device;
}

/* the reference front end itself (lmw-mel.c), on the context's thread count */
static void
cpu_log_mel (void *vctx, float *out, int ldo, float *max, const float *pcm, size_t pcm_base,
             size_t n_pcm, size_t n_samples, size_t n_total, const float *filters, int n_mels,
             int f0, int f1)
{
  cpu_ctx *ctx = vctx;
  (void) n_pcm;
  float m = -INFINITY;
  lmw_mel_frames (out, ldo, pcm, pcm_base, n_samples, n_total - n_samples, f0, f1, filters,
                  n_mels, ctx->n_threads, &m);
  if (out == NULL) {
    if (m > *max)
      *max = m;
    return;
  }
  int n = f1 - f0;
  for (int r = 0; r < n_mels; r++) {
    float *row = out + (size_t) r * (size_t) ldo;
    lmw_mel_normalise (row, (size_t) n, *max);
    memset (row + n, 0, sizeof (float) * (size_t) (ldo - n));
  }
}

static const lmw_backend_ops cpu_ops = {
  .version = LMW_BACKEND_VERSION,
  .name = "cpu",
  .score = cpu_score,
  .create = cpu_create,
  .destroy = cpu_destroy,
  .matmul = cpu_matmul,
  .layernorm = cpu_layernorm,
  .gelu = cpu_gelu,
  .softmax = cpu_softmax,
  .conv1d_k3 = cpu_conv1d_k3,
  .attention = cpu_attention,
  .add = cpu_add,
  .get_rows = cpu_get_rows,
  .matmul_ex = cpu_matmul_ex,
  .caps = LMW_BACKEND_HOST_MEMORY,
  .alloc = cpu_alloc,
  .free = cpu_free,
  .upload = cpu_memcpy,
  .download = cpu_memcpy,
  .copy = cpu_memcpy,
  .map_weight = cpu_map_weight,
  .sync = cpu_sync,
  .device_name = cpu_device_name,
  .to_f16 = cpu_to_f16,
  .cross_attention = cpu_cross_attention,
  .log_mel = cpu_log_mel,
};

const lmw_backend_ops *
lmw_backend_cpu (void)
{
  return &cpu_ops;
}
