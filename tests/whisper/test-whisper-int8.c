/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-int8.c — the CPU backend's integer products on block-quantised weights
 * (backends/cpu/lmw-cpu-int8.c), for every integer kernel set this machine can run plus the
 * portable one, on odd shapes: 1 row, rows around the 4-row tile and the 5-row dot-product
 * limit, products split by rows between threads, columns around the 8- and 32-column panels
 * and the 4-panel groups, depths of 1 to 17 blocks; with and without bias, plain or with the
 * fused GELU / accumulate epilogue; weights of random bytes (q8_0 values of -128 included).
 * Up to 5 rows the activations are quantised to int16 (the dot products), from 16 rows to int8
 * (the integer GEMM); in between the f32 path runs.
 *
 * Asserts (TAP), each for every type (q8_0, q4_0, q4_1, q5_0, q5_1) and set:
 *   - against a double-precision model of the documented arithmetic (activations quantised
 *     per block of 32 to round-to-nearest-even (x / d) with d = max |x| / 127 (or 32767), times the
 *     dequantised weights): the worst error of an output divided by the sum of the magnitudes
 *     of its terms <= 1e-5, so the integer sums are exact and only f32 rounding remains;
 *   - against the f32 path (the integer set "off", the reference): relative L2 over every
 *     shape <= 1.5e-2 (measured 0.55-0.85 %: the activations' quantisation error; the value is printed);
 *   - the choice: LMW_INT8=off turns the integer path off, the device name names the set.
 */
#include "lmw-backend.h"
#include "lmw-cpu-int8.h"
#include "lmw-cpu.h"
#include "lmw-test.h"
#define LMW_TEST_SEED 0x9e3779b97f4a7c15ull
#include "lmw-test-random.h"

#include <stdint.h>

/* relative L2 distance from the f32 path allowed: the activations' 8-bit quantisation */
#define F32_L2_MAX 1.5e-2

/* a random (N, K) weight of the quantised `type`: random payload bytes, scales in (0.005, 0.02),
 * minima in (-0.1, 0.1) */
static uint8_t *
make_weight (lmw_weight *w, lmw_type type, int N, int K)
{
  w->type = type;
  w->rows = N;
  w->cols = K;
  w->row_bytes = lmw_type_row_bytes (type, K);
  size_t bb = lmw_type_row_bytes (type, 32);
  uint8_t *data = malloc (w->row_bytes * (size_t) N);
  for (size_t i = 0; i < w->row_bytes * (size_t) N; i++)
    data[i] = (uint8_t) (rand_u64 () >> 56);
  for (int n = 0; n < N; n++)
    for (int b = 0; b < K / 32; b++) {
      uint8_t *blk = data + w->row_bytes * (size_t) n + bb * (size_t) b;
      uint16_t d = lmw_fp32_to_fp16 (0.0125f + 0.0075f * frand ());
      memcpy (blk, &d, 2);
      if (type == LMW_TYPE_Q4_1 || type == LMW_TYPE_Q5_1) {
        uint16_t m = lmw_fp32_to_fp16 (0.1f * frand ());
        memcpy (blk + 2, &m, 2);
      }
    }
  w->data = data;
  return data;
}

/* the documented arithmetic in double: activations quantised per block, weights dequantised */
/* also scale (M, N): the sum of the magnitudes of every term of each output (what its f32
 * rounding error is proportional to) */
static void
model_product (float *C, double *scale, const float *A, const lmw_weight *w, const float *bias,
               int M, unsigned flags, const float *C0)
{
  /* the activations' levels: int16 for the dot products (M <= 5), none on the f32 path
   * (6 .. 15 rows), int8 for the integer GEMM */
  float levels = M <= 5 ? 32767.0f : M < 16 ? 0.0f : 127.0f;
  int K = w->cols, N = w->rows;
  float *deq = malloc (sizeof (float) * (size_t) K);
  double *aq = malloc (sizeof (double) * (size_t) M * K);
  for (int m = 0; m < M; m++)
    for (int b = 0; b < K / 32; b++) {
      const float *x = A + (size_t) m * K + b * 32;
      float amax = 0.0f;
      for (int j = 0; j < 32; j++)
        amax = fmaxf (amax, fabsf (x[j]));
      float d = amax / levels, id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int j = 0; j < 32; j++)
        aq[(size_t) m * K + b * 32 + j] = levels == 0.0f ? x[j] : (double) d * nearbyintf (x[j] * id);
    }
  for (int n = 0; n < N; n++) {
    lmw_dequantize_row (deq, w->type, (const uint8_t *) w->data + (size_t) n * w->row_bytes, 0, K);
    for (int m = 0; m < M; m++) {
      double s = bias ? bias[n] : 0.0, mag = fabs (s);
      for (int k = 0; k < K; k++) {
        s += aq[(size_t) m * K + k] * deq[k];
        mag += fabs (aq[(size_t) m * K + k] * deq[k]);
      }
      if (flags & LMW_MATMUL_ACCUMULATE) {
        s += C0[(size_t) m * N + n];
        mag += fabs (C0[(size_t) m * N + n]);
      } else if (flags & LMW_MATMUL_GELU)
        s = s * 0.5 * (1.0 + erf (s / sqrt (2.0)));
      C[(size_t) m * N + n] = (float) s;
      scale[(size_t) m * N + n] = mag;
    }
  }
  free (deq);
  free (aq);
}

