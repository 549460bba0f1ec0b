/* SPDX-License-Identifier: MIT */
#include "lmd-http-slots.h"

void
lmd_http_slots_add (LmdEngineDevice *sum, const LmdEngineDevice *d)
{
  sum->slots += d->slots;
  sum->slots_in_use += d->slots_in_use;
  sum->slots_waiting += d->slots_waiting;
  sum->slot_waits += d->slot_waits;
  sum->slot_wait_seconds += d->slot_wait_seconds;
  for (guint b = 0; b < LMD_ENGINE_STEP_BUCKETS; b++)
    sum->steps[b] += d->steps[b];
  sum->step_rows += d->step_rows;
  sum->encoder_batches += d->encoder_batches;
  sum->encoder_windows += d->encoder_windows;
  for (guint i = 0; i < G_N_ELEMENTS (sum->table_steps); i++)
    sum->table_steps[i] += d->table_steps[i];
  sum->rows_picked += d->rows_picked;
  sum->rows_cross_shared += d->rows_cross_shared;
}

void
lmd_http_slots_write_health (LmdJsonWriter *w, const LmdEngineDevice *d)
{
  if (d->slots == 0)
    return;
  lmd_json_writer_key (w, "slots");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "total");
  lmd_json_writer_int (w, d->slots);
  lmd_json_writer_key (w, "in_use");
  lmd_json_writer_int (w, d->slots_in_use);
  lmd_json_writer_key (w, "waiting");
  lmd_json_writer_int (w, d->slots_waiting);
  lmd_json_writer_end_object (w);
}

void
lmd_http_slots_append_metrics (GString *out, const LmdEngineDevice *d)
{
  char wait[G_ASCII_DTOSTR_BUF_SIZE];
  guint64 cumulative = 0;

  g_ascii_dtostr (wait, sizeof wait, d->slot_wait_seconds);
  g_string_append_printf (out,
                          "# HELP asr_slots Request slots the engines budgeted on their devices (0 without batching).\n"
                          "# TYPE asr_slots gauge\nasr_slots %u\n"
                          "# HELP asr_slots_in_use Request slots held by requests now.\n"
                          "# TYPE asr_slots_in_use gauge\nasr_slots_in_use %u\n"
                          "# HELP asr_slots_waiting Requests waiting for a free slot now.\n"
                          "# TYPE asr_slots_waiting gauge\nasr_slots_waiting %u\n"
                          "# HELP asr_slot_wait_seconds Time requests waited for a slot.\n"
                          "# TYPE asr_slot_wait_seconds summary\n"
                          "asr_slot_wait_seconds_sum %s\nasr_slot_wait_seconds_count %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_batch_rows Rows of each batched decoder step (every live sequence of every request on the device).\n"
                          "# TYPE asr_batch_rows histogram\n",
                          d->slots, d->slots_in_use, d->slots_waiting, wait, d->slot_waits);
  for (guint b = 0; b + 1 < LMD_ENGINE_STEP_BUCKETS; b++)
    {
      cumulative += d->steps[b];
      g_string_append_printf (out, "asr_batch_rows_bucket{le=\"%u\"} %" G_GUINT64_FORMAT "\n",
                              1u << b, cumulative);
    }
  cumulative += d->steps[LMD_ENGINE_STEP_BUCKETS - 1];
  g_string_append_printf (out,
                          "asr_batch_rows_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n"
                          "asr_batch_rows_sum %" G_GUINT64_FORMAT "\n"
                          "asr_batch_rows_count %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_encoder_batch_windows Windows of each batched encoder pass.\n"
                          "# TYPE asr_encoder_batch_windows summary\n"
                          "asr_encoder_batch_windows_sum %" G_GUINT64_FORMAT "\n"
                          "asr_encoder_batch_windows_count %" G_GUINT64_FORMAT "\n",
                          cumulative, d->step_rows, cumulative, d->encoder_windows,
                          d->encoder_batches);
  g_string_append_printf (out,
                          "# HELP asr_decoder_graph_steps_total One-token decoder steps run from a row table on the device, by how: directly, recorded as a CUDA graph, replayed from it.\n"
                          "# TYPE asr_decoder_graph_steps_total counter\n"
                          "asr_decoder_graph_steps_total{how=\"direct\"} %" G_GUINT64_FORMAT "\n"
                          "asr_decoder_graph_steps_total{how=\"recorded\"} %" G_GUINT64_FORMAT "\n"
                          "asr_decoder_graph_steps_total{how=\"replayed\"} %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_decoder_rows_picked_total Decoder rows whose next token was picked on the device (8 bytes back instead of the logits).\n"
                          "# TYPE asr_decoder_rows_picked_total counter\n"
                          "asr_decoder_rows_picked_total %" G_GUINT64_FORMAT "\n"
                          "# HELP asr_decoder_rows_cross_shared_total Decoder rows served by another row's read of their request's cross-attention K/V (beams).\n"
                          "# TYPE asr_decoder_rows_cross_shared_total counter\n"
                          "asr_decoder_rows_cross_shared_total %" G_GUINT64_FORMAT "\n",
                          d->table_steps[0], d->table_steps[1], d->table_steps[2], d->rows_picked,
                          d->rows_cross_shared);
}
