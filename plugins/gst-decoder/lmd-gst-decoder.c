/* SPDX-License-Identifier: MIT */
/*
 * lmd-gst-decoder.c — LmdAudioDecoder on GStreamer.
 *
 * Each decode() call builds its own pipeline from the description (pipelines/decode.pipeline,
 * compiled in as a GResource, or [gst-decoder] pipeline_file), so calls on different threads
 * share nothing but the read-only settings:
 *
 *   appsrc name=src ! decodebin name=decode ! audioconvert ! audioresample ! appsink name=sink
 *
 * The input is typefound first: bytes that are not an audio/video container or codec are
 * UNSUPPORTED_FORMAT before any pipeline exists.  "src" then runs in random-access mode, fed
 * from the GBytes without copying (each buffer wraps a range of it and holds a reference),
 * so demuxers can seek (MP4 with its index at the end).  "sink" asks for mono native-endian
 * F32 at the requested rate (decode_channels(): the input's channels, interleaved, at most
 * LMD_AUDIO_DECODER_MAX_CHANNELS), does not sync, and holds at most SINK_MAX_BUFFERS buffers: the
 * streaming threads decode only as fast as the calling thread pulls, and the calling thread
 * hands the samples on in chunks of chunk_ms, so memory stays bounded however long the input.
 *
 * The input is measured before it is resampled: a probe on each raw audio pad decodebin
 * exposes reads the caps (a rate outside LMD_AUDIO_DECODER_MIN_RATE..MAX_RATE is
 * UNPROCESSABLE_AUDIO), asks upstream for the duration the container declares (longer than
 * max_seconds is FILE_TOO_LARGE before a sample is decoded), and counts the frames that pass
 * (FILE_TOO_LARGE as soon as they exceed max_seconds, whatever the header said).  A refused
 * input's buffers are dropped at the probe, so audioresample never multiplies them.
 *
 * The pull loop ends on EOS, on a bus error, on a refusal by the probe, on cancellation (checked at least every
 * PULL_TIMEOUT and before every chunk), on an error returned by the callback, or when no
 * output has come for stall_timeout_s (a corrupt file must never hang a worker).  Every path
 * sets the pipeline to NULL before unreffing it, which joins the streaming threads.
 *
 * Config group [gst-decoder]:
 *   pipeline_file    gst-launch description to use instead of the built-in one
 *   chunk_ms         audio per callback in milliseconds (default 1000, 10 to 60000)
 *   stall_timeout_s  seconds without output before a decode fails (default 30, 1 to 3600)
 */
#define G_LOG_DOMAIN "lmd-gst-decoder"

#include "lmd-gst-decoder.h"
#include "lmd-gst-audio-stream.h"
#include "lmd-wav-header.h"

#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/audio/audio.h>
#include <gst/base/gsttypefindhelper.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-gst-decoder-resources.h"

#define GST_DECODER_GROUP "gst-decoder"
#define GST_DECODER_RESOURCE "/org/lightning-mediad/gst-decoder/decode.pipeline"
#define DEFAULT_CHUNK_MS 1000
#define MIN_CHUNK_MS 10
#define MAX_CHUNK_MS 60000
#define DEFAULT_STALL_TIMEOUT_S 30
#define MAX_STALL_TIMEOUT_S 3600
#define PULL_TIMEOUT (100 * GST_MSECOND)
#define SINK_MAX_BUFFERS 4
#define PUSH_BLOCK_SIZE (64 * 1024) /* bytes per buffer when "src" runs in push mode */

/* The values of decodebin's GstAutoplugSelectResult (not in a public header). */
enum {
  AUTOPLUG_SELECT_TRY = 0,
  AUTOPLUG_SELECT_EXPOSE = 1,
};

struct _LmdGstDecoder {
  GObject parent_instance;

  char *description;        /* owned; gst-launch text without comment lines */
  char *description_origin; /* owned; "built-in" or the pipeline file, for messages */
  guint chunk_ms;
  gint64 stall_timeout_us;
};

static void lmd_gst_decoder_iface_init (LmdAudioDecoderInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdGstDecoder, lmd_gst_decoder, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_AUDIO_DECODER,
                                                      lmd_gst_decoder_iface_init))

/* ---- GStreamer initialisation (once per process) ---- */

static GError *gst_init_error; /* owned; set once, inside the GOnce, when gst_init fails */

static gpointer
init_gstreamer (gpointer data)
{
  GError *error = NULL;

  if (!gst_init_check (NULL, NULL, &error))
    gst_init_error = error;
  else
    gst_pb_utils_init ();
  return NULL;
}

