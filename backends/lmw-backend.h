/* SPDX-License-Identifier: MIT */
/*
 * lmw-backend.h — the compute-backend contract of the Whisper-architecture engine.
 *
 * A backend is a plain C table of operations (lmw_backend_ops) that starts with a version
 * number.  The engine checks the version and every optional pointer before calling it.
 * Backends are chosen by score (0 = can't run here); the CPU backend is the reference that
 * every other backend is compared with.
 *
 * Conventions for every operation:
 *   - the backend owns its memory (version 3): every activation, cache and weight pointer an
 *     operation takes lives in the backend's memory — a buffer from alloc (pointer arithmetic
 *     inside it allowed), or a tensor the backend returned from map_weight — which may be a
 *     device's memory that the host cannot read.  The engine moves data only through upload,
 *     download and copy: mel frames go in, logits come out.  For the CPU backend (caps has
 *     LMW_BACKEND_HOST_MEMORY) backend memory is host memory and map_weight returns the
 *     model's own tensors;
 *   - operations may run asynchronously (queued on the context's stream): download and sync
 *     return only when everything queued before them has finished;
 *   - activations are f32, row-major, time-major: x is (T, C) with row stride C unless an
 *     explicit leading dimension is given;
 *   - weights are described by lmw_weight: a (rows, cols) matrix in the layout PyTorch uses for
 *     nn.Linear (out_features, in_features), stored as f32, f16 or a ggml block-quantised type;
 *   - outputs come first, dimensions last (as in llm.c);
 *   - a backend context is used by one thread at a time (the caller's stream); the backend may
 *     use its own worker threads inside an operation.
 */
#ifndef LMW_BACKEND_H
#define LMW_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Versions: 2 fused matmul epilogues; 3 backend-owned memory; 4 cross-attention on f16 K/V;
 * 5 the log-mel front end; 6 table-driven decoder steps (lmw_step_row, step_pick, graphs);
 * 7 cross K/V in int8 (to_q8, cross_attention_q8) and grouped cross-attention (the row
 * fields cross_lead and cross_q8); 8 the beam search's choice on the backend (step_topk, the
 * row fields pick_k, pick_at and pick_want, LMW_PICK_WANT). */
#define LMW_BACKEND_VERSION 8

/* Element types, numbered as in the ggml file format. */
typedef enum {
  LMW_TYPE_F32 = 0,
  LMW_TYPE_F16 = 1,
  LMW_TYPE_Q4_0 = 2,
  LMW_TYPE_Q4_1 = 3,
  LMW_TYPE_Q5_0 = 6,
  LMW_TYPE_Q5_1 = 7,
  LMW_TYPE_Q8_0 = 8,
} lmw_type;

#define LMW_QK 32 /* elements per block of every quantised type */

/* Shapes every backend supports, and the model loader's bounds (a model beyond them is refused
 * when it loads, so no operation ever sees a larger shape):
 *   LMW_BACKEND_MAX_KEYS  the longest key sequence of attention() (Tk), hence n_audio_ctx and
 *                         n_text_ctx;
 *   LMW_BACKEND_MAX_K     the widest inner dimension of matmul() (cols), hence 4 * n_state
 *                         (the MLP's hidden width) at most. */
#define LMW_BACKEND_MAX_KEYS 4096
#define LMW_BACKEND_MAX_K 16384

/* A weight matrix (rows, cols): row r starts at data + r * row_bytes. */
typedef struct {
  lmw_type type;
  int rows;          /* output features (N) */
  int cols;          /* input features (K); a multiple of LMW_QK for quantised types */
  size_t row_bytes;  /* bytes per row */
  const void *data;  /* borrowed from the model */
} lmw_weight;

/* What a model tensor is used for, so a backend may store it in the type its operations read:
 * matrices (products, get_rows, conv1d_k3 weights) and vectors (biases, norm weights, positional
 * embeddings: f32 operands of layernorm, add and the bias of products). */
typedef enum {
  LMW_USE_MATRIX = 0,
  LMW_USE_VECTOR = 1,
} lmw_weight_use;

/* One row of a table-driven decoder step (version 6): a sequence's next token.  A table of
 * them lives in backend memory, written with one upload before the step, and the step's
 * operations read every per-row argument from it, so that they take the same arguments at
 * every step (what lets a backend record a step once and replay it). */
