/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-bench.c — speed of the CUDA kernels with cuBLAS on the whisper shapes, random
 * weights (the time doesn't depend on the values), on a machine with a GPU.
 *
 *   lmw-cuda-bench [--models tiny,base,small,medium,large-v3] [--reps 5] [--beams 1,5]
 *                  [--position 224] [--device N] [--audio-ctx 1500] [--enc-batch 1,16]
 *                  [--dec-batch 1,32,64] [--peak 8192] [--requests 64] [--seconds 60]
 *                  [--tokens 100] [--throughput base,large-v3] [--beam-requests 64]
 *                  [--beam-width 5]
 *
 * For each model shape it allocates every layer's weights as f16 on the device (so that the
 * decoder reads them from memory as it would, not from L2) and times with CUDA events, median
 * of --reps runs after one warm-up:
 *   encoder   one 30 s window: conv stem (im2col + GEMM + GELU epilogue, twice), positional
 *             embedding, every layer (layer norm -> QKV GEMM -> flash attention -> output GEMM
 *             + residual -> layer norm -> fc1 GEMM + GELU -> fc2 GEMM + residual), final norm;
 *   decoder   one token for B beams of one request at KV position --position: every layer
 *             (self-attention over an f16 KV cache, cross-attention over the encoder's f16 K/V
 *             read once for all beams, MLP), final norm, logits GEMM over the vocabulary, top-k
 *             (2 B candidates per beam) with log-sum-exp.
 *   encoder at batch B (--enc-batch): B windows of different requests in one pass, as the
 *             scheduler runs them (products with B * 1500 rows, attention per window), in ms
 *             per window, and its achieved TFLOP/s (the products' and attention's FLOPs);
 *   decoder at batch R (--dec-batch): one token for each of R requests (greedy), each row with
 *             its own self-attention cache and its own window's cross K/V, as a batched step of
 *             the scheduler, in ms per step;
 *   graphs    the same batched step of R requests as the scheduler runs it from a row table
 *             (backends/cuda/lmw-cuda-step.h: one self- and one cross-attention launch per layer
 *             for every row, each row with its own f32 self cache and f16 window K/V), issued
 *             directly and replayed as a CUDA graph captured once: ms per step both ways;
 *   cross_kv  the cross-attention launches of one table step (every layer) for the largest
 *             --dec-batch requests with the largest --beams beams each (a request's beams one
 *             group on its window's K/V), the K/V kept as f16 and as int8
 *             ([whisper] cuda_cross_kv): ms per step, the megabytes of K/V it reads and the
 *             rate (one line per type);
 *   beams     a beam-search step of --beam-requests x --beam-width rows (64 x 5) of 51865
 *             logits: the bytes and time of downloading every row and ranking it on the host
 *             (one thread), against the candidates chosen on the device (lmw-cuda-topk.h,
 *             width + 1 per row, 8 bytes each) and their download (one line);
 *   peak      a cublasGemmEx of --peak cubed (f16 in, f32 accumulation): the card's measured
 *             GEMM TFLOP/s, next to which the encoder's figure is read;
 *   throughput for the shapes of --throughput: --requests concurrent requests of --seconds s
 *             at --tokens tokens per window, greedy: the windows through the encoder in
 *             batches of the largest --enc-batch, then (tokens + 1) decoder steps per window
 *             at batch --requests (the prompt as one step), from the times measured above;
 *             audio-hours per hour = audio / that time.  The GPU work of the scheduler's
 *             batches, without its host work between steps.
 *   front end the log-mel spectrogram of one 30 s window from its samples on the device
 *             (lmw-cuda-mel.h): the pass for the signal's maximum and the pass that writes the
 *             normalised frames, 80 and 128 mel bands, in ms per window (one line);
 * GEMMs are cublasGemmEx with f16 operands and f32 accumulation (tensor cores); the kernels are
 * those of backends/cuda/lmw-cuda-kernels.h and lmw-cuda-mel.h.  Prints one table.
 */
#include "lmw-cuda-kernels.h"
#include "lmw-cuda-mel.h"
#include "lmw-cuda-step.h"
#include "lmw-cuda-topk.h"

#include <cublas_v2.h>
#include <math.h>
#include <time.h>
#include <stdbool.h>
#include <stdint.h>
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *name;
  int n_mels, n_state, n_head, n_layer, n_vocab;
} shape;

static const shape shapes[] = {
  {"tiny", 80, 384, 6, 4, 51865},       {"base", 80, 512, 8, 6, 51865},
  {"small", 80, 768, 12, 12, 51865},    {"medium", 80, 1024, 16, 24, 51865},
  {"large-v3", 128, 1280, 20, 32, 51866},
};

/* audio positions of the encoder (1500 for 30 s) and mel frames (twice that); --audio-ctx
 * shrinks them, for a quick run of the benchmark's code under emulation */
static int T_AUD = 1500, T_MEL = 3000;

