/* SPDX-License-Identifier: MIT */
/*
 * lmw-bench.c — speed of the Whisper engine on model files with random weights of the real
 * shapes (the time doesn't depend on the values), in the spirit of whisper.cpp's bench.
 *
 *   lmw-bench [--models tiny,base,small] [--types f16,q8_0] [--threads 1,2] [--reps N]
 *             [--dir DIR] [--ops 1] [--peak 1]
 *   lmw-bench --whole-file SECONDS [--models base] [--types f16] [--threads 2]
 *             [--beams 1,5] [--max-tokens 224] [--audio-dir DIR]
 *
 * Writes each model (n_vocab 51864 with printable text tokens, 80 mels, matrices as f16 or q8_0, vectors f32) into a
 * temporary folder, then runs every (model, type, threads) configuration in its own process
 * (this program re-executed with --child) so that the peak memory (getrusage ru_maxrss) is
 * that configuration's alone.  Each child loads the model, runs the encoder on a 30 s window
 * (median of --reps runs after one warm-up) and measures the decoder per token: a 4-token
 * prompt, then 32 tokens one at a time through the KV cache.  Prints a table: the median time
 * of the audio encoder itself (conv stem, layers, final norm: about 87 GFLOP for base), of the
 * cross-attention K/V projections that lmw_encode computes from its output for every decoder
 * layer (about 9.4 GFLOP for base; whisper.cpp's bench counts them in its encoder time), and of
 * both together; the minimum of both together and the CPU time (all threads) of that run, which
 * shows how much of the wall time other processes took; decoder time per token (wall and CPU of
 * all threads, which includes the workers' spinning between operations), weights and peak RSS.
 *
 * --types takes f16 and any quantised type (q8_0, q5_0, q5_1, q4_0, q4_1): the f16 model is
 * written, and the others made from it by lmw_quantize_file (what `lightning-whisper quantize`
 * runs).  Quantised models run the CPU backend's integer products (LMW_INT8=off: the f32 path).
 *
 *   lmw-bench --rounds N [--models base,small] [--types f16,q8_0,q5_0,q4_0] [--threads 1,2]
 *             [--reps R]
 *
 * --rounds: the types side by side on a shared, noisy machine: N rounds, each running every
 * (model, threads, type) child once in turn (so each type sees the same load), each child
 * timing R encoder runs (median) and 32 decoder tokens.  One row per (model, threads, type):
 * encoder + cross K/V and decoder per token, the minimum and the median over the rounds, wall
 * and CPU time, and each divided by the f16 row of the same model and threads (min / min,
 * median / median).
 *
 *   lmw-bench --child-decoder MODEL THREADS BLOCKS
 *
 * --child-decoder: the decoder alone on one model file (for perf, and for comparing two builds
 * run alternately): one encoder run, then BLOCKS blocks of 32 tokens after the 4-token prompt;
 * prints the minimum and median per-token wall time, then the same of the CPU time (ms).
 *
 * --ops 1   times each operation of one encoder layer (T = 1500) and the conv stem on the
 *           backend directly (min of --reps runs, GFLOP/s, CPU time), for profiling.
 * --peak 1  the compute ceiling: GFLOP/s of a pure FMA loop (AVX2 and AVX-512) on each
 *           --threads count.
 *
 * --whole-file: the real-time factor of transcribing one long recording with lmw_transcribe
 * (timestamps on, windows following them): the WAV files of --audio-dir (default: the LibriVox
 * recordings of pocketsphinx-testdata) concatenated, repeated up to SECONDS; speech-like
 * synthetic audio (voiced harmonics with syllable and pause envelopes) when none can be read.
 * Random weights rarely emit timestamps or end-of-text, so windows usually run to the token cap
 * (--max-tokens, whisper's 224) and advance by 30 s: the time is that of the worst case of
 * real decoding.  Temperature fallback is off (random text always "fails", which would only
 * multiply the decoder time by up to 26).  One row per (model, type, threads, beam size).
 *
 *   lmw-bench --beam-step 1,2,3,4,5 [--models base] [--types f16] [--threads 2] [--reps 20]
 *             [--position 64]
 *
 * --beam-step: the decoder time of one beam-search step with B live beams, each with its own
 * self-attention cache holding --position earlier tokens: B calls of lmw_decode (one beam at a
 * time, the state pointed at each beam's cache) against one lmw_decode_batch of B rows; the
 * two alternate within each of --reps repetitions (median and minimum of each).  One row per
 * (model, type, threads, B).
 */
#include "lmw-backend.h"
#include "lmw-context.h"
#include "lmw-quantize.h"
#include "lmw-state.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  const char *name;
  int state, heads, layers;
} shape;

static const shape shapes[] = {
  { "tiny", 384, 6, 4 },
  { "base", 512, 8, 6 },
  { "small", 768, 12, 12 },
  { "medium", 1024, 16, 24 },
};

/* CPU time of every thread of this process */
static double
process_cpu_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- model writer ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float
frand (void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float) ((rng_state >> 40) / (double) (1ull << 24)) * 2.0f - 1.0f;
}

static void
put_i32 (FILE *f, int32_t v)
{
  uint8_t b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, ((uint32_t) v >> 24) & 0xff };
  fwrite (b, 1, 4, f);
}

/* kind: 0 vector f32 (fill value or random when fill is NAN), 1 matrix of `type`, 2 conv f16 */
static int
put_tensor (FILE *f, const char *name, int n_dims, const int *ne, int type, float fill)
{
  put_i32 (f, n_dims);
  put_i32 (f, (int32_t) strlen (name));
  put_i32 (f, type);
  for (int d = 0; d < n_dims; d++)
    put_i32 (f, ne[d]);
  fwrite (name, 1, strlen (name), f);
  size_t rows = 1;
  for (int d = 1; d < n_dims; d++)
    rows *= (size_t) ne[d];
  int cols = ne[0];
  float *row = malloc (sizeof (float) * (size_t) cols);
  uint8_t *out = malloc ((size_t) cols * 4 + 64);
  if (row == NULL || out == NULL) {
    free (row);
    free (out);
    return -1;
  }
  float scale = 1.0f / sqrtf ((float) cols);
  for (size_t r = 0; r < rows; r++) {
    for (int c = 0; c < cols; c++)
      row[c] = isnan (fill) ? frand () * scale : fill;
    size_t n = 0;
    if (type == LMW_TYPE_F32) {
      memcpy (out, row, sizeof (float) * (size_t) cols);
      n = sizeof (float) * (size_t) cols;
    } else if (type == LMW_TYPE_F16) {
      for (int c = 0; c < cols; c++) {
        uint16_t h = lmw_fp32_to_fp16 (row[c]);
        memcpy (out + 2 * c, &h, 2);
      }
      n = 2 * (size_t) cols;
    } else { /* q8_0 */
      for (int b = 0; b < cols / 32; b++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
          amax = fabsf (row[b * 32 + j]) > amax ? fabsf (row[b * 32 + j]) : amax;
        float d = amax / 127.0f;
        uint16_t h = lmw_fp32_to_fp16 (d);
        memcpy (out + n, &h, 2);
        for (int j = 0; j < 32; j++)
          out[n + 2 + j] = (uint8_t) (int8_t) lrintf (d > 0 ? row[b * 32 + j] / d : 0.0f);
        n += 34;
      }
    }
    fwrite (out, 1, n, f);
  }
  free (row);
  free (out);
  return 0;
}

