/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-get-text-dialect.c — the Smallest-style dialect, POST /api/v1/lightning/get_text
 * (docs/api.md): the request forms of lmd-http-request-parser.h; the answer
 * {"status":"success","transcription","words","language","metadata":{"duration","fileSize"},
 * "request_id"}.  No callbacks.
 */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-dialect.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-json-writer.h"

static gboolean
get_text_parse_request (LmdTranscribeRequest *request, SoupServerMessage *msg, GHashTable *query,
                        GBytes *body, LmdRouter *router, GError **error)
{
  return lmd_http_request_parse (request, msg, query, body, error);
}

static void
get_text_write_transcript (SoupServerMessage *msg, const LmdTranscript *transcript,
                           const LmdTranscribeRequest *request, gsize file_size)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
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

const LmdHttpDialect lmd_http_get_text_dialect = {
  .version = LMD_HTTP_DIALECT_VERSION,
  .name = "get_text",
  .path = "/api/v1/lightning/get_text",
  .parse_request = get_text_parse_request,
  .write_transcript = get_text_write_transcript,
};
