/* SPDX-License-Identifier: MIT */
/*
 * lmw-vocab.c — tokens to text.
 *
 * The ggml file stores each text token as the raw bytes its byte-level BPE symbol stands for
 * (the GPT-2 byte-to-unicode mapping is already undone), so detokenisation is concatenation;
 * a token may hold part of a UTF-8 sequence, which is why text is only validated after the
 * tokens of a segment are joined.  Ids past the stored tokens are the special tokens, named
 * here in the whisper.cpp style ("[_SOT_]", "[_LANG_en]", "[_TT_150]").
 *
 * Text to tokens (for prompts): the file has the tokens but not the BPE merge ranks, so the
 * text is split as GPT-2 splits it (contractions, an optional space before a run of letters,
 * digits or symbols, runs of white space) and each piece is cut greedily into the longest
 * tokens of the vocabulary.  A word that is one token, which is most common words, gets the
 * same token as the real BPE; a rare word may be cut differently, into tokens that spell the
 * same bytes.
 */
#include "lmw-model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whisper's language order: the token of language i is sot + 1 + i. */
static const char *const languages[] = {
  "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
  "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
  "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
  "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
  "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
  "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
  "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};

const char *
lmw_language_code (int i)
{
  if (i < 0 || i >= (int) (sizeof languages / sizeof languages[0]))
    return NULL;
  return languages[i];
}

int
lmw_language_token (const lmw_model *model, const char *code)
{
  for (int i = 0; i < model->sp.n_languages; i++) {
    const char *c = lmw_language_code (i);
    if (c && strcmp (c, code) == 0)
      return model->sp.lang_first + i;
  }
  return -1;
}

const char *
lmw_token_bytes (const lmw_model *model, int id, size_t *len)
{
  if (id < 0 || id >= model->n_vocab_file) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = model->vocab_off[id + 1] - model->vocab_off[id];
  return model->vocab_blob + model->vocab_off[id];
}

const char *
lmw_token_name (const lmw_model *model, int id, char *buf, size_t buf_len)
{
  const lmw_special_tokens *sp = &model->sp;
  size_t len;
  const char *b = lmw_token_bytes (model, id, &len);
  if (buf_len == 0)
    return buf;
  if (b) {
    if (len >= buf_len)
      len = buf_len - 1;
    memcpy (buf, b, len);
    buf[len] = '\0';
  } else if (id == sp->eot) {
    snprintf (buf, buf_len, "[_EOT_]");
  } else if (id == sp->sot) {
    snprintf (buf, buf_len, "[_SOT_]");
  } else if (id >= sp->lang_first && id < sp->lang_first + sp->n_languages) {
    const char *c = lmw_language_code (id - sp->lang_first);
    snprintf (buf, buf_len, "[_LANG_%s]", c ? c : "?");
  } else if (id == sp->translate) {
    snprintf (buf, buf_len, "[_TRANSLATE_]");
  } else if (id == sp->transcribe) {
    snprintf (buf, buf_len, "[_TRANSCRIBE_]");
  } else if (id == sp->solm) {
    snprintf (buf, buf_len, "[_SOLM_]");
  } else if (id == sp->prev) {
    snprintf (buf, buf_len, "[_PREV_]");
  } else if (id == sp->nospeech) {
    snprintf (buf, buf_len, "[_NOSP_]");
  } else if (id == sp->notimestamps) {
    snprintf (buf, buf_len, "[_NOT_]");
  } else if (id >= sp->timestamp_begin && id < model->hp.n_vocab) {
    snprintf (buf, buf_len, "[_TT_%d]", id - sp->timestamp_begin);
  } else {
    snprintf (buf, buf_len, "[_extra_token_%d]", id);
  }
  return buf;
}

/* length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid */
static size_t
utf8_valid_len (const unsigned char *s, size_t n)
{
  unsigned char c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80)
    return 1;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

char *
lmw_tokens_to_text (const lmw_model *model, const int *tokens, int n_tokens)
{
  size_t raw_len = 0;
  for (int i = 0; i < n_tokens; i++) {
    size_t l;
    if (tokens[i] < model->sp.eot && lmw_token_bytes (model, tokens[i], &l))
      raw_len += l;
  }
  unsigned char *raw = malloc (raw_len + 1);
  char *out = malloc (raw_len * 3 + 1); /* each invalid byte may become 3 bytes of U+FFFD */
  if (raw == NULL || out == NULL) {
    free (raw);
    free (out);
    return NULL;
  }
  size_t p = 0;
  for (int i = 0; i < n_tokens; i++) {
    size_t l;
    const char *b;
    if (tokens[i] < model->sp.eot && (b = lmw_token_bytes (model, tokens[i], &l))) {
      memcpy (raw + p, b, l);
      p += l;
    }
  }
  size_t o = 0;
  for (size_t i = 0; i < p;) {
    size_t l = utf8_valid_len (raw + i, p - i);
    if (l == 0) {
      memcpy (out + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    } else {
      memcpy (out + o, raw + i, l);
      o += l;
      i += l;
    }
  }
  out[o] = '\0';
  free (raw);
  return out;
}

/* ---- text to tokens ---------------------------------------------------------------------- */

static uint64_t
bytes_hash (const char *b, size_t n)
{
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char) b[i]) * 0x100000001b3ull;
  return h;
}