static int
write_model (const char *path, const shape *s, int wtype)
{
  FILE *f = fopen (path, "wb");
  if (f == NULL)
    return -1;
  const int n_vocab = 51864, n_mels = 80, actx = 1500, tctx = 448, C = s->state;
  put_i32 (f, 0x67676d6c);
  int32_t hp[11] = { n_vocab, actx, C, s->heads, s->layers, tctx, C, s->heads, s->layers, n_mels,
                     wtype == LMW_TYPE_F16 ? 1 : 7 };
  for (int i = 0; i < 11; i++)
    put_i32 (f, hp[i]);
  put_i32 (f, n_mels);
  put_i32 (f, 201);
  for (int i = 0; i < n_mels * 201; i++) {
    float v = (i % 201) == (i / 201) * 2 ? 1.0f : 0.0f;
    fwrite (&v, 4, 1, f);
  }
  /* printable text tokens (" a", " b", ... " ba" ...), so that a decoding's text is words: the
   * timing doesn't read them, a live-stream benchmark counts the words of its finals */
  put_i32 (f, 50256);
  for (int id = 0; id < 50256; id++) {
    char text[16];
    int len = 0;
    text[len++] = ' ';
    for (int v = id; len < (int) sizeof text; v = v / 26 - 1) {
      text[len++] = (char) ('a' + v % 26);
      if (v < 26)
        break;
    }
    put_i32 (f, len);
    fwrite (text, 1, (size_t) len, f);
  }
  char name[128];
  int ne[3];
#define VECT(n, fill, ...)                                                                    \
  do {                                                                                        \
    snprintf (name, sizeof name, __VA_ARGS__);                                                \
    ne[0] = (n);                                                                              \
    put_tensor (f, name, 1, ne, LMW_TYPE_F32, fill);                                          \
  } while (0)
#define MATR(in, out, ...)                                                                    \
  do {                                                                                        \
    snprintf (name, sizeof name, __VA_ARGS__);                                                \
    ne[0] = (in);                                                                             \
    ne[1] = (out);                                                                            \
    put_tensor (f, name, 2, ne, wtype, NAN);                                                  \
  } while (0)
  ne[0] = C; ne[1] = actx;
  put_tensor (f, "encoder.positional_embedding", 2, ne, LMW_TYPE_F32, NAN);
  ne[0] = 3; ne[1] = n_mels; ne[2] = C;
  put_tensor (f, "encoder.conv1.weight", 3, ne, LMW_TYPE_F16, NAN);
  ne[0] = 1; ne[1] = C;
  put_tensor (f, "encoder.conv1.bias", 2, ne, LMW_TYPE_F32, 0.0f);
  ne[0] = 3; ne[1] = C; ne[2] = C;
  put_tensor (f, "encoder.conv2.weight", 3, ne, LMW_TYPE_F16, NAN);
  ne[0] = 1; ne[1] = C;
  put_tensor (f, "encoder.conv2.bias", 2, ne, LMW_TYPE_F32, 0.0f);
  for (int dec = 0; dec < 2; dec++) {
    const char *p = dec ? "decoder" : "encoder";
    if (dec) {
      ne[0] = C; ne[1] = tctx;
      put_tensor (f, "decoder.positional_embedding", 2, ne, LMW_TYPE_F32, NAN);
      MATR (C, n_vocab, "decoder.token_embedding.weight");
    }
    for (int l = 0; l < s->layers; l++) {
      for (int a = 0; a < 1 + dec; a++) {
        const char *att = a ? "cross_attn" : "attn";
        MATR (C, C, "%s.blocks.%d.%s.query.weight", p, l, att);
        VECT (C, 0.0f, "%s.blocks.%d.%s.query.bias", p, l, att);
        MATR (C, C, "%s.blocks.%d.%s.key.weight", p, l, att);
        MATR (C, C, "%s.blocks.%d.%s.value.weight", p, l, att);
        VECT (C, 0.0f, "%s.blocks.%d.%s.value.bias", p, l, att);
        MATR (C, C, "%s.blocks.%d.%s.out.weight", p, l, att);
        VECT (C, 0.0f, "%s.blocks.%d.%s.out.bias", p, l, att);
        VECT (C, 1.0f, "%s.blocks.%d.%s_ln.weight", p, l, att);
        VECT (C, 0.0f, "%s.blocks.%d.%s_ln.bias", p, l, att);
      }
      MATR (C, 4 * C, "%s.blocks.%d.mlp.0.weight", p, l);
      VECT (4 * C, 0.0f, "%s.blocks.%d.mlp.0.bias", p, l);
      MATR (4 * C, C, "%s.blocks.%d.mlp.2.weight", p, l);
      VECT (C, 0.0f, "%s.blocks.%d.mlp.2.bias", p, l);
      VECT (C, 1.0f, "%s.blocks.%d.mlp_ln.weight", p, l);
      VECT (C, 0.0f, "%s.blocks.%d.mlp_ln.bias", p, l);
    }
    VECT (C, 1.0f, dec ? "decoder.ln.weight" : "encoder.ln_post.weight");
    VECT (C, 0.0f, dec ? "decoder.ln.bias" : "encoder.ln_post.bias");
  }
  return fclose (f) == 0 ? 0 : -1;
}

/* ---- child: one configuration ------------------------------------------------------------ */

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* loads the model at path and a state of `threads` threads on it; NULL (message printed) on failure */
static lmw_state *
open_state (const char *path, int threads, lmw_model **model)
{
  lmw_error err = { 0 };
  lmw_model *m = lmw_model_load_file (path, &err);
  lmw_state *st = m ? lmw_state_new (m, threads, &err) : NULL;
  if (st == NULL) {
    fprintf (stderr, "lmw-bench: %s\n", err.message);
    lmw_model_free (m);
    return NULL;
  }
  *model = m;
  return st;
}

