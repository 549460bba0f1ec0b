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
 * products themselves are f32.  Only the LSTM links the windows, so up to BATCH complete
 * windows go through the STFT and the convolutions together (one matrix product per layer),
 * then through the LSTM one by one.  The model is small (a window is 0.7 M multiply-adds): it
 * runs here, on the calling thread, with its own products (dense ()) whatever backend the
 * decoder uses.
 */
#include "lmw-vad-model.h"

#include "lmw-error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 32 /* windows analysed together: the STFT and each convolution of all of them
                  * is one matrix product, only the LSTM step goes window by window */

struct lmw_vad_state {
  const lmw_vad_model *model;    /* borrowed: outlives the state */
  float *h, *c;                  /* owned (hidden each): the LSTM state */
  float *pending;                /* owned (window): samples of the incomplete window */
  size_t n_pending;
  /* owned scratch, for BATCH windows */
  float *padded;                 /* (window + 2 * context) */
  float *frames;                 /* (BATCH * n_frames, n_fft) */
  float *act_a, *act_b;          /* (BATCH * n_frames, max (2 * n_freq, channels)) each */
  float *cols;                   /* (BATCH * n_frames, 3 * max in_ch): convolution inputs */
  float *gates;                  /* (BATCH, 4 * hidden): W_ih x + b_ih of each window */
  float *gates_h;                /* (4 * hidden) */
  uint64_t n_windows;
  uint64_t time_us;
};

/* x rounded to the nearest f16 value (ties to even), kept as f32: what ggml's im2col does to
 * every convolution input. */
static inline float
round_f16 (float x)
{
  uint32_t u;
  memcpy (&u, &x, sizeof u);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x38800000u && a < 0x477ff000u) { /* a normal f16 after rounding */
    u += 0xfffu + ((u >> 13) & 1u);
    u &= ~0x1fffu;
    memcpy (&x, &u, sizeof x);
    return x;
  }
  return lmw_fp16_to_fp32 (lmw_fp32_to_fp16 (x)); /* subnormal, zero, overflow, NaN */
}

/* a · b over K elements in 4 x 8 independent lanes (which the compiler keeps in vector
 * registers, four additions in flight), summed in a fixed order: a row's result never depends
 * on the other rows of the product, so a window gets the same numbers alone or in a batch. */
static inline float
dot (const float *a, const float *b, int K)
{
  float a0[8] = { 0 }, a1[8] = { 0 }, a2[8] = { 0 }, a3[8] = { 0 };
  int k = 0;
  for (; k + 32 <= K; k += 32) {
    for (int j = 0; j < 8; j++)
      a0[j] += a[k + j] * b[k + j];
    for (int j = 0; j < 8; j++)
      a1[j] += a[k + 8 + j] * b[k + 8 + j];
    for (int j = 0; j < 8; j++)
      a2[j] += a[k + 16 + j] * b[k + 16 + j];
    for (int j = 0; j < 8; j++)
      a3[j] += a[k + 24 + j] * b[k + 24 + j];
  }
  for (int j = 0; j < 8; j++)
    a0[j] = (a0[j] + a1[j]) + (a2[j] + a3[j]);
  float sum = ((a0[0] + a0[4]) + (a0[1] + a0[5])) + ((a0[2] + a0[6]) + (a0[3] + a0[7]));
  for (; k < K; k++)
    sum += a[k] * b[k];
  return sum;
}

/* out (M, N) = inp (M, K) · w^T (+ bias (N)), w f32 (N, K); inp row stride lda, out ldc.
 * Blocks of 8 input rows stay in the L1 cache while the weight rows stream past.  On x86-64
 * an AVX2 copy is chosen at load time where the processor has it (the same one for every
 * call, so the numbers stay independent of the batching). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__ ((target_clones ("avx2", "default")))
#endif
static void
dense (float *out, int ldc, const float *inp, int lda, const lmw_weight *w, const float *bias,
       int M)
{
  const int N = w->rows, K = w->cols;
  const float *wd = w->data;
  for (int m0 = 0; m0 < M; m0 += 8) {
    int m1 = m0 + 8 < M ? m0 + 8 : M;
    for (int n = 0; n < N; n++) {
      const float *wr = wd + (size_t) n * K;
      float b = bias ? bias[n] : 0.0f;
      for (int m = m0; m < m1; m++)
        out[(size_t) m * ldc + n] = dot (inp + (size_t) m * lda, wr, K) + b;
    }
  }
}

static float
sigmoid (float x)
{
  return 1.0f / (1.0f + expf (-x));
}

static int
widest (const lmw_vad_model *m)
{
  int w = 2 * m->n_freq > 4 * m->hidden ? 2 * m->n_freq : 4 * m->hidden;
  for (int l = 0; l < LMW_VAD_N_LAYERS; l++)
    w = m->out_ch[l] > w ? m->out_ch[l] : w;
  return w;
}

lmw_vad_state *
lmw_vad_state_new (const lmw_vad_model *model, lmw_error *err)
{
  lmw_vad_state *s = calloc (1, sizeof *s);
  if (s == NULL)
    goto oom;
  const lmw_vad_model *m = model;
  s->model = m;
  size_t rows = (size_t) BATCH * (size_t) m->n_frames;
  int max_in = 0;
  for (int l = 0; l < LMW_VAD_N_LAYERS; l++)
    max_in = m->in_ch[l] > max_in ? m->in_ch[l] : max_in;
  s->h = calloc ((size_t) m->hidden, sizeof (float));
  s->c = calloc ((size_t) m->hidden, sizeof (float));
  s->pending = calloc ((size_t) m->window, sizeof (float));
  s->padded = calloc ((size_t) (m->window + 2 * m->context), sizeof (float));
  s->frames = calloc (rows * (size_t) m->n_fft, sizeof (float));
  s->act_a = calloc (rows * (size_t) widest (m), sizeof (float));
  s->act_b = calloc (rows * (size_t) widest (m), sizeof (float));
  s->cols = calloc (rows * 3 * (size_t) max_in, sizeof (float));
  s->gates = calloc ((size_t) BATCH * 4 * (size_t) m->hidden, sizeof (float));
  s->gates_h = calloc (4 * (size_t) m->hidden, sizeof (float));
  if (!s->h || !s->c || !s->pending || !s->padded || !s->frames || !s->act_a || !s->act_b ||
      !s->cols || !s->gates || !s->gates_h)
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
  free (s->h);
  free (s->c);
  free (s->pending);
  free (s->padded);
  free (s->frames);
  free (s->act_a);
  free (s->act_b);
  free (s->cols);
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

/* The probabilities of n (1 .. BATCH) consecutive full windows x (n * window), in order,
 * advancing the LSTM state. */
