/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-auth.h — the client's key of a request, and admission through the license service.
 *
 * The key comes from "Authorization: Token <key>" or "Authorization: Bearer <key>", or, for
 * browsers that cannot set headers on a WebSocket, from the query parameter "token".  The key
 * is never logged.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-license.h"

G_BEGIN_DECLS

/* (transfer full) (nullable) the key the client sent */
char *lmd_http_auth_extract_key (SoupServerMessage *msg, GHashTable *query);

/* Asks @license (nullable: no license service, everything is admitted with a NULL ticket)
 * to admit the request.  On refusal returns FALSE with @error set (LMD_ERROR) and
 * *retry_after_s filled for 429/503. */
gboolean lmd_http_auth_admit (LmdLicense *license, SoupServerMessage *msg, GHashTable *query,
                              const char *feature, const char *request_id,
                              LmdLicenseTicket **ticket, guint *retry_after_s, GError **error);

G_END_DECLS
