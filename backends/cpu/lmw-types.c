/* SPDX-License-Identifier: MIT */
/*
 * lmw-types.c — element types of the ggml file format: sizes, names, f16 conversion and the
 * scalar dequantisation of one row (the reference every vectorised path is compared with).
 *
 * Block layouts (LMW_QK = 32 elements per block, scale d and minimum m stored as f16):
 *   q4_0: d, 16 bytes of nibbles        x = (q - 8) * d
 *   q4_1: d, m, 16 bytes of nibbles     x = q * d + m
 *   q5_0: d, u32 high bits, 16 bytes    x = (q - 16) * d
 *   q5_1: d, m, u32 high bits, 16 bytes x = q * d + m
 *   q8_0: d, 32 int8                    x = q * d
 * In the 4/5-bit types element j < 16 is the low nibble of byte j, element j + 16 the high
 * nibble; bit j of the u32 is the fifth bit of element j.
 */
#include "lmw-backend.h"

#include <math.h>
#include <string.h>

float
lmw_fp16_to_fp32 (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal: renormalise */
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        exp--;
      }
      mant &= 0x3ff;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy (&f, &bits, sizeof f);
  return f;
}

uint16_t
lmw_fp32_to_fp16 (float f)
{
  uint32_t x;
  memcpy (&x, &f, sizeof x);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) /* inf or nan */
    return (uint16_t) (sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
  if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow */
    return (uint16_t) (sign | 0x7c00);
  if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
    if (absx < 0x33000000u)
      return (uint16_t) sign;
    uint32_t e = absx >> 23;
    uint32_t m = (absx & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e; /* 14 + (112 - e) */
    uint32_t half = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      half++;
    return (uint16_t) (sign | half);
  }
  /* normal: round to nearest even on the 13 dropped bits */
  uint32_t h = ((absx >> 13) - ((127 - 15) << 10));
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    h++;
  return (uint16_t) (sign | h);
}

const char *
lmw_type_name (int type)
{
  switch (type) {
  case LMW_TYPE_F32: return "f32";
  case LMW_TYPE_F16: return "f16";
  case LMW_TYPE_Q4_0: return "q4_0";
  case LMW_TYPE_Q4_1: return "q4_1";
  case LMW_TYPE_Q5_0: return "q5_0";
  case LMW_TYPE_Q5_1: return "q5_1";
  case LMW_TYPE_Q8_0: return "q8_0";
  default: return NULL;
  }
}

/* bytes per block of LMW_QK elements; 0 for the unblocked types */
static size_t
block_bytes (lmw_type type)
{
  switch (type) {
  case LMW_TYPE_Q4_0: return 2 + 16;
  case LMW_TYPE_Q4_1: return 2 + 2 + 16;
  case LMW_TYPE_Q5_0: return 2 + 4 + 16;
  case LMW_TYPE_Q5_1: return 2 + 2 + 4 + 16;
  case LMW_TYPE_Q8_0: return 2 + 32;
  default: return 0;
  }
}

size_t
lmw_type_row_bytes (lmw_type type, int64_t cols)
{
  if (cols < 0)
    return 0;
  switch (type) {
  case LMW_TYPE_F32: return (size_t) cols * 4;
  case LMW_TYPE_F16: return (size_t) cols * 2;
  case LMW_TYPE_Q4_0:
  case LMW_TYPE_Q4_1:
  case LMW_TYPE_Q5_0:
  case LMW_TYPE_Q5_1:
  case LMW_TYPE_Q8_0:
    if (cols % LMW_QK != 0)
      return 0;
    return (size_t) (cols / LMW_QK) * block_bytes (type);
  default: return 0;
  }
}

static uint16_t
rd16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static uint32_t
rd32 (const uint8_t *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

void
lmw_dequantize_row (float *dst, lmw_type type, const void *row, int k0, int n)
{
  const uint8_t *src = row;
  switch (type) {
  case LMW_TYPE_F32:
    memcpy (dst, src + (size_t) k0 * 4, (size_t) n * 4);
    return;
  case LMW_TYPE_F16:
    for (int i = 0; i < n; i++)
      dst[i] = lmw_fp16_to_fp32 (rd16 (src + (size_t) (k0 + i) * 2));
    return;
  default:
    break;
  }
  size_t bb = block_bytes (type);
  for (int b = 0; b < n / LMW_QK; b++) {
    const uint8_t *blk = src + (size_t) (k0 / LMW_QK + b) * bb;
    float *y = dst + b * LMW_QK;
    float d = lmw_fp16_to_fp32 (rd16 (blk));
    switch (type) {
    case LMW_TYPE_Q8_0:
      for (int j = 0; j < 32; j++)
        y[j] = (float) (int8_t) blk[2 + j] * d;
      break;
    case LMW_TYPE_Q4_0:
      for (int j = 0; j < 16; j++) {
        y[j] = (float) ((blk[2 + j] & 0x0f) - 8) * d;
        y[j + 16] = (float) ((blk[2 + j] >> 4) - 8) * d;
      }
      break;
    case LMW_TYPE_Q4_1: {
      float m = lmw_fp16_to_fp32 (rd16 (blk + 2));
      for (int j = 0; j < 16; j++) {
        y[j] = (float) (blk[4 + j] & 0x0f) * d + m;
        y[j + 16] = (float) (blk[4 + j] >> 4) * d + m;
      }
      break;
    }
    case LMW_TYPE_Q5_0: {
      uint32_t qh = rd32 (blk + 2);
      for (int j = 0; j < 16; j++) {
        int lo = (blk[6 + j] & 0x0f) | (int) (((qh >> j) & 1) << 4);
        int hi = (blk[6 + j] >> 4) | (int) (((qh >> (j + 16)) & 1) << 4);
        y[j] = (float) (lo - 16) * d;
        y[j + 16] = (float) (hi - 16) * d;
      }
      break;
    }
    case LMW_TYPE_Q5_1: {
      float m = lmw_fp16_to_fp32 (rd16 (blk + 2));
      uint32_t qh = rd32 (blk + 4);
      for (int j = 0; j < 16; j++) {
        int lo = (blk[8 + j] & 0x0f) | (int) (((qh >> j) & 1) << 4);
        int hi = (blk[8 + j] >> 4) | (int) (((qh >> (j + 16)) & 1) << 4);
        y[j] = (float) lo * d + m;
        y[j + 16] = (float) hi * d + m;
      }
      break;
    }
    default:
      memset (y, 0, LMW_QK * sizeof *y);
      break;
    }
  }
}
