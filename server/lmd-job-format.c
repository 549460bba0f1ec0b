/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-jobs"

#include "lmd-job-format.h"

#include "lmd-log.h"

/* name → const LmdJobFormat *; written at set-up, read by the runners */
static GMutex formats_lock;
static GHashTable *formats; /* owned; keys and values borrowed from the tables */

void
lmd_job_format_register (const LmdJobFormat *format)
{
  g_return_if_fail (format != NULL && format->name != NULL);
  g_return_if_fail (format->completed != NULL && format->failed != NULL);

  if (format->version != LMD_JOB_FORMAT_VERSION)
    {
      g_warning ("job format %s has version %u, not %u: not registered", format->name,
                 format->version, LMD_JOB_FORMAT_VERSION);
      return;
    }
  g_mutex_lock (&formats_lock);
  if (formats == NULL)
    formats = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_replace (formats, (gpointer) format->name, (gpointer) format);
  g_mutex_unlock (&formats_lock);
}

const LmdJobFormat *
lmd_job_format_find (const char *name)
{
  const LmdJobFormat *format = NULL;

  if (name == NULL)
    return NULL;
  g_mutex_lock (&formats_lock);
  if (formats != NULL)
    format = g_hash_table_lookup (formats, name);
  g_mutex_unlock (&formats_lock);
  return format;
}

char *
lmd_job_format_write (const LmdJob *job, const LmdTranscript *transcript, const GError *error)
{
  const LmdJobFormat *format = lmd_job_format_find (job->result_format);

  if (format == NULL && job->result_format != NULL)
    LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, job->request_id,
                     "job %s asks for the result format '%s', which this process does not have; "
                     "writing the job document", job->id, job->result_format);
  if (format != NULL)
    return transcript != NULL ? format->completed (job, transcript) : format->failed (job, error);
  if (transcript != NULL)
    {
      g_autofree char *answer = lmd_transcript_to_listen_json (transcript, &job->options, job->request_id);
      return lmd_job_document_completed (job->id, answer);
    }
  return lmd_job_document_failed (job->id, error);
}
