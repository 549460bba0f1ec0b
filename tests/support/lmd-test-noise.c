/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-noise.c — the silence and noise that the voice-activity tests and benchmarks feed.
 */
#include "lmd-test-noise.h"

#include <stdint.h>

void
lmd_test_noise_silence_white_pink (float *x, size_t part)
{
  uint32_t r = 12345;
  double b[7] = { 0 };

  for (size_t i = 0; i < part; i++)
    x[i] = 0.0f;
  for (size_t i = 0; i < 2 * part; i++)
    {
      double w, v;

      r = r * 1664525u + 1013904223u;
      w = ((r >> 8) / 16777216.0) * 2.0 - 1.0; /* uniform, RMS 0.577 */
      if (i < part)
        {
          v = w;
        }
      else
        {
          b[0] = 0.99886 * b[0] + w * 0.0555179;
          b[1] = 0.99332 * b[1] + w * 0.0750759;
          b[2] = 0.96900 * b[2] + w * 0.1538520;
          b[3] = 0.86650 * b[3] + w * 0.3104856;
          b[4] = 0.55000 * b[4] + w * 0.5329522;
          b[5] = -0.7616 * b[5] - w * 0.0168980;
          v = (b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362) * 0.11;
          b[6] = w * 0.115926;
        }
      x[part + i] = (float) (v * 0.1 / 0.577);
    }
}
