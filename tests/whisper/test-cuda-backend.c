/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-backend.c — the CUDA backend's operations, as cuda-emu runs them (its host code,
 * the host twin of cuBLAS, the emulated kernels), against the CPU backend on odd shapes,
 * through the contract alone: inputs uploaded into buffers of the backend's alloc, weights
 * through map_weight, results downloaded.
 *
 * Asserts (TAP), each with the error relative to the CPU result's largest |value| <= 4e-3
 * (products round their inputs to f16, as the GPU does):
 *   - matmul on f32, f16 and q8_0 weights (expanded to f16 by map_weight), with and without a
 *     bias, M = 1 and M > 1, input and output strides wider than the rows;
 *   - matmul_ex with the GELU epilogue and with the residual add;
 *   - layernorm, gelu, softmax, add; conv1d_k3 with stride 1 on the mel layout and stride 2
 *     on the activation layout; attention without a mask, causal after a cache, and one query
 *     against 1500 keys; get_rows from f16 embeddings;
 *   - contract version 4: cuda-emu and the CPU backend both have to_f16 and cross_attention;
 *     to_f16 gives lmw_fp32_to_fp16's bits exactly; cross_attention on f16 K/V from to_f16
 *     (1, 5 and 19 query rows against 1500 keys, a K/V with a row stride wider than H * D)
 *     matches the CPU's attention on the same K/V rounded to f16;
 *   - a product of a layer norm's output (which reads the norm's own f16 copy) gives the same
 *     bits as the product of that output uploaded into another buffer, for 2 of the 6 normed
 *     rows and for all 6; after the normed buffer changes (an upload into it, an add to it, a
 *     product writing over it, a later layer norm elsewhere) a product reads the new values,
 *     never the stale copy;
 *   - upload, copy and download move bytes unchanged; sync returns;
 *   - a launch the kernels refuse (attention with a head of 130) is reported by status()
 *     with the operation's name, once, and the backend works again afterwards;
 *   - contract version 6: cuda-emu has the table-driven step and graph_run, the CPU backend
 *     neither; graph_run runs a key's work directly, then records it, then replays it (under
 *     emulation every run does the work), per key, and after graph_reset starts over; work
 *     that uploads while being recorded is refused by the emulated runtime as a capture is,
 *     not recorded, and status() says so.
 */
#include "lmw-backend.h"
#include "lmw-test.h"
#define LMW_TEST_LCG_SEED 777u
#include "lmw-test-random.h"

#include <stdint.h>

#define TOL 4e-3

static const lmw_backend_ops *cpu, *emu;
static void *cc, *ec; /* contexts */
/* host tensors mapped into ec: like a model's, they must outlive it (the backend's copies are
 * keyed by their address); freed after it */
static void *kept[64];
static int n_kept;

static void *
keep (void *p)
{
  if (n_kept < 64)
    kept[n_kept++] = p;
  return p;
}
static float *
randv (size_t n)
{
  float *v = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    v[i] = frand_lcg ();
  return v;
}

/* a device copy of host floats */
static float *
dev (const float *h, size_t n)
{
  float *d = emu->alloc (ec, sizeof (float) * (n ? n : 1));
  emu->upload (ec, d, h, sizeof (float) * n);
  return d;
}

static float *
host (const float *d, size_t n)
{
  float *h = malloc (sizeof (float) * (n ? n : 1));
  emu->download (ec, h, d, sizeof (float) * n);
  return h;
}

static void
report (const char *what, const float *got, const float *want, size_t n)
{
  err_stats s = compare (got, want, n);
  char msg[256] = "";
  int st = emu->status (ec, msg, sizeof msg);
  TEST_OK (st == 0 && s.rel <= TOL, "%s: max abs err %.3g, rel (to max |cpu|) %.3g%s%s", what,
           s.max_abs, s.rel, st ? " — " : "", msg);
}

