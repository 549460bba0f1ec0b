/* SPDX-License-Identifier: MIT */
/*
 * fuzz-job.c — job documents as the job stores read them back (lmd_job_from_meta_json(): spool
 * files and Redis values).  A document that is accepted is written again and read back: the
 * second reading must succeed and give the same id.
 */
#include "lmd-job.h"
#include "lmd-json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdJob) job = lmd_job_from_meta_json (text, &error);

  if (job == NULL)
    {
      g_assert (error != NULL);
      g_assert (error->domain == LMD_JSON_ERROR || error->domain == G_IO_ERROR);
      return 0;
    }
  g_assert (error == NULL);
  g_autofree char *again = lmd_job_to_meta_json (job);
  g_autoptr (LmdJob) reread = lmd_job_from_meta_json (again, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (reread->id, ==, job->id);
  return 0;
}
