/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-bench.c — the cost of Silero voice-activity detection, and what it saves a whisper
 * model on audio without speech.  Prints two tables:
 *
 *   1. CPU seconds per audio hour of the VAD (one thread): batch (lmw_vad_probs over the whole
 *      recording) and streaming (lmw_vad_feed in 20 ms chunks), on real speech (the LibriVox
 *      recordings of pocketsphinx-testdata, else the fixture speech sample, repeated to
 *      --minutes);
 *   2. a whisper model (default: the random-weight tiny-en-random fixture) transcribing 60 s of
 *      digital silence, 60 s of white and 60 s of pink noise without VAD, against the VAD's
 *      time on the same audio (with VAD nothing is left to decode).
 *
 * Usage: lmw-vad-bench [--vad MODEL] [--whisper MODEL] [--minutes N] [--threads N]
 */
#include "lmw-context.h"
#include "lmw-vad.h"
#include "lmd-test-noise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef LMD_TEST_FIXTURES_DIR
#define LMD_TEST_FIXTURES_DIR "tests/fixtures"
#endif
#define RATE 16000
#define LIBRIVOX "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-"

static double
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
wall_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Real speech repeated to n samples.  (transfer full) */
static float *
speech (size_t n, const char **source)
{
  static const char *const ids[] = { "0870", "0880", "0890", "0920", "0930" };
  float *out = malloc (n * sizeof *out);
  size_t at = 0;
  *source = "LibriVox (pocketsphinx-testdata)";
  for (int round = 0; at < n && round < 100000; round++) {
    char path[512];
    float *pcm = NULL;
    size_t len = 0;
    lmw_error err = { 0 };
    snprintf (path, sizeof path, "%s%s.wav", LIBRIVOX, ids[round % 5]);
    if (lmw_wav_read (path, &pcm, &len, &err) != 0) {
      snprintf (path, sizeof path, "%s/audio/speech-sample.wav", LMD_TEST_FIXTURES_DIR);
      *source = "tests/fixtures/audio/speech-sample.wav";
      if (lmw_wav_read (path, &pcm, &len, &err) != 0) {
        fprintf (stderr, "no speech recording: %s\n", err.message);
        exit (1);
      }
    }
    size_t take = len < n - at ? len : n - at;
    memcpy (out + at, pcm, take * sizeof *out);
    at += take;
    free (pcm);
  }
  return out;
}

/* 60 s of zeros, 60 s of white noise, 60 s of pink noise, RMS 0.1 (as tests/server/test-vad.c) */
static float *
silence_and_noise (size_t *n)
{
  size_t part = 60 * RATE;
  float *x = malloc (3 * part * sizeof *x);
  lmd_test_noise_silence_white_pink (x, part);
  *n = 3 * part;
  return x;
}

