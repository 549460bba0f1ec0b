/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-model.c — loader of Silero voice-activity models (v5 and later, 16 kHz) in the ggml
 * file format whisper.cpp's VAD reads.
 *
 * File layout (little-endian):
 *   u32 magic 0x67676d6c
 *   i32 length, bytes: the model type ("silero-16k")
 *   i32 x 3: version major, minor, patch
 *   i32 window (512), i32 context (64)
 *   i32 n_layers (4), then per layer i32 in_channels, out_channels, kernel_size (3)
 *   i32 lstm_input, lstm_hidden, final_in, final_out (1)
 *   tensors until the end of the file: i32 n_dims, i32 name length, i32 type (0 f32, 1 f16),
 *     i32 ne[n_dims] (ne[0] varies fastest), name bytes, data
 *
 * The whole file (at most LMW_VAD_MAX_FILE_BYTES) is read into memory, then checked in two
 * passes: the first checks every header field against the architecture and every tensor
 * header against the shape the header implies, without touching data; only then is the one
 * arena allocated and filled by the second.  Errors name the field or tensor and its offset.
 */
#include "lmw-vad-model.h"

#include "lmw-error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VAD_MAGIC 0x67676d6cu
#define MAX_CHANNELS 1024
#define MAX_NAME_LEN 255

/* The tensors of the architecture, in no particular order (the file may hold them in any). */
enum {
  T_ENC_W0, T_ENC_B0, T_ENC_W1, T_ENC_B1, T_ENC_W2, T_ENC_B2, T_ENC_W3, T_ENC_B3,
  T_W_IH, T_W_HH, T_B_IH, T_B_HH, T_OUT_W, T_OUT_B, T_STFT, T_COUNT
};

static const char *const tensor_names[T_COUNT] = {
  "_model.encoder.0.reparam_conv.weight", "_model.encoder.0.reparam_conv.bias",
  "_model.encoder.1.reparam_conv.weight", "_model.encoder.1.reparam_conv.bias",
  "_model.encoder.2.reparam_conv.weight", "_model.encoder.2.reparam_conv.bias",
  "_model.encoder.3.reparam_conv.weight", "_model.encoder.3.reparam_conv.bias",
  "_model.decoder.rnn.weight_ih", "_model.decoder.rnn.weight_hh",
  "_model.decoder.rnn.bias_ih", "_model.decoder.rnn.bias_hh",
  "_model.decoder.decoder.2.weight", "_model.decoder.decoder.2.bias",
  "_model.stft.forward_basis_buffer",
};

typedef struct {
  const uint8_t *data;
  size_t size;
  size_t off;
} reader;

static bool
read_i32 (reader *r, int32_t *v, const char *what, lmw_error *err)
{
  if (r->size - r->off < 4) {
    lmw_set_error (err, LMW_ERR_FORMAT, "VAD model truncated in %s at offset %zu", what, r->off);
    return false;
  }
  uint32_t u = (uint32_t) r->data[r->off] | (uint32_t) r->data[r->off + 1] << 8 |
               (uint32_t) r->data[r->off + 2] << 16 | (uint32_t) r->data[r->off + 3] << 24;
  memcpy (v, &u, 4);
  r->off += 4;
  return true;
}

/* Reads an i32 that must lie in [lo, hi]. */
static bool
read_field (reader *r, int32_t *v, int32_t lo, int32_t hi, const char *what, lmw_error *err)
{
  size_t at = r->off;
  if (!read_i32 (r, v, what, err))
    return false;
  if (*v < lo || *v > hi) {
    lmw_set_error (err, LMW_ERR_FORMAT, "VAD model: %s is %d at offset %zu, expected %d..%d",
                   what, (int) *v, at, (int) lo, (int) hi);
    return false;
  }
  return true;
}

typedef struct {
  int32_t ne[4];  /* expected shape, ne[0] fastest, padded with 1 */
  size_t n;       /* elements */
  size_t at;      /* offset of the data in the file; 0 until seen */
  int32_t type;   /* 0 f32, 1 f16, as found */
} tensor_slot;

static void
expect (tensor_slot *t, int32_t a, int32_t b, int32_t c)
{
  t->ne[0] = a;
  t->ne[1] = b;
  t->ne[2] = c;
  t->ne[3] = 1;
  t->n = (size_t) a * (size_t) b * (size_t) c;
}

