/* SPDX-License-Identifier: MIT */
/*
 * lmw-align.c — word timing by cross-attention alignment, as the reference does it: the
 * attention of the text tokens on the audio positions, in the heads that follow the speech
 * (by default all heads of the second half of the decoder layers; the reference's per-model
 * head lists are not in ggml files), turned into a token × time cost matrix and walked with
 * dynamic time warping.  One audio position of the encoder is 20 ms.
 */
#include "lmw-align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int first_layer; /* layers from this one on are used, every head */
  int F;           /* audio positions: the window's content */
  int n;           /* tokens */
  float *acc;      /* (n, F): sum over heads of the normalised, filtered weights */
  float *w;        /* (n, F): one head */
  float *pad;      /* (F + 6): one row with reflected edges */
  int n_heads;
} align_ctx;

static float
median7 (const float *x)
{
  float v[7];
  memcpy (v, x, sizeof v);
  for (int i = 1; i < 7; i++) /* insertion sort */
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      float t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[3];
}

static void
xattn_cb (void *user_data, int layer, const float *q, int n, const float *k, int T, int C, int H)
{
  align_ctx *a = user_data;
  if (layer < a->first_layer || n != a->n)
    return;
  int D = C / H, F = a->F < T ? a->F : T;
  float scale = 1.0f / sqrtf ((float) D);
  for (int h = 0; h < H; h++) {
    for (int t = 0; t < n; t++) { /* softmax over the content's positions */
      float *row = a->w + (size_t) t * F;
      const float *qt = q + (size_t) t * C + (size_t) h * D;
      float max = -INFINITY;
      for (int f = 0; f < F; f++) {
        const float *kf = k + (size_t) f * C + (size_t) h * D;
        float d = 0.0f;
        for (int i = 0; i < D; i++)
          d += qt[i] * kf[i];
        row[f] = d * scale;
        max = row[f] > max ? row[f] : max;
      }
      double sum = 0.0;
      for (int f = 0; f < F; f++) {
        row[f] = expf (row[f] - max);
        sum += row[f];
      }
      for (int f = 0; f < F; f++)
        row[f] = (float) (row[f] / sum);
    }
    for (int f = 0; f < F; f++) { /* each position normalised over the tokens */
      double mean = 0.0, var = 0.0;
      for (int t = 0; t < n; t++)
        mean += a->w[(size_t) t * F + f];
      mean /= n;
      for (int t = 0; t < n; t++) {
        double d = a->w[(size_t) t * F + f] - mean;
        var += d * d;
      }
      double sd = sqrt (var / n);
      for (int t = 0; t < n; t++) {
        float *x = &a->w[(size_t) t * F + f];
        *x = sd > 1e-12 ? (float) ((*x - mean) / sd) : 0.0f;
      }
    }
    for (int t = 0; t < n; t++) { /* median filter along time, edges reflected */
      float *row = a->w + (size_t) t * F;
      float *acc = a->acc + (size_t) t * F;
      if (F < 4) {
        for (int f = 0; f < F; f++)
          acc[f] += row[f];
        continue;
      }
      for (int i = 0; i < 3; i++) {
        a->pad[i] = row[3 - i];
        a->pad[F + 3 + i] = row[F - 2 - i];
      }
      memcpy (a->pad + 3, row, sizeof (float) * (size_t) F);
      for (int f = 0; f < F; f++)
        acc[f] += median7 (a->pad + f);
    }
    a->n_heads++;
  }
}

