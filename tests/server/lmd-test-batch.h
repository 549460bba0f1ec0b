/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-batch.h — concurrent HTTP requests of one test, sent at once and answered in any
 * order: what the scale-out and fault-matrix tests send while they stop or kill a process.
 *
 * Requests go out on the caller's SoupSession and complete on the thread-default main
 * context; lmd_test_batch_wait() runs it.  Each request keeps its status (0 when no HTTP
 * answer came: the connection ended, or the session gave up) and its body as text (the
 * transport error's message when there was no answer); a request without an answer, or
 * answered 4xx or 5xx, is reported with g_test_message() as it completes.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _LmdTestBatch LmdTestBatch;

/* (transfer full) an empty batch sending on @session (borrowed: it must outlive the batch's
 * requests) */
LmdTestBatch *lmd_test_batch_new (SoupSession *session);
/* Frees @self once every request of it has completed (lmd_test_batch_wait()). */
void lmd_test_batch_free (LmdTestBatch *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTestBatch, lmd_test_batch_free)

/* Sends @n POSTs of @body (@content_type) to @url at once; returns without waiting. */
void lmd_test_batch_post (LmdTestBatch *self, const char *url, const char *content_type, GBytes *body,
                          guint n);

/* Runs the thread-default main context until every request has completed; fails the test
 * when some have not after @timeout_s. */
void lmd_test_batch_wait (LmdTestBatch *self, double timeout_s);

/* Requests sent, and completed (answered or failed). */
guint lmd_test_batch_get_sent (LmdTestBatch *self);
guint lmd_test_batch_get_done (LmdTestBatch *self);

/* Request @i (in the order sent), once completed: its HTTP status, 0 without an answer. */
guint lmd_test_batch_get_status (LmdTestBatch *self, guint i);
/* (transfer none) its body as text, or the transport error's message */
const char *lmd_test_batch_get_body (LmdTestBatch *self, guint i);
/* (transfer none) (nullable) the string member @member of its body, when that is a JSON
 * object that has one */
const char *lmd_test_batch_get_member (LmdTestBatch *self, guint i, const char *member);
/* How many completed requests got @status. */
guint lmd_test_batch_count_status (LmdTestBatch *self, guint status);

G_END_DECLS
