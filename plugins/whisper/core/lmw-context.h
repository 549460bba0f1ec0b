/* SPDX-License-Identifier: MIT */
/*
 * lmw-context.h — public API of the Whisper-architecture speech engine core (prefix lmw_).
 *
 * Plain C11; no GLib.  Two opaque handles:
 *   lmw_model  the weights, vocabulary and mel filterbank of one ggml model file; read-only
 *              after loading and shared by any number of streams (threads);
 *   lmw_state  one stream: a compute backend context, the encoder output of the current
 *              30-second window, the cross-attention K/V computed from it and the decoder's
 *              self-attention K/V cache.  Used by one thread at a time.
 *
 * Every function that can fail returns a status (0 or a pointer) and fills an lmw_error when
 * one is given; nothing here aborts or exits.
 */
#ifndef LMW_CONTEXT_H
#define LMW_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  LMW_OK = 0,
  LMW_ERR_IO,      /* file can't be opened or read */
  LMW_ERR_FORMAT,  /* file is not a valid model / audio file */
  LMW_ERR_NOMEM,   /* an allocation failed */
  LMW_ERR_ARG,     /* invalid argument (token id out of range, window too long, ...) */
} lmw_status;

typedef struct {
  lmw_status code;
  char message[256];
} lmw_error;

typedef struct lmw_model lmw_model;
typedef struct lmw_state lmw_state;

/* The 11 hyper-parameters of the file, in file order. */
typedef struct {
  int32_t n_vocab;
  int32_t n_audio_ctx;
  int32_t n_audio_state;
  int32_t n_audio_head;
  int32_t n_audio_layer;
  int32_t n_text_ctx;
  int32_t n_text_state;
  int32_t n_text_head;
  int32_t n_text_layer;
  int32_t n_mels;
  int32_t ftype;
} lmw_hparams;

/* Special token ids, derived from the vocabulary size (51864: English-only, 51865:
 * multilingual with 99 languages, 51866: 100 languages, the large-v3 layout). */
typedef struct {
  bool multilingual;
  int n_languages;
  int eot;
  int sot;
  int lang_first; /* language tokens are lang_first .. lang_first + n_languages - 1 */
  int translate;
  int transcribe;
  int solm;
  int prev;
  int nospeech;
  int notimestamps;
  int timestamp_begin; /* <|0.00|>; timestamp i (0.02 s steps) is timestamp_begin + i */
} lmw_special_tokens;

/* ---- model ------------------------------------------------------------------------------- */

/* Loads a ggml model file.  (transfer full) (nullable: NULL on error, err filled) */
lmw_model *lmw_model_load_file (const char *path, lmw_error *err);
/* Same, from a buffer the caller keeps; nothing of it is referenced after return. */
lmw_model *lmw_model_load_buffer (const void *data, size_t size, lmw_error *err);
void lmw_model_free (lmw_model *model);

const lmw_hparams *lmw_model_hparams (const lmw_model *model);
const lmw_special_tokens *lmw_model_special (const lmw_model *model);
/* Bytes the weights occupy in memory. */
size_t lmw_model_weight_bytes (const lmw_model *model);

/* ---- vocabulary -------------------------------------------------------------------------- */

/* The bytes of a token (not NUL-terminated; may be part of a UTF-8 sequence) and its length;
 * NULL for a special token or an id out of range. */
const char *lmw_token_bytes (const lmw_model *model, int id, size_t *len);
/* A printable name for any id: the token's text, or "[_EOT_]", "[_SOT_]", "[_LANG_en]",
 * "[_TRANSCRIBE_]", "[_TT_150]" ...; writes at most buf_len bytes with a NUL; returns buf. */
const char *lmw_token_name (const lmw_model *model, int id, char *buf, size_t buf_len);
/* Concatenates the text tokens (ids < eot) of tokens into valid UTF-8 (invalid sequences become
 * U+FFFD).  (transfer full) (nullable on allocation failure) */
char *lmw_tokens_to_text (const lmw_model *model, const int *tokens, int n_tokens);
/* Tokens of UTF-8 text (for a prompt): GPT-2's pre-split, then the longest vocabulary entries
 * (the file has no merge ranks; see lmw-vocab.c).  *tokens (transfer full) holds *n_tokens
 * ids.  Returns 0, or -1 with err filled. */
int lmw_text_to_tokens (const lmw_model *model, const char *text, int **tokens, int *n_tokens,
                        lmw_error *err);
/* Two-letter (or three-letter) code of language i, or NULL. */
const char *lmw_language_code (int i);
/* Token id of a language code, or -1. */
int lmw_language_token (const lmw_model *model, const char *code);

/* ---- mel front end ----------------------------------------------------------------------- */

#define LMW_SAMPLE_RATE 16000
#define LMW_N_FFT 400
#define LMW_HOP 160
#define LMW_CHUNK_SAMPLES (30 * LMW_SAMPLE_RATE)