static int
child (const char *path, int threads, int reps)
{
  lmw_error err = { 0 };
  lmw_model *m = NULL;
  lmw_state *st = open_state (path, threads, &m);
  if (st == NULL)
    return 1;
  const lmw_hparams *hp = lmw_model_hparams (m);
  int Tm = 2 * hp->n_audio_ctx;
  float *mel = malloc (sizeof (float) * (size_t) hp->n_mels * Tm);
  float *logits = malloc (sizeof (float) * (size_t) hp->n_vocab);
  for (int i = 0; i < hp->n_mels * Tm; i++)
    mel[i] = frand ();
  double *t = malloc (sizeof (double) * (size_t) (3 * reps + 1));
  double *te = t + reps, *tx = t + 2 * reps; /* the encoder alone, the cross K/V */
  lmw_encode (st, mel, Tm, 0, &err); /* warm-up */
  double enc_min = 1e30, enc_cpu = 0;
  for (int r = 0; r < reps; r++) {
    double c0 = process_cpu_ms (), t0 = now_ms ();
    lmw_encode (st, mel, Tm, 0, &err);
    t[r] = now_ms () - t0;
    lmw_state_encode_times (st, &te[r], &tx[r]);
    if (t[r] < enc_min) {
      enc_min = t[r];
      enc_cpu = process_cpu_ms () - c0;
    }
  }
  qsort (t, (size_t) reps, sizeof *t, cmp_double);
  qsort (te, (size_t) reps, sizeof *te, cmp_double);
  qsort (tx, (size_t) reps, sizeof *tx, cmp_double);
  double enc = t[reps / 2], enc_only = te[reps / 2], cross = tx[reps / 2];
  int prompt[4] = { 50257, 50258, 50358, 50362 };
  lmw_decode (st, prompt, 4, 0, logits, false, &err);
  const int n_dec = 32;
  int tok = 1000;
  double t0 = now_ms (), dc0 = process_cpu_ms ();
  for (int i = 0; i < n_dec; i++) {
    lmw_decode (st, &tok, 1, 4 + i, logits, false, &err);
    tok = (tok * 7 + 13) % 50000;
  }
  double dec = (now_ms () - t0) / n_dec, dec_cpu = (process_cpu_ms () - dc0) / n_dec;
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  printf ("%.1f %.1f %.1f %.1f %.1f %.2f %.2f %ld %zu\n", enc_only, cross, enc, enc_min, enc_cpu,
          dec, dec_cpu, ru.ru_maxrss, lmw_model_weight_bytes (m));
  free (t);
  free (mel);
  free (logits);
  lmw_state_free (st);
  lmw_model_free (m);
  return 0;
}

/* --child-decoder PATH THREADS BLOCKS: the decoder alone, for profiling and for comparing two
 * builds on a busy machine: one encoder run, then BLOCKS blocks of 32 tokens (each after the
 * 4-token prompt, at positions 4 .. 35); prints the minimum and the median over the blocks of
 * the wall and CPU time per token (ms) */
static int
child_decoder (const char *path, int threads, int blocks)
{
  lmw_error err = { 0 };
  lmw_model *m = NULL;
  lmw_state *st = open_state (path, threads, &m);
  if (st == NULL)
    return 1;
  if (blocks < 1)
    blocks = 1;
  const lmw_hparams *hp = lmw_model_hparams (m);
  int Tm = 2 * hp->n_audio_ctx;
  float *mel = malloc (sizeof (float) * (size_t) hp->n_mels * Tm);
  float *logits = malloc (sizeof (float) * (size_t) hp->n_vocab);
  double *wall = malloc (sizeof (double) * 2 * (size_t) blocks), *cpu = wall + blocks;
  for (int i = 0; i < hp->n_mels * Tm; i++)
    mel[i] = frand ();
  lmw_encode (st, mel, Tm, 0, &err);
  int prompt[4] = { 50257, 50258, 50358, 50362 };
  const int n_dec = 32;
  for (int b = 0; b < blocks; b++) {
    lmw_decode (st, prompt, 4, 0, logits, false, &err);
    int tok = 1000;
    double t0 = now_ms (), c0 = process_cpu_ms ();
    for (int i = 0; i < n_dec; i++) {
      lmw_decode (st, &tok, 1, 4 + i, logits, false, &err);
      tok = (tok * 7 + 13) % 50000;
    }
    wall[b] = (now_ms () - t0) / n_dec;
    cpu[b] = (process_cpu_ms () - c0) / n_dec;
  }
  qsort (wall, (size_t) blocks, sizeof *wall, cmp_double);
  qsort (cpu, (size_t) blocks, sizeof *cpu, cmp_double);
  printf ("%.3f %.3f %.3f %.3f\n", wall[0], wall[blocks / 2], cpu[0], cpu[blocks / 2]);
  free (wall);
  free (mel);
  free (logits);
  lmw_state_free (st);
  lmw_model_free (m);
  return 0;
}

/* ---- child: whole-file real-time factor ------------------------------------------------------ */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* WAV files of dir (16 kHz) concatenated and repeated to `seconds`; synthetic if none */
static float *
long_audio (const char *dir, double seconds, size_t *n_out, int *n_files)
{
  size_t n = (size_t) (seconds * LMW_SAMPLE_RATE);
  float *out = calloc (n, sizeof (float));
  size_t have = 0;
  char *names[256];
  int nn = 0;
  DIR *d = dir ? opendir (dir) : NULL;
  struct dirent *e;
  while (d && (e = readdir (d)) != NULL && nn < 256) {
    size_t l = strlen (e->d_name);
    if (l > 4 && strcmp (e->d_name + l - 4, ".wav") == 0)
      names[nn++] = strdup (e->d_name);
  }
  if (d)
    closedir (d);
  qsort (names, (size_t) nn, sizeof names[0], cmp_str);
  *n_files = 0;
  float *clips[256];
  size_t lens[256];
  int nc = 0;
  for (int i = 0; i < nn; i++) {
    char path[4300];
    lmw_error err = { 0 };
    snprintf (path, sizeof path, "%s/%s", dir, names[i]);
    if (lmw_wav_read (path, &clips[nc], &lens[nc], &err) == 0 && lens[nc] > 0)
      nc++;
    free (names[i]);
  }
  *n_files = nc;
  if (nc > 0) {
    for (int i = 0; have < n; i = (i + 1) % nc) {
      size_t take = lens[i] < n - have ? lens[i] : n - have;
      memcpy (out + have, clips[i], take * sizeof (float));
      have += take;
    }
  } else { /* syllables of 80-250 ms on a 100-220 Hz voice with harmonics, pauses between */
    double phase = 0.0;
    for (size_t i = 0; i < n;) {
      size_t syl = (size_t) (LMW_SAMPLE_RATE * (0.08 + 0.17 * (frand () + 1.0) / 2.0));
      double f0 = 100.0 + 60.0 * (frand () + 1.0);
      for (size_t k = 0; k < syl && i < n; k++, i++) {
        double env = sin (M_PI * (double) k / (double) syl);
        phase += 2.0 * M_PI * f0 / LMW_SAMPLE_RATE;
        double v = 0.0;
        for (int h = 1; h <= 8; h++)
          v += sin (h * phase) / h;
        out[i] = (float) (0.15 * env * v + 0.005 * frand ());
      }
      size_t gap = frand () > 0.6f ? (size_t) (LMW_SAMPLE_RATE * 0.4) : (size_t) (LMW_SAMPLE_RATE * 0.04);
      for (size_t k = 0; k < gap && i < n; k++, i++)
        out[i] = 0.005f * frand ();
    }
  }
  for (int i = 0; i < nc; i++)
    free (clips[i]);
  *n_out = n;
  return out;
}