static void
run_windows (lmw_vad_state *s, const float *x, int n, float *probs)
{
  const lmw_vad_model *m = s->model;
  const int W = m->window, C = m->context, H = m->hidden, F = m->n_frames;
  const int hop = m->n_fft / 2, n_freq = m->n_freq;

  /* per window: reflection padding (the edge sample is not repeated), rounded to f16, cut
   * into F overlapping frames */
  for (int b = 0; b < n; b++) {
    const float *xb = x + (size_t) b * W;
    float *p = s->padded;
    for (int i = 0; i < W; i++)
      p[C + i] = round_f16 (xb[i]);
    for (int j = 0; j < C; j++) {
      p[C - 1 - j] = p[C + j + 1];
      p[C + W + j] = p[C + W - 2 - j];
    }
    for (int t = 0; t < F; t++)
      memcpy (s->frames + ((size_t) b * F + t) * m->n_fft, p + t * hop,
              sizeof (float) * (size_t) m->n_fft);
  }

  /* STFT: frames (n * F, n_fft) · basis^T → (n * F, 2 * n_freq); magnitude (n * F, n_freq) */
  float *spec = s->act_b;
  dense (spec, 2 * n_freq, s->frames, m->n_fft, &m->stft, NULL, n * F);
  float *a = s->act_a;
  for (int r = 0; r < n * F; r++)
    for (int f = 0; f < n_freq; f++) {
      float re = spec[(size_t) r * 2 * n_freq + f];
      float im = spec[(size_t) r * 2 * n_freq + n_freq + f];
      a[(size_t) r * n_freq + f] = round_f16 (sqrtf (re * re + im * im));
    }

  /* encoder: each window's (T, C_in) → (T_out, C_out), kernel 3, padding 1, ReLU; the
   * inputs of all windows gathered (im2col) into one product */
  static const int strides[LMW_VAD_N_LAYERS] = { 1, 2, 2, 1 };
  int T = F;
  for (int l = 0; l < LMW_VAD_N_LAYERS; l++) {
    const int c_in = m->in_ch[l], c_out = m->out_ch[l], st = strides[l];
    const int T_out = (T - 1) / st + 1, K = 3 * c_in;
    for (int b = 0; b < n; b++)
      for (int t = 0; t < T_out; t++) {
        float *row = s->cols + ((size_t) b * T_out + t) * K;
        for (int k = 0; k < 3; k++) {
          int ti = t * st + k - 1;
          const float *src = ti >= 0 && ti < T ? a + ((size_t) b * T + ti) * c_in : NULL;
          for (int c = 0; c < c_in; c++)
            row[c * 3 + k] = src ? src[c] : 0.0f;
        }
      }
    float *out = a == s->act_a ? s->act_b : s->act_a;
    dense (out, c_out, s->cols, K, &m->enc_w[l], m->enc_b[l], n * T_out);
    bool last = l == LMW_VAD_N_LAYERS - 1;
    for (size_t i = 0; i < (size_t) n * T_out * c_out; i++) {
      float v = out[i] > 0.0f ? out[i] : 0.0f;
      out[i] = last ? v : round_f16 (v);
    }
    a = out;
    T = T_out;
  }
  /* each window's first output frame is its LSTM input: rows b * T of a */

  /* LSTM input gates of every window at once: W_ih x + b_ih */
  dense (s->gates, 4 * H, a, T * m->w_ih.cols, &m->w_ih, m->b_ih, n);
  for (int b = 0; b < n; b++) {
    float *g = s->gates + (size_t) b * 4 * H;
    dense (s->gates_h, 4 * H, s->h, H, &m->w_hh, m->b_hh, 1);
    for (int i = 0; i < 4 * H; i++)
      g[i] += s->gates_h[i];
    float z = 0.0f;
    for (int i = 0; i < H; i++) {
      float ig = sigmoid (g[i]);
      float fg = sigmoid (g[H + i]);
      float gg = tanhf (g[2 * H + i]);
      float og = sigmoid (g[3 * H + i]);
      s->c[i] = fg * s->c[i] + ig * gg;
      s->h[i] = og * tanhf (s->c[i]);
      /* output: sigmoid (w_out · f16 (ReLU (h)) + b) */
      z += m->out_w[i] * round_f16 (s->h[i] > 0.0f ? s->h[i] : 0.0f);
    }
    probs[b] = sigmoid (z + m->out_b);
  }
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
    run_windows (s, s->pending, 1, probs + n_out++);
    s->n_pending = 0;
  }
  while (n >= W) {
    int k = n / W < BATCH ? (int) (n / W) : BATCH;
    run_windows (s, pcm, k, probs + n_out);
    n_out += (size_t) k;
    pcm += (size_t) k * W;
    n -= (size_t) k * W;
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
  run_windows (s, s->pending, 1, prob);
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