typedef struct {
  int32_t token;            /* its token; < 0: a padding row (zero outputs, no cache written) */
  int32_t pos;              /* its position: its key and value go to cache row pos, and it
                             * sees keys 0 .. pos */
  float *self_k, *self_v;   /* the sequence's self-attention caches (n_layer, n_ctx, C) f32 */
  const uint16_t *cross_k, *cross_v; /* its window's K/V (n_layer, T, C), f16 from to_f16 */
  /* the greedy choice of the row's next token by step_pick: tokens never picked (a bitset of
   * n_vocab bits in backend memory; NULL: the row picks nothing), the lowest timestamp token
   * allowed, LMW_PICK_* flags */
  const uint32_t *pick_suppress;
  int32_t pick_ts_lo;
  int32_t pick_flags;
  /* version 7: rows that share their window's K/V (a request's beams, next to each other in the table)
   * are read together by step_cross_attention: 0 for a row that reads its K/V itself, for
   * itself and for the rows right after it whose cross_lead counts back to it (at most
   * LMW_STEP_GROUP_MAX rows in all); k > 0: row r - k, with the same cross_k and cross_v,
   * reads them for this row.  Zero everywhere (a zeroed table) = every row on its own. */
  int32_t cross_lead;
  int32_t cross_q8; /* 1: cross_k and cross_v point at int8 rows (LMW_CROSS_Q8_BYTES) */
  /* version 8, step_topk: pick_k > 0 asks for the row's pick_k best tokens (1: the greedy
   * choice) from step_topk instead of step_pick; they go to its out from index pick_at on */
  int32_t pick_k;
  int32_t pick_at;
  int32_t pick_want; /* with LMW_PICK_WANT: a token whose log-probability before any filter
                      * step_topk returns too (the no-speech probability of a window) */
} lmw_step_row;

#define LMW_STEP_GROUP_MAX 8 /* rows served by one read of a window's K/V in a step */

/* Cross K/V in int8 (version 7): a row of C values (C % 64 == 0) is stored as C int8 q
 * followed by C / 32 f32 scales, value c = q[c] * scale[c / 32]; a block's scale is its
 * largest |x| / 127 (0 for a block of zeros) and q = x / scale rounded to the nearest, ties to
 * even.  n values (n a multiple of C) take LMW_CROSS_Q8_BYTES (n) bytes, which is also the
 * byte offset of value n. */
#define LMW_CROSS_Q8_BYTES(n) ((size_t) (n) / 8 * 9)

#define LMW_PICK_NO_TEXT 1u /* no token below eot */
#define LMW_PICK_TS_RULE 2u /* no token below the first timestamp when the timestamps together
                             * are likelier than every other token */
#define LMW_PICK_EOT_LAST 4u /* eot only when no other token is left (after the other filters:
                              * the search's min_tokens) */
#define LMW_PICK_WANT 8u     /* step_topk returns pick_want's log-probability before the filters */
#define LMW_PICK_K_MAX 17    /* the most tokens step_topk returns for a row (beam_size + 1) */
/* The f64 sums of step_pick and step_topk (and of the search on the host, which they must
 * equal bit for bit) run in one fixed order: lane l (0 .. LMW_PICK_LANES - 1) sums the terms of
 * ids l, l + LMW_PICK_LANES, ... in that order, then for h = LMW_PICK_LANES / 2, ..., 2, 1
 * every lane l < h adds lane l + h; the sum is lane 0. */
#define LMW_PICK_LANES 256

/* what step_pick returns for a row */
typedef struct {
  int32_t token;   /* the arg-max of the filtered logits (the lowest among equal ones) */
  float logprob;   /* its log-probability under the filtered distribution */
} lmw_pick_result;

/* caps */
#define LMW_BACKEND_HOST_MEMORY 1u /* backend memory is host memory (the CPU backend) */

