/* SPDX-License-Identifier: MIT */
/*
 * gstlightningasr.c — lightningasr: speech to text with the project's engines (sphinx by
 * default, whisper by model path), offline, following the conventions of gst-plugins-rs's
 * transcribers (awstranscriber2, speechmaticstranscriber, deepgramtranscriber) so that it
 * works inside transcriberbin.
 *
 * Pads:
 *   sink  audio/x-raw, format S16LE or F32LE, interleaved, any channel count (averaged to
 *         mono), 8 to 48 kHz (resampled to the engine's rate inside).
 *   src   text/x-raw, format=utf8: one final word per buffer, PTS and duration on the
 *         input's timeline (plus `lateness`), in order, never retracted; the input segment is
 *         forwarded; GAP events cover the time where no word can come any more; a DISCONT
 *         buffer follows audio dropped by a live pipeline.  After each final's words, the
 *         custom downstream event `rstranscribe/final-transcript` (empty structure).
 *
 * Bus messages (element messages, structure name "lightningasr"), one per interim and final:
 *   transcript     (string)   the text
 *   is-final       (boolean)  FALSE for an interim (it may change), TRUE for a final
 *   start, end     (guint64)  running time (ns) of the utterance's first and last word
 *                             (interim: utterance start and the audio decoded so far)
 *   confidence     (gdouble)  0..1 (interim: 0)
 *   words          (GstValueList of GstStructure "word": word (string), start, end
 *                             (guint64 running time), confidence (gdouble)); empty for an
 *                             interim
 *   language-code  (string)   the language-code property
 * A WARNING when a live pipeline made the element drop audio, PROGRESS (type start, then
 * complete or error; code "load-model") while a model loads, an ERROR when the model is
 * missing or does not load (NULL→READY fails) or the engine fails.
 *
 * Threading: the chain function (the streaming thread) validates and clips each buffer,
 * averages it to mono float and queues it; the queue is bounded by `latency` of audio.
 * Not live: a full queue blocks the streaming thread (back-pressure).  Live: the oldest
 * audio is dropped instead (WARNING, next output DISCONT, max-observed-delay raised).  The
 * src pad's task takes the queue in order and runs an LmdLiveSession (server/) on it
 * synchronously: inference never runs on the streaming thread.  The session's events are
 * delivered on a private GMainContext that the task owns, so they come back inside the
 * task, which pushes the words and posts the messages without any lock held.
 *
 * Endpointing: with a Silero model (vad-model, else [vad] model of the server's default
 * configuration; vad=auto or silero) the session's utterances are found by Silero and end
 * 200 ms after the speech (eou-timeout 0); otherwise by the engine's own detector, 800 ms
 * after.  Whisper needs Silero: without a model NULL→READY fails.
 *
 * Latency: live upstream: upstream's minimum + latency + lateness; not live: upstream's
 * answer.  A live pipeline finalises an utterance at the latest after latency − eou-timeout
 * − 1.5 s of speech, so every word arrives within `latency` of its audio.
 */
#define PACKAGE "lightning-mediad"

#include "gstlightningasr.h"

#include <gst/audio/audio.h>
#include <string.h>

#include "gstlightningasrmodel.h"
#include "lmd-live-session.h"

GST_DEBUG_CATEGORY_STATIC (gst_lightning_asr_debug);
#define GST_CAT_DEFAULT gst_lightning_asr_debug

#define DEFAULT_LANGUAGE_CODE "en-US"
#define DEFAULT_LATENCY_MS 8000
#define DEFAULT_LATENESS_MS 0
#define DEFAULT_ENGINE "sphinx"
#define DEFAULT_INTERIM_RESULTS TRUE
#define DEFAULT_EOU_TIMEOUT_MS 0  /* the detector's: 200 ms with Silero, else 800 ms */
#define DEFAULT_VAD "auto"
#define DEFAULT_MAX_UTTERANCE_S 30.0
#define LIVE_MARGIN_S 1.5          /* decoding time kept out of `latency` in a live pipeline */
#define GAP_LOOKBACK_S 1.0         /* an utterance may start this far before it is detected */
#define GAP_MIN_NS (100 * GST_MSECOND)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK,
    GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("audio/x-raw, format = (string) { S16LE, F32LE }, "
                     "rate = (int) [ 8000, 48000 ], channels = (int) [ 1, 64 ], "
                     "layout = (string) interleaved"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS ("text/x-raw, format = (string) utf8"));

enum {
  PROP_0,
  PROP_LANGUAGE_CODE,
  PROP_LATENCY,
  PROP_LATENESS,
  PROP_MAX_OBSERVED_DELAY,
  PROP_ENGINE,
  PROP_MODEL,
  PROP_INTERIM_RESULTS,
  PROP_EOU_TIMEOUT,
  PROP_VAD,
  PROP_VAD_MODEL,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

/* One entry of the queue between the streaming thread and the task. */
typedef struct {
  GstEvent *event;            /* owned, nullable: a serialized event, in order */
  GBytes *audio;              /* owned, nullable: mono float32 (native endian) */
  GstClockTime pts;           /* of the audio, on the input's timeline */
  GstClockTime duration;
  guint rate;
  gboolean discont;           /* audio was dropped before this one */
} Item;

/* Where a stretch of the session's audio lies on the input's timeline. */
typedef struct {
  double session_start;       /* seconds of session audio before it */
  GstClockTime pts;
} Chunk;

struct _GstLightningAsr {
  GstElement parent;

  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties: under the object lock */
  char *language_code;        /* owned */
  guint latency_ms;
  guint lateness_ms;
  guint max_observed_delay_ms;
  char *engine_name;          /* owned */
  char *model;                /* owned, nullable */
  gboolean interim_results;
  guint eou_timeout_ms;
  char *vad;                  /* owned: "auto", "silero" or "engine" */
  char *vad_model;            /* owned, nullable: NULL = the server configuration's */

