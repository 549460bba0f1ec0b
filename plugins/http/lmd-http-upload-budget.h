/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-upload-budget.h — what request bodies may take of a process, across requests.
 *
 * Two bounds ([limits] in docs/configuration.md):
 *   max_uploads      request bodies being received at once; the next transcription request is
 *                    answered 503 SERVICE_UNAVAILABLE (with Retry-After) from its headers;
 *   max_buffered_mb  bytes of bodies held in memory, reserved from the declared
 *                    Content-Length (or as a chunked body grows) until the request is done;
 *                    a body that does not fit is written to an unlinked file instead
 *                    (LmdHttpBody), so the memory bodies take stays bounded whatever the
 *                    number of clients.
 *
 * Reference counted: a body's memory may be released on another thread (the bytes are freed
 * where the request ends), so the counters are protected by a lock.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdHttpUploadBudget LmdHttpUploadBudget;

LmdHttpUploadBudget *lmd_http_upload_budget_new (guint max_uploads, guint64 max_memory_bytes);
LmdHttpUploadBudget *lmd_http_upload_budget_ref (LmdHttpUploadBudget *self);
void lmd_http_upload_budget_unref (LmdHttpUploadBudget *self);

/* One more body being received; FALSE (and nothing counted) at max_uploads. */
gboolean lmd_http_upload_budget_begin_upload (LmdHttpUploadBudget *self);
void lmd_http_upload_budget_end_upload (LmdHttpUploadBudget *self);

/* Reserves @bytes of memory for a body; FALSE (nothing reserved) when that would pass
 * max_buffered_mb. */
gboolean lmd_http_upload_budget_reserve (LmdHttpUploadBudget *self, guint64 bytes);
void lmd_http_upload_budget_release (LmdHttpUploadBudget *self, guint64 bytes);
/* A body went to a file because memory was full (for the metrics). */
void lmd_http_upload_budget_count_spooled (LmdHttpUploadBudget *self);

guint lmd_http_upload_budget_get_uploads (LmdHttpUploadBudget *self);
guint64 lmd_http_upload_budget_get_reserved (LmdHttpUploadBudget *self);
guint64 lmd_http_upload_budget_get_spooled_total (LmdHttpUploadBudget *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdHttpUploadBudget, lmd_http_upload_budget_unref)

G_END_DECLS
