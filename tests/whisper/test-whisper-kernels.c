/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-kernels.c — every kernel set this machine can run (AVX2, AVX-512) against the
 * portable C kernels, through the CPU backend, on shapes chosen to hit the edges of the
 * blocking: 1 row, 1 column, rows and columns one short of / one past the register tile
 * (6 x 16 and 6 x 64), depths one past the packed block (256) and not a multiple of the 8x8
 * transposes, products large enough to be split by rows between threads, attention with
 * 1 key, odd key counts, head sizes that are not a multiple of the tile width, causal masks.
 * Attention is also checked against a plain double-precision reference: key counts around the
 * 64-key panels, query counts around the 6-row blocks, one head, unaligned V rows and strides,
 * and scores whose largest values sit far past (or only in) the first panel of keys.
 *
 * Asserts (TAP), relative to the max |value| of the portable result: matmul f32 / f16 / q8_0
 * (q8_0 through the integer products, of the set paired with each f32 set; with and without bias, plain or with the fused GELU / accumulate epilogue) <= 1e-5; attention <= 1e-5 (against the portable kernels and
 * against the reference); gelu, layernorm, softmax on odd
 * lengths <= 1e-5.  A set the machine lacks is reported as skipped.
 */
#include "lmw-backend.h"
#include "lmw-cpu.h"
#include "lmw-test.h"
#include "lmw-test-random.h"

#include <stdint.h>

/* bf16 attention (quantised models) against the plain reference: measured worst (4.9e-3; 0.10
 * with scores of magnitude 40-70, whose bf16 rounding error is about 0.1) plus a margin */
#define BF16_ATTN_LIMIT 1e-2
#define BF16_ATTN_LIMIT_WIDE 0.2

/* a random (N, K) weight of `type` (q8_0: K a multiple of 32) */
static uint8_t *
make_weight (lmw_weight *w, lmw_type type, int N, int K)
{
  w->type = type;
  w->rows = N;
  w->cols = K;
  w->row_bytes = lmw_type_row_bytes (type, K);
  uint8_t *data = malloc (w->row_bytes * (size_t) N);
  for (int n = 0; n < N; n++) {
    uint8_t *row = data + w->row_bytes * (size_t) n;
    if (type == LMW_TYPE_F32) {
      for (int k = 0; k < K; k++) {
        float v = frand ();
        memcpy (row + 4 * k, &v, 4);
      }
    } else if (type == LMW_TYPE_F16) {
      for (int k = 0; k < K; k++) {
        uint16_t h = lmw_fp32_to_fp16 (frand ());
        memcpy (row + 2 * k, &h, 2);
      }
    } else { /* q8_0 */
      for (int b = 0; b < K / 32; b++) {
        uint16_t h = lmw_fp32_to_fp16 (frand () * 0.02f + 0.01f);
        memcpy (row + 34 * b, &h, 2);
        for (int j = 0; j < 32; j++)
          row[34 * b + 2 + j] = (uint8_t) (int8_t) (frand () * 127.0f);
      }
    }
  }
  w->data = data;
  return data;
}

typedef struct {
  const lmw_backend_ops *ops;
  void *fast, *portable; /* contexts created under each kernel set */
} pair;

/* flags: 0 plain matmul, else matmul_ex with those flags (the accumulated output starts equal) */
static double
matmul_err (pair *p, lmw_type type, int M, int N, int K, bool bias, unsigned flags)
{
  lmw_weight w;
  uint8_t *data = make_weight (&w, type, N, K);
  float *A = rand_floats ((size_t) M * K, 1.0f), *b = rand_floats ((size_t) N, 1.0f);
  float *C1 = rand_floats ((size_t) M * N, 1.0f), *C2 = malloc (sizeof (float) * (size_t) M * N);
  memcpy (C2, C1, sizeof (float) * (size_t) M * N);
  if (flags == 0) {
    p->ops->matmul (p->fast, C1, N, A, K, &w, bias ? b : NULL, M);
    p->ops->matmul (p->portable, C2, N, A, K, &w, bias ? b : NULL, M);
  } else {
    p->ops->matmul_ex (p->fast, C1, N, A, K, &w, bias ? b : NULL, M, flags);
    p->ops->matmul_ex (p->portable, C2, N, A, K, &w, bias ? b : NULL, M, flags);
  }
  double e = compare (C1, C2, (size_t) M * N).rel;
  free (data);
  free (A);
  free (b);
  free (C1);
  free (C2);
  return e;
}