  LmdEngine *engine;          /* owned from READY to NULL */
  gboolean silero;            /* READY to NULL: the session finds utterances with Silero */

  /* streaming thread (sink pad) */
  GstAudioInfo info;
  gboolean have_info;
  GstSegment in_segment;
  GstClockTime next_pts;      /* where the next buffer without a PTS goes */

  /* queue: under qlock */
  GMutex qlock;
  GCond qcond;
  GQueue queue;               /* Item * */
  GstClockTime queued_time;   /* audio in the queue */
  gboolean flushing;
  gboolean reset_pending;     /* FLUSH_STOP: the task starts afresh */
  gboolean drop_pending;      /* audio was dropped: the next item is marked discont */
  gboolean dropping;          /* the last audio queued had to drop some: one WARNING a run */
  gint live;                  /* -1 unknown (asked at the first buffer), 0, 1 */
  GstFlowReturn src_result;   /* the task's last flow, returned by chain when not OK */

  /* task only */
  GMainContext *context;      /* owned: where the session delivers its events */
  LmdLiveSession *session;    /* owned, nullable */
  guint session_rate;
  GArray *chunks;             /* Chunk; the session's audio on the input's timeline */
  double session_seconds;     /* audio pushed into the session */
  double utterance_start;     /* session time of the open utterance, or -1 */
  GstSegment out_segment;
  GstClockTime out_position;  /* end of the last word or gap pushed */
  gboolean out_discont;
  gboolean task_live;
};

G_DEFINE_FINAL_TYPE (GstLightningAsr, gst_lightning_asr, GST_TYPE_ELEMENT)
GST_ELEMENT_REGISTER_DEFINE (lightningasr, "lightningasr", GST_RANK_NONE, GST_TYPE_LIGHTNING_ASR);

static void
item_free (Item *item)
{
  if (item->event != NULL)
    gst_event_unref (item->event);
  if (item->audio != NULL)
    g_bytes_unref (item->audio);
  g_free (item);
}

/* ---- task: output ------------------------------------------------------------------------ */

/* Session seconds → the input's timeline. */
static GstClockTime
to_pts (GstLightningAsr *self, double t)
{
  const Chunk *chunk = NULL;

  for (guint i = 0; i < self->chunks->len; i++)
    {
      const Chunk *c = &g_array_index (self->chunks, Chunk, i);
      if (c->session_start > t && chunk != NULL)
        break;
      chunk = c;
    }
  if (chunk == NULL)
    return GST_CLOCK_TIME_NONE;
  return chunk->pts + (GstClockTime) (MAX (t - chunk->session_start, 0.0) * GST_SECOND);
}

static guint64
to_running_time (GstLightningAsr *self, GstClockTime pts)
{
  guint64 rt;

  if (!GST_CLOCK_TIME_IS_VALID (pts))
    return 0;
  rt = gst_segment_to_running_time (&self->out_segment, GST_FORMAT_TIME, pts);
  return GST_CLOCK_TIME_IS_VALID (rt) ? rt : 0;
}

/* Before any data goes out: stream-start (the input's), the fixed caps and the segment, when
 * a flush or a state change dropped the queued ones. */
static void
ensure_sticky (GstLightningAsr *self, gboolean segment)
{
  GstEvent *event;

  if ((event = gst_pad_get_sticky_event (self->srcpad, GST_EVENT_STREAM_START, 0)) != NULL)
    gst_event_unref (event);
  else
    {
      event = gst_pad_get_sticky_event (self->sinkpad, GST_EVENT_STREAM_START, 0);
      if (event == NULL)
        {
          g_autofree char *id = gst_pad_create_stream_id (self->srcpad, GST_ELEMENT (self), NULL);
          event = gst_event_new_stream_start (id);
        }
      gst_pad_push_event (self->srcpad, event);
    }
  if ((event = gst_pad_get_sticky_event (self->srcpad, GST_EVENT_CAPS, 0)) != NULL)
    gst_event_unref (event);
  else
    {
      g_autoptr (GstCaps) caps = gst_static_pad_template_get_caps (&src_template);
      gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
    }
  if (!segment)
    return;
  if ((event = gst_pad_get_sticky_event (self->srcpad, GST_EVENT_SEGMENT, 0)) != NULL)
    gst_event_unref (event);
  else
    gst_pad_push_event (self->srcpad, gst_event_new_segment (&self->out_segment));
}

static GstFlowReturn
set_src_result (GstLightningAsr *self, GstFlowReturn ret)
{
  g_mutex_lock (&self->qlock);
  if (self->src_result == GST_FLOW_OK || ret < self->src_result)
    self->src_result = ret;
  g_mutex_unlock (&self->qlock);
  return ret;
}

static void
push_gap (GstLightningAsr *self, GstClockTime until)
{
  if (!GST_CLOCK_TIME_IS_VALID (until))
    return;
  if (!GST_CLOCK_TIME_IS_VALID (self->out_position))
    self->out_position = self->out_segment.start;
  if (until > self->out_position && until - self->out_position >= GAP_MIN_NS)
    {
      ensure_sticky (self, TRUE);
      gst_pad_push_event (self->srcpad, gst_event_new_gap (self->out_position,
                                                           until - self->out_position));
      self->out_position = until;
    }
}

static void
update_delay (GstLightningAsr *self, GstClockTime word_end)
{
  GstClock *clock;
  guint64 rt = to_running_time (self, word_end);
  gboolean changed = FALSE;

  if (!self->task_live || (clock = gst_element_get_clock (GST_ELEMENT (self))) == NULL)
    return;
  {
    GstClockTime now = gst_clock_get_time (clock) - gst_element_get_base_time (GST_ELEMENT (self));
    guint delay_ms = now > rt ? (guint) ((now - rt) / GST_MSECOND) : 0;

    GST_OBJECT_LOCK (self);
    if (delay_ms > self->max_observed_delay_ms)
      {
        self->max_observed_delay_ms = delay_ms;
        changed = TRUE;
      }
    GST_OBJECT_UNLOCK (self);
  }
  gst_object_unref (clock);
  if (changed)
    g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MAX_OBSERVED_DELAY]);
}

