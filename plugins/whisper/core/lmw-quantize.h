/* SPDX-License-Identifier: MIT */
/*
 * lmw-quantize.h — turns an f16/f32 ggml Whisper model into a block-quantised one.
 */
#ifndef LMW_QUANTIZE_H
#define LMW_QUANTIZE_H

#include "lmw-backend.h"
#include "lmw-context.h"

/* The type named `name` ("q8_0", "q5_0", "q5_1", "q4_0", "q4_1"); false for any other. */
bool lmw_quantize_type_from_name (const char *name, lmw_type *type);

/* ggml's ftype code of a model whose matrices are of `type` (q4_0 2, q4_1 3, q8_0 7, q5_0 8,
 * q5_1 9), plus the quantisation format version 2 times 1000, as the header's ftype holds it. */
int32_t lmw_quantize_ftype (lmw_type type);

/* dst = the row x (n values, a multiple of 32, finite) as blocks of the quantised `type`,
 * lmw_type_row_bytes (type, n) bytes, as the quantize command writes them. */
void lmw_quantize_row (lmw_type type, uint8_t *dst, const float *x, int n);

/* Writes the model file `in_path` to `out_path` with every weight matrix (the 2-D tensors whose
 * name ends in ".weight": attention, MLP and token embedding) quantised to `type` and the rest
 * (vectors, convolution weights, positional embeddings, filterbank, vocabulary) copied
 * unchanged, in the same order and layout; the header's ftype says the new type.  `in_path` is
 * first loaded by the engine's loader, so a truncated or corrupt file is refused with the
 * loader's message, and so is a model whose matrices are already quantised.  The output is
 * written to a temporary file beside out_path and renamed over it once complete.
 * Returns 0, or -1 with err filled (nothing left at out_path). */
int lmw_quantize_file (const char *in_path, const char *out_path, lmw_type type, lmw_error *err);

#endif /* LMW_QUANTIZE_H */
