/* SPDX-License-Identifier: MIT */
/*
 * lmw-transcribe.c — audio to text segments, window by window, as the reference transcriber:
 *
 *   - the log-mel of the whole audio (padded with 30 s of silence) is computed once; each
 *     window is its next 30 s (3000 frames).  lmw_transcribe_reader keeps no more than one
 *     window of samples instead: a first pass over the audio finds the maximum the
 *     normalisation needs, then each window's frames are computed from its own samples;
 *     the values, and so the results, are those of the whole spectrogram;
 *   - prompt [<|startofprev|> previous text] <|startoftranscript|> [<|lang|> <|task|>]
 *     [<|notimestamps|>]: the previous text is the initial prompt and the tokens of the
 *     windows decoded so far (timestamps included), at most n_text_ctx / 2 - 1 of the last
 *     ones; it restarts empty after a window decoded at a temperature above 0.5 (its text is
 *     doubtful) and after every window when condition_on_previous_text is off; with language
 *     "auto" on a multilingual model the language is detected on the first window (argmax of
 *     the language tokens after <|startoftranscript|>) and kept;
 *   - the window is decoded at temperature 0 (greedy or beam search, lmw-search.c); when the
 *     text compresses too well (zlib ratio > compression_threshold: repetition loops) or the
 *     average log-prob is below logprob_threshold, it is decoded again at temperature_inc,
 *     2 * temperature_inc, ... 1.0 with sampling, unless it is silence: the no-speech
 *     probability (softmax of <|nospeech|> at the <|startoftranscript|> position) above
 *     no_speech_threshold and the average log-prob below logprob_threshold;
 *   - a window whose no-speech probability is above the threshold and whose average log-prob
 *     is below logprob_threshold is skipped as silence;
 *   - timestamp tokens cut the window into segments; the next window starts at the last
 *     complete timestamp pair (the words after it are decoded again in the next window, in
 *     full), or 30 s later when the window ends with a single timestamp or has none;
 *   - word timestamps: words are the runs of tokens from one that starts with a space to the
 *     next; token times come from the cross-attention alignment of the window's text
 *     (lmw-align.c), clamped into the token's segment; when the alignment cannot run (text
 *     longer than the context) each token gets a share of its segment proportional to its
 *     byte length.  A word's probability is the mean of its tokens'.
 */
#include "lmw-align.h"
#include "lmw-mel.h"
#include "lmw-search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

lmw_params
lmw_default_params (void)
{
  lmw_params p = {
    .n_threads = 1,
    .language = "en",
    .translate = false,
    .timestamps = false,
    .beam_size = 1,
    .best_of = 5,
    .max_tokens = 0,
    .min_tokens = 0,
    .temperature_inc = 0.2f,
    .logprob_threshold = -1.0f,
    .no_speech_threshold = 0.6f,
    .compression_threshold = 2.4f,
    .suppress_blank = true,
    .suppress_non_speech = true,
    .word_timestamps = false,
    .seed = 0,
    .offset_ms = 0,
    .duration_ms = 0,
    .condition_on_previous_text = true,
    .initial_prompt = NULL,
  };
  return p;
}

void
lmw_result_clear (lmw_result *r)
{
  if (r == NULL)
    return;
  for (int i = 0; i < r->n_segments; i++) {
    lmw_segment *s = &r->segments[i];
    free (s->text);
    free (s->tokens);
    free (s->token_logprobs);
    for (int w = 0; w < s->n_words; w++)
      free (s->words[w].text);
    free (s->words);
  }
  free (r->segments);
  free (r->window_tokens);
  memset (r, 0, sizeof *r);
}

float
lmw_compression_ratio (const char *text)
{
  size_t len = text ? strlen (text) : 0;
  if (len == 0)
    return 0.0f;
  uLongf cap = compressBound ((uLong) len);
  unsigned char *buf = malloc (cap);
  if (buf == NULL)
    return 0.0f;
  uLongf out = cap;
  float r = 0.0f;
  if (compress2 (buf, &out, (const Bytef *) text, (uLong) len, Z_DEFAULT_COMPRESSION) == Z_OK && out > 0)
    r = (float) len / (float) out;
  free (buf);
  return r;
}

