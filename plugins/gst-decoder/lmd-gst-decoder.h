/* SPDX-License-Identifier: MIT */
/*
 * lmd-gst-decoder.h — LmdAudioDecoder on GStreamer: one pipeline per decode() call,
 * described by pipelines/decode.pipeline (compiled in) or [gst-decoder] pipeline_file.
 */
#pragma once

#include "lmd-audio-decoder.h"

G_BEGIN_DECLS

#define LMD_TYPE_GST_DECODER (lmd_gst_decoder_get_type ())
G_DECLARE_FINAL_TYPE (LmdGstDecoder, lmd_gst_decoder, LMD, GST_DECODER, GObject)

G_END_DECLS
