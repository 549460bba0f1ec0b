/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-loader.c — the model loader refuses damaged files cleanly (argv[1]: fixture).
 *
 * Asserts (TAP), for the fixture's model file loaded from memory:
 *   - the intact file loads, from memory and from disk, and a trailing byte is refused;
 *   - truncated prefixes are refused with LMW_ERR_FORMAT and a message: every prefix up to
 *     the end of the filterbank, the vocabulary at every token boundary (+-1) of the first
 *     2000 tokens and every 37th after, every tensor header field boundary (+-1) and 24
 *     data lengths inside every tensor;
 *   - n_audio_ctx / n_text_ctx one past LMW_BACKEND_MAX_KEYS and n_audio_state / n_text_state
 *     one past LMW_BACKEND_MAX_K / 4 are refused with a message naming that bound;
 *   - corrupted fields are refused: magic, each hyper-parameter set to 0 / -1 / INT32_MIN /
 *     INT32_MAX / 2^30 (ftype excepted: any non-negative value is accepted), filterbank
 *     sizes, vocabulary count and token lengths, and in every tensor header: n_dims, name
 *     length, type (unknown and wrong-size), each dimension, and the name.
 * Refusals must carry a non-empty message; the test also runs under ASan/valgrind.
 */
#include "lmw-backend.h"
#include "lmw-context.h"
#include "lmw-ggml-layout.h"
#include "lmw-test.h"

#include <limits.h>

static int n_checked, n_bad;

/* the buffer must be refused with a format error and a message */
static void
expect_refused (const uint8_t *buf, size_t len, const char *what, long where)
{
  lmw_error err = { 0 };
  lmw_model *m = lmw_model_load_buffer (buf, len, &err);
  n_checked++;
  if (m != NULL || err.code != LMW_ERR_FORMAT || err.message[0] == '\0') {
    if (n_bad++ < 10)
      TEST_DIAG ("not refused cleanly: %s at %ld (code %d, '%s')", what, where, err.code, err.message);
    lmw_model_free (m);
  }
}

static void
truncated (const uint8_t *buf, size_t len)
{
  if (len < 1)
    return;
  expect_refused (buf, len, "prefix", (long) len);
}