typedef struct lmw_backend_ops {
  int version;      /* LMW_BACKEND_VERSION */
  const char *name; /* "cpu", ... */

  /* 0 = cannot run on this machine; higher wins.  Required. */
  int (*score) (void);
  /* Creates a context using up to n_threads threads; NULL on failure (err filled). */
  void *(*create) (int n_threads, char *err, size_t err_len);
  void (*destroy) (void *ctx);

  /* out (M, N) = inp (M, K) · w^T (+ bias (N) when not NULL); N = w->rows, K = w->cols.
   * inp row stride lda, out row stride ldc. */
  void (*matmul) (void *ctx, float *out, int ldc, const float *inp, int lda, const lmw_weight *w,
                  const float *bias, int M);
  /* out (N, C) = (inp - mean) / sqrt(var + eps) * weight + bias, per row. out may equal inp. */
  void (*layernorm) (void *ctx, float *out, const float *inp, const float *weight,
                     const float *bias, int N, int C, float eps);
  /* x (n) = x * 0.5 * (1 + erf(x / sqrt(2))), in place. */
  void (*gelu) (void *ctx, float *x, size_t n);
  /* x (rows, cols): softmax of each row, in place. */
  void (*softmax) (void *ctx, float *x, int rows, int cols);
  /* Convolution with kernel 3, padding 1: out (T_out, C_out) with T_out = (T_in - 1) / stride + 1,
   * input element (c, t) at inp[c * in_cstride + t * in_tstride], w is (C_out, C_in * 3) with
   * the PyTorch (C_out, C_in, 3) layout flattened. */
  void (*conv1d_k3) (void *ctx, float *out, const float *inp, size_t in_cstride,
                     size_t in_tstride, const lmw_weight *w, const float *bias, int T_in,
                     int C_in, int stride);
  /* Multi-head scaled dot-product attention.
   * q (Tq, H*D) row stride ldq, k and v (Tk, H*D) row strides ldk, ldv, out (Tq, H*D) stride ldo.
   * Scores are scaled by 1/sqrt(D).  causal_past >= 0 applies a causal mask where query i sits
   * at absolute position causal_past + i and sees keys 0 .. causal_past + i; -1 = no mask. */
  void (*attention) (void *ctx, float *out, int ldo, const float *q, int ldq, const float *k,
                     int ldk, const float *v, int ldv, int Tq, int Tk, int H, int D,
                     int causal_past);
  /* out (n) += inp (n). */
  void (*add) (void *ctx, float *out, const float *inp, size_t n);
  /* out (n, cols) = rows ids[i] of w, converted to f32; ids is host memory. */
  void (*get_rows) (void *ctx, float *out, const lmw_weight *w, const int *ids, int n);

  /* Optional (version 2; NULL when the backend lacks it): matmul with a fused epilogue.
   * flags LMW_MATMUL_GELU: out = gelu (inp · w^T + bias);
   * flags LMW_MATMUL_ACCUMULATE: out += inp · w^T + bias (a residual connection);
   * not both.  inp must not overlap out. */
  void (*matmul_ex) (void *ctx, float *out, int ldc, const float *inp, int lda,
                     const lmw_weight *w, const float *bias, int M, unsigned flags);

  /* ---- version 3: memory.  Required. ---- */
  unsigned caps;    /* LMW_BACKEND_* bits */
  /* bytes of backend memory, 256-byte aligned (contents undefined); NULL when out of memory */
  void *(*alloc) (void *ctx, size_t bytes);
  void (*free) (void *ctx, void *p); /* p from alloc, or NULL */
  /* host -> backend; the host memory may be reused as soon as upload returns */
  void (*upload) (void *ctx, void *dst, const void *src, size_t bytes);
  /* backend -> host, after everything queued before it */
  void (*download) (void *ctx, void *dst, const void *src, size_t bytes);
  /* backend -> backend; the ranges must not overlap */
  void (*copy) (void *ctx, void *dst, const void *src, size_t bytes);
  /* out = the backend's view of the model tensor w (f32 vectors as rows = 1, cols = n), which
   * the operations read in place of w: the same (rows, cols), possibly another type.  Valid
   * until destroy; the host tensor must outlive the context.  Returns 0, or -1 with err filled. */
  int (*map_weight) (void *ctx, lmw_weight *out, const lmw_weight *w, lmw_weight_use use,
                     char *err, size_t err_len);
  /* waits for everything queued on the context */
  void (*sync) (void *ctx);

  /* Optional (version 3; NULL when the backend lacks it): what the context runs on ("CPU (avx2
   * kernels, 2 threads)", "NVIDIA H100 80GB HBM3 (device 0, sm_90, 81079 MiB)"), and the bytes
   * of device memory the backend holds in this process: every context's buffers and scratch
   * and the weights they share, each counted once (ctx may be NULL). */
  const char *(*device_name) (void *ctx);
  size_t (*memory_used) (void *ctx);
  /* Optional: 0 when every operation since the last call succeeded, else -1 with the first
   * failure in err (a launch refused, device memory exhausted, a kernel fault), which it
   * forgets.  Operations of a backend without it never fail. */
  int (*status) (void *ctx, char *err, size_t err_len);
  /* Optional: create on device number `device` (GPU_DEVICE_ID); create is device 0. */
  void *(*create_on) (int device, int n_threads, char *err, size_t err_len);

  /* ---- version 4: cross-attention on f16 keys and values.  Optional (both or neither). ----
   * The decoder's cross-attention reads the same encoder K/V at every step; a backend that has
   * these keeps them as f16, converted once per window. */
  /* dst (n) f16 (IEEE binary16 bits, round to nearest even) = src (n) f32; dst is backend
   * memory of 2 n bytes. */
  void (*to_f16) (void *ctx, uint16_t *dst, const float *src, size_t n);
  /* attention() without a mask (causal_past = -1) on k and v (Tk, H*D) f16 from to_f16, row
   * stride ldkv.  The caller guarantees D % 8 == 0, ldkv % 8 == 0 and k, v 16-byte aligned
   * (a buffer from alloc, offset by a multiple of 8 elements). */
  void (*cross_attention) (void *ctx, float *out, int ldo, const float *q, int ldq,
                           const uint16_t *k, const uint16_t *v, int ldkv, int Tq, int Tk, int H,
                           int D);

  /* ---- version 5: the log-mel front end.  Optional. ----
   * A backend that has it takes PCM samples instead of mel frames (on a GPU: the spectrogram
   * never crosses the bus).  The signal x is n_samples real samples followed by zeros up to
   * n_total; frame t is the periodic-Hann-windowed STFT of x[t * 160 - 200 ..) (400 samples, x
   * reflect-padded by 200 at both ends), its power (201 bins) times filters (n_mels, 201),
   * raw = log10 (max (mel, 1e-10)): lmw_mel_frames of backends/cpu/lmw-mel.c, the reference.
   * pcm (n_pcm) holds x[pcm_base ..]: every real sample frames [f0, f1) read, [f0 * 160 - 200,
   * f1 * 160 + 200) within [0, n_samples).  max is one float: with out NULL it is raised to
   * the largest raw value of the frames (nothing else written); else it is read (the largest
   * raw value of the whole signal), and out (n_mels, ldo) gets in column t - f0 frame t
   * normalised as lmw_mel_normalise does, (max (raw, max - 8) + 4) / 4, and 0 in columns
   * f1 - f0 .. ldo - 1.  out, max, pcm and filters (a vector from map_weight) are backend
   * memory; n_mels <= 256. */
  void (*log_mel) (void *ctx, float *out, int ldo, float *max, const float *pcm,
                   size_t pcm_base, size_t n_pcm, size_t n_samples, size_t n_total,
                   const float *filters, int n_mels, int f0, int f1);

  /* ---- version 6: table-driven decoder steps.  Optional (all or none). ----
   * rows (R) is a table in backend memory; matrices have row stride C = H * D. */
  /* x (R, C) = tok_emb[rows[r].token] + pos_emb (n_pos, C)[rows[r].pos]; zeros for padding */
  void (*step_embed) (void *ctx, float *x, const lmw_weight *tok_emb, const float *pos_emb,
                      int n_pos, const lmw_step_row *rows, int R, int C);
  /* for every row r at once: k, v row r stored at position pos of its caches (plus
   * layer_offset elements), then out row r = attention of q row r to keys 0 .. pos */
  void (*step_self_attention) (void *ctx, float *out, const float *q, const float *k,
                               const float *v, const lmw_step_row *rows, size_t layer_offset,
                               int R, int H, int D);
  /* for every row r at once: out row r = attention of q row r to the Tk keys and values of
   * rows[r].cross_k, .cross_v (plus layer_offset elements), without a mask */
  void (*step_cross_attention) (void *ctx, float *out, const float *q, const lmw_step_row *rows,
                                size_t layer_offset, int Tk, int R, int H, int D);
  /* For every row r whose pick_suppress is set (pick_k 0, without LMW_PICK_WANT): out[r] =
   * the greedy choice among the logits
   * (R, n_vocab) of row r (row stride ld) once filtered as the search filters them: tokens of
   * the bitset, timestamps (ids >= ts_begin) below pick_ts_lo, text (ids < eot) with
   * LMW_PICK_NO_TEXT, and with LMW_PICK_TS_RULE everything below ts_begin when the timestamps'
   * summed probability (after the other filters) exceeds every other token's, then eot with
   * LMW_PICK_EOT_LAST when another token is left; its log-probability under what remains
   * (log-softmax sums in f64, in the order of LMW_PICK_LANES).  out is backend memory. */
  void (*step_pick) (void *ctx, lmw_pick_result *out, const float *logits, int ld,
                     const lmw_step_row *rows, int R, int n_vocab, int eot, int ts_begin);
  /* Runs the operations issue (user) queues, under the name key: the first time directly, the
   * second time recorded (a CUDA graph) and run, later by replaying the record, without
   * calling issue.  issue must queue the same operations with the same arguments every time
   * for a key, and neither upload, download, sync nor allocate.  Returns 0 (ran directly),
   * 1 (recorded and ran) or 2 (replayed). */
  int (*graph_run) (void *ctx, int key, void (*issue) (void *user), void *user);
  /* forgets every record (the buffers they use are about to change) */
  void (*graph_reset) (void *ctx);

  /* ---- version 7: cross-attention K/V in int8.  Optional (both or neither). ----
   * A backend that has them can keep a window's cross K/V as int8 rows with a scale per block
   * of 32 values (LMW_CROSS_Q8_BYTES): a quarter of f32's bytes plus the scales, about half of
   * f16's.  step_cross_attention reads them for the rows whose cross_q8 is set. */
  /* dst (LMW_CROSS_Q8_BYTES (rows * C) bytes of backend memory) = the int8 rows of src
   * (rows, C) f32; C % 64 == 0 */
  void (*to_q8) (void *ctx, void *dst, const float *src, int rows, int C);
  /* cross_attention on k and v int8 rows (Tk rows of C = H * D values from to_q8, 8-byte
   * aligned); D % 8 == 0 */
  void (*cross_attention_q8) (void *ctx, float *out, int ldo, const float *q, int ldq,
                              const void *k, const void *v, int Tq, int Tk, int H, int D);

  /* ---- version 8: the beam search's choice on the backend.  Optional. ----
   * For every row r whose pick_suppress is set and whose pick_k is 1 .. LMW_PICK_K_MAX, or
   * with LMW_PICK_WANT: out[rows[r].pick_at + j], j < pick_k = the row's pick_k best tokens
   * under the filters of step_pick, best first by log-probability (equal ones: the lower
   * token first), each with its log-probability under what remains (as step_pick's); token -1
   * and -inf past the tokens allowed; pick_k 1 is step_pick's choice (the largest logit).
   * With LMW_PICK_WANT, out[pick_at + pick_k] = pick_want and its log-probability under the
   * row's softmax before any filter.  out is backend memory. */
  void (*step_topk) (void *ctx, lmw_pick_result *out, const float *logits, int ld,
                     const lmw_step_row *rows, int R, int n_vocab, int eot, int ts_begin);
} lmw_backend_ops;

