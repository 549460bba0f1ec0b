/* SPDX-License-Identifier: MIT */
/*
 * lmd-pcm-converter.c — sample decoding (chosen once, a function pointer per encoding) and a
 * windowed-sinc resampler.
 *
 * The resampler evaluates, for output sample n at input time t = n * in_rate / out_rate
 * (kept as an exact rational), sum_k x[k] h(t - k) with h(d) = fc sinc(fc d) w(d / half):
 * a low-pass at fc times the input Nyquist frequency (fc = 0.9 * min(1, out/in), so
 * downsampling never aliases), a Hann window w over 12 lobes on each side.  h is tabulated at
 * KERNEL_PHASES points per input sample (LmdPcmKernel: one table per ratio, shared by every
 * converter of that ratio in the process) and interpolated linearly.  The input
 * history starts with `half` zeros, so the first output sample is input sample 0.
 */
#include "lmd-pcm-converter.h"
#include "lmd-pcm-kernel.h"

#include <math.h>
#include <string.h>

#define KERNEL_PHASES LMD_PCM_KERNEL_PHASES

typedef void (*DecodeFunc) (const guint8 *in, gsize n, float *out);

struct _LmdPcmConverter {
  DecodeFunc decode;
  guint sample_bytes;
  guint8 carry[4];     /* an incomplete sample from the previous push */
  guint carry_len;
  guint64 n_in;        /* input samples decoded */

  guint in_rate;
  guint out_rate;
  gboolean passthrough;
  GArray *history;     /* owned; float input samples, history[0] is input sample origin */
  gint64 origin;
  guint64 n_out;       /* next output sample */
  guint half;          /* kernel half-width in input samples */
  LmdPcmKernel *table; /* owned (a reference); shared with the converters of the same ratio */
  const float *kernel; /* the table's values: h at (d + half) * KERNEL_PHASES */
  GArray *scratch;     /* owned; decoded samples of one push */
};

gboolean
lmd_pcm_encoding_from_string (const char *name, LmdPcmEncoding *out)
{
  static const struct { const char *name; LmdPcmEncoding encoding; } names[] = {
    { "linear16", LMD_PCM_LINEAR16 },
    { "linear32", LMD_PCM_LINEAR32 },
    { "mulaw", LMD_PCM_MULAW },
    { "alaw", LMD_PCM_ALAW },
  };

  for (gsize i = 0; name != NULL && i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (name, names[i].name) == 0)
      {
        *out = names[i].encoding;
        return TRUE;
      }
  return FALSE;
}

guint
lmd_pcm_encoding_sample_bytes (LmdPcmEncoding encoding)
{
  switch (encoding)
    {
    case LMD_PCM_LINEAR16:
      return 2;
    case LMD_PCM_LINEAR32:
      return 4;
    case LMD_PCM_MULAW:
    case LMD_PCM_ALAW:
    default:
      return 1;
    }
}

static void
decode_linear16 (const guint8 *in, gsize n, float *out)
{
  for (gsize i = 0; i < n; i++)
    out[i] = (float) (gint16) (in[2 * i] | (in[2 * i + 1] << 8)) / 32768.0f;
}

static void
decode_linear32 (const guint8 *in, gsize n, float *out)
{
  for (gsize i = 0; i < n; i++)
    {
      guint32 bits = (guint32) in[4 * i] | ((guint32) in[4 * i + 1] << 8) |
                     ((guint32) in[4 * i + 2] << 16) | ((guint32) in[4 * i + 3] << 24);
      float v;
      memcpy (&v, &bits, sizeof v);
      /* NaN and infinities are not audio */
      out[i] = isfinite (v) ? CLAMP (v, -1.0f, 1.0f) : 0.0f;
    }
}

/* G.711 µ-law: the byte is stored inverted; 3 exponent bits, 4 mantissa bits, bias 0x84. */
static void
decode_mulaw (const guint8 *in, gsize n, float *out)
{
  for (gsize i = 0; i < n; i++)
    {
      guint u = (guint) (~in[i]) & 0xff;
      guint exponent = (u >> 4) & 0x07;
      int magnitude = (int) ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
      out[i] = (float) ((u & 0x80) ? -magnitude : magnitude) / 32768.0f;
    }
}

/* G.711 A-law: even bits inverted (0x55); a set sign bit means positive. */
static void
decode_alaw (const guint8 *in, gsize n, float *out)
{
  for (gsize i = 0; i < n; i++)
    {
      guint a = in[i] ^ 0x55;
      guint exponent = (a >> 4) & 0x07;
      guint mantissa = a & 0x0f;
      int magnitude = exponent == 0 ? (int) ((mantissa << 4) + 8)
                                    : (int) (((mantissa << 4) + 0x108) << (exponent - 1));
      out[i] = (float) ((a & 0x80) ? magnitude : -magnitude) / 32768.0f;
    }
}

