/* SPDX-License-Identifier: MIT */
/*
 * lmd-job-runner.h — runs asynchronous jobs in a process that has engines (roles all, asr).
 *
 * On the main loop: while the router has an idle worker (and fewer than [limits] workers jobs
 * run), the runner takes the next job from the job store, runs it through the router, stores
 * its document (completed, or failed with the error's code; in the job's result format when it
 * names one, lmd-job-format.h), then POSTs the document to the job's callback_url (PUTs it when
 * the job's callback_method is "PUT"): a 2xx answer delivers it; anything else is retried after
 * [jobs] callback_backoff_s, doubling up to callback_backoff_max_s, callback_attempts times in
 * all; then the job is released.  The store's blocking calls and the HTTP posts run on
 * threads.  While a job is owned the runner touches it every claim_timeout_s / 3 so that no
 * other process reclaims it.
 *
 * On shutdown the runner stops taking jobs; a job whose callback is not delivered yet stays
 * in the store and is finished by the next process to take it (callbacks: at least once).
 */
#pragma once

#include "lmd-job-store.h"
#include "lmd-router.h"

G_BEGIN_DECLS

#define LMD_TYPE_JOB_RUNNER (lmd_job_runner_get_type ())
G_DECLARE_FINAL_TYPE (LmdJobRunner, lmd_job_runner, LMD, JOB_RUNNER, GObject)

/* Reads [jobs] of @config; the runner starts at lmd_job_runner_start(). */
LmdJobRunner *lmd_job_runner_new (LmdJobStore *store, LmdRouter *router, GKeyFile *config,
                                  GError **error);
void lmd_job_runner_start (LmdJobRunner *self);
/* Stops taking jobs and retrying callbacks; work already under way finishes. */
void lmd_job_runner_stop (LmdJobRunner *self);
/* Store calls, transcriptions and callback posts under way (0: nothing left to wait for). */
guint lmd_job_runner_get_busy (LmdJobRunner *self);

G_END_DECLS
