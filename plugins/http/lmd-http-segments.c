/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-segments.c — a transcript's segments for srt, vtt and verbose_json (see the header).
 */
#include "lmd-http-segments.h"

#include <math.h>
#include <string.h>
#include <zlib.h>

#include "lmd-json-writer.h"

/* mel frames (10 ms) of one 30-second decoding window, the unit of OpenAI's seek */
#define WINDOW_FRAMES 3000

double
lmd_http_compression_ratio (const char *text)
{
  gsize len = strlen (text);
  uLongf packed_len = compressBound ((uLong) len);
  g_autofree Bytef *packed = g_malloc (packed_len);

  if (len == 0 || compress (packed, &packed_len, (const Bytef *) text, (uLong) len) != Z_OK || packed_len == 0)
    return 1.0;
  return (double) len / (double) packed_len;
}

static void
append_derived (GArray *segments, const LmdTranscript *t, guint first, guint last)
{
  GString *text = g_string_new (NULL);
  double logprob = 0.0;
  LmdSegment segment;

  for (guint i = first; i <= last; i++)
    {
      const LmdWord *w = &g_array_index (t->words, LmdWord, i);
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, w->word);
      logprob += log (MAX (w->confidence, 1e-6));
    }
  lmd_segment_init (&segment, g_array_index (t->words, LmdWord, first).start,
                    g_array_index (t->words, LmdWord, last).end, text->str);
  segment.seek = (gint64) floor (segment.start / 30.0) * WINDOW_FRAMES;
  segment.avg_logprob = logprob / (last - first + 1);
  segment.compression_ratio = lmd_http_compression_ratio (text->str);
  g_string_free (text, TRUE);
  g_array_append_val (segments, segment);
}

GArray *
lmd_http_segments_for (const LmdTranscript *transcript)
{
  GArray *segments = lmd_segment_array_new ();
  guint first = 0;

  if (transcript->segments != NULL && transcript->segments->len > 0)
    {
      double floor_at = 0.0;
      for (guint i = 0; i < transcript->segments->len; i++)
        {
          LmdSegment copy;
          lmd_segment_copy (&copy, &g_array_index (transcript->segments, LmdSegment, i));
          /* ordered, not overlapping, inside the audio, whatever the engine's times */
          copy.start = CLAMP (copy.start, floor_at, MAX (transcript->duration, floor_at));
          copy.end = CLAMP (copy.end, copy.start, MAX (transcript->duration, copy.start));
          floor_at = copy.end;
          g_array_append_val (segments, copy);
        }
      return segments;
    }
  for (guint i = 1; i <= transcript->words->len; i++)
    {
      gboolean cut = i == transcript->words->len;
      if (!cut)
        {
          const LmdWord *w = &g_array_index (transcript->words, LmdWord, i);
          const LmdWord *prev = &g_array_index (transcript->words, LmdWord, i - 1);
          cut = w->start - prev->end >= LMD_HTTP_SEGMENT_PAUSE_S || i - first >= LMD_HTTP_SEGMENT_MAX_WORDS;
        }
      if (cut)
        {
          append_derived (segments, transcript, first, i - 1);
          first = i;
        }
    }
  return segments;
}

static void
append_timestamp (GString *out, double t, char decimal_mark)
{
  gint64 ms = (gint64) llround (MAX (t, 0.0) * 1000.0);

  g_string_append_printf (out, "%02d:%02d:%02d%c%03d", (int) (ms / 3600000), (int) (ms / 60000 % 60),
                          (int) (ms / 1000 % 60), decimal_mark, (int) (ms % 1000));
}

char *
lmd_http_segments_render_subtitles (const LmdTranscript *transcript, gboolean vtt)
{
  g_autoptr (GArray) segments = lmd_http_segments_for (transcript);
  GString *out = g_string_new (vtt ? "WEBVTT\n\n" : "");
  guint n = 0;

  for (guint i = 0; i < segments->len; i++)
    {
      const LmdSegment *s = &g_array_index (segments, LmdSegment, i);

      if (s->text[0] == '\0')
        continue; /* a cue has text */
      if (!vtt)
        g_string_append_printf (out, "%u\n", ++n);
      append_timestamp (out, s->start, vtt ? '.' : ',');
      g_string_append (out, " --> ");
      append_timestamp (out, s->end, vtt ? '.' : ',');
      g_string_append_printf (out, "\n%s\n\n", s->text);
    }
  return g_string_free (out, FALSE);
}

char *
lmd_http_segments_render_verbose_json (const LmdTranscript *transcript, const char *task,
                                       gboolean with_words)
{
  g_autoptr (GArray) segments = lmd_http_segments_for (transcript);
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "task");
  lmd_json_writer_string (w, task);
  lmd_json_writer_key (w, "language");
  lmd_json_writer_string (w, transcript->language);
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, transcript->duration, 3);
  lmd_json_writer_key (w, "text");
  lmd_json_writer_string (w, transcript->text);
  lmd_json_writer_key (w, "segments");
  lmd_json_writer_begin_array (w);
  for (guint i = 0; i < segments->len; i++)
    {
      const LmdSegment *s = &g_array_index (segments, LmdSegment, i);

      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "id");
      lmd_json_writer_int (w, i);
      lmd_json_writer_key (w, "seek");
      lmd_json_writer_int (w, s->seek);
      lmd_json_writer_key (w, "start");
      lmd_json_writer_double (w, s->start, 3);
      lmd_json_writer_key (w, "end");
      lmd_json_writer_double (w, s->end, 3);
      lmd_json_writer_key (w, "text");
      lmd_json_writer_string (w, s->text);
      lmd_json_writer_key (w, "tokens");
      lmd_json_writer_begin_array (w);
      for (guint k = 0; k < s->tokens->len; k++)
        lmd_json_writer_int (w, g_array_index (s->tokens, gint32, k));
      lmd_json_writer_end_array (w);
      lmd_json_writer_key (w, "temperature");
      lmd_json_writer_double (w, s->temperature, 2);
      lmd_json_writer_key (w, "avg_logprob");
      lmd_json_writer_double (w, s->avg_logprob, 4);
      lmd_json_writer_key (w, "compression_ratio");
      lmd_json_writer_double (w, s->compression_ratio, 4);
      lmd_json_writer_key (w, "no_speech_prob");
      lmd_json_writer_double (w, s->no_speech_prob, 4);
      lmd_json_writer_end_object (w);
    }
  lmd_json_writer_end_array (w);
  if (with_words)
    lmd_transcript_write_words (transcript, w, 3);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}
