/* SPDX-License-Identifier: MIT */
/*
 * lmw-quantize.c — the quantize command's work: an f16/f32 ggml Whisper model rewritten with
 * its weight matrices block-quantised (the layout of lmw-model.c and of other ggml Whisper
 * runtimes; block formats in backends/cpu/lmw-types.c).
 *
 * Each block of 32 values is quantised from the f32 values of the row:
 *   q8_0        d = max |x| / 127, q = round (x / d)
 *   q4_0, q5_0  d = -x_m / 8 (resp. / 16) with x_m the value of largest magnitude, so x_m is
 *               exact; q = clamp (floor (x / d + 8.5), 0, 15) (resp. 16.5, 0 .. 31)
 *   q4_1, q5_1  m = min x, d = (max x - m) / 15 (resp. 31), q = clamp (round ((x - m) / d))
 * d and m are stored as f16, and q is computed with the stored (rounded) values.
 *
 * The input is validated by loading it with the engine's loader first (every header, shape and
 * extent checked, nothing trusted); the rewrite then reads it again in file order, one row of
 * a matrix at a time, so memory stays at one row beyond the loader's pass.
 */
#include "lmw-quantize.h"

#include "lmw-model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QK LMW_QK

bool
lmw_quantize_type_from_name (const char *name, lmw_type *type)
{
  static const lmw_type types[] = { LMW_TYPE_Q8_0, LMW_TYPE_Q5_0, LMW_TYPE_Q5_1, LMW_TYPE_Q4_0,
                                    LMW_TYPE_Q4_1 };
  for (size_t i = 0; name != NULL && i < sizeof types / sizeof types[0]; i++)
    if (strcmp (name, lmw_type_name (types[i])) == 0) {
      *type = types[i];
      return true;
    }
  return false;
}

int32_t
lmw_quantize_ftype (lmw_type type)
{
  int32_t base;
  switch (type) {
  case LMW_TYPE_Q4_0: base = 2; break;
  case LMW_TYPE_Q4_1: base = 3; break;
  case LMW_TYPE_Q8_0: base = 7; break;
  case LMW_TYPE_Q5_0: base = 8; break;
  case LMW_TYPE_Q5_1: base = 9; break;
  default: return -1;
  }
  return 2 * 1000 + base;
}

/* ---- one block ------------------------------------------------------------------------- */

static void
put16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
}

/* the f16 bits of v and, in *r, the value they hold */
static uint16_t
half (float v, float *r)
{
  uint16_t h = lmw_fp32_to_fp16 (v);
  *r = lmw_fp16_to_fp32 (h);
  return h;
}

