/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-decode.c — decoding strategies and long-audio windows on one fixture model
 * (argv[1]: tiny-en-random or tiny-v3-random) and the fixture speech.
 *
 * Asserts (TAP):
 *   - greedy decoding through lmw_transcribe (filters that cannot apply turned off) gives
 *     greedy.tokens of reference.json;
 *   - beam search with beam_size 1 gives exactly the greedy result;
 *   - beam search with beam_size 5 scores at least as well as greedy (sum log-prob over the
 *     same number of tokens, and the length-normalised score it ranks by);
 *   - a log-prob threshold no decoding can meet makes every window fall back up to T = 1.0;
 *     the result is the same for the same seed and differs for another seed;
 *   - a no-speech threshold of 0 with that log-prob threshold skips every window;
 *   - long audio (the sample six times, 42 s): the windows start where the previous one's last
 *     complete timestamp pair ends (or 30 s later), segments never overlap or go back, and
 *     every window's segments are exactly those of that window decoded on its own (offset_ms)
 *     — no words repeated or lost at the seams;
 *   - a window's spectrogram computed alone from its samples (lmw_mel_frames, normalised with
 *     the whole signal's maximum) is bit for bit the whole spectrogram's, at frame 0, at an
 *     odd offset and at the end of the padding;
 *   - lmw_transcribe_reader on long audio (the sample six times, the first copy 40 dB quieter
 *     so that the normalisation's maximum lies outside the first window) gives exactly the
 *     segments, texts and word times of lmw_transcribe on the same samples, never reading
 *     more than one window (30 s and 400 samples) at a time nor outside the audio;
 *   - word timestamps: words are ordered, inside their segment and inside the audio, their
 *     text joins to the segment's, probabilities in (0, 1], and the windows with text were timed
 *     by the cross-attention alignment.
 *   - dynamic time warping finds the staircase of a cost matrix with three cheap blocks;
 *   - text to tokens: real text round-trips through the vocabulary, a common word is one token;
 *   - prompts: an initial prompt and the previous windows' text reach the decoder as
 *     <|startofprev|> tokens <|startoftranscript|> ... — the result equals a window decoded by
 *     hand after exactly that prompt; the previous text is dropped after a window decoded
 *     above T = 0.5 and when conditioning is off.
 *   - draft tokens: greedy decoding with a draft (its own tokens, a draft that leaves them,
 *     the first half's tokens) chooses the same tokens as without one;
 * The models have random weights: the text is meaningless, the mechanics are what is checked.
 */
#include "lmw-align.h"
#include "lmw-context.h"
#include "lmw-mel.h"
#include "lmw-model.h"
#include "lmw-search.h"
#include "lmw-test.h"

static lmw_model *model;
static float *pcm;
static size_t n_samples;

static int
run (const lmw_params *p, const float *audio, size_t n, lmw_result *r)
{
  lmw_error err = { 0 };
  lmw_state *st = lmw_state_new (model, p->n_threads, &err);
  int rc = st ? lmw_transcribe (st, p, audio, n, r, &err) : -1;
  if (rc != 0)
    TEST_DIAG ("transcription failed: %s", err.message);
  lmw_state_free (st);
  return rc;
}

static lmw_params
base_params (void)
{
  lmw_params p = lmw_default_params ();
  p.n_threads = 2;
  p.language = "en";
  p.max_tokens = 24;
  p.temperature_inc = 0.0f;
  return p;
}

static bool
same_results (const lmw_result *a, const lmw_result *b)
{
  if (a->n_segments != b->n_segments)
    return false;
  for (int i = 0; i < a->n_segments; i++) {
    const lmw_segment *x = &a->segments[i], *y = &b->segments[i];
    if (x->t0_ms != y->t0_ms || x->t1_ms != y->t1_ms || x->n_tokens != y->n_tokens ||
        memcmp (x->tokens, y->tokens, sizeof (int) * (size_t) x->n_tokens) != 0)
      return false;
  }
  return true;
}

static void
test_greedy_reference (const char *json)
{
  int want[64];
  int ng = json_int_array (json, "\"greedy\"", "tokens", want, 64);
  lmw_params p = base_params ();
  p.max_tokens = ng;
  p.suppress_blank = false;
  p.suppress_non_speech = false;
  lmw_result r;
  bool ok = run (&p, pcm, n_samples, &r) == 0;
  ok = ok && r.n_segments == 1 && r.segments[0].n_tokens == ng &&
       memcmp (r.segments[0].tokens, want, sizeof (int) * (size_t) ng) == 0;
  TEST_OK (ok, "greedy lmw_transcribe reproduces the %d greedy.tokens (first %d)", ng,
           r.n_segments ? r.segments[0].tokens[0] : -1);
  lmw_result_clear (&r);
}

static void
test_beam (void)
{
  lmw_params p = base_params ();
  lmw_result g, b1, b5;
  bool ok = run (&p, pcm, n_samples, &g) == 0;
  p.beam_size = 1;
  ok = ok && run (&p, pcm, n_samples, &b1) == 0;
  TEST_OK (ok && same_results (&g, &b1), "beam_size 1 == greedy (%d segments)", g.n_segments);
  p.beam_size = 5;
  ok = ok && run (&p, pcm, n_samples, &b5) == 0;
  TEST_OK (ok && g.n_segments == 1 && b5.n_segments == 1, "beam 5 and greedy: one segment each");
  if (ok && g.n_segments == 1 && b5.n_segments == 1) {
    const lmw_segment *x = &g.segments[0], *y = &b5.segments[0];
    double sg = x->sum_logprob / (x->n_tokens > 0 ? x->n_tokens : 1);
    double sb = y->sum_logprob / (y->n_tokens > 0 ? y->n_tokens : 1);
    TEST_DIAG ("greedy: %d tokens, sum log-prob %.4f; beam 5: %d tokens, sum log-prob %.4f; "
               "%zu cache bytes copied", x->n_tokens, x->sum_logprob, y->n_tokens, y->sum_logprob,
               b5.kv_copy_bytes);
    TEST_OK (sb >= sg - 1e-4, "beam 5 length-normalised score %.4f >= greedy's %.4f", sb, sg);
    if (x->n_tokens == y->n_tokens)
      TEST_OK (y->sum_logprob >= x->sum_logprob - 1e-4,
               "same length: beam 5 sum log-prob %.4f >= greedy's %.4f", y->sum_logprob, x->sum_logprob);
    TEST_OK (b5.kv_copy_bytes > 0, "beams forked with cache copies (%zu bytes)", b5.kv_copy_bytes);
  }
  lmw_result_clear (&g);
  lmw_result_clear (&b1);
  lmw_result_clear (&b5);
}

/* draft tokens: greedy decoding with a draft (the window's own tokens, a draft that leaves
 * them at token 5, the tokens of the first half of the audio) chooses the tokens it chooses
 * without one, with timestamps and without; the draft it follows saves decoder steps. */
static void
test_draft (void)
{
  for (int ts = 0; ts < 2; ts++) {
    lmw_params p = base_params ();
    p.timestamps = ts == 1;
    p.compression_threshold = 100.0f; /* one greedy pass */
    p.logprob_threshold = -100.0f;
    p.no_speech_threshold = 1.0f;
    p.condition_on_previous_text = false;
    lmw_result free_run, self_draft, bent, grown, half;
    bool ok = run (&p, pcm, n_samples, &free_run) == 0 && run (&p, pcm, n_samples / 2, &half) == 0;
    int n = ok ? free_run.n_window_tokens : 0;
    TEST_OK (ok && n > 8 && free_run.n_draft_kept == 0, "%s: %d tokens decoded without a draft",
             ts ? "timestamps" : "text", n);
    if (!ok || n <= 8) {
      if (ok) {
        lmw_result_clear (&free_run);
        lmw_result_clear (&half);
      }
      continue;
    }
    int *draft = malloc (sizeof (int) * (size_t) n);
    memcpy (draft, free_run.window_tokens, sizeof (int) * (size_t) n);
    p.draft_tokens = draft;
    p.n_draft_tokens = n;
    ok = run (&p, pcm, n_samples, &self_draft) == 0;
    TEST_OK (ok && same_results (&free_run, &self_draft) && self_draft.n_window_tokens == n &&
             memcmp (self_draft.window_tokens, draft, sizeof (int) * (size_t) n) == 0,
             "%s: its own tokens as the draft: the same tokens", ts ? "timestamps" : "text");
    TEST_OK (ok && self_draft.n_draft_kept >= n / 2 &&
             self_draft.n_decoded <= free_run.n_decoded + LMW_DRAFT_ROWS,
             "%s: %d of %d tokens came from multi-row steps (%d tokens through the decoder; "
             "without the draft %d)", ts ? "timestamps" : "text", ok ? self_draft.n_draft_kept : -1,
             n, ok ? self_draft.n_decoded : -1, free_run.n_decoded);
    draft[5] = draft[5] == 11 ? 13 : 11; /* "," or "." where the decoding wrote something else */
    ok = ok && run (&p, pcm, n_samples, &bent) == 0;
    TEST_OK (ok && same_results (&free_run, &bent), "%s: a draft that leaves the tokens at 5: "
             "the same tokens", ts ? "timestamps" : "text");
    p.draft_tokens = half.window_tokens;
    p.n_draft_tokens = half.n_window_tokens;
    ok = ok && run (&p, pcm, n_samples, &grown) == 0;
    TEST_OK (ok && same_results (&free_run, &grown), "%s: the first half's tokens as the draft: "
             "the same tokens (%d kept)", ts ? "timestamps" : "text", ok ? grown.n_draft_kept : -1);
    free (draft);
    lmw_result_clear (&free_run);
    lmw_result_clear (&self_draft);
    lmw_result_clear (&bent);
    lmw_result_clear (&grown);
    lmw_result_clear (&half);
  }
}

static void
test_fallback (void)
{
  lmw_params p = base_params ();
  p.timestamps = true;
  p.temperature_inc = 0.2f;
  p.logprob_threshold = 0.0f; /* no decoding has an average log-prob above 0 */
  p.no_speech_threshold = 1.0f;
  p.seed = 42;
  lmw_result a, b, c, s;
  bool ok = run (&p, pcm, n_samples, &a) == 0 && run (&p, pcm, n_samples, &b) == 0;
  TEST_OK (ok && a.n_windows >= 1 && a.n_fallbacks == 5 * a.n_windows, "forced failure: %d fallbacks in %d windows",
           a.n_fallbacks, a.n_windows);
  bool all_t1 = ok && a.n_segments > 0;
  for (int i = 0; ok && i < a.n_segments; i++)
    all_t1 &= fabsf (a.segments[i].temperature - 1.0f) < 1e-5f;
  TEST_OK (all_t1, "the kept decoding is the last one, at T = 1.0");
  TEST_OK (ok && same_results (&a, &b), "same seed, same result (%d segments)", a.n_segments);
  p.seed = 7;
  ok = ok && run (&p, pcm, n_samples, &c) == 0;
  TEST_OK (ok && !same_results (&a, &c), "another seed, another sample");
  p.no_speech_threshold = 0.0f;
  ok = ok && run (&p, pcm, n_samples, &s) == 0;
  TEST_OK (ok && s.n_segments == 0 && s.n_skipped == s.n_windows && s.n_fallbacks == 0,
           "no-speech threshold 0 with a failed log-prob: every window skipped, no retry "
           "(%d segments, %d skipped)", s.n_segments, s.n_skipped);
  lmw_result_clear (&a);
  lmw_result_clear (&b);
  lmw_result_clear (&c);
  lmw_result_clear (&s);
}

static void
check_words (const lmw_result *r, int64_t audio_ms)
{
  bool ordered = true, inside = true, text = true, probs = true;
  int n_words = 0;
  int64_t prev = 0;
  for (int i = 0; i < r->n_segments; i++) {
    const lmw_segment *s = &r->segments[i];
    size_t tl = 0;
    char joined[65536] = "";
    for (int w = 0; w < s->n_words; w++) {
      const lmw_word *x = &s->words[w];
      ordered &= x->t0_ms <= x->t1_ms && x->t0_ms >= prev;
      prev = x->t1_ms;
      inside &= x->t0_ms >= s->t0_ms && x->t1_ms <= s->t1_ms && x->t1_ms <= audio_ms;
      probs &= x->probability > 0.0f && x->probability <= 1.0f;
      if (tl + strlen (x->text) < sizeof joined) {
        memcpy (joined + tl, x->text, strlen (x->text) + 1);
        tl += strlen (x->text);
      }
      n_words++;
    }
    text &= strcmp (joined, s->text) == 0 || tl + 1 >= sizeof joined;
  }
  TEST_OK (n_words > 0 && ordered, "%d words in time order", n_words);
  TEST_OK (inside, "words inside their segments and the audio (%.2f s)", audio_ms / 1000.0);
  TEST_OK (text, "words join to their segment's text");
  TEST_OK (probs, "word probabilities in (0, 1]");
}

static void
test_long_audio (void)
{
  int copies = 6;
  size_t n = n_samples * (size_t) copies;
  float *lng = malloc (sizeof (float) * n);
  for (int c = 0; c < copies; c++)
    memcpy (lng + (size_t) c * n_samples, pcm, sizeof (float) * n_samples);
  int64_t audio_ms = (int64_t) (n / LMW_HOP) * 10;
  lmw_params p = base_params ();
  p.timestamps = true;
  p.word_timestamps = true;
  p.max_tokens = 64;
  p.temperature_inc = 0.2f;
  p.seed = 3;
  p.condition_on_previous_text = false; /* each window must equal its own decode */
  lmw_result r;
  bool ok = run (&p, lng, n, &r) == 0;
  TEST_OK (ok && r.n_windows >= 2, "%.1f s of audio: %d windows, %d segments, %d fallbacks",
           audio_ms / 1000.0, r.n_windows, r.n_segments, r.n_fallbacks);
  if (!ok) {
    free (lng);
    return;
  }
  /* windows in order; a window starts where the previous one's last segment ends, or 30 s on */
  bool seams = true, no_overlap = true;
  int n_follow = 0;
  int64_t prev_end = 0;
  for (int i = 0; i < r.n_segments; i++) {
    const lmw_segment *s = &r.segments[i];
    no_overlap &= s->t0_ms >= prev_end && s->t1_ms >= s->t0_ms;
    prev_end = s->t1_ms;
    if (i + 1 < r.n_segments && r.segments[i + 1].window_ms != s->window_ms) {
      int64_t next = r.segments[i + 1].window_ms;
      bool follows = next == s->t1_ms;
      n_follow += follows;
      seams &= next > s->window_ms && (follows || next >= s->window_ms + 30000);
    }
  }
  TEST_OK (seams, "each window starts at the previous one's last complete timestamp (%d times) "
           "or 30 s later", n_follow);
  TEST_OK (no_overlap, "segments never overlap nor go back in time");
  for (int i = 0; i < r.n_segments; i++)
    TEST_DIAG ("  window %6.2f  [%6.2f --> %6.2f] T=%.1f %d tokens", r.segments[i].window_ms / 1000.0,
               r.segments[i].t0_ms / 1000.0, r.segments[i].t1_ms / 1000.0,
               r.segments[i].temperature, r.segments[i].n_tokens);
  /* each window against its own decode */
  bool same = true;
  int n_checked = 0;
  for (int i = 0; i < r.n_segments;) {
    int64_t w = r.segments[i].window_ms;
    int j = i;
    while (j < r.n_segments && r.segments[j].window_ms == w)
      j++;
    lmw_params q = p;
    q.offset_ms = w;
    q.duration_ms = 30000;
    lmw_result one;
    if (run (&q, lng, n, &one) != 0) {
      same = false;
      break;
    }
    int k = 0;
    for (int x = 0; x < one.n_segments; x++)
      if (one.segments[x].window_ms == w) {
        const lmw_segment *a = &one.segments[x];
        const lmw_segment *b = i + k < j ? &r.segments[i + k] : NULL;
        same &= b && a->t0_ms == b->t0_ms && a->t1_ms == b->t1_ms && a->n_tokens == b->n_tokens &&
                memcmp (a->tokens, b->tokens, sizeof (int) * (size_t) a->n_tokens) == 0;
        k++;
      }
    same &= k == j - i;
    n_checked++;
    lmw_result_clear (&one);
    i = j;
  }
  TEST_OK (same && n_checked >= 2, "%d windows: the same segments as each window decoded on its own",
           n_checked);
  check_words (&r, audio_ms);
  TEST_OK (r.n_aligned > 0 && r.n_aligned <= r.n_windows, "word times of %d of %d windows from "
           "the cross-attention alignment", r.n_aligned, r.n_windows);
  lmw_result_clear (&r);
  free (lng);
}

static void
test_mel_window (void)
{
  int copies = 3;
  size_t n = n_samples * (size_t) copies;
  float *lng = malloc (sizeof (float) * n);
  for (int c = 0; c < copies; c++)
    for (size_t i = 0; i < n_samples; i++)
      lng[(size_t) c * n_samples + i] = pcm[i] * (c == 0 ? 0.01f : 1.0f);
  float *whole = NULL;
  int n_frames = 0, n_mels = model->hp.n_mels, window = 2 * model->hp.n_audio_ctx;
  lmw_error err = { 0 };
  bool ok = lmw_mel_compute (model, lng, n, 2, &whole, &n_frames, &err) == 0;
  /* the maximum of the whole signal, from its raw frames computed window by window */
  float *raw = malloc (sizeof (float) * (size_t) n_mels * (size_t) window);
  float max = -INFINITY;
  for (int f0 = 0; ok && f0 < n_frames; f0 += window) {
    int f1 = f0 + window < n_frames ? f0 + window : n_frames;
    float m = -INFINITY;
    lmw_mel_frames (raw, f1 - f0, lng, 0, n, LMW_CHUNK_SAMPLES, f0, f1, model->mel_filters, n_mels, 2, &m);
    max = m > max ? m : max;
  }
  const int starts[] = { 0, 1234, n_frames - 700 };
  int n_diff = 0;
  for (int k = 0; ok && k < 3; k++) {
    int f0 = starts[k], f1 = f0 + window < n_frames ? f0 + window : n_frames;
    long lo = (long) f0 * LMW_HOP - LMW_N_FFT / 2;
    size_t base = lo > 0 ? (size_t) lo : 0;
    float m = 0.0f;
    /* only the samples the frames read, at their own address */
    size_t hi = (size_t) f1 * LMW_HOP + LMW_N_FFT / 2;
    hi = hi < n ? hi : n;
    float *part = malloc (sizeof (float) * (hi > base ? hi - base : 1));
    if (hi > base)
      memcpy (part, lng + base, sizeof (float) * (hi - base));
    lmw_mel_frames (raw, f1 - f0, part, base, n, LMW_CHUNK_SAMPLES, f0, f1, model->mel_filters,
                    n_mels, 2, &m);
    lmw_mel_normalise (raw, (size_t) n_mels * (size_t) (f1 - f0), max);
    for (int c = 0; c < n_mels; c++)
      for (int t = f0; t < f1; t++)
        n_diff += memcmp (&raw[(size_t) c * (f1 - f0) + (t - f0)], &whole[(size_t) c * n_frames + t],
                          sizeof (float)) != 0;
    free (part);
  }
  TEST_OK (ok && n_diff == 0, "windows of the spectrogram computed alone equal the whole one bit "
           "for bit (%d values differ)", n_diff);
  free (raw);
  free (whole);
  free (lng);
}

typedef struct {
  const float *pcm;
  size_t n;
  size_t max_read; /* the most samples one call asked for */
  bool outside;    /* a call asked for samples outside the audio */
  int calls;
} reader_log;

static int
read_samples (void *user_data, size_t offset, float *out, size_t n, lmw_error *err)
{
  reader_log *l = user_data;
  l->calls++;
  if (offset + n > l->n || n == 0) {
    l->outside = true;
    return -1;
  }
  l->max_read = n > l->max_read ? n : l->max_read;
  memcpy (out, l->pcm + offset, sizeof (float) * n);
  return 0;
}

static bool
same_words (const lmw_result *a, const lmw_result *b)
{
  for (int i = 0; i < a->n_segments && i < b->n_segments; i++) {
    const lmw_segment *x = &a->segments[i], *y = &b->segments[i];
    if (strcmp (x->text, y->text) != 0 || x->n_words != y->n_words ||
        x->avg_logprob != y->avg_logprob || x->no_speech_prob != y->no_speech_prob)
      return false;
    for (int w = 0; w < x->n_words; w++)
      if (x->words[w].t0_ms != y->words[w].t0_ms || x->words[w].t1_ms != y->words[w].t1_ms ||
          strcmp (x->words[w].text, y->words[w].text) != 0 ||
          x->words[w].probability != y->words[w].probability)
        return false;
  }
  return true;
}

static void
test_reader (void)
{
  int copies = 6;
  size_t n = n_samples * (size_t) copies;
  float *lng = malloc (sizeof (float) * n);
  for (int c = 0; c < copies; c++)
    for (size_t i = 0; i < n_samples; i++)
      lng[(size_t) c * n_samples + i] = pcm[i] * (c == 0 ? 0.01f : 1.0f);
  lmw_params p = base_params ();
  p.timestamps = true;
  p.word_timestamps = true;
  p.max_tokens = 64;
  lmw_result whole, windowed;
  reader_log log = { lng, n, 0, false, 0 };
  lmw_error err = { 0 };
  lmw_state *st = lmw_state_new (model, p.n_threads, &err);
  bool ok = st && run (&p, lng, n, &whole) == 0 &&
            lmw_transcribe_reader (st, &p, read_samples, &log, n, &windowed, &err) == 0;
  TEST_OK (ok, "%.1f s through lmw_transcribe and lmw_transcribe_reader (%s)", n / 16000.0,
           ok ? "ok" : err.message);
  if (ok) {
    TEST_OK (whole.n_windows >= 2 && whole.n_windows == windowed.n_windows &&
             same_results (&whole, &windowed) && same_words (&whole, &windowed),
             "the same %d windows, %d segments, texts and word times", windowed.n_windows,
             windowed.n_segments);
    TEST_OK (!log.outside && log.max_read <= (size_t) 30 * 16000 + 400,
             "%d reads of at most %zu samples, none outside the audio", log.calls, log.max_read);
    lmw_result_clear (&whole);
    lmw_result_clear (&windowed);
  }
  lmw_state_free (st);
  free (lng);
}

static void
test_text_to_tokens (void)
{
  const char *texts[] = { " Hello world, it's 2026: the caf\xc3\xa9's na\xc3\xafve r\xc3\xa9sum\xc3\xa9!",
                          "  two  spaces\tand a tab\n", " \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "" };
  bool round = true, in_range = true;
  int total = 0;
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    int *t = NULL, n = 0;
    lmw_error err = { 0 };
    if (lmw_text_to_tokens (model, texts[i], &t, &n, &err) != 0) {
      TEST_DIAG ("'%s': %s", texts[i], err.message);
      round = false;
      continue;
    }
    char *back = lmw_tokens_to_text (model, t, n);
    round &= back != NULL && strcmp (back, texts[i]) == 0;
    for (int k = 0; k < n; k++)
      in_range &= t[k] >= 0 && t[k] < model->sp.eot;
    total += n;
    free (back);
    free (t);
  }
  TEST_OK (round && in_range, "text -> %d tokens -> the same text (4 texts, UTF-8 included)", total);
  int *t = NULL, n = 0;
  lmw_error err = { 0 };
  size_t len = 0;
  const char *b = lmw_text_to_tokens (model, " the", &t, &n, &err) == 0 && n == 1
                      ? lmw_token_bytes (model, t[0], &len) : NULL;
  TEST_OK (b != NULL && len == 4 && memcmp (b, " the", 4) == 0, "' the' is one token (%d)", n > 0 ? t[0] : -1);
  free (t);
}

/* decodes the window at offset_frames by hand after the prompt
 * <|startofprev|> prev <|startoftranscript|> [<|en|> <|transcribe|>] <|notimestamps|> */
static int
decode_by_hand (const lmw_params *p, const float *audio, size_t n, int offset_frames, const int *prev,
                int n_prev, lmw_seq *out)
{
  const lmw_special_tokens *sp = &model->sp;
  lmw_error err = { 0 };
  lmw_state *st = lmw_state_new (model, p->n_threads, &err);
  float *mel = NULL;
  int n_frames = 0, rc = -1;
  int *tok = malloc (sizeof (int) * (size_t) (n_prev + 8));
  lmw_search s;
  bool search = false;
  if (st == NULL || tok == NULL || lmw_mel_compute (model, audio, n, p->n_threads, &mel, &n_frames, &err) != 0 ||
      lmw_encode (st, mel, n_frames, offset_frames, &err) != 0)
    goto out;
  int np = 0;
  tok[np++] = sp->prev;
  memcpy (tok + np, prev, sizeof (int) * (size_t) n_prev);
  np += n_prev;
  int sot_at = np;
  tok[np++] = sp->sot;
  if (sp->multilingual) {
    tok[np++] = lmw_language_token (model, "en");
    tok[np++] = sp->transcribe;
  }
  tok[np++] = sp->notimestamps;
  if (lmw_search_init (&s, st, p, &err) != 0)
    goto out;
  search = true;
  if (lmw_decode (st, tok, sot_at, 0, NULL, false, &err) != 0 ||
      lmw_decode (st, tok + sot_at, np - sot_at, sot_at, s.first_logits, false, &err) != 0)
    goto out;
  s.n_prompt = np;
  rc = lmw_search_window (&s, 0.0f, out, &err);
out:
  if (rc != 0)
    TEST_DIAG ("decode by hand failed: %s", err.message);
  if (search)
    lmw_search_clear (&s);
  free (tok);
  free (mel);
  lmw_state_free (st);
  return rc;
}

static void
test_prompts (void)
{
  lmw_params p = base_params ();
  p.initial_prompt = "  Lightning quarterly results, by Ana Gonz\xc3\xa1lez. ";
  int *pt = NULL, npt = 0;
  lmw_error err = { 0 };
  lmw_result a;
  lmw_seq *q = lmw_seq_new (p.max_tokens + 1);
  bool ok = lmw_text_to_tokens (model, " Lightning quarterly results, by Ana Gonz\xc3\xa1lez.", &pt, &npt, &err) == 0 &&
            run (&p, pcm, n_samples, &a) == 0;
  TEST_OK (ok && a.n_conditioned == 1 && a.n_segments == 1, "an initial prompt conditions the one window "
           "(%d conditioned, %d prompt tokens)", ok ? a.n_conditioned : -1, npt);
  ok = ok && a.n_segments == 1 && decode_by_hand (&p, pcm, n_samples, 0, pt, npt, q) == 0;
  TEST_OK (ok && q->n == a.segments[0].n_tokens &&
           memcmp (q->tokens, a.segments[0].tokens, sizeof (int) * (size_t) q->n) == 0,
           "the window equals a decode by hand after <|startofprev|> and the prompt's tokens (%d tokens)",
           q->n);
  if (ok)
    lmw_result_clear (&a);
  free (pt);

  /* six copies of the sample, 42 s: two windows without timestamps (30 s and 12 s) */
  int copies = 6;
  size_t n = n_samples * (size_t) copies;
  float *lng = malloc (sizeof (float) * n);
  for (int c = 0; c < copies; c++)
    memcpy (lng + (size_t) c * n_samples, pcm, sizeof (float) * n_samples);
  p = base_params ();
  lmw_result r, off, hot, hot_prompt;
  ok = run (&p, lng, n, &r) == 0;
  int w2 = -1;
  for (int i = 0; ok && i < r.n_segments; i++)
    if (r.segments[i].window_ms > 0) {
      w2 = i;
      break;
    }
  TEST_OK (ok && r.n_windows == 2 && w2 == 1 && r.n_conditioned == 1,
           "%d windows, the second conditioned on the first (%d conditioned)", ok ? r.n_windows : -1,
           ok ? r.n_conditioned : -1);
  if (ok && w2 == 1) {
    const lmw_segment *s1 = &r.segments[0], *s2 = &r.segments[1];
    bool same = decode_by_hand (&p, lng, n, (int) (s2->window_ms / 10), s1->tokens, s1->n_tokens, q) == 0 &&
                q->n == s2->n_tokens && memcmp (q->tokens, s2->tokens, sizeof (int) * (size_t) q->n) == 0;
    TEST_OK (same, "window 2 equals a decode by hand after <|startofprev|> and window 1's %d tokens",
             s1->n_tokens);
  }
  p.condition_on_previous_text = false;
  ok = run (&p, lng, n, &off) == 0;
  TEST_OK (ok && off.n_conditioned == 0 && off.n_windows == 2, "conditioning off: no window conditioned");
  p.initial_prompt = "Lightning.";
  lmw_result off_prompt;
  bool ok2 = run (&p, lng, n, &off_prompt) == 0;
  TEST_OK (ok2 && off_prompt.n_conditioned == 1, "conditioning off: the initial prompt still conditions "
           "the first window (%d)", ok2 ? off_prompt.n_conditioned : -1);
  /* every window falls back to T = 1.0: its text is not carried on */
  p = base_params ();
  p.temperature_inc = 0.2f;
  p.logprob_threshold = 0.0f;
  p.no_speech_threshold = 1.0f;
  bool ok3 = run (&p, lng, n, &hot) == 0;
  TEST_OK (ok3 && hot.n_windows == 2 && hot.n_conditioned == 0, "after a window decoded at T = 1.0 the "
           "next one starts without previous text (%d conditioned)", ok3 ? hot.n_conditioned : -1);
  p.initial_prompt = "Lightning.";
  bool ok4 = run (&p, lng, n, &hot_prompt) == 0;
  TEST_OK (ok4 && hot_prompt.n_conditioned == 1, "... and the initial prompt only conditions the first (%d)",
           ok4 ? hot_prompt.n_conditioned : -1);
  if (ok)
    lmw_result_clear (&off);
  if (ok2)
    lmw_result_clear (&off_prompt);
  if (ok3)
    lmw_result_clear (&hot);
  if (ok4)
    lmw_result_clear (&hot_prompt);
  lmw_result_clear (&r);
  lmw_seq_free (q);
  free (lng);
}

static void
test_dtw (void)
{
  /* rows 0, 1, 2 cheap on columns 0-2, 3-6, 7-9; a distracting cheap cell in row 0, column 8 */
  enum { N = 3, M = 10 };
  float cost[N * M];
  for (int i = 0; i < N; i++)
    for (int j = 0; j < M; j++)
      cost[i * M + j] = 1.0f;
  for (int j = 0; j < 3; j++)
    cost[0 * M + j] = -1.0f;
  for (int j = 3; j < 7; j++)
    cost[1 * M + j] = -1.0f;
  for (int j = 7; j < 10; j++)
    cost[2 * M + j] = -1.0f;
  cost[0 * M + 8] = -1.0f;
  int starts[N] = { -1, -1, -1 };
  TEST_OK (lmw_dtw_starts (cost, N, M, starts) == 0 && starts[0] == 0 && starts[1] == 3 &&
           starts[2] == 7, "DTW: rows start at columns %d, %d, %d (want 0, 3, 7)", starts[0],
           starts[1], starts[2]);
}

int
main (int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "tiny-en-random";
  const char *dir = fixture_dir (name);
  char *json = read_file (dir, "reference.json", NULL);
  char path[4300];
  lmw_error err = { 0 };
  snprintf (path, sizeof path, "%s/model.ggml.bin", dir);
  model = lmw_model_load_file (path, &err);
  TEST_OK (json && model, "fixture %s loads (%s)", name, model ? "ok" : err.message);
  snprintf (path, sizeof path, "%s/../../audio/speech-sample.wav", dir);
  TEST_OK (model && lmw_wav_read (path, &pcm, &n_samples, &err) == 0, "speech-sample.wav read");
  if (model == NULL || json == NULL || pcm == NULL)
    return test_done ();
  test_dtw ();
  test_greedy_reference (json);
  test_beam ();
  test_fallback ();
  test_draft ();
  test_long_audio ();
  test_mel_window ();
  test_reader ();
  test_text_to_tokens ();
  test_prompts ();
  lmw_model_free (model);
  free (pcm);
  free (json);
  return test_done ();
}