#define LMW_MATMUL_GELU 1u
#define LMW_MATMUL_ACCUMULATE 2u

/* The CPU reference backend (always available). */
const lmw_backend_ops *lmw_backend_cpu (void);

/* The backend named `name` ("cpu", "cuda", "cuda-emu"), or for NULL / "auto" the usable one
 * with the highest score.  A backend that is built as a separate module (the CUDA one) is
 * loaded here on first use, only when a driver and a device are present.  NULL when the named
 * backend can't run here; *why (nullable) then says why in one sentence, and for "auto" it says
 * why a better backend was passed over ("" when none was).  Thread-safe. */
const lmw_backend_ops *lmw_backend_find (const char *name, char *why, size_t why_len);

/* Bytes needed for one row of `cols` elements of `type`; 0 if the type is unknown or cols is
 * not a multiple of the block size. */
size_t lmw_type_row_bytes (lmw_type type, int64_t cols);
/* Human-readable type name ("f16", "q8_0", ...) or NULL for an unknown type. */
const char *lmw_type_name (int type);
/* dst (n) = elements [k0, k0 + n) of a row of `type`; k0 and n multiples of LMW_QK for
 * quantised types. */
void lmw_dequantize_row (float *dst, lmw_type type, const void *row, int k0, int n);

float lmw_fp16_to_fp32 (uint16_t h);
uint16_t lmw_fp32_to_fp16 (float f);

#ifdef __cplusplus
}
#endif

#endif /* LMW_BACKEND_H */
