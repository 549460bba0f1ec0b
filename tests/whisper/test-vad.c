/* SPDX-License-Identifier: MIT */
/*
 * test-vad.c — the Silero voice-activity detector of the engine core:
 *   - per-window speech probabilities of real recordings equal the reference numbers made
 *     with whisper.cpp's VAD (tests/fixtures/vad/README.md) to 1e-3;
 *   - streaming in chunks of any size gives the very same probabilities as one batch call,
 *     the LSTM state carried across calls (and a reset forgets it);
 *   - speech segments: hysteresis, minimum speech, minimum silence, padding, maximum length,
 *     on scripted probabilities; on the recordings, no segment over the leading or trailing
 *     silence;
 *   - bad model files are refused with a message: truncation at every field, wrong magic,
 *     type, window, channels, tensor shapes and types, unknown, repeated and missing tensors.
 * Fixtures: $LMD_FIXTURES_DIR/vad and audio/; the LibriVox recordings of pocketsphinx-testdata
 * when installed (else those cases are skipped).
 */
#include "lmw-test.h"
#include "lmw-vad.h"

#include <stdint.h>

#define LIBRIVOX_DIR "/usr/share/pocketsphinx/test/data/librivox"
#define TOLERANCE 1e-3

static const char *const recordings[] = {
  "audio/speech-sample",
  "librivox/sense_and_sensibility_01_austen_64kb-0870",
  "librivox/sense_and_sensibility_01_austen_64kb-0880",
  "librivox/sense_and_sensibility_01_austen_64kb-0890",
  "librivox/sense_and_sensibility_01_austen_64kb-0920",
  "librivox/sense_and_sensibility_01_austen_64kb-0930",
};

static const char *
fixtures_root (void)
{
  const char *root = getenv ("LMD_FIXTURES_DIR");
  return root ? root : LMD_TEST_FIXTURES_DIR;
}

/* The WAV of a recording name: audio/X from the fixtures, librivox/X from pocketsphinx-testdata. */
static void
recording_path (const char *rec, char *path, size_t len)
{
  if (strncmp (rec, "librivox/", 9) == 0)
    snprintf (path, len, "%s/%s.wav", LIBRIVOX_DIR, rec + 9);
  else
    snprintf (path, len, "%s/%s.wav", fixtures_root (), rec);
}

/* Reference probabilities: one number per line. (transfer full) */
static float *
read_reference (const char *rec, size_t *n)
{
  char path[4200];
  const char *base = strrchr (rec, '/') + 1;
  snprintf (path, sizeof path, "%s/vad/reference/%s.txt", fixtures_root (), base);
  size_t len = 0;
  char *text = read_file (NULL, path, &len);
  if (text == NULL)
    return NULL;
  text = realloc (text, len + 1);
  text[len] = '\0';
  size_t cap = 1024, k = 0;
  float *v = malloc (cap * sizeof *v);
  char *p = text, *end;
  for (;;) {
    double d = strtod (p, &end);
    if (end == p)
      break;
    if (k == cap)
      v = realloc (v, (cap *= 2) * sizeof *v);
    v[k++] = (float) d;
    p = end;
  }
  free (text);
  *n = k;
  return v;
}

static lmw_vad_model *
load_fixture_model (void)
{
  char path[4200];
  snprintf (path, sizeof path, "%s/vad/silero-v6.2.0-ggml.bin", fixtures_root ());
  FILE *f = fopen (path, "rb");
  if (f == NULL)
    test_skip_all ("VAD model fixture missing (set LMD_FIXTURES_DIR)");
  fclose (f);
  lmw_error err = { 0 };
  lmw_vad_model *m = lmw_vad_model_load_file (path, &err);
  TEST_OK (m != NULL, "the Silero v6.2.0 fixture loads (%s)", m ? "ok" : err.message);
  if (m == NULL)
    exit (test_done ());
  return m;
}

/* ---- probabilities against the reference -------------------------------------------------- */