static gboolean
ensure_gstreamer (GError **error)
{
  static GOnce once = G_ONCE_INIT;

  g_once (&once, init_gstreamer, NULL);
  if (gst_init_error != NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "GStreamer cannot be initialised: %s",
                   gst_init_error->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- the pipeline description ---- */

/* (transfer full) @text without its comment lines, the rest joined by spaces */
static char *
strip_comments (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];

      while (g_ascii_isspace (*line))
        line++;
      if (*line == '\0' || *line == '#')
        continue;
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, line);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* One decode: its pipeline, the elements the plugin drives, and the input being fed. */
typedef struct {
  GstElement *pipeline;  /* owned */
  GstAppSrc *src;        /* owned */
  GstAppSink *sink;      /* owned */
  GstElement *decode;    /* owned, nullable; the decodebin, when the description names one */

  GBytes *input;         /* owned */
  const guint8 *data;
  gsize size;
  guint64 offset;        /* next byte "src" pushes; streaming thread only */

  double max_seconds;    /* 0: no limit */
  GMutex lock;
  GError *refusal;       /* owned, under lock; why a probe refused the input */

  gint n_audio_pads;     /* atomic; raw audio pads decodebin exposed */
  gint no_more_pads;     /* atomic; decodebin exposed all its pads */
  gint unknown_audio;    /* atomic; an audio stream no installed decoder handles */
} DecodeJob;

static void
decode_job_free (DecodeJob *job)
{
  if (job == NULL)
    return;
  /* Joins the streaming threads: no callback runs on @job after this. */
  if (job->pipeline != NULL)
    gst_element_set_state (job->pipeline, GST_STATE_NULL);
  g_clear_object (&job->decode);
  g_clear_object (&job->sink);
  g_clear_object (&job->src);
  g_clear_object (&job->pipeline);
  g_clear_pointer (&job->input, g_bytes_unref);
  g_clear_error (&job->refusal);
  g_mutex_clear (&job->lock);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DecodeJob, decode_job_free)

/* Parses @description into a new job whose "src" and "sink" are checked; @origin names the
 * description in errors.  (transfer full) */
static DecodeJob *
decode_job_new (const char *description, const char *origin, GError **error)
{
  g_autoptr (DecodeJob) job = g_new0 (DecodeJob, 1);
  g_autoptr (GError) parse_error = NULL;
  GstElement *element;
  GstElement *src, *sink;

  g_mutex_init (&job->lock);

  element = gst_parse_launch_full (description, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (element == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "pipeline (%s): %s", origin,
                   parse_error != NULL ? parse_error->message : "cannot be parsed");
      return NULL;
    }
  gst_object_ref_sink (element);
  if (GST_IS_PIPELINE (element))
    job->pipeline = element;
  else
    {
      job->pipeline = gst_object_ref_sink (gst_pipeline_new (NULL));
      gst_bin_add (GST_BIN (job->pipeline), element);
      gst_object_unref (element);
    }

  src = gst_bin_get_by_name (GST_BIN (job->pipeline), "src");
  sink = gst_bin_get_by_name (GST_BIN (job->pipeline), "sink");
  job->decode = gst_bin_get_by_name (GST_BIN (job->pipeline), "decode");
  if (src != NULL && GST_IS_APP_SRC (src))
    job->src = GST_APP_SRC (g_steal_pointer (&src));
  if (sink != NULL && GST_IS_APP_SINK (sink))
    job->sink = GST_APP_SINK (g_steal_pointer (&sink));
  g_clear_object (&src);
  g_clear_object (&sink);
  if (job->src == NULL || job->sink == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL,
                   "pipeline (%s): needs an appsrc named \"src\" and an appsink named \"sink\"",
                   origin);
      return NULL;
    }
  return g_steal_pointer (&job);
}

/* ---- feeding "src" from the input, without copying ---- */

static void
feed_need_data (GstAppSrc *src, guint length, gpointer user_data)
{
  DecodeJob *job = user_data;
  GstBuffer *buffer;
  gsize n;

  if (job->offset >= job->size)
    {
      gst_app_src_end_of_stream (src);
      return;
    }
  n = length == 0 || length == G_MAXUINT ? PUSH_BLOCK_SIZE : length;
  n = MIN (n, job->size - job->offset);
  buffer = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY, (gpointer) job->data, job->size,
                                        job->offset, n, g_bytes_ref (job->input),
                                        (GDestroyNotify) g_bytes_unref);
  GST_BUFFER_OFFSET (buffer) = job->offset;
  GST_BUFFER_OFFSET_END (buffer) = job->offset + n;
  job->offset += n;
  gst_app_src_push_buffer (src, buffer);
}

static gboolean
feed_seek_data (GstAppSrc *src, guint64 offset, gpointer user_data)
{
  DecodeJob *job = user_data;

  if (offset > job->size)
    return FALSE;
  job->offset = offset;
  return TRUE;
}

