/* SPDX-License-Identifier: MIT */
/*
 * lmw-vocab.c — tokens to text.
 *
 * The ggml file stores each text token as the raw bytes its byte-level BPE symbol stands for
 * (the GPT-2 byte-to-unicode mapping is already undone), so detokenisation is concatenation;
 * a token may hold part of a UTF-8 sequence, which is why text is only validated after the
 * tokens of a segment are joined.  Ids past the stored tokens are the special tokens, named
 * here in the whisper.cpp style ("[_SOT_]", "[_LANG_en]", "[_TT_150]").
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
