/* SPDX-License-Identifier: MIT */
/*
 * lmd-url-fetcher.h — fetches the audio of a JSON {"url": ...} request with libcurl.
 *
 * Blocking: call it from a worker thread.  Only http and https (also after redirects, at most
 * 5).  Unless allow_private is set, the URL's host is refused before any connection when it
 * is an internal address in any numeric form or localhost, and every address the transfer
 * connects to is checked with the same classifier (lmd-inet-address.h), so a name that
 * resolves to an internal address is refused too — including after a redirect.  The body is capped at max_bytes while it
 * arrives, and the whole transfer at timeout_s.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-inet-address.h"

G_BEGIN_DECLS

typedef struct {
  guint64 max_bytes;
  guint timeout_s;
  gboolean allow_private;
} LmdFetchLimits;

/* (transfer full) the body.  Errors (LMD_ERROR): INVALID_PARAMETER "url: ..." for a bad,
 * refused, unreachable or failing URL; FILE_TOO_LARGE over max_bytes; G_IO_ERROR_CANCELLED. */
GBytes *lmd_url_fetch (const char *url, const LmdFetchLimits *limits, GCancellable *cancellable,
                       GError **error);

/* POSTs @json (Content-Type: application/json) to @url, under the same address rule and time
 * limit as lmd_url_fetch() (redirects are not followed; the answer's body is discarded).
 * Returns the HTTP status, or 0 with @error set (LMD_ERROR_INVALID_PARAMETER "callback_url: ..."
 * for a refused or failing URL). */
guint lmd_url_post_json (const char *url, const char *json, const LmdFetchLimits *limits,
                         GError **error);
/* The same with another method (@method: "POST" or "PUT"). */
guint lmd_url_send_json (const char *url, const char *method, const char *json,
                         const LmdFetchLimits *limits, GError **error);

/* Checks, without network I/O, that @url is an http(s) URL with a host, and (unless
 * @allow_private) that the host is not an internal address in any numeric form the resolver
 * reads (lmd_inet_address_host_is_internal()) nor localhost.  Names are
 * checked again when connecting.  Errors: LMD_ERROR_INVALID_PARAMETER "@param: ...". */
gboolean lmd_url_check_destination (const char *url, gboolean allow_private, const char *param,
                                     GError **error);

/* Releases libcurl's global state (TLS libraries); call once at process exit. */
void lmd_url_fetcher_shutdown (void);

G_END_DECLS