static void
test_reference (const lmw_vad_model *m, lmw_vad_state *st)
{
  for (size_t r = 0; r < sizeof recordings / sizeof *recordings; r++) {
    const char *rec = recordings[r];
    char path[4200];
    recording_path (rec, path, sizeof path);
    float *pcm = NULL;
    size_t n = 0;
    lmw_error err = { 0 };
    if (lmw_wav_read (path, &pcm, &n, &err) != 0) {
      if (strncmp (rec, "librivox/", 9) == 0) {
        printf ("ok %d - # SKIP %s: pocketsphinx-testdata not installed\n", ++lmw_test_n, rec);
        continue;
      }
      TEST_OK (false, "%s reads (%s)", path, err.message);
      continue;
    }
    size_t n_ref = 0;
    float *ref = read_reference (rec, &n_ref);
    TEST_OK (ref != NULL && n_ref > 0, "%s: reference probabilities present", rec);

    float *probs = NULL;
    size_t n_probs = 0;
    TEST_OK (lmw_vad_probs (st, pcm, n, &probs, &n_probs, &err) == 0, "%s: batch run", rec);
    size_t W = (size_t) lmw_vad_model_window (m);
    TEST_OK (n_probs == (n + W - 1) / W && n_probs == n_ref,
             "%s: one probability per %zu samples (%zu, reference %zu)", rec, W, n_probs, n_ref);
    if (ref && n_probs == n_ref) {
      err_stats s = compare (probs, ref, n_probs);
      TEST_OK (s.max_abs <= TOLERANCE, "%s: %zu probabilities equal the reference to %g "
               "(worst %.2e at window %zu)", rec, n_probs, TOLERANCE, s.max_abs, s.worst);
      if (s.max_abs > TOLERANCE)
        print_mismatches (probs, ref, n_probs, TOLERANCE, 10);
      /* the recording is not all one class: the check compares real decisions */
      size_t speech = 0;
      for (size_t i = 0; i < n_probs; i++)
        speech += ref[i] >= 0.5f;
      TEST_OK (speech > n_probs / 10 && speech < n_probs, "%s: %zu of %zu windows are speech",
               rec, speech, n_probs);
    }

    /* streaming: odd chunk sizes, the same numbers bit for bit */
    static const size_t chunks[] = { 1, 7, 511, 512, 513, 1600, 3 };
    float *sp = malloc ((n_probs + 1) * sizeof *sp);
    size_t k = 0, off = 0, c = 0;
    lmw_vad_state_reset (st);
    while (off < n) {
      size_t len = chunks[c++ % (sizeof chunks / sizeof *chunks)];
      if (len > n - off)
        len = n - off;
      size_t want = lmw_vad_feed_max (st, len);
      size_t got = lmw_vad_feed (st, pcm + off, len, sp + k);
      if (got != want)
        break;
      k += got;
      off += len;
      if (lmw_vad_pending (st) >= W)
        break;
    }
    k += (size_t) lmw_vad_flush (st, sp + k);
    /* a window gets the same numbers alone or in a batch: bit for bit */
    double stream_diff = 0;
    for (size_t i = 0; i < k && i < n_probs; i++)
      stream_diff = fmax (stream_diff, fabs ((double) sp[i] - probs[i]));
    TEST_OK (off == n && k == n_probs && stream_diff == 0.0 &&
             memcmp (sp, probs, k * sizeof *sp) == 0,
             "%s: streamed in chunks of 1 to 1600 samples, the same %zu probabilities (largest "
             "difference %.1e)", rec, k, stream_diff);

    /* the state carries across calls: the second half alone differs, after a reset it does
     * not depend on what came before */
    size_t half = (n_probs / 2) * W;
    float *fresh = NULL;
    size_t n_fresh = 0;
    lmw_vad_probs (st, pcm + half, n - half, &fresh, &n_fresh, &err);
    double diff = 0;
    for (size_t i = 0; i < n_fresh && i + n_probs / 2 < n_probs; i++) {
      double d = fabs ((double) fresh[i] - probs[i + n_probs / 2]);
      diff = d > diff ? d : diff;
    }
    TEST_OK (diff > 1e-4, "%s: the LSTM state links windows (second half alone differs by "
             "%.3g)", rec, diff);

    /* segments: the leading and trailing silences (reference probabilities below 0.5 at the
     * edges) stay out */
    lmw_vad_params vp = lmw_vad_default_params ();
    lmw_vad_segment *seg = NULL;
    size_t n_seg = 0;
    TEST_OK (lmw_vad_segments (probs, n_probs, (int) W, n, &vp, &seg, &n_seg, &err) == 0 &&
             n_seg > 0, "%s: %zu speech segments", rec, n_seg);
    if (n_seg > 0) {
      size_t first = 0, last = n_probs - 1;
      while (first < n_probs && probs[first] < vp.threshold)
        first++;
      /* a segment closes only below the lower threshold (hysteresis) */
      while (last > 0 && probs[last] < vp.threshold - 0.15f)
        last--;
      int64_t pad = vp.speech_pad_ms * 16;
      TEST_OK (seg[0].start >= (int64_t) (first * W) - pad &&
               (seg[0].start > 0 || (int64_t) (first * W) <= pad),
               "%s: the first segment starts at %.2f s, after the leading silence (first "
               "speech window at %.2f s)", rec, seg[0].start / 16000.0, first * W / 16000.0);
      TEST_OK (seg[n_seg - 1].end <= (int64_t) ((last + 1) * W) + pad &&
               (seg[n_seg - 1].end < (int64_t) n || (int64_t) ((last + 1) * W) + pad >= (int64_t) n),
               "%s: the last segment ends at %.2f s, before the trailing silence (recording "
               "%.2f s)", rec, seg[n_seg - 1].end / 16000.0, n / 16000.0);
      for (size_t i = 0; i < n_seg; i++)
        TEST_DIAG ("%s segment %zu: %.2f .. %.2f s", rec, i, seg[i].start / 16000.0,
                   seg[i].end / 16000.0);
    }
    free (seg);
    free (fresh);
    free (sp);
    free (probs);
    free (ref);
    free (pcm);
  }
}