static int
child_whole (const char *path, int threads, double seconds, int beam, int max_tokens, const char *audio_dir)
{
  lmw_error err = { 0 };
  lmw_model *m = NULL;
  lmw_state *st = open_state (path, threads, &m);
  if (st == NULL)
    return 1;
  size_t n = 0;
  int n_files = 0;
  float *pcm = long_audio (audio_dir, seconds, &n, &n_files);
  lmw_params p = lmw_default_params ();
  p.n_threads = threads;
  p.timestamps = true;
  p.beam_size = beam;
  p.max_tokens = max_tokens;
  p.temperature_inc = 0.0f;
  lmw_result r;
  double t0 = now_ms ();
  int rc = lmw_transcribe (st, &p, pcm, n, &r, &err);
  double ms = now_ms () - t0;
  if (rc != 0) {
    fprintf (stderr, "lmw-bench: %s\n", err.message);
  } else {
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    printf ("%.1f %d %d %d %zu %.1f %ld %d\n", ms, r.n_windows, r.n_segments, r.n_decoded,
            r.kv_copy_bytes, r.kv_copy_ms, ru.ru_maxrss, n_files);
    lmw_result_clear (&r);
  }
  free (pcm);
  lmw_state_free (st);
  lmw_model_free (m);
  return rc != 0;
}


/* ---- --beam-step: one beam-search step, beam by beam or batched ----------------------------- */

static int
bench_beam_step (const char *path, const char *model_name, const char *type_name, int threads,
                 int reps, int position, char **beams, int nb)
{
  lmw_error err = { 0 };
  lmw_model *m = NULL;
  lmw_state *st = open_state (path, threads, &m);
  if (st == NULL)
    return 1;
  float *own_k = st->self_k, *own_v = st->self_v;
  const lmw_hparams *hp = lmw_model_hparams (m);
  int Tm = 2 * hp->n_audio_ctx, nv = hp->n_vocab;
  size_t per = (size_t) hp->n_text_layer * hp->n_text_ctx * hp->n_text_state;
  if (position < 1 || position >= hp->n_text_ctx)
    position = 64;
  float *mel = malloc (sizeof (float) * (size_t) hp->n_mels * Tm);
  float *logits = malloc (sizeof (float) * (size_t) LMW_MAX_BEAM * nv);
  int *prompt = malloc (sizeof (int) * (size_t) position);
  float *ck[LMW_MAX_BEAM] = { 0 }, *cv[LMW_MAX_BEAM] = { 0 };
  double *ts = malloc (sizeof (double) * (size_t) reps), *tb = malloc (sizeof (double) * (size_t) reps);
  int rc = 1;
  for (int i = 0; i < hp->n_mels * Tm; i++)
    mel[i] = frand ();
  for (int i = 0; i < position; i++)
    prompt[i] = (1000 + 37 * i) % 50000;
  if (lmw_encode (st, mel, Tm, 0, &err) != 0 ||
      lmw_decode (st, prompt, position, 0, NULL, false, &err) != 0)
    goto out;
  for (int b = 0; b < LMW_MAX_BEAM; b++) { /* every beam's cache: the same history */
    ck[b] = malloc (sizeof (float) * per);
    cv[b] = malloc (sizeof (float) * per);
    if (ck[b] == NULL || cv[b] == NULL)
      goto out;
    memcpy (ck[b], st->self_k, sizeof (float) * per);
    memcpy (cv[b], st->self_v, sizeof (float) * per);
  }
  for (int i = 0; i < nb; i++) {
    int B = atoi (beams[i]);
    if (B < 1 || B > LMW_MAX_BEAM)
      continue;
    int tok[LMW_MAX_BEAM];
    for (int b = 0; b < B; b++)
      tok[b] = 220 + 101 * b;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
      double t0 = now_ms ();
      for (int b = 0; b < B; b++) {
        st->self_k = ck[b];
        st->self_v = cv[b];
        st->n_cached = position;
        if (lmw_decode (st, &tok[b], 1, position, logits + (size_t) b * nv, false, &err) != 0)
          goto out;
      }
      double t1 = now_ms ();
      st->self_k = own_k;
      st->self_v = own_v;
      if (lmw_decode_batch (st, tok, B, position, ck, cv, logits, &err) != 0)
        goto out;
      double t2 = now_ms ();
      if (r >= 0) {
        ts[r] = t1 - t0;
        tb[r] = t2 - t1;
      }
    }
    qsort (ts, (size_t) reps, sizeof *ts, cmp_double);
    qsort (tb, (size_t) reps, sizeof *tb, cmp_double);
    printf ("| %s | %s | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", model_name, type_name,
            threads, B, position, ts[reps / 2], ts[0], tb[reps / 2], tb[0], ts[reps / 2] / tb[reps / 2]);
    fflush (stdout);
  }
  rc = 0;
out:
  if (rc != 0)
    fprintf (stderr, "lmw-bench: %s\n", err.message);
  st->self_k = own_k; /* the state frees its own cache */
  st->self_v = own_v;
  for (int b = 0; b < LMW_MAX_BEAM; b++) {
    free (ck[b]);
    free (cv[b]);
  }
  free (ts);
  free (tb);
  free (prompt);
  free (mel);
  free (logits);
  lmw_state_free (st);
  lmw_model_free (m);
  return rc;
}

/* ---- --ops: the encoder's operations one by one ------------------------------------------- */


static void
fill_rand (float *x, size_t n, float scale)
{
  for (size_t i = 0; i < n; i++)
    x[i] = frand () * scale;
}

/* a (rows, cols) weight of `type` with random values */
static void *
make_bench_weight (lmw_weight *w, lmw_type type, int rows, int cols)
{
  w->type = type;
  w->rows = rows;
  w->cols = cols;
  w->row_bytes = lmw_type_row_bytes (type, cols);
  uint8_t *data = malloc (w->row_bytes * (size_t) rows);
  if (data == NULL)
    return NULL;
  for (size_t r = 0; r < (size_t) rows; r++) {
    uint8_t *row = data + r * w->row_bytes;
    if (type == LMW_TYPE_F16)
      for (int c = 0; c < cols; c++) {
        uint16_t h = lmw_fp32_to_fp16 (frand () * 0.05f);
        memcpy (row + 2 * c, &h, 2);
      }
    else /* q8_0 */
      for (int b = 0; b < cols / 32; b++) {
        uint16_t h = lmw_fp32_to_fp16 (0.05f / 127.0f);
        memcpy (row + 34 * b, &h, 2);
        for (int j = 0; j < 32; j++)
          row[34 * b + 2 + j] = (uint8_t) (int8_t) (frand () * 127.0f);
      }
  }
  w->data = data;
  return data;
}

typedef struct {
  const char *name;
  double flop;
  double best_ms, cpu_ms;
} op_row;

#define OP_REPS_TIMED(row, reps, stmt)                                                        \
  do {                                                                                        \
    (row).best_ms = 1e30;                                                                     \
    for (int r_ = 0; r_ < (reps); r_++) {                                                     \
      double c0_ = process_cpu_ms (), t0_ = now_ms ();                                         \
      stmt;                                                                                   \
      double dt_ = now_ms () - t0_;                                                           \
      if (dt_ < (row).best_ms) {                                                              \
        (row).best_ms = dt_;                                                                  \
        (row).cpu_ms = process_cpu_ms () - c0_;                                                \
      }                                                                                       \
    }                                                                                         \
  } while (0)