static void
post_result (GstLightningAsr *self, const char *text, gboolean is_final, GstClockTime start,
             GstClockTime end, double confidence, const LmdTranscript *transcript)
{
  g_autofree char *language = NULL;
  GValue words = G_VALUE_INIT;
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  language = g_strdup (self->language_code);
  GST_OBJECT_UNLOCK (self);
  g_value_init (&words, GST_TYPE_LIST);
  for (guint i = 0; transcript != NULL && i < transcript->words->len; i++)
    {
      const LmdWord *w = &g_array_index (transcript->words, LmdWord, i);
      GValue v = G_VALUE_INIT;

      g_value_init (&v, GST_TYPE_STRUCTURE);
      g_value_take_boxed (&v, gst_structure_new ("word",
          "word", G_TYPE_STRING, w->word,
          "start", G_TYPE_UINT64, to_running_time (self, to_pts (self, w->start)),
          "end", G_TYPE_UINT64, to_running_time (self, to_pts (self, w->end)),
          "confidence", G_TYPE_DOUBLE, CLAMP (w->confidence, 0.0, 1.0), NULL));
      gst_value_list_append_and_take_value (&words, &v);
    }
  s = gst_structure_new ("lightningasr",
      "transcript", G_TYPE_STRING, text != NULL ? text : "",
      "is-final", G_TYPE_BOOLEAN, is_final,
      "start", G_TYPE_UINT64, to_running_time (self, start),
      "end", G_TYPE_UINT64, to_running_time (self, end),
      "confidence", G_TYPE_DOUBLE, CLAMP (confidence, 0.0, 1.0),
      "language-code", G_TYPE_STRING, language, NULL);
  gst_structure_take_value (s, "words", &words);
  gst_element_post_message (GST_ELEMENT (self), gst_message_new_element (GST_OBJECT (self), s));
}

static void
push_final (GstLightningAsr *self, const LmdLiveEvent *event)
{
  const LmdTranscript *transcript = event->transcript;
  GstClockTime lateness;

  if (transcript->words->len == 0)
    return;
  GST_OBJECT_LOCK (self);
  lateness = self->lateness_ms * GST_MSECOND;
  GST_OBJECT_UNLOCK (self);
  post_result (self, transcript->text, TRUE, to_pts (self, event->start), to_pts (self, event->end),
               transcript->confidence, transcript);
  ensure_sticky (self, TRUE);
  for (guint i = 0; i < transcript->words->len; i++)
    {
      const LmdWord *w = &g_array_index (transcript->words, LmdWord, i);
      GstClockTime start = to_pts (self, w->start);
      GstClockTime end = to_pts (self, w->end);
      gsize len = strlen (w->word);
      GstBuffer *buffer;
      GstFlowReturn ret;

      if (!GST_CLOCK_TIME_IS_VALID (start) || len == 0)
        continue;
      start += lateness;
      end = MAX (end + lateness, start);
      /* never before what was already pushed: output times only go forward */
      if (GST_CLOCK_TIME_IS_VALID (self->out_position) && start < self->out_position)
        start = self->out_position;
      end = MAX (end, start);
      buffer = gst_buffer_new_memdup (w->word, len);
      GST_BUFFER_PTS (buffer) = start;
      GST_BUFFER_DURATION (buffer) = end - start;
      if (self->out_discont)
        {
          GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
          self->out_discont = FALSE;
        }
      self->out_position = end;
      update_delay (self, end - lateness);
      ret = gst_pad_push (self->srcpad, buffer);
      if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
        {
          GST_DEBUG_OBJECT (self, "push: %s", gst_flow_get_name (ret));
          set_src_result (self, ret);
          return;
        }
    }
  gst_pad_push_event (self->srcpad,
                      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM,
                                            gst_structure_new_empty ("rstranscribe/final-transcript")));
}

/* The session's events: on the task's context, that is, inside run_queued in the task. */
static void
on_live_event (LmdLiveSession *session, const LmdLiveEvent *event, gpointer user_data)
{
  GstLightningAsr *self = user_data;

  switch (event->type)
    {
    case LMD_LIVE_EVENT_SPEECH_STARTED:
      self->utterance_start = event->start;
      break;
    case LMD_LIVE_EVENT_SPEECH_ENDED:
      break;
    case LMD_LIVE_EVENT_INTERIM:
      post_result (self, event->text, FALSE, to_pts (self, event->start), to_pts (self, event->end),
                   0.0, NULL);
      break;
    case LMD_LIVE_EVENT_FINAL:
      self->utterance_start = -1.0;
      push_final (self, event);
      break;
    case LMD_LIVE_EVENT_ERROR:
      GST_ELEMENT_ERROR (self, LIBRARY, FAILED, ("Speech recognition failed: %s",
                         event->error->message), (NULL));
      set_src_result (self, GST_FLOW_ERROR);
      break;
    case LMD_LIVE_EVENT_END:
      self->utterance_start = -1.0;
      break;
    }
}

/* ---- task: the session ------------------------------------------------------------------- */

static void
session_drop (GstLightningAsr *self)
{
  if (self->session != NULL)
    {
      lmd_live_session_cancel (self->session);
      g_clear_object (&self->session);
    }
  g_array_set_size (self->chunks, 0);
  self->session_seconds = 0.0;
  self->utterance_start = -1.0;
}

/* Decodes what is left, emits the last finals, and forgets the session. */
static void
session_finish (GstLightningAsr *self)
{
  if (self->session == NULL)
    return;
  lmd_live_session_close (self->session);
  lmd_live_session_run_queued (self->session);
  session_drop (self);
}

