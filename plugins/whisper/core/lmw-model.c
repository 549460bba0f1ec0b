/* SPDX-License-Identifier: MIT */
/*
 * lmw-model.c — loader of Whisper models in the ggml file format.
 *
 * File layout (little-endian):
 *   u32 magic 0x67676d6c
 *   i32 x 11 hyper-parameters (lmw_hparams order)
 *   i32 n_mel, i32 n_fft, f32 filters[n_mel * n_fft]
 *   i32 n_tokens, then per token: i32 length, bytes
 *   tensors until the end of the file: i32 n_dims, i32 name length, i32 type,
 *     i32 ne[n_dims] (ne[0] varies fastest), name bytes, data
 *
 * Loading is two passes: the first reads and checks every header against the file length and
 * the shapes the hyper-parameters imply, without reading tensor data; only then is the one
 * arena for all weights allocated and filled by the second pass.  A truncated or corrupt file
 * is refused before any large allocation, with a message naming the field and its offset.
 */
#include "lmw-model.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LMW_MAGIC 0x67676d6cu
#define MAX_STATE (LMW_BACKEND_MAX_K / 4) /* the MLP's hidden width, 4 * n_state, is a product's inner dimension */
#define MAX_HEAD_DIM 1024
#define MAX_LAYERS 256
#define MAX_CTX LMW_BACKEND_MAX_KEYS /* attention's longest key sequence */
#define MAX_MELS 512
#define MAX_TOKEN_LEN 1024
#define MAX_NAME_LEN 255
#define ALIGN 64

bool
lmw_special_tokens_from_vocab (lmw_special_tokens *sp, int n_vocab)
{
  if (n_vocab < 51864 || n_vocab > 51866)
    return false;
  memset (sp, 0, sizeof *sp);
  sp->multilingual = n_vocab >= 51865;
  sp->eot = sp->multilingual ? 50257 : 50256;
  sp->sot = sp->eot + 1;
  sp->lang_first = sp->sot + 1;
  sp->timestamp_begin = n_vocab - 1501; /* 1501 timestamps 0.00 .. 30.00 close the vocabulary */
  sp->notimestamps = sp->timestamp_begin - 1;
  sp->nospeech = sp->timestamp_begin - 2;
  sp->prev = sp->timestamp_begin - 3;
  sp->solm = sp->timestamp_begin - 4;
  sp->transcribe = sp->timestamp_begin - 5;
  sp->translate = sp->timestamp_begin - 6;
  sp->n_languages = sp->translate - sp->lang_first;
  return true;
}

/* ---- byte source: a caller's buffer or a file read with pread through a small cache ----- */

#define CACHE_SIZE 65536

typedef struct {
  const uint8_t *mem; /* NULL: file */
  int fd;
  uint64_t size;
  uint8_t *cache;     /* owned (file only) */
  uint64_t cache_off;
  size_t cache_len;
} source;

static bool
source_read (source *s, uint64_t off, void *dst, size_t n, lmw_error *err)
{
  if (off > s->size || n > s->size - off) {
    lmw_set_error (err, LMW_ERR_FORMAT, "file truncated: need %zu bytes at offset %llu, file has %llu",
                   n, (unsigned long long) off, (unsigned long long) s->size);
    return false;
  }
  if (s->mem) {
    memcpy (dst, s->mem + off, n);
    return true;
  }
  if (n <= 4096) {
    if (!(off >= s->cache_off && off + n <= s->cache_off + s->cache_len)) {
      size_t want = s->size - off < CACHE_SIZE ? (size_t) (s->size - off) : CACHE_SIZE;
      size_t got = 0;
      while (got < want) {
        ssize_t r = pread (s->fd, s->cache + got, want - got, (off_t) (off + got));
        if (r <= 0) {
          if (r < 0 && errno == EINTR)
            continue;
          lmw_set_error (err, LMW_ERR_IO, "read error at offset %llu: %s",
                         (unsigned long long) (off + got), r < 0 ? strerror (errno) : "end of file");
          s->cache_len = 0;
          return false;
        }
        got += (size_t) r;
      }
      s->cache_off = off;
      s->cache_len = want;
    }
    memcpy (dst, s->cache + (off - s->cache_off), n);
    return true;
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread (s->fd, (uint8_t *) dst + got, n - got, (off_t) (off + got));
    if (r <= 0) {
      if (r < 0 && errno == EINTR)
        continue;
      lmw_set_error (err, LMW_ERR_IO, "read error at offset %llu: %s",
                     (unsigned long long) (off + got), r < 0 ? strerror (errno) : "end of file");
      return false;
    }
    got += (size_t) r;
  }
  return true;
}

