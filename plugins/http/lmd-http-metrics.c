/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-metrics.h"

#include "lmd-histogram.h"
#include "lmd-http-health.h"
#include "lmd-http-slots.h"
#include "lmd-vad-stats.h"

struct _LmdHttpMetrics {
  GHashTable *requests_by_status; /* owned: guint status → guint64 count (owned) */
  guint64 errors_total;
  LmdHistogram *e2e_latency;      /* owned: request received → answered (s) */
  LmdHistogram *processing;       /* owned: transcription (or the worker's answer) (s) */
  double rtf_sum;                 /* processing time / audio time, summed */
  guint64 rtf_count;
};

LmdHttpMetrics *
lmd_http_metrics_new (void)
{
  static const double latency_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
  LmdHttpMetrics *self = g_new0 (LmdHttpMetrics, 1);

  self->requests_by_status = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  self->e2e_latency = lmd_histogram_new (latency_bounds, G_N_ELEMENTS (latency_bounds));
  self->processing = lmd_histogram_new (latency_bounds, G_N_ELEMENTS (latency_bounds));
  return self;
}

void
lmd_http_metrics_free (LmdHttpMetrics *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->requests_by_status);
  lmd_histogram_free (self->e2e_latency);
  lmd_histogram_free (self->processing);
  g_free (self);
}

void
lmd_http_metrics_count_answer (LmdHttpMetrics *self, guint status, gint64 started_at)
{
  gpointer key = GUINT_TO_POINTER (status);
  guint64 *count = g_hash_table_lookup (self->requests_by_status, key);

  if (count == NULL)
    {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (self->requests_by_status, key, count);
    }
  (*count)++;
  if (status >= 500)
    self->errors_total++;
  if (status == SOUP_STATUS_OK)
    lmd_histogram_observe (self->e2e_latency, (g_get_monotonic_time () - started_at) / 1e6);
}

void
lmd_http_metrics_observe_processing (LmdHttpMetrics *self, double seconds, double audio_seconds)
{
  lmd_histogram_observe (self->processing, seconds);
  if (audio_seconds > 0)
    {
      self->rtf_sum += seconds / audio_seconds;
      self->rtf_count++;
    }
}