/* ---- measuring the raw input (streaming threads) ---- */

/* Records why the input is refused; the first reason wins.  Takes ownership of @refusal. */
static void
decode_job_refuse (DecodeJob *job, GError *refusal)
{
  g_mutex_lock (&job->lock);
  if (job->refusal == NULL)
    job->refusal = g_steal_pointer (&refusal);
  g_mutex_unlock (&job->lock);
  g_clear_error (&refusal);
}

static gboolean
decode_job_is_refused (DecodeJob *job)
{
  gboolean refused;

  g_mutex_lock (&job->lock);
  refused = job->refusal != NULL;
  g_mutex_unlock (&job->lock);
  return refused;
}

/* FALSE with the refusal in @error when a probe refused the input. */
static gboolean
decode_job_check_refusal (DecodeJob *job, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&job->lock);
  if (job->refusal != NULL)
    {
      g_propagate_error (error, g_error_copy (job->refusal));
      ok = FALSE;
    }
  g_mutex_unlock (&job->lock);
  return ok;
}

/* What the probe of one raw audio pad knows about the stream it carries. */
typedef struct {
  DecodeJob *job;        /* not owned: the job outlives the pipeline's streaming threads */
  guint rate;            /* 0 until the caps are known */
  guint bpf;             /* bytes per frame */
  guint64 frames;        /* frames that passed */
} InputProbe;

static void
input_probe_refuse_too_long (InputProbe *probe, const char *what, double seconds)
{
  decode_job_refuse (probe->job,
                     g_error_new (LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                                  "the audio is longer than the limit of %.0f s (%s %.1f s)",
                                  probe->job->max_seconds, what, seconds));
}

static void
input_probe_check_caps (InputProbe *probe, GstPad *pad, GstCaps *caps)
{
  GstAudioInfo info;
  gint64 duration = -1;

  if (!gst_audio_info_from_caps (&info, caps))
    return; /* not raw audio: the pipeline fails to negotiate and says so on the bus */
  probe->rate = (guint) GST_AUDIO_INFO_RATE (&info);
  probe->bpf = (guint) GST_AUDIO_INFO_BPF (&info);
  /* The declared duration first: a long input is FILE_TOO_LARGE whatever its rate. */
  if (probe->job->max_seconds > 0 && gst_pad_query_duration (pad, GST_FORMAT_TIME, &duration) &&
      duration > 0 && (double) duration / GST_SECOND > probe->job->max_seconds)
    {
      input_probe_refuse_too_long (probe, "its container declares", (double) duration / GST_SECOND);
      return;
    }
  if (probe->rate < LMD_AUDIO_DECODER_MIN_RATE || probe->rate > LMD_AUDIO_DECODER_MAX_RATE)
    decode_job_refuse (probe->job,
                       g_error_new (LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                                    "the audio declares a sample rate of %u Hz, outside %d..%d Hz",
                                    probe->rate, LMD_AUDIO_DECODER_MIN_RATE,
                                    LMD_AUDIO_DECODER_MAX_RATE));
}

static void
input_probe_count (InputProbe *probe, gsize bytes)
{
  double seconds;

  if (probe->rate == 0 || probe->bpf == 0 || probe->job->max_seconds <= 0)
    return;
  probe->frames += bytes / probe->bpf;
  seconds = (double) probe->frames / probe->rate;
  if (seconds > probe->job->max_seconds)
    input_probe_refuse_too_long (probe, "at least", seconds);
}

static GstPadProbeReturn
on_input_data (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  InputProbe *probe = user_data;

  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM)
    {
      GstEvent *event = GST_PAD_PROBE_INFO_EVENT (info);

      if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
        {
          GstCaps *caps = NULL;

          gst_event_parse_caps (event, &caps);
          input_probe_check_caps (probe, pad, caps);
        }
    }
  else if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER)
    input_probe_count (probe, gst_buffer_get_size (GST_PAD_PROBE_INFO_BUFFER (info)));
  else if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    input_probe_count (probe, gst_buffer_list_calculate_size (GST_PAD_PROBE_INFO_BUFFER_LIST (info)));

  /* No sample of a refused input goes further (events do): the pull loop ends at its next
   * check. */
  if (!(GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) &&
      decode_job_is_refused (probe->job))
    return GST_PAD_PROBE_DROP;
  return GST_PAD_PROBE_OK;
}

/* Measures the raw audio leaving @pad. */
static void
decode_job_probe_input (DecodeJob *job, GstPad *pad)
{
  InputProbe *probe = g_new0 (InputProbe, 1);
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);

  probe->job = job;
  /* decodebin exposes a pad once its caps are set: their event may have passed already. */
  if (caps != NULL)
    input_probe_check_caps (probe, pad, caps);
  gst_pad_add_probe (pad,
                     GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
                     GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
                     on_input_data, probe, g_free);
}

