/* SPDX-License-Identifier: MIT */
/*
 * lmw-ggml-layout.h — an independent walk over a (valid) ggml model file that records where
 * every field starts, so the loader tests can cut and corrupt files exactly at the boundaries.
 */
#ifndef LMW_GGML_LAYOUT_H
#define LMW_GGML_LAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  size_t hparams;      /* offset of the 11 int32 (after the magic) */
  size_t filters;      /* offset of n_mel, n_fft */
  size_t vocab;        /* offset of the token count */
  size_t *token_off;   /* n_tokens offsets of each token's length field */
  int n_tokens;
  size_t tensors;      /* first tensor header */
  size_t *tensor_hdr;  /* offsets of the headers */
  size_t *tensor_data; /* offsets of the data */
  size_t *tensor_end;  /* end of the data */
  int *tensor_ndims;
  int n_tensors;
  size_t size;
} ggml_layout;

static inline int32_t
layout_i32 (const uint8_t *b, size_t off)
{
  return (int32_t) ((uint32_t) b[off] | (uint32_t) b[off + 1] << 8 | (uint32_t) b[off + 2] << 16 |
                    (uint32_t) b[off + 3] << 24);
}

static inline void
layout_put_i32 (uint8_t *b, size_t off, int32_t v)
{
  uint32_t u = (uint32_t) v;
  b[off] = u & 0xff;
  b[off + 1] = (u >> 8) & 0xff;
  b[off + 2] = (u >> 16) & 0xff;
  b[off + 3] = (u >> 24) & 0xff;
}

static inline size_t
layout_type_bytes (int type, int64_t n)
{
  switch (type) {
  case 0: return (size_t) n * 4;
  case 1: return (size_t) n * 2;
  case 2: return (size_t) n / 32 * 18;
  case 3: return (size_t) n / 32 * 20;
  case 6: return (size_t) n / 32 * 22;
  case 7: return (size_t) n / 32 * 24;
  case 8: return (size_t) n / 32 * 34;
  default: return 0;
  }
}

static inline void
layout_free (ggml_layout *l)
{
  free (l->token_off);
  free (l->tensor_hdr);
  free (l->tensor_data);
  free (l->tensor_end);
  free (l->tensor_ndims);
}

/* 0 on success (the file is assumed valid) */
static inline int
layout_parse (ggml_layout *l, const uint8_t *b, size_t size)
{
  memset (l, 0, sizeof *l);
  l->size = size;
  l->hparams = 4;
  l->filters = 4 + 44;
  int32_t n_mel = layout_i32 (b, l->filters), n_fft = layout_i32 (b, l->filters + 4);
  l->vocab = l->filters + 8 + (size_t) n_mel * n_fft * 4;
  l->n_tokens = layout_i32 (b, l->vocab);
  l->token_off = malloc (sizeof (size_t) * (size_t) l->n_tokens);
  size_t off = l->vocab + 4;
  for (int i = 0; i < l->n_tokens; i++) {
    l->token_off[i] = off;
    off += 4 + (size_t) layout_i32 (b, off);
  }
  l->tensors = off;
  int cap = 1024;
  l->tensor_hdr = malloc (sizeof (size_t) * cap);
  l->tensor_data = malloc (sizeof (size_t) * cap);
  l->tensor_end = malloc (sizeof (size_t) * cap);
  l->tensor_ndims = malloc (sizeof (int) * cap);
  while (off + 12 <= size && l->n_tensors < cap) {
    int nd = layout_i32 (b, off), nl = layout_i32 (b, off + 4), type = layout_i32 (b, off + 8);
    int64_t n = 1;
    for (int d = 0; d < nd; d++)
      n *= layout_i32 (b, off + 12 + 4 * (size_t) d);
    l->tensor_hdr[l->n_tensors] = off;
    l->tensor_ndims[l->n_tensors] = nd;
    off += 12 + 4 * (size_t) nd + (size_t) nl;
    l->tensor_data[l->n_tensors] = off;
    off += layout_type_bytes (type, n);
    l->tensor_end[l->n_tensors] = off;
    l->n_tensors++;
  }
  return off == size ? 0 : -1;
}

#endif /* LMW_GGML_LAYOUT_H */