#define CUDA(call)                                                                             \
  do {                                                                                         \
    cudaError_t e_ = (call);                                                                   \
    if (e_ != cudaSuccess) {                                                                   \
      fprintf (stderr, "lmw-cuda-bench: %s: %s\n", #call, cudaGetErrorString (e_));          \
      exit (1);                                                                                \
    }                                                                                          \
  } while (0)
#define BLAS(call)                                                                             \
  do {                                                                                         \
    cublasStatus_t s_ = (call);                                                                \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                         \
      fprintf (stderr, "lmw-cuda-bench: %s: cuBLAS status %d\n", #call, (int) s_);            \
      exit (1);                                                                                \
    }                                                                                          \
  } while (0)
#define K(call)                                                                                \
  do {                                                                                         \
    lmw_cuda_status s_ = (call);                                                               \
    if (s_ != LMW_CUDA_OK) {                                                                   \
      fprintf (stderr, "lmw-cuda-bench: %s: %s (%s)\n", #call, lmw_cuda_status_string (s_),   \
               lmw_cuda_last_error ());                                                        \
      exit (1);                                                                                \
    }                                                                                          \
  } while (0)

#define KS(call)                                                                               \
  do {                                                                                         \
    lmw_cuda_status s_ = (call);                                                               \
    if (s_ != LMW_CUDA_OK) {                                                                   \
      fprintf (stderr, "lmw-cuda-bench: %s: %s (%s)\n", #call, lmw_cuda_status_string (s_),   \
               lmw_cuda_step_last_error ());                                                   \
      exit (1);                                                                                \
    }                                                                                          \
  } while (0)

static cublasHandle_t blas;
static cudaStream_t stream;

/* a pool of random bytes copied into every allocation: values in a sane range for f16 and f32 */
static uint16_t *noise_h;
static size_t noise_n = 1 << 22;

static void *
dalloc (size_t bytes)
{
  void *p = NULL;
  CUDA (cudaMalloc (&p, bytes ? bytes : 16));
  return p;
}

/* n random f16 values in (-0.05, 0.05) */
static uint16_t *
rand_f16 (size_t n)
{
  uint16_t *d = dalloc (n * 2);
  for (size_t off = 0; off < n; off += noise_n) {
    size_t c = n - off < noise_n ? n - off : noise_n;
    CUDA (cudaMemcpy (d + off, noise_h, c * 2, cudaMemcpyHostToDevice));
  }
  return d;
}

/* n small f32 values (the f16 noise widened on the device) */
static float *
rand_f32 (size_t n)
{
  uint16_t *h = rand_f16 (n);
  float *d = dalloc (n * 4);
  K (lmw_cuda_f16_to_f32 (d, h, n, stream));
  CUDA (cudaStreamSynchronize (stream));
  cudaFree (h);
  return d;
}

/* out (M, N) f32 row stride ldc = inp (M, K) f16 (stride lda) · w^T, w (N, K) f16 */
static void
gemm (float *out, int ldc, const uint16_t *inp, int lda, const uint16_t *w, int M, int N, int Kd)
{
  const float one = 1.0f, zero = 0.0f;
  BLAS (cublasGemmEx (blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, Kd, &one, w, CUDA_R_16F, Kd, inp,
                      CUDA_R_16F, lda, &zero, out, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                      CUBLAS_GEMM_DEFAULT));
}

typedef struct {
  float *ln1_w, *ln1_b, *ln2_w, *ln2_b, *ln3_w, *ln3_b;
  uint16_t *qkv, *o, *fc1, *fc2, *xq, *xo; /* xq, xo: cross-attention (decoder) */
  float *qkv_b, *o_b, *fc1_b, *fc2_b, *xq_b, *xo_b;
} layer;

static void
layer_alloc (layer *L, int C, bool cross)
{
  L->ln1_w = rand_f32 (C), L->ln1_b = rand_f32 (C);
  L->ln2_w = rand_f32 (C), L->ln2_b = rand_f32 (C);
  L->ln3_w = rand_f32 (C), L->ln3_b = rand_f32 (C);
  L->qkv = rand_f16 ((size_t) 3 * C * C), L->qkv_b = rand_f32 (3 * C);
  L->o = rand_f16 ((size_t) C * C), L->o_b = rand_f32 (C);
  L->fc1 = rand_f16 ((size_t) 4 * C * C), L->fc1_b = rand_f32 (4 * C);
  L->fc2 = rand_f16 ((size_t) 4 * C * C), L->fc2_b = rand_f32 (C);
  L->xq = cross ? rand_f16 ((size_t) C * C) : NULL, L->xq_b = cross ? rand_f32 (C) : NULL;
  L->xo = cross ? rand_f16 ((size_t) C * C) : NULL, L->xo_b = cross ? rand_f32 (C) : NULL;
}

static void
layer_free (layer *L)
{
  void *p[] = {L->ln1_w, L->ln1_b, L->ln2_w, L->ln2_b, L->ln3_w, L->ln3_b, L->qkv, L->o, L->fc1,
               L->fc2, L->xq, L->xo, L->qkv_b, L->o_b, L->fc1_b, L->fc2_b, L->xq_b, L->xo_b};
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    cudaFree (p[i]);
}

static int
cmp_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;
  return x < y ? -1 : x > y;
}

/* median milliseconds of reps runs of fn (after one warm-up) */
static float
time_ms (void (*fn) (void *), void *arg, int reps)
{
  cudaEvent_t a, b;
  CUDA (cudaEventCreate (&a));
  CUDA (cudaEventCreate (&b));
  fn (arg);
  CUDA (cudaStreamSynchronize (stream));
  float *t = malloc (sizeof (float) * reps);
  for (int r = 0; r < reps; r++) {
    CUDA (cudaEventRecord (a, stream));
    fn (arg);
    CUDA (cudaEventRecord (b, stream));
    CUDA (cudaEventSynchronize (b));
    CUDA (cudaEventElapsedTime (&t[r], a, b));
  }
  qsort (t, reps, sizeof (float), cmp_float);
  float m = t[reps / 2];
  free (t);
  cudaEventDestroy (a);
  cudaEventDestroy (b);
  return m;
}

/* ---- front end ------------------------------------------------------------------------- */

typedef struct {
  float *pcm, *filters, *max, *out;
  int n_mels;
} front_end;

/* one window's two passes: the maximum, then the normalised frames */
static void
front_end_run (void *arg)
{
  front_end *f = arg;
  size_t n = (size_t) T_MEL * 160;
  if (lmw_cuda_log_mel (NULL, 0, f->max, f->pcm, 0, n, n, n, f->filters, f->n_mels, 0, T_MEL,
                        stream) != LMW_CUDA_OK ||
      lmw_cuda_log_mel (f->out, T_MEL, f->max, f->pcm, 0, n, n, n, f->filters, f->n_mels, 0,
                        T_MEL, stream) != LMW_CUDA_OK) {
    fprintf (stderr, "lmw-cuda-bench: %s\n", lmw_cuda_mel_last_error ());
    exit (1);
  }
}

/* ---- encoder ---------------------------------------------------------------------------- */

typedef struct {
  const shape *s;
  layer *layers;
  int batch;               /* windows per pass */
  uint16_t *conv1_w, *conv2_w;
  float *conv1_b, *conv2_b, *pos, *lnf_w, *lnf_b;
  float *mel, *x, *tmp, *big, *conv_out;
  uint16_t *xh, *bigh, *cols;
} encoder;