static void
widen (float *dst, const uint8_t *src, size_t n, int32_t type)
{
  for (size_t i = 0; i < n; i++) {
    if (type == 1) {
      dst[i] = lmw_fp16_to_fp32 ((uint16_t) (src[2 * i] | src[2 * i + 1] << 8));
    } else {
      uint32_t u = (uint32_t) src[4 * i] | (uint32_t) src[4 * i + 1] << 8 |
                   (uint32_t) src[4 * i + 2] << 16 | (uint32_t) src[4 * i + 3] << 24;
      memcpy (&dst[i], &u, 4);
    }
  }
}

static lmw_weight
f32_weight (const float *data, int rows, int cols)
{
  lmw_weight w = { LMW_TYPE_F32, rows, cols, (size_t) cols * sizeof (float), data };
  return w;
}

lmw_vad_model *
lmw_vad_model_load_buffer (const void *data, size_t size, lmw_error *err)
{
  reader r = { data, size, 0 };
  int32_t magic, type_len, version[3], window, context, n_layers;
  int32_t in_ch[LMW_VAD_N_LAYERS], out_ch[LMW_VAD_N_LAYERS], kernel;
  int32_t lstm_in, hidden, final_in, final_out;
  char type[32];

  if (data == NULL && size > 0) {
    lmw_set_error (err, LMW_ERR_ARG, "VAD model: no data");
    return NULL;
  }
  if (!read_i32 (&r, &magic, "magic", err))
    return NULL;
  if ((uint32_t) magic != VAD_MAGIC) {
    lmw_set_error (err, LMW_ERR_FORMAT, "not a ggml VAD model (magic 0x%08x, expected 0x%08x)",
                   (unsigned) magic, VAD_MAGIC);
    return NULL;
  }
  if (!read_field (&r, &type_len, 1, (int32_t) sizeof type - 1, "model type length", err))
    return NULL;
  if (r.size - r.off < (size_t) type_len) {
    lmw_set_error (err, LMW_ERR_FORMAT, "VAD model truncated in model type at offset %zu", r.off);
    return NULL;
  }
  memcpy (type, r.data + r.off, (size_t) type_len);
  type[type_len] = '\0';
  if (strcmp (type, "silero-16k") != 0) {
    lmw_set_error (err, LMW_ERR_FORMAT,
                   "VAD model type \"%.32s\" at offset %zu is not supported (expected silero-16k)",
                   type, r.off);
    return NULL;
  }
  r.off += (size_t) type_len;
  /* v4 and older have another architecture (no STFT basis, different layers) */
  if (!read_field (&r, &version[0], 5, 99, "version major", err) ||
      !read_field (&r, &version[1], 0, 999, "version minor", err) ||
      !read_field (&r, &version[2], 0, 999, "version patch", err))
    return NULL;
  if (!read_field (&r, &window, 512, 512, "window", err) ||
      !read_field (&r, &context, 64, 64, "context", err) ||
      !read_field (&r, &n_layers, LMW_VAD_N_LAYERS, LMW_VAD_N_LAYERS, "encoder layers", err))
    return NULL;
  for (int i = 0; i < LMW_VAD_N_LAYERS; i++) {
    char what[64];
    snprintf (what, sizeof what, "encoder layer %d in_channels", i);
    if (!read_field (&r, &in_ch[i], 1, MAX_CHANNELS, what, err))
      return NULL;
    snprintf (what, sizeof what, "encoder layer %d out_channels", i);
    if (!read_field (&r, &out_ch[i], 1, MAX_CHANNELS, what, err))
      return NULL;
    snprintf (what, sizeof what, "encoder layer %d kernel_size", i);
    if (!read_field (&r, &kernel, 3, 3, what, err))
      return NULL;
    if (i > 0 && in_ch[i] != out_ch[i - 1]) {
      lmw_set_error (err, LMW_ERR_FORMAT,
                     "VAD model: encoder layer %d takes %d channels, layer %d gives %d",
                     i, (int) in_ch[i], i - 1, (int) out_ch[i - 1]);
      return NULL;
    }
  }
  /* the STFT's bins feed the first layer: n_fft / 2 + 1 of them, with a hop of n_fft / 2
   * over the window padded by the context on both sides */
  int n_fft = 2 * (in_ch[0] - 1);
  int padded = window + 2 * context;
  if (n_fft < 2 || n_fft > padded || (padded - n_fft) % (n_fft / 2) != 0) {
    lmw_set_error (err, LMW_ERR_FORMAT,
                   "VAD model: encoder layer 0 in_channels %d is not n_fft / 2 + 1 for an STFT "
                   "over %d samples", (int) in_ch[0], padded);
    return NULL;
  }
  if (!read_field (&r, &lstm_in, out_ch[LMW_VAD_N_LAYERS - 1], out_ch[LMW_VAD_N_LAYERS - 1],
                   "lstm_input_size (the last encoder layer's out_channels)", err) ||
      !read_field (&r, &hidden, lstm_in, lstm_in, "lstm_hidden_size (lstm_input_size)", err) ||
      !read_field (&r, &final_in, hidden, hidden, "final_conv_in (lstm_hidden_size)", err) ||
      !read_field (&r, &final_out, 1, 1, "final_conv_out", err))
    return NULL;

  tensor_slot slots[T_COUNT];
  memset (slots, 0, sizeof slots);
  for (int i = 0; i < LMW_VAD_N_LAYERS; i++) {
    expect (&slots[T_ENC_W0 + 2 * i], 3, in_ch[i], out_ch[i]);
    expect (&slots[T_ENC_B0 + 2 * i], out_ch[i], 1, 1);
  }
  expect (&slots[T_W_IH], lstm_in, 4 * hidden, 1);
  expect (&slots[T_W_HH], hidden, 4 * hidden, 1);
  expect (&slots[T_B_IH], 4 * hidden, 1, 1);
  expect (&slots[T_B_HH], 4 * hidden, 1, 1);
  expect (&slots[T_OUT_W], hidden, 1, 1);
  expect (&slots[T_OUT_B], 1, 1, 1);
  expect (&slots[T_STFT], n_fft, 1, 2 * in_ch[0]);

  /* pass 1: tensor headers */
  size_t total = 0;
  while (r.off < r.size) {
    size_t at = r.off;
    int32_t n_dims, name_len, ttype, ne[4] = { 1, 1, 1, 1 };
    if (!read_field (&r, &n_dims, 0, 4, "tensor n_dims", err) ||
        !read_field (&r, &name_len, 1, MAX_NAME_LEN, "tensor name length", err) ||
        !read_field (&r, &ttype, 0, 1, "tensor type (0 f32, 1 f16)", err))
      return NULL;
    for (int d = 0; d < n_dims; d++)
      if (!read_field (&r, &ne[d], 1, 1 << 20, "tensor dimension", err))
        return NULL;
    if (r.size - r.off < (size_t) name_len) {
      lmw_set_error (err, LMW_ERR_FORMAT, "VAD model truncated in a tensor name at offset %zu",
                     r.off);
      return NULL;
    }
    const char *name = (const char *) r.data + r.off;
    r.off += (size_t) name_len;
    int k = 0;
    while (k < T_COUNT && !(strlen (tensor_names[k]) == (size_t) name_len &&
                            memcmp (tensor_names[k], name, (size_t) name_len) == 0))
      k++;
    if (k == T_COUNT) {
      lmw_set_error (err, LMW_ERR_FORMAT, "VAD model: unknown tensor \"%.*s\" at offset %zu",
                     name_len > 80 ? 80 : (int) name_len, name, at);
      return NULL;
    }
    tensor_slot *t = &slots[k];
    if (t->at != 0) {
      lmw_set_error (err, LMW_ERR_FORMAT, "VAD model: tensor %s appears twice (offset %zu)",
                     tensor_names[k], at);
      return NULL;
    }
    if (memcmp (ne, t->ne, sizeof ne) != 0) {
      lmw_set_error (err, LMW_ERR_FORMAT,
                     "VAD model: tensor %s at offset %zu has shape [%d, %d, %d, %d], expected "
                     "[%d, %d, %d, %d]", tensor_names[k], at, (int) ne[0], (int) ne[1],
                     (int) ne[2], (int) ne[3], (int) t->ne[0], (int) t->ne[1], (int) t->ne[2],
                     (int) t->ne[3]);
      return NULL;
    }
    size_t bytes = t->n * (ttype == 1 ? 2 : 4);
    if (r.size - r.off < bytes) {
      lmw_set_error (err, LMW_ERR_FORMAT,
                     "VAD model truncated in the data of tensor %s: need %zu bytes at offset "
                     "%zu, file has %zu", tensor_names[k], bytes, r.off, r.size);
      return NULL;
    }
    t->at = r.off;
    t->type = ttype;
    r.off += bytes;
    total += t->n;
  }
  for (int k = 0; k < T_COUNT; k++) {
    if (slots[k].at == 0) {
      lmw_set_error (err, LMW_ERR_FORMAT, "VAD model: tensor %s is missing", tensor_names[k]);
      return NULL;
    }
  }

  /* pass 2: one arena, every tensor widened to f32 */
  lmw_vad_model *m = calloc (1, sizeof *m);
  if (m != NULL)
    m->arena = malloc (total * sizeof (float));
  if (m == NULL || m->arena == NULL) {
    free (m);
    lmw_set_error (err, LMW_ERR_NOMEM, "VAD model: out of memory (%zu bytes)",
                   total * sizeof (float));
    return NULL;
  }
  const float *where[T_COUNT];
  float *p = m->arena;
  for (int k = 0; k < T_COUNT; k++) {
    widen (p, r.data + slots[k].at, slots[k].n, slots[k].type);
    where[k] = p;
    p += slots[k].n;
  }
  snprintf (m->description, sizeof m->description, "%.20s %d.%d.%d", type, (int) version[0],
            (int) version[1], (int) version[2]);
  m->window = window;
  m->context = context;
  m->n_fft = n_fft;
  m->n_freq = in_ch[0];
  m->n_frames = (padded - n_fft) / (n_fft / 2) + 1;
  m->hidden = hidden;
  for (int i = 0; i < LMW_VAD_N_LAYERS; i++) {
    m->in_ch[i] = in_ch[i];
    m->out_ch[i] = out_ch[i];
    m->enc_w[i] = f32_weight (where[T_ENC_W0 + 2 * i], out_ch[i], 3 * in_ch[i]);
    m->enc_b[i] = where[T_ENC_B0 + 2 * i];
  }
  m->stft = f32_weight (where[T_STFT], 2 * m->n_freq, n_fft);
  m->w_ih = f32_weight (where[T_W_IH], 4 * hidden, lstm_in);
  m->w_hh = f32_weight (where[T_W_HH], 4 * hidden, hidden);
  m->b_ih = where[T_B_IH];
  m->b_hh = where[T_B_HH];
  m->out_w = where[T_OUT_W];
  m->out_b = where[T_OUT_B][0];
  return m;
}