/* Log-mel spectrogram of pcm (16 kHz mono) padded with 30 s of zeros, as the reference does:
 * out is (n_mels, n_frames) row-major with n_frames = (n_samples + 480000) / 160, allocated
 * here.  n_threads splits the frames.  Returns 0 on success. */
int lmw_mel_compute (const lmw_model *model, const float *pcm, size_t n_samples, int n_threads,
                     float **out, int *n_frames, lmw_error *err);

/* ---- per-stream state -------------------------------------------------------------------- */

/* A stream on the compute backend `backend` ("cpu", "cuda", "cuda-emu"; NULL, "" or "auto":
 * the one named by the environment variable LMW_BACKEND, else the best one usable here), on
 * its device number `device` (a GPU's index; 0 for the CPU).  The backend holds the stream's
 * buffers and its own view of the model's weights (on the device for "cuda", shared by the
 * streams of one device).  (transfer full) (nullable: NULL with err filled, saying why the
 * named backend can't run here) */
lmw_state *lmw_state_new_backend (const lmw_model *model, int n_threads, const char *backend,
                                  int device, lmw_error *err);
/* A state that only holds the backend's view of the model's weights, without any stream
 * buffers: while it lives, streams on the same backend and device share those weights instead
 * of uploading their own (a server keeps one per model).  lmw_encode and lmw_decode refuse it.
 * (transfer full) (nullable) */
lmw_state *lmw_state_new_resident (const lmw_model *model, const char *backend, int device,
                                   lmw_error *err);
/* lmw_state_new_backend (model, n_threads, NULL, 0, err) */
lmw_state *lmw_state_new (const lmw_model *model, int n_threads, lmw_error *err);
void lmw_state_free (lmw_state *state);
/* Name of the compute backend in use ("cpu", "cuda", "cuda-emu"). */
const char *lmw_state_backend_name (const lmw_state *state);
/* What the backend runs on ("CPU (avx2 kernels, 2 threads)", "NVIDIA H100 ... (device 0)"). */
const char *lmw_state_device_name (const lmw_state *state);
/* Bytes of device memory the stream's backend holds in this process (every stream's buffers
 * and the weights they share, counted once); 0 on the CPU. */
size_t lmw_state_memory_used (const lmw_state *state);
/* Decoder steps the stream has run, by rows: counts[1] steps of one sequence (lmw_decode),
 * counts[b] batched steps of b beams; counts has LMW_MAX_BEAM + 1 entries ([0] is 0). */
void lmw_state_decoder_batches (const lmw_state *state, uint64_t *counts);

/* Runs the encoder on the 2 * n_audio_ctx mel frames starting at frame `offset` of mel
 * (n_mels, n_frames) (frames past the end read as 0, as the reference's pad_or_trim does), then computes every decoder layer's cross-attention K/V from the output and
 * clears the self-attention cache.  Returns 0 on success. */
int lmw_encode (lmw_state *state, const float *mel, int n_frames, int offset, lmw_error *err);
/* The encoder output of the last lmw_encode: (n_audio_ctx, n_audio_state). (transfer none) */
const float *lmw_state_encoder_output (const lmw_state *state);
/* Wall time of the last lmw_encode in ms: the audio encoder itself (conv stem, transformer
 * layers, final norm: the window's encoder output) in *encoder_ms, and the cross-attention K/V
 * projections of every decoder layer computed from that output in *cross_ms (either may be NULL;
 * 0 before the first lmw_encode). */
void lmw_state_encode_times (const lmw_state *state, double *encoder_ms, double *cross_ms);

/* Runs the decoder on n_tokens tokens at positions n_past .. n_past + n_tokens - 1, using and
 * extending the self-attention cache (which must hold n_past positions).  logits, when not
 * NULL, receives (n_tokens, n_vocab) if all_logits, else (n_vocab) for the last token.
 * Returns 0 on success. */
int lmw_decode (lmw_state *state, const int *tokens, int n_tokens, int n_past, float *logits,
                bool all_logits, lmw_error *err);

/* ---- transcription ----------------------------------------------------------------------- */

#define LMW_MAX_BEAM 16