/* ---- watching decodebin (streaming threads) ---- */

/* Video, image and subtitle streams are exposed undecoded: they would cost time and could
 * fail on a missing decoder, and the pipeline only links the audio. */
static int
on_autoplug_select (GstElement *decodebin, GstPad *pad, GstCaps *caps, GstElementFactory *factory,
                    gpointer user_data)
{
  const char *klass = gst_element_factory_get_metadata (factory, GST_ELEMENT_METADATA_KLASS);

  if (klass != NULL && strstr (klass, "Decoder") != NULL &&
      (strstr (klass, "Video") != NULL || strstr (klass, "Image") != NULL ||
       strstr (klass, "Subtitle") != NULL))
    return AUTOPLUG_SELECT_EXPOSE;
  return AUTOPLUG_SELECT_TRY;
}

static gboolean
caps_are_audio (GstCaps *caps)
{
  return caps != NULL && gst_caps_get_size (caps) > 0 &&
         g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "audio/");
}

static void
on_pad_added (GstElement *decodebin, GstPad *pad, gpointer user_data)
{
  DecodeJob *job = user_data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);

  if (caps == NULL)
    caps = gst_pad_query_caps (pad, NULL);
  if (caps_are_audio (caps))
    {
      g_atomic_int_inc (&job->n_audio_pads);
      decode_job_probe_input (job, pad);
    }
}

static void
on_no_more_pads (GstElement *decodebin, gpointer user_data)
{
  DecodeJob *job = user_data;

  g_atomic_int_set (&job->no_more_pads, TRUE);
}

static void
on_unknown_type (GstElement *decodebin, GstPad *pad, GstCaps *caps, gpointer user_data)
{
  DecodeJob *job = user_data;

  if (caps_are_audio (caps))
    g_atomic_int_set (&job->unknown_audio, TRUE);
}

static void
decode_job_watch (DecodeJob *job)
{
  GType type;

  if (job->decode == NULL)
    return;
  type = G_OBJECT_TYPE (job->decode);
  if (g_signal_lookup ("autoplug-select", type) != 0)
    g_signal_connect (job->decode, "autoplug-select", G_CALLBACK (on_autoplug_select), job);
  if (g_signal_lookup ("unknown-type", type) != 0)
    g_signal_connect (job->decode, "unknown-type", G_CALLBACK (on_unknown_type), job);
  g_signal_connect (job->decode, "pad-added", G_CALLBACK (on_pad_added), job);
  g_signal_connect (job->decode, "no-more-pads", G_CALLBACK (on_no_more_pads), job);
}

static gboolean
decode_job_has_no_audio (DecodeJob *job)
{
  return g_atomic_int_get (&job->no_more_pads) && g_atomic_int_get (&job->n_audio_pads) == 0;
}

/* ---- classifying the input and the failures ---- */

/* Whether typefound @caps are an audio/video container or codec: audio/… and video/…, or an
 * application/… type that a (non-adaptive) demuxer takes, such as Ogg, ID3 or APE tags, MXF. */
static gboolean
caps_are_media (GstCaps *caps)
{
  const char *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GList *demuxers, *usable;
  gboolean found = FALSE;

  if (g_str_has_prefix (name, "audio/") || g_str_has_prefix (name, "video/"))
    return TRUE;
  if (!g_str_has_prefix (name, "application/"))
    return FALSE;
  demuxers = gst_element_factory_list_get_elements (GST_ELEMENT_FACTORY_TYPE_DEMUXER,
                                                    GST_RANK_MARGINAL);
  usable = gst_element_factory_list_filter (demuxers, caps, GST_PAD_SINK, FALSE);
  for (GList *l = usable; l != NULL && !found; l = l->next)
    {
      const char *klass = gst_element_factory_get_metadata (l->data, GST_ELEMENT_METADATA_KLASS);
      found = klass == NULL || strstr (klass, "Adaptive") == NULL;
    }
  gst_plugin_feature_list_free (usable);
  gst_plugin_feature_list_free (demuxers);
  return found;
}

/* (transfer full) the caps of @input as GStreamer's typefinder sees them, or NULL with
 * UNSUPPORTED_FORMAT when they are not an audio/video container or codec */