lmw_vad_model *
lmw_vad_model_load_file (const char *path, lmw_error *err)
{
  FILE *f = fopen (path, "rb");
  if (f == NULL) {
    lmw_set_error (err, LMW_ERR_IO, "can't open VAD model %s: %s", path, strerror (errno));
    return NULL;
  }
  uint8_t *buf = NULL;
  size_t size = 0;
  lmw_vad_model *m = NULL;
  if (fseek (f, 0, SEEK_END) != 0 || ftell (f) < 0) {
    lmw_set_error (err, LMW_ERR_IO, "can't read VAD model %s: %s", path, strerror (errno));
    goto out;
  }
  long len = ftell (f);
  if ((unsigned long) len > LMW_VAD_MAX_FILE_BYTES) {
    lmw_set_error (err, LMW_ERR_FORMAT, "VAD model %s is %ld bytes, more than the %u a Silero "
                   "model can be", path, len, LMW_VAD_MAX_FILE_BYTES);
    goto out;
  }
  size = (size_t) len;
  buf = malloc (size ? size : 1);
  if (buf == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "VAD model: out of memory (%zu bytes)", size);
    goto out;
  }
  rewind (f);
  if (fread (buf, 1, size, f) != size) {
    lmw_set_error (err, LMW_ERR_IO, "can't read VAD model %s: %s", path,
                   ferror (f) ? strerror (errno) : "short read");
    goto out;
  }
  m = lmw_vad_model_load_buffer (buf, size, err);
  if (m == NULL && err != NULL) {
    /* name the file in the message */
    char full[1024];
    snprintf (full, sizeof full, "%s: %s", path, err->message);
    memcpy (err->message, full, sizeof err->message - 1);
    err->message[sizeof err->message - 1] = '\0';
  }
out:
  free (buf);
  fclose (f);
  return m;
}

void
lmw_vad_model_free (lmw_vad_model *model)
{
  if (model == NULL)
    return;
  free (model->arena);
  free (model);
}

int
lmw_vad_model_window (const lmw_vad_model *model)
{
  return model->window;
}

const char *
lmw_vad_model_description (const lmw_vad_model *model)
{
  return model->description;
}