static void
session_start (GstLightningAsr *self, guint rate)
{
  g_autofree char *language = NULL;
  LmdLiveSettings settings = { 0 };
  LmdVadOptions vad;
  guint latency_ms;

  GST_OBJECT_LOCK (self);
  language = g_strndup (self->language_code, 2);
  settings.interim_results = self->interim_results;
  settings.eou_timeout_ms = self->eou_timeout_ms;
  latency_ms = self->latency_ms;
  GST_OBJECT_UNLOCK (self);
  settings.language = language;
  settings.word_timestamps = TRUE;
  settings.encoding = LMD_PCM_LINEAR32;
  settings.sample_rate = rate;
  settings.max_queue_seconds = 3600.0; /* the element's own queue bounds the audio */
  settings.max_utterance_s = DEFAULT_MAX_UTTERANCE_S;
  if (self->task_live)
    {
      guint eou_ms = settings.eou_timeout_ms > 0 ? settings.eou_timeout_ms
                     : self->silero             ? LMD_LIVE_EOU_TIMEOUT_SILERO_MS
                                                : LMD_LIVE_EOU_TIMEOUT_MS;
      settings.max_utterance_s = MAX (latency_ms / 1000.0 - eou_ms / 1000.0 - LIVE_MARGIN_S, 1.0);
    }
  settings.request_id = GST_OBJECT_NAME (self);
  lmd_vad_options_init (&vad);
  vad.enabled = self->silero ? 1 : 0;
  settings.vad = &vad;
  /* created with the task's context as thread-default: its events come back here */
  self->session = lmd_live_session_new (self->engine, NULL, &settings, on_live_event, self);
  self->session_rate = rate;
}

static void
process_audio (GstLightningAsr *self, Item *item)
{
  Chunk chunk;

  if (self->session != NULL && (item->rate != self->session_rate || item->discont))
    {
      /* a new rate, or a hole in the audio: the utterance in progress ends here */
      session_finish (self);
    }
  if (item->discont)
    self->out_discont = TRUE;
  if (self->session == NULL)
    session_start (self, item->rate);
  chunk.session_start = self->session_seconds;
  chunk.pts = item->pts;
  g_array_append_val (self->chunks, chunk);
  self->session_seconds += (double) g_bytes_get_size (item->audio) / sizeof (float) / item->rate;
  lmd_live_session_push_audio (self->session, item->audio, NULL);
  lmd_live_session_run_queued (self->session);

  /* no word can start before the open utterance (or a little before now): a gap up to there */
  {
    double safe = (self->utterance_start >= 0.0 ? self->utterance_start : self->session_seconds) -
                  GAP_LOOKBACK_S;
    if (safe > 0.0)
      push_gap (self, to_pts (self, safe));
  }
  /* keep the chunks an utterance can still reach */
  while (self->chunks->len > 2 &&
         g_array_index (self->chunks, Chunk, 1).session_start <
           self->session_seconds - 2 * DEFAULT_MAX_UTTERANCE_S)
    g_array_remove_index (self->chunks, 0);
}

static void
process_event (GstLightningAsr *self, GstEvent *event)
{
  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_STREAM_START:
      gst_pad_push_event (self->srcpad, event);
      {
        g_autoptr (GstCaps) caps = gst_static_pad_template_get_caps (&src_template);
        gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
      }
      return;
    case GST_EVENT_SEGMENT:
      session_finish (self);
      gst_event_copy_segment (event, &self->out_segment);
      self->out_position = GST_CLOCK_TIME_NONE;
      break;
    case GST_EVENT_EOS:
      /* the utterance in progress is finalised before EOS goes on */
      session_finish (self);
      break;
    case GST_EVENT_GAP:
      /* no audio there: nothing to say about it either */
      {
        GstClockTime ts, duration;
        gst_event_parse_gap (event, &ts, &duration);
        if (self->session == NULL && GST_CLOCK_TIME_IS_VALID (ts))
          push_gap (self, GST_CLOCK_TIME_IS_VALID (duration) ? ts + duration : ts);
      }
      gst_event_unref (event);
      return;
    default:
      break;
    }
  if (GST_EVENT_TYPE (event) != GST_EVENT_STREAM_START)
    ensure_sticky (self, FALSE);
  gst_pad_push_event (self->srcpad, event);
}

static void
task_loop (gpointer data)
{
  GstLightningAsr *self = data;
  Item *item;
  gboolean reset;

  g_mutex_lock (&self->qlock);
  while (g_queue_is_empty (&self->queue) && !self->flushing && !self->reset_pending)
    g_cond_wait (&self->qcond, &self->qlock);
  if (self->flushing)
    {
      g_mutex_unlock (&self->qlock);
      gst_pad_pause_task (self->srcpad);
      return;
    }
  reset = self->reset_pending;
  self->reset_pending = FALSE;
  item = g_queue_pop_head (&self->queue);
  if (item != NULL && item->audio != NULL)
    self->queued_time -= MIN (self->queued_time, item->duration);
  self->task_live = self->live == 1;
  g_cond_broadcast (&self->qcond);
  g_mutex_unlock (&self->qlock);

  g_main_context_push_thread_default (self->context);
  if (reset)
    {
      session_drop (self);
      self->out_position = GST_CLOCK_TIME_NONE;
      self->out_discont = TRUE;
    }
  if (item != NULL)
    {
      if (item->audio != NULL)
        process_audio (self, item);
      else
        process_event (self, g_steal_pointer (&item->event));
      item_free (item);
    }
  g_main_context_pop_thread_default (self->context);
}

/* ---- streaming thread: input ------------------------------------------------------------- */

/* Adds @item (taken) to the queue; audio may wait for room (not live) or push the oldest out
 * (live).  Returns the task's flow result. */