static GstCaps *
find_media_type (GBytes *input, GError **error)
{
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (input, &size);
  GstTypeFindProbability probability = GST_TYPE_FIND_NONE;
  g_autoptr (GstCaps) caps = gst_type_find_helper_for_data (NULL, data, size, &probability);
  g_autofree char *text = NULL;

  if (caps == NULL || gst_caps_is_empty (caps))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                   "the audio is in no format that can be recognised (%" G_GSIZE_FORMAT " bytes)",
                   size);
      return NULL;
    }
  if (!caps_are_media (caps))
    {
      text = gst_caps_to_string (caps);
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                   "the input is %s, not an audio or video format", text);
      return NULL;
    }
  return g_steal_pointer (&caps);
}

/* (transfer full) a human name for @caps: "WAV", "MPEG-1 Layer 3 (MP3)", or the media type */
static char *
describe_caps (GstCaps *caps)
{
  char *description = gst_pb_utils_get_codec_description (caps);

  if (description == NULL)
    description = g_strdup (gst_structure_get_name (gst_caps_get_structure (caps, 0)));
  return description;
}

/* What a GStreamer debug string says about the input, for the client: the text after the
 * source location and element path ("file.c(123): function (): /GstPipeline:...:\nreason"),
 * or NULL when it holds nothing else (those details stay in the log). */
static const char *
debug_reason (const char *debug)
{
  const char *newline;

  if (debug == NULL)
    return NULL;
  newline = strrchr (debug, '\n');
  if (newline != NULL)
    return newline + 1;
  if (strstr (debug, ".c(") != NULL || strstr (debug, "/Gst") != NULL)
    return NULL; /* only a location */
  return debug;
}

/* Sets @error from a pipeline's error @message.  The client's message says what is wrong with
 * the audio in GStreamer's words, without element names, source files or pipeline paths; the
 * whole report goes to the log (with the request id of the calling thread). */
static void
set_error_from_message (DecodeJob *job, GstMessage *message, const char *format, GError **error)
{
  g_autoptr (GError) gst_error = NULL;
  g_autofree char *debug = NULL;
  g_autofree char *reason = NULL;
  const char *detail;

  gst_message_parse_error (message, &gst_error, &debug);
  g_info ("the %s input: GStreamer reports from %s: %s (%s)", format, GST_MESSAGE_SRC_NAME (message),
          gst_error->message, debug != NULL ? debug : "no details");
  detail = debug_reason (debug);
  if (detail != NULL && detail[0] != '\0')
    reason = g_strdup_printf ("%s (%s)", gst_error->message, detail);
  else
    reason = g_strdup (gst_error->message);

  if (g_atomic_int_get (&job->unknown_audio) &&
      (g_error_matches (gst_error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN) ||
       g_error_matches (gst_error, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND)))
    g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                 "no decoder is installed for the audio codec of the %s input: %s", format, reason);
  else if (decode_job_has_no_audio (job))
    g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                 "the %s input has no audio stream: %s", format, reason);
  else
    g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                 "the %s input cannot be decoded: %s", format, reason);
}

/* Empties the bus (so it never grows during a long decode); FALSE with @error on an error
 * message.  Warnings go to the debug log. */
static gboolean
decode_job_check_bus (DecodeJob *job, const char *format, GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (job->pipeline);
  GstMessage *popped;

  while ((popped = gst_bus_pop (bus)) != NULL)
    {
      g_autoptr (GstMessage) message = popped;

      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
        {
          set_error_from_message (job, message, format, error);
          return FALSE;
        }
      if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_WARNING)
        {
          g_autoptr (GError) warning = NULL;
          g_autofree char *debug = NULL;

          gst_message_parse_warning (message, &warning, &debug);
          g_debug ("%s input: %s: %s", format, GST_MESSAGE_SRC_NAME (message), warning->message);
        }
    }
  return TRUE;
}

/* ---- handing samples on ---- */

/* Accumulates decoded frames into chunks of @capacity frames for the caller's callback:
 * mono samples for @func, or, with @channels_func, the input's channels interleaved. */
typedef struct {
  float *samples;        /* owned: capacity frames of (channels_func ? MAX_CHANNELS : 1) */
  gsize capacity;        /* frames */
  gsize fill;            /* frames */
  guint channels;        /* samples per frame: 1, or the input's (known at the first sample) */
  guint64 total;         /* frames handed on so far */
  LmdPcmFunc func;
  LmdChannelsPcmFunc channels_func; /* nullable: the channels are kept apart */
  gpointer user_data;
  GCancellable *cancellable;
} ChunkWriter;

static gboolean
chunk_writer_flush (ChunkWriter *writer, GError **error)
{
  GError *func_error = NULL;
  gboolean ok;

  if (writer->fill == 0)
    return TRUE;
  if (g_cancellable_set_error_if_cancelled (writer->cancellable, error))
    return FALSE;
  ok = writer->channels_func != NULL
         ? writer->channels_func (writer->samples, writer->channels, writer->fill, writer->user_data, &func_error)
         : writer->func (writer->samples, writer->fill, writer->user_data, &func_error);
  if (!ok)
    {
      if (func_error == NULL)
        func_error = g_error_new (LMD_ERROR, LMD_ERROR_INTERNAL,
                                  "the PCM consumer stopped decoding without saying why");
      g_propagate_error (error, func_error);
      return FALSE;
    }
  writer->total += writer->fill;
  writer->fill = 0;
  return TRUE;
}

