/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-job-lookup.h — GET /v1/jobs/{id} on an api process whose jobs live in the
 * workers' own job stores (no shared job store).
 *
 * The lookup asks every live worker at once (GET /v1/jobs/{id}, same X-Request-ID).  The
 * first 200 wins: its answer is the result and the other requests are cancelled.  NOT_FOUND
 * only when every worker answered 404; when some worker did not answer (connection failed,
 * 5xx, nothing within @timeout_s) and none had the job, the result is "unavailable", so the
 * client retries rather than give the job up.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef enum {
  LMD_HTTP_JOB_LOOKUP_FOUND,
  LMD_HTTP_JOB_LOOKUP_NOT_FOUND,
  LMD_HTTP_JOB_LOOKUP_UNAVAILABLE,
} LmdHttpJobLookupResult;

/* @document: the worker's answer when FOUND (JSON), else NULL. */
typedef void (*LmdHttpJobLookupDone) (LmdHttpJobLookupResult result, GBytes *document, gpointer user_data);

typedef struct _LmdHttpJobLookup LmdHttpJobLookup;

/* @worker_urls: base URLs (copied); @callback runs once, on the main context, never from
 * within this call. */
void lmd_http_job_lookup_start (SoupSession *session, const char *const *worker_urls, const char *job_id,
                                const char *request_id, guint timeout_s, LmdHttpJobLookupDone callback,
                                gpointer user_data);

G_END_DECLS
