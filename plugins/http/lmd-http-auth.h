/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-auth.h — the client's key of a request, and admission through the license service.
 *
 * The key comes from "Authorization: Token <key>" or "Authorization: Bearer <key>", or, for
 * browsers that cannot set headers on a WebSocket, from the subprotocol pair "token, <key>"
 * (Sec-WebSocket-Protocol; the server answers "token") or the query parameter "token" — on
 * WebSocket URLs only: a REST request (any feature but "streaming") whose URL carries
 * "token" is refused with INVALID_LICENSE, since query strings end up in proxy logs.  The key
 * is never logged.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-license.h"
#include "lmd-router.h"

G_BEGIN_DECLS

/* (transfer full) (nullable) the key the client sent */
char *lmd_http_auth_extract_key (SoupServerMessage *msg, GHashTable *query);

/* Asks @license (nullable: no license service, everything is admitted with a NULL ticket)
 * to admit the request, without blocking: @license may have to ask a license service in
 * another process or the limits in Redis.  The key is read from @msg and @query at once
 * (they need not outlive the call).  @callback runs on the main context; pass its result to
 * lmd_http_auth_admit_finish(), which on refusal returns FALSE with @error set (LMD_ERROR)
 * and *retry_after_s filled for 429/503.  @feature "streaming" is a WebSocket (where @query
 * may hold the key); any other feature is a REST request, refused when @query has "token". */
void lmd_http_auth_admit_async (LmdLicense *license, SoupServerMessage *msg, GHashTable *query,
                                const char *feature, const char *request_id,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data);
gboolean lmd_http_auth_admit_finish (LmdLicense *license, GAsyncResult *result,
                                     LmdLicenseTicket **ticket, guint *retry_after_s,
                                     GError **error);

/* Whether the admitted request (@ticket) may run on @engine (nullable): a model of the
 * "whisper" plugin needs the license feature "whisper".  FALSE with FEATURE_NOT_LICENSED. */
gboolean lmd_http_auth_allows_engine (LmdLicense *license, LmdLicenseTicket *ticket,
                                      LmdRouter *router, LmdEngine *engine, GError **error);

G_END_DECLS
