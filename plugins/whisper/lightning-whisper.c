/* SPDX-License-Identifier: MIT */
/*
 * lightning-whisper.c — command-line front end of the Whisper-architecture engine.
 *
 *   lightning-whisper --model M --audio A.wav [--threads N] [--language xx|auto]
 *                     [--translate] [--timestamps] [--beam-size N] [--best-of N]
 *                     [--temperature-inc T] [--logprob-threshold L] [--no-speech-threshold P]
 *                     [--compression-threshold R] [--max-tokens N] [--min-tokens N] [--seed S]
 *                     [--offset-ms MS] [--duration-ms MS] [--word-timestamps] [--stats]
 *                     [--prompt TEXT] [--no-context] [--backend auto|cpu|cuda|cuda-emu]
 *       prints the transcript (30-second windows; greedy unless --beam-size > 1, temperature
 *       fallback unless --temperature-inc 0), one line per segment ("[t0 --> t1] text" with
 *       --timestamps), each word with its times and probability with --word-timestamps, and
 *       the window / fallback / skipped counts on stderr with --stats; --prompt gives text
 *       that precedes the audio, --no-context decodes each window without the text before it;
 *       --backend chooses the compute backend (auto: cuda where a driver and a device are
 *       present, else cpu; cuda-emu: the CUDA backend's code run on the CPU), on the GPU whose
 *       number the environment variable GPU_DEVICE_ID gives (0); --stats also names the
 *       backend, its device and, when auto passed cuda over, why
 *   lightning-whisper --model M --audio A.wav --tokens a,b,c --dump DIR [--threads N]
 *       writes DIR/mel.f32 (n_mels, 3000), DIR/encoder_out.f32 (n_audio_ctx, n_audio_state)
 *       and DIR/logits.f32 (len(tokens), n_vocab) of the first window, raw little-endian f32,
 *       the layout of the reference fixtures
 *   lightning-whisper quantize IN OUT TYPE
 *       writes OUT: the f16/f32 ggml model IN with its weight matrices quantised to TYPE
 *       (q8_0, q5_0, q5_1, q4_0, q4_1), everything else copied; IN is checked by the model
 *       loader first and refused (exit 1, nothing written) when truncated, corrupt or already
 *       quantised
 *
 * Exit status: 0 on success, 1 on a runtime error, 2 on a usage error.
 */
#include "lmw-backend.h"
#include "lmw-context.h"
#include "lmw-quantize.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: lightning-whisper --model MODEL --audio FILE.wav [--threads N]\n"
           "                         [--language CODE|auto] [--translate] [--timestamps]\n"
           "                         [--beam-size N] [--best-of N] [--temperature-inc T]\n"
           "                         [--logprob-threshold L] [--no-speech-threshold P]\n"
           "                         [--compression-threshold R] [--max-tokens N] [--min-tokens N] [--seed S]\n"
           "                         [--offset-ms MS] [--duration-ms MS]\n"
           "                         [--word-timestamps] [--stats] [--prompt TEXT] [--no-context]\n"
           "                         [--backend auto|cpu|cuda|cuda-emu]\n"
           "       lightning-whisper --model MODEL --audio FILE.wav --tokens A,B,C --dump DIR\n"
           "       lightning-whisper quantize IN OUT q8_0|q5_0|q5_1|q4_0|q4_1\n");
}

/* a number in [lo, hi] from s, or false */
static bool
parse_num (const char *s, double lo, double hi, double *out)
{
  char *end;
  errno = 0;
  double v = strtod (s, &end);
  if (end == s || *end != '\0' || errno != 0 || !(v >= lo && v <= hi))
    return false;
  *out = v;
  return true;
}