static GstFlowReturn
enqueue (GstLightningAsr *self, Item *item)
{
  GstClockTime limit, dropped = 0;
  guint delay_ms = 0;
  gboolean warn = FALSE;
  GstFlowReturn ret;

  GST_OBJECT_LOCK (self);
  limit = self->latency_ms * GST_MSECOND;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->qlock);
  if (item->audio != NULL)
    {
      if (self->live == 1)
        {
          /* never wait: the oldest audio makes room */
          GList *l = self->queue.head;
          while (l != NULL && self->queued_time + item->duration > limit)
            {
              GList *next = l->next;
              Item *old = l->data;

              if (old->audio != NULL)
                {
                  delay_ms = MAX (delay_ms, (guint) ((self->queued_time + item->duration) / GST_MSECOND));
                  self->queued_time -= MIN (self->queued_time, old->duration);
                  dropped += old->duration;
                  g_queue_delete_link (&self->queue, l);
                  item_free (old);
                }
              l = next;
            }
        }
      else
        {
          while (!self->flushing && !g_queue_is_empty (&self->queue) &&
                 self->queued_time + item->duration > limit)
            g_cond_wait (&self->qcond, &self->qlock);
        }
      warn = dropped > 0 && !self->dropping;
      self->dropping = dropped > 0;
      /* the audio after a hole starts a new utterance and a DISCONT output */
      if (dropped > 0 || self->drop_pending)
        {
          item->discont = TRUE;
          self->drop_pending = FALSE;
        }
    }
  if (self->flushing)
    {
      ret = GST_FLOW_FLUSHING;
      g_mutex_unlock (&self->qlock);
      item_free (item);
      return ret;
    }
  if (item->audio != NULL)
    self->queued_time += item->duration;
  g_queue_push_tail (&self->queue, item);
  g_cond_broadcast (&self->qcond);
  ret = self->src_result;
  g_mutex_unlock (&self->qlock);

  if (dropped > 0)
    {
      gboolean changed = FALSE;

      GST_OBJECT_LOCK (self);
      if (delay_ms > self->max_observed_delay_ms)
        {
          self->max_observed_delay_ms = delay_ms;
          changed = TRUE;
        }
      GST_OBJECT_UNLOCK (self);
      if (changed)
        g_object_notify_by_pspec (G_OBJECT (self), props[PROP_MAX_OBSERVED_DELAY]);
      GST_DEBUG_OBJECT (self, "dropped %" G_GUINT64_FORMAT " ms of audio", dropped / GST_MSECOND);
    }
  if (warn)
    {
      /* once per run of drops, not once per buffer */
      GST_ELEMENT_WARNING (self, STREAM, FAILED,
                           ("Transcription is slower than real time: dropping the oldest audio"),
                           ("more than latency (%" G_GUINT64_FORMAT " ms) of audio was waiting",
                            limit / GST_MSECOND));
    }
  return ret;
}

static gboolean
query_live (GstLightningAsr *self)
{
  g_autoptr (GstQuery) query = gst_query_new_latency ();
  gboolean live = FALSE;

  if (gst_pad_peer_query (self->sinkpad, query))
    gst_query_parse_latency (query, &live, NULL, NULL);
  return live;
}

static GstFlowReturn
gst_lightning_asr_chain (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (parent);
  GstMapInfo map;
  GArray *mono;
  Item *item;
  guint channels, frames;
  gboolean live;

  if (!self->have_info)
    {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No caps before the first buffer"), (NULL));
      gst_buffer_unref (buffer);
      return GST_FLOW_NOT_NEGOTIATED;
    }
  g_mutex_lock (&self->qlock);
  live = self->live;
  g_mutex_unlock (&self->qlock);
  if (live < 0)
    {
      live = query_live (self);
      g_mutex_lock (&self->qlock);
      self->live = live;
      g_mutex_unlock (&self->qlock);
      GST_INFO_OBJECT (self, "upstream is %slive", live ? "" : "not ");
    }

  if (!GST_BUFFER_PTS_IS_VALID (buffer))
    {
      buffer = gst_buffer_make_writable (buffer);
      GST_BUFFER_PTS (buffer) = GST_CLOCK_TIME_IS_VALID (self->next_pts) ? self->next_pts
                                                                         : self->in_segment.start;
    }
  buffer = gst_audio_buffer_clip (buffer, &self->in_segment, GST_AUDIO_INFO_RATE (&self->info),
                                  GST_AUDIO_INFO_BPF (&self->info));
  if (buffer == NULL)
    return GST_FLOW_OK; /* outside the segment */

  channels = GST_AUDIO_INFO_CHANNELS (&self->info);
  gst_buffer_map (buffer, &map, GST_MAP_READ);
  frames = map.size / GST_AUDIO_INFO_BPF (&self->info);
  mono = g_array_sized_new (FALSE, FALSE, sizeof (float), frames);
  g_array_set_size (mono, frames);
  if (GST_AUDIO_INFO_FORMAT (&self->info) == GST_AUDIO_FORMAT_S16LE)
    {
      const gint16 *in = (const gint16 *) map.data;
      for (guint f = 0; f < frames; f++)
        {
          float sum = 0.0f;
          for (guint c = 0; c < channels; c++)
            sum += in[f * channels + c] / 32768.0f;
          g_array_index (mono, float, f) = sum / channels;
        }
    }
  else
    {
      const float *in = (const float *) map.data;
      for (guint f = 0; f < frames; f++)
        {
          float sum = 0.0f;
          for (guint c = 0; c < channels; c++)
            {
              float v = in[f * channels + c];
              sum += (v == v) ? CLAMP (v, -1.0f, 1.0f) : 0.0f; /* NaN counts as silence */
            }
          g_array_index (mono, float, f) = sum / channels;
        }
    }
  gst_buffer_unmap (buffer, &map);

  item = g_new0 (Item, 1);
  item->rate = GST_AUDIO_INFO_RATE (&self->info);
  item->pts = GST_BUFFER_PTS (buffer);
  item->duration = gst_util_uint64_scale_int (frames, GST_SECOND, item->rate);
  item->discont = FALSE;
  item->audio = g_bytes_new_take (mono->data, (gsize) frames * sizeof (float));
  g_array_free (mono, FALSE);
  self->next_pts = item->pts + item->duration;
  gst_buffer_unref (buffer);
  if (frames == 0)
    {
      item_free (item);
      return GST_FLOW_OK;
    }
  return enqueue (self, item);
}