/* q8_0 rows of (N, K): per block of 32, an f16 scale and 32 int8 */
static void
make_weight (lmw_weight *w, lmw_type type, int N, int K)
{
  w->type = type;
  w->rows = N;
  w->cols = K;
  w->row_bytes = lmw_type_row_bytes (type, K);
  uint8_t *data = malloc (w->row_bytes * (size_t) N);
  for (int n = 0; n < N; n++) {
    uint8_t *row = data + w->row_bytes * (size_t) n;
    float x[4096];
    for (int k = 0; k < K; k++)
      x[k] = frand_lcg ();
    if (type == LMW_TYPE_F32) {
      memcpy (row, x, sizeof (float) * K);
    } else if (type == LMW_TYPE_F16) {
      for (int k = 0; k < K; k++) {
        uint16_t h = lmw_fp32_to_fp16 (x[k]);
        memcpy (row + 2 * k, &h, 2);
      }
    } else { /* q8_0 */
      for (int b = 0; b < K / LMW_QK; b++) {
        float amax = 0.0f;
        for (int j = 0; j < LMW_QK; j++)
          amax = fabsf (x[b * LMW_QK + j]) > amax ? fabsf (x[b * LMW_QK + j]) : amax;
        float d = amax / 127.0f;
        uint16_t dh = lmw_fp32_to_fp16 (d);
        uint8_t *blk = row + (size_t) b * 34;
        memcpy (blk, &dh, 2);
        for (int j = 0; j < LMW_QK; j++)
          blk[2 + j] = (uint8_t) (int8_t) lrintf (d > 0 ? x[b * LMW_QK + j] / d : 0.0f);
      }
    }
  }
  w->data = keep (data);
}

static void
check_matmul (lmw_type type, int M, int N, int K, bool bias, unsigned flags, int pad)
{
  lmw_weight w, dw;
  make_weight (&w, type, N, K);
  char err[200] = "";
  bool mapped = emu->map_weight (ec, &dw, &w, LMW_USE_MATRIX, err, sizeof err) == 0;
  int lda = K + pad, ldc = N + pad;
  float *x = randv ((size_t) M * lda), *b = bias ? keep (randv (N)) : NULL;
  float *out = randv ((size_t) M * ldc); /* the residual, for ACCUMULATE */
  float *dx = dev (x, (size_t) M * lda), *dout = dev (out, (size_t) M * ldc);
  lmw_weight vb = { LMW_TYPE_F32, 1, N, sizeof (float) * N, b }, dvb = { 0 };
  if (bias)
    mapped &= emu->map_weight (ec, &dvb, &vb, LMW_USE_VECTOR, err, sizeof err) == 0;
  if (flags)
    cpu->matmul_ex (cc, out, ldc, x, lda, &w, b, M, flags);
  else
    cpu->matmul (cc, out, ldc, x, lda, &w, b, M);
  if (mapped && flags)
    emu->matmul_ex (ec, dout, ldc, dx, lda, &dw, dvb.data, M, flags);
  else if (mapped)
    emu->matmul (ec, dout, ldc, dx, lda, &dw, dvb.data, M);
  float *got = host (dout, (size_t) M * ldc);
  char what[160];
  snprintf (what, sizeof what, "matmul%s %s (%d, %d) x (%d, %d)^T%s, strides +%d%s", flags ==
            LMW_MATMUL_GELU ? "+gelu" : flags == LMW_MATMUL_ACCUMULATE ? "+residual" : "",
            lmw_type_name (type), M, K, N, K, bias ? " + bias" : "", pad, mapped ? "" : err);
  report (what, got, out, (size_t) M * ldc);
  free (x);
  free (out);
  free (got);
  emu->free (ec, dx);
  emu->free (ec, dout);
}

