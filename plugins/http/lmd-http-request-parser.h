/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-request-parser.h — turns a POST to a transcription endpoint into an
 * LmdTranscribeRequest, for the three request forms of the API:
 *
 *   1. raw bytes (audio/..., application/octet-stream, or no/any other type), options in the query;
 *   2. multipart/form-data with the file in field "audio" or "file", options as other fields
 *      (and in the query);
 *   3. application/json {"url": "http(s)://...", ...options}.
 *
 * Query options apply first; form fields and JSON members override them.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-transcribe-request.h"

G_BEGIN_DECLS

/* Fills @request from the message's query, headers and @body.  Errors: LMD_ERROR
 * MISSING_PARAMETER / INVALID_PARAMETER with the parameter name ("body" for a malformed
 * JSON or multipart body). */
gboolean lmd_http_request_parse (LmdTranscribeRequest *request, SoupServerMessage *msg,
                                 GHashTable *query, GBytes *body, GError **error);

/* The same from the request's @headers alone (what lmd_http_request_parse() reads of the
 * message), so that the parser can run without a server message (fuzz/fuzz-request-body.c). */
gboolean lmd_http_request_parse_headers (LmdTranscribeRequest *request,
                                         SoupMessageHeaders *headers, GHashTable *query,
                                         GBytes *body, GError **error);

G_END_DECLS
