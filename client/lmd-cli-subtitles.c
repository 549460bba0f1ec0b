/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-subtitles.c — SRT and WebVTT cues from stream finals (see the header).
 */
#include "lmd-cli-subtitles.h"

#include <math.h>

static void
clear_cue (gpointer data)
{
  LmdCliCue *cue = data;
  g_free (cue->text);
}

GArray *
lmd_cli_cues_new (void)
{
  GArray *cues = g_array_new (FALSE, FALSE, sizeof (LmdCliCue));

  g_array_set_clear_func (cues, clear_cue);
  return cues;
}

void
lmd_cli_cues_add (GArray *cues, double start, double end, const char *text)
{
  LmdCliCue cue = { start, end, g_strdup (text) };

  if (cues->len > 0)
    {
      const LmdCliCue *last = &g_array_index (cues, LmdCliCue, cues->len - 1);
      if (cue.start < last->end)
        cue.start = last->end;
    }
  if (cue.end < cue.start)
    cue.end = cue.start;
  g_array_append_val (cues, cue);
}

static void
append_timestamp (GString *out, double seconds, char separator)
{
  gint64 ms = (gint64) llround (MAX (seconds, 0.0) * 1000.0);

  g_string_append_printf (out, "%02" G_GINT64_FORMAT ":%02" G_GINT64_FORMAT ":%02" G_GINT64_FORMAT "%c%03" G_GINT64_FORMAT,
                          ms / 3600000, ms / 60000 % 60, ms / 1000 % 60, separator, ms % 1000);
}

char *
lmd_cli_cues_render (GArray *cues, gboolean vtt)
{
  GString *out = g_string_new (vtt ? "WEBVTT\n\n" : "");

  for (guint i = 0; i < cues->len; i++)
    {
      const LmdCliCue *cue = &g_array_index (cues, LmdCliCue, i);
      if (!vtt)
        g_string_append_printf (out, "%u\n", i + 1);
      append_timestamp (out, cue->start, vtt ? '.' : ',');
      g_string_append (out, " --> ");
      append_timestamp (out, cue->end, vtt ? '.' : ',');
      g_string_append_printf (out, "\n%s\n\n", cue->text);
    }
  return g_string_free (out, FALSE);
}