static void
clear_queue (GstLightningAsr *self)
{
  g_queue_clear_full (&self->queue, (GDestroyNotify) item_free);
  g_queue_init (&self->queue);
  self->queued_time = 0;
  self->drop_pending = FALSE;
  self->dropping = FALSE;
}

static gboolean
gst_lightning_asr_sink_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (parent);

  switch (GST_EVENT_TYPE (event))
    {
    case GST_EVENT_CAPS:
      {
        GstCaps *caps;
        GstAudioInfo info;

        gst_event_parse_caps (event, &caps);
        if (!gst_audio_info_from_caps (&info, caps))
          {
            gst_event_unref (event);
            return FALSE;
          }
        self->info = info;
        self->have_info = TRUE;
        gst_event_unref (event); /* the src caps are fixed, sent after stream-start */
        return TRUE;
      }
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment (event, &self->in_segment);
      if (self->in_segment.format != GST_FORMAT_TIME)
        {
          GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Only TIME segments are supported"), (NULL));
          gst_event_unref (event);
          return FALSE;
        }
      self->next_pts = GST_CLOCK_TIME_NONE;
      g_mutex_lock (&self->qlock);
      self->live = -1; /* asked again at the next buffer */
      g_mutex_unlock (&self->qlock);
      break;
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->qlock);
      self->flushing = TRUE;
      g_cond_broadcast (&self->qcond);
      g_mutex_unlock (&self->qlock);
      gst_pad_push_event (self->srcpad, event);
      gst_pad_pause_task (self->srcpad); /* waits for the task to leave its loop */
      return TRUE;
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->qlock);
      clear_queue (self);
      self->flushing = FALSE;
      self->reset_pending = TRUE;
      self->src_result = GST_FLOW_OK;
      g_mutex_unlock (&self->qlock);
      gst_segment_init (&self->in_segment, GST_FORMAT_TIME);
      self->next_pts = GST_CLOCK_TIME_NONE;
      gst_pad_push_event (self->srcpad, event);
      return gst_pad_start_task (self->srcpad, task_loop, self, NULL);
    default:
      break;
    }
  if (!GST_EVENT_IS_SERIALIZED (event))
    return gst_pad_event_default (pad, parent, event);
  {
    Item *item = g_new0 (Item, 1);
    gboolean eos = GST_EVENT_TYPE (event) == GST_EVENT_EOS;
    GstFlowReturn ret;

    item->event = event;
    ret = enqueue (self, item);
    /* EOS after an error upstream of us already reported is still accepted */
    return ret != GST_FLOW_FLUSHING || !eos;
  }
}

static gboolean
gst_lightning_asr_src_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (parent);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY)
    {
      gboolean live;
      GstClockTime min, max, ours;

      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      if (live)
        {
          GST_OBJECT_LOCK (self);
          ours = (self->latency_ms + self->lateness_ms) * GST_MSECOND;
          GST_OBJECT_UNLOCK (self);
          min += ours;
          if (GST_CLOCK_TIME_IS_VALID (max))
            max += ours;
          gst_query_set_latency (query, live, min, max);
        }
      GST_DEBUG_OBJECT (self, "latency: live %d, min %" GST_TIME_FORMAT, live, GST_TIME_ARGS (min));
      return TRUE;
    }
  return gst_pad_query_default (pad, parent, query);
}

static gboolean
gst_lightning_asr_src_activate_mode (GstPad *pad, GstObject *parent, GstPadMode mode,
                                     gboolean active)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (parent);

  if (mode != GST_PAD_MODE_PUSH)
    return FALSE;
  if (active)
    {
      g_mutex_lock (&self->qlock);
      self->flushing = FALSE;
      self->src_result = GST_FLOW_OK;
      self->live = -1;
      g_mutex_unlock (&self->qlock);
      return gst_pad_start_task (pad, task_loop, self, NULL);
    }
  g_mutex_lock (&self->qlock);
  self->flushing = TRUE;
  self->src_result = GST_FLOW_FLUSHING;
  g_cond_broadcast (&self->qcond);
  g_mutex_unlock (&self->qlock);
  return gst_pad_stop_task (pad);
}

/* ---- state ------------------------------------------------------------------------------- */

/* NULL→READY: the Silero model the session will use (*@vad_model: the property, else the
 * server configuration's [vad] model; NULL = the engine's own detector), or FALSE after an
 * ERROR. */
static gboolean
resolve_vad (GstLightningAsr *self, const char *engine_name, const char *vad, char **vad_model)
{
  gboolean whisper = g_strcmp0 (engine_name, "whisper") == 0;

  if (g_strcmp0 (vad, "auto") != 0 && g_strcmp0 (vad, "silero") != 0 &&
      g_strcmp0 (vad, "engine") != 0)
    {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                         ("Unknown vad '%s' (auto, silero or engine)", vad), (NULL));
      return FALSE;
    }
  if (g_strcmp0 (vad, "engine") == 0)
    g_clear_pointer (vad_model, g_free);
  else if (*vad_model == NULL)
    *vad_model = gst_lightning_asr_model_default_vad_model ();
  if (*vad_model == NULL && (whisper || g_strcmp0 (vad, "silero") == 0))
    {
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
                         ("%s needs a Silero voice-activity model: set vad-model (or [vad] "
                          "model in the server's configuration)",
                          whisper ? "The whisper engine" : "vad=silero"), (NULL));
      return FALSE;
    }
  return TRUE;
}