static int
clampi (int v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* dst = the block of `type` for x (32 finite values) */
static void
quantize_block (lmw_type type, uint8_t *dst, const float *x)
{
  float amax = 0.0f, xm = 0.0f, lo = x[0], hi = x[0];
  for (int j = 0; j < QK; j++) {
    if (fabsf (x[j]) > amax) {
      amax = fabsf (x[j]);
      xm = x[j];
    }
    lo = fminf (lo, x[j]);
    hi = fmaxf (hi, x[j]);
  }
  float d, m, id;
  int q[QK];
  switch (type) {
  case LMW_TYPE_Q8_0:
    put16 (dst, half (amax / 127.0f, &d));
    id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++)
      dst[2 + j] = (uint8_t) (int8_t) clampi ((int) nearbyintf (x[j] * id), -127, 127);
    return;
  case LMW_TYPE_Q4_0:
  case LMW_TYPE_Q5_0: {
    int half_range = type == LMW_TYPE_Q4_0 ? 8 : 16;
    put16 (dst, half (xm / (float) -half_range, &d));
    id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++)
      q[j] = clampi ((int) floorf (x[j] * id + (float) half_range + 0.5f), 0, 2 * half_range - 1);
    break;
  }
  default: { /* q4_1, q5_1 */
    int levels = type == LMW_TYPE_Q4_1 ? 15 : 31;
    put16 (dst, half ((hi - lo) / (float) levels, &d));
    put16 (dst + 2, half (lo, &m));
    id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++)
      q[j] = clampi ((int) nearbyintf ((x[j] - m) * id), 0, levels);
    break;
  }
  }
  /* nibbles after the scale (and minimum), the fifth bits before them for q5 */
  uint8_t *nib;
  if (type == LMW_TYPE_Q5_0 || type == LMW_TYPE_Q5_1) {
    uint32_t qh = 0;
    for (int j = 0; j < QK; j++)
      qh |= (uint32_t) ((q[j] >> 4) & 1) << j;
    uint8_t *p = dst + (type == LMW_TYPE_Q5_0 ? 2 : 4);
    for (int b = 0; b < 4; b++)
      p[b] = (uint8_t) (qh >> (8 * b));
    nib = p + 4;
  } else {
    nib = dst + (type == LMW_TYPE_Q4_0 ? 2 : 4);
  }
  for (int j = 0; j < 16; j++)
    nib[j] = (uint8_t) ((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
}

void
lmw_quantize_row (lmw_type type, uint8_t *dst, const float *x, int n)
{
  size_t bb = lmw_type_row_bytes (type, QK);
  for (int b = 0; b + QK <= n; b += QK)
    quantize_block (type, dst + (size_t) (b / QK) * bb, x + b);
}

/* ---- the file ---------------------------------------------------------------------------- */

typedef struct {
  FILE *in, *out;
  const char *in_path;
  lmw_error *err;
} io;

static bool
copy_bytes (io *f, void *buf, size_t n, const char *what)
{
  if (fread (buf, 1, n, f->in) != n) {
    lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: file truncated in %s", f->in_path, what);
    return false;
  }
  if (f->out != NULL && fwrite (buf, 1, n, f->out) != n) {
    lmw_set_error (f->err, LMW_ERR_IO, "error writing the output: %s", strerror (errno));
    return false;
  }
  return true;
}

static bool
read_i32 (io *f, int32_t *v, bool copy, const char *what)
{
  uint8_t b[4];
  FILE *out = f->out;
  if (!copy)
    f->out = NULL;
  bool ok = copy_bytes (f, b, 4, what);
  f->out = out;
  *v = (int32_t) ((uint32_t) b[0] | ((uint32_t) b[1] << 8) | ((uint32_t) b[2] << 16) |
                  ((uint32_t) b[3] << 24));
  return ok;
}

static bool
write_i32 (io *f, int32_t v)
{
  uint8_t b[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) ((uint32_t) v >> 24) };
  if (fwrite (b, 1, 4, f->out) != 4) {
    lmw_set_error (f->err, LMW_ERR_IO, "error writing the output: %s", strerror (errno));
    return false;
  }
  return true;
}

/* copies n bytes in chunks */
static bool
copy_span (io *f, uint64_t n, const char *what)
{
  uint8_t buf[65536];
  while (n > 0) {
    size_t c = n < sizeof buf ? (size_t) n : sizeof buf;
    if (!copy_bytes (f, buf, c, what))
      return false;
    n -= c;
  }
  return true;
}

static bool
ends_with (const char *s, const char *suffix)
{
  size_t a = strlen (s), b = strlen (suffix);
  return a >= b && strcmp (s + a - b, suffix) == 0;
}