bool
lmw_vocab_index_build (lmw_model *m)
{
  size_t cap = 1;
  while (cap < (size_t) m->n_vocab_file * 2)
    cap <<= 1;
  free (m->vocab_slots);
  m->vocab_mask = cap - 1;
  m->vocab_max_len = 0;
  m->vocab_slots = calloc (cap, sizeof (int));
  if (m->vocab_slots == NULL)
    return false;
  for (int id = 0; id < m->n_vocab_file; id++) {
    size_t len;
    const char *b = lmw_token_bytes (m, id, &len);
    if (len == 0)
      continue;
    size_t h = (size_t) bytes_hash (b, len) & m->vocab_mask;
    bool dup = false;
    while (m->vocab_slots[h] != 0 && !dup) {
      size_t ol;
      const char *ob = lmw_token_bytes (m, m->vocab_slots[h] - 1, &ol);
      dup = ol == len && memcmp (ob, b, len) == 0; /* the first id of a string wins */
      h = (h + 1) & m->vocab_mask;
    }
    if (dup)
      continue;
    m->vocab_slots[h] = id + 1;
    if (len > m->vocab_max_len)
      m->vocab_max_len = len;
  }
  return true;
}

/* the id of the token whose bytes are b (len), -1 if none */
static int
vocab_find (const lmw_model *m, const char *b, size_t len)
{
  size_t h = (size_t) bytes_hash (b, len) & m->vocab_mask;
  while (m->vocab_slots[h] != 0) {
    size_t ol;
    const char *ob = lmw_token_bytes (m, m->vocab_slots[h] - 1, &ol);
    if (ol == len && memcmp (ob, b, len) == 0)
      return m->vocab_slots[h] - 1;
    h = (h + 1) & m->vocab_mask;
  }
  return -1;
}

/* 0: space, 1: letter (or any byte of a multi-byte UTF-8 sequence), 2: digit, 3: other */
static int
byte_class (unsigned char c)
{
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
    return 0;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80)
    return 1;
  if (c >= '0' && c <= '9')
    return 2;
  return 3;
}

/* length of the pre-tokenised piece at s[i..n): GPT-2's split — contractions, an optional
 * space before a run of letters, digits or other symbols, and runs of white space (the last
 * space of a run goes with the word after it) */
static size_t
piece_len (const char *s, size_t i, size_t n)
{
  static const char *const contractions[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
  if (s[i] == '\'')
    for (size_t k = 0; k < sizeof contractions / sizeof contractions[0]; k++) {
      size_t l = strlen (contractions[k]);
      if (i + l <= n && memcmp (s + i, contractions[k], l) == 0)
        return l;
    }
  size_t j = i;
  if (byte_class ((unsigned char) s[i]) == 0) {
    if (s[i] == ' ' && i + 1 < n && byte_class ((unsigned char) s[i + 1]) != 0) {
      j = i + 1; /* " word" */
    } else {
      while (j < n && byte_class ((unsigned char) s[j]) == 0)
        j++;
      if (j < n && j - i > 1 && s[j - 1] == ' ')
        j--;
      return j - i;
    }
  }
  int c = byte_class ((unsigned char) s[j]);
  size_t k = j + 1;
  while (k < n && byte_class ((unsigned char) s[k]) == c)
    k++;
  return k - i;
}

int
lmw_text_to_tokens (const lmw_model *model, const char *text, int **tokens, int *n_tokens,
                    lmw_error *err)
{
  *tokens = NULL;
  *n_tokens = 0;
  size_t n = text ? strlen (text) : 0;
  int *out = malloc (sizeof (int) * (n > 0 ? n : 1)); /* at most one token per byte */
  if (out == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  int k = 0;
  for (size_t i = 0; i < n;) {
    size_t end = i + piece_len (text, i, n);
    while (i < end) { /* longest vocabulary entry first */
      size_t l = end - i < model->vocab_max_len ? end - i : model->vocab_max_len;
      int id = -1;
      for (; l > 0 && (id = vocab_find (model, text + i, l)) < 0; l--)
        ;
      if (id < 0) {
        free (out);
        lmw_set_error (err, LMW_ERR_ARG, "byte 0x%02x of the text has no token",
                       (unsigned char) text[i]);
        return -1;
      }
      out[k++] = id;
      i += l;
    }
  }
  *tokens = out;
  *n_tokens = k;
  return 0;
}