typedef struct {
  const lmw_backend_ops *ops;
  void *ictx; /* integer set under test */
  void *fctx; /* f32 path */
} pair;

/* model: worst |error| / scale against the model; f32: sums of squares of the difference from
 * the f32 path and of that path's values (a relative L2 over many products) */
typedef struct {
  double model, d2, r2;
} errs;

static errs
product_err (pair *p, lmw_type type, int M, int N, int K, bool bias, unsigned flags)
{
  lmw_weight w;
  uint8_t *data = make_weight (&w, type, N, K);
  float *A = malloc (sizeof (float) * (size_t) M * K), *b = malloc (sizeof (float) * (size_t) N);
  for (size_t i = 0; i < (size_t) M * K; i++)
    A[i] = frand () * (i % 97 == 0 ? 8.0f : 1.0f); /* a few outliers, as real activations have */
  for (int i = 0; i < N; i++)
    b[i] = frand ();
  size_t mn = (size_t) M * N;
  float *C0 = malloc (sizeof (float) * mn), *Ci = malloc (sizeof (float) * mn);
  float *Cf = malloc (sizeof (float) * mn), *Cm = malloc (sizeof (float) * mn);
  double *sc = malloc (sizeof (double) * mn);
  for (size_t i = 0; i < mn; i++)
    C0[i] = frand ();
  memcpy (Ci, C0, sizeof (float) * mn);
  memcpy (Cf, C0, sizeof (float) * mn);
  p->ops->matmul_ex (p->ictx, Ci, N, A, K, &w, bias ? b : NULL, M, flags);
  p->ops->matmul_ex (p->fctx, Cf, N, A, K, &w, bias ? b : NULL, M, flags);
  model_product (Cm, sc, A, &w, bias ? b : NULL, M, flags, C0);
  errs e = { 0 };
  for (size_t i = 0; i < mn; i++) {
    double em = fabs ((double) Ci[i] - Cm[i]) / (sc[i] > 0 ? sc[i] : 1.0);
    if (!(em <= e.model))
      e.model = isnan (em) ? INFINITY : em;
    e.d2 += ((double) Ci[i] - Cf[i]) * ((double) Ci[i] - Cf[i]);
    e.r2 += (double) Cf[i] * Cf[i];
  }
  free (data);
  free (A);
  free (b);
  free (C0);
  free (Ci);
  free (Cf);
  free (Cm);
  free (sc);
  return e;
}

