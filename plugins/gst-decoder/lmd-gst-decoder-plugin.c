/* SPDX-License-Identifier: MIT */
/*
 * lmd-gst-decoder-plugin.c — entry point of the "gst-decoder" plugin (liblmd-gst-decoder.so):
 * LmdGstDecoder, the audio decoder for every container and codec GStreamer can decode.
 */
#include "lmd-plugin.h"
#include "lmd-gst-decoder.h"

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "gst-decoder", "GStreamer audio decoder (any container and codec)",
    lmd_gst_decoder_get_type,
  };
  return &info;
}
