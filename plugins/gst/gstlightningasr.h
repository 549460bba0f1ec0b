/* SPDX-License-Identifier: MIT */
/*
 * gstlightningasr.h — the lightningasr element: live speech-to-text in a GStreamer pipeline.
 * See gstlightningasr.c for its pads, properties and messages.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_LIGHTNING_ASR (gst_lightning_asr_get_type ())
G_DECLARE_FINAL_TYPE (GstLightningAsr, gst_lightning_asr, GST, LIGHTNING_ASR, GstElement)

GST_ELEMENT_REGISTER_DECLARE (lightningasr);

G_END_DECLS