static void
check_rows (void)
{
  int N = 5, C = 77;
  float *x = randv ((size_t) N * C), *g = randv (C), *bb = randv (C), *y = malloc (sizeof (float) * N * C);
  float *dx = dev (x, (size_t) N * C), *dy = emu->alloc (ec, sizeof (float) * N * C);
  float *dg = dev (g, C), *db = dev (bb, C);
  cpu->layernorm (cc, y, x, g, bb, N, C, 1e-5f);
  emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
  float *got = host (dy, (size_t) N * C);
  report ("layernorm (5, 77)", got, y, (size_t) N * C);
  free (got);

  size_t n = 1001;
  float *v = randv (n), *dv = dev (v, n);
  for (size_t i = 0; i < n; i++)
    v[i] *= 3.0f;
  emu->upload (ec, dv, v, sizeof (float) * n);
  cpu->gelu (cc, v, n);
  emu->gelu (ec, dv, n);
  got = host (dv, n);
  report ("gelu (1001)", got, v, n);
  free (got);

  int rows = 3, cols = 517;
  float *s = randv ((size_t) rows * cols), *ds = dev (s, (size_t) rows * cols);
  cpu->softmax (cc, s, rows, cols);
  emu->softmax (ec, ds, rows, cols);
  got = host (ds, (size_t) rows * cols);
  report ("softmax (3, 517)", got, s, (size_t) rows * cols);
  free (got);

  float *a = randv (1000), *a2 = randv (1000), *da = dev (a, 1000), *da2 = dev (a2, 1000);
  cpu->add (cc, a, a2, 1000);
  emu->add (ec, da, da2, 1000);
  got = host (da, 1000);
  report ("add (1000)", got, a, 1000);
  free (got);

  float *buffers[] = { dx, dy, dg, db, dv, ds, da, da2 };
  for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
    emu->free (ec, buffers[i]);
  free (x);
  free (g);
  free (bb);
  free (y);
  free (v);
  free (s);
  free (a);
  free (a2);
}

static void
check_conv (int T_in, int C_in, int C_out, int stride, bool mel_layout)
{
  lmw_weight w, dw;
  make_weight (&w, LMW_TYPE_F16, C_out, 3 * C_in);
  char err[200] = "";
  bool mapped = emu->map_weight (ec, &dw, &w, LMW_USE_MATRIX, err, sizeof err) == 0;
  float *b = keep (randv (C_out)), *in = randv ((size_t) T_in * C_in);
  lmw_weight vb = { LMW_TYPE_F32, 1, C_out, sizeof (float) * C_out, b }, dvb;
  mapped &= emu->map_weight (ec, &dvb, &vb, LMW_USE_VECTOR, err, sizeof err) == 0;
  int T_out = (T_in - 1) / stride + 1;
  size_t cs = mel_layout ? (size_t) T_in : 1, ts = mel_layout ? 1 : (size_t) C_in;
  float *out = malloc (sizeof (float) * T_out * C_out);
  float *din = dev (in, (size_t) T_in * C_in), *dout = emu->alloc (ec, sizeof (float) * T_out * C_out);
  cpu->conv1d_k3 (cc, out, in, cs, ts, &w, b, T_in, C_in, stride);
  if (mapped)
    emu->conv1d_k3 (ec, dout, din, cs, ts, &dw, dvb.data, T_in, C_in, stride);
  float *got = host (dout, (size_t) T_out * C_out);
  char what[160];
  snprintf (what, sizeof what, "conv1d_k3 stride %d, %s layout, (%d, %d) -> (%d, %d)%s", stride,
            mel_layout ? "mel (C, T)" : "activation (T, C)", C_in, T_in, T_out, C_out,
            mapped ? "" : err);
  report (what, got, out, (size_t) T_out * C_out);
  free (in);
  free (out);
  free (got);
  emu->free (ec, din);
  emu->free (ec, dout);
}

