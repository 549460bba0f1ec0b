/* SPDX-License-Identifier: MIT */
/*
 * lmw-context.c — per-stream state, the mel entry point, window encoding and the WAV reader.
 * Transcription (decoding strategies, segments) lives in lmw-transcribe.c.
 */
#include "lmw-mel.h"
#include "lmw-quantize.h"
#include "lmw-state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the backend's view of the model ------------------------------------------------- */

static int
map_matrix (lmw_state *st, lmw_weight *w, char *msg, size_t len)
{
  lmw_weight out;
  if (w->data == NULL)
    return 0;
  if (st->ops->map_weight (st->be, &out, w, LMW_USE_MATRIX, msg, len) != 0)
    return -1;
  *w = out;
  return 0;
}

static int
map_vector (lmw_state *st, const float **v, size_t n, char *msg, size_t len)
{
  if (*v == NULL)
    return 0;
  lmw_weight w = { LMW_TYPE_F32, 1, (int) n, n * sizeof (float), *v }, out;
  if (st->ops->map_weight (st->be, &out, &w, LMW_USE_VECTOR, msg, len) != 0)
    return -1;
  *v = out.data;
  return 0;
}

static int
map_layer (lmw_state *st, lmw_layer *L, size_t C, bool cross, char *msg, size_t len)
{
  int r = 0;
  r |= map_vector (st, &L->attn_ln_w, C, msg, len) | map_vector (st, &L->attn_ln_b, C, msg, len);
  r |= map_matrix (st, &L->attn_q, msg, len) | map_matrix (st, &L->attn_k, msg, len);
  r |= map_matrix (st, &L->attn_v, msg, len) | map_matrix (st, &L->attn_o, msg, len);
  r |= map_vector (st, &L->attn_q_b, C, msg, len) | map_vector (st, &L->attn_v_b, C, msg, len);
  r |= map_vector (st, &L->attn_o_b, C, msg, len);
  if (cross) {
    r |= map_vector (st, &L->cross_ln_w, C, msg, len) | map_vector (st, &L->cross_ln_b, C, msg, len);
    r |= map_matrix (st, &L->cross_q, msg, len) | map_matrix (st, &L->cross_k, msg, len);
    r |= map_matrix (st, &L->cross_v, msg, len) | map_matrix (st, &L->cross_o, msg, len);
    r |= map_vector (st, &L->cross_q_b, C, msg, len) | map_vector (st, &L->cross_v_b, C, msg, len);
    r |= map_vector (st, &L->cross_o_b, C, msg, len);
  }
  r |= map_vector (st, &L->mlp_ln_w, C, msg, len) | map_vector (st, &L->mlp_ln_b, C, msg, len);
  r |= map_matrix (st, &L->mlp_0, msg, len) | map_matrix (st, &L->mlp_2, msg, len);
  r |= map_vector (st, &L->mlp_0_b, 4 * C, msg, len) | map_vector (st, &L->mlp_2_b, C, msg, len);
  return r != 0 ? -1 : 0;
}

/* true when the model's weight matrices are block-quantised (the quantize command's files) */
static bool
model_quantised (const lmw_model *m)
{
  lmw_type t = m->enc != NULL && m->hp.n_audio_layer > 0 ? m->enc[0].mlp_0.type : LMW_TYPE_F32;
  return t != LMW_TYPE_F32 && t != LMW_TYPE_F16;
}

/* *w (f16 or f32, rows of a multiple of 32) = a q8_0 copy of it, owned by *copy: the conv
 * stem's products then run on the CPU backend's integer path like every other product of a
 * quantised model.  Leaves *w as it is when it doesn't apply or memory is short. */
static void
conv_to_q8 (lmw_weight *w, void **copy)
{
  if (w->data == NULL || w->cols % 32 != 0 || (w->type != LMW_TYPE_F16 && w->type != LMW_TYPE_F32))
    return;
  size_t rb = lmw_type_row_bytes (LMW_TYPE_Q8_0, w->cols);
  uint8_t *q = malloc (rb * (size_t) w->rows);
  float *row = malloc (sizeof (float) * (size_t) w->cols);
  if (q != NULL && row != NULL) {
    for (int r = 0; r < w->rows; r++) {
      lmw_dequantize_row (row, w->type, (const uint8_t *) w->data + (size_t) r * w->row_bytes, 0,
                          w->cols);
      lmw_quantize_row (LMW_TYPE_Q8_0, q + (size_t) r * rb, row, w->cols);
    }
    *w = (lmw_weight) { LMW_TYPE_Q8_0, w->rows, w->cols, rb, q };
    *copy = q;
    q = NULL;
  }
  free (q);
  free (row);
}