/* ---- segments and words ------------------------------------------------------------------ */

/* words of s; tok_ms (nullable): n_tokens + 1 absolute token boundaries, else proportional */
static int
add_words (lmw_segment *s, const lmw_model *m, const int64_t *tok_ms)
{
  if (s->n_tokens == 0)
    return 0;
  size_t total = 0;
  for (int i = 0; i < s->n_tokens; i++) {
    size_t l = 0;
    lmw_token_bytes (m, s->tokens[i], &l);
    total += l > 0 ? l : 1;
  }
  s->words = calloc ((size_t) s->n_tokens, sizeof *s->words);
  if (s->words == NULL)
    return -1;
  double span = (double) (s->t1_ms - s->t0_ms);
  size_t done = 0;
  int64_t prev = s->t0_ms;
  for (int i = 0; i < s->n_tokens;) {
    int j = i + 1;
    for (; j < s->n_tokens; j++) {
      size_t l = 0;
      const char *b = lmw_token_bytes (m, s->tokens[j], &l);
      if (b && l > 0 && b[0] == ' ')
        break;
    }
    size_t bytes = 0;
    double p = 0.0;
    for (int k = i; k < j; k++) {
      size_t l = 0;
      lmw_token_bytes (m, s->tokens[k], &l);
      bytes += l > 0 ? l : 1;
      p += exp ((double) s->token_logprobs[k]);
    }
    lmw_word *w = &s->words[s->n_words];
    if (tok_ms != NULL) {
      w->t0_ms = tok_ms[i];
      w->t1_ms = tok_ms[j];
    } else {
      w->t0_ms = s->t0_ms + (int64_t) llround (span * (double) done / (double) total);
      w->t1_ms = s->t0_ms + (int64_t) llround (span * (double) (done + bytes) / (double) total);
    }
    done += bytes;
    /* inside the segment, in order */
    w->t0_ms = w->t0_ms < prev ? prev : w->t0_ms > s->t1_ms ? s->t1_ms : w->t0_ms;
    w->t1_ms = w->t1_ms < w->t0_ms ? w->t0_ms : w->t1_ms > s->t1_ms ? s->t1_ms : w->t1_ms;
    prev = w->t1_ms;
    w->probability = (float) (p / (j - i));
    w->text = lmw_tokens_to_text (m, s->tokens + i, j - i);
    if (w->text == NULL)
      return -1;
    s->n_words++;
    i = j;
  }
  return 0;
}

/* words of the segments [first, r->n_segments) decoded in the window at seek (seg_frames
 * of audio), timed by aligning their text on the window's cross-attention */