static void
encoder_run (void *arg)
{
  encoder *E = arg;
  int C = E->s->n_state, H = E->s->n_head, M = E->s->n_mels, B = E->batch;
  int TA = B * T_AUD; /* rows of the products: every window's positions */
  size_t wx = (size_t) T_AUD * C;
  /* per window: conv1: mel (M, 3000) -> (3000, C); conv2: stride 2 -> (1500, C) */
  for (int b = 0; b < B; b++) {
    float *x = E->x + b * wx;
    K (lmw_cuda_im2col_k3 (E->cols, 3 * M, E->mel + (size_t) b * M * T_MEL, T_MEL, 1, T_MEL, M,
                           1, stream));
    gemm (E->conv_out, C, E->cols, 3 * M, E->conv1_w, T_MEL, C, 3 * M);
    K (lmw_cuda_bias_act (E->conv_out, C, NULL, 0, E->conv_out, C, E->conv1_b, T_MEL, C,
                          LMW_CUDA_GELU, stream));
    K (lmw_cuda_im2col_k3 (E->cols, 3 * C, E->conv_out, 1, C, T_MEL, C, 2, stream));
    gemm (x, C, E->cols, 3 * C, E->conv2_w, T_AUD, C, 3 * C);
    K (lmw_cuda_bias_act (x, C, NULL, 0, x, C, E->conv2_b, T_AUD, C, LMW_CUDA_GELU, stream));
    K (lmw_cuda_bias_act (x, C, NULL, 0, E->pos, C, NULL, T_AUD, C, LMW_CUDA_ACCUMULATE, stream));
  }
  for (int l = 0; l < E->s->n_layer; l++) {
    layer *L = &E->layers[l];
    K (lmw_cuda_layernorm (NULL, 0, E->xh, C, E->x, C, L->ln1_w, L->ln1_b, TA, C, 1e-5f,
                           stream));
    gemm (E->big, 3 * C, E->xh, C, L->qkv, TA, 3 * C, C);
    K (lmw_cuda_bias_act (NULL, 0, E->bigh, 3 * C, E->big, 3 * C, L->qkv_b, TA, 3 * C, 0,
                          stream));
    K (lmw_cuda_bias_act (E->big, 3 * C, NULL, 0, E->big, 3 * C, L->qkv_b, TA, C, 0, stream));
    K (lmw_cuda_attention (NULL, 0, 0, E->xh, C, wx, E->big, 3 * C, 3 * wx, E->bigh + C, 3 * C,
                           E->bigh + 2 * C, 3 * C, 3 * wx, LMW_TYPE_F16, B, T_AUD, T_AUD, H,
                           C / H, -1, stream));
    gemm (E->tmp, C, E->xh, C, L->o, TA, C, C);
    K (lmw_cuda_bias_act (E->x, C, NULL, 0, E->tmp, C, L->o_b, TA, C, LMW_CUDA_ACCUMULATE,
                          stream));
    K (lmw_cuda_layernorm (NULL, 0, E->xh, C, E->x, C, L->ln2_w, L->ln2_b, TA, C, 1e-5f,
                           stream));
    gemm (E->big, 4 * C, E->xh, C, L->fc1, TA, 4 * C, C);
    K (lmw_cuda_bias_act (NULL, 0, E->bigh, 4 * C, E->big, 4 * C, L->fc1_b, TA, 4 * C,
                          LMW_CUDA_GELU, stream));
    gemm (E->tmp, C, E->bigh, 4 * C, L->fc2, TA, C, 4 * C);
    K (lmw_cuda_bias_act (E->x, C, NULL, 0, E->tmp, C, L->fc2_b, TA, C, LMW_CUDA_ACCUMULATE,
                          stream));
  }
  K (lmw_cuda_layernorm (E->x, C, NULL, 0, E->x, C, E->lnf_w, E->lnf_b, TA, C, 1e-5f, stream));
}

/* ---- decoder ---------------------------------------------------------------------------- */

typedef struct {
  const shape *s;
  layer *layers;
  int beams, pos;
  int requests;          /* each with its own cross K/V and beams rows */
  uint16_t *tok_emb;     /* (n_vocab, C) */
  float *pos_emb, *lnf_w, *lnf_b;
  uint16_t **kv_self;    /* per layer: (rows, 2, 448, C) f16 */
  uint16_t **kv_cross;   /* per layer: (requests, 2, 1500, C) f16 */
  float *x, *tmp, *big, *logits, *topv, *lse;
  uint16_t *xh, *bigh;
  int *ids, *topi;
} decoder;

#define N_TEXT_CTX 448

/* ---- the decoder step: the beams' own caches, or the row table (directly or as a graph) -- */

typedef struct {
  decoder *D;
  int R;
  lmw_step_row *rows;           /* (R) device: every row's token, position, caches */
  float **self;                 /* (R) owned: a row's f32 K and V caches (2, L, 448, C) */
  uint16_t **cross;             /* (R) owned: a row's f16 window K and V (2, L, T_AUD, C) */
  float *q, *k, *v, *att;       /* (R, C) */
  cudaGraphExec_t exec;
} table_step;

/* One decoder step of @n rows: with @T NULL the beams of D->requests requests on their own
 * caches (n = beams * requests, top 2 * beams), else the rows of the table @T (n = T->R, top
 * 1).  The two differ only in the embedding and in where the attentions find K and V; both
 * attentions leave their output in xh. */