/* times each operation of one encoder layer of `s` (T = 1500) and the conv stem; min of reps */
static int
bench_ops (const shape *s, lmw_type type, int threads, int reps)
{
  const lmw_backend_ops *ops = lmw_backend_cpu ();
  char msg[256];
  void *be = ops->create (threads, msg, sizeof msg);
  if (be == NULL) {
    fprintf (stderr, "lmw-bench: %s\n", msg);
    return 1;
  }
  const int T = 1500, C = s->state, H = s->heads;
  float *x = malloc (sizeof (float) * (size_t) 2 * T * 4 * C);
  float *y = malloc (sizeof (float) * (size_t) 2 * T * 4 * C);
  /* 64-byte aligned, as the engine allocates its activations */
  float *q = aligned_alloc (64, sizeof (float) * (size_t) T * C);
  float *k = aligned_alloc (64, sizeof (float) * (size_t) T * C);
  float *v = aligned_alloc (64, sizeof (float) * (size_t) T * C);
  float *g = malloc (sizeof (float) * (size_t) 4 * C);
  float *b = malloc (sizeof (float) * (size_t) 4 * C);
  lmw_weight wqkv, wup, wdown, wc1, wc2;
  void *d1 = make_bench_weight (&wqkv, type, C, C);
  void *d2 = make_bench_weight (&wup, type, 4 * C, C);
  void *d3 = make_bench_weight (&wdown, type, C, 4 * C);
  void *d4 = make_bench_weight (&wc1, LMW_TYPE_F16, C, 80 * 3);
  void *d5 = make_bench_weight (&wc2, LMW_TYPE_F16, C, C * 3);
  if (!x || !y || !q || !k || !v || !g || !b || !d1 || !d2 || !d3 || !d4 || !d5) {
    fprintf (stderr, "lmw-bench: out of memory\n");
    return 1;
  }
  fill_rand (x, (size_t) 2 * T * 4 * C, 1.0f);
  fill_rand (q, (size_t) T * C, 1.0f);
  fill_rand (k, (size_t) T * C, 1.0f);
  fill_rand (v, (size_t) T * C, 1.0f);
  fill_rand (b, (size_t) 4 * C, 0.1f);
  for (int i = 0; i < 4 * C; i++)
    g[i] = 1.0f;
  double mm = 2.0 * T * C * C;
  op_row rows[] = {
    { "matmul q/k/v/o (1500 x C x C)", mm, 0, 0 },
    { "matmul mlp.0 (1500 x 4C x C)", 4 * mm, 0, 0 },
    { "matmul mlp.2 (1500 x C x 4C)", 4 * mm, 0, 0 },
    { "attention (1500 x 1500, H heads)", 4.0 * T * T * C, 0, 0 },
    { "layernorm (1500 x C)", 0, 0, 0 },
    { "gelu (1500 x 4C)", 0, 0, 0 },
    { "add (1500 x C)", 0, 0, 0 },
    { "conv1 (80 -> C, 3000 steps)", 2.0 * 2 * T * C * 80 * 3, 0, 0 },
    { "conv2 (C -> C, stride 2)", 2.0 * T * C * C * 3, 0, 0 },
  };
  /* one untimed pass warms the caches and the pool */
  ops->matmul (be, y, 4 * C, x, C, &wup, b, T);
  OP_REPS_TIMED (rows[0], reps, ops->matmul (be, y, C, x, C, &wqkv, b, T));
  OP_REPS_TIMED (rows[1], reps, ops->matmul (be, y, 4 * C, x, C, &wup, b, T));
  OP_REPS_TIMED (rows[2], reps, ops->matmul (be, y, C, x, 4 * C, &wdown, b, T));
  OP_REPS_TIMED (rows[3], reps, ops->attention (be, y, C, q, C, k, C, v, C, T, T, H, C / H, -1));
  OP_REPS_TIMED (rows[4], reps, ops->layernorm (be, y, x, g, b, T, C, 1e-5f));
  OP_REPS_TIMED (rows[5], reps, ops->gelu (be, y, (size_t) T * 4 * C));
  OP_REPS_TIMED (rows[6], reps, ops->add (be, y, x, (size_t) T * C));
  OP_REPS_TIMED (rows[7], reps, ops->conv1d_k3 (be, y, x, (size_t) 2 * T, 1, &wc1, b, 2 * T, 80, 1));
  OP_REPS_TIMED (rows[8], reps, ops->conv1d_k3 (be, y, x, 1, (size_t) C, &wc2, b, 2 * T, C, 2));
  /* per layer: 4 q/k/v/o products, 2 layernorms, 2 adds */
  const int per_layer[] = { 4, 1, 1, 1, 2, 1, 2, 0, 0 };
  double layer_ms = 0;
  printf ("\n%s %s, %d thread%s (min of %d runs)\n\n", s->name, lmw_type_name (type), threads,
          threads > 1 ? "s" : "", reps);
  printf ("| operation | ms | GFLOP/s | CPU ms (all threads) | per layer |\n|---|---|---|---|---|\n");
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    layer_ms += per_layer[i] * rows[i].best_ms;
    if (rows[i].flop > 0)
      printf ("| %s | %.2f | %.1f | %.2f | x%d |\n", rows[i].name, rows[i].best_ms,
              rows[i].flop / rows[i].best_ms / 1e6, rows[i].cpu_ms, per_layer[i]);
    else
      printf ("| %s | %.2f | | %.2f | x%d |\n", rows[i].name, rows[i].best_ms, rows[i].cpu_ms,
              per_layer[i]);
  }
  printf ("\none layer: %.1f ms; %d layers + conv stem: %.1f ms (without the cross K/V)\n",
          layer_ms, s->layers, layer_ms * s->layers + rows[7].best_ms + rows[8].best_ms);
  ops->destroy (be);
  free (x); free (y); free (q); free (k); free (v); free (g); free (b);
  free (d1); free (d2); free (d3); free (d4); free (d5);
  return 0;
}


/* ---- --peak: the FMA ceiling of this CPU --------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <pthread.h>

#define PEAK_ITERS 50000000L

/* 12 independent chains of fused multiply-adds: enough to cover the latency of both FMA pipes */
__attribute__ ((target ("avx2,fma"))) static float
fma_loop_ymm (long iters)
{
  __m256 b = _mm256_set1_ps (0.999f), c = _mm256_set1_ps (0.001f);
  __m256 a0 = _mm256_set1_ps (0), a1 = _mm256_set1_ps (1), a2 = _mm256_set1_ps (2),
         a3 = _mm256_set1_ps (3), a4 = _mm256_set1_ps (4), a5 = _mm256_set1_ps (5),
         a6 = _mm256_set1_ps (6), a7 = _mm256_set1_ps (7), a8 = _mm256_set1_ps (8),
         a9 = _mm256_set1_ps (9), a10 = _mm256_set1_ps (10), a11 = _mm256_set1_ps (11);
  for (long i = 0; i < iters; i++) {
    a0 = _mm256_fmadd_ps (a0, b, c); a1 = _mm256_fmadd_ps (a1, b, c);
    a2 = _mm256_fmadd_ps (a2, b, c); a3 = _mm256_fmadd_ps (a3, b, c);
    a4 = _mm256_fmadd_ps (a4, b, c); a5 = _mm256_fmadd_ps (a5, b, c);
    a6 = _mm256_fmadd_ps (a6, b, c); a7 = _mm256_fmadd_ps (a7, b, c);
    a8 = _mm256_fmadd_ps (a8, b, c); a9 = _mm256_fmadd_ps (a9, b, c);
    a10 = _mm256_fmadd_ps (a10, b, c); a11 = _mm256_fmadd_ps (a11, b, c);
  }
  __m256 s = _mm256_add_ps (_mm256_add_ps (_mm256_add_ps (a0, a1), _mm256_add_ps (a2, a3)),
                            _mm256_add_ps (_mm256_add_ps (a4, a5), _mm256_add_ps (a6, a7)));
  s = _mm256_add_ps (s, _mm256_add_ps (_mm256_add_ps (a8, a9), _mm256_add_ps (a10, a11)));
  return _mm256_cvtss_f32 (s);
}