static bool
source_i32 (source *s, uint64_t *off, int32_t *v, const char *what, lmw_error *err)
{
  uint8_t b[4];
  if (!source_read (s, *off, b, 4, err)) {
    if (err && err->code == LMW_ERR_FORMAT)
      lmw_set_error (err, LMW_ERR_FORMAT, "file truncated in %s at offset %llu", what,
                     (unsigned long long) *off);
    return false;
  }
  *v = (int32_t) ((uint32_t) b[0] | ((uint32_t) b[1] << 8) | ((uint32_t) b[2] << 16) |
                  ((uint32_t) b[3] << 24));
  *off += 4;
  return true;
}

/* ---- expected tensors --------------------------------------------------------------------- */

typedef enum { KIND_VECTOR, KIND_MATRIX, KIND_CONV } tensor_kind;

typedef struct {
  char name[64];
  tensor_kind kind;
  int n_dims;
  int64_t ne[4];
  lmw_weight *weight;  /* KIND_MATRIX / KIND_CONV destination */
  const float **vec;   /* KIND_VECTOR destination */
  /* filled by the first pass */
  bool found;
  lmw_type type;
  uint64_t data_off;
  size_t file_bytes;
  size_t arena_off;
  size_t arena_bytes;
} tensor_spec;

typedef struct {
  tensor_spec *v;
  int n, cap;
} spec_list;

static tensor_spec *
spec_add (spec_list *l, tensor_kind kind, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
          const char *fmt, ...) __attribute__ ((format (printf, 7, 8)));

static tensor_spec *
spec_add (spec_list *l, tensor_kind kind, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
          const char *fmt, ...)
{
  if (l->n == l->cap)
    return NULL; /* sized exactly by the caller */
  tensor_spec *s = &l->v[l->n++];
  memset (s, 0, sizeof *s);
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (s->name, sizeof s->name, fmt, ap);
  va_end (ap);
  s->kind = kind;
  s->n_dims = n_dims;
  s->ne[0] = ne0;
  s->ne[1] = ne1;
  s->ne[2] = ne2;
  s->ne[3] = 1;
  return s;
}

#define VEC(dst, n, ...)                                                                      \
  do {                                                                                        \
    tensor_spec *s_ = spec_add (&l, KIND_VECTOR, 1, (n), 1, 1, __VA_ARGS__);                  \
    s_->vec = &(dst);                                                                         \
  } while (0)
#define MAT(dst, in, out, ...)                                                                \
  do {                                                                                        \
    tensor_spec *s_ = spec_add (&l, KIND_MATRIX, 2, (in), (out), 1, __VA_ARGS__);             \
    s_->weight = &(dst);                                                                      \
  } while (0)

