/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-openai-dialect.c — the OpenAI-style dialect, POST /v1/audio/transcriptions
 * (docs/api.md): multipart with "file" (the request forms of lmd-http-request-parser.h);
 * a model name the server does not have ("whisper-1") is served by the default model;
 * the answer in response_format json {"text"}, text, srt, vtt or verbose_json
 * {"task","language","duration","text","segments"[,"words"]}.  No callbacks.
 */
#define G_LOG_DOMAIN "lmd-http"

#include <math.h>
#include <string.h>

#include "lmd-http-dialect.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-json-writer.h"

/* Groups words into segments at pauses of 0.5 s or more, or every 30 words. */
typedef struct {
  guint first, last; /* word indices, inclusive */
} Segment;

static GArray *
split_segments (const LmdTranscript *transcript)
{
  GArray *segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  Segment current = { 0, 0 };

  for (guint i = 0; i < transcript->words->len; i++)
    {
      const LmdWord *w = &g_array_index (transcript->words, LmdWord, i);
      if (i > current.first)
        {
          const LmdWord *prev = &g_array_index (transcript->words, LmdWord, i - 1);
          if (w->start - prev->end >= 0.5 || i - current.first >= 30)
            {
              current.last = i - 1;
              g_array_append_val (segments, current);
              current.first = i;
            }
        }
    }
  if (transcript->words->len > 0)
    {
      current.last = transcript->words->len - 1;
      g_array_append_val (segments, current);
    }
  return segments;
}

static char *
segment_text (const LmdTranscript *transcript, const Segment *s)
{
  GString *text = g_string_new (NULL);

  for (guint i = s->first; i <= s->last; i++)
    {
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, g_array_index (transcript->words, LmdWord, i).word);
    }
  return g_string_free (text, FALSE);
}

static void
append_timestamp (GString *out, double t, char decimal_mark)
{
  gint64 ms = (gint64) llround (MAX (t, 0.0) * 1000.0);
  g_string_append_printf (out, "%02d:%02d:%02d%c%03d", (int) (ms / 3600000), (int) (ms / 60000 % 60),
                          (int) (ms / 1000 % 60), decimal_mark, (int) (ms % 1000));
}

static char *
render_subtitles (const LmdTranscript *transcript, gboolean vtt)
{
  g_autoptr (GArray) segments = split_segments (transcript);
  GString *out = g_string_new (vtt ? "WEBVTT\n\n" : "");

  for (guint i = 0; i < segments->len; i++)
    {
      const Segment *s = &g_array_index (segments, Segment, i);
      g_autofree char *text = segment_text (transcript, s);
      if (!vtt)
        g_string_append_printf (out, "%u\n", i + 1);
      append_timestamp (out, g_array_index (transcript->words, LmdWord, s->first).start, vtt ? '.' : ',');
      g_string_append (out, " --> ");
      append_timestamp (out, g_array_index (transcript->words, LmdWord, s->last).end, vtt ? '.' : ',');
      g_string_append_printf (out, "\n%s\n\n", text);
    }
  return g_string_free (out, FALSE);
}

static char *
render_verbose_json (const LmdTranscript *transcript, gboolean with_words)
{
  g_autoptr (GArray) segments = split_segments (transcript);
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "task");
  lmd_json_writer_string (w, "transcribe");
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
      const Segment *s = &g_array_index (segments, Segment, i);
      g_autofree char *text = segment_text (transcript, s);
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "id");
      lmd_json_writer_int (w, i);
      lmd_json_writer_key (w, "start");
      lmd_json_writer_double (w, g_array_index (transcript->words, LmdWord, s->first).start, 3);
      lmd_json_writer_key (w, "end");
      lmd_json_writer_double (w, g_array_index (transcript->words, LmdWord, s->last).end, 3);
      lmd_json_writer_key (w, "text");
      lmd_json_writer_string (w, text);
      lmd_json_writer_end_object (w);
    }
  lmd_json_writer_end_array (w);
  if (with_words)
    lmd_http_write_words (w, transcript, 3);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static gboolean
openai_parse_request (LmdTranscribeRequest *request, SoupServerMessage *msg, GHashTable *query,
                      GBytes *body, LmdRouter *router, GError **error)
{
  if (!lmd_http_request_parse (request, msg, query, body, error))
    return FALSE;
  if (request->options.model != NULL && lmd_router_find_engine (router, request->options.model) == NULL)
    {
      /* OpenAI clients name their own models ("whisper-1"): serve them with the default. */
      g_clear_pointer (&request->options.model, g_free);
    }
  return TRUE;
}

static void
openai_write_transcript (SoupServerMessage *msg, const LmdTranscript *transcript,
                         const LmdTranscribeRequest *request, gsize file_size)
{
  const LmdTranscribeOptions *opts = &request->options;
  const char *format = opts->response_format != NULL ? opts->response_format : "json";
  char *body;
  const char *type = "application/json";

  if (g_str_equal (format, "text"))
    body = g_strdup_printf ("%s\n", transcript->text), type = "text/plain; charset=utf-8";
  else if (g_str_equal (format, "srt"))
    body = render_subtitles (transcript, FALSE), type = "application/x-subrip; charset=utf-8";
  else if (g_str_equal (format, "vtt"))
    body = render_subtitles (transcript, TRUE), type = "text/vtt; charset=utf-8";
  else if (g_str_equal (format, "verbose_json"))
    body = render_verbose_json (transcript, opts->word_timestamps);
  else
    {
      LmdJsonWriter *w = lmd_json_writer_new ();
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "text");
      lmd_json_writer_string (w, transcript->text);
      lmd_json_writer_end_object (w);
      body = lmd_json_writer_finish (w);
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, type, SOUP_MEMORY_TAKE, body, strlen (body));
}

const LmdHttpDialect lmd_http_openai_dialect = {
  .version = LMD_HTTP_DIALECT_VERSION,
  .name = "openai",
  .path = "/v1/audio/transcriptions",
  .parse_request = openai_parse_request,
  .write_transcript = openai_write_transcript,
};