static void
decoder_step (decoder *D, table_step *T, int n)
{
  int C = D->s->n_state, H = D->s->n_head, V = D->s->n_vocab;
  size_t cache_b = (size_t) 2 * N_TEXT_CTX * C; /* one beam's K and V */
  size_t CC = (size_t) C * C;
  if (T == NULL) {
    K (lmw_cuda_get_rows (D->x, C, D->tok_emb, LMW_TYPE_F16, C, V, D->ids, n, C, stream));
    K (lmw_cuda_bias_act (D->x, C, NULL, 0, D->pos_emb + (size_t) D->pos * C, 0, NULL, n, C,
                          LMW_CUDA_ACCUMULATE, stream));
  } else {
    KS (lmw_cuda_step_embed (D->x, D->tok_emb, LMW_TYPE_F16, V, D->pos_emb, N_TEXT_CTX, T->rows,
                             n, C, stream));
  }
  for (int l = 0; l < D->s->n_layer; l++) {
    layer *L = &D->layers[l];
    uint16_t *cache = D->kv_self[l];
    K (lmw_cuda_layernorm (NULL, 0, D->xh, C, D->x, C, L->ln1_w, L->ln1_b, n, C, 1e-5f, stream));
    if (T == NULL) {
      gemm (D->big, 3 * C, D->xh, C, L->qkv, n, 3 * C, C);
      K (lmw_cuda_bias_act (D->big, 3 * C, NULL, 0, D->big, 3 * C, L->qkv_b, n, C, 0, stream));
      /* this token's K and V into row pos of each beam's cache */
      K (lmw_cuda_bias_act (NULL, 0, cache + (size_t) D->pos * C, (int) cache_b, D->big + C,
                            3 * C, L->qkv_b + C, n, C, 0, stream));
      K (lmw_cuda_bias_act (NULL, 0, cache + (size_t) (N_TEXT_CTX + D->pos) * C, (int) cache_b,
                            D->big + 2 * C, 3 * C, L->qkv_b + 2 * C, n, C, 0, stream));
      K (lmw_cuda_attention (NULL, 0, 0, D->xh, C, C, D->big, 3 * C, 3 * C, cache, C,
                             cache + (size_t) N_TEXT_CTX * C, C, cache_b, LMW_TYPE_F16, n, 1,
                             D->pos + 1, H, C / H, D->pos, stream));
    } else {
      gemm (T->q, C, D->xh, C, L->qkv, n, C, C);
      gemm (T->k, C, D->xh, C, L->qkv + CC, n, C, C);
      gemm (T->v, C, D->xh, C, L->qkv + 2 * CC, n, C, C);
      K (lmw_cuda_bias_act (T->q, C, NULL, 0, T->q, C, L->qkv_b, n, C, 0, stream));
      K (lmw_cuda_bias_act (T->v, C, NULL, 0, T->v, C, L->qkv_b + 2 * C, n, C, 0, stream));
      KS (lmw_cuda_step_self_attention (T->att, T->q, T->k, T->v, T->rows,
                                        (size_t) l * N_TEXT_CTX * C, n, H, C / H, stream));
      K (lmw_cuda_f32_to_f16 (D->xh, T->att, (size_t) n * C, stream));
    }
    gemm (D->tmp, C, D->xh, C, L->o, n, C, C);
    K (lmw_cuda_bias_act (D->x, C, NULL, 0, D->tmp, C, L->o_b, n, C, LMW_CUDA_ACCUMULATE, stream));
    K (lmw_cuda_layernorm (NULL, 0, D->xh, C, D->x, C, L->ln2_w, L->ln2_b, n, C, 1e-5f, stream));
    if (T == NULL) {
      gemm (D->tmp, C, D->xh, C, L->xq, n, C, C);
      K (lmw_cuda_bias_act (D->tmp, C, NULL, 0, D->tmp, C, L->xq_b, n, C, 0, stream));
      K (lmw_cuda_cross_attention (NULL, 0, D->xh, C, D->tmp, C, D->kv_cross[l],
                                   D->kv_cross[l] + (size_t) T_AUD * C, C, (size_t) 2 * T_AUD * C,
                                   D->requests, D->beams, T_AUD, H, C / H, stream));
    } else {
      gemm (T->q, C, D->xh, C, L->xq, n, C, C);
      K (lmw_cuda_bias_act (T->q, C, NULL, 0, T->q, C, L->xq_b, n, C, 0, stream));
      KS (lmw_cuda_step_cross_attention (T->att, T->q, T->rows, (size_t) l * T_AUD * C, T_AUD, n,
                                         H, C / H, stream));
      K (lmw_cuda_f32_to_f16 (D->xh, T->att, (size_t) n * C, stream));
    }
    gemm (D->tmp, C, D->xh, C, L->xo, n, C, C);
    K (lmw_cuda_bias_act (D->x, C, NULL, 0, D->tmp, C, L->xo_b, n, C, LMW_CUDA_ACCUMULATE,
                          stream));
    K (lmw_cuda_layernorm (NULL, 0, D->xh, C, D->x, C, L->ln3_w, L->ln3_b, n, C, 1e-5f, stream));
    gemm (D->big, 4 * C, D->xh, C, L->fc1, n, 4 * C, C);
    K (lmw_cuda_bias_act (NULL, 0, D->bigh, 4 * C, D->big, 4 * C, L->fc1_b, n, 4 * C,
                          LMW_CUDA_GELU, stream));
    gemm (D->tmp, C, D->bigh, 4 * C, L->fc2, n, C, 4 * C);
    K (lmw_cuda_bias_act (D->x, C, NULL, 0, D->tmp, C, L->fc2_b, n, C, LMW_CUDA_ACCUMULATE,
                          stream));
  }
  K (lmw_cuda_layernorm (NULL, 0, D->xh, C, D->x, C, D->lnf_w, D->lnf_b, n, C, 1e-5f, stream));
  gemm (D->logits, V, D->xh, C, D->tok_emb, n, V, C);
  K (lmw_cuda_topk (D->topi, D->topv, D->lse, D->logits, V, n, V, T == NULL ? 2 * D->beams : 1,
                    stream));
}

static void
decoder_run (void *arg)
{
  decoder *D = arg;
  decoder_step (D, NULL, D->beams * D->requests);
}

static void
table_run (void *arg)
{
  table_step *T = arg;
  decoder_step (T->D, T, T->R);
}

static void
graph_replay (void *arg)
{
  table_step *T = arg;
  CUDA (cudaGraphLaunch (T->exec, stream));
}

/* ms per step of R rows from the row table: directly (*direct) and replayed as a graph */
static void
table_times (decoder *D, int R, int reps, float *direct, float *replayed)
{
  int C = D->s->n_state, L = D->s->n_layer;
  size_t self_n = (size_t) L * N_TEXT_CTX * C, cross_n = (size_t) L * T_AUD * C;
  table_step T = { D, R };
  T.self = calloc ((size_t) R, sizeof *T.self);
  T.cross = calloc ((size_t) R, sizeof *T.cross);
  lmw_step_row *rows = calloc ((size_t) R, sizeof *rows);
  for (int r = 0; r < R; r++) {
    T.self[r] = dalloc (2 * self_n * 4);
    CUDA (cudaMemset (T.self[r], 0, 2 * self_n * 4));
    T.cross[r] = dalloc (2 * cross_n * 2); /* the values don't change the time */
    CUDA (cudaMemset (T.cross[r], 0, 2 * cross_n * 2));
    rows[r] = (lmw_step_row) { .token = 50257 + r % 8, .pos = D->pos, .self_k = T.self[r],
                               .self_v = T.self[r] + self_n, .cross_k = T.cross[r],
                               .cross_v = T.cross[r] + cross_n };
  }
  T.rows = dalloc (sizeof *rows * (size_t) R);
  CUDA (cudaMemcpy (T.rows, rows, sizeof *rows * (size_t) R, cudaMemcpyHostToDevice));
  T.q = dalloc ((size_t) R * C * 4), T.k = dalloc ((size_t) R * C * 4);
  T.v = dalloc ((size_t) R * C * 4), T.att = dalloc ((size_t) R * C * 4);
  *direct = time_ms (table_run, &T, reps);
  cudaGraph_t g = NULL;
  CUDA (cudaStreamBeginCapture (stream, cudaStreamCaptureModeThreadLocal));
  table_run (&T);
  CUDA (cudaStreamEndCapture (stream, &g));
  CUDA (cudaGraphInstantiate (&T.exec, g, 0));
  cudaGraphDestroy (g);
  *replayed = time_ms (graph_replay, &T, reps);
  cudaGraphExecDestroy (T.exec);
  for (int r = 0; r < R; r++)
    cudaFree (T.self[r]), cudaFree (T.cross[r]);
  void *p[] = { T.rows, T.q, T.k, T.v, T.att };
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    cudaFree (p[i]);
  free (T.self), free (T.cross), free (rows);
}