/* ---- segments from scripted probabilities ------------------------------------------------- */

#define WIN 512
#define MS(w) ((w) * 32) /* windows → ms */

/* probs from a script: each char one window, '#' = 0.9, '~' = 0.45 (between the
 * thresholds), '.' = 0.05 */
static size_t
script (const char *s, float *out)
{
  size_t n = 0;
  for (; *s; s++)
    out[n++] = *s == '#' ? 0.9f : *s == '~' ? 0.45f : 0.05f;
  return n;
}

static size_t
segs (const char *s, const lmw_vad_params *vp, lmw_vad_segment **seg)
{
  float probs[4096];
  size_t n = script (s, probs), n_seg = 0;
  lmw_error err = { 0 };
  *seg = NULL;
  if (lmw_vad_segments (probs, n, WIN, n * WIN, vp, seg, &n_seg, &err) != 0)
    return (size_t) -1;
  return n_seg;
}

static void
test_segments (void)
{
  lmw_vad_params vp = lmw_vad_default_params ();
  vp.speech_pad_ms = 0;
  lmw_vad_segment *s;

  /* 10 windows of speech (320 ms) between silences: one segment, exact bounds */
  size_t n = segs ("..........##########..........", &vp, &s);
  TEST_OK (n == 1 && s[0].start == 10 * WIN && s[0].end == 20 * WIN,
           "one burst: one segment on its windows (%zu)", n);
  free (s);

  /* 5 windows (160 ms) < min_speech 250 ms: dropped */
  n = segs ("..........#####..........", &vp, &s);
  TEST_OK (n == 0 && s == NULL, "a 160 ms burst is shorter than min_speech_ms: no segment");
  free (s);

  /* a 2-window gap (64 ms) < min_silence 100 ms stays inside; a 5-window gap splits */
  n = segs ("....##########..##########....", &vp, &s);
  TEST_OK (n == 1 && s[0].start == 4 * WIN && s[0].end == 26 * WIN,
           "a 64 ms pause stays inside the segment");
  free (s);
  n = segs ("....##########.....##########....", &vp, &s);
  TEST_OK (n == 2 && s[0].end == 14 * WIN && s[1].start == 19 * WIN,
           "a 160 ms pause splits it in two at the pause");
  free (s);

  /* hysteresis: windows between neg_threshold and threshold neither open nor close */
  n = segs ("....~~~~##########~~~~~~~~##########....", &vp, &s);
  TEST_OK (n == 1 && s[0].start == 8 * WIN && s[0].end == 36 * WIN,
           "probabilities between the two thresholds keep a segment open, don't open one");
  free (s);

  /* threshold is a parameter */
  vp.threshold = 0.4f;
  n = segs ("....~~~~~~~~~~....", &vp, &s);
  TEST_OK (n == 1 && s[0].start == 4 * WIN, "threshold 0.4 makes 0.45 speech");
  free (s);
  vp.threshold = 0.5f;

  /* min_silence_ms is a parameter */
  vp.min_silence_ms = 500;
  n = segs ("....##########.....##########....", &vp, &s);
  TEST_OK (n == 1, "min_silence_ms 500 keeps a 160 ms pause inside");
  free (s);
  vp.min_silence_ms = 100;

  /* padding: 30 ms each side, half the gap when closer than two paddings, clamped */
  vp.speech_pad_ms = 30;
  vp.min_silence_ms = 0;
  n = segs ("#########.##########........", &vp, &s);
  TEST_OK (n == 2 && s[0].start == 0 && s[0].end == 9 * WIN + 256 && s[1].start == 9 * WIN + 256
           && s[1].end == 20 * WIN + 480,
           "padding: clamped at 0, a 32 ms gap split in halves, 480 samples after the end");
  free (s);
  n = segs ("....##########", &vp, &s);
  TEST_OK (n == 1 && s[0].start == 4 * WIN - 480 && s[0].end == 14 * WIN,
           "padding is clamped at the end of the recording");
  free (s);
  vp.min_silence_ms = 100;

  /* max length: cut at the last silence of >= 98 ms inside, else at the limit */
  vp.speech_pad_ms = 0;
  vp.max_speech_s = 1.0f; /* 31.25 windows */
  vp.min_silence_ms = 300; /* a 128 ms pause stays inside the segment */
  n = segs ("..####################....####################..", &vp, &s);
  TEST_OK (n == 2 && s[0].start == 2 * WIN && s[0].end == 22 * WIN && s[1].start == 26 * WIN &&
           s[1].end == 46 * WIN, "over max_speech_s: cut at the 128 ms pause inside (%zu)", n);
  free (s);
  vp.min_silence_ms = 100;
  n = segs ("..##############################################################..", &vp, &s);
  int ok = n >= 2;
  for (size_t i = 0; ok && i < n; i++)
    ok = s[i].end - s[i].start <= 16000 && (i == 0 || s[i].start == s[i - 1].end);
  TEST_OK (ok && s[0].start == 2 * WIN && s[n - 1].end == 64 * WIN,
           "2 s of speech without a pause, max_speech_s 1: %zu contiguous pieces of at most 1 s",
           n);
  free (s);
  vp.max_speech_s = 0;

  /* invalid parameters */
  vp.threshold = 1.5f;
  TEST_OK (segs ("..##..", &vp, &s) == (size_t) -1, "threshold 1.5 is refused");
  vp.threshold = 0.5f;
  vp.min_speech_ms = -1;
  TEST_OK (segs ("..##..", &vp, &s) == (size_t) -1, "a negative duration is refused");
  vp.min_speech_ms = 250;

  /* nothing: no segments */
  n = segs ("", &vp, &s);
  TEST_OK (n == 0 && s == NULL, "no audio: no segments");
}

