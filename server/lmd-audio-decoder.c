/* SPDX-License-Identifier: MIT */
#include "lmd-audio-decoder.h"

G_DEFINE_INTERFACE (LmdAudioDecoder, lmd_audio_decoder, G_TYPE_OBJECT)

static void
lmd_audio_decoder_default_init (LmdAudioDecoderInterface *iface)
{
}

gboolean
lmd_audio_decoder_setup (LmdAudioDecoder *self, GKeyFile *config, GError **error)
{
  LmdAudioDecoderInterface *iface;

  g_return_val_if_fail (LMD_IS_AUDIO_DECODER (self), FALSE);
  iface = LMD_AUDIO_DECODER_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

gboolean
lmd_audio_decoder_decode (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                          double max_seconds, LmdPcmFunc func, gpointer user_data,
                          GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (LMD_IS_AUDIO_DECODER (self), FALSE);
  g_return_val_if_fail (input != NULL && func != NULL && sample_rate > 0, FALSE);
  g_return_val_if_fail (max_seconds >= 0, FALSE);
  return LMD_AUDIO_DECODER_GET_IFACE (self)->decode (self, input, sample_rate, max_seconds, func,
                                                      user_data, cancellable, error);
}

gboolean
lmd_audio_decoder_can_decode_channels (LmdAudioDecoder *self)
{
  g_return_val_if_fail (LMD_IS_AUDIO_DECODER (self), FALSE);
  return LMD_AUDIO_DECODER_GET_IFACE (self)->decode_channels != NULL;
}

gboolean
lmd_audio_decoder_decode_channels (LmdAudioDecoder *self, GBytes *input, guint sample_rate,
                                   double max_seconds, LmdChannelsPcmFunc func, gpointer user_data,
                                   GCancellable *cancellable, GError **error)
{
  LmdAudioDecoderInterface *iface;

  g_return_val_if_fail (LMD_IS_AUDIO_DECODER (self), FALSE);
  g_return_val_if_fail (input != NULL && func != NULL && sample_rate > 0, FALSE);
  g_return_val_if_fail (max_seconds >= 0, FALSE);
  iface = LMD_AUDIO_DECODER_GET_IFACE (self);
  if (iface->decode_channels == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "this decoder does not keep channels apart");
      return FALSE;
    }
  return iface->decode_channels (self, input, sample_rate, max_seconds, func, user_data,
                                 cancellable, error);
}

const char *const *
lmd_audio_decoder_get_supported_formats (LmdAudioDecoder *self)
{
  static const char *const none[] = { NULL };
  LmdAudioDecoderInterface *iface;

  g_return_val_if_fail (LMD_IS_AUDIO_DECODER (self), none);
  iface = LMD_AUDIO_DECODER_GET_IFACE (self);
  return iface->get_supported_formats != NULL ? iface->get_supported_formats (self) : none;
}

LmdAudioStream *
lmd_audio_decoder_open_stream (LmdAudioDecoder *self, guint sample_rate, LmdAudioStreamPcmFunc pcm,
                               LmdAudioStreamDoneFunc done, gpointer user_data, GError **error)
{
  LmdAudioDecoderInterface *iface;

  g_return_val_if_fail (LMD_IS_AUDIO_DECODER (self), NULL);
  iface = LMD_AUDIO_DECODER_GET_IFACE (self);
  if (iface->open_stream == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "this decoder does not decode containers while they arrive");
      return NULL;
    }
  return iface->open_stream (self, sample_rate, pcm, done, user_data, error);
}
