/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-gemm-twin.c — lmw_host_gemm_ex, the host twin of the cublasGemmEx calls of the CUDA
 * backend, against a naive double-precision loop written from cuBLAS's column-major definition.
 *
 * Asserts (TAP):
 *   - every (op_a, op_b) pair, f16 and f32 operands, f32 and f16 results, alpha and beta not
 *     1 and 0, leading dimensions larger than the rows, on odd sizes: max error relative to
 *     the largest |result| <= 1e-5 (f32 C) or one f16 rounding (f16 C);
 *   - beta == 0 never reads C (a C full of NaN gives finite results);
 *   - the product the backend makes (OP_T, OP_N: out (M, N) row-major = x (M, K) · w (N, K)^T)
 *     equals the row-major definition;
 *   - arguments cuBLAS rejects are rejected: negative sizes, short leading dimensions, mixed
 *     operand types, an f16 C from f32 operands; m = 0 or n = 0 is a no-op.
 */
#include "lmw-cuda-runtime.h"
#include "lmw-test.h"
#include "lmw-test-random.h"

#include <stdint.h>

/* n elements of `type`, values representable in f16 so both types multiply the same numbers */
static void *
random_matrix (lmw_type type, size_t n, float *as_f32)
{
  void *m = malloc ((n ? n : 1) * (type == LMW_TYPE_F16 ? 2 : 4));
  for (size_t i = 0; i < n; i++) {
    uint16_t h = lmw_fp32_to_fp16 (frand_lcg ());
    as_f32[i] = lmw_fp16_to_fp32 (h);
    if (type == LMW_TYPE_F16)
      ((uint16_t *) m)[i] = h;
    else
      ((float *) m)[i] = as_f32[i];
  }
  return m;
}

static void
check (lmw_gemm_op oa, lmw_gemm_op ob, lmw_type in, lmw_type out, int m, int n, int k,
       float alpha, float beta)
{
  int a_rows = oa == LMW_OP_N ? m : k, a_cols = oa == LMW_OP_N ? k : m;
  int b_rows = ob == LMW_OP_N ? k : n, b_cols = ob == LMW_OP_N ? n : k;
  int lda = a_rows + 3, ldb = b_rows + 1, ldc = m + 2;
  size_t na = (size_t) lda * a_cols, nb = (size_t) ldb * b_cols, nc = (size_t) ldc * n;
  float *af = malloc (sizeof (float) * na), *bf = malloc (sizeof (float) * nb);
  float *cf = malloc (sizeof (float) * nc);
  void *A = random_matrix (in, na, af), *B = random_matrix (in, nb, bf);
  void *Cm = random_matrix (out, nc, cf);
  double *want = malloc (sizeof (double) * nc);
  double cmax = 0.0;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      double s = 0.0;
      for (int p = 0; p < k; p++) {
        double a = oa == LMW_OP_N ? af[i + (size_t) p * lda] : af[p + (size_t) i * lda];
        double b = ob == LMW_OP_N ? bf[p + (size_t) j * ldb] : bf[j + (size_t) p * ldb];
        s += a * b;
      }
      double v = alpha * s + beta * cf[i + (size_t) j * ldc];
      want[i + (size_t) j * ldc] = v;
      cmax = fabs (v) > cmax ? fabs (v) : cmax;
    }
  int rc = lmw_host_gemm_ex (oa, ob, m, n, k, alpha, A, in, lda, B, in, ldb, beta, Cm, out, ldc);
  double worst = 0.0;
  bool padding_kept = true;
  for (int j = 0; j < n; j++) {
    for (int i = 0; i < m; i++) {
      size_t at = i + (size_t) j * ldc;
      double got = out == LMW_TYPE_F16 ? lmw_fp16_to_fp32 (((uint16_t *) Cm)[at]) : ((float *) Cm)[at];
      double d = fabs (got - want[at]);
      worst = d > worst ? d : worst;
    }
    for (int i = m; i < ldc; i++) { /* rows past m are not C's */
      size_t at = i + (size_t) j * ldc;
      double got = out == LMW_TYPE_F16 ? lmw_fp16_to_fp32 (((uint16_t *) Cm)[at]) : ((float *) Cm)[at];
      padding_kept &= got == cf[at];
    }
  }
  double tol = out == LMW_TYPE_F16 ? 1.0 / 1024 : 1e-5;
  double rel = cmax > 0 ? worst / cmax : worst;
  TEST_OK (rc == 0 && rel <= tol && padding_kept, "%s%s %s->%s m %d n %d k %d alpha %g beta %g: "
           "max error / max |C| %.3g", oa == LMW_OP_N ? "N" : "T", ob == LMW_OP_N ? "N" : "T",
           lmw_type_name (in), lmw_type_name (out), m, n, k, alpha, beta, rel);
  free (af);
  free (bf);
  free (cf);
  free (A);
  free (B);
  free (Cm);
  free (want);
}

