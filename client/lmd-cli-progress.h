/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-progress.h — a one-line progress bar on standard error.
 *
 *   uploading    [##########..........]  52%  1.3 MB / 2.5 MB
 *   transcribing ...  4.2 s
 *
 * A disabled bar (standard error is not a terminal, or --quiet) prints nothing, so callers
 * update it unconditionally.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdCliProgress LmdCliProgress;

/* (transfer full) a bar; @enabled FALSE makes every call a no-op. */
LmdCliProgress *lmd_cli_progress_new (gboolean enabled);
void lmd_cli_progress_free (LmdCliProgress *self);

/* Shows @label with @done of @total (@unit "bytes" or "s"; @total 0: unknown). */
void lmd_cli_progress_update (LmdCliProgress *self, const char *label, double done, double total,
                              const char *unit);
/* Shows @label and the seconds since the first call with this label (work of unknown length). */
void lmd_cli_progress_tick (LmdCliProgress *self, const char *label);
/* Erases the line, so that what follows starts at column 0. */
void lmd_cli_progress_clear (LmdCliProgress *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdCliProgress, lmd_cli_progress_free)

G_END_DECLS
