/* SPDX-License-Identifier: MIT */
/*
 * lmd-job-format.h — the shape of an asynchronous job's result, when it is not the project's
 * job document (lmd-job.h).
 *
 * A job accepted in some request dialect (Deepgram's callback, for instance) is answered in
 * that dialect's shape: the job carries the name of its format (LmdJob.result_format) and the
 * format's own arguments (LmdJob.result_args, an opaque string the format wrote when the job
 * was accepted: what the answer needs besides the transcript, e.g. the options that shape it).
 * The runner that finishes the job, possibly in another process, finds the format by name
 * here and writes the document that is stored and POSTed to the callback with it.
 *
 * A format is a constant method table, registered once by the module that defines it (the
 * HTTP transport registers its dialects' formats when it is set up); registering the same
 * name again replaces the table.  A job whose format is not registered in the process that
 * runs it gets the project's job document (and a warning in the log).
 *
 * Both methods may run on any thread and must not block.
 */
#pragma once

#include <glib.h>

#include "lmd-job.h"
#include "lmd-transcript.h"

G_BEGIN_DECLS

/* The version of the method table below; a table with another version is not registered. */
#define LMD_JOB_FORMAT_VERSION 1

typedef struct _LmdJobFormat LmdJobFormat;

struct _LmdJobFormat {
  guint version;    /* LMD_JOB_FORMAT_VERSION */
  const char *name; /* LmdJob.result_format: "deepgram", ... */

  /* (transfer full) the document of @job transcribed as @transcript. */
  char *(*completed) (const LmdJob *job, const LmdTranscript *transcript);

  /* (transfer full) the document of @job that failed with @error (LMD_ERROR mostly). */
  char *(*failed) (const LmdJob *job, const GError *error);
};

/* Registers @format (borrowed: it must outlive the process, a static table). */
void lmd_job_format_register (const LmdJobFormat *format);

/* (nullable) (transfer none) the format named @name; NULL for NULL or an unknown name. */
const LmdJobFormat *lmd_job_format_find (const char *name);

/* (transfer full) the document of @job: @transcript, or @error when @transcript is NULL, in
 * the job's format (the project's job document when it names none or an unknown one). */
char *lmd_job_format_write (const LmdJob *job, const LmdTranscript *transcript, const GError *error);

G_END_DECLS