/* one tensor: header and data, the data quantised when it is a weight matrix */
static bool
rewrite_tensor (io *f, lmw_type qtype, int32_t n_dims, int *n_quantised)
{
  int32_t name_len, type, ne[4] = { 1, 1, 1, 1 };
  char name[256];
  if (!read_i32 (f, &name_len, false, "a tensor header") || !read_i32 (f, &type, false, "a tensor header"))
    return false;
  for (int i = 0; i < n_dims; i++)
    if (!read_i32 (f, &ne[i], false, "a tensor header"))
      return false;
  /* the loader accepted these; checked again against a file that changed since */
  if (n_dims < 1 || n_dims > 4 || name_len < 1 || name_len >= (int32_t) sizeof name ||
      lmw_type_name (type) == NULL || ne[0] < 1 || ne[1] < 1 || ne[2] < 1 || ne[3] < 1) {
    lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: invalid tensor header (the file changed while read)",
                   f->in_path);
    return false;
  }
  FILE *out = f->out;
  f->out = NULL;
  bool ok = copy_bytes (f, name, (size_t) name_len, "a tensor name");
  f->out = out;
  if (!ok)
    return false;
  name[name_len] = '\0';
  uint64_t rows = (uint64_t) ne[1] * (uint64_t) ne[2] * (uint64_t) ne[3];
  size_t in_row = lmw_type_row_bytes ((lmw_type) type, ne[0]);
  bool quantise = n_dims == 2 && ends_with (name, ".weight");
  if (quantise && type != LMW_TYPE_F32 && type != LMW_TYPE_F16) {
    lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: tensor '%s' is already %s: the input must be an "
                   "f16 or f32 model", f->in_path, name, lmw_type_name (type));
    return false;
  }
  if (quantise && ne[0] % QK != 0) {
    lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: tensor '%s' has %d columns, not a multiple of %d",
                   f->in_path, name, ne[0], QK);
    return false;
  }
  int32_t out_type = quantise ? (int32_t) qtype : type;
  if (!write_i32 (f, n_dims) || !write_i32 (f, name_len) || !write_i32 (f, out_type))
    return false;
  for (int i = 0; i < n_dims; i++)
    if (!write_i32 (f, ne[i]))
      return false;
  if (fwrite (name, 1, (size_t) name_len, f->out) != (size_t) name_len) {
    lmw_set_error (f->err, LMW_ERR_IO, "error writing the output: %s", strerror (errno));
    return false;
  }
  if (!quantise)
    return copy_span (f, rows * in_row, name);

  size_t out_row = lmw_type_row_bytes (qtype, ne[0]);
  uint8_t *src = malloc (in_row), *dst = malloc (out_row);
  float *x = malloc (sizeof (float) * (size_t) ne[0]);
  ok = src != NULL && dst != NULL && x != NULL;
  if (!ok)
    lmw_set_error (f->err, LMW_ERR_NOMEM, "out of memory");
  f->out = NULL;
  for (uint64_t r = 0; ok && r < rows; r++) {
    if (!(ok = copy_bytes (f, src, in_row, name)))
      break;
    lmw_dequantize_row (x, (lmw_type) type, src, 0, ne[0]);
    for (int k = 0; k < ne[0] && ok; k++)
      if (!isfinite (x[k])) {
        lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: tensor '%s' holds a value that is not finite "
                       "(row %llu, column %d)", f->in_path, name, (unsigned long long) r, k);
        ok = false;
      }
    size_t bb = lmw_type_row_bytes (qtype, QK);
    for (int b = 0; ok && b < ne[0] / QK; b++)
      quantize_block (qtype, dst + (size_t) b * bb, x + b * QK);
    if (ok && fwrite (dst, 1, out_row, out) != out_row) {
      lmw_set_error (f->err, LMW_ERR_IO, "error writing the output: %s", strerror (errno));
      ok = false;
    }
  }
  f->out = out;
  free (src);
  free (dst);
  free (x);
  if (ok)
    (*n_quantised)++;
  return ok;
}