static void
layer_specs (spec_list *out, lmw_layer *L, const char *prefix, int i, int C, bool cross)
{
  spec_list l = *out;
  MAT (L->attn_q, C, C, "%s.blocks.%d.attn.query.weight", prefix, i);
  VEC (L->attn_q_b, C, "%s.blocks.%d.attn.query.bias", prefix, i);
  MAT (L->attn_k, C, C, "%s.blocks.%d.attn.key.weight", prefix, i);
  MAT (L->attn_v, C, C, "%s.blocks.%d.attn.value.weight", prefix, i);
  VEC (L->attn_v_b, C, "%s.blocks.%d.attn.value.bias", prefix, i);
  MAT (L->attn_o, C, C, "%s.blocks.%d.attn.out.weight", prefix, i);
  VEC (L->attn_o_b, C, "%s.blocks.%d.attn.out.bias", prefix, i);
  VEC (L->attn_ln_w, C, "%s.blocks.%d.attn_ln.weight", prefix, i);
  VEC (L->attn_ln_b, C, "%s.blocks.%d.attn_ln.bias", prefix, i);
  if (cross) {
    MAT (L->cross_q, C, C, "%s.blocks.%d.cross_attn.query.weight", prefix, i);
    VEC (L->cross_q_b, C, "%s.blocks.%d.cross_attn.query.bias", prefix, i);
    MAT (L->cross_k, C, C, "%s.blocks.%d.cross_attn.key.weight", prefix, i);
    MAT (L->cross_v, C, C, "%s.blocks.%d.cross_attn.value.weight", prefix, i);
    VEC (L->cross_v_b, C, "%s.blocks.%d.cross_attn.value.bias", prefix, i);
    MAT (L->cross_o, C, C, "%s.blocks.%d.cross_attn.out.weight", prefix, i);
    VEC (L->cross_o_b, C, "%s.blocks.%d.cross_attn.out.bias", prefix, i);
    VEC (L->cross_ln_w, C, "%s.blocks.%d.cross_attn_ln.weight", prefix, i);
    VEC (L->cross_ln_b, C, "%s.blocks.%d.cross_attn_ln.bias", prefix, i);
  }
  MAT (L->mlp_0, C, 4 * C, "%s.blocks.%d.mlp.0.weight", prefix, i);
  VEC (L->mlp_0_b, 4 * C, "%s.blocks.%d.mlp.0.bias", prefix, i);
  MAT (L->mlp_2, 4 * C, C, "%s.blocks.%d.mlp.2.weight", prefix, i);
  VEC (L->mlp_2_b, C, "%s.blocks.%d.mlp.2.bias", prefix, i);
  VEC (L->mlp_ln_w, C, "%s.blocks.%d.mlp_ln.weight", prefix, i);
  VEC (L->mlp_ln_b, C, "%s.blocks.%d.mlp_ln.bias", prefix, i);
  *out = l;
}

static bool
build_specs (lmw_model *m, spec_list *out)
{
  const lmw_hparams *hp = &m->hp;
  int Ca = hp->n_audio_state, Ct = hp->n_text_state;
  spec_list l = { 0 };
  l.cap = 7 + 15 * hp->n_audio_layer + 6 + 24 * hp->n_text_layer;
  l.v = calloc ((size_t) l.cap, sizeof *l.v);
  if (l.v == NULL)
    return false;
  tensor_spec *s;
  s = spec_add (&l, KIND_VECTOR, 2, Ca, hp->n_audio_ctx, 1, "encoder.positional_embedding");
  s->vec = &m->enc_pos;
  s = spec_add (&l, KIND_CONV, 3, 3, hp->n_mels, Ca, "encoder.conv1.weight");
  s->weight = &m->conv1;
  s = spec_add (&l, KIND_VECTOR, 2, 1, Ca, 1, "encoder.conv1.bias");
  s->vec = &m->conv1_b;
  s = spec_add (&l, KIND_CONV, 3, 3, Ca, Ca, "encoder.conv2.weight");
  s->weight = &m->conv2;
  s = spec_add (&l, KIND_VECTOR, 2, 1, Ca, 1, "encoder.conv2.bias");
  s->vec = &m->conv2_b;
  for (int i = 0; i < hp->n_audio_layer; i++)
    layer_specs (&l, &m->enc[i], "encoder", i, Ca, false);
  VEC (m->enc_ln_w, Ca, "encoder.ln_post.weight");
  VEC (m->enc_ln_b, Ca, "encoder.ln_post.bias");
  s = spec_add (&l, KIND_VECTOR, 2, Ct, hp->n_text_ctx, 1, "decoder.positional_embedding");
  s->vec = &m->dec_pos;
  MAT (m->tok_emb, Ct, hp->n_vocab, "decoder.token_embedding.weight");
  for (int i = 0; i < hp->n_text_layer; i++)
    layer_specs (&l, &m->dec[i], "decoder", i, Ct, true);
  VEC (m->dec_ln_w, Ct, "decoder.ln.weight");
  VEC (m->dec_ln_b, Ct, "decoder.ln.bias");
  *out = l;
  return true;
}