static int
window_words (lmw_state *st, lmw_result *r, int first, const int *prompt, int np, int seek,
              int seg_frames, lmw_error *err)
{
  const lmw_model *m = st->model;
  int n_text = 0;
  for (int i = first; i < r->n_segments; i++)
    n_text += r->segments[i].n_tokens;
  int *text = malloc (sizeof (int) * (size_t) (n_text > 0 ? n_text : 1));
  int64_t *times = malloc (sizeof (int64_t) * (size_t) (n_text + 1));
  if (text == NULL || times == NULL) {
    free (text);
    free (times);
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  int k = 0;
  for (int i = first; i < r->n_segments; i++) {
    memcpy (text + k, r->segments[i].tokens, sizeof (int) * (size_t) r->segments[i].n_tokens);
    k += r->segments[i].n_tokens;
  }
  int n_sot = np > 0 && prompt[np - 1] == m->sp.notimestamps ? np - 1 : np;
  lmw_error aerr = { 0 };
  bool aligned = n_text > 0 &&
                 lmw_align_tokens (st, prompt, n_sot, text, n_text, seg_frames, times, &aerr) == 0;
  int rc = 0;
  r->n_aligned += aligned;
  k = 0;
  for (int i = first; i < r->n_segments && rc == 0; i++) {
    lmw_segment *s = &r->segments[i];
    const int64_t *tk = times + k; /* relative to the window */
    if (aligned) {
      int64_t *abs_ms = malloc (sizeof (int64_t) * (size_t) (s->n_tokens + 1));
      if (abs_ms == NULL) {
        rc = -1;
        break;
      }
      for (int t = 0; t <= s->n_tokens; t++)
        abs_ms[t] = (int64_t) seek * 10 + tk[t];
      rc = add_words (s, m, abs_ms);
      free (abs_ms);
    } else {
      rc = add_words (s, m, NULL);
    }
    k += s->n_tokens;
  }
  if (rc != 0)
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
  free (text);
  free (times);
  return rc;
}

typedef struct {
  float avg_logprob, no_speech_prob, temperature, compression_ratio;
  double sum_logprob;
  int64_t window_ms;
  int64_t end_ms; /* end of the audio: segment times are clamped to it */
} window_info;

/* adds the text tokens of toks[0..n) as a segment [t0, t1] */
static int
add_segment (lmw_result *r, const lmw_model *m, const lmw_params *p, int64_t t0, int64_t t1,
             const int *toks, const float *lps, int n, const window_info *wi)
{
  lmw_segment *ns = realloc (r->segments, sizeof *ns * (size_t) (r->n_segments + 1));
  if (ns == NULL)
    return -1;
  r->segments = ns;
  lmw_segment *s = &ns[r->n_segments];
  memset (s, 0, sizeof *s);
  s->tokens = malloc (sizeof (int) * (size_t) (n > 0 ? n : 1));
  s->token_logprobs = malloc (sizeof (float) * (size_t) (n > 0 ? n : 1));
  if (s->tokens == NULL || s->token_logprobs == NULL)
    goto fail;
  for (int i = 0; i < n; i++)
    if (toks[i] < m->sp.eot) {
      s->tokens[s->n_tokens] = toks[i];
      s->token_logprobs[s->n_tokens++] = lps[i];
    }
  s->text = lmw_tokens_to_text (m, s->tokens, s->n_tokens);
  if (s->text == NULL)
    goto fail;
  s->t0_ms = t0 < wi->end_ms ? t0 : wi->end_ms;
  s->t1_ms = t1 < wi->end_ms ? t1 : wi->end_ms;
  if (s->t1_ms < s->t0_ms)
    s->t1_ms = s->t0_ms;
  s->avg_logprob = wi->avg_logprob;
  s->no_speech_prob = wi->no_speech_prob;
  s->temperature = wi->temperature;
  s->compression_ratio = wi->compression_ratio;
  s->sum_logprob = wi->sum_logprob;
  s->window_ms = wi->window_ms;
  r->n_segments++;
  return 0;
fail:
  free (s->tokens);
  free (s->token_logprobs);
  free (s->text);
  return -1;
}

/* Cuts q (decoded in the window at frame seek, seg_frames long) into segments; returns the
 * frames to advance, or -1 on allocation failure.  *consumed gets how many of q's tokens the
 * segments took (the rest is decoded again in the next window). */
static int
emit_window (lmw_result *r, const lmw_model *m, const lmw_params *p, const lmw_seq *q, int seek,
             int seg_frames, const window_info *wi, int *consumed)
{
  int tb = m->sp.timestamp_begin, n = q->n;
  const int *g = q->tokens;
  int64_t w0 = (int64_t) seek * 10;
  bool single_end = n >= 2 && g[n - 2] < tb && g[n - 1] >= tb;
  int last = 0, n_cuts = 0;
  *consumed = n;
  for (int i = 1; i < n; i++)
    if (g[i - 1] >= tb && g[i] >= tb) { /* a pair <|t1|><|t2|>: a segment ends at i */
      if (add_segment (r, m, p, w0 + (int64_t) (g[last] - tb) * 20, w0 + (int64_t) (g[i - 1] - tb) * 20,
                       g + last, q->logprobs + last, i - last, wi) != 0)
        return -1;
      last = i;
      n_cuts++;
    }
  if (n_cuts > 0) {
    if (single_end) {
      if (add_segment (r, m, p, w0 + (int64_t) (g[last] - tb) * 20, w0 + (int64_t) (g[n - 1] - tb) * 20,
                       g + last, q->logprobs + last, n - last, wi) != 0)
        return -1;
      return seg_frames;
    }
    /* restart at the last complete timestamp: 0.02 s = 2 frames */
    *consumed = last;
    int adv = (g[last - 1] - tb) * 2;
    return adv > 0 ? adv : seg_frames;
  }
  int64_t dur = (int64_t) seg_frames * 10;
  int last_ts = -1;
  for (int i = 0; i < n; i++)
    if (g[i] >= tb)
      last_ts = g[i] - tb;
  if (last_ts > 0)
    dur = (int64_t) last_ts * 20;
  bool any_text = false;
  for (int i = 0; i < n; i++)
    any_text |= g[i] < m->sp.eot;
  if (any_text && add_segment (r, m, p, w0, w0 + dur, g, q->logprobs, n, wi) != 0)
    return -1;
  return seg_frames;
}

/* ---- where the windows' spectrogram comes from ------------------------------------------- */

/* Either the whole log-mel in memory (lmw_transcribe), or one window's frames computed from
 * the samples a reader gives (lmw_transcribe_reader). */
typedef struct {
  const lmw_model *m;
  int n_threads;
  size_t n_samples;
  int n_frames;          /* of the padded signal */
  int window;            /* frames per window */
  float *mel;            /* owned: whole: (n_mels, n_frames); reader: one window (n_mels, window) */
  lmw_pcm_reader read;   /* NULL: whole */
  void *user_data;
  float *pcm;            /* owned, reader: the samples one window reads */
  float max;             /* reader: the largest raw value of the whole signal */
  /* the backend computes the spectrogram (lmw-encode-pcm.c): only samples go to it; used
   * where its memory is not the host's, or with a reader (two passes either way) */
  lmw_state *dev;        /* borrowed, nullable */
  const float *all;      /* whole: the samples (borrowed) */
} mel_source;

static void
mel_source_clear (mel_source *ms)
{
  free (ms->mel);
  free (ms->pcm);
}

/* raw values of frames [f0, f1) into ms->mel (stride f1 - f0); *max their largest */
static int
mel_source_frames (mel_source *ms, int f0, int f1, float *max, lmw_error *err)
{
  long lo = (long) f0 * LMW_HOP - LMW_N_FFT / 2, hi = (long) f1 * LMW_HOP + LMW_N_FFT / 2;
  size_t a = lo > 0 ? (size_t) lo : 0, b = hi > 0 ? (size_t) hi : 0;
  if (b > ms->n_samples)
    b = ms->n_samples;
  if (b > a && ms->read (ms->user_data, a, ms->pcm, b - a, err) != 0)
    return -1;
  return lmw_mel_frames (ms->mel, f1 - f0, ms->pcm, a, ms->n_samples, LMW_CHUNK_SAMPLES, f0, f1,
                         ms->m->mel_filters, ms->m->hp.n_mels, ms->n_threads, max);
}

/* the samples frames [f0, f1) read: *at (n_at of them) from sample *base on */
static int
mel_source_samples (mel_source *ms, int f0, int f1, const float **at, size_t *base,
                    size_t *n_at, lmw_error *err)
{
  long lo = (long) f0 * LMW_HOP - LMW_N_FFT / 2, hi = (long) f1 * LMW_HOP + LMW_N_FFT / 2;
  size_t a = lo > 0 ? (size_t) lo : 0, b = hi > 0 ? (size_t) hi : 0;
  if (b > ms->n_samples)
    b = ms->n_samples;
  if (a > b)
    a = b;
  *base = a;
  *n_at = b - a;
  if (ms->read == NULL) {
    *at = ms->all != NULL ? ms->all + a : NULL;
    return 0;
  }
  *at = ms->pcm;
  return b > a ? ms->read (ms->user_data, a, ms->pcm, b - a, err) : 0;
}

/* the first pass on the backend: the maximum over every frame, padding included */
static int
mel_source_init_dev (mel_source *ms, lmw_error *err)
{
  size_t n_total = ms->n_samples + LMW_CHUNK_SAMPLES;
  ms->n_frames = (int) (n_total / LMW_HOP);
  if (ms->read != NULL &&
      (ms->pcm = malloc (sizeof (float) * ((size_t) ms->window * LMW_HOP + LMW_N_FFT))) == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  /* a frame past the signal reads only zeros of the padding, and every such frame has the
   * value of the first one: the maximum needs that one and none after it */
  long past = ((long) ms->n_samples + LMW_N_FFT / 2 + LMW_HOP - 1) / LMW_HOP + 1;
  int end = past < ms->n_frames ? (int) past : ms->n_frames;
  for (int f0 = 0; f0 < end; f0 += ms->window) {
    int f1 = f0 + ms->window < end ? f0 + ms->window : end;
    const float *at;
    size_t base, n_at;
    if (mel_source_samples (ms, f0, f1, &at, &base, &n_at, err) != 0 ||
        lmw_mel_max_pass (ms->dev, at, base, n_at, ms->n_samples, n_total, f0, f1, f0 == 0,
                          err) != 0)
      return -1;
  }
  return 0;
}

static int
mel_source_init (mel_source *ms, lmw_state *st, int n_threads, const float *pcm,
                 lmw_pcm_reader read, void *user_data, size_t n_samples, lmw_error *err)
{
  const lmw_model *m = st->model;
  memset (ms, 0, sizeof *ms);
  ms->m = m;
  ms->n_threads = n_threads;
  ms->n_samples = n_samples;
  ms->window = 2 * m->hp.n_audio_ctx;
  ms->read = read;
  ms->user_data = user_data;
  ms->all = pcm;
  if (n_samples > (size_t) 1 << 34) {
    lmw_set_error (err, LMW_ERR_ARG, "%s: audio too long",
                   read ? "lmw_transcribe_reader" : "lmw_mel_compute");
    return -1;
  }
  if (st->pcm_dev != NULL && (read != NULL || !st->host_memory)) {
    ms->dev = st;
    return mel_source_init_dev (ms, err);
  }
  if (read == NULL)
    return lmw_mel_compute (m, pcm, n_samples, n_threads, &ms->mel, &ms->n_frames, err);
  ms->n_frames = (int) ((n_samples + LMW_CHUNK_SAMPLES) / LMW_HOP);
  ms->mel = malloc (sizeof (float) * (size_t) m->hp.n_mels * (size_t) ms->window);
  ms->pcm = malloc (sizeof (float) * ((size_t) ms->window * LMW_HOP + LMW_N_FFT));
  if (ms->mel == NULL || ms->pcm == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  /* the first pass: the maximum over every frame, padding included */
  ms->max = -INFINITY;
  for (int f0 = 0; f0 < ms->n_frames; f0 += ms->window) {
    int f1 = f0 + ms->window < ms->n_frames ? f0 + ms->window : ms->n_frames;
    float max = -INFINITY;
    if (mel_source_frames (ms, f0, f1, &max, err) != 0)
      return -1;
    if (max > ms->max)
      ms->max = max;
  }
  return 0;
}

/* runs the encoder on the window starting at frame seek */
static int
mel_source_encode (mel_source *ms, lmw_state *st, int seek, lmw_error *err)
{
  if (ms->dev != NULL) {
    int f1 = seek + ms->window < ms->n_frames ? seek + ms->window : ms->n_frames;
    const float *at;
    size_t base, n_at;
    if (mel_source_samples (ms, seek, f1, &at, &base, &n_at, err) != 0)
      return -1;
    return lmw_encode_pcm (st, at, base, n_at, ms->n_samples,
                           ms->n_samples + LMW_CHUNK_SAMPLES, seek, f1, err);
  }
  if (ms->read == NULL)
    return lmw_encode (st, ms->mel, ms->n_frames, seek, err);
  int f1 = seek + ms->window < ms->n_frames ? seek + ms->window : ms->n_frames;
  float max = 0.0f;
  if (mel_source_frames (ms, seek, f1, &max, err) != 0)
    return -1;
  lmw_mel_normalise (ms->mel, (size_t) ms->m->hp.n_mels * (size_t) (f1 - seek), ms->max);
  return lmw_encode (st, ms->mel, f1 - seek, 0, err);
}

/* ---- the window loop --------------------------------------------------------------------- */

static int
transcribe (lmw_state *st, const lmw_params *params, const float *pcm, lmw_pcm_reader read,
            void *user_data, size_t n_samples, lmw_result *result, lmw_error *err)
{
  const lmw_model *m = st->model;
  const lmw_special_tokens *sp = &m->sp;
  int nv = m->hp.n_vocab, window = 2 * m->hp.n_audio_ctx;
  memset (result, 0, sizeof *result);
  if (params == NULL || (pcm == NULL && read == NULL && n_samples > 0)) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_transcribe: invalid arguments");
    return -1;
  }
  float *prompt_logits = NULL;
  mel_source ms = { 0 };
  int rc = -1;
  lmw_search s;
  lmw_seq *best = NULL;
  if (lmw_search_init (&s, st, params, err) != 0)
    return -1;
  int max_prev = m->hp.n_text_ctx / 2 - 1; /* previous-text tokens a prompt may carry */
  int *tokens = malloc (sizeof (int) * (size_t) (max_prev + 8));
  int *ctx = NULL, n_ctx = 0, cap_ctx = 0, reset_since = 0; /* the text so far, as tokens */
  prompt_logits = malloc (sizeof (float) * (size_t) nv * 8);
  best = lmw_seq_new (s.cap);
  if (prompt_logits == NULL || best == NULL || tokens == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    goto out;
  }
  if (mel_source_init (&ms, st, params->n_threads, pcm, read, user_data, n_samples, err) != 0)
    goto out;
  int content_frames = (int) (n_samples / LMW_HOP);
  int start_frame = params->offset_ms > 0 ? (int) (params->offset_ms / 10) : 0;
  if (params->duration_ms > 0 && start_frame + params->duration_ms / 10 < content_frames)
    content_frames = start_frame + (int) (params->duration_ms / 10);
  int64_t end_ms = (int64_t) content_frames * 10;
  int lang = -1;
  if (sp->multilingual && params->language && strcmp (params->language, "auto") != 0) {
    lang = lmw_language_token (m, params->language);
    if (lang < 0) {
      lmw_set_error (err, LMW_ERR_ARG, "unknown language '%s'", params->language);
      goto out;
    }
  }
  if (params->initial_prompt != NULL) {
    const char *a = params->initial_prompt;
    while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
      a++;
    size_t len = strlen (a);
    while (len > 0 && (a[len - 1] == ' ' || a[len - 1] == '\t' || a[len - 1] == '\n' || a[len - 1] == '\r'))
      len--;
    if (len > 0) { /* encoded with a leading space, as a continuation of earlier speech */
      char *text = malloc (len + 2);
      if (text == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
        goto out;
      }
      text[0] = ' ';
      memcpy (text + 1, a, len);
      text[len + 1] = '\0';
      int r = lmw_text_to_tokens (m, text, &ctx, &n_ctx, err);
      free (text);
      if (r != 0)
        goto out;
      cap_ctx = n_ctx;
    }
  }
  snprintf (result->language, sizeof result->language, "%s", "en");
  for (int seek = start_frame; seek < content_frames;) {
    int seg_frames = content_frames - seek < window ? content_frames - seek : window;
    if (mel_source_encode (&ms, st, seek, err) != 0)
      goto out;
    s.rng = ((uint64_t) params->seed << 32) ^ ((uint64_t) seek * 0x9e3779b97f4a7c15ull);
    result->n_windows++;
    int np = 0, n_prev = n_ctx - reset_since < max_prev ? n_ctx - reset_since : max_prev;
    if (n_prev > 0) {
      tokens[np++] = sp->prev;
      memcpy (tokens + np, ctx + n_ctx - n_prev, sizeof (int) * (size_t) n_prev);
      np += n_prev;
      result->n_conditioned++;
    }
    int sot_at = np;
    tokens[np++] = sp->sot;
    if (sp->multilingual) {
      if (lang < 0) { /* detect on the first window: argmax over the language tokens */
        if (lmw_decode (st, &sp->sot, 1, 0, s.logits, false, err) != 0)
          goto out;
        int best_l = 0;
        for (int i = 1; i < sp->n_languages; i++)
          if (s.logits[sp->lang_first + i] > s.logits[sp->lang_first + best_l])
            best_l = i;
        lang = sp->lang_first + best_l;
      }
      const char *code = lmw_language_code (lang - sp->lang_first);
      snprintf (result->language, sizeof result->language, "%s", code ? code : "?");
      tokens[np++] = lang;
      tokens[np++] = params->translate ? sp->translate : sp->transcribe;
    }
    if (!params->timestamps)
      tokens[np++] = sp->notimestamps;
    /* the previous text only fills the cache; the logits of the <|startoftranscript|>
     * sequence come from one call, as without it */
    if (sot_at > 0 && lmw_decode (st, tokens, sot_at, 0, NULL, false, err) != 0)
      goto out;
    /* on a scheduler's slot the backend makes the first choice and gives the no-speech
     * probability (lmw-decode-prompt.c); else the logits come back */
    lmw_pick first_k = lmw_search_first_pick (&s, sp->nospeech);
    s.first_pick[0].token = LMW_PICK_NOT_MADE;
    if (lmw_decode_prompt (st, tokens + sot_at, np - sot_at, sot_at, prompt_logits,
                           first_k.suppress != NULL ? &first_k : NULL, s.first_pick, err) != 0)
      goto out;
    float no_speech;
    s.first_pick_k = 0;
    if (s.first_pick[0].token != LMW_PICK_NOT_MADE) {
      s.first_pick_k = first_k.k > 1 ? first_k.k : 1;
      no_speech = expf (s.first_pick[s.first_pick_k].logprob);
    } else {
      lmw_log_softmax (s.logprobs, prompt_logits, nv); /* at <|startoftranscript|> */
      no_speech = expf (s.logprobs[sp->nospeech]);
      memcpy (s.first_logits, prompt_logits + (size_t) (np - 1 - sot_at) * nv, sizeof (float) * (size_t) nv);
    }
    s.n_prompt = np;

    window_info wi = { 0 };
    wi.window_ms = (int64_t) seek * 10;
    wi.end_ms = end_ms;
    wi.no_speech_prob = no_speech;
    /* a draft describes the first window only */
    s.draft = result->n_windows == 1 ? params->draft_tokens : NULL;
    s.n_draft = s.draft != NULL ? params->n_draft_tokens : 0;
    for (float t = 0.0f;; t += params->temperature_inc) {
      if (t > 0.0f && s.first_pick_k > 0) {
        /* sampling draws from the logits on the host: the prompt's step once more, with them
         * (the same rows of the cache, rewritten) */
        if (lmw_decode (st, tokens + sot_at, np - sot_at, sot_at, prompt_logits, true, err) != 0)
          goto out;
        memcpy (s.first_logits, prompt_logits + (size_t) (np - 1 - sot_at) * nv,
                sizeof (float) * (size_t) nv);
        s.first_pick_k = 0;
      }
      if (lmw_search_window (&s, t, best, err) != 0)
        goto out;
      char *text = lmw_tokens_to_text (m, best->tokens, best->n);
      if (text == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
        goto out;
      }
      wi.temperature = t;
      wi.sum_logprob = best->sum_logprob;
      wi.avg_logprob = (float) (best->sum_logprob / (best->n + 1));
      wi.compression_ratio = lmw_compression_ratio (text);
      free (text);
      bool failed = wi.compression_ratio > params->compression_threshold ||
                    wi.avg_logprob < params->logprob_threshold;
      if (no_speech > params->no_speech_threshold && wi.avg_logprob < params->logprob_threshold)
        failed = false; /* silence: skipped below, not retried */
      if (!failed || params->temperature_inc <= 0.0f || t + params->temperature_inc > 1.0f + 1e-6f)
        break;
      result->n_fallbacks++;
    }
    {
      int *wt = realloc (result->window_tokens, sizeof (int) * (size_t) (best->n > 0 ? best->n : 1));
      if (wt == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
        goto out;
      }
      memcpy (wt, best->tokens, sizeof (int) * (size_t) best->n);
      result->window_tokens = wt;
      result->n_window_tokens = best->n;
    }
    if (no_speech > params->no_speech_threshold && wi.avg_logprob < params->logprob_threshold) {
      result->n_skipped++;
      seek += seg_frames;
      continue;
    }
    int first = result->n_segments;
    int consumed = 0;
    int adv = emit_window (result, m, params, best, seek, seg_frames, &wi, &consumed);
    if (adv < 0) {
      lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
      goto out;
    }
    if (params->word_timestamps &&
        window_words (st, result, first, tokens + sot_at, np - sot_at, seek, seg_frames, err) != 0)
      goto out;
    if (n_ctx + consumed > cap_ctx) {
      int cap = (n_ctx + consumed) * 2;
      int *nc = realloc (ctx, sizeof (int) * (size_t) cap);
      if (nc == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
        goto out;
      }
      ctx = nc;
      cap_ctx = cap;
    }
    memcpy (ctx + n_ctx, best->tokens, sizeof (int) * (size_t) consumed);
    n_ctx += consumed;
    if (!params->condition_on_previous_text || wi.temperature > 0.5f)
      reset_since = n_ctx;
    seek += adv;
  }
  result->kv_copy_bytes = s.kv_copy_bytes;
  result->kv_copy_ms = s.kv_copy_ms;
  result->n_decoded = s.n_decoded;
  result->n_draft_kept = s.n_draft_kept;
  rc = 0;
out:
  if (rc != 0)
    lmw_result_clear (result);
  lmw_search_clear (&s);
  lmw_seq_free (best);
  mel_source_clear (&ms);
  free (prompt_logits);
  free (tokens);
  free (ctx);
  return rc;
}

int
lmw_transcribe (lmw_state *st, const lmw_params *params, const float *pcm, size_t n_samples,
                lmw_result *result, lmw_error *err)
{
  return transcribe (st, params, pcm, NULL, NULL, n_samples, result, err);
}

int
lmw_transcribe_reader (lmw_state *st, const lmw_params *params, lmw_pcm_reader read,
                       void *user_data, size_t n_samples, lmw_result *result, lmw_error *err)
{
  if (read == NULL) {
    memset (result, 0, sizeof *result);
    lmw_set_error (err, LMW_ERR_ARG, "lmw_transcribe_reader: no reader");
    return -1;
  }
  return transcribe (st, params, NULL, read, user_data, n_samples, result, err);
}
