/* SPDX-License-Identifier: MIT */
/*
 * lmw-bench.c — speed of the Whisper engine on model files with random weights of the real
 * shapes (the time doesn't depend on the values), in the spirit of whisper.cpp's bench.
 *
 *   lmw-bench [--models tiny,base,small] [--types f16,q8_0] [--threads 1,2] [--reps N]
 *             [--dir DIR]
 *   lmw-bench --whole-file SECONDS [--models base] [--types f16] [--threads 2]
 *             [--beams 1,5] [--max-tokens 224] [--audio-dir DIR]
 *
 * Writes each model (n_vocab 51864, 80 mels, matrices as f16 or q8_0, vectors f32) into a
 * temporary folder, then runs every (model, type, threads) configuration in its own process
 * (this program re-executed with --child) so that the peak memory (getrusage ru_maxrss) is
 * that configuration's alone.  Each child loads the model, runs the encoder on a 30 s window
 * (median of --reps runs after one warm-up) and measures the decoder per token: a 4-token
 * prompt, then 32 tokens one at a time through the KV cache.  Prints a table.
 *
 * --whole-file: the real-time factor of transcribing one long recording with lmw_transcribe
 * (timestamps on, windows following them): the WAV files of --audio-dir (default: the LibriVox
 * recordings of pocketsphinx-testdata) concatenated, repeated up to SECONDS; speech-like
 * synthetic audio (voiced harmonics with syllable and pause envelopes) when none can be read.
 * Random weights rarely emit timestamps or end-of-text, so windows usually run to the token cap
 * (--max-tokens, whisper's 224) and advance by 30 s: the time is that of the worst case of
 * real decoding.  Temperature fallback is off (random text always "fails", which would only
 * multiply the decoder time by up to 26).  One row per (model, type, threads, beam size).
 */
#include "lmw-backend.h"
#include "lmw-context.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
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
  put_i32 (f, 0); /* no text tokens: the timing doesn't read them */
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