static GstStateChangeReturn
gst_lightning_asr_change_state (GstElement *element, GstStateChange transition)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *engine_name = NULL, *model = NULL, *language = NULL;
      g_autofree char *vad = NULL, *vad_model = NULL;

      GST_OBJECT_LOCK (self);
      engine_name = g_strdup (self->engine_name);
      model = g_strdup (self->model);
      language = g_ascii_strdown (self->language_code, 2);
      vad = g_strdup (self->vad);
      vad_model = g_strdup (self->vad_model);
      GST_OBJECT_UNLOCK (self);
      if (!resolve_vad (self, engine_name, vad, &vad_model))
        return GST_STATE_CHANGE_FAILURE;
      self->silero = vad_model != NULL;
      self->engine = gst_lightning_asr_model_get (element, engine_name, model, vad_model, &error);
      if (self->engine == NULL)
        {
          if (g_error_matches (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND))
            GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
                               ("Could not load the speech model: %s", error->message), (NULL));
          else if (error->domain == GST_RESOURCE_ERROR)
            GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
                               ("Could not load the speech model: %s", error->message), (NULL));
          else
            GST_ELEMENT_ERROR (self, CORE, MISSING_PLUGIN,
                               ("Could not load the speech engine: %s", error->message), (NULL));
          return GST_STATE_CHANGE_FAILURE;
        }
      if (!lmd_engine_supports_language (self->engine, language))
        {
          GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
                             ("The %s model does not transcribe language '%s'",
                              lmd_engine_get_model_name (self->engine), language), (NULL));
          g_clear_object (&self->engine);
          return GST_STATE_CHANGE_FAILURE;
        }
    }
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    {
      gst_segment_init (&self->in_segment, GST_FORMAT_TIME);
      gst_segment_init (&self->out_segment, GST_FORMAT_TIME);
      self->next_pts = GST_CLOCK_TIME_NONE;
      self->out_position = GST_CLOCK_TIME_NONE;
      self->out_discont = TRUE;
      self->have_info = FALSE;
      GST_OBJECT_LOCK (self);
      self->max_observed_delay_ms = 0;
      GST_OBJECT_UNLOCK (self);
    }

  ret = GST_ELEMENT_CLASS (gst_lightning_asr_parent_class)->change_state (element, transition);

  switch (transition)
    {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* the pads are deactivated: the task has stopped */
      g_main_context_push_thread_default (self->context);
      session_drop (self);
      g_main_context_pop_thread_default (self->context);
      g_mutex_lock (&self->qlock);
      clear_queue (self);
      self->reset_pending = FALSE;
      g_mutex_unlock (&self->qlock);
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      g_clear_object (&self->engine);
      break;
    default:
      break;
    }
  return ret;
}

/* ---- properties -------------------------------------------------------------------------- */

static void
gst_lightning_asr_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (object);
  gboolean latency_changed = FALSE;

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_LANGUAGE_CODE:
      g_free (self->language_code);
      self->language_code = g_value_dup_string (value);
      if (self->language_code == NULL || strlen (self->language_code) < 2)
        {
          g_free (self->language_code);
          self->language_code = g_strdup (DEFAULT_LANGUAGE_CODE);
        }
      break;
    case PROP_LATENCY:
      latency_changed = self->latency_ms != g_value_get_uint (value);
      self->latency_ms = g_value_get_uint (value);
      break;
    case PROP_LATENESS:
      latency_changed = self->lateness_ms != g_value_get_uint (value);
      self->lateness_ms = g_value_get_uint (value);
      break;
    case PROP_ENGINE:
      g_free (self->engine_name);
      self->engine_name = g_value_dup_string (value);
      if (self->engine_name == NULL)
        self->engine_name = g_strdup (DEFAULT_ENGINE);
      break;
    case PROP_MODEL:
      g_free (self->model);
      self->model = g_value_dup_string (value);
      break;
    case PROP_INTERIM_RESULTS:
      self->interim_results = g_value_get_boolean (value);
      break;
    case PROP_EOU_TIMEOUT:
      self->eou_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_VAD:
      g_free (self->vad);
      self->vad = g_value_dup_string (value);
      if (self->vad == NULL)
        self->vad = g_strdup (DEFAULT_VAD);
      break;
    case PROP_VAD_MODEL:
      g_free (self->vad_model);
      self->vad_model = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
  if (latency_changed)
    gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
}

static void
gst_lightning_asr_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id)
    {
    case PROP_LANGUAGE_CODE:
      g_value_set_string (value, self->language_code);
      break;
    case PROP_LATENCY:
      g_value_set_uint (value, self->latency_ms);
      break;
    case PROP_LATENESS:
      g_value_set_uint (value, self->lateness_ms);
      break;
    case PROP_MAX_OBSERVED_DELAY:
      g_value_set_uint (value, self->max_observed_delay_ms);
      break;
    case PROP_ENGINE:
      g_value_set_string (value, self->engine_name);
      break;
    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;
    case PROP_INTERIM_RESULTS:
      g_value_set_boolean (value, self->interim_results);
      break;
    case PROP_EOU_TIMEOUT:
      g_value_set_uint (value, self->eou_timeout_ms);
      break;
    case PROP_VAD:
      g_value_set_string (value, self->vad);
      break;
    case PROP_VAD_MODEL:
      g_value_set_string (value, self->vad_model);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
  GST_OBJECT_UNLOCK (self);
}

/* ---- GObject ----------------------------------------------------------------------------- */

static void
gst_lightning_asr_finalize (GObject *object)
{
  GstLightningAsr *self = GST_LIGHTNING_ASR (object);

  g_main_context_push_thread_default (self->context);
  session_drop (self);
  g_main_context_pop_thread_default (self->context);
  clear_queue (self);
  g_array_unref (self->chunks);
  g_main_context_unref (self->context);
  g_clear_object (&self->engine);
  g_free (self->language_code);
  g_free (self->engine_name);
  g_free (self->model);
  g_free (self->vad);
  g_free (self->vad_model);
  g_mutex_clear (&self->qlock);
  g_cond_clear (&self->qcond);

  G_OBJECT_CLASS (gst_lightning_asr_parent_class)->finalize (object);
}