__attribute__ ((target ("avx512f"))) static float
fma_loop_zmm (long iters)
{
  __m512 b = _mm512_set1_ps (0.999f), c = _mm512_set1_ps (0.001f);
  __m512 a0 = _mm512_set1_ps (0), a1 = _mm512_set1_ps (1), a2 = _mm512_set1_ps (2),
         a3 = _mm512_set1_ps (3), a4 = _mm512_set1_ps (4), a5 = _mm512_set1_ps (5),
         a6 = _mm512_set1_ps (6), a7 = _mm512_set1_ps (7), a8 = _mm512_set1_ps (8),
         a9 = _mm512_set1_ps (9), a10 = _mm512_set1_ps (10), a11 = _mm512_set1_ps (11);
  for (long i = 0; i < iters; i++) {
    a0 = _mm512_fmadd_ps (a0, b, c); a1 = _mm512_fmadd_ps (a1, b, c);
    a2 = _mm512_fmadd_ps (a2, b, c); a3 = _mm512_fmadd_ps (a3, b, c);
    a4 = _mm512_fmadd_ps (a4, b, c); a5 = _mm512_fmadd_ps (a5, b, c);
    a6 = _mm512_fmadd_ps (a6, b, c); a7 = _mm512_fmadd_ps (a7, b, c);
    a8 = _mm512_fmadd_ps (a8, b, c); a9 = _mm512_fmadd_ps (a9, b, c);
    a10 = _mm512_fmadd_ps (a10, b, c); a11 = _mm512_fmadd_ps (a11, b, c);
  }
  __m512 s = _mm512_add_ps (_mm512_add_ps (_mm512_add_ps (a0, a1), _mm512_add_ps (a2, a3)),
                            _mm512_add_ps (_mm512_add_ps (a4, a5), _mm512_add_ps (a6, a7)));
  s = _mm512_add_ps (s, _mm512_add_ps (_mm512_add_ps (a8, a9), _mm512_add_ps (a10, a11)));
  return _mm512_reduce_add_ps (s);
}

static volatile float peak_sink;

static void *
peak_thread (void *p)
{
  int zmm = *(int *) p;
  peak_sink = zmm ? fma_loop_zmm (PEAK_ITERS) : fma_loop_ymm (PEAK_ITERS);
  return NULL;
}

/* GFLOP/s of the FMA loops on 1 .. n threads, best of reps */
static void
bench_peak (char **threads, int nth, int reps)
{
  printf ("| instructions | threads | GFLOP/s (best of %d) |\n|---|---|---|\n", reps);
  for (int zmm = 0; zmm < 2; zmm++) {
    if (zmm ? !__builtin_cpu_supports ("avx512f") : !__builtin_cpu_supports ("fma"))
      continue;
    for (int k = 0; k < nth; k++) {
      int n = atoi (threads[k]);
      if (n < 1 || n > 64)
        continue;
      double best = 0;
      for (int r = 0; r < reps; r++) {
        pthread_t th[64];
        double t0 = now_ms ();
        int started = 0;
        for (int i = 0; i < n; i++)
          started += pthread_create (&th[i], NULL, peak_thread, &zmm) == 0;
        for (int i = 0; i < started; i++)
          pthread_join (th[i], NULL);
        double flop = 2.0 * PEAK_ITERS * 12 * (zmm ? 16 : 8) * started;
        double g = flop / (now_ms () - t0) / 1e6;
        best = g > best ? g : best;
      }
      printf ("| %s FMA | %d | %.1f |\n", zmm ? "AVX-512 (zmm)" : "AVX2 (ymm)", n, best);
    }
  }
}
#else
static void
bench_peak (char **threads, int nth, int reps)
{
  (void) threads;
  (void) nth;
  (void) reps;
  printf ("--peak: x86-64 only\n");
}
#endif

/* ---- parent -------------------------------------------------------------------------------- */

static int
split_list (char *s, char **out, int max)
{
  int n = 0;
  for (char *tok = strtok (s, ","); tok && n < max; tok = strtok (NULL, ","))
    out[n++] = tok;
  return n;
}

/* path = DIR/MODEL-TYPE.bin, written unless present: f16 by write_model, a quantised type from
 * the f16 file by lmw_quantize_file; 0 or -1 */
static int
ensure_model (char *path, size_t path_len, const char *dir, const shape *s, const char *type)
{
  struct stat st;
  snprintf (path, path_len, "%s/%s-%s.bin", dir, s->name, type);
  if (stat (path, &st) == 0)
    return 0;
  if (strcmp (type, "f16") == 0)
    return write_model (path, s, LMW_TYPE_F16);
  lmw_type qt;
  if (!lmw_quantize_type_from_name (type, &qt)) {
    fprintf (stderr, "lmw-bench: unknown type %s\n", type);
    return -1;
  }
  char f16[4200];
  if (ensure_model (f16, sizeof f16, dir, s, "f16") != 0)
    return -1;
  lmw_error err = { 0 };
  if (lmw_quantize_file (f16, path, qt, &err) != 0) {
    fprintf (stderr, "lmw-bench: quantize %s: %s\n", type, err.message);
    return -1;
  }
  return 0;
}

typedef struct {
  double enc, enc_cpu, dec, dec_cpu, wmb;
  bool ok;
} round_result;