static double
attention_err (pair *p, int Tq, int Tk, int H, int D, int past)
{
  int C = H * D;
  float *q = rand_floats ((size_t) Tq * C, 2.0f), *k = rand_floats ((size_t) Tk * C, 2.0f);
  float *v = rand_floats ((size_t) Tk * C, 1.0f);
  float *o1 = malloc (sizeof (float) * (size_t) Tq * C), *o2 = malloc (sizeof (float) * (size_t) Tq * C);
  p->ops->attention (p->fast, o1, C, q, C, k, C, v, C, Tq, Tk, H, D, past);
  p->ops->attention (p->portable, o2, C, q, C, k, C, v, C, Tq, Tk, H, D, past);
  double e = compare (o1, o2, (size_t) Tq * C).rel;
  free (q);
  free (k);
  free (v);
  free (o1);
  free (o2);
  return e;
}

/* attention of the fast set against a plain double-precision reference.  q, k and v rows start
 * `skew` floats past a 64-byte boundary with a row stride of ld = H * D + pad (skew 0, pad a
 * multiple of 16: V read in place; otherwise copied to aligned rows first).  boost > 0
 * multiplies the keys past the first 64 (the first panel) by boost, so the largest scores sit
 * far above those of the first panel (the fast kernel's reference score must move, or the
 * block be computed again); boost < 0 multiplies the first 64 keys by -boost instead (later
 * exponentials underflow). */
static double
attention_ref_err (pair *p, int Tq, int Tk, int H, int D, int past, int skew, int pad, int boost)
{
  int C = H * D, ld = C + pad;
  size_t nq = (size_t) Tq * ld + 16, nk = (size_t) Tk * ld + 16;
  float *qb = aligned_alloc (64, (nq * sizeof (float) + 63) / 64 * 64);
  float *kb = aligned_alloc (64, (nk * sizeof (float) + 63) / 64 * 64);
  float *vb = aligned_alloc (64, (nk * sizeof (float) + 63) / 64 * 64);
  float *q = qb + skew, *k = kb + skew, *v = vb + skew;
  for (size_t i = 0; i < nq - skew; i++)
    q[i] = frand () * 2.0f;
  for (size_t i = 0; i < nk - skew; i++) {
    size_t t = i / (size_t) ld;
    float g = boost > 0 && t >= 64 ? (float) boost : boost < 0 && t < 64 ? (float) -boost : 1.0f;
    k[i] = frand () * 2.0f * g;
    v[i] = frand ();
  }
  float *o = malloc (sizeof (float) * (size_t) Tq * C), *r = malloc (sizeof (float) * (size_t) Tq * C);
  double *sc = malloc (sizeof (double) * (size_t) Tk);
  for (int h = 0; h < H; h++)
    for (int i = 0; i < Tq; i++) {
      int vis = past >= 0 && past + i + 1 < Tk ? past + i + 1 : Tk;
      double max = -INFINITY, sum = 0;
      for (int t = 0; t < vis; t++) {
        double d = 0;
        for (int e = 0; e < D; e++)
          d += (double) q[(size_t) i * ld + h * D + e] * k[(size_t) t * ld + h * D + e];
        sc[t] = d / sqrt ((double) D);
        max = sc[t] > max ? sc[t] : max;
      }
      for (int t = 0; t < vis; t++)
        sum += (sc[t] = exp (sc[t] - max));
      for (int e = 0; e < D; e++) {
        double acc = 0;
        for (int t = 0; t < vis; t++)
          acc += sc[t] / sum * v[(size_t) t * ld + h * D + e];
        r[(size_t) i * C + h * D + e] = (float) acc;
      }
    }
  p->ops->attention (p->fast, o, C, q, ld, k, ld, v, ld, Tq, Tk, H, D, past);
  double e = compare (o, r, (size_t) Tq * C).rel;
  free (qb);
  free (kb);
  free (vb);
  free (o);
  free (r);
  free (sc);
  return e;
}

/* worst relative errors of the attention of p->fast against the reference over the shapes of
 * run_attention_ref: plain shapes in *worst (case *wi), scores far past or only in the first
 * panel in *worst_wide (case *wi_wide); returns the number of wide cases */
