/* SPDX-License-Identifier: MIT */
/*
 * lmw-state.h — internal view of one stream: the backend context, the backend's view of the
 * model's weights, and every activation buffer, allocated once in lmw_state_new for the
 * model's maximum sizes.  Buffers marked (backend) live in the backend's memory (a device's,
 * for the CUDA backend): the engine touches them only through backend operations, and moves
 * data in and out with upload / download / copy.
 */
#ifndef LMW_STATE_H
#define LMW_STATE_H

#include "lmw-model.h"

struct lmw_state {
  const lmw_model *model;          /* borrowed; must outlive the state */
  const lmw_backend_ops *ops;
  void *be;                        /* owned backend context */
  bool host_memory;                /* backend memory is host memory (LMW_BACKEND_HOST_MEMORY) */
  /* the model as the backend reads it: hyper-parameters and vocabulary as in `model`, every
   * weight and vector the backend's view from map_weight; owns only its enc and dec arrays
   * (the vocabulary and filterbank pointers are the model's, borrowed) */
  lmw_model *dm;
  /* owned: q8_0 copies of the conv stem's f16/f32 weights that dm->conv1 / conv2 point to, on
   * the host for quantised models (lmw-context.c, map_model); NULL otherwise */
  void *conv_q8[2];

  /* host staging */
  float *mel_host;    /* (n_mels, 2T): the window before upload */
  float *enc_out_host;/* (T, C): lmw_state_encoder_output, when memory is not the host's */
  float *xattn_host;  /* (T + Tt, C): alignment's queries and keys, allocated on first use */
  float *logits_buf;  /* (backend) logits before download, grown on use; unused for host memory */
  size_t logits_len;  /* floats in logits_buf */

  /* the log-mel front end on the backend (ops->log_mel; all NULL without it, lmw-encode-pcm.c):
   * only a window's samples are uploaded, the frames never exist on the host */
  float *pcm_dev;   /* (backend) (2T * 160 + 400): the samples one window reads */
  float *mel_max;   /* (backend) (1): the largest raw log-mel value of the signal */
  float *mel_dev;   /* (backend) (n_mels, 2T): the window's frames; mel_win for a stream with
                     * scratch, a buffer of its own for a scheduler's slot (owned then) */
  bool mel_on_dev;  /* the last window was computed into mel_dev (else it is in mel_host) */

  /* encoder, T = n_audio_ctx, C = n_audio_state; every buffer below is (backend) */
  float *mel_win;   /* (n_mels, 2T) */
  float *enc_x;     /* (T, C) residual stream */
  float *enc_out;   /* (T, C) */
  float *cross_k;   /* (n_text_layer, T, C) */
  float *cross_v;   /* (n_text_layer, T, C); NULL when cross_vh holds V */
  /* (n_text_layer, T, C) f16 copies of the cross K/V, made once per window, which the decoder
   * reads through ops->cross_attention; NULL when the backend lacks it, and on the host (the
   * CPU backend) for f16/f32 models, which stay on the f32 path (see state_new) */
  uint16_t *cross_kh;
  uint16_t *cross_vh;
  /* cross_kh and cross_vh hold int8 rows (LMW_CROSS_Q8_BYTES, lmw-backend.h) instead of f16,
   * read through ops->cross_attention_q8 and the row table (lmw_state_set_cross_q8) */
  bool cross_q8;
  bool have_audio;
  double encoder_ms; /* wall time of the last encoder pass, without the cross K/V */
  double cross_ms;   /* wall time of the last cross K/V projections */

  /* decoder steps run, by rows: [1] single sequences (lmw_decode), [b] lmw_decode_batch of b */
  uint64_t batches[LMW_MAX_BEAM + 1];

  /* decoder, Tt = n_text_ctx */
  float *self_k;    /* (n_text_layer, Tt, C) */
  float *self_v;    /* (n_text_layer, Tt, C) */
  int n_cached;     /* positions held by self_k / self_v */
  float *dec_x;     /* (Tt, C) */

  /* optional: called by the decoder with each layer's cross-attention queries q (n, C) and
   * keys k (T, C) of the window, for word alignment (lmw-align.c); NULL in normal decoding */
  void (*xattn_cb) (void *user_data, int layer, const float *q, int n, const float *k, int T,
                    int C, int H);
  void *xattn_user_data;