static gboolean
chunk_writer_write (ChunkWriter *writer, const float *samples, gsize n_frames, GError **error)
{
  while (n_frames > 0)
    {
      gsize n = MIN (n_frames, writer->capacity - writer->fill);

      memcpy (writer->samples + writer->fill * writer->channels, samples,
              n * writer->channels * sizeof (float));
      writer->fill += n;
      samples += n * writer->channels;
      n_frames -= n;
      if (writer->fill == writer->capacity && !chunk_writer_flush (writer, error))
        return FALSE;
    }
  return TRUE;
}

/* With channels kept apart: the channel count of @sample, fixed by the first one. */
static gboolean
chunk_writer_check_channels (ChunkWriter *writer, GstSample *sample, GError **error)
{
  GstAudioInfo info;
  GstCaps *caps = gst_sample_get_caps (sample);

  if (caps == NULL || !gst_audio_info_from_caps (&info, caps))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "a decoded buffer has no audio caps");
      return FALSE;
    }
  if (GST_AUDIO_INFO_CHANNELS (&info) < 1 || GST_AUDIO_INFO_CHANNELS (&info) > LMD_AUDIO_DECODER_MAX_CHANNELS)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                   "the input has %d channels; at most %d are transcribed separately",
                   GST_AUDIO_INFO_CHANNELS (&info), LMD_AUDIO_DECODER_MAX_CHANNELS);
      return FALSE;
    }
  if (writer->total == 0 && writer->fill == 0)
    writer->channels = (guint) GST_AUDIO_INFO_CHANNELS (&info);
  else if ((guint) GST_AUDIO_INFO_CHANNELS (&info) != writer->channels)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                   "the input changes from %u to %d channels", writer->channels,
                   GST_AUDIO_INFO_CHANNELS (&info));
      return FALSE;
    }
  return TRUE;
}

static gboolean
chunk_writer_write_sample (ChunkWriter *writer, GstSample *sample, GError **error)
{
  GstBuffer *buffer = gst_sample_get_buffer (sample);
  GstMapInfo map;
  gboolean ok;

  if (buffer == NULL || gst_buffer_get_size (buffer) == 0)
    return TRUE;
  if (writer->channels_func != NULL && !chunk_writer_check_channels (writer, sample, error))
    return FALSE;
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "cannot map a decoded buffer");
      return FALSE;
    }
  ok = chunk_writer_write (writer, (const float *) map.data,
                           map.size / (sizeof (float) * writer->channels), error);
  gst_buffer_unmap (buffer, &map);
  return ok;
}

/* ---- LmdAudioDecoder ---- */

static gboolean
lmd_gst_decoder_setup (LmdAudioDecoder *decoder, GKeyFile *config, GError **error)
{
  LmdGstDecoder *self = LMD_GST_DECODER (decoder);
  g_autofree char *path = NULL;
  g_autofree char *description = NULL;
  g_autoptr (DecodeJob) probe = NULL;
  gint64 chunk_ms, stall_timeout_s;

  if (!ensure_gstreamer (error))
    return FALSE;
  if (!lmd_config_get_int (config, GST_DECODER_GROUP, "chunk_ms", DEFAULT_CHUNK_MS, &chunk_ms,
                           error) ||
      !lmd_config_get_int (config, GST_DECODER_GROUP, "stall_timeout_s", DEFAULT_STALL_TIMEOUT_S,
                           &stall_timeout_s, error))
    return FALSE;
  if (chunk_ms < MIN_CHUNK_MS || chunk_ms > MAX_CHUNK_MS)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] chunk_ms: %" G_GINT64_FORMAT " is not between %d and %d",
                   GST_DECODER_GROUP, chunk_ms, MIN_CHUNK_MS, MAX_CHUNK_MS);
      return FALSE;
    }
  if (stall_timeout_s < 1 || stall_timeout_s > MAX_STALL_TIMEOUT_S)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [%s] stall_timeout_s: %" G_GINT64_FORMAT " is not between 1 and %d",
                   GST_DECODER_GROUP, stall_timeout_s, MAX_STALL_TIMEOUT_S);
      return FALSE;
    }

  path = lmd_config_get_string (config, GST_DECODER_GROUP, "pipeline_file", NULL);
  if (path != NULL && path[0] != '\0')
    {
      g_autofree char *text = NULL;

      if (!g_file_get_contents (path, &text, NULL, error))
        {
          g_prefix_error (error, "config [%s] pipeline_file: ", GST_DECODER_GROUP);
          return FALSE;
        }
      description = strip_comments (text);
    }
  else
    {
      g_clear_pointer (&path, g_free);
      description = g_strdup (self->description);
    }

  /* Parse once now, so that a bad description or a missing GStreamer plugin fails at start-up. */
  probe = decode_job_new (description, path != NULL ? path : "built-in", error);
  if (probe == NULL)
    return FALSE;

  self->chunk_ms = (guint) chunk_ms;
  self->stall_timeout_us = stall_timeout_s * G_USEC_PER_SEC;
  if (path != NULL)
    {
      g_free (self->description);
      g_free (self->description_origin);
      self->description = g_steal_pointer (&description);
      self->description_origin = g_steal_pointer (&path);
    }
  g_debug ("pipeline (%s): %s", self->description_origin, self->description);
  return TRUE;
}