static int attention_ref_cases (pair *p, double *worst, int *wi, double *worst_wide, int *wi_wide,
                                size_t *n_cases);

static void
run_attention_ref (pair *p, const char *name, int threads)
{
  double worst, worst_wide;
  int wi, wi_wide;
  size_t n;
  int n_wide = attention_ref_cases (p, &worst, &wi, &worst_wide, &wi_wide, &n);
  TEST_OK (worst <= 1e-5, "[%s, %d threads] attention vs plain reference, %zu shapes (odd sizes, causal, unaligned V): worst rel %.3g (case %d)",
           name, threads, n - (size_t) n_wide, worst, wi);
  /* scores of magnitude 40-70 carry an f32 rounding error of about 1e-5 that the exponential
   * turns into a relative error of the weights (the portable kernels show the same) */
  TEST_OK (worst_wide <= 5e-5, "[%s, %d threads] attention vs plain reference, %d shapes with scores far past or only in the first 64 keys: worst rel %.3g (case %d)",
           name, threads, n_wide, worst_wide, wi_wide);
}

/* a context that has mapped a q8_0 weight computes the attention scores in bf16 where the
 * processor has AVX512-BF16: the same shapes against the reference, bounded at what was
 * measured plus a margin, and not the f32 result (the bf16 path ran) */
static void
run_attention_bf16 (pair *p, const char *name, int threads)
{
  if (lmw_cpu_attn_bf16_get () == NULL) {
    printf ("ok %d - # SKIP [%s] bf16 attention: no AVX512-BF16 on this CPU\n", ++lmw_test_n, name);
    return;
  }
  char msg[128];
  pair b = *p;
  b.fast = p->ops->create (threads, msg, sizeof msg);
  lmw_weight w, mapped;
  uint8_t *data = make_weight (&w, LMW_TYPE_Q8_0, 2, 64);
  w.data = data;
  bool ok = b.fast != NULL && p->ops->map_weight (b.fast, &mapped, &w, LMW_USE_MATRIX, msg, sizeof msg) == 0;
  TEST_OK (ok, "[%s, %d threads] context with a q8_0 weight mapped", name, threads);
  if (ok) {
    double worst, worst_wide;
    int wi, wi_wide;
    size_t n;
    int n_wide = attention_ref_cases (&b, &worst, &wi, &worst_wide, &wi_wide, &n);
    TEST_OK (worst > 1e-5 && worst <= BF16_ATTN_LIMIT,
             "[%s, %d threads] bf16 attention vs plain reference, %zu shapes: worst rel %.3g (case %d; bound %.3g, above the f32 bound 1e-5)",
             name, threads, n - (size_t) n_wide, worst, wi, BF16_ATTN_LIMIT);
    TEST_OK (worst_wide <= BF16_ATTN_LIMIT_WIDE,
             "[%s, %d threads] bf16 attention vs plain reference, %d shapes with scores far past or only in the first 64 keys: worst rel %.3g (case %d; bound %.3g)",
             name, threads, n_wide, worst_wide, wi_wide, BF16_ATTN_LIMIT_WIDE);
  }
  if (b.fast != NULL)
    p->ops->destroy (b.fast);
  free (data);
}