LmdPcmConverter *
lmd_pcm_converter_new (LmdPcmEncoding encoding, guint in_rate, guint out_rate)
{
  LmdPcmConverter *self;

  g_return_val_if_fail (in_rate > 0 && out_rate > 0, NULL);

  self = g_new0 (LmdPcmConverter, 1);
  switch (encoding)
    {
    case LMD_PCM_LINEAR16:
      self->decode = decode_linear16;
      break;
    case LMD_PCM_LINEAR32:
      self->decode = decode_linear32;
      break;
    case LMD_PCM_MULAW:
      self->decode = decode_mulaw;
      break;
    case LMD_PCM_ALAW:
    default:
      self->decode = decode_alaw;
      break;
    }
  self->sample_bytes = lmd_pcm_encoding_sample_bytes (encoding);
  self->in_rate = in_rate;
  self->out_rate = out_rate;
  self->passthrough = in_rate == out_rate;
  self->scratch = g_array_new (FALSE, FALSE, sizeof (float));
  if (!self->passthrough)
    {
      self->table = lmd_pcm_kernel_get (in_rate, out_rate);
      self->half = lmd_pcm_kernel_get_half (self->table);
      self->kernel = lmd_pcm_kernel_get_values (self->table, NULL);
      self->history = g_array_new (FALSE, TRUE, sizeof (float));
      g_array_set_size (self->history, self->half);
      self->origin = -(gint64) self->half;
    }
  return self;
}

void
lmd_pcm_converter_free (LmdPcmConverter *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->table, lmd_pcm_kernel_unref);
  if (self->history != NULL)
    g_array_unref (self->history);
  g_array_unref (self->scratch);
  g_free (self);
}

static inline float
kernel_at (const LmdPcmConverter *self, double d)
{
  double pos = (d + self->half) * KERNEL_PHASES;
  guint i = (guint) pos;
  float frac = (float) (pos - i);

  return self->kernel[i] + frac * (self->kernel[i + 1] - self->kernel[i]);
}

/* Produces every output sample whose window lies inside the history and before @limit
 * (input samples; G_MAXUINT64 = no limit), then forgets the input no longer needed. */
static void
resample (LmdPcmConverter *self, guint64 limit, GArray *out)
{
  const float *x = (const float *) self->history->data;
  gint64 end = self->origin + (gint64) self->history->len;
  gint64 keep_from;

  for (;;)
    {
      guint64 num = self->n_out * self->in_rate;
      gint64 i0 = (gint64) (num / self->out_rate);
      double frac = (double) (num % self->out_rate) / self->out_rate;
      float acc = 0.0f;

      if (i0 + (gint64) self->half >= end || (guint64) i0 >= limit)
        break;
      for (gint64 k = i0 - self->half + 1; k <= i0 + (gint64) self->half; k++)
        acc += x[k - self->origin] * kernel_at (self, (double) (i0 - k) + frac);
      g_array_append_val (out, acc);
      self->n_out++;
    }
  keep_from = (gint64) ((self->n_out * self->in_rate) / self->out_rate) - self->half + 1;
  if (keep_from > self->origin)
    {
      guint drop = (guint) MIN ((gint64) self->history->len, keep_from - self->origin);
      g_array_remove_range (self->history, 0, drop);
      self->origin += drop;
    }
}

void
lmd_pcm_converter_push (LmdPcmConverter *self, const guint8 *data, gsize len, GArray *out)
{
  gsize n;

  g_return_if_fail (self != NULL);
  g_return_if_fail (out != NULL);

  /* complete a sample split across frames */
  if (self->carry_len > 0)
    {
      gsize take = MIN (len, self->sample_bytes - self->carry_len);
      memcpy (self->carry + self->carry_len, data, take);
      self->carry_len += take;
      data += take;
      len -= take;
      if (self->carry_len < self->sample_bytes)
        return;
      g_array_set_size (self->scratch, 1);
      self->decode (self->carry, 1, (float *) self->scratch->data);
      self->carry_len = 0;
    }
  else
    g_array_set_size (self->scratch, 0);

  n = len / self->sample_bytes;
  if (n > 0)
    {
      guint before = self->scratch->len;
      g_array_set_size (self->scratch, before + n);
      self->decode (data, n, (float *) self->scratch->data + before);
    }
  if (len % self->sample_bytes != 0)
    {
      self->carry_len = len % self->sample_bytes;
      memcpy (self->carry, data + n * self->sample_bytes, self->carry_len);
    }
  self->n_in += self->scratch->len;

  if (self->passthrough)
    g_array_append_vals (out, self->scratch->data, self->scratch->len);
  else
    {
      g_array_append_vals (self->history, self->scratch->data, self->scratch->len);
      resample (self, G_MAXUINT64, out);
    }
}

void
lmd_pcm_converter_drain (LmdPcmConverter *self, GArray *out)
{
  guint before;

  g_return_if_fail (self != NULL);
  if (self->passthrough)
    return;
  before = self->history->len;
  g_array_set_size (self->history, before + 2 * self->half);
  memset ((float *) self->history->data + before, 0, 2 * self->half * sizeof (float));
  resample (self, self->n_in, out);
}

guint64
lmd_pcm_converter_get_input_samples (LmdPcmConverter *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_in;
}
