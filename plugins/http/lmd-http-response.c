/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-response.h"

#include <math.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-json-writer.h"

char *
lmd_http_stream_error_json (const char *code, const char *param, const char *message)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "type");
  lmd_json_writer_string (w, "error");
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, code);
  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, message);
  if (param != NULL)
    {
      lmd_json_writer_key (w, "param");
      lmd_json_writer_string (w, param);
    }
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

void
lmd_http_respond_json (SoupServerMessage *msg, guint status, char *json)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, json, strlen (json));
}

void
lmd_http_write_words (LmdJsonWriter *w, const LmdTranscript *transcript, guint decimals)
{
  lmd_transcript_write_words (transcript, w, decimals);
}

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

void
lmd_http_respond_transcript (SoupServerMessage *msg, LmdHttpDialect dialect,
                             const LmdTranscript *transcript, const LmdTranscribeRequest *request,
                             gsize file_size)
{
  const LmdTranscribeOptions *opts = &request->options;
  LmdJsonWriter *w;

  if (dialect == LMD_HTTP_DIALECT_OPENAI)
    {
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
          w = lmd_json_writer_new ();
          lmd_json_writer_begin_object (w);
          lmd_json_writer_key (w, "text");
          lmd_json_writer_string (w, transcript->text);
          lmd_json_writer_end_object (w);
          body = lmd_json_writer_finish (w);
        }
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, type, SOUP_MEMORY_TAKE, body, strlen (body));
      return;
    }

  if (dialect == LMD_HTTP_DIALECT_LISTEN)
    {
      lmd_http_respond_json (msg, SOUP_STATUS_OK,
                             lmd_transcript_to_listen_json (transcript, opts, request->request_id));
      return;
    }

  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  /* LMD_HTTP_DIALECT_GET_TEXT */
  lmd_json_writer_key (w, "status");
  lmd_json_writer_string (w, "success");
  lmd_json_writer_key (w, "transcription");
  lmd_json_writer_string (w, transcript->text);
  lmd_http_write_words (w, transcript, 3);
  lmd_json_writer_key (w, "language");
  lmd_json_writer_string (w, transcript->language);
  lmd_json_writer_key (w, "metadata");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, transcript->duration, 3);
  lmd_json_writer_key (w, "fileSize");
  lmd_json_writer_int (w, (gint64) file_size);
  lmd_json_writer_end_object (w);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request->request_id);
  lmd_json_writer_end_object (w);
  lmd_http_respond_json (msg, SOUP_STATUS_OK, lmd_json_writer_finish (w));
}

void
lmd_http_respond_error (SoupServerMessage *msg, LmdRouter *router, const GError *error,
                        const char *request_id, guint retry_after_s, gint64 expires_at)
{
  LmdErrorCode code = lmd_error_classify (error);
  guint status = lmd_error_http_status (code);
  g_autofree char *param = lmd_error_get_param (error);
  g_autofree char *sentence = lmd_error_get_sentence (error);
  const LmdLimits *limits = router != NULL ? lmd_router_get_limits (router) : NULL;
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, code == LMD_ERROR_INTERNAL ? "internal error; the server log has details" : sentence);
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, lmd_error_code_name (code));
  if (param != NULL)
    {
      lmd_json_writer_key (w, "param");
      lmd_json_writer_string (w, param);
    }
  if (code == LMD_ERROR_FILE_TOO_LARGE && limits != NULL)
    {
      lmd_json_writer_key (w, "max_size_mb");
      lmd_json_writer_int (w, (gint64) (limits->max_body_bytes / (1024 * 1024)));
      lmd_json_writer_key (w, "max_duration_s");
      lmd_json_writer_double (w, limits->max_audio_seconds, 0);
    }
  if (code == LMD_ERROR_UNSUPPORTED_FORMAT && router != NULL && lmd_router_get_decoder (router) != NULL)
    {
      const char *const *formats = lmd_audio_decoder_get_supported_formats (lmd_router_get_decoder (router));
      lmd_json_writer_key (w, "supported_formats");
      lmd_json_writer_begin_array (w);
      for (guint i = 0; formats[i] != NULL; i++)
        lmd_json_writer_string (w, formats[i]);
      lmd_json_writer_end_array (w);
    }
  if ((code == LMD_ERROR_LICENSE_EXPIRED || code == LMD_ERROR_QUOTA_EXCEEDED) && expires_at > 0)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (expires_at);
      g_autofree char *iso = t != NULL ? g_date_time_format_iso8601 (t) : NULL;
      lmd_json_writer_key (w, "expires_at");
      lmd_json_writer_string (w, iso);
    }
  if (code == LMD_ERROR_SERVICE_UNAVAILABLE || code == LMD_ERROR_RATE_LIMIT_EXCEEDED ||
      (code == LMD_ERROR_QUOTA_EXCEEDED && retry_after_s > 0))
    {
      guint retry = retry_after_s > 0 ? retry_after_s : limits != NULL ? limits->retry_after_s : 2;
      g_autofree char *header = g_strdup_printf ("%u", retry);
      lmd_json_writer_key (w, "retry_after");
      lmd_json_writer_int (w, retry);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", header);
    }
  if (request_id != NULL)
    {
      lmd_json_writer_key (w, "request_id");
      lmd_json_writer_string (w, request_id);
    }
  lmd_json_writer_end_object (w);
  lmd_http_respond_json (msg, status, lmd_json_writer_finish (w));
}