static int
attention_ref_cases (pair *p, double *worst_out, int *wi_out, double *worst_wide_out, int *wi_wide_out,
                     size_t *n_cases)
{
  /* (Tq, Tk, H, D, causal_past, skew, pad, boost) */
  static const int cases[][8] = {
    /* keys around the 64-key panels, query blocks around the 6-row tile, one head */
    { 5, 1, 1, 64, -1, 0, 0, 0 },       { 6, 63, 1, 64, -1, 0, 0, 0 },
    { 7, 64, 1, 64, -1, 0, 0, 0 },      { 13, 65, 1, 64, -1, 0, 0, 0 },
    { 11, 127, 2, 64, -1, 0, 0, 0 },    { 200, 1500, 1, 64, -1, 0, 0, 0 },
    /* head sizes that are not a multiple of 16, or wider than the 64-column tile */
    { 9, 70, 2, 5, -1, 0, 0, 0 },       { 37, 300, 3, 80, -1, 0, 0, 0 },
    { 8, 129, 1, 130, -1, 0, 0, 0 },    { 6, 40, 2, 16, -1, 0, 0, 0 },
    /* causal: square, with a past, a past longer than one panel */
    { 25, 25, 1, 64, 0, 0, 0, 0 },      { 17, 200, 2, 64, 150, 0, 0, 0 },
    { 70, 70, 3, 64, 0, 0, 0, 0 },      { 9, 140, 1, 24, 100, 0, 0, 0 },
    /* V (and q, k) not on 64-byte boundaries, row strides that are not a multiple of 16 */
    { 13, 100, 2, 64, -1, 1, 0, 0 },    { 13, 100, 2, 64, -1, 0, 3, 0 },
    { 7, 300, 1, 64, 250, 5, 7, 0 },
    /* largest scores far past the first panel of keys (reference moved, block redone), or all
     * in the first panel (later exponentials underflow) */
    { 12, 700, 2, 64, -1, 0, 0, 20 },   { 12, 700, 2, 64, -1, 0, 0, 8 },
    { 7, 300, 1, 64, 280, 0, 0, 20 },   { 12, 700, 2, 64, -1, 0, 0, -20 },
    /* one query (the decoder's per-token path) and up to four */
    { 1, 300, 2, 64, -1, 0, 0, 0 },     { 1, 1, 1, 64, -1, 0, 0, 0 },
    { 4, 33, 1, 64, 29, 0, 0, 0 },      { 1, 500, 1, 64, -1, 0, 0, 20 },
  };
  uint64_t saved = lmw_test_rs; /* the other checks keep their inputs */
  double worst = 0, worst_wide = 0;
  int wi = 0, wi_wide = 0, n_wide = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const int *c = cases[i];
    double e = attention_ref_err (p, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    double *w = c[7] != 0 ? &worst_wide : &worst;
    n_wide += c[7] != 0;
    if (e > *w || isnan (e)) {
      *w = isnan (e) ? INFINITY : e;
      *(c[7] != 0 ? &wi_wide : &wi) = (int) i;
    }
  }
  lmw_test_rs = saved;
  *worst_out = worst;
  *wi_out = wi;
  *worst_wide_out = worst_wide;
  *wi_wide_out = wi_wide;
  *n_cases = sizeof cases / sizeof cases[0];
  return n_wide;
}