/* st->dm = the model with every tensor replaced by the backend's view of it */
static int
map_model (lmw_state *st, char *msg, size_t len)
{
  const lmw_model *m = st->model;
  const lmw_hparams *hp = &m->hp;
  size_t Ca = (size_t) hp->n_audio_state, Ct = (size_t) hp->n_text_state;
  lmw_model *dm = malloc (sizeof *dm);
  if (dm == NULL)
    return -1;
  *dm = *m;
  dm->enc = malloc (sizeof *dm->enc * (size_t) (hp->n_audio_layer > 0 ? hp->n_audio_layer : 1));
  dm->dec = malloc (sizeof *dm->dec * (size_t) (hp->n_text_layer > 0 ? hp->n_text_layer : 1));
  st->dm = dm;
  if (dm->enc == NULL || dm->dec == NULL) {
    snprintf (msg, len, "out of memory");
    return -1;
  }
  memcpy (dm->enc, m->enc, sizeof *dm->enc * (size_t) hp->n_audio_layer);
  memcpy (dm->dec, m->dec, sizeof *dm->dec * (size_t) hp->n_text_layer);
  int r = 0;
  r |= map_vector (st, &dm->enc_pos, (size_t) hp->n_audio_ctx * Ca, msg, len);
  r |= map_matrix (st, &dm->conv1, msg, len) | map_vector (st, &dm->conv1_b, Ca, msg, len);
  r |= map_matrix (st, &dm->conv2, msg, len) | map_vector (st, &dm->conv2_b, Ca, msg, len);
  for (int l = 0; r == 0 && l < hp->n_audio_layer; l++)
    r |= map_layer (st, &dm->enc[l], Ca, false, msg, len);
  r |= map_vector (st, &dm->enc_ln_w, Ca, msg, len) | map_vector (st, &dm->enc_ln_b, Ca, msg, len);
  r |= map_vector (st, &dm->dec_pos, (size_t) hp->n_text_ctx * Ct, msg, len);
  r |= map_matrix (st, &dm->tok_emb, msg, len);
  for (int l = 0; r == 0 && l < hp->n_text_layer; l++)
    r |= map_layer (st, &dm->dec[l], Ct, true, msg, len);
  r |= map_vector (st, &dm->dec_ln_w, Ct, msg, len) | map_vector (st, &dm->dec_ln_b, Ct, msg, len);
  if (r == 0 && st->host_memory && model_quantised (m)) {
    /* the conv stem of a quantised model on the integer path too (its weights are f16 in every
     * ggml Whisper file); conv1's rows (n_mels * 3 = 240 for 80 mels) are no multiple of 32 */
    conv_to_q8 (&dm->conv1, &st->conv_q8[0]);
    conv_to_q8 (&dm->conv2, &st->conv_q8[1]);
  }
  if (st->ops->version >= 5 && st->ops->log_mel != NULL) { /* the filterbank of its front end */
    const float *fb = m->mel_filters;
    r |= map_vector (st, &fb, (size_t) hp->n_mels * (LMW_N_FFT / 2 + 1), msg, len);
    dm->mel_filters = (float *) fb;
  }
  return r != 0 ? -1 : 0;
}

/* ---- state ------------------------------------------------------------------------------- */

int
lmw_state_check (lmw_state *st, const char *what, lmw_error *err)
{
  char msg[256] = "";
  if (st->ops->status == NULL || st->ops->status (st->be, msg, sizeof msg) == 0)
    return 0;
  lmw_set_error (err, LMW_ERR_NOMEM, "%s: %s", what, msg);
  return -1;
}

float *
lmw_state_alloc_floats (lmw_state *st, size_t n)
{
  return st->ops->alloc (st->be, (n ? n : 1) * sizeof (float));
}