  /* scratch shared by encoder and decoder, rows = max (2T, Tt) */
  float *xn;        /* (rows, C) */
  float *q;         /* (rows, C) */
  float *k;         /* (rows, C) */
  float *v;         /* (rows, C) */
  float *att;       /* (rows, C) */
  float *hidden;    /* (rows, 4C); also the conv1 output (2T, C) */
  int enc_windows;  /* encoder windows the buffers hold (1 but for a scheduler's stream) */
  int step_rows;    /* decoder rows the scratch holds (n_text_ctx at least) */
  /* table-driven steps (lmw-decode-table.c): on when the scheduler asks for them and the
   * backend has the step_* operations; the row table (step_rows rows, backend) and its host
   * copy; graph_steps[0, 1, 2]: steps run directly, recorded, replayed (ops->graph_run) */
  bool step_table_on;
  bool step_graphs_on;
  lmw_step_row *step_table;
  lmw_step_row *step_table_host;
  lmw_pick_result *step_picks;      /* (step_rows) backend: step_pick's results */
  lmw_pick_result *step_picks_host; /* (step_rows) */
  const float *step_graph_logits; /* the logits buffer the records write */
  uint64_t graph_steps[3];
  uint64_t step_picked;             /* rows whose next token step_pick chose */
  lmw_pick_result *step_topk;       /* (step_rows * LMW_PICK_K_MAX) backend: step_topk's results */
  lmw_pick_result *step_topk_host;  /* (step_rows * LMW_PICK_K_MAX) */
  uint64_t step_topk_rows;          /* rows whose best tokens step_topk chose */
  uint64_t step_first_picked;       /* prompts whose first choice and no-speech step_topk made */
  uint64_t step_cross_shared;       /* rows whose cross K/V another row of a step read */

  /* ---- a request slot of a scheduler (lmw-scheduler.c); all zero for a stream of its own.
   * A slot holds only the request's own buffers (mel_host, cross K/V, self K/V): its encode
   * and decode calls are jobs that the scheduler's thread runs, batched with the other
   * slots', on the scheduler's stream (whose scratch is sized for the batch). */
  struct lmw_scheduler *sched; /* borrowed, nullable */
  int slot;                    /* index in sched */
  /* self-attention caches (n_text_layer, Tt, C) lent by the scheduler for beam search, which
   * uses them before allocating its own (beam_pool_n of them, while the slot is held) */
  float *beam_pool_k[LMW_MAX_BEAM];
  float *beam_pool_v[LMW_MAX_BEAM];
  int beam_pool_n;
  /* nullable: asked before every job; non-zero ends the transcription with "cancelled" */
  int (*abort_cb) (void *user_data);
  void *abort_user_data;
};

/* A stream with buffers for `windows` encoder windows at once and decoder steps of `rows`
 * rows (lmw_state_new_backend is windows 1, rows n_text_ctx); with_scratch false: a slot's
 * buffers only (mel_host, cross and self K/V, no activations).  (transfer full) (nullable) */
lmw_state *lmw_state_new_sized (const lmw_model *model, int n_threads, const char *backend,
                                int device, int windows, int rows, bool with_scratch,
                                lmw_error *err);

/* One sequence of a batched decoder step (lmw_decode_step): n tokens at positions n_past ..
 * n_past + n - 1 with its own self-attention cache (which holds its n_past earlier positions
 * and receives the new ones) and the cross-attention K/V of its request's window.  Sequences
 * of one request (its beams) that share the cross K/V sit next to each other so that the
 * backend reads those K/V once for all of them. */
/* The choice of a sequence's next token made on the backend, with the search's filters that a
 * step can't know from the logits alone: a bitset of tokens never picked (backend memory,
 * n_vocab bits), the lowest timestamp allowed, LMW_PICK_* flags; k 0 or 1: the greedy choice
 * (ops->step_pick), 2 .. LMW_PICK_K_MAX: the k best tokens, a beam's candidates
 * (ops->step_topk). */