/* decode() and decode_channels(): @func receives mono, or @channels_func the channels apart. */
static gboolean
decode_input (LmdGstDecoder *self, GBytes *input, guint sample_rate, double max_seconds,
              LmdPcmFunc func, LmdChannelsPcmFunc channels_func, gpointer user_data,
              GCancellable *cancellable, GError **error)
{
  GstAppSrcCallbacks feed_callbacks = {
    .need_data = feed_need_data,
    .seek_data = feed_seek_data,
  };
  g_autoptr (DecodeJob) job = NULL;
  g_autoptr (GstCaps) input_caps = NULL;
  g_autoptr (GstCaps) output_caps = NULL;
  g_autofree char *format = NULL;
  g_autofree float *chunk = NULL;
  ChunkWriter writer = { 0 };
  gint64 last_output;
  guint64 declared = 0, present = 0;

  if (g_bytes_get_size (input) == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "audio" LMD_ERROR_PARAM_SEPARATOR "the audio is empty");
      return FALSE;
    }
  if (!ensure_gstreamer (error) || g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  input_caps = find_media_type (input, error);
  if (input_caps == NULL)
    return FALSE;
  format = describe_caps (input_caps);

  job = decode_job_new (self->description, self->description_origin, error);
  if (job == NULL)
    return FALSE;
  job->input = g_bytes_ref (input);
  job->data = g_bytes_get_data (input, &job->size);
  job->max_seconds = max_seconds;

  if (gst_structure_has_name (gst_caps_get_structure (input_caps, 0), "audio/x-wav") &&
      lmd_wav_header_is_truncated (job->data, job->size, &declared, &present))
    g_warning ("the %s input is truncated: its data chunk declares %" G_GUINT64_FORMAT
               " bytes, only %" G_GUINT64_FORMAT " are present; decoding those",
               format, declared, present);

  g_object_set (job->src, "caps", input_caps, "format", GST_FORMAT_BYTES, "size",
                (gint64) job->size, "stream-type", GST_APP_STREAM_TYPE_RANDOM_ACCESS,
                "blocksize", (guint) PUSH_BLOCK_SIZE, NULL);
  gst_app_src_set_callbacks (job->src, &feed_callbacks, job, NULL);

  output_caps = gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, GST_AUDIO_NE (F32),
                                     "layout", G_TYPE_STRING, "interleaved",
                                     "rate", G_TYPE_INT, (int) sample_rate, NULL);
  /* mono, unless the channels are kept apart: then audioconvert keeps the input's */
  if (channels_func == NULL)
    gst_caps_set_simple (output_caps, "channels", G_TYPE_INT, 1, NULL);
  g_object_set (job->sink, "caps", output_caps, "sync", FALSE, "max-buffers",
                (guint) SINK_MAX_BUFFERS, "drop", FALSE, "emit-signals", FALSE,
                "enable-last-sample", FALSE, NULL);
  decode_job_watch (job);
  if (job->decode == NULL)
    {
      /* A description without a decodebin: measure at the sink, after resampling. */
      g_autoptr (GstPad) pad = gst_element_get_static_pad (GST_ELEMENT (job->sink), "sink");

      decode_job_probe_input (job, pad);
    }

  if (gst_element_set_state (job->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      if (decode_job_check_refusal (job, error) && decode_job_check_bus (job, format, error))
        g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                     "the %s input cannot be decoded: the pipeline does not start", format);
      return FALSE;
    }

  writer.capacity = MAX ((gsize) 1, (gsize) ((guint64) sample_rate * self->chunk_ms / 1000));
  writer.samples = chunk = g_new (float, writer.capacity * (channels_func != NULL ? LMD_AUDIO_DECODER_MAX_CHANNELS : 1));
  writer.channels = 1;
  writer.func = func;
  writer.channels_func = channels_func;
  writer.user_data = user_data;
  writer.cancellable = cancellable;
  last_output = g_get_monotonic_time ();
  for (;;)
    {
      g_autoptr (GstSample) sample = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
          !decode_job_check_refusal (job, error) || !decode_job_check_bus (job, format, error))
        return FALSE;
      sample = gst_app_sink_try_pull_sample (job->sink, PULL_TIMEOUT);
      if (sample != NULL)
        {
          if (!chunk_writer_write_sample (&writer, sample, error))
            return FALSE;
          /* After the callback: time the consumer spends is not a stall of the pipeline. */
          last_output = g_get_monotonic_time ();
        }
      else if (gst_app_sink_is_eos (job->sink))
        break;
      else if (g_get_monotonic_time () - last_output > self->stall_timeout_us)
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                       "the %s input cannot be decoded: no output for %" G_GINT64_FORMAT " s",
                       format, self->stall_timeout_us / G_USEC_PER_SEC);
          return FALSE;
        }
    }
  /* An element may post its error just before EOS reaches the sink. */
  if (!decode_job_check_refusal (job, error) || !decode_job_check_bus (job, format, error) ||
      !chunk_writer_flush (&writer, error))
    return FALSE;
  if (writer.total == 0)
    {
      if (decode_job_has_no_audio (job))
        g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                     "the %s input has no audio stream", format);
      else
        g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                     "the %s input contains no audio samples", format);
      return FALSE;
    }
  return TRUE;
}

