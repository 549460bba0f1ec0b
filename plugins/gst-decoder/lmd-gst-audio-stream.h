/* SPDX-License-Identifier: MIT */
/*
 * lmd-gst-audio-stream.h — LmdAudioStream with GStreamer: appsrc ! decodebin ! audioconvert !
 * audioresample ! F32LE mono at the asked rate ! appsink.  Bytes pushed go to appsrc; the
 * appsink's samples and the end (EOS, or the first error on the bus) reach the callbacks on
 * GStreamer's streaming threads.  Dropping the last reference stops the pipeline (NULL
 * state), which joins those threads: no callback runs afterwards.
 */
#pragma once

#include "lmd-audio-stream.h"

G_BEGIN_DECLS

#define LMD_TYPE_GST_AUDIO_STREAM (lmd_gst_audio_stream_get_type ())
G_DECLARE_FINAL_TYPE (LmdGstAudioStream, lmd_gst_audio_stream, LMD, GST_AUDIO_STREAM, GObject)

/* (transfer full) a playing pipeline, or NULL with @error (LMD_ERROR INTERNAL).  GStreamer
 * must be initialised. */
LmdAudioStream *lmd_gst_audio_stream_new (guint sample_rate, LmdAudioStreamPcmFunc pcm,
                                          LmdAudioStreamDoneFunc done, gpointer user_data,
                                          GError **error);

G_END_DECLS
