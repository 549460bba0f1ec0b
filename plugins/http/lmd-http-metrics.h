/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-metrics.h — the transport's counters and GET /metrics (Prometheus text format,
 * docs/api.md).
 *
 * LmdHttpMetrics owns what the transport counts itself: transcription requests answered by
 * status, server-side errors, the latency and processing histograms and the real-time
 * factor.  The gauges of the moment (work in flight, streams, uploads, connections) are
 * passed in an LmdHttpMetricsGauges when rendering.  Main context only (no locking).
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-http-connection-tracker.h"
#include "lmd-http-upload-budget.h"
#include "lmd-router.h"

G_BEGIN_DECLS

typedef struct _LmdHttpMetrics LmdHttpMetrics;

typedef struct {
  LmdRouter *router;                     /* borrowed */
  gboolean forwards;                     /* role api: the work is at workers */
  guint active, queued;                  /* batch requests running, waiting */
  guint streams, stream_queue;           /* live streams open, frames not yet decoded */
  double audio_seconds_total;            /* transcribed (role api: as the workers report) */
  guint workers_live;                    /* role api */
  LmdHttpConnectionTracker *connections; /* borrowed, nullable */
  LmdHttpUploadBudget *uploads;          /* borrowed */
} LmdHttpMetricsGauges;

LmdHttpMetrics *lmd_http_metrics_new (void);
void lmd_http_metrics_free (LmdHttpMetrics *self);

/* A transcription request answered with @status; @started_at (monotonic µs) is when it came
 * in (the end-to-end latency of successful requests). */
void lmd_http_metrics_count_answer (LmdHttpMetrics *self, guint status, gint64 started_at);

/* A transcription (local, or at a worker) took @seconds for @audio_seconds of audio. */
void lmd_http_metrics_observe_processing (LmdHttpMetrics *self, double seconds, double audio_seconds);

/* Sets the answer of GET /metrics. */
void lmd_http_metrics_respond (LmdHttpMetrics *self, SoupServerMessage *msg,
                               const LmdHttpMetricsGauges *gauges);

G_END_DECLS
