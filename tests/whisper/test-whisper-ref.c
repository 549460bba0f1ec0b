/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-ref.c — the engine against the PyTorch reference tensors of one fixture
 * (argv[1]: tiny-en-random or tiny-v3-random; argv[2], optional: thread count).
 *
 * Asserts (TAP):
 *   - the model loads, its hyper-parameters and special tokens equal reference.json;
 *   - the test's own WAV reader and lmw_wav_read agree on speech-sample.wav;
 *   - mel of the audio vs mel.f32, encoder output (from the reference mel and from ours) vs
 *     encoder_out.f32, teacher-forced logits vs logits.f32: error relative to the tensor's max
 *     |value| (max |a - b| / max |ref|) <= 1e-3, printed with the max absolute error;
 *   - decoding the tokens one at a time through the KV cache gives the same logits as the
 *     full-sequence pass (relative 1e-5);
 *   - a greedy argmax continuation of the prompt for 16 steps gives greedy.tokens;
 *   - the portable (non-AVX2) kernels give the same logits.
 */
#include "lmw-context.h"
#include "lmw-cpu.h"
#include "lmw-test.h"

#include <stdint.h>

#define REL_TOL 1e-3

/* a WAV reader independent of the engine's: 16-bit PCM mono, first data chunk */
static float *
tiny_wav (const char *path, size_t *n)
{
  size_t len;
  uint8_t *b = read_file (NULL, path, &len);
  if (b == NULL || len < 12 || memcmp (b, "RIFF", 4) || memcmp (b + 8, "WAVE", 4)) {
    free (b);
    return NULL;
  }
  size_t p = 12;
  while (p + 8 <= len) {
    uint32_t sz = b[p + 4] | b[p + 5] << 8 | b[p + 6] << 16 | (uint32_t) b[p + 7] << 24;
    if (memcmp (b + p, "data", 4) == 0) {
      size_t cnt = (len - p - 8 < sz ? len - p - 8 : sz) / 2;
      float *out = malloc (cnt * sizeof (float));
      for (size_t i = 0; i < cnt; i++)
        out[i] = (int16_t) (b[p + 8 + 2 * i] | b[p + 9 + 2 * i] << 8) / 32768.0f;
      *n = cnt;
      free (b);
      return out;
    }
    p += 8 + sz + (sz & 1);
  }
  free (b);
  return NULL;
}

static void
report (const char *what, err_stats s, const float *a, const float *b, size_t n)
{
  TEST_OK (s.rel <= REL_TOL, "%s: max abs err %.3g, max |ref| %.3g, rel err (to max |ref|) %.3g, "
           "worst element-wise rel %.3g", what, s.max_abs, s.ref_max, s.rel, s.max_rel_elem);
  if (s.rel > REL_TOL)
    print_mismatches (a, b, n, REL_TOL * s.ref_max, 8);
}

