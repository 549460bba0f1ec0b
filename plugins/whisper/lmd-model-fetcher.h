/* SPDX-License-Identifier: MIT */
/*
 * lmd-model-fetcher.h — gets a model file onto the local disk once.
 *
 * A URL is downloaded with libcurl into the cache directory as NAME.part, resuming a partial
 * download left by an earlier run, with progress in the log; when a SHA-256 is given the
 * file is verified before it is renamed to NAME, and a mismatch deletes it and fails.  A file
 * already in the cache (and matching the SHA-256, when given) is used as it is.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* (transfer full) the local path of the model at @url (http, https or file), or NULL with
 * @error set.  @sha256 (nullable) is the expected hex digest. */
char *lmd_model_fetch (const char *url, const char *cache_dir, const char *sha256,
                       GCancellable *cancellable, GError **error);

/* Checks the file at @path against the hex SHA-256 @sha256 (nullable or empty: nothing to
 * check); a mismatch is G_IO_ERROR_INVALID_DATA naming both digests. */
gboolean lmd_model_verify (const char *path, const char *sha256, GError **error);

/* (transfer full) the lower-case hex SHA-256 of the file at @path, or NULL with @error set. */
char *lmd_file_sha256 (const char *path, GError **error);

G_END_DECLS
