/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-listen-dialect.c — the project's own dialect, POST /v1/listen (docs/api.md): the
 * request forms of lmd-http-request-parser.h, the answer of lmd_transcript_to_listen_json(),
 * and asynchronous jobs with callback_url (202 {"job_id","status","request_id"}).
 */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-dialect.h"
#include "lmd-http-request-parser.h"
#include "lmd-http-response.h"
#include "lmd-json-writer.h"

static gboolean
listen_parse_request (LmdTranscribeRequest *request, SoupServerMessage *msg, GHashTable *query,
                      GBytes *body, LmdRouter *router, GError **error)
{
  return lmd_http_request_parse (request, msg, query, body, error);
}

static void
listen_write_transcript (SoupServerMessage *msg, const LmdTranscript *transcript,
                         const LmdTranscribeRequest *request, gsize file_size)
{
  lmd_http_respond_json (msg, SOUP_STATUS_OK,
                         lmd_transcript_to_listen_json (transcript, &request->options, request->request_id));
}

static void
listen_write_job_accepted (SoupServerMessage *msg, const char *job_id, const char *request_id)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "job_id");
  lmd_json_writer_string (w, job_id);
  lmd_json_writer_key (w, "status");
  lmd_json_writer_string (w, "processing");
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request_id);
  lmd_json_writer_end_object (w);
  lmd_http_respond_json (msg, SOUP_STATUS_ACCEPTED, lmd_json_writer_finish (w));
}

const LmdHttpDialect lmd_http_listen_dialect = {
  .version = LMD_HTTP_DIALECT_VERSION,
  .name = "listen",
  .path = "/v1/listen",
  .parse_request = listen_parse_request,
  .write_transcript = listen_write_transcript,
  .write_job_accepted = listen_write_job_accepted,
};