void
lmw_state_free_floats (lmw_state *st, float *p)
{
  if (p != NULL)
    st->ops->free (st->be, p);
}

void
lmw_state_copy_floats (lmw_state *st, float *dst, const float *src, size_t n)
{
  if (n > 0)
    st->ops->copy (st->be, dst, src, n * sizeof (float));
}

float *
lmw_state_output_buffer (lmw_state *st, float *host, size_t n)
{
  if (st->host_memory)
    return host;
  if (st->logits_len < n) {
    lmw_state_free_floats (st, st->logits_buf);
    st->logits_len = 0;
    st->logits_buf = lmw_state_alloc_floats (st, n);
    if (st->logits_buf == NULL)
      return NULL;
    st->logits_len = n;
  }
  return st->logits_buf;
}

void
lmw_state_output_done (lmw_state *st, float *host, const float *buf, size_t n)
{
  if (buf != host)
    st->ops->download (st->be, host, buf, n * sizeof (float));
}

void
lmw_state_free (lmw_state *st)
{
  if (st == NULL)
    return;
  if (st->be) {
    float *bufs[] = { st->mel_win, st->enc_x, st->enc_out, st->cross_k, st->cross_v, st->self_k,
                      st->self_v, st->dec_x, st->xn, st->q, st->k, st->v, st->att, st->hidden,
                      st->logits_buf };
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
      lmw_state_free_floats (st, bufs[i]);
    st->ops->free (st->be, st->step_table);
    st->ops->free (st->be, st->step_picks);
    st->ops->free (st->be, st->step_topk);
    st->ops->free (st->be, st->cross_kh);
    st->ops->free (st->be, st->cross_vh);
    if (st->mel_dev != st->mel_win)
      lmw_state_free_floats (st, st->mel_dev);
    lmw_state_free_floats (st, st->pcm_dev);
    lmw_state_free_floats (st, st->mel_max);
    st->ops->destroy (st->be);
  }
  free (st->conv_q8[0]);
  free (st->conv_q8[1]);
  if (st->dm) {
    free (st->dm->enc);
    free (st->dm->dec);
    free (st->dm);
  }
  free (st->mel_host);
  free (st->enc_out_host);
  free (st->xattn_host);
  free (st->step_table_host);
  free (st->step_picks_host);
  free (st->step_topk_host);
  free (st);
}

lmw_state *
lmw_state_new (const lmw_model *model, int n_threads, lmw_error *err)
{
  return lmw_state_new_backend (model, n_threads, NULL, 0, err);
}

/* a state on the backend with the model mapped; with_buffers: and the stream's own buffers
 * (mel, cross and self K/V); with_scratch: and the activations, for `windows` encoder windows
 * and decoder steps of `rows` rows */
