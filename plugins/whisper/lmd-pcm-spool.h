/* SPDX-License-Identifier: MIT */
/*
 * lmd-pcm-spool.h — the float samples of one request, held in memory up to a bound and
 * beyond it in an unlinked file, so that a session's memory does not grow with its audio.
 *
 * Samples are appended in order and read back by position, any number of times.  The first
 * @memory_samples stay in memory; when the buffer is full it is written to a file created
 * (and at once unlinked) in the spool directory, and the buffer starts again: the memory
 * held is at most @memory_samples floats, the file 4 bytes per sample beyond them.  The file
 * disappears with the spool, or with the process.  Not thread-safe: one session's thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdPcmSpool LmdPcmSpool;

/* (transfer full) a spool keeping at most @memory_samples (> 0) in memory and writing the
 * rest under @dir (nullable: g_get_tmp_dir ()) */
LmdPcmSpool *lmd_pcm_spool_new (gsize memory_samples, const char *dir);
void lmd_pcm_spool_free (LmdPcmSpool *self);

/* Appends @n samples; FALSE with @error (G_IO_ERROR) when the file cannot be written. */
gboolean lmd_pcm_spool_append (LmdPcmSpool *self, const float *samples, gsize n, GError **error);
/* Copies the @n samples from @offset on into @out; they must all have been appended.  FALSE
 * with @error (G_IO_ERROR) when the file cannot be read. */
gboolean lmd_pcm_spool_read (LmdPcmSpool *self, guint64 offset, float *out, gsize n,
                             GError **error);
/* Samples appended so far. */
guint64 lmd_pcm_spool_get_length (LmdPcmSpool *self);
/* Samples held in memory (at most the @memory_samples given to new()). */
gsize lmd_pcm_spool_get_buffered (LmdPcmSpool *self);
/* Whether samples went to the file. */
gboolean lmd_pcm_spool_is_spilled (LmdPcmSpool *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdPcmSpool, lmd_pcm_spool_free)

G_END_DECLS
