/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-forwarder.h — an api process's batch requests, sent on to asr workers.
 *
 * forward() sends the request (method, path, query, content type, body, X-Request-ID) to the
 * worker the picker chooses, and relays the worker's answer as is (status, body, content
 * type, Retry-After).  The body streams from the transport's spool (LmdBodySpool) while
 * the client is still sending it: with the client's Content-Length when it sent one, chunked
 * otherwise.  Failure handling: the request is sent once more to another worker (same request
 * id, the body read again from the start of the spool and the rest of it as it arrives) only
 * when the first cannot have started on it: the connection could not be opened, it broke
 * before the whole request was written, or the worker answered 503 (draining, full).  A
 * worker parses and decodes only a body it has whole, so once the whole request is written,
 * a worker that closes or resets the connection without answering gets BAD_GATEWAY (502)
 * and one that stops answering (no byte for [api] worker_timeout_s) TIMEOUT (504), and the
 * request goes to no other worker: a request that crashes a worker must not crash the next
 * one.  No live worker: SERVICE_UNAVAILABLE.  A spool that is
 * aborted (the client left or passed the size limit) ends the forward with the spool's
 * error, without a retry.
 *
 * All on the main context.  The client's connection going away cancels the forwarded
 * request through @cancellable.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-body-spool.h"
#include "lmd-worker-picker.h"

G_BEGIN_DECLS

typedef struct _LmdHttpForwarder LmdHttpForwarder;

/* Called once per forward(): either @msg has the worker's answer (@error NULL; @status is it,
 * @audio_seconds the "duration" of a JSON answer or 0), or @error says why there is none
 * (SERVICE_UNAVAILABLE, or G_IO_ERROR_CANCELLED when the client left). */
typedef void (*LmdHttpForwardDone) (SoupServerMessage *msg, guint status, double audio_seconds,
                                    const GError *error, gpointer user_data);

/* @picker: borrowed, must outlive the forwarder. */
LmdHttpForwarder *lmd_http_forwarder_new (LmdWorkerPicker *picker, guint worker_timeout_s);
void lmd_http_forwarder_free (LmdHttpForwarder *self);

/* The session the forwarder uses (transfer none), shared with WebSocket relays. */
SoupSession *lmd_http_forwarder_get_session (LmdHttpForwarder *self);

/* @msg: the server message (a reference is taken), possibly still receiving its body;
 * @body (nullable): the spool its body goes to (a reference is taken); @content_length: the
 * client's, or -1; @model (nullable): the model the request names, for the choice of
 * worker. */
void lmd_http_forwarder_forward (LmdHttpForwarder *self, SoupServerMessage *msg, const char *request_id,
                                 const char *model, LmdBodySpool *body, goffset content_length,
                                 GCancellable *cancellable, LmdHttpForwardDone done, gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdHttpForwarder, lmd_http_forwarder_free)

G_END_DECLS