/* The fewest bytes the tensors of build_specs() take in a file: each a header of at least 17
 * bytes (n_dims, name length, type, one dimension, a name of one byte); the vectors and
 * convolutions, which are F32 or F16 only (type_allowed()), two bytes per element; the
 * matrices half a byte per element (the densest type, q4_0, takes 18 bytes per 32). */
static uint64_t
min_tensor_bytes (const lmw_hparams *hp)
{
  uint64_t Ca = (uint64_t) hp->n_audio_state, Ct = (uint64_t) hp->n_text_state;
  uint64_t La = (uint64_t) hp->n_audio_layer, Lt = (uint64_t) hp->n_text_layer;
  uint64_t n_tensors = 7 + 15 * La + 6 + 24 * Lt;
  uint64_t vectors = 0, matrices = 0;

  vectors += Ca * (uint64_t) hp->n_audio_ctx;                  /* encoder.positional_embedding */
  vectors += 3 * (uint64_t) hp->n_mels * Ca + Ca + 3 * Ca * Ca + Ca; /* conv1, conv2, biases */
  vectors += 12 * Ca * La + 2 * Ca;                             /* layers, encoder.ln_post */
  vectors += Ct * (uint64_t) hp->n_text_ctx;                   /* decoder.positional_embedding */
  vectors += 17 * Ct * Lt + 2 * Ct;                             /* layers (cross attention too), decoder.ln */
  matrices += 12 * Ca * Ca * La;                                /* attention 4 C^2, MLP 8 C^2 */
  matrices += 16 * Ct * Ct * Lt + Ct * (uint64_t) hp->n_vocab; /* cross attention 4 C^2 more */
  return 17 * n_tensors + 2 * vectors + matrices / 2;
}

/* ---- header checks ------------------------------------------------------------------------ */

static bool
check_hparams (const lmw_hparams *hp, lmw_error *err)
{
#define RANGE(field, lo, hi)                                                                  \
  if (hp->field < (lo) || hp->field > (hi)) {                                                 \
    lmw_set_error (err, LMW_ERR_FORMAT, "invalid hyper-parameter " #field " = %d (allowed %d .. %d)", \
                   (int) hp->field, (int) (lo), (int) (hi));                                   \
    return false;                                                                             \
  }
  RANGE (n_vocab, 51864, 51866);
  RANGE (n_audio_ctx, 1, MAX_CTX);
  RANGE (n_audio_state, 1, MAX_STATE);
  RANGE (n_audio_head, 1, MAX_STATE);
  RANGE (n_audio_layer, 1, MAX_LAYERS);
  RANGE (n_text_ctx, 1, MAX_CTX);
  RANGE (n_text_state, 1, MAX_STATE);
  RANGE (n_text_head, 1, MAX_STATE);
  RANGE (n_text_layer, 1, MAX_LAYERS);
  RANGE (n_mels, 1, MAX_MELS);
  RANGE (ftype, 0, 1000000);
#undef RANGE
  if (hp->n_audio_state % hp->n_audio_head != 0 || hp->n_audio_state / hp->n_audio_head > MAX_HEAD_DIM) {
    lmw_set_error (err, LMW_ERR_FORMAT, "n_audio_state %d is not a multiple of n_audio_head %d "
                   "with a head size up to %d", hp->n_audio_state, hp->n_audio_head, MAX_HEAD_DIM);
    return false;
  }
  if (hp->n_text_state % hp->n_text_head != 0 || hp->n_text_state / hp->n_text_head > MAX_HEAD_DIM) {
    lmw_set_error (err, LMW_ERR_FORMAT, "n_text_state %d is not a multiple of n_text_head %d "
                   "with a head size up to %d", hp->n_text_state, hp->n_text_head, MAX_HEAD_DIM);
    return false;
  }
  if (hp->n_audio_state != hp->n_text_state) {
    lmw_set_error (err, LMW_ERR_FORMAT, "n_audio_state %d differs from n_text_state %d",
                   hp->n_audio_state, hp->n_text_state);
    return false;
  }
  return true;
}