/* the backend's product: out (M, N) row-major = x (M, K) · w (N, K)^T, as gemm (T, N, N, M, K) */
static void
check_backend_product (int M, int N, int K)
{
  float *xf = malloc (sizeof (float) * M * K), *wf = malloc (sizeof (float) * N * K);
  void *x = random_matrix (LMW_TYPE_F16, (size_t) M * K, xf);
  void *w = random_matrix (LMW_TYPE_F16, (size_t) N * K, wf);
  int ldo = N + 5;
  float *out = calloc ((size_t) M * ldo, sizeof (float));
  int rc = lmw_host_gemm_ex (LMW_OP_T, LMW_OP_N, N, M, K, 1.0f, w, LMW_TYPE_F16, K, x,
                             LMW_TYPE_F16, K, 0.0f, out, LMW_TYPE_F32, ldo);
  double worst = 0.0;
  for (int r = 0; r < M; r++)
    for (int c = 0; c < N; c++) {
      double s = 0.0;
      for (int p = 0; p < K; p++)
        s += (double) xf[(size_t) r * K + p] * wf[(size_t) c * K + p];
      double d = fabs (s - out[(size_t) r * ldo + c]);
      worst = d > worst ? d : worst;
    }
  TEST_OK (rc == 0 && worst <= 1e-4, "row-major product x (%d, %d) . w (%d, %d)^T with output "
           "stride %d: max abs error %.3g", M, K, N, K, ldo, worst);
  free (xf);
  free (wf);
  free (x);
  free (w);
  free (out);
}

int
main (void)
{
  lmw_gemm_op ops[2] = { LMW_OP_N, LMW_OP_T };
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) {
      check (ops[a], ops[b], LMW_TYPE_F16, LMW_TYPE_F32, 13, 7, 37, 1.0f, 0.0f);
      check (ops[a], ops[b], LMW_TYPE_F32, LMW_TYPE_F32, 5, 17, 9, 0.5f, 2.0f);
      check (ops[a], ops[b], LMW_TYPE_F16, LMW_TYPE_F16, 33, 3, 65, -1.5f, 1.0f);
    }
  check (LMW_OP_T, LMW_OP_N, LMW_TYPE_F16, LMW_TYPE_F32, 1, 1, 1, 1.0f, 0.0f);
  check (LMW_OP_T, LMW_OP_N, LMW_TYPE_F16, LMW_TYPE_F32, 64, 1, 0, 1.0f, 1.0f); /* k = 0: beta C */
  check_backend_product (3, 29, 40);
  check_backend_product (17, 5, 7);

  /* beta == 0 does not read C */
  float A[6] = { 1, 2, 3, 4, 5, 6 }, B[3] = { 1, 1, 1 }, C[2] = { NAN, NAN };
  int rc = lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, 2, 1, 3, 1.0f, A, LMW_TYPE_F32, 2, B,
                             LMW_TYPE_F32, 3, 0.0f, C, LMW_TYPE_F32, 2);
  TEST_OK (rc == 0 && C[0] == 9.0f && C[1] == 12.0f, "beta 0 ignores a C of NaN: %g %g", C[0],
           C[1]);

  /* what cuBLAS rejects */
  float c1[4] = { 7, 7, 7, 7 };
  uint16_t h[4] = { 0 };
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, -1, 1, 1, 1, A, LMW_TYPE_F32, 1, B, LMW_TYPE_F32,
                             1, 0, c1, LMW_TYPE_F32, 1) != 0, "negative m rejected");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, 2, 1, 3, 1, A, LMW_TYPE_F32, 1, B, LMW_TYPE_F32,
                             3, 0, c1, LMW_TYPE_F32, 2) != 0, "lda < m rejected (OP_N)");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_T, LMW_OP_N, 2, 1, 3, 1, A, LMW_TYPE_F32, 2, B, LMW_TYPE_F32,
                             3, 0, c1, LMW_TYPE_F32, 2) != 0, "lda < k rejected (OP_T)");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_T, 2, 2, 3, 1, A, LMW_TYPE_F32, 2, B, LMW_TYPE_F32,
                             1, 0, c1, LMW_TYPE_F32, 2) != 0, "ldb < n rejected (OP_T)");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, 2, 1, 3, 1, A, LMW_TYPE_F32, 2, B, LMW_TYPE_F32,
                             3, 0, c1, LMW_TYPE_F32, 1) != 0, "ldc < m rejected");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, 2, 1, 3, 1, A, LMW_TYPE_F32, 2, h, LMW_TYPE_F16,
                             3, 0, c1, LMW_TYPE_F32, 2) != 0, "mixed operand types rejected");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, 2, 1, 3, 1, A, LMW_TYPE_F32, 2, B, LMW_TYPE_F32,
                             3, 0, h, LMW_TYPE_F16, 2) != 0, "f16 C from f32 operands rejected");
  TEST_OK (c1[0] == 7 && c1[1] == 7 && c1[2] == 7 && c1[3] == 7, "a rejected call writes nothing");
  TEST_OK (lmw_host_gemm_ex (LMW_OP_N, LMW_OP_N, 0, 3, 3, 1, A, LMW_TYPE_F32, 1, B, LMW_TYPE_F32,
                             3, 0, c1, LMW_TYPE_F32, 1) == 0 && c1[0] == 7, "m = 0 is a no-op");
  return test_done ();
}