typedef struct {
  const uint32_t *suppress;
  int ts_lo;
  unsigned flags;
  int k;
  int want; /* with LMW_PICK_WANT in flags: a token whose log-probability before the filters,
             * in the sequence's first row, comes back after the choice (picked[max (k, 1)]) */
} lmw_pick;

/* what a choice's first result holds until a step made it on the backend */
#define LMW_PICK_NOT_MADE (-2)

typedef struct {
  const int *tokens;           /* (n), host */
  int n, n_past;
  float *self_k, *self_v;      /* (n_text_layer, Tt, C) (backend) */
  const float *cross_k, *cross_v;       /* f32 (n_text_layer, T, C), or NULL with ... */
  const uint16_t *cross_kh, *cross_vh;  /* ... f16 ones (ops->cross_attention), or int8 */
  bool cross_q8;                        /* ... rows (lmw-cross-kv.c) */
  int logits_rows;             /* 0: none, 1: the last row's, n: every row's */
  float *logits;               /* (logits_rows, n_vocab), host */
  /* nullable, with n 1 and logits_rows 1: pick the next token on the backend where the step
   * can (a row-table step), filling *picked (token >= 0) instead of logits — for pick->k > 1,
   * picked[0 .. k) with the k best (token -1 past the tokens allowed); *picked is left
   * alone, and logits filled, where it can't */
  const lmw_pick *pick;
  lmw_pick_result *picked;
} lmw_step_seq;

/* Runs one decoder step over every row of n_seqs sequences at once (continuous batching:
 * the sequences may belong to different requests, windows and positions).  Every product
 * reads each weight matrix once for all rows; self-attention runs per sequence on its own
 * cache; cross-attention once per run of neighbouring sequences with the same K/V.  Each
 * sequence's logits equal lmw_decode's on that sequence alone up to float rounding.  st is
 * the scheduler's stream (scratch for st->step_rows rows); its own caches are not used.
 * Returns 0, or -1 with err filled. */
int lmw_decode_step (lmw_state *st, const lmw_step_seq *seqs, int n_seqs, lmw_error *err);

/* The step of lmw_decode_step from a row table, when every sequence is one row (n 1, f16
 * cross K/V) and st->step_table_on: the rows padded to a power of two (at most step_rows),
 * one upload of the table, and with st->step_graphs_on the step's operations through
 * ops->graph_run (recorded once per row count, then replayed).  Returns 1 when it ran the step
 * (0 from lmw_decode_step then), 0 when the step does not qualify, -1 with err filled. */
int lmw_decode_step_table (lmw_state *st, const lmw_step_seq *seqs, int n_seqs, lmw_error *err);

/* The row table's buffers (st->step_table, step_picks, step_topk and their host copies),
 * allocated on first use.  Returns 0, or -1 with err filled. */
int lmw_step_table_alloc (lmw_state *st, lmw_error *err);

/* The choices of the sequences of a step that ran without the row table (lmw_decode_step)
 * whose logits (G gathered rows of n_vocab, backend) hold every row of theirs (logits_rows ==
 * n) and that ask for one (pick, picked), made by the backend's step_topk on those rows:
 * served[i] says which; their logits need not come back.  Returns how many, 0 when the backend
 * can't, -1 with err filled. */
int lmw_decode_pick_rows (lmw_state *st, const lmw_step_seq *seqs, int n_seqs, const float *logits,
                          int G, bool *served, lmw_error *err);

/* lmw_decode of a window's prompt (n tokens at n_past) with every row's logits (n, n_vocab):
 * on a scheduler's slot whose backend can, the choice of pick on the last row (and with
 * LMW_PICK_WANT the wanted token's log-probability before the filters on the first row) go to
 * picked instead, and logits are not filled; where it can't, picked[0] is left alone (set it
 * to LMW_PICK_NOT_MADE first) and logits are filled.  Returns 0, or -1 with err filled. */
int lmw_decode_prompt (lmw_state *st, const int *tokens, int n, int n_past, float *logits,
                       const lmw_pick *pick, lmw_pick_result *picked, lmw_error *err);