static void
check_attention (int Tq, int Tk, int H, int D, int past)
{
  int C = H * D;
  float *q = randv ((size_t) Tq * C), *k = randv ((size_t) Tk * C), *v = randv ((size_t) Tk * C);
  float *o = malloc (sizeof (float) * Tq * C);
  float *dq = dev (q, (size_t) Tq * C), *dk = dev (k, (size_t) Tk * C), *dv = dev (v, (size_t) Tk * C);
  float *dout = emu->alloc (ec, sizeof (float) * Tq * C);
  cpu->attention (cc, o, C, q, C, k, C, v, C, Tq, Tk, H, D, past);
  emu->attention (ec, dout, C, dq, C, dk, C, dv, C, Tq, Tk, H, D, past);
  float *got = host (dout, (size_t) Tq * C);
  char what[160];
  snprintf (what, sizeof what, "attention %d queries, %d keys, %d heads of %d, %s", Tq, Tk, H, D,
            past < 0 ? "no mask" : "causal");
  report (what, got, o, (size_t) Tq * C);
  free (q);
  free (k);
  free (v);
  free (o);
  free (got);
  emu->free (ec, dq);
  emu->free (ec, dk);
  emu->free (ec, dv);
  emu->free (ec, dout);
}

static void
check_contract_v4 (void)
{
  TEST_OK (emu->version >= 4 && emu->to_f16 != NULL && emu->cross_attention != NULL &&
           cpu->to_f16 != NULL && cpu->cross_attention != NULL, "contract %d: cuda-emu and cpu "
           "have to_f16 and cross_attention", LMW_BACKEND_VERSION);
}

/* q (Tq, H*D) against K/V (Tk, H*D) stored as f16 rows of stride ldkv */
static void
check_cross_attention (int Tq, int Tk, int H, int D, int ldkv)
{
  if (emu->cross_attention == NULL || emu->to_f16 == NULL)
    return;
  int C = H * D;
  size_t nkv = (size_t) Tk * ldkv;
  float *q = randv ((size_t) Tq * C), *k = randv (nkv), *v = randv (nkv);
  /* the reference reads the K/V rounded to f16, as the backend stores them */
  uint16_t *want_h = malloc (sizeof (uint16_t) * nkv), *got_h = malloc (sizeof (uint16_t) * nkv);
  for (size_t i = 0; i < nkv; i++) {
    want_h[i] = lmw_fp32_to_fp16 (k[i]);
    k[i] = lmw_fp16_to_fp32 (want_h[i]);
    v[i] = lmw_fp16_to_fp32 (lmw_fp32_to_fp16 (v[i]));
  }
  float *dq = dev (q, (size_t) Tq * C), *dk = dev (k, nkv), *dv = dev (v, nkv);
  uint16_t *kh = emu->alloc (ec, sizeof (uint16_t) * nkv), *vh = emu->alloc (ec, sizeof (uint16_t) * nkv);
  float *dout = emu->alloc (ec, sizeof (float) * Tq * C), *o = malloc (sizeof (float) * Tq * C);
  emu->to_f16 (ec, kh, dk, nkv);
  emu->to_f16 (ec, vh, dv, nkv);
  emu->download (ec, got_h, kh, sizeof (uint16_t) * nkv);
  TEST_OK (memcmp (got_h, want_h, sizeof (uint16_t) * nkv) == 0, "to_f16 of %zu values: the "
           "bits of lmw_fp32_to_fp16", nkv);
  cpu->attention (cc, o, C, q, C, k, ldkv, v, ldkv, Tq, Tk, H, D, -1);
  emu->cross_attention (ec, dout, C, dq, C, kh, vh, ldkv, Tq, Tk, H, D);
  float *got = host (dout, (size_t) Tq * C);
  char what[200];
  snprintf (what, sizeof what, "cross_attention on f16 K/V: %d queries, %d keys, %d heads of %d, "
            "K/V row stride %d", Tq, Tk, H, D, ldkv);
  report (what, got, o, (size_t) Tq * C);
  free (q);
  free (k);
  free (v);
  free (o);
  free (got);
  free (want_h);
  free (got_h);
  emu->free (ec, dq);
  emu->free (ec, dk);
  emu->free (ec, dv);
  emu->free (ec, kh);
  emu->free (ec, vh);
  emu->free (ec, dout);
}