static bool
type_allowed (tensor_kind kind, int type)
{
  switch (kind) {
  case KIND_VECTOR:
  case KIND_CONV:
    return type == LMW_TYPE_F32 || type == LMW_TYPE_F16;
  case KIND_MATRIX:
    return lmw_type_name (type) != NULL;
  }
  return false;
}

/* ---- loading ------------------------------------------------------------------------------ */

void
lmw_model_free (lmw_model *m)
{
  if (m == NULL)
    return;
  free (m->mel_filters);
  free (m->vocab_blob);
  free (m->vocab_off);
  free (m->vocab_slots);
  free (m->enc);
  free (m->dec);
  free (m->arena);
  free (m);
}

static bool
read_vocab (lmw_model *m, source *src, uint64_t *off, lmw_error *err)
{
  int32_t n;
  if (!source_i32 (src, off, &n, "vocabulary size", err))
    return false;
  if (n < 0 || n > m->hp.n_vocab) {
    lmw_set_error (err, LMW_ERR_FORMAT, "invalid vocabulary size %d (n_vocab %d)", n, m->hp.n_vocab);
    return false;
  }
  if (n > m->sp.eot) {
    lmw_set_error (err, LMW_ERR_FORMAT, "vocabulary has %d tokens, more than the %d text tokens "
                   "before <|endoftext|>", n, m->sp.eot + 1);
    return false;
  }
  m->n_vocab_file = n;
  m->vocab_off = malloc (sizeof (uint32_t) * ((size_t) n + 1));
  size_t cap = 4096, len = 0;
  m->vocab_blob = malloc (cap);
  if (m->vocab_off == NULL || m->vocab_blob == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the vocabulary");
    return false;
  }
  for (int i = 0; i < n; i++) {
    int32_t tl;
    if (!source_i32 (src, off, &tl, "token length", err))
      return false;
    if (tl < 0 || tl > MAX_TOKEN_LEN) {
      lmw_set_error (err, LMW_ERR_FORMAT, "token %d has invalid length %d at offset %llu", i, tl,
                     (unsigned long long) (*off - 4));
      return false;
    }
    if (len + (size_t) tl > cap) {
      while (len + (size_t) tl > cap)
        cap *= 2;
      char *nb = realloc (m->vocab_blob, cap);
      if (nb == NULL) {
        lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the vocabulary");
        return false;
      }
      m->vocab_blob = nb;
    }
    m->vocab_off[i] = (uint32_t) len;
    if (tl > 0 && !source_read (src, *off, m->vocab_blob + len, (size_t) tl, err)) {
      lmw_set_error (err, LMW_ERR_FORMAT, "file truncated in token %d at offset %llu", i,
                     (unsigned long long) *off);
      return false;
    }
    *off += (uint64_t) tl;
    len += (size_t) tl;
  }
  m->vocab_off[n] = (uint32_t) len;
  return true;
}