/* lmw_decode of one token whose next token the search picks greedily: on a scheduler's slot
 * whose step can pick on the backend, *picked gets the token and its log-probability under
 * the filters of pick (and logits are not filled); otherwise picked->token is -1 and logits
 * (n_vocab) are filled as lmw_decode fills them.  Returns 0, or -1 with err filled. */
int lmw_decode_pick (lmw_state *st, int token, int n_past, float *logits, const lmw_pick *pick,
                     lmw_pick_result *picked, lmw_error *err);

/* lmw_decode_batch whose rows' next tokens the beam search chooses: on a scheduler's slot
 * whose step can choose on the backend, row b's picks[b].k best tokens under picks[b]'s
 * filters go to picked[b * picks[b].k ..] (and row b of logits is not filled); where it
 * can't, picked[b * picks[b].k] is left alone (set it to LMW_PICK_NOT_MADE first) and the
 * logits are filled.  picks and picked nullable: lmw_decode_batch. */
int lmw_decode_batch_pick (lmw_state *st, const int *tokens, int B, int n_past,
                           float *const *cache_k, float *const *cache_v, float *logits,
                           const lmw_pick *picks, lmw_pick_result *picked, lmw_error *err);

/* Runs the encoder on B windows at once, window b's mel in slots[b]->mel_host, and writes each
 * window's cross-attention K/V into slots[b] (which then holds audio, its cache cleared).
 * Products run with B * n_audio_ctx rows; st is a stream sized for at least B windows. */
int lmw_encoder_forward_batch (lmw_state *st, lmw_state *const *slots, int B, lmw_error *err);

/* The front end on the backend (st->pcm_dev set), lmw-encode-pcm.c.  The signal is n_samples
 * real samples followed by zeros up to n_total; pcm (n_pcm, host) holds its samples from
 * pcm_base on, every real sample that frames [f0, f1) read (lmw_backend_ops.log_mel).
 * lmw_mel_max_pass raises st->mel_max to the largest raw value of frames [f0, f1) (reset:
 * starting from -inf): every frame of the signal must pass before a window is encoded.
 * lmw_encode_pcm computes the window of frames [seek, f1) (f1 - seek <= 2T; zeros after them)
 * normalised with st->mel_max into st->mel_dev and runs the encoder on it, as lmw_encode does
 * with mel frames.  Both return 0, or -1 with err filled. */
int lmw_mel_max_pass (lmw_state *st, const float *pcm, size_t pcm_base, size_t n_pcm,
                      size_t n_samples, size_t n_total, int f0, int f1, bool reset,
                      lmw_error *err);
int lmw_encode_pcm (lmw_state *st, const float *pcm, size_t pcm_base, size_t n_pcm,
                    size_t n_samples, size_t n_total, int seek, int f1, lmw_error *err);

/* encoder / decoder entry points (lmw-encoder.c, lmw-decoder.c) */
int lmw_encoder_forward (lmw_state *st, lmw_error *err);

/* Runs the decoder on B rows at once (1 <= B <= LMW_MAX_BEAM), as beam search does for the
 * live beams of one step: row b is one token tokens[b] at position n_past (the same for every
 * row) with its own self-attention cache cache_k[b], cache_v[b], each (n_text_layer,
 * n_text_ctx, C) like st->self_k / st->self_v and holding the row's n_past earlier positions;
 * the row's new K/V go into its cache at n_past.  Every weight matrix is read once for all
 * rows (products with M = B); each row attends to its own cache, and all rows attend to the
 * window's cross-attention K/V in one call.  logits (B, n_vocab) receives each row's logits,
 * equal up to float rounding to lmw_decode of that row's token on its cache alone.
 * st->self_k, st->self_v and st->n_cached are neither used nor changed, and st->xattn_cb is
 * not called (the rows are not one sequence).  Returns 0 on success. */
int lmw_decode_batch (lmw_state *st, const int *tokens, int B, int n_past, float *const *cache_k,
                      float *const *cache_v, float *logits, lmw_error *err);

/* 0 when every backend operation since the last check succeeded, else -1 with err filled
 * ("what: the backend's message"). */
int lmw_state_check (lmw_state *st, const char *what, lmw_error *err);
/* A buffer of n floats in the backend's memory (NULL when out of memory), freed with
 * lmw_state_free_floats; copies between two of them (n floats) with lmw_state_copy_floats. */
