/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-transport.h — the HTTP transport (libsoup 3): health, metrics and batch
 * transcription endpoints of docs/api.md.
 *
 * Config: [server] host, port, role; [limits] max_body_mb (checked against Content-Length
 * before the body is read, and while a chunked body arrives), max_uploads and
 * max_buffered_mb (LmdHttpUploadBudget).
 *
 * A transcription request is admitted from its headers; refusals are answered without
 * reading the body (lmd-http-refusal.h).  Only an admitted transcription request's body is
 * kept (LmdHttpBody: in memory within the budget, else in a file).
 *
 * Handlers never block: a transcription request is parsed, handed to the router, and the
 * message is paused until the router's callback fires on the main context.  A client that
 * disconnects cancels its request.
 *
 * The transport routes: each request dialect (request parsing, answers and errors) is a
 * module of its own (lmd-http-dialect.h), as are health (lmd-http-health.h), metrics
 * (lmd-http-metrics.h), asynchronous jobs (lmd-http-jobs.h) and the per-request state
 * (lmd-http-call.h).
 */
#pragma once

#include <glib-object.h>

#include "lmd-http-upload-budget.h"
#include "lmd-router.h"

G_BEGIN_DECLS

#define LMD_TYPE_HTTP_TRANSPORT (lmd_http_transport_get_type ())
G_DECLARE_FINAL_TYPE (LmdHttpTransport, lmd_http_transport, LMD, HTTP_TRANSPORT, GObject)

/* For the endpoint modules of this plugin (main context only). */

/* (transfer none) the router the transport serves, once started */
LmdRouter *lmd_http_transport_get_router (LmdHttpTransport *self);
/* (transfer none) the budget of the request bodies being received */
LmdHttpUploadBudget *lmd_http_transport_get_uploads (LmdHttpTransport *self);
/* A paused message begins (ends) waiting for work: counted in flight, so that a drain waits
 * for its answer. */
void lmd_http_transport_begin_work (LmdHttpTransport *self);
void lmd_http_transport_end_work (LmdHttpTransport *self);

G_END_DECLS