/* First pass over the tensor headers: match each to its spec and check its extent. */
static bool
scan_tensors (spec_list *specs, source *src, uint64_t off, lmw_error *err)
{
  int index = 0;
  while (off < src->size) {
    uint64_t hdr = off;
    int32_t n_dims, name_len, type;
    if (!source_i32 (src, &off, &n_dims, "tensor header", err) ||
        !source_i32 (src, &off, &name_len, "tensor header", err) ||
        !source_i32 (src, &off, &type, "tensor header", err))
      return false;
    if (n_dims < 1 || n_dims > 4) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor %d at offset %llu: invalid n_dims %d", index,
                     (unsigned long long) hdr, n_dims);
      return false;
    }
    if (name_len < 1 || name_len > MAX_NAME_LEN) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor %d at offset %llu: invalid name length %d",
                     index, (unsigned long long) hdr, name_len);
      return false;
    }
    if (lmw_type_name (type) == NULL) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor %d at offset %llu: unknown type %d", index,
                     (unsigned long long) hdr, type);
      return false;
    }
    int64_t ne[4] = { 1, 1, 1, 1 };
    for (int d = 0; d < n_dims; d++) {
      int32_t v;
      if (!source_i32 (src, &off, &v, "tensor dimensions", err))
        return false;
      if (v < 1) {
        lmw_set_error (err, LMW_ERR_FORMAT, "tensor %d at offset %llu: invalid dimension %d = %d",
                       index, (unsigned long long) hdr, d, v);
        return false;
      }
      ne[d] = v;
    }
    char name[MAX_NAME_LEN + 1];
    if (!source_read (src, off, name, (size_t) name_len, err))
      return false;
    name[name_len] = '\0';
    off += (uint64_t) name_len;
    if (memchr (name, '\0', (size_t) name_len) != NULL) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor %d at offset %llu: name contains a NUL byte",
                     index, (unsigned long long) hdr);
      return false;
    }
    tensor_spec *s = NULL;
    for (int i = 0; i < specs->n; i++)
      if (strcmp (specs->v[i].name, name) == 0) {
        s = &specs->v[i];
        break;
      }
    if (s == NULL) {
      lmw_set_error (err, LMW_ERR_FORMAT, "unknown tensor '%s' at offset %llu", name,
                     (unsigned long long) hdr);
      return false;
    }
    if (s->found) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor '%s' appears twice", name);
      return false;
    }
    if (n_dims != s->n_dims || ne[0] != s->ne[0] || ne[1] != s->ne[1] || ne[2] != s->ne[2] ||
        ne[3] != s->ne[3]) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld] (%d dims), "
                     "expected [%lld, %lld, %lld] (%d dims)", name, (long long) ne[0],
                     (long long) ne[1], (long long) ne[2], (long long) ne[3], n_dims,
                     (long long) s->ne[0], (long long) s->ne[1], (long long) s->ne[2], s->n_dims);
      return false;
    }
    if (!type_allowed (s->kind, type)) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor '%s' has type %s, not allowed for it", name,
                     lmw_type_name (type));
      return false;
    }
    /* the expected shapes bound every dimension, so these products don't overflow */
    int64_t cols = s->kind == KIND_CONV ? ne[0] * ne[1] : ne[0];
    int64_t rows = s->kind == KIND_CONV ? ne[2] : ne[1] * ne[2] * ne[3];
    size_t row_bytes = lmw_type_row_bytes ((lmw_type) type, cols);
    if (row_bytes == 0) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor '%s': %lld columns can't be stored as %s", name,
                     (long long) cols, lmw_type_name (type));
      return false;
    }
    size_t nbytes = row_bytes * (size_t) rows;
    if (off > src->size || nbytes > src->size - off) {
      lmw_set_error (err, LMW_ERR_FORMAT, "file truncated in the data of tensor '%s' (%zu bytes at "
                     "offset %llu, file has %llu)", name, nbytes, (unsigned long long) off,
                     (unsigned long long) src->size);
      return false;
    }
    s->found = true;
    s->type = (lmw_type) type;
    s->data_off = off;
    s->file_bytes = nbytes;
    if (s->kind == KIND_VECTOR) {
      s->arena_bytes = (size_t) (rows * cols) * sizeof (float);
    } else {
      s->arena_bytes = nbytes;
      s->weight->type = (lmw_type) type;
      s->weight->rows = (int) rows;
      s->weight->cols = (int) cols;
      s->weight->row_bytes = row_bytes;
    }
    off += nbytes;
    index++;
  }
  for (int i = 0; i < specs->n; i++)
    if (!specs->v[i].found) {
      lmw_set_error (err, LMW_ERR_FORMAT, "tensor '%s' is missing (file ends after %d tensors)",
                     specs->v[i].name, index);
      return false;
    }
  return true;
}

