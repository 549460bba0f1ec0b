/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-static.h — the web page and the OpenAPI document: the files of data/web/,
 * compiled into the plugin as a GResource (nothing to install beside it, nothing fetched at
 * run time).
 *
 * GET and HEAD only.  Each answer carries a strong ETag (the first 128 bits of the file's
 * SHA-256, computed once), "Cache-Control: no-cache" (the browser revalidates, and a
 * matching If-None-Match is answered 304 without a body), and a Content-Security-Policy
 * that lets the page load nothing but this server's own files.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _LmdHttpStatic LmdHttpStatic;

/* (transfer full) the files of the compiled-in resource */
LmdHttpStatic *lmd_http_static_new (void);
void lmd_http_static_free (LmdHttpStatic *self);
/* (transfer none) the process's files, made on the first call (thread-safe); they never
 * change while it runs */
LmdHttpStatic *lmd_http_static_get (void);

/* Whether @path names one of the files ("/" is index.html). */
gboolean lmd_http_static_has (LmdHttpStatic *self, const char *path);
/* (transfer none) the paths served, "/" first, NULL-terminated */
const char *const *lmd_http_static_list (LmdHttpStatic *self);

/* Answers @msg for @path, one of the files: 200, 304 (If-None-Match), or 405 with Allow for
 * a method other than GET and HEAD. */
void lmd_http_static_respond (LmdHttpStatic *self, SoupServerMessage *msg, const char *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdHttpStatic, lmd_http_static_free)

G_END_DECLS
