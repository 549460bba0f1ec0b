/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-subtitles.c — a strict SRT and WebVTT parser for tests (see the header).
 */
#include "lmd-test-subtitles.h"

#include <stdio.h>
#include <string.h>

static void
clear_cue (gpointer data)
{
  LmdTestCue *cue = data;
  g_free (cue->text);
}

/* "HH:MM:SS,mmm" exactly (@separator ',' or '.') → seconds; FALSE otherwise */
static gboolean
parse_time (const char *s, char separator, double *out)
{
  if (strlen (s) != 12 || s[2] != ':' || s[5] != ':' || s[8] != separator)
    return FALSE;
  for (guint i = 0; i < 12; i++)
    if (i != 2 && i != 5 && i != 8 && !g_ascii_isdigit (s[i]))
      return FALSE;
  {
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    int sec = (s[6] - '0') * 10 + (s[7] - '0');
    int ms = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (m > 59 || sec > 59)
      return FALSE;
    *out = h * 3600.0 + m * 60.0 + sec + ms / 1000.0;
  }
  return TRUE;
}

static gboolean
parse_timing (const char *line, char separator, double *start, double *end)
{
  g_auto (GStrv) parts = g_strsplit (line, " --> ", -1);

  return g_strv_length (parts) == 2 && parse_time (parts[0], separator, start) &&
         parse_time (parts[1], separator, end);
}

#define FAIL(...) \
  do { g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE, __VA_ARGS__); return NULL; } while (0)

GArray *
lmd_test_subtitles_parse (const char *text, gboolean vtt, double duration, GError **error)
{
  g_autoptr (GArray) cues = g_array_new (FALSE, FALSE, sizeof (LmdTestCue));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  /* the element after the last newline; text that does not end with one is cut short */
  guint n = g_strv_length (lines) - 1;
  guint i = 0;
  char separator = vtt ? '.' : ',';

  g_array_set_clear_func (cues, clear_cue);
  if (lines[n][0] != '\0')
    FAIL ("line %u: no newline at the end of the file", n + 1);
  for (guint k = 0; k < n; k++)
    if (strchr (lines[k], '\r') != NULL)
      FAIL ("line %u: a carriage return", k + 1);
  if (vtt)
    {
      if (n < 2 || !g_str_equal (lines[0], "WEBVTT") || lines[1][0] != '\0')
        FAIL ("line 1: a WebVTT file starts with the line WEBVTT and a blank line");
      i = 2;
    }
  while (i < n)
    {
      LmdTestCue cue = { 0 };
      g_autoptr (GString) cue_text = g_string_new (NULL);

      if (lines[i][0] == '\0')
        {
          /* only the end of the file may hold more blank lines */
          for (guint k = i; k < n; k++)
            if (lines[k][0] != '\0')
              FAIL ("line %u: two blank lines between cues", i + 1);
          break;
        }
      if (!vtt)
        {
          g_autofree char *expected = g_strdup_printf ("%u", cues->len + 1);
          if (!g_str_equal (lines[i], expected))
            FAIL ("line %u: cue number \"%s\", expected %s", i + 1, lines[i], expected);
          i++;
        }
      else if (i < n && strstr (lines[i], "-->") == NULL)
        i++; /* a cue identifier */
      if (i >= n || !parse_timing (lines[i], separator, &cue.start, &cue.end))
        FAIL ("line %u: \"%s\" is not \"HH:MM:SS%cmmm --> HH:MM:SS%cmmm\"", i + 1,
              i < n ? lines[i] : "", separator, separator);
      i++;
      while (i < n && lines[i][0] != '\0')
        {
          if (cue_text->len > 0)
            g_string_append_c (cue_text, ' ');
          g_string_append (cue_text, lines[i]);
          i++;
        }
      if (cue_text->len == 0)
        FAIL ("line %u: a cue without text", i + 1);
      if (i >= n)
        FAIL ("line %u: the last cue is not followed by a blank line", i);
      i++; /* the blank line */
      if (!(cue.end > cue.start))
        FAIL ("cue %u: ends (%.3f) at or before its start (%.3f)", cues->len + 1, cue.end, cue.start);
      if (cues->len > 0 && cue.start < g_array_index (cues, LmdTestCue, cues->len - 1).end)
        FAIL ("cue %u: starts at %.3f, before the end of the cue before (%.3f)", cues->len + 1,
              cue.start, g_array_index (cues, LmdTestCue, cues->len - 1).end);
      if (cue.end > duration + 0.001)
        FAIL ("cue %u: ends at %.3f, after the end of the audio (%.3f)", cues->len + 1, cue.end, duration);
      cue.text = g_string_free (g_steal_pointer (&cue_text), FALSE);
      g_array_append_val (cues, cue);
    }
  if (cues->len == 0)
    FAIL ("no cues");
  return g_steal_pointer (&cues);
}

char *
lmd_test_subtitles_join (GArray *cues)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < cues->len; i++)
    {
      if (i > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, g_array_index (cues, LmdTestCue, i).text);
    }
  return g_string_free (out, FALSE);
}
