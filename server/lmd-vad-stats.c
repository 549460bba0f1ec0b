/* SPDX-License-Identifier: MIT */
#include "lmd-vad-stats.h"

static GMutex lock;
static double total_vad_seconds;     /* under lock */
static double total_skipped_seconds; /* under lock */

void
lmd_vad_stats_add (double vad_seconds, double skipped_seconds)
{
  g_mutex_lock (&lock);
  total_vad_seconds += vad_seconds;
  total_skipped_seconds += skipped_seconds;
  g_mutex_unlock (&lock);
}

void
lmd_vad_stats_get (double *vad_seconds, double *skipped_seconds)
{
  g_mutex_lock (&lock);
  *vad_seconds = total_vad_seconds;
  *skipped_seconds = total_skipped_seconds;
  g_mutex_unlock (&lock);
}