static void
gst_lightning_asr_class_init (GstLightningAsrClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY;

  object_class->set_property = gst_lightning_asr_set_property;
  object_class->get_property = gst_lightning_asr_get_property;
  object_class->finalize = gst_lightning_asr_finalize;
  element_class->change_state = gst_lightning_asr_change_state;

  props[PROP_LANGUAGE_CODE] = g_param_spec_string ("language-code", "Language code",
      "The language of the speech: an ISO 639-1 code, alone or with a region (\"en\", "
      "\"en-US\"); the engine's model must know it", DEFAULT_LANGUAGE_CODE, rw);
  props[PROP_LATENCY] = g_param_spec_uint ("latency", "Latency",
      "Milliseconds of delay reported in a live pipeline: every word arrives within this "
      "time of its audio (utterances are cut to fit), and the input queue holds at most this "
      "much audio", 1000, G_MAXUINT / 2, DEFAULT_LATENCY_MS,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  props[PROP_LATENESS] = g_param_spec_uint ("lateness", "Lateness",
      "Milliseconds added to the output timestamps (and to the reported latency)", 0,
      G_MAXUINT / 2, DEFAULT_LATENESS_MS,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  props[PROP_MAX_OBSERVED_DELAY] = g_param_spec_uint ("max-observed-delay", "Maximum observed delay",
      "Live pipelines: the largest delay seen, in milliseconds, between the end of a word's "
      "audio (running time) and the moment it was pushed, or of the audio waiting when some "
      "had to be dropped; notified when it grows", 0, G_MAXUINT, 0,
      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_ENGINE] = g_param_spec_string ("engine", "Engine",
      "The recognition engine: \"sphinx\" (CMU PocketSphinx, the default) or \"whisper\" "
      "(needs model)", DEFAULT_ENGINE, rw);
  props[PROP_MODEL] = g_param_spec_string ("model", "Model",
      "sphinx: the acoustic model directory (default "
      "/usr/share/pocketsphinx/model/en-us/en-us); whisper: the model file. Loaded once per "
      "process at the first NULL to READY", NULL, rw);
  props[PROP_INTERIM_RESULTS] = g_param_spec_boolean ("interim-results", "Interim results",
      "Post a message for each change of the utterance's hypothesis (is-final false) as well "
      "as for finals", DEFAULT_INTERIM_RESULTS,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  props[PROP_EOU_TIMEOUT] = g_param_spec_uint ("eou-timeout", "End of utterance timeout",
      "Milliseconds of silence (by the voice-activity detector) that end an utterance and "
      "make its words final (up to 10000); 0: the detector's default, 200 with Silero, 800 "
      "with the engine's own", 0, 10000, DEFAULT_EOU_TIMEOUT_MS,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  props[PROP_VAD] = g_param_spec_string ("vad", "Voice-activity detection",
      "What finds the utterances: \"silero\" (the Silero model of vad-model), \"engine\" "
      "(the engine's own detector; sphinx only), or \"auto\": Silero when a model is set or "
      "configured, else the engine's", DEFAULT_VAD, rw);
  props[PROP_VAD_MODEL] = g_param_spec_string ("vad-model", "Voice-activity model",
      "The Silero model file (ggml) that finds the utterances; unset: [vad] model of the "
      "server's default configuration file, if any. Needed by the whisper engine", NULL, rw);
  g_object_class_install_properties (object_class, N_PROPS, props);

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "Lightning speech recognizer",
      "Audio/Text/Filter",
      "Transcribes speech offline with the lightning-mediad engines: one final word per "
      "buffer, timestamped; the element message \"lightningasr\" for every interim and final "
      "result, with transcript (string), is-final (boolean), start and end (guint64 running "
      "time), confidence (double 0..1), words (list of structures \"word\": word, start, end, "
      "confidence) and language-code (string); the custom downstream event "
      "rstranscribe/final-transcript after each final",
      "lightning-mediad");
}

static void
gst_lightning_asr_init (GstLightningAsr *self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_lightning_asr_chain));
  gst_pad_set_event_function (self->sinkpad, GST_DEBUG_FUNCPTR (gst_lightning_asr_sink_event));
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad, GST_DEBUG_FUNCPTR (gst_lightning_asr_src_query));
  gst_pad_set_activatemode_function (self->srcpad,
                                     GST_DEBUG_FUNCPTR (gst_lightning_asr_src_activate_mode));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->language_code = g_strdup (DEFAULT_LANGUAGE_CODE);
  self->latency_ms = DEFAULT_LATENCY_MS;
  self->lateness_ms = DEFAULT_LATENESS_MS;
  self->engine_name = g_strdup (DEFAULT_ENGINE);
  self->interim_results = DEFAULT_INTERIM_RESULTS;
  self->eou_timeout_ms = DEFAULT_EOU_TIMEOUT_MS;
  self->vad = g_strdup (DEFAULT_VAD);

  g_mutex_init (&self->qlock);
  g_cond_init (&self->qcond);
  g_queue_init (&self->queue);
  self->live = -1;
  self->src_result = GST_FLOW_FLUSHING;
  self->context = g_main_context_new ();
  self->chunks = g_array_new (FALSE, FALSE, sizeof (Chunk));
  self->utterance_start = -1.0;
  gst_segment_init (&self->in_segment, GST_FORMAT_TIME);
  gst_segment_init (&self->out_segment, GST_FORMAT_TIME);
  self->out_position = GST_CLOCK_TIME_NONE;
  self->next_pts = GST_CLOCK_TIME_NONE;
}

/* ---- plugin ------------------------------------------------------------------------------ */

static gboolean
plugin_init (GstPlugin *plugin)
{
  GST_DEBUG_CATEGORY_INIT (gst_lightning_asr_debug, "lightningasr", 0, "Lightning speech recognizer");
  gst_lightning_asr_model_set_plugin_file (gst_plugin_get_filename (plugin));
  return GST_ELEMENT_REGISTER (lightningasr, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, lightningasr,
                   "Offline speech recognition with the lightning-mediad engines", plugin_init,
                   "0.1", "MIT/X11", "lightning-mediad", "https://github.com/lightning-mediad")
