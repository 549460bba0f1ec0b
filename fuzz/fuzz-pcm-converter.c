/* SPDX-License-Identifier: MIT */
/*
 * fuzz-pcm-converter.c — the live streams' PCM converter (server/lmd-pcm-converter.c,
 * shared by the WebSocket and Wyoming streams): every encoding, odd frame sizes, resampling
 * from common rates to 16 kHz.  The first byte picks the encoding and the input rate, the
 * second the frame size; the rest is audio.  Every sample out must be finite and in [-1, 1]
 * (with the resampler's overshoot), and the output length must follow the input length.
 * make fuzz gives it -max_len=512: 127 samples of linear32 at the least, more than the widest
 * resampling window (80 input samples, from 48 kHz), so every path is reached while an input
 * costs a millisecond rather than ten.
 */
#include "lmd-pcm-converter.h"

#include <math.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const guint rates[] = { 8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000 };
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr (LmdPcmConverter) converter = NULL;
  LmdPcmEncoding encoding;
  guint in_rate;
  gsize chunk, offset = 0;
  guint64 in_samples;
  double expected;

  if (size < 2)
    return 0;
  encoding = (LmdPcmEncoding) (data[0] & 3);
  in_rate = rates[(data[0] >> 2) % G_N_ELEMENTS (rates)];
  chunk = 1 + data[1];
  data += 2;
  size -= 2;
  converter = lmd_pcm_converter_new (encoding, in_rate, 16000);
  while (offset < size)
    {
      gsize n = MIN (chunk, size - offset);
      lmd_pcm_converter_push (converter, data + offset, n, out);
      offset += n;
    }
  lmd_pcm_converter_drain (converter, out);
  in_samples = lmd_pcm_converter_get_input_samples (converter);
  g_assert_cmpuint (in_samples, ==, size / lmd_pcm_encoding_sample_bytes (encoding));
  expected = (double) in_samples * 16000.0 / in_rate;
  g_assert_cmpfloat (fabs ((double) out->len - expected), <=, 2.0);
  for (guint i = 0; i < out->len; i++)
    {
      float v = g_array_index (out, float, i);
      /* linear32 carries any float the client sends, NaN included: only the others are bounded */
      if (encoding != LMD_PCM_LINEAR32)
        g_assert (isfinite (v) && fabsf (v) <= 2.0f);
    }
  return 0;
}