void
lmd_http_metrics_respond (LmdHttpMetrics *self, SoupServerMessage *msg, const LmdHttpMetricsGauges *gauges)
{
  const LmdHttpMetricsGauges *g = gauges;
  GString *out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  gsize len;

  g_string_append_printf (out,
                          "# HELP asr_active_requests Batch requests being transcribed now.\n"
                          "# TYPE asr_active_requests gauge\nasr_active_requests %u\n"
                          "# HELP asr_batch_queue_depth Batch requests admitted and waiting for a worker.\n"
                          "# TYPE asr_batch_queue_depth gauge\nasr_batch_queue_depth %u\n"
                          "# HELP asr_active_streams Streaming sessions open now.\n"
                          "# TYPE asr_active_streams gauge\nasr_active_streams %u\n"
                          "# HELP asr_stream_queue_depth Audio frames of live streams received and not yet decoded.\n"
                          "# TYPE asr_stream_queue_depth gauge\nasr_stream_queue_depth %u\n",
                          g->active, g->queued, g->streams, g->stream_queue);
  if (g->connections != NULL)
    lmd_http_connection_tracker_render_metrics (g->connections, out);
  g_string_append (out, "# HELP asr_requests_total Transcription requests answered, by HTTP status.\n"
                        "# TYPE asr_requests_total counter\n");
  g_hash_table_iter_init (&iter, self->requests_by_status);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_string_append_printf (out, "asr_requests_total{code=\"%u\"} %" G_GUINT64_FORMAT "\n",
                            GPOINTER_TO_UINT (key), *(guint64 *) value);
  g_string_append_printf (out,
                          "# HELP asr_errors_total Transcription requests that failed on the server side.\n"
                          "# TYPE asr_errors_total counter\nasr_errors_total %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_audio_seconds_total Seconds of audio transcribed.\n"
                          "# TYPE asr_audio_seconds_total counter\nasr_audio_seconds_total %.3f\n",
                          self->errors_total,
                          g->audio_seconds_total);
  lmd_histogram_render (self->processing, out, "asr_processing_duration_seconds",
                        g->forwards ? "Time from forwarding a request to the worker's answer."
                                       : "Time spent transcribing a request, queueing included.");
  lmd_histogram_render (self->e2e_latency, out, "asr_e2e_latency_seconds",
                        "Time from receiving a request to answering it (successful requests).");
  {
    char sum[G_ASCII_DTOSTR_BUF_SIZE];
    g_string_append_printf (out,
                            "# HELP asr_real_time_factor Processing time divided by audio duration.\n"
                            "# TYPE asr_real_time_factor summary\n"
                            "asr_real_time_factor_sum %s\nasr_real_time_factor_count %" G_GUINT64_FORMAT "\n",
                            g_ascii_formatd (sum, sizeof sum, "%.6f", self->rtf_sum), self->rtf_count);
  }
  if (lmd_router_get_license (g->router) != NULL)
    {
      LmdLicenseStatus status;
      lmd_license_get_status (lmd_router_get_license (g->router), &status);
      if (status.limits_store != NULL)
        g_string_append_printf (out,
                                "# HELP license_limits_shared Per-key limits counted in the shared store (1) or, while it is unreachable, in this process (0).\n"
                                "# TYPE license_limits_shared gauge\nlicense_limits_shared %d\n"
                                "# HELP license_limits_local_admissions_total Admissions decided by this process alone because the shared limit store was unreachable.\n"
                                "# TYPE license_limits_local_admissions_total counter\nlicense_limits_local_admissions_total %" G_GUINT64_FORMAT "\n",
                                status.limits_shared ? 1 : 0, status.limits_local_admissions);
    }
  g_string_append_printf (out,
                          "# HELP asr_uploads_in_progress Request bodies being received now.\n"
                          "# TYPE asr_uploads_in_progress gauge\nasr_uploads_in_progress %u\n"
                          "# HELP asr_upload_memory_bytes Memory reserved for request bodies now.\n"
                          "# TYPE asr_upload_memory_bytes gauge\nasr_upload_memory_bytes %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_uploads_spooled_total Request bodies written to a file because max_buffered_mb was reached.\n"
                          "# TYPE asr_uploads_spooled_total counter\nasr_uploads_spooled_total %" G_GUINT64_FORMAT "\n",
                          lmd_http_upload_budget_get_uploads (g->uploads),
                          lmd_http_upload_budget_get_reserved (g->uploads),
                          lmd_http_upload_budget_get_spooled_total (g->uploads));
  if (!g->forwards)
    {
      LmdEngineDevice device;
      guint64 cumulative = 0, rows = 0;

      lmd_http_health_engines_device (g->router, &device);
      g_string_append_printf (out,
                              "# HELP asr_gpu_memory_bytes Device memory the engines hold (weights and buffers; under cuda-emu the emulated device's); 0 on the CPU.\n"
                              "# TYPE asr_gpu_memory_bytes gauge\nasr_gpu_memory_bytes %" G_GUINT64_FORMAT "\n"
                              "# HELP asr_decoder_batch_size Rows (sequences) of each decoder step: 1 for greedy and sampling, the live beams for beam search.\n"
                              "# TYPE asr_decoder_batch_size histogram\n",
                              device.memory_bytes);
      for (guint b = 1; b <= LMD_ENGINE_MAX_BATCH; b++)
        {
          cumulative += device.batches[b];
          rows += device.batches[b] * b;
          if ((b & (b - 1)) == 0) /* buckets 1, 2, 4, 8, 16 */
            g_string_append_printf (out, "asr_decoder_batch_size_bucket{le=\"%u\"} %" G_GUINT64_FORMAT "\n",
                                    b, cumulative);
        }
      g_string_append_printf (out,
                              "asr_decoder_batch_size_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n"
                              "asr_decoder_batch_size_sum %" G_GUINT64_FORMAT "\n"
                              "asr_decoder_batch_size_count %" G_GUINT64_FORMAT "\n",
                              cumulative, rows, cumulative);
      lmd_http_slots_append_metrics (out, &device);
      g_free (device.name);
    }
  if (!g->forwards)
    {
      double vad_seconds, skipped_seconds;
      char a[G_ASCII_DTOSTR_BUF_SIZE], b[G_ASCII_DTOSTR_BUF_SIZE];

      lmd_vad_stats_get (&vad_seconds, &skipped_seconds);
      g_string_append_printf (out,
                              "# HELP asr_vad_seconds_total Time spent in voice-activity detection.\n"
                              "# TYPE asr_vad_seconds_total counter\nasr_vad_seconds_total %s\n"
                              "# HELP asr_vad_skipped_audio_seconds_total Seconds of audio left out of decoding as silence.\n"
                              "# TYPE asr_vad_skipped_audio_seconds_total counter\nasr_vad_skipped_audio_seconds_total %s\n",
                              g_ascii_formatd (a, sizeof a, "%.6f", vad_seconds),
                              g_ascii_formatd (b, sizeof b, "%.3f", skipped_seconds));
    }
  if (g->forwards)
    g_string_append_printf (out, "# HELP asr_workers_live Transcription workers this api process can use.\n"
                                 "# TYPE asr_workers_live gauge\nasr_workers_live %u\n",
                            g->workers_live);
  len = out->len;
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}
