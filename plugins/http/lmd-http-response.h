/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-response.h — the JSON documents the HTTP API answers with outside the dialects'
 * own shapes (lmd-http-dialect.h): errors, and the helpers the dialects share.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-json-writer.h"
#include "lmd-router.h"
#include "lmd-transcribe-request.h"
#include "lmd-transcript.h"

G_BEGIN_DECLS

/* Sets an error document {"error","code",...extras} with the matching status and headers.
 * @retry_after_s: for 429/503, the wait to suggest (0: the configured default);
 * @expires_at: for 403, the license's expiry (unix seconds; 0: none). */
void lmd_http_respond_error (SoupServerMessage *msg, LmdRouter *router, const GError *error,
                             const char *request_id, guint retry_after_s, gint64 expires_at);

/* Writes the member "words": [{"word","start","end","confidence"}...] with @decimals. */
void lmd_http_write_words (LmdJsonWriter *w, const LmdTranscript *transcript, guint decimals);

/* Whether @msg uses @method; if not, answers 405 with Allow: @method. */
gboolean lmd_http_require_method (SoupServerMessage *msg, const char *method);

/* Sets a JSON body (@json is taken) with @status. */
void lmd_http_respond_json (SoupServerMessage *msg, guint status, char *json);

/* (transfer full) A streaming error message {"type":"error","code","error"[,"param"]};
 * @param nullable. */
char *lmd_http_stream_error_json (const char *code, const char *param, const char *message);

G_END_DECLS
