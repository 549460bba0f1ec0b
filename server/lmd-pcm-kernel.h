/* SPDX-License-Identifier: MIT */
/*
 * lmd-pcm-kernel.h — the windowed-sinc table of one resampling ratio (in_rate → out_rate),
 * read by every LmdPcmConverter of that ratio.
 *
 * The table holds h(d) = fc sinc(fc d) w(d / half) at KERNEL_PHASES points per input sample
 * over [-half, half] (see lmd-pcm-converter.c): for 48 kHz → 16 kHz that is 10,242 values,
 * each a sine and a cosine, which a stream paid when it opened.  lmd_pcm_kernel_get() keeps
 * the tables of the first LMD_PCM_KERNEL_CACHE_MAX ratios asked for, process-wide: a table is
 * immutable once made, so any number of converters on any threads read one copy.  A ratio
 * past the bound gets a table of its own (what every converter had before), so a client that
 * cycles through sample rates cannot grow the cache.  The cache is emptied at exit (tables
 * still referenced by a converter live until it is freed).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Tables kept process-wide: the rates a deployment sees are a handful (8, 16, 44.1, 48 kHz
 * and a few more) */
#define LMD_PCM_KERNEL_CACHE_MAX 32
/* Points per input sample at which the kernel is tabulated */
#define LMD_PCM_KERNEL_PHASES 128

typedef struct _LmdPcmKernel LmdPcmKernel;

/* (transfer full) the table for @in_rate → @out_rate (different rates, both > 0): the
 * process-wide one when the cache holds it or has room for it, else a table of its own.
 * Thread-safe. */
LmdPcmKernel *lmd_pcm_kernel_get (guint in_rate, guint out_rate);
/* (transfer full) a table computed now, never cached (for comparison in tests). */
LmdPcmKernel *lmd_pcm_kernel_new (guint in_rate, guint out_rate);

LmdPcmKernel *lmd_pcm_kernel_ref (LmdPcmKernel *self);
void lmd_pcm_kernel_unref (LmdPcmKernel *self);

/* Half-width of the kernel in input samples. */
guint lmd_pcm_kernel_get_half (const LmdPcmKernel *self);
/* (transfer none) the 2 * half * LMD_PCM_KERNEL_PHASES + 2 values, h at
 * (d + half) * LMD_PCM_KERNEL_PHASES; valid while @self is. */
const float *lmd_pcm_kernel_get_values (const LmdPcmKernel *self, gsize *n_values);
/* Tables the process-wide cache holds now. */
guint lmd_pcm_kernel_cache_size (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdPcmKernel, lmd_pcm_kernel_unref)

G_END_DECLS