static void
run_set (const char *name, int threads)
{
  char msg[160];
  if (!lmw_cpu_int8_force (name)) {
    printf ("ok %d - # SKIP integer set %s: not supported by this CPU\n", ++lmw_test_n, name);
    return;
  }
  pair p = { .ops = lmw_backend_cpu () };
  p.ictx = p.ops->create (threads, msg, sizeof msg);
  lmw_cpu_int8_force ("off");
  p.fctx = p.ops->create (threads, msg, sizeof msg);
  lmw_cpu_int8_force (NULL);
  TEST_OK (p.ictx != NULL && p.fctx != NULL, "[%s, %d threads] contexts created: %s", name,
           threads, p.ictx ? p.ops->device_name (p.ictx) : "-");
  if (p.ictx == NULL || p.fctx == NULL)
    return;
  char want[64];
  snprintf (want, sizeof want, "%s integer", name);
  TEST_OK (strstr (p.ops->device_name (p.ictx), want) != NULL &&
               strstr (p.ops->device_name (p.fctx), "off integer") != NULL,
           "[%s] device names: '%s', '%s'", name, p.ops->device_name (p.ictx),
           p.ops->device_name (p.fctx));

  static const int Ms[] = { 1, 2, 4, 5, 6, 13, 16, 17, 23, 200 };
  static const int Ns[] = { 1, 7, 8, 9, 31, 33, 65, 130, 300 };
  static const int Ks[] = { 32, 64, 96, 288, 544 };
  static const lmw_type types[] = { LMW_TYPE_Q8_0, LMW_TYPE_Q4_0, LMW_TYPE_Q4_1, LMW_TYPE_Q5_0,
                                    LMW_TYPE_Q5_1 };
  static const unsigned fl[] = { 0, LMW_MATMUL_GELU, LMW_MATMUL_ACCUMULATE };
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    double wm = 0, d2 = 0, r2 = 0;
    int cm[3] = { 0 };
    for (size_t i = 0; i < sizeof Ms / sizeof Ms[0]; i++)
      for (size_t j = 0; j < sizeof Ns / sizeof Ns[0]; j++)
        for (size_t k = 0; k < sizeof Ks / sizeof Ks[0]; k++) {
          if ((size_t) Ms[i] * Ns[j] * Ks[k] > 3000000)
            continue;
          errs e = product_err (&p, types[t], Ms[i], Ns[j], Ks[k], (i + j + k) % 2 == 0,
                                fl[(i + 2 * j + k) % 3]);
          if (e.model > wm || isnan (e.model)) {
            wm = isnan (e.model) ? INFINITY : e.model;
            cm[0] = Ms[i], cm[1] = Ns[j], cm[2] = Ks[k];
          }
          d2 += e.d2;
          r2 += e.r2;
        }
    double l2 = r2 > 0 ? sqrt (d2 / r2) : INFINITY;
    TEST_OK (wm <= 1e-5, "[%s, %d threads] %s vs the double model of the integer arithmetic: worst error / sum of |terms| %.3g (M %d N %d K %d)",
             name, threads, lmw_type_name (types[t]), wm, cm[0], cm[1], cm[2]);
    TEST_OK (l2 <= F32_L2_MAX, "[%s, %d threads] %s vs the f32 path, every shape: relative L2 %.3g",
             name, threads, lmw_type_name (types[t]), l2);
  }
  /* a product large enough for the row split and several 4-panel groups of a thread */
  errs big = product_err (&p, LMW_TYPE_Q8_0, 250, 300, 512, true, LMW_MATMUL_GELU);
  double bl2 = sqrt (big.d2 / big.r2);
  TEST_OK (big.model <= 1e-5 && bl2 <= F32_L2_MAX,
           "[%s, %d threads] q8_0 250 x 300 x 512 with GELU: %.3g (model), relative L2 %.3g (f32)",
           name, threads, big.model, bl2);
  p.ops->destroy (p.ictx);
  p.ops->destroy (p.fctx);
}

int
main (void)
{
  static const char *sets[] = { "generic", "avx2", "avxvnni", "avx512vnni" };
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    run_set (sets[i], 1);
    run_set (sets[i], 2);
  }
  TEST_OK (!lmw_cpu_int8_force ("mmx"), "an unknown set name is refused");
  return test_done ();
}
