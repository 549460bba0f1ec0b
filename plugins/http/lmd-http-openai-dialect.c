/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-openai-dialect.c — the OpenAI-style dialect, POST /v1/audio/transcriptions
 * (docs/api.md): multipart with "file" (the request forms of lmd-http-request-parser.h);
 * a model name the server does not have ("whisper-1") is served by the default model;
 * the answer in response_format json {"text"}, text, srt, vtt or verbose_json
 * {"task","language","duration","text","segments"[,"words"]} (segments and cues:
 * lmd-http-segments.h).  No callbacks.  POST /v1/audio/translations is the same dialect with
 * the translate task (English text; a model that cannot translate is refused by the router).
 */
#define G_LOG_DOMAIN "lmd-http"

#include <string.h>

#include "lmd-http-dialect.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-http-segments.h"
#include "lmd-json-writer.h"

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

static gboolean
openai_parse_translation (LmdTranscribeRequest *request, SoupServerMessage *msg, GHashTable *query,
                          GBytes *body, LmdRouter *router, GError **error)
{
  if (!openai_parse_request (request, msg, query, body, router, error))
    return FALSE;
  request->options.translate = TRUE;
  /* OpenAI's translations take no language: the speech's is detected */
  g_free (request->options.language);
  request->options.language = g_strdup ("auto");
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
    body = lmd_http_segments_render_subtitles (transcript, FALSE), type = "application/x-subrip; charset=utf-8";
  else if (g_str_equal (format, "vtt"))
    body = lmd_http_segments_render_subtitles (transcript, TRUE), type = "text/vtt; charset=utf-8";
  else if (g_str_equal (format, "verbose_json"))
    body = lmd_http_segments_render_verbose_json (transcript, opts->translate ? "translate" : "transcribe",
                                                  opts->word_timestamps);
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

const LmdHttpDialect lmd_http_openai_translation_dialect = {
  .version = LMD_HTTP_DIALECT_VERSION,
  .name = "openai-translation",
  .path = "/v1/audio/translations",
  .parse_request = openai_parse_translation,
  .write_transcript = openai_write_transcript,
};
