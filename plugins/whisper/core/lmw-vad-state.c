/* SPDX-License-Identifier: MIT */
/*
 * lmw-vad-state.c — one stream of Silero voice-activity detection: the network run on each
 * 512-sample window, with the LSTM state carried from window to window.
 *
 * One window (W = 512 samples, context C = 64, n_fft 256, hop 128, 129 bins, hidden H = 128):
 *   x (W) → reflection-padded (W + 2C) → STFT frames (4, n_fft) · basis^T → (4, 2 * 129)
 *   → magnitude (4, 129) → 4 convolutions k3 (strides 1 2 2 1, ReLU) → (1, 128)
 *   → LSTM cell (gates i f g o) → ReLU (h) · w_out + b → sigmoid = P(speech)
 * The inputs of every convolution (the STFT included) are rounded to f16 first, as ggml's
 * im2col does, so that the probabilities equal whisper.cpp's to within float rounding; the
 * products themselves are f32.  The model is small and the products tiny (at most 4 rows),
 * so this runs on the CPU backend with one thread, whatever backend the decoder uses.
 */
#include "lmw-vad-model.h"

#include "lmw-model.h" /* lmw_set_error */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WIDTH 1024 /* widest activation row: channels, bins or 4 * hidden */

struct lmw_vad_state {
  const lmw_vad_model *model;    /* borrowed: outlives the state */
  const lmw_backend_ops *ops;
  void *ctx;                     /* owned: backend context, one thread */
  float *h, *c;                  /* owned (hidden each): the LSTM state */
  float *pending;                /* owned (window): samples of the incomplete window */
  size_t n_pending;
  float *padded;                 /* owned scratch: window + 2 * context */
  float *frames;                 /* owned scratch: (n_frames, n_fft) */
  float *act_a, *act_b;          /* owned scratch: (n_frames, MAX_WIDTH) each */
  float *gates, *gates_h;        /* owned scratch: 4 * hidden each */
  uint64_t n_windows;
  uint64_t time_us;
};

static float
to_f16 (float x)
{
  return lmw_fp16_to_fp32 (lmw_fp32_to_fp16 (x));
}

static float
sigmoid (float x)
{
  return 1.0f / (1.0f + expf (-x));
}

lmw_vad_state *
lmw_vad_state_new (const lmw_vad_model *model, lmw_error *err)
{
  lmw_vad_state *s = calloc (1, sizeof *s);
  if (s == NULL)
    goto oom;
  const lmw_vad_model *m = model;
  s->model = m;
  s->ops = lmw_backend_cpu ();
  char why[128] = "";
  s->ctx = s->ops->create (1, why, sizeof why);
  if (s->ctx == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "VAD: can't create the compute context: %s", why);
    free (s);
    return NULL;
  }
  s->h = calloc ((size_t) m->hidden, sizeof (float));
  s->c = calloc ((size_t) m->hidden, sizeof (float));
  s->pending = calloc ((size_t) m->window, sizeof (float));
  s->padded = calloc ((size_t) (m->window + 2 * m->context), sizeof (float));
  s->frames = calloc ((size_t) m->n_frames * (size_t) m->n_fft, sizeof (float));
  s->act_a = calloc ((size_t) m->n_frames * MAX_WIDTH * 4, sizeof (float));
  s->act_b = calloc ((size_t) m->n_frames * MAX_WIDTH * 4, sizeof (float));
  s->gates = calloc ((size_t) m->hidden * 4, sizeof (float));
  s->gates_h = calloc ((size_t) m->hidden * 4, sizeof (float));
  if (!s->h || !s->c || !s->pending || !s->padded || !s->frames || !s->act_a || !s->act_b ||
      !s->gates || !s->gates_h)
    goto oom;
  return s;
oom:
  lmw_vad_state_free (s);
  lmw_set_error (err, LMW_ERR_NOMEM, "VAD: out of memory for a stream");
  return NULL;
}

void
lmw_vad_state_free (lmw_vad_state *s)
{
  if (s == NULL)
    return;
  if (s->ctx)
    s->ops->destroy (s->ctx);
  free (s->h);
  free (s->c);
  free (s->pending);
  free (s->padded);
  free (s->frames);
  free (s->act_a);
  free (s->act_b);
  free (s->gates);
  free (s->gates_h);
  free (s);
}

const lmw_vad_model *
lmw_vad_state_model (const lmw_vad_state *s)
{
  return s->model;
}

void
lmw_vad_state_reset (lmw_vad_state *s)
{
  memset (s->h, 0, sizeof (float) * (size_t) s->model->hidden);
  memset (s->c, 0, sizeof (float) * (size_t) s->model->hidden);
  s->n_pending = 0;
}

