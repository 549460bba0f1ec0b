/* SPDX-License-Identifier: MIT */
/*
 * lmd-histogram.h — a Prometheus histogram with fixed buckets, rendered in the text format.
 * Main context only (no locking).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdHistogram LmdHistogram;

/* @bounds: upper bounds in increasing order (copied); +Inf is implicit. */
LmdHistogram *lmd_histogram_new (const double *bounds, guint n_bounds);
void lmd_histogram_free (LmdHistogram *self);
void lmd_histogram_observe (LmdHistogram *self, double value);
/* Appends "# HELP", "# TYPE" and the _bucket{le=...}, _sum and _count lines of @name. */
void lmd_histogram_render (const LmdHistogram *self, GString *out, const char *name, const char *help);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdHistogram, lmd_histogram_free)

G_END_DECLS
