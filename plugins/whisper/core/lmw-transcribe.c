/* SPDX-License-Identifier: MIT */
/*
 * lmw-transcribe.c — decoding audio into text segments, window by window (30 s each):
 * encode the window, build the prompt (<|startoftranscript|> [<|lang|> <|task|>]
 * [<|notimestamps|>]), detect the language when asked, then decode greedily with the standard
 * logit filters:
 *   - suppress blank: at the first sampled position " " and <|endoftext|> are forbidden;
 *   - special tokens other than <|endoftext|> and the timestamps are never sampled;
 *   - suppress non-speech: the symbol tokens the reference suppresses ("-", "[", "(", ...);
 *   - timestamp rules (with timestamps): timestamps come in pairs, never decrease, the first
 *     is at most 1.00 s, and a timestamp is forced when their total probability exceeds that
 *     of every text token.
 * The no-speech probability is the softmax of <|nospeech|> at the first position.
 */
#include "lmw-state.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lmw_params
lmw_default_params (void)
{
  lmw_params p = {
    .n_threads = 1,
    .language = "en",
    .translate = false,
    .timestamps = false,
    .beam_size = 1,
    .max_tokens = 0,
    .temperature_inc = 0.0f,
    .logprob_threshold = -1.0f,
    .no_speech_threshold = 0.6f,
    .compression_threshold = 2.4f,
    .suppress_blank = true,
    .suppress_non_speech = true,
    .seed = 0,
  };
  return p;
}

void
lmw_result_clear (lmw_result *r)
{
  if (r == NULL)
    return;
  for (int i = 0; i < r->n_segments; i++) {
    free (r->segments[i].text);
    free (r->segments[i].tokens);
  }
  free (r->segments);
  memset (r, 0, sizeof *r);
}