static int
child (const char *path, int threads, int reps)
{
  lmw_error err = { 0 };
  lmw_model *m = lmw_model_load_file (path, &err);
  if (m == NULL) {
    fprintf (stderr, "lmw-bench: %s\n", err.message);
    return 1;
  }
  lmw_state *st = lmw_state_new (m, threads, &err);
  if (st == NULL) {
    fprintf (stderr, "lmw-bench: %s\n", err.message);
    lmw_model_free (m);
    return 1;
  }
  const lmw_hparams *hp = lmw_model_hparams (m);
  int Tm = 2 * hp->n_audio_ctx;
  float *mel = malloc (sizeof (float) * (size_t) hp->n_mels * Tm);
  float *logits = malloc (sizeof (float) * (size_t) hp->n_vocab);
  for (int i = 0; i < hp->n_mels * Tm; i++)
    mel[i] = frand ();
  double *t = malloc (sizeof (double) * (size_t) (reps + 1));
  lmw_encode (st, mel, Tm, 0, &err); /* warm-up */
  for (int r = 0; r < reps; r++) {
    double t0 = now_ms ();
    lmw_encode (st, mel, Tm, 0, &err);
    t[r] = now_ms () - t0;
  }
  qsort (t, (size_t) reps, sizeof *t, cmp_double);
  double enc = t[reps / 2];
  int prompt[4] = { 50257, 50258, 50358, 50362 };
  lmw_decode (st, prompt, 4, 0, logits, false, &err);
  const int n_dec = 32;
  int tok = 1000;
  double t0 = now_ms ();
  for (int i = 0; i < n_dec; i++) {
    lmw_decode (st, &tok, 1, 4 + i, logits, false, &err);
    tok = (tok * 7 + 13) % 50000;
  }
  double dec = (now_ms () - t0) / n_dec;
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  printf ("%.1f %.2f %ld %zu\n", enc, dec, ru.ru_maxrss, lmw_model_weight_bytes (m));
  free (t);
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
  lmw_model *m = lmw_model_load_file (path, &err);
  lmw_state *st = m ? lmw_state_new (m, threads, &err) : NULL;
  if (st == NULL) {
    fprintf (stderr, "lmw-bench: %s\n", err.message);
    lmw_model_free (m);
    return 1;
  }
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

/* ---- parent -------------------------------------------------------------------------------- */

static int
split_list (char *s, char **out, int max)
{
  int n = 0;
  for (char *tok = strtok (s, ","); tok && n < max; tok = strtok (NULL, ","))
    out[n++] = tok;
  return n;
}

int
main (int argc, char **argv)
{
  if (argc >= 5 && strcmp (argv[1], "--child") == 0)
    return child (argv[2], atoi (argv[3]), atoi (argv[4]));
  if (argc >= 8 && strcmp (argv[1], "--child-whole") == 0)
    return child_whole (argv[2], atoi (argv[3]), atof (argv[4]), atoi (argv[5]), atoi (argv[6]),
                        argv[7]);
  char models_s[256] = "tiny,base,small", types_s[64] = "f16,q8_0", threads_s[64] = "1,2";
  char beams_s[64] = "1,5";
  const char *dir_arg = NULL, *audio_dir = "/usr/share/pocketsphinx/test/data/librivox";
  int reps = 3, max_tokens = 224;
  double whole = 0.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp (argv[i], "--whole-file") == 0) {
      whole = atof (argv[i + 1]);
      if (strcmp (models_s, "tiny,base,small") == 0)
        snprintf (models_s, sizeof models_s, "base");
      if (strcmp (types_s, "f16,q8_0") == 0)
        snprintf (types_s, sizeof types_s, "f16");
      if (strcmp (threads_s, "1,2") == 0)
        snprintf (threads_s, sizeof threads_s, "2");
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
    else if (strcmp (argv[i], "--dir") == 0)
      dir_arg = argv[i + 1];
  }
  char *models[8], *types[4], *threads[8];
  int nm = split_list (models_s, models, 8), nt = split_list (types_s, types, 4),
      nth = split_list (threads_s, threads, 8);
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
  char *beams[8];
  int nb = split_list (beams_s, beams, 8);
  if (whole > 0.0) {
    printf ("| model | type | threads | beam | audio (s) | windows | tokens decoded | time (s) | RTF | "
            "ms/token incl. encoder | beam cache copies (MB, ms) | peak RSS (MB) |\n");
    printf ("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  } else {
    printf ("| model | type | threads | encoder 30 s (ms) | decoder (ms/token) | weights (MB) | peak RSS (MB) |\n");
    printf ("|---|---|---|---|---|---|---|\n");
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
      int wtype = strcmp (types[j], "q8_0") == 0 ? LMW_TYPE_Q8_0 : LMW_TYPE_F16;
      char path[4200];
      snprintf (path, sizeof path, "%s/%s-%s.bin", dir, s->name, types[j]);
      struct stat stbuf;
      if (stat (path, &stbuf) != 0 && write_model (path, s, wtype) != 0) {
        fprintf (stderr, "lmw-bench: can't write %s\n", path);
        continue;
      }
      for (int k = 0; whole > 0.0 && k < nth; k++)
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
      for (int k = 0; whole <= 0.0 && k < nth; k++) {
        char cmd[8600];
        snprintf (cmd, sizeof cmd, "'%s' --child '%s' %d %d", self, path, atoi (threads[k]), reps);
        FILE *p = popen (cmd, "r");
        double enc = 0, dec = 0;
        long rss = 0;
        size_t wbytes = 0;
        int ok = p && fscanf (p, "%lf %lf %ld %zu", &enc, &dec, &rss, &wbytes) == 4;
        if (p)
          pclose (p);
        if (!ok) {
          printf ("| %s | %s | %s | failed | | | |\n", s->name, types[j], threads[k]);
          continue;
        }
        printf ("| %s | %s | %s | %.0f | %.2f | %.0f | %.0f |\n", s->name, types[j], threads[k],
                enc, dec, wbytes / 1048576.0, rss / 1024.0);
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
