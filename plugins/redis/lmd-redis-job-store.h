/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-job-store.h — the job store of the "redis-jobs" plugin: jobs shared by every
 * process of a deployment through one Redis (hiredis, synchronous API).
 *
 * Keys (PREFIX = [redis] prefix, default "lmd:"):
 *   PREFIXjobs           stream of job ids (field "job"), consumer group "runners": every
 *                        process with engines reads it as its own consumer (XREADGROUP); an
 *                        entry is acknowledged and deleted when its job is released, so the
 *                        stream's length is the number of pending jobs (bounded: max_pending)
 *   PREFIXjob:ID         hash: "meta" (the job description, JSON), "audio" (until complete),
 *                        "bytes", "document" (once complete); expires result_ttl_s after
 *                        complete (and release)
 *   PREFIXjobs:bytes     audio bytes of jobs not yet complete (bounded: [jobs] max_mb)
 *
 * An entry pending in the group for longer than [jobs] claim_timeout_s — its consumer died,
 * since live consumers renew their claims (XCLAIM) — is taken over with XAUTOCLAIM.  The
 * store keeps one connection, used under a lock by whichever thread calls; the calls never
 * run on the main loop (see lmd-job-store.h).
 */
#pragma once

#include "lmd-job-store.h"

G_BEGIN_DECLS

#define LMD_TYPE_REDIS_JOB_STORE (lmd_redis_job_store_get_type ())
G_DECLARE_FINAL_TYPE (LmdRedisJobStore, lmd_redis_job_store, LMD, REDIS_JOB_STORE, GObject)

/* Parses "redis://[:password@]host[:port][/db]" (also "redis://user:password@..."). */
gboolean lmd_redis_url_parse (const char *url, char **host, guint *port, char **password,
                              guint *db, GError **error);

G_END_DECLS