/* ---- bad model files ---------------------------------------------------------------------- */

static void
put_i32 (uint8_t *p, int32_t v)
{
  uint32_t u = (uint32_t) v;
  p[0] = (uint8_t) u;
  p[1] = (uint8_t) (u >> 8);
  p[2] = (uint8_t) (u >> 16);
  p[3] = (uint8_t) (u >> 24);
}

static int32_t
get_i32 (const uint8_t *p)
{
  return (int32_t) ((uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
                    (uint32_t) p[3] << 24);
}

static bool
refused (const uint8_t *data, size_t len, const char *needle, char *msg, size_t msg_len)
{
  lmw_error err = { 0 };
  lmw_vad_model *m = lmw_vad_model_load_buffer (data, len, &err);
  snprintf (msg, msg_len, "%s", m ? "(loaded)" : err.message);
  if (m) {
    lmw_vad_model_free (m);
    return false;
  }
  return err.code == LMW_ERR_FORMAT && (needle == NULL || strstr (err.message, needle) != NULL);
}

/* offset of the tensor header whose name is `name` */
static size_t
tensor_header (const uint8_t *d, size_t len, const char *name)
{
  size_t off = 4 + 4 + (size_t) get_i32 (d + 4) + 12 + 8 + 4 + 4 * 12 + 16;
  while (off + 12 <= len) {
    int32_t nd = get_i32 (d + off), nl = get_i32 (d + off + 4), ty = get_i32 (d + off + 8);
    size_t ne = 1;
    for (int i = 0; i < nd; i++)
      ne *= (size_t) get_i32 (d + off + 12 + 4 * i);
    const char *nm = (const char *) d + off + 12 + 4 * nd;
    if ((size_t) nl == strlen (name) && memcmp (nm, name, (size_t) nl) == 0)
      return off;
    off += 12 + 4 * (size_t) nd + (size_t) nl + ne * (ty == 1 ? 2 : 4);
  }
  return 0;
}

static void
test_bad_models (void)
{
  char path[4200], msg[256];
  snprintf (path, sizeof path, "%s/vad/silero-v6.2.0-ggml.bin", fixtures_root ());
  size_t len = 0;
  uint8_t *orig = read_file (NULL, path, &len);
  uint8_t *d = malloc (len + 64);
  TEST_OK (orig != NULL && len > 1000, "model fixture read (%zu bytes)", len);
  if (orig == NULL)
    return;

  /* truncated after every header byte and inside every tensor */
  int bad = 0, tried = 0;
  for (size_t cut = 0; cut < len; cut += cut < 400 ? 1 : 997) {
    tried++;
    if (!refused (orig, cut, NULL, msg, sizeof msg)) {
      if (bad++ < 3)
        TEST_DIAG ("cut at %zu: %s", cut, msg);
    }
  }
  TEST_OK (bad == 0, "%d truncated copies (every byte of the header, every 997th after) are "
           "refused", tried);
  refused (orig, len - 3, NULL, msg, sizeof msg);
  TEST_OK (strstr (msg, "truncated") != NULL, "a truncated file says so: %s", msg);

  /* header fields: offsets of the fixture's layout */
  size_t type_len = (size_t) get_i32 (orig + 4);
  size_t ver = 8 + type_len, win = ver + 12, ctx = win + 4, nl = ctx + 4, layers = nl + 4;
  size_t lstm = layers + 48;
  struct {
    const char *what;
    size_t off;
    int32_t value;
    const char *needle;
  } fields[] = {
    { "magic", 0, 0x12345678, "magic" },
    { "model type length", 4, 1000, "model type length" },
    { "version major 4", ver, 4, "version major" },
    { "window 256", win, 256, "window" },
    { "context 32", ctx, 32, "context" },
    { "3 encoder layers", nl, 3, "encoder layers" },
    { "layer 0 in_channels", layers, 100, "in_channels" },
    { "layer 1 in_channels", layers + 12, 100, "layer 1 takes 100 channels" },
    { "kernel size 5", layers + 8, 5, "kernel_size" },
    { "lstm hidden 64", lstm + 4, 64, "lstm_hidden_size" },
    { "final_conv_out 2", lstm + 12, 2, "final_conv_out" },
    { "layer 0 out_channels -1", layers + 4, -1, "out_channels" },
  };
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    memcpy (d, orig, len);
    put_i32 (d + fields[i].off, fields[i].value);
    TEST_OK (refused (d, len, fields[i].needle, msg, sizeof msg), "%s refused: %s",
             fields[i].what, msg);
  }
  memcpy (d, orig, len);
  memcpy (d + 8, "silero-8k!", 10);
  TEST_OK (refused (d, len, "not supported", msg, sizeof msg), "another model type refused: %s",
           msg);

  /* tensors */
  size_t t_enc1 = tensor_header (orig, len, "_model.encoder.1.reparam_conv.weight");
  size_t t_bias = tensor_header (orig, len, "_model.decoder.rnn.bias_hh");
  size_t t_last = tensor_header (orig, len, "_model.stft.forward_basis_buffer");
  TEST_OK (t_enc1 > 0 && t_bias > 0 && t_last > 0, "tensor headers found in the fixture");

  memcpy (d, orig, len);
  put_i32 (d + t_enc1 + 12 + 4, 127); /* ne[1] 128 → 127 */
  TEST_OK (refused (d, len, "shape", msg, sizeof msg), "a wrong tensor shape is refused: %s",
           msg);
  memcpy (d, orig, len);
  put_i32 (d + t_bias + 8, 8); /* type q8_0 */
  TEST_OK (refused (d, len, "tensor type", msg, sizeof msg), "a quantised tensor type is "
           "refused: %s", msg);
  memcpy (d, orig, len);
  put_i32 (d + t_bias, 5);
  TEST_OK (refused (d, len, "n_dims", msg, sizeof msg), "5 dimensions refused: %s", msg);
  memcpy (d, orig, len);
  d[t_bias + 12 + 4 + 16] = 'X'; /* "_model.decoder.rnn.bias_hh" → "..rnX.." */
  TEST_OK (refused (d, len, "unknown tensor", msg, sizeof msg), "an unknown tensor is refused: "
           "%s", msg);
  memcpy (d, orig, len);
  TEST_OK (refused (d, t_last, "missing", msg, sizeof msg), "a missing tensor is refused: %s",
           msg);
  /* the bias tensor appended once more */
  memcpy (d, orig, len);
  size_t bias_len = 12 + 4 + strlen ("_model.decoder.rnn.bias_hh") + 512 * 4;
  uint8_t *twice = malloc (len + bias_len);
  memcpy (twice, orig, len);
  memcpy (twice + len, orig + t_bias, bias_len);
  TEST_OK (refused (twice, len + bias_len, "twice", msg, sizeof msg), "a repeated tensor is "
           "refused: %s", msg);
  free (twice);
  memcpy (d, orig, len);
  memset (d + len, 0, 7);
  TEST_OK (refused (d, len + 7, NULL, msg, sizeof msg), "trailing bytes are refused: %s", msg);

  /* bounded fuzzing with a fixed seed: random bytes of the header and tensor headers changed,
   * random lengths; every copy either loads (a changed weight value) or is refused with a
   * message, never read out of bounds (run under AddressSanitizer by `make asan`) */
  {
    uint32_t seed = 20261204u;
    int loaded = 0, refused_n = 0, silent = 0;
    for (int round = 0; round < 3000; round++) {
      memcpy (d, orig, len);
      int flips = 1 + (int) ((seed = seed * 1664525u + 1013904223u) >> 29);
      for (int f = 0; f < flips; f++) {
        seed = seed * 1664525u + 1013904223u;
        /* mostly the first 200 bytes (the header) and the tensor headers' neighbourhood */
        size_t at = (seed >> 8) % 4 == 0 ? (seed >> 8) % len : (seed >> 8) % 200;
        seed = seed * 1664525u + 1013904223u;
        d[at] = (uint8_t) (seed >> 24);
      }
      seed = seed * 1664525u + 1013904223u;
      size_t cut = (seed >> 8) % 8 == 0 ? (seed >> 8) % len : len;
      lmw_error e = { 0 };
      lmw_vad_model *fm = lmw_vad_model_load_buffer (d, cut, &e);
      if (fm != NULL) {
        loaded++;
        lmw_vad_model_free (fm);
      } else if (e.message[0] != '\0') {
        refused_n++;
      } else {
        silent++;
      }
    }
    TEST_OK (silent == 0 && loaded + refused_n == 3000,
             "3000 randomly corrupted copies: %d refused with a message, %d loaded, %d without "
             "a message", refused_n, loaded, silent);
  }

  lmw_error err = { 0 };
  TEST_OK (lmw_vad_model_load_file ("/nonexistent/vad.bin", &err) == NULL &&
           err.code == LMW_ERR_IO && strstr (err.message, "/nonexistent/vad.bin"),
           "a missing file: %s", err.message);
  lmw_vad_model *m = lmw_vad_model_load_file (path, NULL);
  TEST_OK (m != NULL, "loads without an error struct");
  lmw_vad_model_free (m);
  free (d);
  free (orig);
}

int
main (void)
{
  lmw_vad_model *m = load_fixture_model ();
  TEST_OK (strcmp (lmw_vad_model_description (m), "silero-16k 6.2.0") == 0 &&
           lmw_vad_model_window (m) == 512, "model: %s, window %d",
           lmw_vad_model_description (m), lmw_vad_model_window (m));
  lmw_error err = { 0 };
  lmw_vad_state *st = lmw_vad_state_new (m, &err);
  TEST_OK (st != NULL, "a stream state");
  test_reference (m, st);
  test_segments ();
  test_bad_models ();
  TEST_DIAG ("%llu windows analysed in %.1f ms",
             (unsigned long long) lmw_vad_state_windows (st), lmw_vad_state_time_us (st) / 1e3);
  lmw_vad_state_free (st);
  lmw_vad_model_free (m);
  return test_done ();
}
