/* SPDX-License-Identifier: MIT */
#include "lmd-histogram.h"

struct _LmdHistogram {
  double *bounds;   /* owned */
  guint64 *counts;  /* owned: per bucket, not cumulative; one more for +Inf */
  guint n_bounds;
  double sum;
  guint64 count;
};

LmdHistogram *
lmd_histogram_new (const double *bounds, guint n_bounds)
{
  LmdHistogram *self = g_new0 (LmdHistogram, 1);

  self->bounds = g_memdup2 (bounds, sizeof (double) * n_bounds);
  self->counts = g_new0 (guint64, n_bounds + 1);
  self->n_bounds = n_bounds;
  return self;
}

void
lmd_histogram_free (LmdHistogram *self)
{
  if (self == NULL)
    return;
  g_free (self->bounds);
  g_free (self->counts);
  g_free (self);
}

void
lmd_histogram_observe (LmdHistogram *self, double value)
{
  guint i = 0;

  while (i < self->n_bounds && value > self->bounds[i])
    i++;
  self->counts[i]++;
  self->sum += value;
  self->count++;
}

void
lmd_histogram_render (const LmdHistogram *self, GString *out, const char *name, const char *help)
{
  guint64 cumulative = 0;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  for (guint i = 0; i < self->n_bounds; i++)
    {
      cumulative += self->counts[i];
      g_string_append_printf (out, "%s_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n", name,
                              g_ascii_formatd (buf, sizeof buf, "%g", self->bounds[i]), cumulative);
    }
  cumulative += self->counts[self->n_bounds];
  g_string_append_printf (out, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, cumulative);
  g_string_append_printf (out, "%s_sum %s\n%s_count %" G_GUINT64_FORMAT "\n", name,
                          g_ascii_formatd (buf, sizeof buf, "%.6f", self->sum), name, self->count);
}