static lmw_state *
state_new (const lmw_model *model, int n_threads, const char *backend, int device,
           bool with_buffers, int windows, int rows, bool with_scratch, lmw_error *err)
{
  if (model == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "no model");
    return NULL;
  }
  if (backend == NULL || backend[0] == '\0')
    backend = getenv ("LMW_BACKEND");
  char why[300] = "";
  const lmw_backend_ops *ops = lmw_backend_find (backend, why, sizeof why);
  if (ops == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "backend %s: %s", backend ? backend : "auto", why);
    return NULL;
  }
  if (device < 0 || (device > 0 && ops->create_on == NULL)) {
    lmw_set_error (err, LMW_ERR_ARG, "backend %s has no device %d", ops->name, device);
    return NULL;
  }
  lmw_state *st = calloc (1, sizeof *st);
  if (st == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return NULL;
  }
  st->model = model;
  st->ops = ops;
  st->host_memory = (ops->caps & LMW_BACKEND_HOST_MEMORY) != 0;
  char msg[200] = "";
  st->be = ops->create_on != NULL ? ops->create_on (device, n_threads, msg, sizeof msg)
                                  : ops->create (n_threads, msg, sizeof msg);
  if (st->be == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "%s", msg);
    free (st);
    return NULL;
  }
  if (map_model (st, msg, sizeof msg) != 0) {
    lmw_set_error (err, LMW_ERR_NOMEM, "%s backend: the model's weights: %s", ops->name, msg);
    lmw_state_free (st);
    return NULL;
  }
  if (!with_buffers)
    return st;
  const lmw_hparams *hp = &model->hp;
  size_t T = (size_t) hp->n_audio_ctx, C = (size_t) hp->n_audio_state, Tt = (size_t) hp->n_text_ctx;
  size_t L = (size_t) hp->n_text_layer;
  if (windows < 1)
    windows = 1;
  if ((size_t) rows < Tt)
    rows = (int) Tt;
  size_t W = (size_t) windows;
  /* scratch rows: the conv stem's (2T, C), every window's (T, C) and a decoder step's */
  size_t srows = W * T > 2 * T ? W * T : 2 * T;
  if (srows < (size_t) rows)
    srows = (size_t) rows;
  st->enc_windows = windows;
  st->step_rows = rows;
  st->mel_host = malloc (sizeof (float) * (size_t) hp->n_mels * 2 * T * W);
  /* On the host (the CPU backend, the f32 reference) only for quantised models: their weights
   * already carry more error than f16 K/V add, and f16/f32 models stay bit for bit */
  bool f16_cross = ops->version >= 4 && ops->to_f16 != NULL && ops->cross_attention != NULL &&
                   (!st->host_memory || model_quantised (model)) &&
                   hp->n_text_head > 0 && C % 8 == 0 && C % (size_t) hp->n_text_head == 0 &&
                   (C / (size_t) hp->n_text_head) % 8 == 0;
  st->cross_k = lmw_state_alloc_floats (st, L * T * C);
  if (f16_cross) { /* V lives only as f16; K stays f32 as well for the alignment's download */
    st->cross_kh = ops->alloc (st->be, L * T * C * sizeof (uint16_t));
    st->cross_vh = ops->alloc (st->be, L * T * C * sizeof (uint16_t));
  } else
    st->cross_v = lmw_state_alloc_floats (st, L * T * C);
  st->self_k = lmw_state_alloc_floats (st, L * Tt * C);
  st->self_v = lmw_state_alloc_floats (st, L * Tt * C);
  bool ok = st->mel_host && st->cross_k && (f16_cross ? st->cross_kh && st->cross_vh : st->cross_v != NULL) &&
            st->self_k && st->self_v;
  if (ok && with_scratch) {
    st->enc_out_host = st->host_memory ? NULL : malloc (sizeof (float) * T * C);
    st->mel_win = lmw_state_alloc_floats (st, (size_t) hp->n_mels * 2 * T * W);
    st->enc_x = lmw_state_alloc_floats (st, W * T * C);
    st->enc_out = lmw_state_alloc_floats (st, W * T * C);
    st->dec_x = lmw_state_alloc_floats (st, (size_t) rows * C);
    st->xn = lmw_state_alloc_floats (st, srows * C);
    st->q = lmw_state_alloc_floats (st, srows * C);
    st->k = lmw_state_alloc_floats (st, srows * C);
    st->v = lmw_state_alloc_floats (st, srows * C);
    st->att = lmw_state_alloc_floats (st, srows * C);
    st->hidden = lmw_state_alloc_floats (st, srows * 4 * C);
    ok = (st->host_memory || st->enc_out_host) && st->mel_win && st->enc_x && st->enc_out &&
         st->dec_x && st->xn && st->q && st->k && st->v && st->att && st->hidden;
  }
  if (ok && ops->version >= 5 && ops->log_mel != NULL && hp->n_mels <= 256) {
    /* the front end on the backend: a window's samples, the signal's maximum, and for a
     * slot (no scratch) the window's frames, which the scheduler's encoder reads there */
    st->pcm_dev = lmw_state_alloc_floats (st, 2 * T * LMW_HOP + LMW_N_FFT);
    st->mel_max = lmw_state_alloc_floats (st, 1);
    st->mel_dev = with_scratch ? st->mel_win : lmw_state_alloc_floats (st, (size_t) hp->n_mels * 2 * T);
    ok = st->pcm_dev && st->mel_max && st->mel_dev;
  }
  if (!ok) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of %s memory for the stream's buffers",
                   st->host_memory ? "host" : "backend");
    lmw_state_free (st);
    return NULL;
  }
  return st;
}