int
main (int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "tiny-en-random";
  int n_threads = argc > 2 ? atoi (argv[2]) : 2;
  const char *dir = fixture_dir (name);
  TEST_DIAG ("fixture %s, %d threads", dir, n_threads);
  char *json = read_file (dir, "reference.json", NULL);
  TEST_OK (json != NULL, "reference.json readable");
  if (json == NULL)
    return test_done ();

  char path[4300];
  snprintf (path, sizeof path, "%s/model.ggml.bin", dir);
  lmw_error err = { 0 };
  lmw_model *model = lmw_model_load_file (path, &err);
  TEST_OK (model != NULL, "model loads (%s)", model ? "ok" : err.message);
  if (model == NULL)
    return test_done ();
  const lmw_hparams *hp = lmw_model_hparams (model);
  TEST_OK (hp->n_mels == json_int (json, "\"dims\"", "n_mels", -1) &&
           hp->n_vocab == json_int (json, "\"dims\"", "n_vocab", -1) &&
           hp->n_audio_state == json_int (json, "\"dims\"", "n_audio_state", -1) &&
           hp->n_audio_head == json_int (json, "\"dims\"", "n_audio_head", -1) &&
           hp->n_audio_layer == json_int (json, "\"dims\"", "n_audio_layer", -1) &&
           hp->n_text_head == json_int (json, "\"dims\"", "n_text_head", -1) &&
           hp->n_text_layer == json_int (json, "\"dims\"", "n_text_layer", -1) &&
           hp->n_text_ctx == json_int (json, "\"dims\"", "n_text_ctx", -1),
           "hyper-parameters match reference.json");
  const lmw_special_tokens *sp = lmw_model_special (model);
  TEST_OK (sp->eot == json_int (json, "\"special\"", "eot", -1) &&
           sp->sot == json_int (json, "\"special\"", "sot", -1) &&
           sp->lang_first == json_int (json, "\"special\"", "lang_en", -1) &&
           sp->translate == json_int (json, "\"special\"", "translate", -1) &&
           sp->transcribe == json_int (json, "\"special\"", "transcribe", -1) &&
           sp->notimestamps == json_int (json, "\"special\"", "notimestamps", -1),
           "special tokens match (eot %d sot %d translate %d transcribe %d notimestamps %d)",
           sp->eot, sp->sot, sp->translate, sp->transcribe, sp->notimestamps);

  /* audio */
  char wav[4300];
  snprintf (wav, sizeof wav, "%s/../../audio/speech-sample.wav", dir);
  size_t n_samples = 0, n2 = 0;
  float *pcm = tiny_wav (wav, &n_samples);
  float *pcm2 = NULL;
  TEST_OK (pcm != NULL && (int) n_samples == json_int (json, NULL, "audio_samples", -1),
           "speech-sample.wav read: %zu samples", n_samples);
  TEST_OK (lmw_wav_read (wav, &pcm2, &n2, &err) == 0 && n2 == n_samples &&
           memcmp (pcm, pcm2, n2 * sizeof (float)) == 0, "lmw_wav_read agrees");
  free (pcm2);

  int T = hp->n_audio_ctx, C = hp->n_audio_state, Tm = 2 * T, nv = hp->n_vocab;
  size_t len;
  float *ref_mel = read_file (dir, "mel.f32", &len);
  TEST_OK (ref_mel && len == sizeof (float) * hp->n_mels * Tm, "mel.f32 has (%d, %d)", hp->n_mels, Tm);
  float *mel = NULL;
  int n_frames = 0;
  TEST_OK (lmw_mel_compute (model, pcm, n_samples, n_threads, &mel, &n_frames, &err) == 0,
           "mel computed: %d frames", n_frames);
  float *mel_win = malloc (sizeof (float) * hp->n_mels * Tm);
  for (int c = 0; c < hp->n_mels; c++)
    memcpy (mel_win + (size_t) c * Tm, mel + (size_t) c * n_frames, sizeof (float) * Tm);
  report ("mel", compare (mel_win, ref_mel, (size_t) hp->n_mels * Tm), mel_win, ref_mel,
          (size_t) hp->n_mels * Tm);

  /* encoder */
  lmw_state *st = lmw_state_new (model, n_threads, &err);
  TEST_OK (st != NULL, "state created (backend %s)", st ? lmw_state_backend_name (st) : err.message);
  float *ref_enc = read_file (dir, "encoder_out.f32", &len);
  TEST_OK (ref_enc && len == sizeof (float) * T * C, "encoder_out.f32 has (%d, %d)", T, C);
  double enc_ms = -1, cross_ms = -1;
  lmw_state_encode_times (st, &enc_ms, &cross_ms);
  TEST_OK (enc_ms == 0 && cross_ms == 0, "no encoder times before the first window");
  TEST_OK (lmw_encode (st, ref_mel, Tm, 0, &err) == 0, "encoder runs on the reference mel");
  lmw_state_encode_times (st, &enc_ms, &cross_ms);
  TEST_OK (enc_ms > 0 && cross_ms > 0, "encoder %.2f ms and cross K/V %.2f ms timed", enc_ms,
           cross_ms);
  report ("encoder_out (reference mel)", compare (lmw_state_encoder_output (st), ref_enc, (size_t) T * C),
          lmw_state_encoder_output (st), ref_enc, (size_t) T * C);
  TEST_OK (lmw_encode (st, mel, n_frames, 0, &err) == 0, "encoder runs on our mel");
  report ("encoder_out (our mel)", compare (lmw_state_encoder_output (st), ref_enc, (size_t) T * C),
          lmw_state_encoder_output (st), ref_enc, (size_t) T * C);

  /* teacher-forced logits */
  int tokens[64];
  int nt = json_int_array (json, NULL, "tokens", tokens, 64);
  float *ref_logits = read_file (dir, "logits.f32", &len);
  TEST_OK (nt > 0 && ref_logits && len == sizeof (float) * nt * nv, "logits.f32 has (%d, %d)", nt, nv);
  float *logits = malloc (sizeof (float) * nt * nv);
  TEST_OK (lmw_decode (st, tokens, nt, 0, logits, true, &err) == 0, "decoder runs on %d tokens", nt);
  report ("logits (teacher forcing)", compare (logits, ref_logits, (size_t) nt * nv), logits,
          ref_logits, (size_t) nt * nv);

  /* KV cache: one token at a time == full recompute */
  float *inc = malloc (sizeof (float) * nt * nv);
  bool dec_ok = true;
  for (int i = 0; i < nt; i++)
    dec_ok &= lmw_decode (st, &tokens[i], 1, i, inc + (size_t) i * nv, false, &err) == 0;
  err_stats kv = compare (inc, logits, (size_t) nt * nv);
  TEST_OK (dec_ok && kv.rel <= 1e-5, "incremental (KV cache) logits == full pass: max abs diff %.3g, rel %.3g",
           kv.max_abs, kv.rel);
  /* a prefix of 3 then the rest in one call */
  dec_ok = lmw_decode (st, tokens, 3, 0, NULL, false, &err) == 0 &&
           lmw_decode (st, tokens + 3, nt - 3, 3, inc, true, &err) == 0;
  kv = compare (inc, logits + (size_t) 3 * nv, (size_t) (nt - 3) * nv);
  TEST_OK (dec_ok && kv.rel <= 1e-5, "prefix 3 + batch of %d == full pass: rel %.3g", nt - 3, kv.rel);
  report ("logits (incremental) vs reference", compare (inc, ref_logits + (size_t) 3 * nv,
          (size_t) (nt - 3) * nv), inc, ref_logits + (size_t) 3 * nv, (size_t) (nt - 3) * nv);

  /* greedy continuation */
  int prompt[16], want[64], got[64];
  int np = json_int_array (json, "\"greedy\"", "prompt", prompt, 16);
  int ng = json_int_array (json, "\"greedy\"", "tokens", want, 64);
  float *last = malloc (sizeof (float) * nv);
  dec_ok = np > 0 && lmw_decode (st, prompt, np, 0, last, false, &err) == 0;
  for (int i = 0; i < ng && dec_ok; i++) {
    int best = 0;
    for (int v = 1; v < nv; v++)
      if (last[v] > last[best])
        best = v;
    got[i] = best;
    if (i + 1 < ng)
      dec_ok = lmw_decode (st, &got[i], 1, np + i, last, false, &err) == 0;
  }
  bool same = dec_ok && ng == 16 && memcmp (got, want, sizeof (int) * ng) == 0;
  TEST_OK (same, "greedy continuation of %d steps matches greedy.tokens (first %d)", ng, got[0]);
  if (!same)
    for (int i = 0; i < ng; i++)
      TEST_DIAG ("  step %d got %d want %d", i, got[i], want[i]);

  /* portable kernels */
  lmw_state_free (st);
  lmw_cpu_kernels_force_generic (true);
  st = lmw_state_new (model, n_threads, &err);
  TEST_OK (st && lmw_encode (st, ref_mel, Tm, 0, &err) == 0 &&
           lmw_decode (st, tokens, nt, 0, inc, true, &err) == 0, "portable kernels run");
  report ("logits (portable kernels)", compare (inc, ref_logits, (size_t) nt * nv), inc,
          ref_logits, (size_t) nt * nv);
  lmw_cpu_kernels_force_generic (false);

  lmw_state_free (st);
  lmw_model_free (model);
  free (json);
  free (pcm);
  free (ref_mel);
  free (mel);
  free (mel_win);
  free (ref_enc);
  free (ref_logits);
  free (logits);
  free (inc);
  free (last);
  return test_done ();
}