float *lmw_state_alloc_floats (lmw_state *st, size_t n);
void lmw_state_free_floats (lmw_state *st, float *p);
void lmw_state_copy_floats (lmw_state *st, float *dst, const float *src, size_t n);
/* A (backend) buffer for n floats of output that will be read back into host (n floats):
 * host itself when the backend's memory is the host's, else st->logits_buf grown to n (NULL
 * when out of memory); lmw_state_output_done downloads it into host. */
float *lmw_state_output_buffer (lmw_state *st, float *host, size_t n);
void lmw_state_output_done (lmw_state *st, float *host, const float *buf, size_t n);

/* The cross K/V for the decoder (lmw-cross-kv.c).  base (cross_kh or cross_vh) from value e on
 * (a multiple of C), f16 or int8 rows as q8 says. */
const uint16_t *lmw_cross_kv_at (const uint16_t *base, bool q8, size_t e);
/* rows of C values of src (st's memory) stored at value e of base, slot's buffer (cross_kh or
 * cross_vh of slot, which may be st), as slot keeps them; queued on st */
void lmw_state_cross_kv_store (lmw_state *st, const lmw_state *slot, uint16_t *base, size_t e,
                               const float *src, int rows, int C);
/* out (Tq, C) = cross-attention of q (Tq, C) to the Tk K/V rows from value e of k and v */
void lmw_state_cross_kv_attend (lmw_state *st, bool q8, float *out, const float *q,
                                const uint16_t *k, const uint16_t *v, size_t e, int Tq, int Tk,
                                int H, int D);
/* whether st can keep its cross K/V as int8 rows (a backend with to_q8 and
 * cross_attention_q8, f16 K/V to replace, a width that is a multiple of 64) */
bool lmw_state_can_cross_q8 (const lmw_state *st);
/* replaces st's f16 cross K/V by int8 rows (before its first window); 0, or -1 with err
 * filled when st can't */
int lmw_state_set_cross_q8 (lmw_state *st, lmw_error *err);

/* A slot's jobs (lmw-scheduler.c), called by lmw_encode, lmw_decode and lmw_decode_batch of a
 * state whose sched is set: they queue the job, wait until the scheduler's thread has run it
 * in a batch, and return its status.  encode: the window in slot->mel_host.  decode: one
 * sequence (tokens at n_past on the slot's own cache) when cache_k is NULL, else B rows of one
 * token at n_past, row b on cache_k[b] / cache_v[b] (a beam-search step). */
int lmw_scheduler_encode (struct lmw_scheduler *s, lmw_state *slot, lmw_error *err);
int lmw_scheduler_decode (struct lmw_scheduler *s, lmw_state *slot, const int *tokens, int n,
                          int n_past, float *const *cache_k, float *const *cache_v,
                          float *logits, bool all_logits, lmw_error *err);
/* One token at n_past on the slot's cache whose next token is picked on the backend where the
 * step can (lmw_decode_pick). */
int lmw_scheduler_decode_pick (struct lmw_scheduler *s, lmw_state *slot, const int *token,
                               int n_past, float *logits, const lmw_pick *pick,
                               lmw_pick_result *picked, lmw_error *err);
/* A prompt of n tokens at n_past on the slot's cache with its choices made on the backend
 * where the step can (lmw_decode_prompt). */
int lmw_scheduler_decode_prompt (struct lmw_scheduler *s, lmw_state *slot, const int *tokens,
                                 int n, int n_past, float *logits, const lmw_pick *pick,
                                 lmw_pick_result *picked, lmw_error *err);
/* B beams of one token at n_past (lmw_scheduler_decode with cache_k), each with its choice
 * made on the backend where the step can (lmw_decode_batch_pick). */
int lmw_scheduler_decode_beams (struct lmw_scheduler *s, lmw_state *slot, const int *tokens,
                                int B, int n_past, float *const *cache_k, float *const *cache_v,
                                float *logits, const lmw_pick *picks, lmw_pick_result *picked,
                                lmw_error *err);

#endif /* LMW_STATE_H */