int
main (int argc, char **argv)
{
  char vad_path[1024], whisper_path[1024];
  double minutes = 10;
  int threads = 1;
  snprintf (vad_path, sizeof vad_path, "%s/vad/silero-v6.2.0-ggml.bin", LMD_TEST_FIXTURES_DIR);
  snprintf (whisper_path, sizeof whisper_path, "%s/whisper/tiny-en-random/model.ggml.bin",
            LMD_TEST_FIXTURES_DIR);
  for (int i = 1; i < argc; i++) {
    if (strcmp (argv[i], "--vad") == 0 && i + 1 < argc)
      snprintf (vad_path, sizeof vad_path, "%s", argv[++i]);
    else if (strcmp (argv[i], "--whisper") == 0 && i + 1 < argc)
      snprintf (whisper_path, sizeof whisper_path, "%s", argv[++i]);
    else if (strcmp (argv[i], "--minutes") == 0 && i + 1 < argc)
      minutes = atof (argv[++i]);
    else if (strcmp (argv[i], "--threads") == 0 && i + 1 < argc)
      threads = atoi (argv[++i]);
    else {
      fprintf (stderr, "usage: %s [--vad MODEL] [--whisper MODEL] [--minutes N] [--threads N]\n",
               argv[0]);
      return 2;
    }
  }
  lmw_error err = { 0 };
  lmw_vad_model *vm = lmw_vad_model_load_file (vad_path, &err);
  if (vm == NULL) {
    fprintf (stderr, "%s\n", err.message);
    return 1;
  }
  lmw_vad_state *st = lmw_vad_state_new (vm, &err);
  size_t n = (size_t) (minutes * 60 * RATE);
  const char *source = NULL;
  float *pcm = speech (n, &source);

  printf ("VAD %s on %.0f min of %s, one thread\n\n", lmw_vad_model_description (vm), minutes,
          source);
  printf ("| mode | windows | CPU s | CPU s per audio hour | wall s |\n|---|---|---|---|---|\n");
  {
    float *probs = NULL;
    size_t n_probs = 0;
    double c0 = cpu_now (), w0 = wall_now ();
    lmw_vad_probs (st, pcm, n, &probs, &n_probs, &err);
    double cpu = cpu_now () - c0, wall = wall_now () - w0;
    printf ("| batch (whole recording) | %zu | %.2f | %.1f | %.2f |\n", n_probs, cpu,
            cpu * 3600.0 / (n / (double) RATE), wall);
    free (probs);
  }
  {
    float probs[8];
    size_t n_probs = 0;
    lmw_vad_state_reset (st);
    double c0 = cpu_now (), w0 = wall_now ();
    for (size_t at = 0; at < n; at += 320)
      n_probs += lmw_vad_feed (st, pcm + at, n - at < 320 ? n - at : 320, probs);
    double cpu = cpu_now () - c0, wall = wall_now () - w0;
    printf ("| streaming (20 ms chunks) | %zu | %.2f | %.1f | %.2f |\n", n_probs, cpu,
            cpu * 3600.0 / (n / (double) RATE), wall);
  }
  free (pcm);

  /* whisper on silence and noise, with and without VAD */
  lmw_model *wm = lmw_model_load_file (whisper_path, &err);
  if (wm == NULL) {
    fprintf (stderr, "whisper model: %s (second table skipped)\n", err.message);
    return 0;
  }
  size_t nn = 0;
  float *noise = silence_and_noise (&nn);
  lmw_state *ws = lmw_state_new (wm, threads, &err);
  lmw_params params = lmw_default_params ();
  params.n_threads = threads;
  params.language = "en";
  params.timestamps = true;
  params.temperature_inc = 0; /* random weights fail every decoding: fallback only adds time */
  lmw_result result = { 0 };
  double w0 = wall_now ();
  lmw_transcribe (ws, &params, noise, nn, &result, &err);
  double without = wall_now () - w0;
  size_t n_chars = 0;
  for (int i = 0; i < result.n_segments; i++)
    n_chars += result.segments[i].text ? strlen (result.segments[i].text) : 0;
  lmw_result_clear (&result);

  float *probs = NULL;
  size_t n_probs = 0, n_seg = 0;
  lmw_vad_segment *seg = NULL;
  lmw_vad_params vp = lmw_vad_default_params ();
  w0 = wall_now ();
  lmw_vad_probs (st, noise, nn, &probs, &n_probs, &err);
  lmw_vad_segments (probs, n_probs, lmw_vad_model_window (vm), nn, &vp, &seg, &n_seg, &err);
  double with = wall_now () - w0;
  printf ("\n%s (%d thread%s) on 60 s of silence + 60 s of white + 60 s of pink noise\n\n",
          whisper_path, threads, threads > 1 ? "s" : "");
  printf ("| | wall s | text |\n|---|---|---|\n");
  printf ("| without VAD | %.2f | %zu characters |\n", without, n_chars);
  printf ("| with VAD | %.2f (VAD only: %zu speech segments, nothing decoded) | 0 characters |\n",
          with, n_seg);
  free (probs);
  free (seg);
  free (noise);
  lmw_state_free (ws);
  lmw_model_free (wm);
  lmw_vad_state_free (st);
  lmw_vad_model_free (vm);
  return 0;
}