lmw_state *
lmw_state_new_backend (const lmw_model *model, int n_threads, const char *backend, int device,
                       lmw_error *err)
{
  return state_new (model, n_threads, backend, device, true, 1, 0, true, err);
}

lmw_state *
lmw_state_new_sized (const lmw_model *model, int n_threads, const char *backend, int device,
                     int windows, int rows, bool with_scratch, lmw_error *err)
{
  return state_new (model, n_threads, backend, device, true, windows, rows, with_scratch, err);
}

lmw_state *
lmw_state_new_resident (const lmw_model *model, const char *backend, int device, lmw_error *err)
{
  return state_new (model, 1, backend, device, false, 1, 0, false, err);
}

const char *
lmw_state_backend_name (const lmw_state *st)
{
  return st->ops->name;
}

const char *
lmw_state_device_name (const lmw_state *st)
{
  return st->ops->device_name != NULL ? st->ops->device_name (st->be) : st->ops->name;
}

size_t
lmw_state_memory_used (const lmw_state *st)
{
  return st->ops->memory_used != NULL ? st->ops->memory_used (st->be) : 0;
}

void
lmw_state_decoder_batches (const lmw_state *st, uint64_t *counts)
{
  memcpy (counts, st->batches, sizeof st->batches);
}

const float *
lmw_state_encoder_output (const lmw_state *st)
{
  if (!st->have_audio || st->enc_out == NULL) /* a scheduler's slot keeps no encoder output */
    return NULL;
  if (st->host_memory)
    return st->enc_out;
  const lmw_hparams *hp = &st->model->hp;
  st->ops->download (st->be, st->enc_out_host, st->enc_out,
                     sizeof (float) * (size_t) hp->n_audio_ctx * hp->n_audio_state);
  return st->enc_out_host;
}

void
lmw_state_encode_times (const lmw_state *st, double *encoder_ms, double *cross_ms)
{
  if (encoder_ms != NULL)
    *encoder_ms = st->encoder_ms;
  if (cross_ms != NULL)
    *cross_ms = st->cross_ms;
}

int
lmw_encode (lmw_state *st, const float *mel, int n_frames, int offset, lmw_error *err)
{
  const lmw_hparams *hp = &st->model->hp;
  int Tm = 2 * hp->n_audio_ctx;
  if (mel == NULL || n_frames < 0 || offset < 0) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_encode: invalid arguments");
    return -1;
  }
  if (st->mel_host == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_encode: a resident state holds weights only");
    return -1;
  }
  for (int c = 0; c < hp->n_mels; c++) {
    float *dst = st->mel_host + (size_t) c * Tm;
    int avail = n_frames - offset;
    if (avail < 0)
      avail = 0;
    if (avail > Tm)
      avail = Tm;
    if (avail > 0)
      memcpy (dst, mel + (size_t) c * n_frames + offset, (size_t) avail * sizeof (float));
    for (int t = avail; t < Tm; t++)
      dst[t] = 0.0f;
  }
  st->mel_on_dev = false;
  if (st->sched != NULL) /* a slot: the scheduler encodes it with the other slots' windows */
    return lmw_scheduler_encode (st->sched, st, err);
  st->ops->upload (st->be, st->mel_win, st->mel_host, sizeof (float) * (size_t) hp->n_mels * Tm);
  return lmw_encoder_forward (st, err);
}

/* ---- mel --------------------------------------------------------------------------------- */

int
lmw_mel_compute (const lmw_model *model, const float *pcm, size_t n_samples, int n_threads,
                 float **out, int *n_frames, lmw_error *err)
{
  if (model == NULL || out == NULL || n_frames == NULL || (pcm == NULL && n_samples > 0)) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_mel_compute: invalid arguments");
    return -1;
  }
  if (n_samples > (size_t) 1 << 34) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_mel_compute: audio too long");
    return -1;
  }
  size_t total = n_samples + LMW_CHUNK_SAMPLES;
  int nf = (int) (total / LMW_HOP);
  float *mel = malloc ((size_t) model->hp.n_mels * nf * sizeof (float));
  if (mel == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the spectrogram");
    return -1;
  }
  lmw_mel_spectrogram (mel, pcm, n_samples, LMW_CHUNK_SAMPLES, model->mel_filters,
                       model->hp.n_mels, n_threads);
  *out = mel;
  *n_frames = nf;
  return 0;
}

