/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-progress.c — a one-line progress bar on standard error (see the header).
 */
#include "lmd-cli-progress.h"

#include <stdio.h>

#define BAR_WIDTH 24

struct _LmdCliProgress {
  gboolean enabled;
  gboolean shown;     /* a line is on the terminal */
  char *tick_label;   /* owned; the label lmd_cli_progress_tick() measures from */
  gint64 tick_since;  /* monotonic µs */
  gint64 last_draw;   /* monotonic µs: redraws are limited to 10 per second */
};

LmdCliProgress *
lmd_cli_progress_new (gboolean enabled)
{
  LmdCliProgress *self = g_new0 (LmdCliProgress, 1);

  self->enabled = enabled;
  return self;
}

void
lmd_cli_progress_free (LmdCliProgress *self)
{
  if (self == NULL)
    return;
  lmd_cli_progress_clear (self);
  g_free (self->tick_label);
  g_free (self);
}

static void
format_amount (char *out, gsize size, double value, const char *unit)
{
  if (g_strcmp0 (unit, "bytes") == 0)
    {
      if (value >= 1024.0 * 1024.0)
        g_snprintf (out, size, "%.1f MB", value / (1024.0 * 1024.0));
      else
        g_snprintf (out, size, "%.0f kB", value / 1024.0);
    }
  else
    g_snprintf (out, size, "%.1f %s", value, unit != NULL ? unit : "");
}

static gboolean
throttled (LmdCliProgress *self, gboolean complete)
{
  gint64 now = g_get_monotonic_time ();

  if (!complete && self->shown && now - self->last_draw < G_USEC_PER_SEC / 10)
    return TRUE;
  self->last_draw = now;
  return FALSE;
}

void
lmd_cli_progress_update (LmdCliProgress *self, const char *label, double done, double total,
                         const char *unit)
{
  char done_text[32], total_text[32];

  if (!self->enabled || throttled (self, total > 0 && done >= total))
    return;
  format_amount (done_text, sizeof done_text, done, unit);
  if (total > 0)
    {
      double fraction = CLAMP (done / total, 0.0, 1.0);
      guint filled = (guint) (fraction * BAR_WIDTH);
      char bar[BAR_WIDTH + 1];

      for (guint i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
      bar[BAR_WIDTH] = '\0';
      format_amount (total_text, sizeof total_text, total, unit);
      fprintf (stderr, "\r\033[K%-12s [%s] %3.0f%%  %s / %s", label, bar, fraction * 100.0,
               done_text, total_text);
    }
  else
    fprintf (stderr, "\r\033[K%-12s %s", label, done_text);
  fflush (stderr);
  self->shown = TRUE;
}

void
lmd_cli_progress_tick (LmdCliProgress *self, const char *label)
{
  static const char spinner[] = "|/-\\";
  double elapsed;

  if (!self->enabled)
    return;
  if (g_strcmp0 (self->tick_label, label) != 0)
    {
      g_free (self->tick_label);
      self->tick_label = g_strdup (label);
      self->tick_since = g_get_monotonic_time ();
    }
  if (throttled (self, FALSE))
    return;
  elapsed = (g_get_monotonic_time () - self->tick_since) / (double) G_USEC_PER_SEC;
  fprintf (stderr, "\r\033[K%-12s %c %5.1f s", label, spinner[(int) (elapsed * 5) % 4], elapsed);
  fflush (stderr);
  self->shown = TRUE;
}

void
lmd_cli_progress_clear (LmdCliProgress *self)
{
  if (!self->enabled || !self->shown)
    return;
  fputs ("\r\033[K", stderr);
  fflush (stderr);
  self->shown = FALSE;
}