static void
run_set (const char *name, int threads)
{
  pair p = { .ops = lmw_backend_cpu () };
  char msg[128];
  if (!lmw_cpu_kernels_force (name)) {
    printf ("ok %d - # SKIP kernel set %s: not supported by this CPU\n", ++lmw_test_n, name);
    return;
  }
  p.fast = p.ops->create (threads, msg, sizeof msg);
  lmw_cpu_kernels_force ("generic");
  p.portable = p.ops->create (threads, msg, sizeof msg);
  lmw_cpu_kernels_force (NULL);
  TEST_OK (p.fast != NULL && p.portable != NULL, "[%s, %d threads] contexts created", name, threads);
  if (p.fast == NULL || p.portable == NULL)
    return;

  static const int Ms[] = { 1, 2, 5, 6, 7, 13, 65, 200 };
  static const int Ns[] = { 1, 15, 16, 17, 63, 64, 65, 130 };
  static const int Ks_f[] = { 1, 7, 8, 37, 257, 520 };
  static const int Ks_q[] = { 32, 96, 288, 544 };
  static const lmw_type types[] = { LMW_TYPE_F32, LMW_TYPE_F16, LMW_TYPE_Q8_0 };
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    bool quant = types[t] == LMW_TYPE_Q8_0;
    const int *Ks = quant ? Ks_q : Ks_f;
    size_t nK = quant ? sizeof Ks_q / sizeof Ks_q[0] : sizeof Ks_f / sizeof Ks_f[0];
    double worst = 0;
    int wm = 0, wn = 0, wk = 0;
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++)
      for (size_t j = 0; j < sizeof Ns / sizeof Ns[0]; j++)
        for (size_t k = 0; k < nK; k++) {
          if (Ms[i] * Ns[j] * Ks[k] > 4000000)
            continue;
          static const unsigned fl[] = { 0, LMW_MATMUL_GELU, LMW_MATMUL_ACCUMULATE };
          double e = matmul_err (&p, types[t], Ms[i], Ns[j], Ks[k], (i + j + k) % 2 == 0,
                                 fl[(i + 2 * j + k) % 3]);
          if (e > worst || isnan (e)) {
            worst = isnan (e) ? INFINITY : e;
            wm = Ms[i];
            wn = Ns[j];
            wk = Ks[k];
          }
        }
    TEST_OK (worst <= 1e-5, "[%s, %d threads] matmul %s vs portable, %zu x %zu x %zu shapes: worst rel %.3g (M %d N %d K %d)",
             name, threads, lmw_type_name (types[t]), sizeof Ms / sizeof Ms[0],
             sizeof Ns / sizeof Ns[0], nK, worst, wm, wn, wk);
  }

  /* (Tq, Tk, H, D, causal_past) */
  static const int att[][5] = {
    { 1, 1, 1, 8, -1 },     { 7, 1, 2, 8, -1 },     { 5, 3, 2, 24, -1 },   { 13, 70, 3, 16, -1 },
    { 70, 70, 3, 16, -1 },  { 64, 129, 2, 64, -1 }, { 37, 300, 4, 80, -1 }, { 25, 25, 2, 32, 0 },
    { 9, 40, 3, 24, 31 },   { 120, 200, 6, 64, -1 }, { 6, 65, 1, 64, 59 },
    /* one to four queries: the per-query path (scores and output kept in registers) */
    { 1, 300, 4, 80, -1 },  { 3, 37, 2, 24, 33 },   { 4, 1500, 2, 64, -1 }, { 2, 17, 3, 5, -1 },
    { 1, 130, 2, 200, -1 },
  };
  double aw = 0;
  int ai = 0;
  for (size_t i = 0; i < sizeof att / sizeof att[0]; i++) {
    double e = attention_err (&p, att[i][0], att[i][1], att[i][2], att[i][3], att[i][4]);
    if (e > aw || isnan (e)) {
      aw = isnan (e) ? INFINITY : e;
      ai = (int) i;
    }
  }
  TEST_OK (aw <= 1e-5, "[%s, %d threads] attention vs portable, %zu shapes: worst rel %.3g (case %d)",
           name, threads, sizeof att / sizeof att[0], aw, ai);
  run_attention_ref (&p, name, threads);
  if (strcmp (name, "avx512") == 0)
    run_attention_bf16 (&p, name, threads);

  /* element-wise and row-wise operations on lengths around the vector widths */
  static const int lens[] = { 1, 7, 8, 15, 16, 17, 33, 383 };
  double ew = 0;
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    int n = lens[i], rows = 3;
    float *x = rand_floats ((size_t) rows * n, 4.0f), *g = rand_floats ((size_t) n, 1.0f);
    float *b = rand_floats ((size_t) n, 1.0f);
    float *y1 = malloc (sizeof (float) * (size_t) rows * n), *y2 = malloc (sizeof (float) * (size_t) rows * n);
    memcpy (y1, x, sizeof (float) * (size_t) rows * n);
    memcpy (y2, x, sizeof (float) * (size_t) rows * n);
    p.ops->gelu (p.fast, y1, (size_t) rows * n);
    p.ops->gelu (p.portable, y2, (size_t) rows * n);
    ew = fmax (ew, compare (y1, y2, (size_t) rows * n).rel);
    memcpy (y1, x, sizeof (float) * (size_t) rows * n);
    memcpy (y2, x, sizeof (float) * (size_t) rows * n);
    p.ops->softmax (p.fast, y1, rows, n);
    p.ops->softmax (p.portable, y2, rows, n);
    ew = fmax (ew, compare (y1, y2, (size_t) rows * n).rel);
    if (n > 1) {
      p.ops->layernorm (p.fast, y1, x, g, b, rows, n, 1e-5f);
      p.ops->layernorm (p.portable, y2, x, g, b, rows, n, 1e-5f);
      ew = fmax (ew, compare (y1, y2, (size_t) rows * n).rel);
    }
    free (x);
    free (g);
    free (b);
    free (y1);
    free (y2);
  }
  TEST_OK (ew <= 1e-5, "[%s, %d threads] gelu / softmax / layernorm vs portable on odd lengths: worst rel %.3g",
           name, threads, ew);
  p.ops->destroy (p.fast);
  p.ops->destroy (p.portable);
}

int
main (void)
{
  run_set ("avx2", 1);
  run_set ("avx2", 2);
  run_set ("avx512", 1);
  run_set ("avx512", 2);
  return test_done ();
}
