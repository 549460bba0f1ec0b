/* SPDX-License-Identifier: MIT */
/*
 * lmd-job.h — one asynchronous transcription job (POST /v1/listen with callback_url).
 *
 * A job is what a job store keeps for a request it accepted: the id clients see
 * ("job_" + 32 hex digits), the request id for logs, the callback URL, the options, and the
 * audio (bytes, or the URL to fetch it from).  When a job store hands a job out again after
 * its result was stored (the process delivering the callback died), @document holds the
 * stored result and only the callback is left to deliver.
 *
 * The job document — what GET /v1/jobs/{id} answers and what the callback receives — is,
 * unless the job names another result format (a dialect's, lmd-job-format.h):
 *   {"job_id":"job_...","status":"processing"}
 *   {"job_id":"job_...","status":"completed","result":{...the synchronous answer...}}
 *   {"job_id":"job_...","status":"failed","error":"...","code":"UNPROCESSABLE_AUDIO"}
 */
#pragma once

#include <glib.h>

#include "lmd-transcribe-options.h"
#include "lmd-transcript.h"

G_BEGIN_DECLS

typedef struct {
  char *id;                     /* owned: "job_" + 32 hex digits */
  char *request_id;             /* owned: of the request that submitted it */
  char *callback_url;           /* owned */
  char *url;                    /* owned, nullable: audio to fetch */
  GBytes *audio;                /* owned, nullable when url is set */
  LmdTranscribeOptions options; /* owned */
  gint64 created_at;            /* unix microseconds: jobs resume in this order */
  char *document;               /* owned, nullable: the stored result, when there is one */
  char *callback_method;        /* owned, nullable: "PUT", else the callback is POSTed */
  char *result_format;          /* owned, nullable: an LmdJobFormat's name (lmd-job-format.h);
                                 * NULL: the job document below */
  char *result_args;            /* owned, nullable: that format's own arguments */
} LmdJob;

/* (transfer full) a job with a fresh id and default options. */
LmdJob *lmd_job_new (const char *request_id, const char *callback_url);
void lmd_job_free (LmdJob *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdJob, lmd_job_free)

/* Whether @id has the form of a job id ("job_" + 32 lowercase hex digits). */
gboolean lmd_job_id_is_valid (const char *id);

/* The job without its audio and document, as one JSON object (transfer full), and back.
 * lmd_job_from_meta_json() fails with LMD_JSON_ERROR on what is not JSON (or nests too deep,
 * see lmd-json.h) and G_IO_ERROR_INVALID_DATA on a malformed object. */
char *lmd_job_to_meta_json (const LmdJob *self);
LmdJob *lmd_job_from_meta_json (const char *json, GError **error);

/* Job documents (transfer full).  @result_json: the synchronous answer of the request. */
char *lmd_job_document_processing (const char *job_id);
char *lmd_job_document_completed (const char *job_id, const char *result_json);
char *lmd_job_document_failed (const char *job_id, const GError *error);

G_END_DECLS