/* out (M, N) of the product of the device rows dx, downloaded */
static float *
product (const float *dx, const lmw_weight *dw, int M)
{
  float *dout = emu->alloc (ec, sizeof (float) * M * dw->rows);
  emu->matmul (ec, dout, dw->rows, dx, dw->cols, dw, NULL, M);
  float *got = host (dout, (size_t) M * dw->rows);
  emu->free (ec, dout);
  return got;
}

/* the product of dx equals, bit for bit, the product of the host rows want uploaded elsewhere */
static void
same_product (const char *what, const float *dx, const float *want, const lmw_weight *dw, int M)
{
  size_t n = (size_t) M * dw->cols;
  float *a = product (dx, dw, M); /* first: an upload forgets the layer norm's f16 copy */
  float *dcopy = dev (want, n);
  float *b = product (dcopy, dw, M);
  char msg[256] = "";
  int st = emu->status (ec, msg, sizeof msg);
  TEST_OK (st == 0 && memcmp (a, b, sizeof (float) * M * dw->rows) == 0, "%s: the same bits as "
           "the product of the same rows in another buffer%s%s", what, st ? " — " : "", msg);
  free (a);
  free (b);
  emu->free (ec, dcopy);
}

static void
check_ln_copy (void)
{
  int N = 6, C = 64, O = 24;
  lmw_weight w, dw;
  make_weight (&w, LMW_TYPE_F16, O, C);
  char err[200] = "";
  if (emu->map_weight (ec, &dw, &w, LMW_USE_MATRIX, err, sizeof err) != 0) {
    TEST_OK (false, "map_weight: %s", err);
    return;
  }
  size_t n = (size_t) N * C;
  float *x = randv (n), *g = randv (C), *bb = randv (C), *y = malloc (sizeof (float) * n);
  float *x2 = randv (n), *y2 = malloc (sizeof (float) * n);
  float *dx = dev (x, n), *dy = emu->alloc (ec, sizeof (float) * n), *dg = dev (g, C);
  float *db = dev (bb, C), *dz = emu->alloc (ec, sizeof (float) * n);
  emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
  emu->download (ec, y, dy, sizeof (float) * n);
  same_product ("layer norm, then a product of 2 of its 6 rows", dy, y, &dw, 2);
  emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
  same_product ("layer norm, then a product of all its rows", dy, y, &dw, N);

  emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
  emu->upload (ec, dy, x2, sizeof (float) * n);
  same_product ("layer norm, an upload into its output, a product", dy, x2, &dw, N);

  emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
  emu->add (ec, dy, dx, n);
  emu->download (ec, y2, dy, sizeof (float) * n);
  same_product ("layer norm, an add to its output, a product", dy, y2, &dw, N);

  /* a product (K = O = C) writing over the normed rows */
  lmw_weight sq, dsq;
  make_weight (&sq, LMW_TYPE_F16, C, C);
  if (emu->map_weight (ec, &dsq, &sq, LMW_USE_MATRIX, err, sizeof err) == 0) {
    emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
    emu->matmul (ec, dy + C, C, dx, C, &dsq, NULL, 2); /* rows 1 and 2 */
    emu->download (ec, y2, dy, sizeof (float) * n);
    same_product ("layer norm, a product into its rows 1-2, a product", dy, y2, &dw, N);
  }

  emu->layernorm (ec, dy, dx, dg, db, N, C, 1e-5f);
  emu->download (ec, y, dy, sizeof (float) * n);
  emu->layernorm (ec, dz, dx, dg, db, N, C, 1e-5f); /* another output: dy converts again */
  same_product ("two layer norms, a product of the first's output", dy, y, &dw, N);
  free (x);
  free (x2);
  free (g);
  free (bb);
  free (y);
  free (y2);
  emu->free (ec, dx);
  emu->free (ec, dy);
  emu->free (ec, dg);
  emu->free (ec, db);
  emu->free (ec, dz);
}