static lmw_model *
load (source *src, lmw_error *err)
{
  lmw_model *m = calloc (1, sizeof *m);
  spec_list specs = { 0 };
  if (m == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    return NULL;
  }
  uint64_t off = 0;
  int32_t magic;
  if (!source_i32 (src, &off, &magic, "magic", err))
    goto fail;
  if ((uint32_t) magic != LMW_MAGIC) {
    lmw_set_error (err, LMW_ERR_FORMAT, "bad magic 0x%08x (expected 0x%08x, a ggml model file)",
                   (uint32_t) magic, LMW_MAGIC);
    goto fail;
  }
  int32_t *hpv = &m->hp.n_vocab;
  static const char *const hp_names[11] = {
    "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer", "n_text_ctx",
    "n_text_state", "n_text_head", "n_text_layer", "n_mels", "ftype",
  };
  for (int i = 0; i < 11; i++)
    if (!source_i32 (src, &off, &hpv[i], hp_names[i], err))
      goto fail;
  if (!check_hparams (&m->hp, err))
    goto fail;
  if (!lmw_special_tokens_from_vocab (&m->sp, m->hp.n_vocab)) {
    lmw_set_error (err, LMW_ERR_FORMAT, "unsupported vocabulary size %d", m->hp.n_vocab);
    goto fail;
  }

  /* mel filterbank */
  int32_t n_mel, n_fft;
  if (!source_i32 (src, &off, &n_mel, "filterbank n_mel", err) ||
      !source_i32 (src, &off, &n_fft, "filterbank n_fft", err))
    goto fail;
  if (n_mel != m->hp.n_mels || n_fft != LMW_N_FFT / 2 + 1) {
    lmw_set_error (err, LMW_ERR_FORMAT, "filterbank is %d x %d, expected %d x %d", n_mel, n_fft,
                   m->hp.n_mels, LMW_N_FFT / 2 + 1);
    goto fail;
  }
  m->n_fft_bins = n_fft;
  size_t fb_bytes = (size_t) n_mel * (size_t) n_fft * sizeof (float);
  if (off > src->size || fb_bytes > src->size - off) {
    lmw_set_error (err, LMW_ERR_FORMAT, "file truncated in the mel filterbank at offset %llu",
                   (unsigned long long) off);
    goto fail;
  }
  m->mel_filters = malloc (fb_bytes);
  if (m->mel_filters == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the filterbank");
    goto fail;
  }
  if (!source_read (src, off, m->mel_filters, fb_bytes, err))
    goto fail;
  off += fb_bytes;

  if (!read_vocab (m, src, &off, err))
    goto fail;
  if (!lmw_vocab_index_build (m)) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for the vocabulary index");
    goto fail;
  }

  /* the tensors the hyper-parameters promise must fit in what is left of the file, checked
   * before their list (thousands of names for 256 layers) and the layers are allocated */
  uint64_t need = min_tensor_bytes (&m->hp);
  if (off > src->size || need > src->size - off) {
    lmw_set_error (err, LMW_ERR_FORMAT, "file truncated: the hyper-parameters need at least %llu "
                   "bytes of tensors after offset %llu, the file has %llu",
                   (unsigned long long) need, (unsigned long long) off,
                   (unsigned long long) src->size);
    goto fail;
  }

  /* tensors, pass 1 */
  m->enc = calloc ((size_t) m->hp.n_audio_layer, sizeof *m->enc);
  m->dec = calloc ((size_t) m->hp.n_text_layer, sizeof *m->dec);
  if (m->enc == NULL || m->dec == NULL || !build_specs (m, &specs)) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    goto fail;
  }
  if (!scan_tensors (&specs, src, off, err))
    goto fail;

  /* one arena, pass 2 */
  size_t total = 0;
  for (int i = 0; i < specs.n; i++) {
    specs.v[i].arena_off = total;
    total += (specs.v[i].arena_bytes + ALIGN - 1) / ALIGN * ALIGN;
  }
  m->arena = aligned_alloc (ALIGN, total);
  if (m->arena == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory for %zu bytes of weights", total);
    goto fail;
  }
  m->arena_size = total;
  for (int i = 0; i < specs.n; i++) {
    tensor_spec *s = &specs.v[i];
    uint8_t *dst = (uint8_t *) m->arena + s->arena_off;
    if (s->kind == KIND_VECTOR && s->type == LMW_TYPE_F16) {
      /* convert in place: read the halves into the second half of the f32 space */
      size_t n = s->file_bytes / 2;
      uint8_t *tmp = dst + n * 2;
      if (!source_read (src, s->data_off, tmp, s->file_bytes, err))
        goto fail;
      float *f = (float *) dst;
      for (size_t k = 0; k < n; k++) {
        uint16_t h;
        memcpy (&h, tmp + k * 2, 2);
        f[k] = lmw_fp16_to_fp32 (h);
      }
    } else if (!source_read (src, s->data_off, dst, s->file_bytes, err)) {
      goto fail;
    }
    if (s->kind == KIND_VECTOR)
      *s->vec = (const float *) dst;
    else
      s->weight->data = dst;
  }
  free (specs.v);
  return m;
