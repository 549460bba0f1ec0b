/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-models.h — GET /v1/models and GET /v1/models/{id} in OpenAI's shape.
 *
 *   {"object":"list","data":[{"id":"sphinx-en-us","object":"model","created":1764900000,
 *     "owned_by":"lightning-mediad","engine":"sphinx","default":true,"status":"ready",
 *     "translation":false}]}
 *
 * The models are those the router serves (their aliases too); on role api, which has no
 * engine, those the live workers publish.  "created" is when this process started (the
 * models were loaded then).  engine, default, status and translation are this server's
 * additions, which OpenAI's clients ignore.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-router.h"

G_BEGIN_DECLS

/* Answers @msg for @path ("/v1/models" or "/v1/models/ID"); FALSE with @error
 * (LMD_ERROR_NOT_FOUND: an unknown model or path) when the caller must answer an error.
 * @started_at: unix time the process started. */
gboolean lmd_http_models_respond (SoupServerMessage *msg, LmdRouter *router, const char *path,
                                  gint64 started_at, GError **error);

G_END_DECLS
