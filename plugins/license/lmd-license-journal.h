/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-journal.h — usage records kept on disk until the upstream acknowledges them.
 *
 * Two files in the state directory:
 *   usage.jsonl  append-only, one record (a JSON object, no newline inside) per line; each
 *                append is one write() followed by fdatasync(), so a record that append()
 *                reported written survives a crash of the process or the machine.
 *   usage.ack    the byte offset in usage.jsonl up to which the upstream has acknowledged
 *                records, replaced atomically and durably.
 * On open, a torn last line (the process died inside write()) is cut off, so every record
 * read back is whole.  When everything is acknowledged the journal is truncated to zero
 * (journal first, then the offset: a crash in between leaves an offset past the end, which
 * open() resets to 0, so nothing is ever sent twice or lost).
 *
 * Thread-safe: the main context appends while an upload thread reads and acknowledges.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdLicenseJournal LmdLicenseJournal;

/* Opens (creating @dir with mode 0700 when needed) the journal in @dir. */
LmdLicenseJournal *lmd_license_journal_open (const char *dir, GError **error);
void lmd_license_journal_close (LmdLicenseJournal *self);

/* Appends one record (@line: no newline) durably. */
gboolean lmd_license_journal_append (LmdLicenseJournal *self, const char *line, GError **error);
/* (transfer full) up to @max_records unacknowledged lines, oldest first; *end_offset is the
 * offset to acknowledge once they have been delivered.  Empty when nothing is pending. */
GPtrArray *lmd_license_journal_read_pending (LmdLicenseJournal *self, guint max_records,
                                             guint64 *end_offset, GError **error);
/* Marks everything before @end_offset delivered. */
gboolean lmd_license_journal_acknowledge (LmdLicenseJournal *self, guint64 end_offset,
                                          GError **error);
/* Bytes written but not yet acknowledged. */
guint64 lmd_license_journal_get_pending_bytes (LmdLicenseJournal *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLicenseJournal, lmd_license_journal_close)

G_END_DECLS