static gboolean
lmd_gst_decoder_decode (LmdAudioDecoder *decoder, GBytes *input, guint sample_rate,
                        double max_seconds, LmdPcmFunc func, gpointer user_data,
                        GCancellable *cancellable, GError **error)
{
  return decode_input (LMD_GST_DECODER (decoder), input, sample_rate, max_seconds, func, NULL,
                       user_data, cancellable, error);
}

static gboolean
lmd_gst_decoder_decode_channels (LmdAudioDecoder *decoder, GBytes *input, guint sample_rate,
                                 double max_seconds, LmdChannelsPcmFunc func, gpointer user_data,
                                 GCancellable *cancellable, GError **error)
{
  return decode_input (LMD_GST_DECODER (decoder), input, sample_rate, max_seconds, NULL, func,
                       user_data, cancellable, error);
}

static const char *const *
lmd_gst_decoder_get_supported_formats (LmdAudioDecoder *decoder)
{
  static const char *const formats[] = {
    "wav", "flac", "mp3", "ogg", "oga", "opus", "m4a", "mp4", "aac", "webm", "mka", "mkv",
    "aiff", "au", NULL,
  };
  return formats;
}

/* ---- GObject ---- */

static LmdAudioStream *
lmd_gst_decoder_open_stream (LmdAudioDecoder *decoder, guint sample_rate, LmdAudioStreamPcmFunc pcm,
                             LmdAudioStreamDoneFunc done, gpointer user_data, GError **error)
{
  if (!ensure_gstreamer (error))
    return NULL;
  return lmd_gst_audio_stream_new (sample_rate, pcm, done, user_data, error);
}

static void
lmd_gst_decoder_finalize (GObject *object)
{
  LmdGstDecoder *self = LMD_GST_DECODER (object);

  g_free (self->description);
  g_free (self->description_origin);
  G_OBJECT_CLASS (lmd_gst_decoder_parent_class)->finalize (object);
}

static void
lmd_gst_decoder_class_init (LmdGstDecoderClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_gst_decoder_finalize;
}

static void
lmd_gst_decoder_iface_init (LmdAudioDecoderInterface *iface)
{
  iface->setup = lmd_gst_decoder_setup;
  iface->decode = lmd_gst_decoder_decode;
  iface->get_supported_formats = lmd_gst_decoder_get_supported_formats;
  iface->open_stream = lmd_gst_decoder_open_stream;
  iface->decode_channels = lmd_gst_decoder_decode_channels;
}

static void
lmd_gst_decoder_init (LmdGstDecoder *self)
{
  g_autoptr (GBytes) builtin = g_resource_lookup_data (lmd_gst_decoder_get_resource (),
                                                       GST_DECODER_RESOURCE,
                                                       G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);

  /* The resource is compiled into this module: its absence is a build error. */
  g_assert (builtin != NULL);
  self->description = strip_comments (g_bytes_get_data (builtin, NULL));
  self->description_origin = g_strdup ("built-in");
  self->chunk_ms = DEFAULT_CHUNK_MS;
  self->stall_timeout_us = DEFAULT_STALL_TIMEOUT_S * G_USEC_PER_SEC;
}
