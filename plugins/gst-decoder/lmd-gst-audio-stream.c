/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-gst-decoder"

#include "lmd-gst-audio-stream.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include "lmd-error.h"

/* what the appsrc may hold before the decoder takes it: beyond, pushes still queue (the
 * caller bounds its input by frame and queue limits), but this is the expected ceiling */
#define APPSRC_MAX_BYTES (4 * 1024 * 1024)

struct _LmdGstAudioStream {
  GObject parent_instance;

  GstElement *pipeline;          /* owned */
  GstAppSrc *src;                /* owned ref */
  LmdAudioStreamPcmFunc pcm;
  LmdAudioStreamDoneFunc done;
  gpointer user_data;            /* borrowed */
  gint done_sent;                /* atomic: done() runs once */
};

static void lmd_gst_audio_stream_iface_init (LmdAudioStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdGstAudioStream, lmd_gst_audio_stream, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_AUDIO_STREAM, lmd_gst_audio_stream_iface_init))

static void
send_done (LmdGstAudioStream *self, const GError *error)
{
  if (g_atomic_int_compare_and_exchange (&self->done_sent, 0, 1))
    self->done (error, self->user_data);
}

static GstFlowReturn
on_new_sample (GstAppSink *sink, gpointer user_data)
{
  LmdGstAudioStream *self = user_data;
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buffer = sample != NULL ? gst_sample_get_buffer (sample) : NULL;
  GstMapInfo map;

  if (buffer == NULL || !gst_buffer_map (buffer, &map, GST_MAP_READ))
    return GST_FLOW_OK;
  if (map.size >= sizeof (float))
    self->pcm ((const float *) map.data, map.size / sizeof (float), self->user_data);
  gst_buffer_unmap (buffer, &map);
  return GST_FLOW_OK;
}

static void
on_eos (GstAppSink *sink, gpointer user_data)
{
  send_done (user_data, NULL);
}

/* Runs on the thread that posts: a streaming thread. */
static GstBusSyncReply
on_bus_message (GstBus *bus, GstMessage *message, gpointer user_data)
{
  LmdGstAudioStream *self = user_data;

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) gst_error = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *debug = NULL;

      gst_message_parse_error (message, &gst_error, &debug);
      error = g_error_new (LMD_ERROR,
                           g_error_matches (gst_error, GST_STREAM_ERROR, GST_STREAM_ERROR_TYPE_NOT_FOUND)
                             ? LMD_ERROR_UNSUPPORTED_FORMAT
                             : LMD_ERROR_UNPROCESSABLE_AUDIO,
                           "the stream could not be decoded: %s", gst_error->message);
      send_done (self, error);
    }
  return GST_BUS_DROP;
}

LmdAudioStream *
lmd_gst_audio_stream_new (guint sample_rate, LmdAudioStreamPcmFunc pcm, LmdAudioStreamDoneFunc done,
                          gpointer user_data, GError **error)
{
  g_autoptr (LmdGstAudioStream) self = g_object_new (LMD_TYPE_GST_AUDIO_STREAM, NULL);
  g_autofree char *description = g_strdup_printf (
    "appsrc name=src format=bytes ! decodebin ! audioconvert ! audioresample ! "
    "audio/x-raw,format=F32LE,channels=1,rate=%u,layout=interleaved ! appsink name=sink sync=false",
    sample_rate);
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (GstElement) sink = NULL;
  g_autoptr (GstBus) bus = NULL;
  GstAppSinkCallbacks callbacks = { .eos = on_eos, .new_sample = on_new_sample };

  self->pcm = pcm;
  self->done = done;
  self->user_data = user_data;
  self->pipeline = gst_parse_launch_full (description, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (self->pipeline == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "the stream decoder cannot be built: %s",
                   parse_error != NULL ? parse_error->message : "?");
      return NULL;
    }
  gst_object_ref_sink (self->pipeline);
  self->src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (self->pipeline), "src"));
  sink = gst_bin_get_by_name (GST_BIN (self->pipeline), "sink");
  g_object_set (self->src, "max-bytes", (guint64) APPSRC_MAX_BYTES, "block", FALSE, NULL);
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, self, NULL);
  bus = gst_element_get_bus (self->pipeline);
  gst_bus_set_sync_handler (bus, on_bus_message, self, NULL);
  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "the stream decoder does not start");
      return NULL;
    }
  return LMD_AUDIO_STREAM (g_steal_pointer (&self));
}

static void
lmd_gst_audio_stream_push (LmdAudioStream *stream, GBytes *bytes)
{
  LmdGstAudioStream *self = LMD_GST_AUDIO_STREAM (stream);

  gst_app_src_push_buffer (self->src, gst_buffer_new_wrapped_bytes (bytes));
}

static void
lmd_gst_audio_stream_finish (LmdAudioStream *stream)
{
  LmdGstAudioStream *self = LMD_GST_AUDIO_STREAM (stream);

  gst_app_src_end_of_stream (self->src);
}

static void
lmd_gst_audio_stream_iface_init (LmdAudioStreamInterface *iface)
{
  iface->push = lmd_gst_audio_stream_push;
  iface->finish = lmd_gst_audio_stream_finish;
}

static void
lmd_gst_audio_stream_finalize (GObject *object)
{
  LmdGstAudioStream *self = LMD_GST_AUDIO_STREAM (object);

  if (self->pipeline != NULL)
    {
      g_autoptr (GstBus) bus = gst_element_get_bus (self->pipeline);

      /* joins the streaming threads: no callback after this */
      gst_element_set_state (self->pipeline, GST_STATE_NULL);
      gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
    }
  g_clear_object (&self->src);
  g_clear_object (&self->pipeline);
  G_OBJECT_CLASS (lmd_gst_audio_stream_parent_class)->finalize (object);
}

static void
lmd_gst_audio_stream_class_init (LmdGstAudioStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_gst_audio_stream_finalize;
}

static void
lmd_gst_audio_stream_init (LmdGstAudioStream *self)
{
}
