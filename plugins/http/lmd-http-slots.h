/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-slots.h — what /health and /metrics show of the engines that batch requests on a
 * device (LmdEngineDevice.slots > 0): the request slots, the requests waiting for one, the
 * time they waited, and the rows of the batched decoder steps.
 */
#pragma once

#include <glib.h>

#include "lmd-engine.h"
#include "lmd-json-writer.h"

G_BEGIN_DECLS

/* Adds @d's slot and batch figures to @sum. */
void lmd_http_slots_add (LmdEngineDevice *sum, const LmdEngineDevice *d);
/* "slots": {"total", "in_use", "waiting"} when @d has slots; nothing otherwise. */
void lmd_http_slots_write_health (LmdJsonWriter *w, const LmdEngineDevice *d);
/* asr_slots, asr_slots_in_use, asr_slots_waiting (gauges), asr_slot_wait_seconds (summary),
 * asr_batch_rows (histogram of the rows of each batched decoder step) and
 * asr_encoder_batch_windows (summary of the windows of each encoder pass),
 * asr_decoder_graph_steps_total{how} (row-table steps run directly, recorded, replayed),
 * asr_decoder_rows_picked_total and asr_decoder_rows_cross_shared_total (counters), in the
 * text format. */
void lmd_http_slots_append_metrics (GString *out, const LmdEngineDevice *d);

G_END_DECLS