/* The probability of one full window x (window), advancing the LSTM state. */
static float
run_window (lmw_vad_state *s, const float *x)
{
  const lmw_vad_model *m = s->model;
  const int W = m->window, C = m->context, H = m->hidden;
  const int hop = m->n_fft / 2, n_freq = m->n_freq;

  /* reflection padding (the edge sample is not repeated), rounded to f16 */
  float *p = s->padded;
  for (int i = 0; i < W; i++)
    p[C + i] = x[i];
  for (int j = 0; j < C; j++) {
    p[C - 1 - j] = x[j + 1];
    p[C + W + j] = x[W - 2 - j];
  }
  for (int i = 0; i < W + 2 * C; i++)
    p[i] = to_f16 (p[i]);

  /* STFT: frames (n_frames, n_fft) · basis^T → (n_frames, 2 * n_freq) */
  for (int t = 0; t < m->n_frames; t++)
    memcpy (s->frames + (size_t) t * m->n_fft, p + t * hop, sizeof (float) * (size_t) m->n_fft);
  float *spec = s->act_b;
  s->ops->matmul (s->ctx, spec, 2 * n_freq, s->frames, m->n_fft, &m->stft, NULL, m->n_frames);

  /* magnitude (n_frames, n_freq), time-major */
  float *a = s->act_a;
  for (int t = 0; t < m->n_frames; t++)
    for (int f = 0; f < n_freq; f++) {
      float re = spec[t * 2 * n_freq + f], im = spec[t * 2 * n_freq + n_freq + f];
      a[t * n_freq + f] = to_f16 (sqrtf (re * re + im * im));
    }

  /* encoder: (T, C_in) → (T_out, C_out), ReLU, rounded for the next convolution */
  static const int strides[LMW_VAD_N_LAYERS] = { 1, 2, 2, 1 };
  int T = m->n_frames;
  for (int l = 0; l < LMW_VAD_N_LAYERS; l++) {
    float *out = a == s->act_a ? s->act_b : s->act_a;
    int c_in = m->in_ch[l], c_out = m->out_ch[l];
    s->ops->conv1d_k3 (s->ctx, out, a, 1, (size_t) c_in, &m->enc_w[l], m->enc_b[l], T, c_in,
                       strides[l]);
    T = (T - 1) / strides[l] + 1;
    bool last = l == LMW_VAD_N_LAYERS - 1;
    for (int i = 0; i < T * c_out; i++) {
      float v = out[i] > 0.0f ? out[i] : 0.0f;
      out[i] = last ? v : to_f16 (v);
    }
    a = out;
  }
  /* a's first row (the first output frame) is the LSTM input */

  /* LSTM cell: gates = W_ih x + b_ih + W_hh h + b_hh */
  s->ops->matmul (s->ctx, s->gates, 4 * H, a, m->w_ih.cols, &m->w_ih, m->b_ih, 1);
  s->ops->matmul (s->ctx, s->gates_h, 4 * H, s->h, H, &m->w_hh, m->b_hh, 1);
  for (int i = 0; i < 4 * H; i++)
    s->gates[i] += s->gates_h[i];
  for (int i = 0; i < H; i++) {
    float ig = sigmoid (s->gates[i]);
    float fg = sigmoid (s->gates[H + i]);
    float gg = tanhf (s->gates[2 * H + i]);
    float og = sigmoid (s->gates[3 * H + i]);
    s->c[i] = fg * s->c[i] + ig * gg;
    s->h[i] = og * tanhf (s->c[i]);
  }

  /* output: sigmoid (w_out · f16 (ReLU (h)) + b) */
  float z = 0.0f;
  for (int i = 0; i < H; i++)
    z += m->out_w[i] * to_f16 (s->h[i] > 0.0f ? s->h[i] : 0.0f);
  return sigmoid (z + m->out_b);
}

static uint64_t
now_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

size_t
lmw_vad_feed_max (const lmw_vad_state *s, size_t n)
{
  return (s->n_pending + n) / (size_t) s->model->window;
}

size_t
lmw_vad_pending (const lmw_vad_state *s)
{
  return s->n_pending;
}

size_t
lmw_vad_feed (lmw_vad_state *s, const float *pcm, size_t n, float *probs)
{
  const size_t W = (size_t) s->model->window;
  size_t n_out = 0;
  uint64_t t0 = now_us ();
  if (s->n_pending > 0) {
    size_t take = W - s->n_pending < n ? W - s->n_pending : n;
    memcpy (s->pending + s->n_pending, pcm, sizeof (float) * take);
    s->n_pending += take;
    pcm += take;
    n -= take;
    if (s->n_pending < W)
      goto out;
    probs[n_out++] = run_window (s, s->pending);
    s->n_pending = 0;
  }
  while (n >= W) {
    probs[n_out++] = run_window (s, pcm);
    pcm += W;
    n -= W;
  }
  memcpy (s->pending, pcm, sizeof (float) * n);
  s->n_pending = n;
out:
  s->n_windows += n_out;
  s->time_us += now_us () - t0;
  return n_out;
}

int
lmw_vad_flush (lmw_vad_state *s, float *prob)
{
  if (s->n_pending == 0)
    return 0;
  const size_t W = (size_t) s->model->window;
  uint64_t t0 = now_us ();
  memset (s->pending + s->n_pending, 0, sizeof (float) * (W - s->n_pending));
  *prob = run_window (s, s->pending);
  s->n_pending = 0;
  s->n_windows++;
  s->time_us += now_us () - t0;
  return 1;
}

uint64_t
lmw_vad_state_windows (const lmw_vad_state *s)
{
  return s->n_windows;
}

uint64_t
lmw_vad_state_time_us (const lmw_vad_state *s)
{
  return s->time_us;
}

int
lmw_vad_probs (lmw_vad_state *s, const float *pcm, size_t n_samples, float **probs,
               size_t *n_probs, lmw_error *err)
{
  const size_t W = (size_t) s->model->window;
  size_t cap = (n_samples + W - 1) / W;
  float *out = malloc ((cap ? cap : 1) * sizeof (float));
  if (out == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "VAD: out of memory for %zu probabilities", cap);
    return -1;
  }
  lmw_vad_state_reset (s);
  size_t n = lmw_vad_feed (s, pcm, n_samples, out);
  n += (size_t) lmw_vad_flush (s, out + n);
  *probs = out;
  *n_probs = n;
  return 0;
}