static int
write_f32 (const char *dir, const char *name, const float *data, size_t n)
{
  char path[4096];
  snprintf (path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen (path, "wb");
  if (f == NULL) {
    fprintf (stderr, "lightning-whisper: can't write %s: %s\n", path, strerror (errno));
    return -1;
  }
  size_t w = fwrite (data, sizeof (float), n, f);
  if (fclose (f) != 0 || w != n) {
    fprintf (stderr, "lightning-whisper: error writing %s\n", path);
    return -1;
  }
  return 0;
}

static int
parse_tokens (const char *s, int **out, int *n)
{
  int cap = 16, cnt = 0;
  int *v = malloc (sizeof (int) * (size_t) cap);
  if (v == NULL)
    return -1;
  while (*s) {
    char *end;
    errno = 0;
    long t = strtol (s, &end, 10);
    if (end == s || errno != 0 || t < 0 || t > 1000000 || (*end != ',' && *end != '\0')) {
      free (v);
      return -1;
    }
    if (cnt == cap) {
      cap *= 2;
      int *nv = realloc (v, sizeof (int) * (size_t) cap);
      if (nv == NULL) {
        free (v);
        return -1;
      }
      v = nv;
    }
    v[cnt++] = (int) t;
    s = *end ? end + 1 : end;
  }
  if (cnt == 0) {
    free (v);
    return -1;
  }
  *out = v;
  *n = cnt;
  return 0;
}

static int
run_dump (lmw_model *model, lmw_state *st, const float *pcm, size_t n_samples, int n_threads,
          const int *tokens, int n_tokens, const char *dir)
{
  const lmw_hparams *hp = lmw_model_hparams (model);
  lmw_error err = { 0 };
  float *mel = NULL, *logits = NULL, *win = NULL;
  int n_frames = 0, rc = 1;
  int Tm = 2 * hp->n_audio_ctx;
  if (lmw_mel_compute (model, pcm, n_samples, n_threads, &mel, &n_frames, &err) != 0)
    goto fail;
  win = calloc ((size_t) hp->n_mels * Tm, sizeof (float));
  logits = malloc (sizeof (float) * (size_t) n_tokens * hp->n_vocab);
  if (win == NULL || logits == NULL) {
    snprintf (err.message, sizeof err.message, "out of memory");
    goto fail;
  }
  for (int c = 0; c < hp->n_mels; c++)
    memcpy (win + (size_t) c * Tm, mel + (size_t) c * n_frames,
            sizeof (float) * (size_t) (n_frames < Tm ? n_frames : Tm));
  if (lmw_encode (st, mel, n_frames, 0, &err) != 0 ||
      lmw_decode (st, tokens, n_tokens, 0, logits, true, &err) != 0)
    goto fail;
  if (write_f32 (dir, "mel.f32", win, (size_t) hp->n_mels * Tm) != 0 ||
      write_f32 (dir, "encoder_out.f32", lmw_state_encoder_output (st),
                 (size_t) hp->n_audio_ctx * hp->n_audio_state) != 0 ||
      write_f32 (dir, "logits.f32", logits, (size_t) n_tokens * hp->n_vocab) != 0)
    goto out;
  rc = 0;
  goto out;
fail:
  fprintf (stderr, "lightning-whisper: %s\n", err.message);
out:
  free (mel);
  free (win);
  free (logits);
  return rc;
}

/* lightning-whisper quantize IN OUT TYPE */
static int
run_quantize (int argc, char **argv)
{
  lmw_type type;
  if (argc != 5) {
    usage (stderr);
    return 2;
  }
  if (!lmw_quantize_type_from_name (argv[4], &type)) {
    fprintf (stderr, "lightning-whisper quantize: unknown type '%s' (q8_0, q5_0, q5_1, q4_0, q4_1)\n",
             argv[4]);
    return 2;
  }
  lmw_error err = { 0 };
  if (lmw_quantize_file (argv[2], argv[3], type, &err) != 0) {
    fprintf (stderr, "lightning-whisper quantize: %s\n", err.message);
    return 1;
  }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "quantize") == 0)
    return run_quantize (argc, argv);
  const char *model_path = NULL, *audio_path = NULL, *tokens_arg = NULL, *dump_dir = NULL;
  lmw_params params = lmw_default_params ();
  bool stats = false;
  const char *backend = "auto";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp (a, "--help") == 0 || strcmp (a, "-h") == 0) {
      usage (stdout);
      return 0;
    } else if (strcmp (a, "--translate") == 0) {
      params.translate = true;
    } else if (strcmp (a, "--timestamps") == 0) {
      params.timestamps = true;
    } else if (strcmp (a, "--word-timestamps") == 0) {
      params.word_timestamps = true;
    } else if (strcmp (a, "--stats") == 0) {
      stats = true;
    } else if (strcmp (a, "--no-context") == 0) {
      params.condition_on_previous_text = false;
    } else if (v == NULL) {
      usage (stderr);
      return 2;
    } else if (strcmp (a, "--model") == 0 || strcmp (a, "-m") == 0) {
      model_path = argv[++i];
    } else if (strcmp (a, "--audio") == 0 || strcmp (a, "-f") == 0) {
      audio_path = argv[++i];
    } else if (strcmp (a, "--threads") == 0 || strcmp (a, "-t") == 0) {
      params.n_threads = atoi (argv[++i]);
      if (params.n_threads < 1 || params.n_threads > 256) {
        fprintf (stderr, "lightning-whisper: invalid thread count %s\n", argv[i]);
        return 2;
      }
    } else if (strcmp (a, "--language") == 0 || strcmp (a, "-l") == 0) {
      params.language = argv[++i];
    } else if (strcmp (a, "--prompt") == 0) {
      params.initial_prompt = argv[++i];
    } else if (strcmp (a, "--beam-size") == 0 || strcmp (a, "--best-of") == 0 ||
               strcmp (a, "--max-tokens") == 0 || strcmp (a, "--min-tokens") == 0 ||
               strcmp (a, "--seed") == 0 || strcmp (a, "--temperature-inc") == 0 || strcmp (a, "--logprob-threshold") == 0 ||
               strcmp (a, "--no-speech-threshold") == 0 ||
               strcmp (a, "--compression-threshold") == 0 || strcmp (a, "--offset-ms") == 0 ||
               strcmp (a, "--duration-ms") == 0) {
      double x;
      bool ok;
      i++;
      if (strcmp (a, "--beam-size") == 0 && (ok = parse_num (v, 1, LMW_MAX_BEAM, &x)))
        params.beam_size = (int) x;
      else if (strcmp (a, "--best-of") == 0 && (ok = parse_num (v, 1, 64, &x)))
        params.best_of = (int) x;
      else if (strcmp (a, "--max-tokens") == 0 && (ok = parse_num (v, 1, 100000, &x)))
        params.max_tokens = (int) x;
      else if (strcmp (a, "--min-tokens") == 0 && (ok = parse_num (v, 0, 100000, &x)))
        params.min_tokens = (int) x;
      else if (strcmp (a, "--seed") == 0 && (ok = parse_num (v, 0, 4294967295.0, &x)))
        params.seed = (uint32_t) x;
      else if (strcmp (a, "--temperature-inc") == 0 && (ok = parse_num (v, 0, 1, &x)))
        params.temperature_inc = (float) x;
      else if (strcmp (a, "--logprob-threshold") == 0 && (ok = parse_num (v, -1e9, 0, &x)))
        params.logprob_threshold = (float) x;
      else if (strcmp (a, "--no-speech-threshold") == 0 && (ok = parse_num (v, 0, 1, &x)))
        params.no_speech_threshold = (float) x;
      else if (strcmp (a, "--compression-threshold") == 0 && (ok = parse_num (v, 0, 1e9, &x)))
        params.compression_threshold = (float) x;
      else if (strcmp (a, "--offset-ms") == 0 && (ok = parse_num (v, 0, 1e12, &x)))
        params.offset_ms = (int64_t) x;
      else if (strcmp (a, "--duration-ms") == 0 && (ok = parse_num (v, 0, 1e12, &x)))
        params.duration_ms = (int64_t) x;
      else
        ok = false;
      if (!ok) {
        fprintf (stderr, "lightning-whisper: invalid value '%s' for %s\n", v, a);
        return 2;
      }
    } else if (strcmp (a, "--tokens") == 0) {
      tokens_arg = argv[++i];
    } else if (strcmp (a, "--dump") == 0) {
      dump_dir = argv[++i];
    } else if (strcmp (a, "--backend") == 0) {
      backend = argv[++i];
      if (strcmp (backend, "auto") != 0 && strcmp (backend, "cpu") != 0 &&
          strcmp (backend, "cuda") != 0 && strcmp (backend, "cuda-emu") != 0) {
        fprintf (stderr, "lightning-whisper: invalid --backend %s (auto, cpu, cuda or cuda-emu)\n",
                 backend);
        return 2;
      }
    } else {
      usage (stderr);
      return 2;
    }
  }
  if (model_path == NULL || audio_path == NULL || (dump_dir != NULL) != (tokens_arg != NULL)) {
    usage (stderr);
    return 2;
  }
  int *tokens = NULL, n_tokens = 0;
  if (tokens_arg && parse_tokens (tokens_arg, &tokens, &n_tokens) != 0) {
    fprintf (stderr, "lightning-whisper: invalid --tokens list '%s'\n", tokens_arg);
    return 2;
  }

  lmw_error err = { 0 };
  int rc = 1;
  float *pcm = NULL;
  size_t n_samples = 0;
  lmw_state *st = NULL;
  lmw_model *model = lmw_model_load_file (model_path, &err);
  if (model == NULL)
    goto fail;
  if (lmw_wav_read (audio_path, &pcm, &n_samples, &err) != 0)
    goto fail;
  const char *dev = getenv ("GPU_DEVICE_ID");
  char *end = NULL;
  long device = dev && dev[0] ? strtol (dev, &end, 10) : 0;
  if (dev && dev[0] && (*end != '\0' || device < 0 || device > 1024)) {
    fprintf (stderr, "lightning-whisper: invalid GPU_DEVICE_ID %s\n", dev);
    rc = 2;
    goto out;
  }
  char why[300] = "";
  if (strcmp (backend, "auto") == 0)
    lmw_backend_find ("auto", why, sizeof why);
  st = lmw_state_new_backend (model, params.n_threads, backend, (int) device, &err);
  if (st == NULL)
    goto fail;
  if (stats)
    fprintf (stderr, "backend %s on %s%s%s\n", lmw_state_backend_name (st),
             lmw_state_device_name (st), why[0] && strcmp (lmw_state_backend_name (st), "cpu") == 0
             ? "; cuda not used: " : "", why[0] ? why : "");
  if (dump_dir) {
    rc = run_dump (model, st, pcm, n_samples, params.n_threads, tokens, n_tokens, dump_dir);
    goto out;
  }
  lmw_result res;
  if (lmw_transcribe (st, &params, pcm, n_samples, &res, &err) != 0)
    goto fail;
  for (int i = 0; i < res.n_segments; i++) {
    const lmw_segment *s = &res.segments[i];
    if (params.timestamps)
      printf ("[%02d:%02d.%03d --> %02d:%02d.%03d] %s\n", (int) (s->t0_ms / 60000),
              (int) (s->t0_ms / 1000 % 60), (int) (s->t0_ms % 1000), (int) (s->t1_ms / 60000),
              (int) (s->t1_ms / 1000 % 60), (int) (s->t1_ms % 1000), s->text);
    else
      printf ("%s\n", s->text[0] == ' ' ? s->text + 1 : s->text);
    for (int w = 0; w < s->n_words; w++)
      printf ("    %8.3f %8.3f %.3f %s\n", s->words[w].t0_ms / 1000.0, s->words[w].t1_ms / 1000.0,
              s->words[w].probability, s->words[w].text);
  }
  if (stats)
    fprintf (stderr, "language %s, %d windows, %d fallbacks, %d skipped as no speech, %d after "
             "previous text, %zu bytes of cache copied for beams\n", res.language, res.n_windows,
             res.n_fallbacks, res.n_skipped, res.n_conditioned, res.kv_copy_bytes);
  lmw_result_clear (&res);
  rc = 0;
  goto out;
fail:
  fprintf (stderr, "lightning-whisper: %s\n", err.message);
out:
  lmw_state_free (st);
  lmw_model_free (model);
  free (pcm);
  free (tokens);
  return rc;
}
