/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-jobs.h — asynchronous jobs over HTTP: a transcription request with a callback
 * becomes an LmdJob in the deployment's job store (answered in its dialect's shape,
 * write_job_accepted), and GET /v1/jobs/{job_id} answers the job's document.
 *
 * Role api without a shared job store asks every live worker (LmdHttpJobLookup), since each
 * keeps the jobs it accepted.  The message is paused while the store (or the workers)
 * answer; the transport counts it in flight meanwhile.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-http-transport.h"
#include "lmd-transcribe-request.h"

G_BEGIN_DECLS

/* @msg (held, lmd_http_call_hold()) carries @request with a callback: checks the addresses,
 * stores the job and answers.  The license ticket of the request is completed when the
 * answer is sent, like any other answer.  @request is only read. */
void lmd_http_jobs_submit (LmdHttpTransport *transport, SoupServerMessage *msg,
                           const LmdTranscribeRequest *request);

/* GET /v1/jobs/{job_id} (@path).  @workers (nullable): role api's session to its workers,
 * asked within @worker_timeout_s when there is no shared store. */
void lmd_http_jobs_lookup (LmdHttpTransport *transport, SoupServerMessage *msg, const char *path,
                           SoupSession *workers, guint worker_timeout_s);

G_END_DECLS