static void
check_get_rows (void)
{
  int rows = 50, cols = 40, ids[4] = { 0, 49, 7, 7 };
  lmw_weight w, dw;
  make_weight (&w, LMW_TYPE_F16, rows, cols);
  char err[200] = "";
  bool mapped = emu->map_weight (ec, &dw, &w, LMW_USE_MATRIX, err, sizeof err) == 0;
  float *want = malloc (sizeof (float) * 4 * cols), *dout = emu->alloc (ec, sizeof (float) * 4 * cols);
  cpu->get_rows (cc, want, &w, ids, 4);
  if (mapped)
    emu->get_rows (ec, dout, &dw, ids, 4);
  float *got = host (dout, (size_t) 4 * cols);
  report ("get_rows of an f16 embedding (ids 0, 49, 7, 7)", got, want, (size_t) 4 * cols);
  free (want);
  free (got);
  emu->free (ec, dout);
}

static void
check_memory (void)
{
  float *h = randv (300), *back = malloc (sizeof (float) * 300);
  float *a = emu->alloc (ec, sizeof (float) * 300), *b = emu->alloc (ec, sizeof (float) * 300);
  emu->upload (ec, a, h, sizeof (float) * 300);
  emu->copy (ec, b + 10, a + 20, sizeof (float) * 200);
  emu->sync (ec);
  emu->download (ec, back, b + 10, sizeof (float) * 200);
  TEST_OK (a && b && memcmp (back, h + 20, sizeof (float) * 200) == 0 &&
           ((uintptr_t) a & 255) == 0, "upload, copy inside buffers, download: bytes unchanged, "
           "buffers 256-byte aligned");
  emu->free (ec, a);
  emu->free (ec, b);
  free (h);
  free (back);
}

static void
check_status (void)
{
  float *q = emu->alloc (ec, sizeof (float) * 260), *o = emu->alloc (ec, sizeof (float) * 260);
  char msg[256] = "";
  TEST_OK (emu->status (ec, msg, sizeof msg) == 0, "no failure so far");
  /* a head of 130 is above what the kernels are built for */
  emu->attention (ec, o, 130, q, 130, q, 130, q, 130, 1, 1, 1, 130, -1);
  emu->gelu (ec, o, 130); /* skipped after a failure */
  int first = emu->status (ec, msg, sizeof msg);
  TEST_OK (first == -1 && strstr (msg, "attention") != NULL, "a refused launch is reported by "
           "status: %s", msg);
  TEST_OK (emu->status (ec, msg, sizeof msg) == 0, "and only once");
  emu->free (ec, q);
  emu->free (ec, o);
}

/* graph_run's work in check_graphs: buf (4) += one (4), and an upload when `upload` */
typedef struct {
  float *buf, *one;
  bool upload;
} graph_work;

static void
graph_issue (void *user)
{
  graph_work *w = user;
  emu->add (ec, w->buf, w->one, 4);
  if (w->upload) {
    float h[4] = { 0 };
    emu->upload (ec, w->one, h, sizeof h); /* what a recorded step must not do */
  }
}