/* ---- WAV --------------------------------------------------------------------------------- */

static uint32_t
le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static uint16_t
le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

int
lmw_wav_read (const char *path, float **pcm, size_t *n_samples, lmw_error *err)
{
  FILE *f = fopen (path, "rb");
  if (f == NULL) {
    lmw_set_error (err, LMW_ERR_IO, "can't open %s: %s", path, strerror (errno));
    return -1;
  }
  uint8_t hdr[12];
  int fmt_tag = 0, channels = 0, bits = 0;
  uint32_t rate = 0;
  bool have_fmt = false;
  int rc = -1;
  uint8_t *data = NULL;
  if (fread (hdr, 1, 12, f) != 12 || memcmp (hdr, "RIFF", 4) != 0 || memcmp (hdr + 8, "WAVE", 4) != 0) {
    lmw_set_error (err, LMW_ERR_FORMAT, "%s is not a RIFF/WAVE file", path);
    goto out;
  }
  for (;;) {
    uint8_t ch[8];
    if (fread (ch, 1, 8, f) != 8) {
      lmw_set_error (err, LMW_ERR_FORMAT, "%s: no data chunk", path);
      goto out;
    }
    uint32_t size = le32 (ch + 4);
    if (memcmp (ch, "fmt ", 4) == 0) {
      uint8_t fmt[40];
      if (size < 16 || size > sizeof fmt || fread (fmt, 1, size, f) != size) {
        lmw_set_error (err, LMW_ERR_FORMAT, "%s: bad fmt chunk", path);
        goto out;
      }
      fmt_tag = le16 (fmt);
      channels = le16 (fmt + 2);
      rate = le32 (fmt + 4);
      bits = le16 (fmt + 14);
      if (fmt_tag == 0xfffe && size >= 26)
        fmt_tag = le16 (fmt + 24); /* WAVE_FORMAT_EXTENSIBLE: sub-format GUID starts with the tag */
      have_fmt = true;
      if (size & 1)
        fseek (f, 1, SEEK_CUR);
    } else if (memcmp (ch, "data", 4) == 0) {
      if (!have_fmt) {
        lmw_set_error (err, LMW_ERR_FORMAT, "%s: data before fmt", path);
        goto out;
      }
      if (!((fmt_tag == 1 && bits == 16) || (fmt_tag == 3 && bits == 32)) || channels < 1 ||
          channels > 16) {
        lmw_set_error (err, LMW_ERR_FORMAT, "%s: unsupported encoding (format %d, %d bits, %d "
                       "channels): need PCM 16-bit or float 32-bit", path, fmt_tag, bits, channels);
        goto out;
      }
      if (rate != LMW_SAMPLE_RATE) {
        lmw_set_error (err, LMW_ERR_FORMAT, "%s: sample rate %u, need %d", path, rate,
                       LMW_SAMPLE_RATE);
        goto out;
      }
      size_t frame = (size_t) channels * (size_t) bits / 8;
      data = malloc (size ? size : 1);
      if (data == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
        goto out;
      }
      size_t got = fread (data, 1, size, f); /* a short final chunk is accepted */
      size_t n = got / frame;
      float *out = malloc ((n ? n : 1) * sizeof (float));
      if (out == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
        goto out;
      }
      for (size_t i = 0; i < n; i++) {
        float s = 0.0f;
        for (int c = 0; c < channels; c++) {
          const uint8_t *p = data + i * frame + (size_t) c * bits / 8;
          if (bits == 16) {
            s += (float) (int16_t) le16 (p) / 32768.0f;
          } else {
            uint32_t u = le32 (p);
            float v;
            memcpy (&v, &u, 4);
            s += v;
          }
        }
        out[i] = s / (float) channels;
      }
      *pcm = out;
      *n_samples = n;
      rc = 0;
      goto out;
    } else {
      if (fseek (f, (long) size + (size & 1), SEEK_CUR) != 0) {
        lmw_set_error (err, LMW_ERR_FORMAT, "%s: truncated chunk", path);
        goto out;
      }
    }
  }
out:
  free (data);
  fclose (f);
  return rc;
}