static bool
rewrite (io *f, lmw_type qtype)
{
  uint8_t magic[4];
  if (!copy_bytes (f, magic, 4, "the magic number"))
    return false;
  int32_t hp[11];
  for (int i = 0; i < 11; i++)
    if (!read_i32 (f, &hp[i], false, "the hyper-parameters"))
      return false;
  hp[10] = lmw_quantize_ftype (qtype);
  for (int i = 0; i < 11; i++)
    if (!write_i32 (f, hp[i]))
      return false;
  int32_t n_mel, n_fft, n_tokens;
  if (!read_i32 (f, &n_mel, true, "the filterbank") || !read_i32 (f, &n_fft, true, "the filterbank"))
    return false;
  if (n_mel < 0 || n_fft < 0 || !copy_span (f, (uint64_t) n_mel * (uint64_t) n_fft * 4, "the filterbank"))
    return false;
  if (!read_i32 (f, &n_tokens, true, "the vocabulary") || n_tokens < 0)
    return false;
  for (int32_t i = 0; i < n_tokens; i++) {
    int32_t len;
    if (!read_i32 (f, &len, true, "the vocabulary") || len < 0 || !copy_span (f, (uint64_t) len, "the vocabulary"))
      return false;
  }
  int n_quantised = 0;
  for (;;) {
    int32_t n_dims;
    uint8_t b[4];
    size_t got = fread (b, 1, 4, f->in);
    if (got == 0 && feof (f->in))
      break;
    if (got != 4) {
      lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: file truncated in a tensor header", f->in_path);
      return false;
    }
    n_dims = (int32_t) ((uint32_t) b[0] | ((uint32_t) b[1] << 8) | ((uint32_t) b[2] << 16) |
                        ((uint32_t) b[3] << 24));
    if (!rewrite_tensor (f, qtype, n_dims, &n_quantised))
      return false;
  }
  if (n_quantised == 0) {
    lmw_set_error (f->err, LMW_ERR_FORMAT, "%s: no weight matrix to quantise", f->in_path);
    return false;
  }
  return true;
}

int
lmw_quantize_file (const char *in_path, const char *out_path, lmw_type type, lmw_error *err)
{
  if (lmw_quantize_ftype (type) < 0) {
    lmw_set_error (err, LMW_ERR_ARG, "unknown quantisation type %d (q8_0, q5_0, q5_1, q4_0, q4_1)",
                   (int) type);
    return -1;
  }
  lmw_error lerr = { 0 };
  lmw_model *m = lmw_model_load_file (in_path, &lerr);
  if (m == NULL) {
    lmw_set_error (err, lerr.code, "%s", lerr.message); /* it names the file */
    return -1;
  }
  lmw_model_free (m);

  size_t tl = strlen (out_path) + 16;
  char *tmp = malloc (tl);
  if (tmp == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return -1;
  }
  snprintf (tmp, tl, "%s.tmp-XXXXXX", out_path);
  int fd = mkstemp (tmp);
  if (fd >= 0) { /* the mode of a file created by open (): mkstemp's is 0600 */
    mode_t um = umask (0);
    umask (um);
    (void) fchmod (fd, 0666 & ~um);
  }
  io f = { .in = fopen (in_path, "rb"), .in_path = in_path, .err = err };
  if (fd >= 0)
    f.out = fdopen (fd, "wb");
  if (f.in == NULL || f.out == NULL) {
    lmw_set_error (err, LMW_ERR_IO, "can't %s: %s", f.in == NULL ? "open the input" : "create the output",
                   strerror (errno));
    if (f.in != NULL)
      fclose (f.in);
    if (f.out != NULL)
      fclose (f.out);
    else if (fd >= 0)
      close (fd);
    if (fd >= 0)
      unlink (tmp);
    free (tmp);
    return -1;
  }
  bool ok = rewrite (&f, type);
  fclose (f.in);
  if (fclose (f.out) != 0 && ok) {
    lmw_set_error (err, LMW_ERR_IO, "error writing the output: %s", strerror (errno));
    ok = false;
  }
  if (ok && rename (tmp, out_path) != 0) {
    lmw_set_error (err, LMW_ERR_IO, "can't rename the output to %s: %s", out_path, strerror (errno));
    ok = false;
  }
  if (!ok)
    unlink (tmp);
  free (tmp);
  return ok ? 0 : -1;
}
