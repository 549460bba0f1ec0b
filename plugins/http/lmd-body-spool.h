/* SPDX-License-Identifier: MIT */
/*
 * lmd-body-spool.h — a request body on its way through an api process, kept in a file.
 *
 * The transport appends each chunk of the client's body as it arrives; the forwarder reads
 * it back (through LmdSpoolInputStream) as fast as the worker takes it, from the start again
 * for a retry.  The file is created in the spool directory and unlinked at once: it has no
 * name while it is in use and its space is returned when the last reader closes it, whatever
 * happens to the request or to the process.  Nothing of the body is kept in memory.
 *
 * Readers wait for more data with add_waiter(): a waiter runs (once) when bytes are
 * appended, when the body is complete or when the spool is aborted.  Main context only.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LmdBodySpool LmdBodySpool;

/* A new empty spool in @dir (NULL or "": the system temp directory). */
LmdBodySpool *lmd_body_spool_new (const char *dir, GError **error);
LmdBodySpool *lmd_body_spool_ref (LmdBodySpool *self);
void lmd_body_spool_unref (LmdBodySpool *self);

/* Appends @len bytes; FALSE (and the spool is aborted with @error) when the file cannot take
 * them (disk full). */
gboolean lmd_body_spool_append (LmdBodySpool *self, const void *data, gsize len, GError **error);
/* The whole body is in: readers see the end of it.  Idempotent. */
void lmd_body_spool_finish (LmdBodySpool *self);
/* The body will never be complete (client gone, over the limit): readers fail with a copy of
 * @why.  The first call wins. */
void lmd_body_spool_abort (LmdBodySpool *self, const GError *why);

guint64 lmd_body_spool_get_length (LmdBodySpool *self);
gboolean lmd_body_spool_is_complete (LmdBodySpool *self);
/* (nullable) why the spool was aborted */
const GError *lmd_body_spool_get_failure (LmdBodySpool *self);

/* Reads up to @count bytes at @offset (below the length); -1 on a read error. */
gssize lmd_body_spool_read (LmdBodySpool *self, guint64 offset, void *buffer, gsize count, GError **error);

/* (transfer full) the bytes appended so far, as a read-only mapping of the file (they stay
 * valid after the spool is gone); NULL with @error when the file cannot be mapped. */
GBytes *lmd_body_spool_map (LmdBodySpool *self, GError **error);

typedef void (*LmdBodySpoolWaiter) (gpointer user_data);
/* @func runs once on the next append, finish or abort.  Returns an id for remove_waiter(). */
guint lmd_body_spool_add_waiter (LmdBodySpool *self, LmdBodySpoolWaiter func, gpointer user_data);
void lmd_body_spool_remove_waiter (LmdBodySpool *self, guint id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdBodySpool, lmd_body_spool_unref)

G_END_DECLS
