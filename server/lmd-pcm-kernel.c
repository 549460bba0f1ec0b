/* SPDX-License-Identifier: MIT */
/*
 * lmd-pcm-kernel.c — windowed-sinc tables, one per resampling ratio, cached process-wide.
 *
 * The cache is a small array under a mutex, looked up on a converter's creation only (never
 * per sample); the tables themselves are read without a lock, being immutable once made.
 */
#include "lmd-pcm-kernel.h"

#include <math.h>
#include <stdlib.h>

#define ZERO_CROSSINGS 12

struct _LmdPcmKernel {
  gatomicrefcount ref;
  guint in_rate;
  guint out_rate;
  guint half;
  gsize n_values;
  float values[];      /* n_values */
};

static GMutex cache_lock;
static LmdPcmKernel *cache[LMD_PCM_KERNEL_CACHE_MAX]; /* owned, under cache_lock */
static guint cache_len;                              /* under cache_lock */

LmdPcmKernel *
lmd_pcm_kernel_new (guint in_rate, guint out_rate)
{
  double fc;
  guint half;
  gsize n;
  LmdPcmKernel *self;

  g_return_val_if_fail (in_rate > 0 && out_rate > 0 && in_rate != out_rate, NULL);

  /* a low-pass at fc times the input Nyquist frequency: downsampling never aliases */
  fc = 0.9 * MIN (1.0, (double) out_rate / in_rate);
  half = (guint) ceil (ZERO_CROSSINGS / fc);
  n = 2 * (gsize) half * LMD_PCM_KERNEL_PHASES + 2;
  self = g_malloc (sizeof *self + n * sizeof (float));
  g_atomic_ref_count_init (&self->ref);
  self->in_rate = in_rate;
  self->out_rate = out_rate;
  self->half = half;
  self->n_values = n;
  for (gsize i = 0; i < n; i++)
    {
      double d = (double) i / LMD_PCM_KERNEL_PHASES - half;
      double u = d / half;
      double x = G_PI * fc * d;
      double sinc = fabs (x) < 1e-9 ? 1.0 : sin (x) / x;
      double window = fabs (u) >= 1.0 ? 0.0 : 0.5 + 0.5 * cos (G_PI * u);
      self->values[i] = (float) (fc * sinc * window);
    }
  return self;
}

LmdPcmKernel *
lmd_pcm_kernel_ref (LmdPcmKernel *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref);
  return self;
}

void
lmd_pcm_kernel_unref (LmdPcmKernel *self)
{
  if (self != NULL && g_atomic_ref_count_dec (&self->ref))
    g_free (self);
}

/* at exit: the cache's references go, so that leak checkers see every table freed */
static void
cache_clear (void)
{
  g_mutex_lock (&cache_lock);
  for (guint i = 0; i < cache_len; i++)
    g_clear_pointer (&cache[i], lmd_pcm_kernel_unref);
  cache_len = 0;
  g_mutex_unlock (&cache_lock);
}

LmdPcmKernel *
lmd_pcm_kernel_get (guint in_rate, guint out_rate)
{
  static gsize exit_hook = 0;
  LmdPcmKernel *kernel = NULL;

  g_return_val_if_fail (in_rate > 0 && out_rate > 0 && in_rate != out_rate, NULL);

  if (g_once_init_enter (&exit_hook))
    {
      atexit (cache_clear);
      g_once_init_leave (&exit_hook, 1);
    }
  g_mutex_lock (&cache_lock);
  for (guint i = 0; i < cache_len && kernel == NULL; i++)
    if (cache[i]->in_rate == in_rate && cache[i]->out_rate == out_rate)
      kernel = lmd_pcm_kernel_ref (cache[i]);
  if (kernel == NULL && cache_len < LMD_PCM_KERNEL_CACHE_MAX)
    {
      /* made under the lock: two streams opening at a new ratio at once make it once
       * (about a millisecond, once per ratio per process) */
      kernel = lmd_pcm_kernel_new (in_rate, out_rate);
      cache[cache_len++] = lmd_pcm_kernel_ref (kernel);
    }
  g_mutex_unlock (&cache_lock);
  if (kernel == NULL)
    kernel = lmd_pcm_kernel_new (in_rate, out_rate); /* the cache is full: a table of its own */
  return kernel;
}

guint
lmd_pcm_kernel_get_half (const LmdPcmKernel *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->half;
}

const float *
lmd_pcm_kernel_get_values (const LmdPcmKernel *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (n_values != NULL)
    *n_values = self->n_values;
  return self->values;
}

guint
lmd_pcm_kernel_cache_size (void)
{
  guint n;

  g_mutex_lock (&cache_lock);
  n = cache_len;
  g_mutex_unlock (&cache_lock);
  return n;
}
