/* SPDX-License-Identifier: MIT */
/*
 * lmd-worker-secret.h — the secret an api process shares with its asr workers.
 *
 * A worker admits no one itself (admission happens in the api), so a worker bound beyond
 * loopback answers only callers that present `[server] worker_secret` (WORKER_SECRET) in the
 * header X-Worker-Secret; the daemon refuses to start such a worker without one.  The api
 * side attaches the secret to every message of the session it talks to its workers with
 * (batch requests, relayed streams, job look-ups), and removes a client's copy of the header
 * when it has none.  The comparison hashes both sides and compares the digests in constant
 * time.  The secret is never logged.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

#define LMD_WORKER_SECRET_HEADER "X-Worker-Secret"

typedef struct _LmdWorkerSecret LmdWorkerSecret;

/* (transfer full) (nullable) the secret of @config ([server] worker_secret), or NULL when
 * none is set (an empty value, or only blanks, counts as none). */
LmdWorkerSecret *lmd_worker_secret_new_from_config (GKeyFile *config);
void lmd_worker_secret_free (LmdWorkerSecret *self);

/* Whether @headers (a request to a worker) carry the secret. */
gboolean lmd_worker_secret_check (const LmdWorkerSecret *self, SoupMessageHeaders *headers);

/* From now on every message queued on @session carries the secret of @self (nullable: none,
 * and any X-Worker-Secret header is removed).  @self must outlive @session's messages. */
void lmd_worker_secret_attach (LmdWorkerSecret *self, SoupSession *session);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdWorkerSecret, lmd_worker_secret_free)

G_END_DECLS