/* path of minimum cost through x (N, M) from (0, 0) to (N-1, M-1); returns its length */
static int
dtw (const float *x, int N, int M, int *ti, int *fi)
{
  size_t W = (size_t) M + 1;
  double *cost = malloc (sizeof (double) * (size_t) (N + 1) * W);
  unsigned char *tr = malloc ((size_t) (N + 1) * W);
  if (cost == NULL || tr == NULL) {
    free (cost);
    free (tr);
    return -1;
  }
  for (size_t i = 0; i < (size_t) (N + 1) * W; i++) {
    cost[i] = INFINITY;
    tr[i] = 2;
  }
  cost[0] = 0.0;
  for (int i = 1; i <= N; i++)
    tr[(size_t) i * W] = 1;
  for (int j = 1; j <= M; j++)
    for (int i = 1; i <= N; i++) {
      double c0 = cost[(size_t) (i - 1) * W + j - 1], c1 = cost[(size_t) (i - 1) * W + j],
             c2 = cost[(size_t) i * W + j - 1], c;
      unsigned char t;
      if (c0 < c1 && c0 < c2) {
        c = c0;
        t = 0;
      } else if (c1 < c0 && c1 < c2) {
        c = c1;
        t = 1;
      } else {
        c = c2;
        t = 2;
      }
      cost[(size_t) i * W + j] = x[(size_t) (i - 1) * M + j - 1] + c;
      tr[(size_t) i * W + j] = t;
    }
  int len = 0, i = N, j = M;
  while (i > 0 || j > 0) {
    ti[len] = i - 1;
    fi[len] = j - 1;
    len++;
    unsigned char t = tr[(size_t) i * W + j];
    if (i == 0)
      t = 2;
    else if (j == 0)
      t = 1;
    if (t == 0) {
      i--;
      j--;
    } else if (t == 1) {
      i--;
    } else {
      j--;
    }
  }
  for (int a = 0, b = len - 1; a < b; a++, b--) { /* reverse */
    int t = ti[a];
    ti[a] = ti[b];
    ti[b] = t;
    t = fi[a];
    fi[a] = fi[b];
    fi[b] = t;
  }
  free (cost);
  free (tr);
  return len;
}

int
lmw_dtw_starts (const float *cost, int N, int M, int *starts)
{
  int *ti = malloc (sizeof (int) * (size_t) (N + M));
  int *fi = malloc (sizeof (int) * (size_t) (N + M));
  int len = ti && fi ? dtw (cost, N, M, ti, fi) : -1;
  if (len < 0) {
    free (ti);
    free (fi);
    return -1;
  }
  int row = 0;
  for (int k = 0; k < len && row < N; k++)
    if (k == 0 || ti[k] != ti[k - 1])
      starts[row++] = fi[k];
  for (; row < N; row++) /* not reached: the path visits every row */
    starts[row] = row > 0 ? starts[row - 1] : 0;
  free (ti);
  free (fi);
  return 0;
}

int
lmw_align_tokens (lmw_state *st, const int *sot_seq, int n_sot, const int *text, int n_text,
                  int content_frames, int64_t *times, lmw_error *err)
{
  const lmw_model *m = st->model;
  int n = n_sot + 1 + n_text + 1;
  if (n_text < 1 || n > m->hp.n_text_ctx) {
    lmw_set_error (err, LMW_ERR_ARG, "lmw_align_tokens: %d tokens do not fit", n);
    return -1;
  }
  align_ctx a = { 0 };
  a.first_layer = m->hp.n_text_layer / 2;
  a.F = content_frames / 2;
  if (a.F < 1)
    a.F = 1;
  if (a.F > m->hp.n_audio_ctx)
    a.F = m->hp.n_audio_ctx;
  a.n = n;
  int N = n_text + 1, rc = -1;
  int *seq = malloc (sizeof (int) * (size_t) n);
  a.acc = calloc ((size_t) n * a.F, sizeof (float));
  a.w = malloc (sizeof (float) * (size_t) n * a.F);
  a.pad = malloc (sizeof (float) * (size_t) (a.F + 6));
  if (!seq || !a.acc || !a.w || !a.pad) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the alignment");
    goto out;
  }
  memcpy (seq, sot_seq, sizeof (int) * (size_t) n_sot);
  seq[n_sot] = m->sp.notimestamps;
  memcpy (seq + n_sot + 1, text, sizeof (int) * (size_t) n_text);
  seq[n - 1] = m->sp.eot;
  st->xattn_cb = xattn_cb;
  st->xattn_user_data = &a;
  int r = lmw_decode (st, seq, n, 0, NULL, false, err);
  st->xattn_cb = NULL;
  st->xattn_user_data = NULL;
  if (r != 0)
    goto out;
  /* rows n_sot .. n - 2: the position of <|notimestamps|> and of each text token, i.e. the
   * moment each text token and then <|endoftext|> is predicted; cost = -mean weight */
  float *x = a.acc + (size_t) n_sot * a.F;
  float inv = a.n_heads > 0 ? -1.0f / (float) a.n_heads : -1.0f;
  for (size_t i = 0; i < (size_t) N * a.F; i++)
    x[i] *= inv;
  int *starts = malloc (sizeof (int) * (size_t) N);
  if (starts == NULL || lmw_dtw_starts (x, N, a.F, starts) != 0) {
    free (starts);
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the alignment");
    goto out;
  }
  for (int row = 0; row < N; row++)
    times[row] = (int64_t) starts[row] * 20;
  free (starts);
  rc = 0;
out:
  free (seq);
  free (a.acc);
  free (a.w);
  free (a.pad);
  return rc;
}