int
main (int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "tiny-en-random";
  const char *dir = fixture_dir (name);
  size_t size = 0;
  uint8_t *orig = read_file (dir, "model.ggml.bin", &size);
  TEST_OK (orig != NULL, "model file read (%zu bytes)", size);
  if (orig == NULL)
    return test_done ();
  ggml_layout L;
  TEST_OK (layout_parse (&L, orig, size) == 0, "layout: %d tokens, %d tensors", L.n_tokens,
           L.n_tensors);

  lmw_error err = { 0 };
  lmw_model *m = lmw_model_load_buffer (orig, size, &err);
  TEST_OK (m != NULL, "intact file loads from memory (%s)", m ? "ok" : err.message);
  lmw_model_free (m);
  char path[4300];
  snprintf (path, sizeof path, "%s/model.ggml.bin", dir);
  m = lmw_model_load_file (path, &err);
  TEST_OK (m != NULL, "intact file loads from disk");
  lmw_model_free (m);
  m = lmw_model_load_file ("/nonexistent/model.bin", &err);
  TEST_OK (m == NULL && err.code == LMW_ERR_IO && err.message[0], "missing file: %s", err.message);
  m = lmw_model_load_buffer (NULL, 0, &err);
  TEST_OK (m == NULL && err.message[0], "empty buffer: %s", err.message);

  uint8_t *buf = malloc (size + 1);
  memcpy (buf, orig, size);
  buf[size] = 0;
  n_checked = n_bad = 0;
  expect_refused (buf, size + 1, "trailing byte", (long) size);
  TEST_OK (n_bad == 0, "a trailing byte is refused");

  /* prefixes */
  n_checked = n_bad = 0;
  for (size_t p = 0; p <= L.vocab + 4; p++)
    truncated (orig, p);
  for (int i = 0; i < L.n_tokens; i++)
    if (i < 2000 || i % 37 == 0 || i == L.n_tokens - 1)
      for (int d = -1; d <= 5; d++)
        truncated (orig, (size_t) ((long) L.token_off[i] + d));
  for (int t = 0; t < L.n_tensors; t++) {
    for (size_t p = L.tensor_hdr[t] - 1; p <= L.tensor_data[t] + 1; p++)
      truncated (orig, p);
    size_t dl = L.tensor_end[t] - L.tensor_data[t];
    for (int k = 1; k <= 24; k++)
      truncated (orig, L.tensor_data[t] + dl * k / 25);
    truncated (orig, L.tensor_end[t] - 1);
  }
  TEST_OK (n_bad == 0, "%d truncated prefixes refused with a message", n_checked);
  TEST_DIAG ("e.g. '%s'", (lmw_model_load_buffer (orig, L.tensor_data[5] + 7, &err), err.message));

  /* hyper-parameters within their ranges that promise more than the file holds (256 layers)
   * are refused from the header, before the tensors are listed */
  {
    static const struct { int index; int32_t value; } promises[] = {
      { 4, 256 }, /* n_audio_layer */
      { 8, 256 }, /* n_text_layer */
    };
    int early = 0;
    for (size_t i = 0; i < sizeof promises / sizeof promises[0]; i++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, L.hparams + 4 * (size_t) promises[i].index, promises[i].value);
      lmw_model *lm = lmw_model_load_buffer (buf, size, &err);
      if (lm == NULL && err.code == LMW_ERR_FORMAT &&
          strstr (err.message, "the hyper-parameters need at least") != NULL)
        early++;
      else
        TEST_DIAG ("hyper-parameter %d = %d: %s", promises[i].index, (int) promises[i].value,
                   lm != NULL ? "loaded" : err.message);
      lmw_model_free (lm);
    }
    TEST_OK (early == 2, "more layers than the file holds: refused from the header (%s)",
             err.message);
  }

  /* corrupted header fields */
  static const int32_t bad_values[] = { 0, -1, INT32_MIN, INT32_MAX, 1 << 30 };
  n_checked = n_bad = 0;
  memcpy (buf, orig, size);
  layout_put_i32 (buf, 0, 0x67676d6d);
  expect_refused (buf, size, "magic", 0);
  memcpy (buf, orig, size);
  for (int h = 0; h < 10; h++) /* ftype (index 10) accepts any non-negative value */
    for (size_t v = 0; v < sizeof bad_values / sizeof bad_values[0]; v++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, L.hparams + 4 * (size_t) h, bad_values[v]);
      expect_refused (buf, size, "hyper-parameter", h);
    }
  memcpy (buf, orig, size);
  layout_put_i32 (buf, L.hparams + 40, -1);
  expect_refused (buf, size, "ftype", -1);
  /* one past the backend's attention limit (LMW_BACKEND_MAX_KEYS) for either context, and a
   * state whose MLP width passes the widest product (LMW_BACKEND_MAX_K): refused, naming the
   * bound that comes from the backend */
  {
    static const struct { int index; int32_t value; int32_t bound; } limits[] = {
      { 1, LMW_BACKEND_MAX_KEYS + 1, LMW_BACKEND_MAX_KEYS }, /* n_audio_ctx */
      { 5, LMW_BACKEND_MAX_KEYS + 1, LMW_BACKEND_MAX_KEYS }, /* n_text_ctx */
      { 2, LMW_BACKEND_MAX_K / 4 + 1, LMW_BACKEND_MAX_K / 4 }, /* n_audio_state */
      { 6, LMW_BACKEND_MAX_K / 4 + 1, LMW_BACKEND_MAX_K / 4 }, /* n_text_state */
    };
    int named = 0;
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
      char allowed[64];
      memcpy (buf, orig, size);
      layout_put_i32 (buf, L.hparams + 4 * (size_t) limits[i].index, limits[i].value);
      lmw_model *lm = lmw_model_load_buffer (buf, size, &err);
      snprintf (allowed, sizeof allowed, "allowed 1 .. %d)", (int) limits[i].bound);
      if (lm == NULL && err.code == LMW_ERR_FORMAT && strstr (err.message, allowed) != NULL)
        named++;
      else
        TEST_DIAG ("hyper-parameter %d = %d: %s", limits[i].index, (int) limits[i].value,
                   lm != NULL ? "loaded" : err.message);
      lmw_model_free (lm);
    }
    TEST_OK (named == 4, "contexts past LMW_BACKEND_MAX_KEYS (%d) and states past LMW_BACKEND_MAX_K / 4 "
             "refused with the backend's bound", LMW_BACKEND_MAX_KEYS);
  }
  /* swapped head counts, states not divisible */
  memcpy (buf, orig, size);
  layout_put_i32 (buf, L.hparams + 12, 3);
  expect_refused (buf, size, "n_audio_head 3", 3);
  for (int f = 0; f < 2; f++)
    for (size_t v = 0; v < sizeof bad_values / sizeof bad_values[0]; v++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, L.filters + 4 * (size_t) f, bad_values[v]);
      expect_refused (buf, size, "filterbank size", f);
    }
  for (size_t v = 0; v < sizeof bad_values / sizeof bad_values[0]; v++) {
    memcpy (buf, orig, size);
    layout_put_i32 (buf, L.vocab, bad_values[v] == 0 ? 60000 : bad_values[v]);
    expect_refused (buf, size, "vocabulary count", (long) v);
  }
  for (int i = 0; i < L.n_tokens; i += L.n_tokens / 7)
    for (size_t v = 1; v < sizeof bad_values / sizeof bad_values[0]; v++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, L.token_off[i], bad_values[v]);
      expect_refused (buf, size, "token length", i);
    }
  TEST_OK (n_bad == 0, "%d corrupted header / filterbank / vocabulary fields refused", n_checked);

  n_checked = n_bad = 0;
  for (int t = 0; t < L.n_tensors; t++) {
    size_t h = L.tensor_hdr[t];
    int nd = L.tensor_ndims[t];
    static const int32_t ndims_bad[] = { 0, -1, 5, 1000, INT32_MIN, INT32_MAX };
    for (size_t v = 0; v < sizeof ndims_bad / sizeof ndims_bad[0]; v++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, h, ndims_bad[v]);
      expect_refused (buf, size, "n_dims", t);
    }
    if (nd > 1) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, h, nd - 1);
      expect_refused (buf, size, "n_dims - 1", t);
    }
    static const int32_t name_bad[] = { 0, -1, 100000, INT32_MAX, INT32_MIN };
    for (size_t v = 0; v < sizeof name_bad / sizeof name_bad[0]; v++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, h + 4, name_bad[v]);
      expect_refused (buf, size, "name length", t);
    }
    int type = layout_i32 (orig, h + 8);
    static const int32_t type_bad[] = { -1, 4, 5, 9, 99, INT32_MAX };
    for (size_t v = 0; v < sizeof type_bad / sizeof type_bad[0]; v++) {
      memcpy (buf, orig, size);
      layout_put_i32 (buf, h + 8, type_bad[v]);
      expect_refused (buf, size, "type", t);
    }
    memcpy (buf, orig, size);
    layout_put_i32 (buf, h + 8, type == 0 ? 1 : 0); /* f32 <-> f16: data size changes */
    expect_refused (buf, size, "type swap", t);
    for (int d = 0; d < nd; d++)
      for (size_t v = 0; v < sizeof bad_values / sizeof bad_values[0]; v++) {
        memcpy (buf, orig, size);
        int32_t old = layout_i32 (orig, h + 12 + 4 * (size_t) d);
        layout_put_i32 (buf, h + 12 + 4 * (size_t) d, bad_values[v] == 1 << 30 ? old + 1 : bad_values[v]);
        expect_refused (buf, size, "dimension", t);
      }
    memcpy (buf, orig, size);
    buf[h + 12 + 4 * (size_t) nd] ^= 0x20; /* name */
    expect_refused (buf, size, "name", t);
  }
  TEST_OK (n_bad == 0, "%d corrupted tensor header fields refused", n_checked);

  /* duplicate tensor: copy the first tensor over the second header when sizes allow */
  layout_free (&L);
  free (buf);
  free (orig);
  return test_done ();
}
