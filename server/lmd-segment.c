/* SPDX-License-Identifier: MIT */
/*
 * lmd-segment.c — one decoded segment of a transcript (see the header).
 */
#include "lmd-segment.h"

void
lmd_segment_init (LmdSegment *self, double start, double end, const char *text)
{
  *self = (LmdSegment) { 0 };
  self->start = start;
  self->end = MAX (start, end);
  self->text = g_strdup (text != NULL ? text : "");
  self->tokens = g_array_new (FALSE, FALSE, sizeof (gint32));
}

void
lmd_segment_clear (LmdSegment *self)
{
  g_clear_pointer (&self->text, g_free);
  g_clear_pointer (&self->tokens, g_array_unref);
}

void
lmd_segment_copy (LmdSegment *dest, const LmdSegment *src)
{
  *dest = *src;
  dest->text = g_strdup (src->text);
  dest->tokens = g_array_copy (src->tokens);
}

GArray *
lmd_segment_array_new (void)
{
  GArray *segments = g_array_new (FALSE, FALSE, sizeof (LmdSegment));

  g_array_set_clear_func (segments, (GDestroyNotify) lmd_segment_clear);
  return segments;
}