static void
check_graphs (void)
{
  TEST_OK (emu->version >= 6 && emu->step_embed && emu->step_self_attention &&
             emu->step_cross_attention && emu->graph_run && emu->graph_reset &&
             cpu->step_embed == NULL && cpu->graph_run == NULL,
           "contract version 6: cuda-emu has the table-driven step and graph_run, the CPU "
           "backend neither");
  if (emu->graph_run == NULL)
    return;
  float ones[4] = { 1, 1, 1, 1 }, zeros[4] = { 0 }, got[4];
  graph_work w = { emu->alloc (ec, sizeof ones), emu->alloc (ec, sizeof ones), false };
  emu->upload (ec, w.buf, zeros, sizeof zeros);
  emu->upload (ec, w.one, ones, sizeof ones);
  int how[5];
  for (int i = 0; i < 4; i++)
    how[i] = emu->graph_run (ec, 7, graph_issue, &w);
  how[4] = emu->graph_run (ec, 8, graph_issue, &w);
  emu->download (ec, got, w.buf, sizeof got);
  TEST_OK (how[0] == 0 && how[1] == 1 && how[2] == 2 && how[3] == 2 && how[4] == 0 &&
             got[0] == 5.0f && got[3] == 5.0f,
           "graph_run: a key runs directly, is recorded, then replayed (%d %d %d %d), another "
           "key starts over (%d); every run did the work (%g of 5)", how[0], how[1], how[2],
           how[3], how[4], got[0]);
  emu->graph_reset (ec);
  TEST_OK (emu->graph_run (ec, 7, graph_issue, &w) == 0, "after graph_reset a key runs "
           "directly again");
  /* an upload in the work: the emulated runtime refuses it while capturing, as CUDA does */
  w.upload = true;
  char msg[256] = "";
  int a = emu->graph_run (ec, 9, graph_issue, &w), b = emu->graph_run (ec, 9, graph_issue, &w);
  int st = emu->status (ec, msg, sizeof msg);
  TEST_OK (a == 0 && b == 0 && st == -1 && strstr (msg, "capturing") != NULL,
           "work that uploads is not recorded, and status says why: %s", msg);
  emu->free (ec, w.buf);
  emu->free (ec, w.one);
}

int
main (void)
{
  cpu = lmw_backend_find ("cpu", NULL, 0);
  char why[300] = "";
  emu = lmw_backend_find ("cuda-emu", why, sizeof why);
  if (emu == NULL) {
    printf ("1..0 # SKIP %s\n", why);
    return 0;
  }
  char err[200] = "";
  cc = cpu->create (1, err, sizeof err);
  ec = emu->create (1, err, sizeof err);
  TEST_OK (cc && ec, "cpu and cuda-emu contexts (%s)", ec ? emu->device_name (ec) : err);
  if (!cc || !ec)
    return test_done ();
  check_matmul (LMW_TYPE_F16, 7, 45, 96, true, 0, 0);
  check_matmul (LMW_TYPE_F16, 1, 51, 64, false, 0, 3);
  check_matmul (LMW_TYPE_F32, 9, 33, 40, true, 0, 5);
  check_matmul (LMW_TYPE_Q8_0, 4, 29, 96, true, 0, 0);
  check_matmul (LMW_TYPE_F16, 13, 33, 64, true, LMW_MATMUL_GELU, 2);
  check_matmul (LMW_TYPE_F16, 3, 33, 64, false, LMW_MATMUL_GELU, 0);
  check_matmul (LMW_TYPE_F16, 13, 33, 64, true, LMW_MATMUL_ACCUMULATE, 1);
  check_rows ();
  check_conv (37, 5, 24, 1, true);
  check_conv (37, 24, 20, 2, false);
  check_attention (9, 9, 2, 32, -1);
  check_attention (3, 11, 2, 32, 8);
  check_attention (1, 1500, 3, 64, -1);
  check_contract_v4 ();
  check_ln_copy ();
  check_cross_attention (1, 1500, 6, 64, 384);
  check_cross_attention (5, 1500, 6, 64, 384);
  check_cross_attention (19, 37, 2, 32, 72);
  check_get_rows ();
  check_memory ();
  check_status ();
  check_graphs ();
  cpu->destroy (cc);
  emu->destroy (ec);
  for (int i = 0; i < n_kept; i++)
    free (kept[i]);
  return test_done ();
}
