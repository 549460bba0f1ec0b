/* SPDX-License-Identifier: MIT */
/*
 * lmw-context.c — per-stream state, the mel entry point, window encoding and the WAV reader.
 * Transcription (decoding strategies, segments) lives in lmw-transcribe.c.
 */
#include "lmw-mel.h"
#include "lmw-state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- backends ---------------------------------------------------------------------------- */

static const lmw_backend_ops *
pick_backend (lmw_error *err)
{
  const lmw_backend_ops *candidates[] = { lmw_backend_cpu () };
  const char *force = getenv ("LMW_BACKEND");
  const lmw_backend_ops *best = NULL;
  int best_score = 0;
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    const lmw_backend_ops *b = candidates[i];
    if (b == NULL || b->version != LMW_BACKEND_VERSION || b->score == NULL)
      continue;
    if (force && strcmp (force, b->name) != 0)
      continue;
    int s = b->score ();
    if (s > best_score) {
      best = b;
      best_score = s;
    }
  }
  if (best == NULL)
    lmw_set_error (err, LMW_ERR_ARG, "no usable compute backend%s%s", force ? " named " : "",
                   force ? force : "");
  return best;
}

/* ---- state ------------------------------------------------------------------------------- */

void
lmw_state_free (lmw_state *st)
{
  if (st == NULL)
    return;
  if (st->be)
    st->ops->destroy (st->be);
  free (st->mel_win);
  free (st->enc_x);
  free (st->enc_out);
  free (st->cross_k);
  free (st->cross_v);
  free (st->self_k);
  free (st->self_v);
  free (st->dec_x);
  free (st->xn);
  free (st->q);
  free (st->k);
  free (st->v);
  free (st->att);
  free (st->hidden);
  free (st);
}

/* activations start on a 64-byte boundary: rows of a multiple of 16 floats then never
 * straddle cache lines, which the attention kernel's in-place reads of V rely on */
static float *
alloc_f (size_t n)
{
  size_t bytes = (n * sizeof (float) + 63) / 64 * 64;
  return aligned_alloc (64, bytes ? bytes : 64);
}

lmw_state *
lmw_state_new (const lmw_model *model, int n_threads, lmw_error *err)
{
  if (model == NULL) {
    lmw_set_error (err, LMW_ERR_ARG, "no model");
    return NULL;
  }
  lmw_state *st = calloc (1, sizeof *st);
  if (st == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return NULL;
  }
  st->model = model;
  st->ops = pick_backend (err);
  if (st->ops == NULL) {
    free (st);
    return NULL;
  }
  char msg[200] = "";
  st->be = st->ops->create (n_threads, msg, sizeof msg);
  if (st->be == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "%s", msg);
    free (st);
    return NULL;
  }
  const lmw_hparams *hp = &model->hp;
  size_t T = (size_t) hp->n_audio_ctx, C = (size_t) hp->n_audio_state, Tt = (size_t) hp->n_text_ctx;
  size_t L = (size_t) hp->n_text_layer;
  size_t rows = 2 * T > Tt ? 2 * T : Tt;
  st->mel_win = alloc_f ((size_t) hp->n_mels * 2 * T);
  st->enc_x = alloc_f (T * C);
  st->enc_out = alloc_f (T * C);
  st->cross_k = alloc_f (L * T * C);
  st->cross_v = alloc_f (L * T * C);
  st->self_k = alloc_f (L * Tt * C);
  st->self_v = alloc_f (L * Tt * C);
  st->dec_x = alloc_f (Tt * C);
  st->xn = alloc_f (rows * C);
  st->q = alloc_f (rows * C);
  st->k = alloc_f (rows * C);
  st->v = alloc_f (rows * C);
  st->att = alloc_f (rows * C);
  st->hidden = alloc_f (rows * 4 * C);
  if (!st->mel_win || !st->enc_x || !st->enc_out || !st->cross_k || !st->cross_v || !st->self_k ||
      !st->self_v || !st->dec_x || !st->xn || !st->q || !st->k || !st->v || !st->att ||
      !st->hidden) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the stream's buffers");
    lmw_state_free (st);
    return NULL;
  }
  return st;
}

const char *
lmw_state_backend_name (const lmw_state *st)
{
  return st->ops->name;
}

const float *
lmw_state_encoder_output (const lmw_state *st)
{
  return st->have_audio ? st->enc_out : NULL;
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
  for (int c = 0; c < hp->n_mels; c++) {
    float *dst = st->mel_win + (size_t) c * Tm;
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
