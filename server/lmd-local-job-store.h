/* SPDX-License-Identifier: MIT */
/*
 * lmd-local-job-store.h — the built-in job store: one process and a spool directory.
 *
 * Layout of [jobs] dir:
 *   lock                 held (flock) by the process using the spool: one process per spool
 *   pending/ID.json      a job accepted and not yet released (its description)
 *   pending/ID.audio     its audio, until complete()
 *   done/ID.json         its job document, once complete(); deleted result_ttl_s later
 *
 * Files are written to a temporary name and renamed, so a crash never leaves half a job.
 * A process that opens the spool resumes every pending job, in the order they were accepted
 * (those with a document only need their callback delivered).
 */
#pragma once

#include "lmd-job-store.h"

G_BEGIN_DECLS

#define LMD_TYPE_LOCAL_JOB_STORE (lmd_local_job_store_get_type ())
G_DECLARE_FINAL_TYPE (LmdLocalJobStore, lmd_local_job_store, LMD, LOCAL_JOB_STORE, GObject)

LmdLocalJobStore *lmd_local_job_store_new (void);

G_END_DECLS
