/* SPDX-License-Identifier: MIT */
/*
 * lmd-vad-stats.h — the process's voice-activity detection counters, which /metrics reports:
 * the time spent running the VAD and the seconds of audio it kept from the decoder as
 * silence.  Engines add to them from any thread.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Adds one recording's VAD run: @vad_seconds of compute, @skipped_seconds of audio left out. */
void lmd_vad_stats_add (double vad_seconds, double skipped_seconds);
/* The totals since the process started. */
void lmd_vad_stats_get (double *vad_seconds, double *skipped_seconds);

G_END_DECLS