fail:
  free (specs.v);
  lmw_model_free (m);
  return NULL;
}

lmw_model *
lmw_model_load_buffer (const void *data, size_t size, lmw_error *err)
{
  if (data == NULL && size > 0) {
    lmw_set_error (err, LMW_ERR_ARG, "no buffer");
    return NULL;
  }
  source src = { .mem = data ? data : (const uint8_t *) "", .fd = -1, .size = size };
  return load (&src, err);
}

lmw_model *
lmw_model_load_file (const char *path, lmw_error *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    lmw_set_error (err, LMW_ERR_IO, "can't open %s: %s", path, strerror (errno));
    return NULL;
  }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
    lmw_set_error (err, LMW_ERR_IO, "%s is not a regular file", path);
    close (fd);
    return NULL;
  }
  source src = { .mem = NULL, .fd = fd, .size = (uint64_t) st.st_size };
  src.cache = malloc (CACHE_SIZE);
  if (src.cache == NULL) {
    lmw_set_error (err, LMW_ERR_NOMEM, "out of memory");
    close (fd);
    return NULL;
  }
  lmw_model *m = load (&src, err);
  if (m == NULL && err && err->code != LMW_ERR_NOMEM) {
    char msg[sizeof err->message];
    snprintf (msg, sizeof msg, "%.60s: %.190s", path, err->message);
    memcpy (err->message, msg, sizeof msg);
  }
  free (src.cache);
  close (fd);
  return m;
}

const lmw_hparams *
lmw_model_hparams (const lmw_model *model)
{
  return &model->hp;
}

const lmw_special_tokens *
lmw_model_special (const lmw_model *model)
{
  return &model->sp;
}

size_t
lmw_model_weight_bytes (const lmw_model *model)
{
  return model->arena_size;
}
