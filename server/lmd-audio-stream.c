/* SPDX-License-Identifier: MIT */
#include "lmd-audio-stream.h"

G_DEFINE_INTERFACE (LmdAudioStream, lmd_audio_stream, G_TYPE_OBJECT)

static void
lmd_audio_stream_default_init (LmdAudioStreamInterface *iface)
{
}

void
lmd_audio_stream_push (LmdAudioStream *self, GBytes *bytes)
{
  g_return_if_fail (LMD_IS_AUDIO_STREAM (self));
  g_return_if_fail (bytes != NULL);
  LMD_AUDIO_STREAM_GET_IFACE (self)->push (self, bytes);
}

void
lmd_audio_stream_finish (LmdAudioStream *self)
{
  g_return_if_fail (LMD_IS_AUDIO_STREAM (self));
  LMD_AUDIO_STREAM_GET_IFACE (self)->finish (self);
}