typedef struct {
  int n_threads;
  const char *language;  /* "en", ...; NULL or "auto" detects it (multilingual models) */
  bool translate;
  bool timestamps;       /* decode timestamp tokens into segments; long audio then moves from
                          * window to window at the last complete timestamp */
  int beam_size;         /* <= 1: greedy at temperature 0; 2 .. LMW_MAX_BEAM: beam search */
  int best_of;           /* candidates sampled at temperature > 0 (5); <= 1: one */
  int max_tokens;        /* per 30-second window; 0 = n_text_ctx / 2 (224 for every shape) */
  int min_tokens;        /* 0; N: end-of-text is suppressed before the N-th token of a window,
                          * so a model writes at least N tokens (up to max_tokens): for
                          * benchmarks with random weights, which otherwise end at once */
  float temperature_inc; /* fallback step (0.2): retry at 0.2, 0.4 .. 1.0; 0 disables fallback */
  float logprob_threshold;     /* -1.0: a window whose average log-prob is lower fails */
  float no_speech_threshold;   /* 0.6: no-speech prob above this and a failed log-prob skip it */
  float compression_threshold; /* 2.4: a window whose text compresses (zlib) better fails */
  bool suppress_blank;
  bool suppress_non_speech;
  bool word_timestamps;        /* fill lmw_segment.words */
  uint32_t seed;               /* for sampling at temperature > 0; each window's generator is
                                * seeded from it and the window's start, so (without
                                * previous-text conditioning) a window samples the same
                                * whatever came before it */
  int64_t offset_ms;           /* start decoding here (0) */
  int64_t duration_ms;         /* decode this much audio after offset_ms; 0: to the end */
  bool condition_on_previous_text; /* true: each window's prompt carries the text decoded so far
                                    * (<|startofprev|> and its last n_text_ctx / 2 - 1 tokens),
                                    * reset after a window decoded at a temperature above 0.5 */
  const int *draft_tokens;     /* nullable: tokens the first window's greedy decoding is
                                * expected to begin with (timestamps included), such as the
                                * previous decode of a growing utterance (lmw_result
                                * .window_tokens): checked in multi-row decoder steps instead of
                                * one step per token; the tokens chosen do not change */
  int n_draft_tokens;
  const char *initial_prompt;  /* nullable: text that precedes the audio (spellings, names,
                                * style); it conditions the first window, and the next ones
                                * while condition_on_previous_text holds */
} lmw_params;

lmw_params lmw_default_params (void);

typedef struct {
  int64_t t0_ms, t1_ms;
  char *text;        /* owned, UTF-8; starts with a space as the tokens do */
  float probability; /* mean probability of its tokens */
} lmw_word;

typedef struct {
  int64_t t0_ms, t1_ms;
  char *text;        /* owned, UTF-8 */
  int *tokens;       /* owned: the text tokens (no timestamps) */
  float *token_logprobs; /* owned: log-probability of each of tokens */
  int n_tokens;
  float avg_logprob;     /* of the window's chosen decoding (as the reference reports it) */
  float no_speech_prob;
  float temperature;     /* the temperature the window was decoded at */
  float compression_ratio;
  double sum_logprob;    /* of the window's chosen decoding, end-of-text included */
  int64_t window_ms;     /* start of the 30-second window it was decoded in */
  lmw_word *words;       /* owned, when params.word_timestamps */
  int n_words;
} lmw_segment;

typedef struct {
  lmw_segment *segments; /* owned */
  int n_segments;
  char language[8];
  int n_windows;          /* windows decoded (skipped silent ones included) */
  int n_fallbacks;        /* decodings retried at a higher temperature */
  int n_skipped;          /* windows skipped as no speech */
  size_t kv_copy_bytes;   /* self-attention cache bytes copied when beams fork */
  double kv_copy_ms;      /* time spent copying them */
  int n_decoded;          /* tokens run through the decoder (every candidate and retry) */
  int n_aligned;          /* windows whose word times come from cross-attention alignment */
  int n_conditioned;      /* windows decoded with a <|startofprev|> prompt */
  int *window_tokens;     /* owned: the tokens the last window's decoding chose (timestamps
                           * included, end-of-text not), for lmw_params.draft_tokens */
  int n_window_tokens;
  int n_draft_kept;       /* tokens whose decoder step a multi-row draft step made */
} lmw_result;

/* Transcribes pcm (16 kHz mono f32) window by window.  Returns 0 on success; the result is
 * freed with lmw_result_clear. */
int lmw_transcribe (lmw_state *state, const lmw_params *params, const float *pcm,
                    size_t n_samples, lmw_result *result, lmw_error *err);
void lmw_result_clear (lmw_result *result);

/* Copies n samples of the audio, from sample offset on, into out; returns 0, or -1 with err
 * filled (the transcription then fails with that error). */
typedef int (*lmw_pcm_reader) (void *user_data, size_t offset, float *out, size_t n,
                               lmw_error *err);

/* lmw_transcribe for audio of n_samples that the caller keeps wherever it likes (a file): it
 * is read through read() twice, once whole in blocks of 30 s and then window by window, and
 * no more than one window (30 s and 400 samples) is held at a time, nor the spectrogram of
 * more than one window.  The result is identical to lmw_transcribe's on the same samples. */
int lmw_transcribe_reader (lmw_state *state, const lmw_params *params, lmw_pcm_reader read,
                           void *user_data, size_t n_samples, lmw_result *result,
                           lmw_error *err);

/* gzip-style compression ratio of text: its length over its zlib-compressed length. */
float lmw_compression_ratio (const char *text);

/* ---- audio helper ------------------------------------------------------------------------ */

/* Reads a RIFF/WAVE file (PCM 16-bit or IEEE float 32-bit, any channel count, 16 kHz) into
 * mono f32.  (transfer full) */
int lmw_wav_read (const char *path, float **pcm, size_t *n_samples, lmw_error *err);

#ifdef __cplusplus
}
#endif

#endif /* LMW_CONTEXT_H */
