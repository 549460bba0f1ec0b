/* SPDX-License-Identifier: MIT */
/*
 * lmd-vad-config.h — the server's [vad] configuration, shared by every engine that runs the
 * Silero detector (whisper: batch cutting and live streams; sphinx: vad=silero streams).
 *
 * Config group [vad]:
 *   model           local path of a Silero model in the ggml format; absent = no VAD
 *   threshold       0.5 (0.01..1)
 *   min_speech_ms   250 (0..60000)
 *   min_silence_ms  100 (0..60000)
 *   speech_pad_ms   30 (0..2000)
 *   max_speech_s    0 (0..3600; 0 = unlimited)
 * The settings are those of lmw_vad_params (lmw-vad.h); requests start from them
 * (LmdVadOptions).
 */
#pragma once

#include <glib.h>

#include "lmd-vad-options.h"
#include "lmw-vad.h"

G_BEGIN_DECLS

typedef struct {
  lmw_vad_model *model;  /* owned, nullable: NULL = no voice-activity detection */
  lmw_vad_params params; /* the [vad] settings */
} LmdVadConfig;

/* Reads [vad] and loads its model (a bad file or value is an error naming it). */
gboolean lmd_vad_config_load (LmdVadConfig *self, GKeyFile *key_file, GError **error);
void lmd_vad_config_clear (LmdVadConfig *self);

/* The settings for a request with @options (nullable) in *@params; TRUE when the request is
 * to use the detector: a model is configured and the request did not say vad=false. */
gboolean lmd_vad_config_get_params (const LmdVadConfig *self, const LmdVadOptions *options,
                                    lmw_vad_params *params);

G_END_DECLS