/* ---- a beam-search step's choice: logits to the host, or candidates from the device ------- */

typedef struct {
  int R, K, V;
  float *logits;            /* (R, V) device */
  lmw_step_row *rows;       /* (R) device: every row a beam with the search's filters */
  uint32_t *suppress;       /* (V bits) device */
  lmw_pick_result *out;     /* (R * K) device */
} beam_pick;

static void
beam_pick_run (void *arg)
{
  beam_pick *B = arg;
  lmw_cuda_status s_ = lmw_cuda_step_topk (B->out, B->logits, B->V, B->rows, B->R, B->V, 50257,
                                           50364, stream);
  if (s_ != LMW_CUDA_OK) {
    fprintf (stderr, "lmw-cuda-bench: lmw_cuda_step_topk: %s (%s)\n",
             lmw_cuda_status_string (s_), lmw_cuda_topk_last_error ());
    exit (1);
  }
}

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* the host's part of the same choice (lmw-search.c: log-softmax with its f64 sum, then the k
 * best by insertion), on one row; returns the best token */
static int
host_topk_row (const float *x, int V, int K, float *lp, int *idx)
{
  float mx = x[0];
  for (int i = 1; i < V; i++)
    mx = x[i] > mx ? x[i] : mx;
  double lane[256] = { 0.0 };
  for (int i = 0; i < V; i++)
    lane[i & 255] += exp ((double) (x[i] - mx));
  for (int h = 128; h > 0; h /= 2)
    for (int l = 0; l < h; l++)
      lane[l] += lane[l + h];
  float lse = mx + (float) log (lane[0]);
  for (int i = 0; i < V; i++)
    lp[i] = x[i] - lse;
  int cnt = 0;
  for (int i = 0; i < V; i++) {
    if (cnt < K)
      idx[cnt++] = i;
    else if (lp[i] > lp[idx[cnt - 1]])
      idx[cnt - 1] = i;
    else
      continue;
    for (int j = cnt - 1; j > 0 && lp[idx[j]] > lp[idx[j - 1]]; j--) {
      int t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  }
  return idx[0];
}

/* one beam-search step of `requests` x `width` rows of V logits: before, every row's logits
 * downloaded (pageable host memory, as the engine's download) and ranked on the host; now, the
 * candidates chosen on the device (lmw_cuda_step_topk, width + 1 per row) and downloaded */
static void
beam_times (int requests, int width, int reps, char *line, size_t len)
{
  int V = 51865, R = requests * width, K = width + 1;
  beam_pick B = { R, K, V };
  B.logits = dalloc ((size_t) R * V * 4); /* the pool's f16 bits as floats: finite, varied */
  size_t words = ((size_t) V + 31) / 32;
  uint32_t *bits = calloc (words, 4);
  for (int i = 50258; i < 50364; i++) /* the special tokens, as the search suppresses them */
    bits[i >> 5] |= 1u << (i & 31);
  B.suppress = dalloc (words * 4);
  CUDA (cudaMemcpy (B.suppress, bits, words * 4, cudaMemcpyHostToDevice));
  lmw_step_row *rows = calloc ((size_t) R, sizeof *rows);
  for (int r = 0; r < R; r++)
    rows[r] = (lmw_step_row) { .token = 1, .pick_suppress = B.suppress, .pick_ts_lo = 50364,
                               .pick_flags = (int32_t) LMW_PICK_TS_RULE, .pick_k = K,
                               .pick_at = r * K };
  B.rows = dalloc (sizeof *rows * (size_t) R);
  CUDA (cudaMemcpy (B.rows, rows, sizeof *rows * (size_t) R, cudaMemcpyHostToDevice));
  B.out = dalloc (sizeof (lmw_pick_result) * (size_t) R * K);
  float kernel_ms = time_ms (beam_pick_run, &B, reps);
  lmw_pick_result *res = malloc (sizeof *res * (size_t) R * K);
  float *host = malloc ((size_t) R * V * 4), *lp = malloc ((size_t) V * 4);
  int idx[LMW_PICK_K_MAX];
  double small_ms = 1e30, big_ms = 1e30, host_ms = 1e30;
  for (int i = 0; i < reps; i++) {
    CUDA (cudaStreamSynchronize (stream));
    double t0 = now_ms ();
    CUDA (cudaMemcpy (res, B.out, sizeof *res * (size_t) R * K, cudaMemcpyDeviceToHost));
    double t1 = now_ms ();
    CUDA (cudaMemcpy (host, B.logits, (size_t) R * V * 4, cudaMemcpyDeviceToHost));
    double t2 = now_ms ();
    int sink = 0;
    for (int r = 0; r < R; r++)
      sink += host_topk_row (host + (size_t) r * V, V, K, lp, idx);
    double t3 = now_ms ();
    small_ms = t1 - t0 < small_ms ? t1 - t0 : small_ms;
    big_ms = t2 - t1 < big_ms ? t2 - t1 : big_ms;
    host_ms = t3 - t2 < host_ms ? t3 - t2 : host_ms;
    if (sink < 0) /* keeps the host loop */
      fprintf (stderr, "%d\n", sink);
  }
  size_t before = (size_t) R * V * 4, after = (size_t) R * K * sizeof (lmw_pick_result);
  snprintf (line, len,
            "beams %d x %d (%d rows): logits %zu bytes/step, download %.3f ms + host top-%d "
            "%.3f ms; on the device %zu bytes/step, top-%d kernel %.3f ms + download %.3f ms",
            requests, width, R, before, big_ms, K, host_ms, after, K, kernel_ms, small_ms);
  void *p[] = { B.logits, B.suppress, B.rows, B.out };
  for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
    cudaFree (p[i]);
  free (bits), free (rows), free (res), free (host), free (lp);
}

/* ---- cross-attention of a step, by cross K/V type ---------------------------------------- */

typedef struct {
  float *out, *q;
  lmw_step_row *rows;
  int R, L, C, H;
} cross_step;

static void
cross_run (void *arg)
{
  cross_step *X = arg;
  for (int l = 0; l < X->L; l++)
    KS (lmw_cuda_step_cross_attention (X->out, X->q, X->rows, (size_t) l * T_AUD * X->C, T_AUD,
                                       X->R, X->H, X->C / X->H, stream));
}

/* ms per step of the cross-attention launches of every layer for `requests` requests of
 * `beams` rows each (a request's beams grouped on its window's K/V, as the table writer sets
 * them), the K/V kept as f16 or int8 (q8); *mb: the megabytes of K/V a step reads */
static float
cross_times (decoder *D, int requests, int beams, bool q8, int reps, double *mb)
{
  int C = D->s->n_state, L = D->s->n_layer, R = requests * beams;
  size_t n = (size_t) L * T_AUD * C, bytes = q8 ? LMW_CROSS_Q8_BYTES (n) : 2 * n;
  cross_step X = { NULL, NULL, NULL, R, L, C, D->s->n_head };
  unsigned char **kv = calloc ((size_t) requests, sizeof *kv);
  lmw_step_row *rows = calloc ((size_t) R, sizeof *rows);
  for (int i = 0; i < requests; i++) {
    kv[i] = dalloc (2 * bytes); /* K then V; the values don't change the time */
    CUDA (cudaMemset (kv[i], 0, 2 * bytes));
    for (int b = 0; b < beams; b++) {
      lmw_step_row *row = &rows[i * beams + b];
      row->token = 50257;
      row->cross_k = (const uint16_t *) kv[i];
      row->cross_v = (const uint16_t *) (kv[i] + bytes);
      row->cross_lead = b % LMW_STEP_GROUP_MAX;
      row->cross_q8 = q8;
    }
  }
  X.rows = dalloc (sizeof *rows * (size_t) R);
  CUDA (cudaMemcpy (X.rows, rows, sizeof *rows * (size_t) R, cudaMemcpyHostToDevice));
  X.q = dalloc ((size_t) R * C * 4), X.out = dalloc ((size_t) R * C * 4);
  CUDA (cudaMemset (X.q, 0, (size_t) R * C * 4));
  float ms = time_ms (cross_run, &X, reps);
  *mb = (double) requests * 2 * bytes / 1e6;
  for (int i = 0; i < requests; i++)
    cudaFree (kv[i]);
  cudaFree (X.rows), cudaFree (X.q), cudaFree (X.out);
  free (kv), free (rows);
  return ms;
}

/* ---- main ------------------------------------------------------------------------------- */

static bool
in_list (const char *list, const char *name)
{
  size_t n = strlen (name);
  for (const char *p = list; p && *p;) {
    const char *e = strchr (p, ',');
    size_t len = e ? (size_t) (e - p) : strlen (p);
    if (len == n && strncmp (p, name, n) == 0)
      return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

/* the list a,b,c into v (at most n); returns the count */
static int
int_list (const char *list, int *v, int n)
{
  int k = 0;
  for (const char *p = list; p && *p && k < n;) {
    v[k++] = atoi (p);
    p = strchr (p, ',');
    p = p ? p + 1 : NULL;
  }
  return k;
}

static double
encoder_flops (const shape *s)
{
  double T = T_AUD, Tm = T_MEL, C = s->n_state, M = s->n_mels;
  double layer = 2 * T * C * 3 * C + 2 * T * C * C + 2 * 2 * T * C * 4 * C + 2 * 2 * T * T * C;
  return 2 * Tm * C * 3 * M + 2 * T * C * 3 * C + s->n_layer * layer;
}

typedef struct {
  uint16_t *a, *b;
  float *c;
  int n;
} peak_gemm;

static void
peak_run (void *arg)
{
  peak_gemm *g = arg;
  gemm (g->c, g->n, g->a, g->n, g->b, g->n, g->n, g->n);
}

#define MAXL 8

int
main (int argc, char **argv)
{
  const char *models = "tiny,base,small,medium,large-v3", *beam_list = "1,5";
  const char *enc_list = "1,16", *dec_list = "1,32,64", *tp_list = "base,large-v3";
  int reps = 5, position = 224, device = 0, peak_n = 8192, requests = 64, seconds = 60;
  int tokens = 100, beam_requests = 64, beam_width = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp (argv[i], "--models"))
      models = argv[i + 1];
    else if (!strcmp (argv[i], "--reps"))
      reps = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--beams"))
      beam_list = argv[i + 1];
    else if (!strcmp (argv[i], "--position"))
      position = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--device"))
      device = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--audio-ctx"))
      T_AUD = atoi (argv[i + 1]), T_MEL = 2 * T_AUD;
    else if (!strcmp (argv[i], "--enc-batch"))
      enc_list = argv[i + 1];
    else if (!strcmp (argv[i], "--dec-batch"))
      dec_list = argv[i + 1];
    else if (!strcmp (argv[i], "--peak"))
      peak_n = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--requests"))
      requests = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--seconds"))
      seconds = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--tokens"))
      tokens = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--throughput"))
      tp_list = argv[i + 1];
    else if (!strcmp (argv[i], "--beam-requests"))
      beam_requests = atoi (argv[i + 1]);
    else if (!strcmp (argv[i], "--beam-width"))
      beam_width = atoi (argv[i + 1]);
    else {
      fprintf (stderr, "usage: %s [--models LIST] [--reps N] [--beams LIST] [--position P] "
                       "[--device N] [--audio-ctx N] [--enc-batch LIST] [--dec-batch LIST] "
                       "[--peak N] [--requests N] [--seconds S] [--tokens N] "
                       "[--throughput LIST] [--beam-requests N] [--beam-width N]\n", argv[0]);
      return 2;
    }
  }
  int beams[MAXL], encb[MAXL], decb[MAXL];
  int n_beams = int_list (beam_list, beams, MAXL), n_enc = int_list (enc_list, encb, MAXL);
  int n_dec = int_list (dec_list, decb, MAXL);
  int emax = 1, rmax = 1, bmax = 1;
  for (int i = 0; i < n_enc; i++)
    emax = encb[i] > emax ? encb[i] : emax;
  for (int i = 0; i < n_dec; i++)
    rmax = decb[i] > rmax ? decb[i] : rmax;
  for (int i = 0; i < n_beams; i++)
    bmax = beams[i] > bmax ? beams[i] : bmax;
  rmax = requests > rmax ? requests : rmax;
  bool bad = false;
  for (int i = 0; i < n_enc; i++)
    bad |= encb[i] < 1 || encb[i] > 64;
  for (int i = 0; i < n_dec; i++)
    bad |= decb[i] < 1 || decb[i] > 256;
  for (int i = 0; i < n_beams; i++)
    bad |= beams[i] < 1 || beams[i] > 16;
  if (bad || reps < 1 || position < 0 || position >= N_TEXT_CTX || T_AUD < 1 || T_AUD > 1500 ||
      peak_n < 16 || peak_n > 16384 || requests < 1 || requests > 256 || seconds < 1 ||
      tokens < 1 || tokens > 400 || beam_requests < 1 || beam_requests > 256 || beam_width < 2 ||
      beam_width > LMW_PICK_K_MAX - 1) {
    fprintf (stderr, "lmw-cuda-bench: --reps >= 1, 0 <= --position < 448, 1 <= --audio-ctx <= "
                     "1500, batches 1..64 (encoder) and 1..256 (decoder), beams 1..16, --peak "
                     "16..16384, --requests 1..256, --tokens 1..400, --beam-requests 1..256, "
                     "--beam-width 2..16\n");
    return 2;
  }
  CUDA (cudaSetDevice (device));
  struct cudaDeviceProp prop;
  CUDA (cudaGetDeviceProperties (&prop, device));
  CUDA (cudaStreamCreate (&stream));
  BLAS (cublasCreate (&blas));
  BLAS (cublasSetStream (blas, stream));
  void *blas_ws = dalloc ((size_t) 32 << 20); /* a fixed workspace: products can be captured */
  BLAS (cublasSetWorkspace (blas, blas_ws, (size_t) 32 << 20));
  noise_h = malloc (noise_n * 2);
  uint64_t r = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < noise_n; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    float v = ((float) (r >> 40) / (float) (1 << 24) - 0.5f) * 0.1f;
    noise_h[i] = lmw_fp32_to_fp16 (v);
  }

  /* the card's GEMM peak: f16 operands, f32 accumulation */
  peak_gemm pg = {rand_f16 ((size_t) peak_n * peak_n), rand_f16 ((size_t) peak_n * peak_n),
                  dalloc ((size_t) peak_n * peak_n * 4), peak_n};
  float peak_ms = time_ms (peak_run, &pg, reps);
  double peak_tflops = 2.0 * peak_n * (double) peak_n * peak_n / (peak_ms * 1e-3) / 1e12;
  cudaFree (pg.a), cudaFree (pg.b), cudaFree (pg.c);

  printf ("device: %s (sm_%d%d), %d reps, decoder at position %d, %d audio positions; "
          "cuBLAS f16 GEMM %d^3: %.1f TFLOP/s\n", prop.name, prop.major, prop.minor, reps,
          position, T_AUD, peak_n, peak_tflops);
  {
    front_end f = {rand_f32 ((size_t) T_MEL * 160), rand_f32 (128 * 201), rand_f32 (1),
                   dalloc ((size_t) 128 * T_MEL * 4), 80};
    float ms80 = time_ms (front_end_run, &f, reps);
    f.n_mels = 128;
    float ms128 = time_ms (front_end_run, &f, reps);
    printf ("front end: log-mel of one %d-frame window from its samples (maximum + frames): "
            "%.3f ms with 80 bands, %.3f ms with 128\n", T_MEL, ms80, ms128);
    cudaFree (f.pcm), cudaFree (f.filters), cudaFree (f.max), cudaFree (f.out);
  }
  printf ("%-9s", "model");
  for (int i = 0; i < n_enc; i++)
    printf (" enc ms/win B=%-3d", encb[i]);
  printf (" %9s", "enc TF/s");
  for (int b = 0; b < n_beams; b++)
    printf (" dec ms/tok beams=%-2d", beams[b]);
  for (int i = 0; i < n_dec; i++)
    printf (" dec ms/step R=%-3d", decb[i]);
  printf ("\n");
  char tp_lines[8][200];
  int n_tp = 0;
  char graph_lines[5 * MAXL][160];
  int n_graph = 0;
  for (size_t m = 0; m < sizeof shapes / sizeof shapes[0]; m++) {
    const shape *s = &shapes[m];
    bool tp = in_list (tp_list, s->name);
    if (!in_list (models, s->name) && !tp)
      continue;
    int C = s->n_state, Mm = s->n_mels;
    int rows = bmax > rmax ? bmax : rmax; /* decoder rows at most */
    layer *enc_layers = calloc (s->n_layer, sizeof (layer));
    layer *dec_layers = calloc (s->n_layer, sizeof (layer));
    for (int l = 0; l < s->n_layer; l++) {
      layer_alloc (&enc_layers[l], C, false);
      layer_alloc (&dec_layers[l], C, true);
    }
    size_t TA = (size_t) emax * T_AUD;
    encoder E = {s, enc_layers, 1};
    E.conv1_w = rand_f16 ((size_t) C * 3 * Mm), E.conv1_b = rand_f32 (C);
    E.conv2_w = rand_f16 ((size_t) C * 3 * C), E.conv2_b = rand_f32 (C);
    E.pos = rand_f32 ((size_t) T_AUD * C), E.lnf_w = rand_f32 (C), E.lnf_b = rand_f32 (C);
    E.mel = rand_f32 ((size_t) emax * Mm * T_MEL);
    E.x = dalloc (TA * C * 4), E.tmp = dalloc (TA * C * 4);
    E.big = dalloc (TA * 4 * C * 4), E.conv_out = dalloc ((size_t) T_MEL * C * 4);
    E.xh = dalloc (TA * C * 2), E.bigh = dalloc (TA * 4 * C * 2);
    size_t cols = (size_t) T_MEL * 3 * Mm > (size_t) T_AUD * 3 * C ? (size_t) T_MEL * 3 * Mm
                                                                   : (size_t) T_AUD * 3 * C;
    E.cols = dalloc (cols * 2);
    float enc_ms[MAXL], enc_best = 0.0f;
    for (int i = 0; i < n_enc; i++) {
      E.batch = encb[i];
      enc_ms[i] = time_ms (encoder_run, &E, reps) / encb[i];
      if (encb[i] == emax)
        enc_best = enc_ms[i];
    }

    decoder D = {s, dec_layers, 1, position, 1};
    D.tok_emb = rand_f16 ((size_t) s->n_vocab * C);
    D.pos_emb = rand_f32 ((size_t) N_TEXT_CTX * C), D.lnf_w = rand_f32 (C), D.lnf_b = rand_f32 (C);
    D.kv_self = calloc (s->n_layer, sizeof (uint16_t *));
    D.kv_cross = calloc (s->n_layer, sizeof (uint16_t *));
    for (int l = 0; l < s->n_layer; l++) {
      D.kv_self[l] = rand_f16 ((size_t) rows * 2 * N_TEXT_CTX * C);
      D.kv_cross[l] = rand_f16 ((size_t) rmax * 2 * T_AUD * C);
    }
    D.x = dalloc ((size_t) rows * C * 4), D.tmp = dalloc ((size_t) rows * C * 4);
    D.big = dalloc ((size_t) rows * 4 * C * 4), D.logits = dalloc ((size_t) rows * s->n_vocab * 4);
    D.xh = dalloc ((size_t) rows * C * 2), D.bigh = dalloc ((size_t) rows * 4 * C * 2);
    D.topv = dalloc ((size_t) rows * 2 * bmax * 4), D.lse = dalloc ((size_t) rows * 4);
    D.topi = dalloc ((size_t) rows * 2 * bmax * 4);
    int *ids = malloc (sizeof (int) * rows);
    for (int b = 0; b < rows; b++)
      ids[b] = 50257 + b % 8;
    D.ids = dalloc (sizeof (int) * rows);
    CUDA (cudaMemcpy (D.ids, ids, sizeof (int) * rows, cudaMemcpyHostToDevice));
    free (ids);
    if (in_list (models, s->name)) {
      printf ("%-9s", s->name);
      for (int i = 0; i < n_enc; i++)
        printf (" %16.3f", enc_ms[i]);
      printf (" %9.1f", encoder_flops (s) / (enc_best * 1e-3) / 1e12);
      for (int b = 0; b < n_beams; b++) {
        D.beams = beams[b];
        D.requests = 1;
        printf (" %20.3f", time_ms (decoder_run, &D, reps));
      }
      for (int i = 0; i < n_dec; i++) {
        D.beams = 1;
        D.requests = decb[i];
        printf (" %17.3f", time_ms (decoder_run, &D, reps));
      }
      printf ("\n");
      fflush (stdout);
      D.beams = 1;
      /* the step's cross-attention by K/V type: the most requests, each with the most beams */
      for (int q8 = 0; q8 < 2 && n_graph < 5 * MAXL; q8++) {
        double mb;
        float ms = cross_times (&D, rmax, bmax, q8, reps, &mb);
        snprintf (graph_lines[n_graph++], sizeof graph_lines[0],
                  "cross_kv %-4s %-9s %d x %d beams: cross-attention %.3f ms per step (%d layers),"
                  " %.1f MB of K/V read, %.0f GB/s", q8 ? "int8" : "f16", s->name, rmax, bmax, ms,
                  s->n_layer, mb, ms > 0 ? mb / ms : 0.0);
      }
      for (int i = 0; i < n_dec && n_graph < 5 * MAXL; i++) {
        float direct, replayed;
        table_times (&D, decb[i], reps, &direct, &replayed);
        snprintf (graph_lines[n_graph++], sizeof graph_lines[0],
                  "graphs %-9s R=%-3d table step %.3f ms direct, %.3f ms as a CUDA graph (%.2fx)",
                  s->name, decb[i], direct, replayed, replayed > 0 ? direct / replayed : 0.0);
      }
    }
    if (tp && n_tp < 8) {
      /* requests x seconds of audio: windows through the encoder in batches of emax, then
       * (tokens + 1) steps per window at batch `requests`, the cache half full on average */
      int windows_per = (seconds + 29) / 30, windows = requests * windows_per;
      D.beams = 1;
      D.requests = requests;
      D.pos = 3 + tokens / 2 < N_TEXT_CTX ? 3 + tokens / 2 : N_TEXT_CTX - 1;
      float step_ms = time_ms (decoder_run, &D, reps);
      double total_ms = (double) enc_best * windows + (double) windows_per * (tokens + 1) * step_ms;
      double ahph = (double) requests * seconds / (total_ms / 1e3);
      snprintf (tp_lines[n_tp++], sizeof tp_lines[0],
                "throughput %-9s %d x %d s, %d tokens/window: %.1f s of GPU work, %.0f audio-hours/hour",
                s->name, requests, seconds, tokens, total_ms / 1e3, ahph);
    }

    for (int l = 0; l < s->n_layer; l++) {
      layer_free (&enc_layers[l]);
      layer_free (&dec_layers[l]);
      cudaFree (D.kv_self[l]);
      cudaFree (D.kv_cross[l]);
    }
    void *p[] = {E.conv1_w, E.conv1_b, E.conv2_w, E.conv2_b, E.pos, E.lnf_w, E.lnf_b, E.mel, E.x,
                 E.tmp, E.big, E.conv_out, E.xh, E.bigh, E.cols, D.tok_emb, D.pos_emb, D.lnf_w,
                 D.lnf_b, D.x, D.tmp, D.big, D.logits, D.xh, D.bigh, D.topv, D.lse, D.topi, D.ids};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
      cudaFree (p[i]);
    free (D.kv_self), free (D.kv_cross), free (enc_layers), free (dec_layers);
  }
  for (int i = 0; i < n_graph; i++)
    printf ("%s\n", graph_lines[i]);
  {
    char beam_line[400];
    beam_times (beam_requests, beam_width, reps, beam_line, sizeof beam_line);
    printf ("%s\n", beam_line);
  }
  for (int i = 0; i < n_tp; i++)
    printf ("%s\n", tp_lines[i]);
  cublasDestroy (blas);
  cudaFree (blas_ws);
  cudaStreamDestroy (stream);
  free (noise_h);
  return 0;
}
