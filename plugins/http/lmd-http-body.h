/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-body.h — one request's body while it arrives, in memory within the process's
 * upload budget, else in a file.
 *
 * A body starts in memory when the budget (LmdHttpUploadBudget, max_buffered_mb) can reserve
 * its declared Content-Length, or, for a chunked body, as long as it can reserve each step
 * of its growth; otherwise it goes to an unlinked file of the spool directory (LmdBodySpool),
 * with what it already held in memory.  finish() hands the body over as GBytes either way:
 * the memory itself (the reservation is released when the bytes are freed), or a read-only
 * mapping of the file (page cache the kernel can reclaim, not process memory).
 *
 * Main context (the bytes finish() returns may be freed on any thread).
 */
#pragma once

#include <gio/gio.h>

#include "lmd-http-upload-budget.h"

G_BEGIN_DECLS

typedef struct _LmdHttpBody LmdHttpBody;

/* @declared_length: the Content-Length, -1 when unknown (chunked); @spool_dir: nullable, the
 * system temp directory. */
LmdHttpBody *lmd_http_body_new (LmdHttpUploadBudget *budget, goffset declared_length,
                                const char *spool_dir);
void lmd_http_body_free (LmdHttpBody *self);

/* FALSE with @error when the body had to go to a file and the file cannot take it. */
gboolean lmd_http_body_append (LmdHttpBody *self, const void *data, gsize len, GError **error);
/* Drops what was received and stores nothing more (the request is refused). */
void lmd_http_body_discard (LmdHttpBody *self);
guint64 lmd_http_body_get_length (LmdHttpBody *self);
gboolean lmd_http_body_is_spooled (LmdHttpBody *self);

/* (transfer full) the whole body; @self holds nothing afterwards.  NULL with @error when the
 * file cannot be mapped. */
GBytes *lmd_http_body_finish (LmdHttpBody *self, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdHttpBody, lmd_http_body_free)

G_END_DECLS