/* min and median of the ok results' field at offset off */
static void
min_median (const round_result *r, int n, size_t off, double *mn, double *med)
{
  double v[64];
  int k = 0;
  for (int i = 0; i < n && k < 64; i++)
    if (r[i].ok)
      v[k++] = *(const double *) ((const char *) &r[i] + off);
  if (k == 0) {
    *mn = *med = NAN;
    return;
  }
  qsort (v, (size_t) k, sizeof v[0], cmp_double);
  *mn = v[0];
  *med = k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

/* --rounds: every (model, threads, type) child once per round, in turn */
static int
bench_rounds (const char *self, const char *dir, char **models, int nm, char **types, int nt,
              char **threads, int nth, int reps, int rounds)
{
  if (rounds > 64)
    rounds = 64;
  if (nt > 8)
    nt = 8;
  round_result *res = calloc ((size_t) nm * nth * nt * rounds, sizeof *res);
  const shape *sh[8] = { 0 };
  if (res == NULL)
    return 1;
  for (int i = 0; i < nm; i++) {
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
      if (strcmp (shapes[k].name, models[i]) == 0)
        sh[i] = &shapes[k];
    char path[4200];
    for (int j = 0; sh[i] != NULL && j < nt; j++)
      if (ensure_model (path, sizeof path, dir, sh[i], types[j]) != 0)
        return 1;
  }
#define RES(i, k, j, r) res[(((size_t) (i) * nth + (k)) * nt + (j)) * rounds + (r)]
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < nm; i++)
      for (int k = 0; sh[i] != NULL && k < nth; k++)
        for (int j = 0; j < nt; j++) {
          char path[4200], cmd[8600];
          ensure_model (path, sizeof path, dir, sh[i], types[j]);
          snprintf (cmd, sizeof cmd, "'%s' --child '%s' %d %d", self, path, atoi (threads[k]), reps);
          FILE *p = popen (cmd, "r");
          double enc_only, cross, enc, enc_min, enc_cpu, dec, dec_cpu;
          long rss;
          size_t wbytes;
          round_result *o = &RES (i, k, j, r);
          o->ok = p && fscanf (p, "%lf %lf %lf %lf %lf %lf %lf %ld %zu", &enc_only, &cross, &enc,
                               &enc_min, &enc_cpu, &dec, &dec_cpu, &rss, &wbytes) == 9;
          if (p)
            pclose (p);
          o->enc = enc;
          o->enc_cpu = enc_cpu;
          o->dec = dec;
          o->dec_cpu = dec_cpu;
          o->wmb = wbytes / 1048576.0;
          fprintf (stderr, "round %d/%d: %s %s %s threads: %s\n", r + 1, rounds, models[i], types[j],
                   threads[k], o->ok ? "ok" : "failed");
        }
  printf ("| model | threads | type | encoder + cross K/V, min / median (ms) | vs f16 | CPU of the "
          "min encoder run, min / median (ms) | vs f16 | decoder, min / median (ms/token) | vs f16 "
          "| decoder CPU, min / median (ms/token) | vs f16 | weights (MB) |\n");
  printf ("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < nm; i++)
    for (int k = 0; sh[i] != NULL && k < nth; k++) {
      int f16 = -1;
      for (int j = 0; j < nt; j++)
        if (strcmp (types[j], "f16") == 0)
          f16 = j;
      for (int j = 0; j < nt; j++) {
        static const size_t offs[4] = { offsetof (round_result, enc), offsetof (round_result, enc_cpu),
                                        offsetof (round_result, dec), offsetof (round_result, dec_cpu) };
        printf ("| %s | %s | %s |", models[i], threads[k], types[j]);
        for (int f = 0; f < 4; f++) {
          double mn, med, bmn = NAN, bmed = NAN;
          min_median (&RES (i, k, j, 0), rounds, offs[f], &mn, &med);
          if (f16 >= 0)
            min_median (&RES (i, k, f16, 0), rounds, offs[f], &bmn, &bmed);
          printf (f < 2 ? " %.0f / %.0f |" : " %.2f / %.2f |", mn, med);
          printf (" %.2f / %.2f |", mn / bmn, med / bmed);
        }
        printf (" %.0f |\n", RES (i, k, j, 0).wmb);
      }
    }
#undef RES
  fflush (stdout);
  free (res);
  return 0;
}

/* the modes that time one configuration (--whole-file, --beam-step) default to base, f16, 2
 * threads where the lists were not given */
static void
single_config_defaults (char *models_s, size_t models_len, char *types_s, size_t types_len,
                        char *threads_s, size_t threads_len)
{
  if (strcmp (models_s, "tiny,base,small") == 0)
    snprintf (models_s, models_len, "base");
  if (strcmp (types_s, "f16,q8_0") == 0)
    snprintf (types_s, types_len, "f16");
  if (strcmp (threads_s, "1,2") == 0)
    snprintf (threads_s, threads_len, "2");
}

int
main (int argc, char **argv)
{
  if (argc >= 5 && strcmp (argv[1], "--child") == 0)
    return child (argv[2], atoi (argv[3]), atoi (argv[4]));
  if (argc >= 5 && strcmp (argv[1], "--child-decoder") == 0)
    return child_decoder (argv[2], atoi (argv[3]), atoi (argv[4]));
  if (argc >= 8 && strcmp (argv[1], "--child-whole") == 0)
    return child_whole (argv[2], atoi (argv[3]), atof (argv[4]), atoi (argv[5]), atoi (argv[6]),
                        argv[7]);
  char models_s[256] = "tiny,base,small", types_s[64] = "f16,q8_0", threads_s[64] = "1,2";
  char beams_s[64] = "1,5";
  const char *dir_arg = NULL, *audio_dir = "/usr/share/pocketsphinx/test/data/librivox";
  int reps = 3, max_tokens = 224, position = 64;
  double whole = 0.0;
  char beam_step_s[64] = "";
  bool op_mode = false, peak_mode = false;
  int rounds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp (argv[i], "--whole-file") == 0) {
      whole = atof (argv[i + 1]);
      single_config_defaults (models_s, sizeof models_s, types_s, sizeof types_s, threads_s,
                              sizeof threads_s);
      continue;
    }
    if (strcmp (argv[i], "--beam-step") == 0) {
      snprintf (beam_step_s, sizeof beam_step_s, "%s", argv[i + 1]);
      single_config_defaults (models_s, sizeof models_s, types_s, sizeof types_s, threads_s,
                              sizeof threads_s);
      if (reps == 3)
        reps = 20;
      continue;
    }
    if (strcmp (argv[i], "--position") == 0) {
      position = atoi (argv[i + 1]);
      continue;
    }
    if (strcmp (argv[i], "--beams") == 0) {
      snprintf (beams_s, sizeof beams_s, "%s", argv[i + 1]);
      continue;
    }
    if (strcmp (argv[i], "--max-tokens") == 0) {
      max_tokens = atoi (argv[i + 1]) > 0 ? atoi (argv[i + 1]) : 224;
      continue;
    }
    if (strcmp (argv[i], "--audio-dir") == 0) {
      audio_dir = argv[i + 1];
      continue;
    }
    if (strcmp (argv[i], "--models") == 0)
      snprintf (models_s, sizeof models_s, "%s", argv[i + 1]);
    else if (strcmp (argv[i], "--types") == 0)
      snprintf (types_s, sizeof types_s, "%s", argv[i + 1]);
    else if (strcmp (argv[i], "--threads") == 0)
      snprintf (threads_s, sizeof threads_s, "%s", argv[i + 1]);
    else if (strcmp (argv[i], "--reps") == 0)
      reps = atoi (argv[i + 1]) > 0 ? atoi (argv[i + 1]) : 1;
    else if (strcmp (argv[i], "--rounds") == 0)
      rounds = atoi (argv[i + 1]) > 0 ? atoi (argv[i + 1]) : 1;
    else if (strcmp (argv[i], "--dir") == 0)
      dir_arg = argv[i + 1];
    else if (strcmp (argv[i], "--peak") == 0)
      peak_mode = strcmp (argv[i + 1], "1") == 0 || strcmp (argv[i + 1], "yes") == 0;
    else if (strcmp (argv[i], "--ops") == 0)
      op_mode = strcmp (argv[i + 1], "1") == 0 || strcmp (argv[i + 1], "yes") == 0;
  }
  char *models[8], *types[8], *threads[8];
  int nm = split_list (models_s, models, 8), nt = split_list (types_s, types, 8),
      nth = split_list (threads_s, threads, 8);
  if (peak_mode) {
    bench_peak (threads, nth, reps);
    return 0;
  }
  if (op_mode) {
    for (int i = 0; i < nm; i++)
      for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
        if (strcmp (shapes[k].name, models[i]) == 0)
          for (int j = 0; j < nt; j++) {
            if (strcmp (types[j], "f16") != 0 && strcmp (types[j], "q8_0") != 0) {
              fprintf (stderr, "lmw-bench: --ops times f16 and q8_0 weights only, not %s\n", types[j]);
              continue;
            }
            for (int th = 0; th < nth; th++)
              if (bench_ops (&shapes[k], strcmp (types[j], "q8_0") == 0 ? LMW_TYPE_Q8_0 : LMW_TYPE_F16,
                             atoi (threads[th]), reps) != 0)
                return 1;
          }
    return 0;
  }
  char tmpl[] = "/tmp/lmw-bench-XXXXXX";
  const char *dir = dir_arg ? dir_arg : mkdtemp (tmpl);
  if (dir == NULL) {
    fprintf (stderr, "lmw-bench: can't create a temporary folder: %s\n", strerror (errno));
    return 1;
  }
  char self[4096];
  ssize_t sl = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (sl <= 0) {
    fprintf (stderr, "lmw-bench: can't find own executable\n");
    return 1;
  }
  self[sl] = '\0';
  if (rounds > 0) {
    int rc = bench_rounds (self, dir, models, nm, types, nt, threads, nth, reps, rounds);
    for (int i = 0; dir_arg == NULL && i < nm; i++)
      for (int j = 0; j < nt; j++) {
        char p[4200];
        snprintf (p, sizeof p, "%s/%s-%s.bin", dir, models[i], types[j]);
        unlink (p);
      }
    if (dir_arg == NULL)
      rmdir (dir);
    return rc;
  }
  char *beams[8];
  int nb = split_list (beams_s, beams, 8);
  char *steps[8];
  int ns = beam_step_s[0] ? split_list (beam_step_s, steps, 8) : 0;
  if (ns > 0) {
    printf ("| model | type | threads | beams | position | B decodes, median (ms) | min (ms) | "
            "batched, median (ms) | min (ms) | speed-up (medians) |\n");
    printf ("|---|---|---|---|---|---|---|---|---|---|\n");
  } else if (whole > 0.0) {
    printf ("| model | type | threads | beam | audio (s) | windows | tokens decoded | time (s) | RTF | "
            "ms/token incl. encoder | beam cache copies (MB, ms) | peak RSS (MB) |\n");
    printf ("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  } else {
    printf ("| model | type | threads | encoder 30 s, median (ms) | cross K/V, median (ms) "
            "| encoder + cross K/V, median (ms) | min (ms) | CPU of the min run, all threads (ms) "
            "| decoder (ms/token) | decoder CPU (ms/token) | weights (MB) | peak RSS (MB) |\n");
    printf ("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  }
  fflush (stdout);
  for (int i = 0; i < nm; i++) {
    const shape *s = NULL;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
      if (strcmp (shapes[k].name, models[i]) == 0)
        s = &shapes[k];
    if (s == NULL) {
      fprintf (stderr, "lmw-bench: unknown model %s\n", models[i]);
      continue;
    }
    for (int j = 0; j < nt; j++) {
      char path[4200];
      if (ensure_model (path, sizeof path, dir, s, types[j]) != 0) {
        fprintf (stderr, "lmw-bench: can't write %s\n", path);
        continue;
      }
      for (int k = 0; ns > 0 && k < nth; k++)
        bench_beam_step (path, s->name, types[j], atoi (threads[k]), reps, position, steps, ns);
      for (int k = 0; ns == 0 && whole > 0.0 && k < nth; k++)
        for (int b = 0; b < nb; b++) {
          char cmd[8600];
          snprintf (cmd, sizeof cmd, "'%s' --child-whole '%s' %d %f %d %d '%s'", self, path,
                    atoi (threads[k]), whole, atoi (beams[b]), max_tokens, audio_dir);
          FILE *p = popen (cmd, "r");
          double ms = 0, copy_ms = 0;
          int windows = 0, segs = 0, decoded = 0, files = 0;
          size_t copied = 0;
          long rss = 0;
          int ok = p && fscanf (p, "%lf %d %d %d %zu %lf %ld %d", &ms, &windows, &segs, &decoded,
                                &copied, &copy_ms, &rss, &files) == 8;
          if (p)
            pclose (p);
          if (!ok) {
            printf ("| %s | %s | %s | %s | failed | | | | | | | |\n", s->name, types[j], threads[k], beams[b]);
            continue;
          }
          printf ("| %s | %s | %s | %s | %.0f (%s) | %d | %d | %.1f | %.3f | %.1f | %.0f, %.0f | %.0f |\n",
                  s->name, types[j], threads[k], beams[b], whole, files > 0 ? "recordings" : "synthetic",
                  windows, decoded, ms / 1e3, ms / 1e3 / whole, decoded > 0 ? ms / decoded : 0.0,
                  copied / 1048576.0, copy_ms, rss / 1024.0);
          fflush (stdout);
        }
      for (int k = 0; ns == 0 && whole <= 0.0 && k < nth; k++) {
        char cmd[8600];
        snprintf (cmd, sizeof cmd, "'%s' --child '%s' %d %d", self, path, atoi (threads[k]), reps);
        FILE *p = popen (cmd, "r");
        double enc_only = 0, cross = 0, enc = 0, enc_min = 0, enc_cpu = 0, dec = 0, dec_cpu = 0;
        long rss = 0;
        size_t wbytes = 0;
        int ok = p && fscanf (p, "%lf %lf %lf %lf %lf %lf %lf %ld %zu", &enc_only, &cross, &enc,
                              &enc_min, &enc_cpu, &dec, &dec_cpu, &rss, &wbytes) == 9;
        if (p)
          pclose (p);
        if (!ok) {
          printf ("| %s | %s | %s | failed | | | | | | | | |\n", s->name, types[j], threads[k]);
          continue;
        }
        printf ("| %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.0f | %.0f |\n",
                s->name, types[j], threads[k], enc_only, cross, enc, enc_min, enc_cpu, dec, dec_cpu,
                wbytes / 1048576.0, rss / 1024.0);
        fflush (stdout);
      }
      if (dir_arg == NULL)
        unlink (path);
    }
  }
  if (dir_arg == NULL)
    rmdir (dir);
  return 0;
}
