/* SPDX-License-Identifier: MIT */
/*
 * lmw-test-random.h — the seeded random data of the whisper and CUDA kernel tests (plain C):
 *   - rand_u64 (): xorshift64, its whole state; the seed is LMW_TEST_SEED (defined before the
 *     include to change it, or lmw_test_rs set); frand (): its top 24 bits as a float in
 *     [-1, 1); rand_floats (): n of them times a scale;
 *   - frand_lcg (): a 32-bit linear congruential generator, 16 bits, in [-1, 1); the seed is
 *     LMW_TEST_LCG_SEED;
 *   - round_f16 (): values rounded through IEEE binary16, in place.
 * Each test keeps its own seed, so its data (and the tolerances set on them) stay the same.
 */
#ifndef LMW_TEST_RANDOM_H
#define LMW_TEST_RANDOM_H

#include <stdint.h>
#include <stdlib.h>

#include "lmw-backend.h"

#ifndef LMW_TEST_SEED
#define LMW_TEST_SEED 0x2545f4914f6cdd1dull
#endif
#ifndef LMW_TEST_LCG_SEED
#define LMW_TEST_LCG_SEED 12345u
#endif

static uint64_t lmw_test_rs = LMW_TEST_SEED;
static uint32_t lmw_test_lcg = LMW_TEST_LCG_SEED;

/* the next state of the xorshift64 generator (never 0 from a seed that is not 0) */
static inline uint64_t
rand_u64 (void)
{
  lmw_test_rs ^= lmw_test_rs << 13;
  lmw_test_rs ^= lmw_test_rs >> 7;
  lmw_test_rs ^= lmw_test_rs << 17;
  return lmw_test_rs;
}

static inline float
frand (void)
{
  return (float) ((rand_u64 () >> 40) / (double) (1ull << 24)) * 2.0f - 1.0f;
}

/* (transfer full: free ()) n values of frand () * scale */
static inline float *
rand_floats (size_t n, float scale)
{
  float *x = malloc (sizeof (float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++)
    x[i] = frand () * scale;
  return x;
}

static inline float
frand_lcg (void)
{
  lmw_test_lcg = lmw_test_lcg * 1664525u + 1013904223u;
  return (float) ((lmw_test_lcg >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* x rounded through f16, in place */
static inline void
round_f16 (float *x, size_t n)
{
  for (size_t i = 0; i < n; i++)
    x[i] = lmw_fp16_to_fp32 (lmw_fp32_to_fp16 (x[i]));
}

#endif