static int
argmax (const float *x, int n)
{
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

/* token ids whose text is a non-speech symbol the reference suppresses */
static bool
is_non_speech (const lmw_model *m, int id)
{
  static const char *const symbols[] = {
    "\"", "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^",
    "_", "`", "{", "|", "}", "~", "「", "」", "『", "』", "<<", ">>", "<<<", ">>>", "--",
    "---", "-(", "-[", "('", "(\"", "((", "))", "(((", ")))", "[[", "]]", "{{", "}}", "♪♪",
    "♪♪♪", "♩", "♪", "♫", "♬", "♭", "♮", "♯", "-", "'", NULL,
  };
  size_t len;
  const char *b = lmw_token_bytes (m, id, &len);
  if (b == NULL || len == 0)
    return false;
  const char *s = b;
  size_t l = len;
  if (s[0] == ' ') { /* " -" and " '" are allowed; others with a leading space are not */
    s++;
    l--;
    if (l == 1 && (s[0] == '-' || s[0] == '\''))
      return false;
  } else if (l == 1 && (s[0] == '-' || s[0] == '\'')) {
    return false;
  }
  for (int i = 0; symbols[i]; i++)
    if (strlen (symbols[i]) == l && memcmp (symbols[i], s, l) == 0)
      return true;
  return false;
}

static void
log_softmax (float *out, const float *x, int n)
{
  float max = x[0];
  for (int i = 1; i < n; i++)
    max = x[i] > max ? x[i] : max;
  double sum = 0.0;
  for (int i = 0; i < n; i++)
    sum += exp ((double) (x[i] - max));
  float lse = max + (float) log (sum);
  for (int i = 0; i < n; i++)
    out[i] = x[i] - lse;
}

typedef struct {
  const lmw_model *m;
  const lmw_params *p;
  bool *non_speech; /* (n_vocab) */
  float *logprobs;  /* (n_vocab) */
} filter_ctx;

/* applies the filters to logits of the token after `generated` (n_gen sampled tokens) */
static void
apply_filters (filter_ctx *f, float *logits, const int *generated, int n_gen)
{
  const lmw_model *m = f->m;
  const lmw_special_tokens *sp = &m->sp;
  int nv = m->hp.n_vocab;
  for (int i = sp->eot + 1; i < sp->timestamp_begin; i++)
    logits[i] = -INFINITY;
  if (!f->p->timestamps)
    for (int i = sp->timestamp_begin; i < nv; i++)
      logits[i] = -INFINITY;
  if (f->p->suppress_blank && n_gen == 0) {
    logits[sp->eot] = -INFINITY;
    logits[220] = -INFINITY; /* " " */
  }
  if (f->p->suppress_non_speech)
    for (int i = 0; i < sp->eot; i++)
      if (f->non_speech[i])
        logits[i] = -INFINITY;
  if (!f->p->timestamps)
    return;
  /* timestamp rules */
  bool last_ts = n_gen >= 1 && generated[n_gen - 1] >= sp->timestamp_begin;
  bool penult_ts = n_gen < 2 || generated[n_gen - 2] >= sp->timestamp_begin;
  if (last_ts) {
    if (penult_ts) /* a pair just closed: next is text */
      for (int i = sp->timestamp_begin; i < nv; i++)
        logits[i] = -INFINITY;
    else /* one timestamp open: next is a timestamp or eot */
      for (int i = 0; i < sp->eot; i++)
        logits[i] = -INFINITY;
  }
  int last_t = -1;
  for (int i = n_gen - 1; i >= 0; i--)
    if (generated[i] >= sp->timestamp_begin) {
      last_t = generated[i];
      break;
    }
  if (last_t >= 0) /* timestamps never decrease */
    for (int i = sp->timestamp_begin; i < last_t + (last_ts && !penult_ts ? 0 : 1) && i < nv; i++)
      logits[i] = -INFINITY;
  if (n_gen == 0) {
    for (int i = 0; i < sp->timestamp_begin; i++)
      logits[i] = -INFINITY;
    for (int i = sp->timestamp_begin + 50 + 1; i < nv; i++) /* first timestamp <= 1.00 s */
      logits[i] = -INFINITY;
  }
  log_softmax (f->logprobs, logits, nv);
  double ts_sum = 0.0;
  float text_max = -INFINITY;
  for (int i = sp->timestamp_begin; i < nv; i++)
    ts_sum += exp ((double) f->logprobs[i]);
  for (int i = 0; i < sp->timestamp_begin; i++)
    text_max = f->logprobs[i] > text_max ? f->logprobs[i] : text_max;
  if (ts_sum > 0.0 && log (ts_sum) > text_max)
    for (int i = 0; i < sp->timestamp_begin; i++)
      logits[i] = -INFINITY;
}

static int
add_segment (lmw_result *r, const lmw_model *m, int64_t t0, int64_t t1, const int *toks, int n,
             float avg_lp, float nsp, float temp)
{
  lmw_segment *ns = realloc (r->segments, sizeof *ns * (size_t) (r->n_segments + 1));
  if (ns == NULL)
    return -1;
  r->segments = ns;
  lmw_segment *s = &ns[r->n_segments];
  memset (s, 0, sizeof *s);
  s->t0_ms = t0;
  s->t1_ms = t1;
  s->text = lmw_tokens_to_text (m, toks, n);
  s->tokens = malloc (sizeof (int) * (size_t) (n > 0 ? n : 1));
  if (s->text == NULL || s->tokens == NULL) {
    free (s->text);
    free (s->tokens);
    return -1;
  }
  memcpy (s->tokens, toks, sizeof (int) * (size_t) n);
  s->n_tokens = n;
  s->avg_logprob = avg_lp;
  s->no_speech_prob = nsp;
  s->temperature = temp;
  r->n_segments++;
  return 0;
}

int
lmw_transcribe (lmw_state *st, const lmw_params *params, const float *pcm, size_t n_samples,
                lmw_result *result, lmw_error *err)
{
  const lmw_model *m = st->model;
  const lmw_special_tokens *sp = &m->sp;
  int nv = m->hp.n_vocab;
  memset (result, 0, sizeof *result);
  float *mel = NULL;
  int n_frames = 0;
  int rc = -1;
  float *logits = malloc (sizeof (float) * (size_t) nv);
  float *logprobs = malloc (sizeof (float) * (size_t) nv);
  bool *non_speech = calloc ((size_t) nv, sizeof (bool));
  int *tokens = malloc (sizeof (int) * (size_t) m->hp.n_text_ctx);
  if (!logits || !logprobs || !non_speech || !tokens) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < sp->eot; i++)
    non_speech[i] = is_non_speech (m, i);
  filter_ctx fc = { m, params, non_speech, logprobs };
  if (lmw_mel_compute (m, pcm, n_samples, params->n_threads, &mel, &n_frames, err) != 0)
    goto out;
  int content_frames = (int) (n_samples / LMW_HOP);
  int window = 2 * m->hp.n_audio_ctx;
  int max_tokens = params->max_tokens > 0 ? params->max_tokens : m->hp.n_text_ctx / 2;
  snprintf (result->language, sizeof result->language, "%s", "en");
  for (int seek = 0; seek < content_frames;) {
    if (lmw_encode (st, mel, n_frames, seek, err) != 0)
      goto out;
    int np = 0;
    tokens[np++] = sp->sot;
    if (sp->multilingual) {
      int lang = -1;
      if (params->language && strcmp (params->language, "auto") != 0)
        lang = lmw_language_token (m, params->language);
      if (lang < 0) { /* detect: argmax over the language tokens after <|startoftranscript|> */
        if (lmw_decode (st, tokens, 1, 0, logits, false, err) != 0)
          goto out;
        lang = sp->lang_first + argmax (logits + sp->lang_first, sp->n_languages);
      }
      const char *code = lmw_language_code (lang - sp->lang_first);
      snprintf (result->language, sizeof result->language, "%s", code ? code : "?");
      tokens[np++] = lang;
      tokens[np++] = params->translate ? sp->translate : sp->transcribe;
    }
    if (!params->timestamps)
      tokens[np++] = sp->notimestamps;
    int n = np;
    if (lmw_decode (st, tokens, np, 0, logits, false, err) != 0)
      goto out;
    log_softmax (logprobs, logits, nv);
    float no_speech = expf (logprobs[sp->nospeech]);
    double sum_lp = 0.0;
    while (n - np < max_tokens && n < m->hp.n_text_ctx) {
      apply_filters (&fc, logits, tokens + np, n - np);
      int next = argmax (logits, nv);
      log_softmax (logprobs, logits, nv);
      sum_lp += logprobs[next];
      if (next == sp->eot)
        break;
      tokens[n++] = next;
      if (n >= m->hp.n_text_ctx)
        break;
      if (lmw_decode (st, &tokens[n - 1], 1, n - 1, logits, false, err) != 0)
        goto out;
    }
    int n_gen = n - np;
    float avg_lp = (float) (sum_lp / (n_gen + 1));
    int64_t w0 = (int64_t) seek * 10;
    int64_t w1 = (int64_t) (seek + window < content_frames ? seek + window : content_frames) * 10;
    bool silent = no_speech > params->no_speech_threshold && avg_lp < params->logprob_threshold;
    if (!silent) {
      if (params->timestamps) {
        /* split at timestamp pairs */
        int start = np;
        int64_t t0 = w0;
        for (int i = np; i < n; i++) {
          if (tokens[i] >= sp->timestamp_begin) {
            int64_t t = w0 + (int64_t) (tokens[i] - sp->timestamp_begin) * 20;
            if (i > start && add_segment (result, m, t0, t, tokens + start, i - start, avg_lp,
                                          no_speech, 0.0f) != 0)
              goto nomem;
            start = i + 1;
            t0 = t;
          }
        }
        if (n > start && add_segment (result, m, t0, w1, tokens + start, n - start, avg_lp,
                                      no_speech, 0.0f) != 0)
          goto nomem;
      } else if (add_segment (result, m, w0, w1, tokens + np, n_gen, avg_lp, no_speech, 0.0f) != 0) {
        goto nomem;
      }
    }
    seek += window;
  }
  rc = 0;
  goto out;
nomem:
  lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
out:
  if (rc != 0)
    lmw_result_clear (result);
  free (mel);
  free (logits);
  free (logprobs);
  free (non_speech);
  free (tokens);
  return rc;
}
