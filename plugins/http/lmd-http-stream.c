/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-stream.c — one live transcription over WebSocket, and the hub that runs them.
 *
 * Messages sent to the client (text frames, JSON):
 *   interim  {"session_id","transcript","is_final":false,"is_last":false,"start"}
 *   final    {"session_id","transcript","is_final":true,"is_last":false,"start","end",
 *             "confidence","language","words":[{"word","start","end","confidence"}]}
 *   last     {"session_id","transcript":"","is_final":true,"is_last":true}
 *   events   {"type":"speech_started"|"speech_ended","session_id","timestamp"} (vad_events)
 *   error    {"type":"error","code","error"[,"param"]} then a close:
 *            INVALID_PARAMETER (bad query parameter or control message, JSON nested deeper
 *            than LMD_JSON_MAX_DEPTH) 1008,
 *            FILE_TOO_LARGE (binary frame over max_frame_bytes, control message over
 *            LMD_JSON_MAX_CONTROL_BYTES) 1009,
 *            RATE_LIMIT_EXCEEDED (more than max_queue_seconds of audio waiting) 1008,
 *            TIMEOUT (no audio for idle_timeout_s) 1008,
 *            SERVICE_UNAVAILABLE (max_streams open, server draining, no streaming engine) 1008,
 *            INTERNAL 1011.
 *   (1013 "try again later" would fit an overloaded server better, but libsoup clients
 *   reject it as a protocol error (1002), so the contract's 1008 is used.)
 * After an error raised by the client's input, the audio already received is still decoded:
 * its finals and the last message come before the close.  Times are seconds since the first
 * audio byte of the session.
 *
 * The transcription itself (conversion, endpointing, interims, finals, the per-stream queue)
 * is an LmdLiveSession (server/lmd-live-session.h) decoded on the hub's LmdLivePool: this
 * file is the WebSocket adapter that turns frames into its input and its events into
 * messages.
 *
 * Back-pressure.  libsoup offers no way to stop reading a WebSocket, so the queue of each
 * stream is bounded by the audio time it holds: a client that sends faster than the engine
 * decodes is served at the engine's speed until max_queue_seconds of audio wait, then gets
 * RATE_LIMIT_EXCEEDED (the queued audio is still finalised).
 */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-stream.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-http-auth.h"
#include "lmd-http-response.h"
#include "lmd-http-stream-control.h"
#include "lmd-http-stream-dialect.h"
#include "lmd-audio-decoder.h"
#include "lmd-json.h"
#include "lmd-json-writer.h"
#include "lmd-live-pool.h"
#include "lmd-live-session.h"
#include "lmd-log.h"
#include "lmd-pcm-converter.h"

#define STREAM_GROUP "streaming"

#define CLOSE_NORMAL 1000
#define CLOSE_POLICY 1008
#define CLOSE_TOO_BIG 1009
#define CLOSE_INTERNAL 1011
#define CLOSE_TRY_AGAIN CLOSE_POLICY /* see the header comment */

struct _LmdHttpStreams {
  LmdStreamConfig config;
  LmdRouter *router;          /* borrowed */
  GMainContext *context;      /* owned ref: where messages are sent */
  LmdLivePool *pool;          /* owned: decodes every stream */
  GHashTable *active;         /* owned; LmdHttpStream → itself (a reference), main context */
};

typedef enum {
  STATE_ADMITTING,            /* waiting for the license service: frames are held */
  STATE_OPEN,                 /* accepting audio */
  STATE_CLOSING,              /* close requested or error sent: input ignored */
  STATE_CLOSED,               /* the connection is gone */
} StreamState;

struct _LmdHttpStream {
  GObject parent_instance;

  /* set at accept, read-only afterwards */
  LmdHttpStreams *hub;        /* owned ref */
  char *session_id;           /* owned */
  char *request_id;           /* owned */
  char *api_key;              /* owned; nullable */
  LmdLicenseTicket *ticket;   /* owned: admission by the license service while open */
  LmdEngine *engine;          /* owned ref */
  char *language;             /* owned */
  guint sample_rate;
  LmdPcmEncoding encoding;
  gboolean word_timestamps;
  gboolean interim_results;
  gboolean vad_events;
  guint eou_timeout_ms;
  LmdVadOptions vad;          /* vad=silero|true|false and the vad_* settings */
  gint64 opened_at;           /* monotonic µs */
  const LmdHttpStreamDialect *dialect; /* nullable: the project's own messages (this file) */
  gpointer dialect_state;     /* owned by the dialect (free_state) */
  gboolean container;         /* the audio is a container, decoded by `decoder` */
  LmdAudioStream *decoder;    /* owned, nullable: the container's decoder, once admitted */

  /* main context only */
  SoupWebsocketConnection *conn; /* owned ref; NULL once closed */
  gulong message_id, closed_id;
  StreamState state;
  GSource *idle_source;      /* owned, nullable: attached to the hub's context */
  gint64 last_audio_at;       /* monotonic µs */
  guint64 bytes_received;
  guint64 decoded_samples;    /* a container's: samples at 16 kHz its decoder delivered */
  GChecksum *audio_sha256;    /* owned: SHA-256 of the audio bytes received */
  GQueue held;                /* HeldFrame *: received while admitting, replayed once admitted */
  LmdLiveSession *live;       /* owned, nullable until admitted; cancelled when the connection goes */
  gushort close_code;         /* the close that follows the last message */
};

G_DEFINE_FINAL_TYPE (LmdHttpStream, lmd_http_stream, G_TYPE_OBJECT)

/* ---- configuration ------------------------------------------------------------------- */

gboolean
lmd_stream_config_load (LmdStreamConfig *config, GKeyFile *key_file, GError **error)
{
  gint64 max_streams, idle, frame, workers, eou;
  double queue_s, utterance_s;
  gboolean interim, vad_events;

  if (!lmd_config_get_int (key_file, STREAM_GROUP, "max_streams", 16, &max_streams, error) ||
      !lmd_config_get_int (key_file, STREAM_GROUP, "idle_timeout_s", 60, &idle, error) ||
      !lmd_config_get_int (key_file, STREAM_GROUP, "max_frame_bytes", 65536, &frame, error) ||
      !lmd_config_get_int (key_file, STREAM_GROUP, "workers", g_get_num_processors (), &workers, error) ||
      !lmd_config_get_int (key_file, STREAM_GROUP, "eou_timeout_ms", 0, &eou, error) ||
      !lmd_config_get_double (key_file, STREAM_GROUP, "max_queue_seconds", 30.0, &queue_s, error) ||
      !lmd_config_get_double (key_file, STREAM_GROUP, "max_utterance_s", 30.0, &utterance_s, error) ||
      !lmd_config_get_boolean (key_file, STREAM_GROUP, "interim_results", TRUE, &interim, error) ||
      !lmd_config_get_boolean (key_file, STREAM_GROUP, "vad_events", FALSE, &vad_events, error))
    return FALSE;
#define CHECK_RANGE(key, value, lo, hi)                                                        \
  if (!((value) >= (lo) && (value) <= (hi)))                                                   \
    {                                                                                          \
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,                    \
                   "config [" STREAM_GROUP "] " key ": out of range (%g to %g)", (double) (lo), \
                   (double) (hi));                                                             \
      return FALSE;                                                                            \
    }
  CHECK_RANGE ("max_streams", max_streams, 0, 10000);
  CHECK_RANGE ("idle_timeout_s", idle, 1, 86400);
  CHECK_RANGE ("max_frame_bytes", frame, 1024, 16 * 1024 * 1024);
  CHECK_RANGE ("workers", workers, 1, 256);
  if (eou != 0) /* absent: the live session's default for the stream's detector */
    CHECK_RANGE ("eou_timeout_ms", eou, 100, 10000);
  CHECK_RANGE ("max_queue_seconds", queue_s, 0.5, 3600.0);
  CHECK_RANGE ("max_utterance_s", utterance_s, 5.0, 600.0);
#undef CHECK_RANGE
  config->max_streams = (guint) max_streams;
  config->idle_timeout_s = (guint) idle;
  config->max_frame_bytes = (guint) frame;
  config->workers = (guint) workers;
  config->eou_timeout_ms = (guint) eou;
  config->max_queue_seconds = queue_s;
  config->max_utterance_s = utterance_s;
  config->interim_results = interim;
  config->vad_events = vad_events;
  return TRUE;
}

/* ---- hub --------------------------------------------------------------------------------- */

LmdHttpStreams *
lmd_http_streams_new (const LmdStreamConfig *config, LmdRouter *router)
{
  LmdHttpStreams *self = g_atomic_rc_box_new0 (LmdHttpStreams);

  self->config = *config;
  self->router = router;
  self->context = g_main_context_ref_thread_default ();
  self->pool = lmd_live_pool_new (config->workers);
  self->active = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  return self;
}

LmdHttpStreams *
lmd_http_streams_ref (LmdHttpStreams *self)
{
  return g_atomic_rc_box_acquire (self);
}

static void
streams_clear (LmdHttpStreams *self)
{
  /* every stream holds a reference to the hub, so no stream is left */
  lmd_live_pool_unref (self->pool);
  g_hash_table_unref (self->active);
  g_main_context_unref (self->context);
}

void
lmd_http_streams_unref (LmdHttpStreams *self)
{
  g_atomic_rc_box_release_full (self, (GDestroyNotify) streams_clear);
}

guint
lmd_http_streams_get_active (LmdHttpStreams *self)
{
  return g_hash_table_size (self->active);
}

guint
lmd_http_streams_get_queue_depth (LmdHttpStreams *self)
{
  return lmd_live_pool_get_queued (self->pool);
}

/* ---- messages (main context) ------------------------------------------------------------- */

/* Sends @text (taken, nullable), then closes with @close_code when it is not 0. */
static void
send (LmdHttpStream *self, char *text, gushort close_code)
{
  if (self->conn != NULL &&
      soup_websocket_connection_get_state (self->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      if (text != NULL)
        soup_websocket_connection_send_text (self->conn, text);
      if (close_code != 0)
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id, "stream %s: closing (%u)",
                           self->session_id, close_code);
          soup_websocket_connection_close (self->conn, close_code, NULL);
        }
    }
  g_free (text);
}

/* No more input: a container's decoder drains first (its end closes the live session), else
 * the live session drains, finalises and sends END. */
static void
end_input (LmdHttpStream *self)
{
  if (self->decoder != NULL)
    lmd_audio_stream_finish (self->decoder);
  else if (self->live != NULL)
    lmd_live_session_close (self->live);
}

/* Seconds of audio received: of raw audio, its bytes; of a container, what its decoder has
 * delivered (compressed bytes say nothing of a duration).  The licence meters this. */
static double
received_seconds (LmdHttpStream *self)
{
  static const guint bytes_per_sample[] = { [LMD_PCM_LINEAR16] = 2, [LMD_PCM_LINEAR32] = 4,
                                            [LMD_PCM_MULAW] = 1, [LMD_PCM_ALAW] = 1 };

  if (self->container)
    return (double) self->decoded_samples / 16000.0;
  return (double) self->bytes_received /
         (bytes_per_sample[self->encoding] * (double) MAX (self->sample_rate, 1));
}

/* What a dialect's messages say about the stream. */
static void
stream_info (LmdHttpStream *self, LmdHttpStreamInfo *info)
{

  info->session_id = self->session_id;
  info->request_id = self->request_id;
  info->model_name = self->engine != NULL ? lmd_engine_get_model_name (self->engine) : NULL;
  info->language = self->language;
  info->audio_seconds = received_seconds (self);
  info->audio_sha256 = NULL;
}

static void
dialect_send (char *text, gpointer user_data)
{
  send (user_data, text, 0);
}

/* (transfer full) (nullable) an error message in the stream's dialect */
static char *
error_message (LmdHttpStream *self, const char *code, const char *param, const char *message)
{
  LmdHttpStreamInfo info;

  if (self->dialect == NULL)
    return lmd_http_stream_error_json (code, param, message);
  stream_info (self, &info);
  return self->dialect->write_error (self->dialect_state, &info, code, param, message);
}

/* Main context: answers an error caused by the client, then decodes what was received,
 * sends the last message and closes with @close_code. */
static void
fail_stream (LmdHttpStream *self, const char *code, const char *param, const char *message,
             gushort close_code)
{
  if (self->state != STATE_OPEN)
    return;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "stream %s: %s: %s (close %u)",
                   self->session_id, code, message, close_code);
  self->state = STATE_CLOSING;
  send (self, error_message (self, code, param, message), 0);
  self->close_code = close_code;
  end_input (self);
}

static void
send_event (LmdHttpStream *self, const char *type, double timestamp)
{
  LmdJsonWriter *w;

  if (!self->vad_events)
    return;
  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "type");
  lmd_json_writer_string (w, type);
  lmd_json_writer_key (w, "session_id");
  lmd_json_writer_string (w, self->session_id);
  lmd_json_writer_key (w, "timestamp");
  lmd_json_writer_double (w, MAX (timestamp, 0.0), 2);
  lmd_json_writer_end_object (w);
  send (self, lmd_json_writer_finish (w), 0);
}

static void
send_interim (LmdHttpStream *self, const char *text, double start)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "session_id");
  lmd_json_writer_string (w, self->session_id);
  lmd_json_writer_key (w, "transcript");
  lmd_json_writer_string (w, text);
  lmd_json_writer_key (w, "is_final");
  lmd_json_writer_boolean (w, FALSE);
  lmd_json_writer_key (w, "is_last");
  lmd_json_writer_boolean (w, FALSE);
  lmd_json_writer_key (w, "start");
  lmd_json_writer_double (w, MAX (start, 0.0), 2);
  lmd_json_writer_end_object (w);
  send (self, lmd_json_writer_finish (w), 0);
}

static void
send_final (LmdHttpStream *self, const LmdTranscript *transcript, double start, double end)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "session_id");
  lmd_json_writer_string (w, self->session_id);
  lmd_json_writer_key (w, "transcript");
  lmd_json_writer_string (w, transcript->text != NULL ? transcript->text : "");
  lmd_json_writer_key (w, "is_final");
  lmd_json_writer_boolean (w, TRUE);
  lmd_json_writer_key (w, "is_last");
  lmd_json_writer_boolean (w, FALSE);
  lmd_json_writer_key (w, "start");
  lmd_json_writer_double (w, MAX (start, 0.0), 2);
  lmd_json_writer_key (w, "end");
  lmd_json_writer_double (w, MAX (end, start), 2);
  lmd_json_writer_key (w, "confidence");
  lmd_json_writer_double (w, transcript->confidence, 2);
  lmd_json_writer_key (w, "language");
  lmd_json_writer_string (w, self->language);
  if (self->word_timestamps)
    lmd_http_write_words (w, transcript, 2);
  lmd_json_writer_end_object (w);
  send (self, lmd_json_writer_finish (w), 0);
}

static void
send_last (LmdHttpStream *self, double duration)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "session_id");
  lmd_json_writer_string (w, self->session_id);
  lmd_json_writer_key (w, "transcript");
  lmd_json_writer_string (w, "");
  lmd_json_writer_key (w, "is_final");
  lmd_json_writer_boolean (w, TRUE);
  lmd_json_writer_key (w, "is_last");
  lmd_json_writer_boolean (w, TRUE);
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, duration, 2);
  lmd_json_writer_end_object (w);
  send (self, lmd_json_writer_finish (w), self->close_code != 0 ? self->close_code : CLOSE_NORMAL);
}

/* The live session's events, on the hub's context. */
static void
on_live_event (LmdLiveSession *live, const LmdLiveEvent *event, gpointer user_data)
{
  LmdHttpStream *self = user_data;

  if (self->dialect != NULL && event->type != LMD_LIVE_EVENT_ERROR)
    {
      LmdHttpStreamInfo info;
      g_autoptr (GChecksum) sha256 = NULL;

      stream_info (self, &info);
      if (event->type == LMD_LIVE_EVENT_END)
        {
          /* the stream's last message names the audio it received */
          sha256 = g_checksum_copy (self->audio_sha256);
          info.audio_sha256 = g_checksum_get_string (sha256);
        }
      self->dialect->write_event (self->dialect_state, &info, event, dialect_send, self);
      if (event->type == LMD_LIVE_EVENT_END)
        send (self, NULL, self->close_code != 0 ? self->close_code : CLOSE_NORMAL);
      return;
    }
  switch (event->type)
    {
    case LMD_LIVE_EVENT_SPEECH_STARTED:
      send_event (self, "speech_started", event->start);
      break;
    case LMD_LIVE_EVENT_SPEECH_ENDED:
      send_event (self, "speech_ended", event->start);
      break;
    case LMD_LIVE_EVENT_INTERIM:
      send_interim (self, event->text, event->start);
      break;
    case LMD_LIVE_EVENT_FINAL:
      send_final (self, event->transcript, event->start, event->end);
      break;
    case LMD_LIVE_EVENT_ERROR:
      {
        LmdErrorCode code = lmd_error_classify (event->error);

        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id, "stream %s: %s", self->session_id,
                         event->error->message);
        self->state = MAX (self->state, STATE_CLOSING);
        send (self, error_message (self, lmd_error_code_name (code), NULL, event->error->message),
              code == LMD_ERROR_SERVICE_UNAVAILABLE ? CLOSE_TRY_AGAIN : CLOSE_INTERNAL);
      }
      break;
    case LMD_LIVE_EVENT_END:
      send_last (self, event->duration);
      break;
    }
}

/* ---- connection (main context) ------------------------------------------------------------ */

static gboolean
on_idle_check (gpointer data)
{
  LmdHttpStream *self = data;
  gint64 idle_us;
  guint timeout_s = self->dialect != NULL && self->dialect->idle_timeout_s > 0 ? self->dialect->idle_timeout_s
                                                                               : self->hub->config.idle_timeout_s;

  /* A stream whose audio is still being decoded is not idle: its client waits for finals
   * the server owes it.  The clock starts again once the server has caught up. */
  if (self->live != NULL && lmd_live_session_get_queued_seconds (self->live) > 0)
    self->last_audio_at = g_get_monotonic_time ();
  idle_us = g_get_monotonic_time () - self->last_audio_at;
  if (self->state == STATE_OPEN && idle_us >= (gint64) timeout_s * G_USEC_PER_SEC)
    {
      g_autofree char *message = g_strdup_printf ("no audio for %u s", timeout_s);
      fail_stream (self, "TIMEOUT", NULL, message,
                   self->dialect != NULL ? self->dialect->idle_close_code : CLOSE_POLICY);
    }
  return G_SOURCE_CONTINUE;
}

static void
on_text (LmdHttpStream *self, GBytes *message)
{
  g_autoptr (GError) error = NULL;
  gsize len;
  const char *data = g_bytes_get_data (message, &len);
  g_autofree char *param = NULL;
  gushort close_code = CLOSE_POLICY;

  switch (lmd_http_stream_control_read (self->dialect, self->dialect_state, data, len, &close_code, &param,
                                        &error))
    {
    case LMD_HTTP_STREAM_KEEP_ALIVE:
      if (self->dialect != NULL && self->dialect->keep_alive_is_activity)
        self->last_audio_at = g_get_monotonic_time ();
      break;
    case LMD_HTTP_STREAM_FINALIZE:
      lmd_live_session_finalize (self->live);
      break;
    case LMD_HTTP_STREAM_CLOSE:
      self->state = STATE_CLOSING;
      self->close_code = CLOSE_NORMAL;
      end_input (self);
      break;
    case LMD_HTTP_STREAM_REJECT:
      {
        g_autofree char *sentence = lmd_error_get_sentence (error);
        fail_stream (self, lmd_error_code_name (lmd_error_classify (error)), param, sentence, close_code);
      }
      break;
    }
}

static void
on_binary (LmdHttpStream *self, GBytes *message)
{
  gsize len = g_bytes_get_size (message);
  g_autoptr (GError) error = NULL;

  if (len > self->hub->config.max_frame_bytes)
    {
      g_autofree char *text = g_strdup_printf ("an audio frame of %" G_GSIZE_FORMAT
                                               " bytes is over the limit of %u bytes",
                                               len, self->hub->config.max_frame_bytes);
      fail_stream (self, "FILE_TOO_LARGE", NULL, text, CLOSE_TOO_BIG);
      return;
    }
  self->last_audio_at = g_get_monotonic_time ();
  self->bytes_received += len;
  if (len == 0)
    return;
  g_checksum_update (self->audio_sha256, g_bytes_get_data (message, NULL), len);
  if (self->decoder != NULL)
    {
      /* a container: its decoder's PCM reaches the live session (on_decoded) */
      lmd_audio_stream_push (self->decoder, message);
      return;
    }
  /* the live session's queue is bounded by max_queue_seconds of audio */
  if (!lmd_live_session_push_audio (self->live, message, &error) && error != NULL)
    fail_stream (self, lmd_error_code_name (lmd_error_classify (error)), NULL, error->message,
                 CLOSE_POLICY);
}

static void refuse (const LmdHttpStreamDialect *dialect, SoupWebsocketConnection *conn,
                    const char *session_id, const char *request_id, const char *code,
                    const char *param, const char *message, gushort close_code);

typedef struct {
  gint type;
  GBytes *message;            /* owned */
} HeldFrame;

#define MAX_HELD_FRAMES 256

static void
held_frame_free (HeldFrame *frame)
{
  g_bytes_unref (frame->message);
  g_free (frame);
}

static void
on_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  LmdHttpStream *self = user_data;

  if (self->state == STATE_ADMITTING)
    {
      /* a client may send audio right after the handshake, before the license answers */
      if (g_queue_get_length (&self->held) < MAX_HELD_FRAMES)
        {
          HeldFrame *frame = g_new0 (HeldFrame, 1);
          frame->type = type;
          frame->message = g_bytes_ref (message);
          g_queue_push_tail (&self->held, frame);
        }
      else
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                           "stream %s: more than %u frames before it was admitted; closing",
                           self->session_id, MAX_HELD_FRAMES);
          self->state = STATE_CLOSING;
          refuse (self->dialect, conn, self->session_id, self->request_id, "RATE_LIMIT_EXCEEDED", NULL,
                  "too many frames before the stream was admitted", CLOSE_POLICY);
        }
      return;
    }
  if (self->state != STATE_OPEN)
    return;
  if (type == SOUP_WEBSOCKET_DATA_BINARY)
    on_binary (self, message);
  else
    on_text (self, message);
}

/* Releases the stream's license ticket (once), recording the seconds of audio received. */
static void
release_ticket (LmdHttpStream *self, guint status)
{
  LmdLicense *license = lmd_router_get_license (self->hub->router);

  if (self->ticket == NULL || license == NULL)
    return;
  lmd_license_complete (license, g_steal_pointer (&self->ticket), received_seconds (self), status);
}

static void
on_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  LmdHttpStream *self = user_data;

  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                   "stream %s closed (code %u) after %.1f s, %" G_GUINT64_FORMAT " bytes, "
                   "%.3f s of audio metered",
                   self->session_id, soup_websocket_connection_get_close_code (conn),
                   (g_get_monotonic_time () - self->opened_at) / 1e6, self->bytes_received,
                   received_seconds (self));
  self->state = STATE_CLOSED;
  if (self->idle_source != NULL)
    {
      g_source_destroy (self->idle_source);
      g_clear_pointer (&self->idle_source, g_source_unref);
    }
  g_clear_signal_handler (&self->message_id, self->conn);
  g_clear_signal_handler (&self->closed_id, self->conn);

  /* the container's decoder stops (its streaming thread is joined: no PCM after this) */
  g_clear_object (&self->decoder);
  /* queued audio is dropped and no event comes after this; a turn in the middle of a slice
   * finishes it on its own reference to the live session */
  if (self->live != NULL)
    lmd_live_session_cancel (self->live);
  g_queue_clear_full (&self->held, (GDestroyNotify) held_frame_free);
  g_clear_object (&self->conn);
  release_ticket (self, 200);
  /* the hub's reference */
  g_hash_table_remove (self->hub->active, self);
}

/* Reads the query parameters into @self; FALSE with @error (INVALID_PARAMETER, "param: ..."). */
static gboolean
parse_parameters (LmdHttpStream *self, GHashTable *query, GError **error)
{
  static const guint rates[] = { 8000, 16000, 22050, 24000, 44100, 48000 };
  const char *value;
  const struct { const char *name; gboolean *out; } booleans[] = {
    { "word_timestamps", &self->word_timestamps },
    { "interim_results", &self->interim_results },
    { "vad_events", &self->vad_events },
  };

  self->sample_rate = 16000;
  self->encoding = LMD_PCM_LINEAR16;
  self->language = g_strdup ("en");
  self->word_timestamps = TRUE;
  self->interim_results = self->hub->config.interim_results;
  self->vad_events = self->hub->config.vad_events;
  self->eou_timeout_ms = self->hub->config.eou_timeout_ms;
  lmd_vad_options_init (&self->vad);
  if (query == NULL)
    return TRUE;
  {
    GHashTableIter iter;
    gpointer key, val;

    g_hash_table_iter_init (&iter, query);
    while (g_hash_table_iter_next (&iter, &key, &val))
      if (lmd_vad_options_handles (key) && !lmd_vad_options_set (&self->vad, key, val, error))
        return FALSE;
  }

  if ((value = g_hash_table_lookup (query, "sample_rate")) != NULL)
    {
      guint64 rate = 0;
      gboolean ok = g_ascii_string_to_unsigned (value, 10, 1, 1000000, &rate, NULL);
      for (gsize i = 0; ok && i < G_N_ELEMENTS (rates); i++)
        if (rates[i] == rate)
          break;
        else if (i == G_N_ELEMENTS (rates) - 1)
          ok = FALSE;
      if (!ok)
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "sample_rate" LMD_ERROR_PARAM_SEPARATOR "'%s' is not one of 8000, 16000, "
                       "22050, 24000, 44100, 48000", value);
          return FALSE;
        }
      self->sample_rate = (guint) rate;
    }
  if ((value = g_hash_table_lookup (query, "encoding")) != NULL &&
      !lmd_pcm_encoding_from_string (value, &self->encoding))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "encoding" LMD_ERROR_PARAM_SEPARATOR "'%s' is not one of linear16, linear32, "
                   "mulaw, alaw", value);
      return FALSE;
    }
  if ((value = g_hash_table_lookup (query, "language")) != NULL)
    {
      g_free (self->language);
      self->language = g_ascii_strdown (value, -1);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (booleans); i++)
    if ((value = g_hash_table_lookup (query, booleans[i].name)) != NULL &&
        !lmd_parse_boolean (value, booleans[i].out))
      {
        g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                     "%s" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a boolean (true, false, 1, 0)",
                     booleans[i].name, value);
        return FALSE;
      }
  if ((value = g_hash_table_lookup (query, "eou_timeout_ms")) != NULL)
    {
      guint64 ms = 0;
      if (!g_ascii_string_to_unsigned (value, 10, 100, 10000, &ms, NULL))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "eou_timeout_ms" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a number of "
                       "milliseconds from 100 to 10000", value);
          return FALSE;
        }
      self->eou_timeout_ms = (guint) ms;
    }
  return TRUE;
}

/* Main context: refuses a stream that never started: error message (naming the stream's
 * ids, as its other messages would), then close. */
static void
refuse (const LmdHttpStreamDialect *dialect, SoupWebsocketConnection *conn, const char *session_id,
        const char *request_id, const char *code, const char *param, const char *message,
        gushort close_code)
{
  LmdHttpStreamInfo info = { .session_id = session_id, .request_id = request_id };
  g_autofree char *text = dialect == NULL ? lmd_http_stream_error_json (code, param, message)
                                          : dialect->write_error (NULL, &info, code, param, message);

  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id, "stream %s refused: %s%s%s (close %u)",
                   session_id, param != NULL ? param : "", param != NULL ? ": " : "", message, close_code);
  if (text != NULL)
    soup_websocket_connection_send_text (conn, text);
  soup_websocket_connection_close (conn, close_code, NULL);
}

/* A piece of a container's PCM, on its way from the decoder's thread to the main context. */
typedef struct {
  LmdHttpStream *stream; /* owned ref */
  GBytes *pcm;           /* owned: f32le mono at the engine's rate */
  GError *error;         /* owned, nullable: the decoder's end, with done */
  gboolean done;
} Decoded;

static void
decoded_free (Decoded *d)
{
  g_object_unref (d->stream);
  g_clear_pointer (&d->pcm, g_bytes_unref);
  g_clear_error (&d->error);
  g_free (d);
}

static gboolean
on_decoded (gpointer data)
{
  Decoded *d = data;
  LmdHttpStream *self = d->stream;
  g_autoptr (GError) error = NULL;

  if (self->state == STATE_CLOSED || self->live == NULL)
    return G_SOURCE_REMOVE;
  if (d->pcm != NULL)
    {
      /* PCM comes in order before the end, so at the close every piece is counted */
      self->decoded_samples += g_bytes_get_size (d->pcm) / sizeof (float);
      if (!lmd_live_session_push_audio (self->live, d->pcm, &error) && error != NULL)
        fail_stream (self, lmd_error_code_name (lmd_error_classify (error)), NULL, error->message,
                     CLOSE_POLICY);
      return G_SOURCE_REMOVE;
    }
  if (d->error != NULL)
    fail_stream (self, lmd_error_code_name (lmd_error_classify (d->error)), NULL, d->error->message,
                 CLOSE_POLICY);
  /* the decoder has delivered everything it will: the live session drains and ends */
  lmd_live_session_close (self->live);
  return G_SOURCE_REMOVE;
}

/* The decoder's streaming thread. */
static void
on_decoded_pcm (const float *samples, gsize n_samples, gpointer user_data)
{
  LmdHttpStream *self = user_data;
  Decoded *d = g_new0 (Decoded, 1);

  d->stream = g_object_ref (self);
  d->pcm = g_bytes_new (samples, n_samples * sizeof (float));
  g_main_context_invoke_full (self->hub->context, G_PRIORITY_DEFAULT, on_decoded, d,
                              (GDestroyNotify) decoded_free);
}

/* The decoder's streaming thread. */
static void
on_decoded_done (const GError *error, gpointer user_data)
{
  LmdHttpStream *self = user_data;
  Decoded *d = g_new0 (Decoded, 1);

  d->stream = g_object_ref (self);
  d->done = TRUE;
  d->error = error != NULL ? g_error_copy (error) : NULL;
  g_main_context_invoke_full (self->hub->context, G_PRIORITY_DEFAULT, on_decoded, d,
                              (GDestroyNotify) decoded_free);
}

static void
stream_admitted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LmdHttpStream) self = user_data;
  LmdLicense *license = lmd_router_get_license (self->hub->router);
  g_autoptr (GError) error = NULL;
  LmdLicenseTicket *ticket = NULL;
  guint retry_after = 0;
  HeldFrame *frame;

  if (!lmd_http_auth_admit_finish (license, result, &ticket, &retry_after, &error))
    {
      if (self->state == STATE_ADMITTING && self->conn != NULL)
        {
          g_autofree char *sentence = lmd_error_get_sentence (error);
          self->state = STATE_CLOSING;
          refuse (self->dialect, self->conn, self->session_id, self->request_id,
                  lmd_error_code_name (lmd_error_classify (error)), NULL, sentence,
                  lmd_error_classify (error) == LMD_ERROR_SERVICE_UNAVAILABLE ? CLOSE_TRY_AGAIN
                                                                               : CLOSE_POLICY);
        }
      return;
    }
  if (self->state != STATE_ADMITTING || self->conn == NULL)
    {
      /* the client went away while the license was checked */
      if (ticket != NULL)
        lmd_license_complete (license, ticket, 0, 499);
      return;
    }
  self->ticket = ticket;
  if (!lmd_http_auth_allows_engine (license, ticket, self->hub->router, self->engine, &error))
    {
      g_autofree char *sentence = lmd_error_get_sentence (error);
      self->state = STATE_CLOSING;
      release_ticket (self, 403);
      refuse (self->dialect, self->conn, self->session_id, self->request_id,
              lmd_error_code_name (lmd_error_classify (error)), NULL, sentence, CLOSE_POLICY);
      return;
    }
  self->state = STATE_OPEN;
  self->last_audio_at = g_get_monotonic_time ();
  {
    LmdLiveSettings settings = {
      .language = self->language,
      .word_timestamps = self->word_timestamps,
      .interim_results = self->interim_results,
      .eou_timeout_ms = self->eou_timeout_ms,
      .max_utterance_s = self->hub->config.max_utterance_s,
      .encoding = self->encoding,
      .sample_rate = self->sample_rate,
      .max_queue_seconds = self->hub->config.max_queue_seconds,
      .request_id = self->request_id,
      .vad = &self->vad,
    };
    if (self->container)
      {
        /* the decoder delivers f32le mono at the engine's rate */
        settings.encoding = LMD_PCM_LINEAR32;
        settings.sample_rate = 16000;
      }
    /* on the hub's context (the caller's thread-default), where its events come back */
    self->live = lmd_live_session_new (self->engine, self->hub->pool, &settings, on_live_event, self);
  }
  if (self->container)
    {
      LmdAudioDecoder *decoder = lmd_router_get_decoder (self->hub->router);

      self->decoder = decoder != NULL ? lmd_audio_decoder_open_stream (decoder, 16000, on_decoded_pcm,
                                                                       on_decoded_done, self, &error)
                                      : NULL;
      if (self->decoder == NULL)
        {
          g_autofree char *text = g_strdup_printf ("containerised audio cannot be decoded here (%s); "
                                                   "send raw audio with encoding and sample_rate",
                                                   error != NULL ? error->message : "no decoder");
          self->state = STATE_OPEN;
          fail_stream (self, "UNSUPPORTED_FORMAT", "encoding", text, CLOSE_POLICY);
        }
    }
  /* on the hub's context, where every other callback of the stream runs */
  self->idle_source = g_timeout_source_new_seconds (1);
  g_source_set_callback (self->idle_source, on_idle_check, self, NULL);
  g_source_attach (self->idle_source, self->hub->context);
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                   "stream %s opened: %s, %u Hz, language %s, eou %u ms, interim %s%s",
                   self->session_id,
                   self->encoding == LMD_PCM_LINEAR16 ? "linear16"
                   : self->encoding == LMD_PCM_LINEAR32 ? "linear32"
                   : self->encoding == LMD_PCM_MULAW ? "mulaw" : "alaw",
                   self->sample_rate, self->language,
                   self->eou_timeout_ms > 0 ? self->eou_timeout_ms
                   : self->vad.enabled > 0  ? LMD_LIVE_EOU_TIMEOUT_SILERO_MS
                                            : LMD_LIVE_EOU_TIMEOUT_MS,
                   self->interim_results ? "on" : "off", self->api_key != NULL ? ", with a key" : "");
  while (self->state == STATE_OPEN && (frame = g_queue_pop_head (&self->held)) != NULL)
    {
      on_message (self->conn, frame->type, frame->message, self);
      held_frame_free (frame);
    }
  g_queue_clear_full (&self->held, (GDestroyNotify) held_frame_free);
}

void
lmd_http_streams_accept (LmdHttpStreams *hub, SoupServerMessage *msg,
                         SoupWebsocketConnection *conn, const char *request_id,
                         const LmdHttpStreamDialect *dialect)
{
  g_autofree char *dialect_model = NULL;
  g_autoptr (LmdHttpStream) self = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) query = NULL;
  g_autofree char *uuid = g_uuid_string_random ();
  /* a dialect's stream is known to its client by the request's id when that is a UUID
   * (Deepgram's request_id), so the client and the log name it alike */
  const char *stream_id = dialect != NULL && request_id != NULL && g_uuid_string_is_valid (request_id)
                            ? request_id : uuid;
  GUri *uri = soup_server_message_get_uri (msg);
  const char *model;

  /* the HTTP client timeout does not cut a stream (the listener's connection tracker lifts it
   * when the 101 is written, before libsoup reads the socket as a WebSocket): the stream's
   * idle timeout applies instead */
  /* frames a little over the limit get an error message; libsoup itself closes (1009)
   * without one beyond this */
  soup_websocket_connection_set_max_incoming_payload_size (conn,
                                                           MAX ((guint64) hub->config.max_frame_bytes * 4,
                                                                128 * 1024));
  soup_websocket_connection_set_keepalive_interval (conn, 0);

  if (g_hash_table_size (hub->active) >= hub->config.max_streams)
    {
      g_autofree char *text = g_strdup_printf ("the server is at its limit of %u live streams; "
                                               "retry later", hub->config.max_streams);
      refuse (dialect, conn, stream_id, request_id, "SERVICE_UNAVAILABLE", NULL, text, CLOSE_TRY_AGAIN);
      return;
    }

  self = g_object_new (LMD_TYPE_HTTP_STREAM, NULL);
  self->hub = lmd_http_streams_ref (hub);
  self->session_id = g_strdup (stream_id);
  self->request_id = g_strdup (request_id);
  self->opened_at = g_get_monotonic_time ();
  self->last_audio_at = self->opened_at;
  if (g_uri_get_query (uri) != NULL)
    query = soup_form_decode (g_uri_get_query (uri));
  self->api_key = lmd_http_auth_extract_key (msg, query);
  self->dialect = dialect;

  model = query != NULL ? g_hash_table_lookup (query, "model") : NULL;
  if (dialect != NULL)
    {
      LmdHttpStreamParams params = {
        .sample_rate = 16000,
        .encoding = LMD_PCM_LINEAR16,
        .language = g_strdup ("en"),
        .word_timestamps = TRUE,
        .interim_results = hub->config.interim_results,
        .vad_events = hub->config.vad_events,
        .eou_timeout_ms = hub->config.eou_timeout_ms,
      };
      gboolean parsed = dialect->parse (query, g_uri_get_query (uri), &params, &self->dialect_state, &error);

      self->sample_rate = params.sample_rate;
      self->encoding = params.encoding;
      self->language = params.language;
      self->word_timestamps = params.word_timestamps;
      self->interim_results = params.interim_results;
      self->vad_events = params.vad_events;
      self->eou_timeout_ms = params.eou_timeout_ms;
      self->container = params.container;
      model = dialect_model = params.model;
      if (!parsed)
        {
          g_autofree char *param = lmd_error_get_param (error);
          g_autofree char *sentence = lmd_error_get_sentence (error);
          refuse (dialect, conn, self->session_id, self->request_id, "INVALID_PARAMETER", param, sentence, CLOSE_POLICY);
          return;
        }
    }
  else if (!parse_parameters (self, query, &error))
    {
      g_autofree char *param = lmd_error_get_param (error);
      g_autofree char *sentence = lmd_error_get_sentence (error);
      refuse (dialect, conn, self->session_id, self->request_id, "INVALID_PARAMETER", param, sentence, CLOSE_POLICY);
      return;
    }
  self->engine = lmd_router_find_engine (hub->router, model);
  if (self->engine == NULL)
    {
      g_autofree char *text = g_strdup_printf ("no model named '%s'", model != NULL ? model : "(default)");
      refuse (dialect, conn, self->session_id, self->request_id, "INVALID_PARAMETER", "model", text, CLOSE_POLICY);
      return;
    }
  g_object_ref (self->engine);
  if (!lmd_engine_supports_language (self->engine, self->language))
    {
      g_autofree char *text = g_strdup_printf ("model %s does not transcribe '%s'",
                                               lmd_engine_get_model_name (self->engine), self->language);
      refuse (dialect, conn, self->session_id, self->request_id, "INVALID_PARAMETER", "language", text, CLOSE_POLICY);
      return;
    }
  if (lmd_router_is_draining (hub->router))
    {
      refuse (dialect, conn, self->session_id, self->request_id, "SERVICE_UNAVAILABLE", NULL, "the server is shutting down", CLOSE_TRY_AGAIN);
      return;
    }
  /* Admission may wait for a license service in another process: the connection is taken
   * over now, and frames that arrive meanwhile are held (STATE_ADMITTING). */
  self->state = STATE_ADMITTING;
  self->conn = g_object_ref (conn);
  self->message_id = g_signal_connect (conn, "message", G_CALLBACK (on_message), self);
  self->closed_id = g_signal_connect (conn, "closed", G_CALLBACK (on_closed), self);
  g_hash_table_add (hub->active, g_object_ref (self));
  lmd_http_auth_admit_async (lmd_router_get_license (hub->router), msg, query, "streaming",
                             request_id, NULL, stream_admitted, g_object_ref (self));
}

const char *
lmd_http_stream_get_api_key (LmdHttpStream *self)
{
  g_return_val_if_fail (LMD_IS_HTTP_STREAM (self), NULL);
  return self->api_key;
}

/* ---- GObject ---------------------------------------------------------------------------- */

static void
lmd_http_stream_finalize (GObject *object)
{
  LmdHttpStream *self = LMD_HTTP_STREAM (object);

  /* the connection was released and the live session cancelled on the main context */
  g_warn_if_fail (self->conn == NULL);
  if (self->idle_source != NULL)
    {
      g_source_destroy (self->idle_source);
      g_source_unref (self->idle_source);
    }
  g_queue_clear_full (&self->held, (GDestroyNotify) held_frame_free);
  if (self->live != NULL)
    lmd_live_session_cancel (self->live);
  g_clear_object (&self->live);
  g_clear_object (&self->engine);
  if (self->dialect_state != NULL)
    self->dialect->free_state (self->dialect_state);
  g_free (self->language);
  g_free (self->session_id);
  g_free (self->request_id);
  g_free (self->api_key);
  g_checksum_free (self->audio_sha256);
  /* the ticket was released in on_closed, on the main context */
  g_warn_if_fail (self->ticket == NULL);
  if (self->hub != NULL)
    lmd_http_streams_unref (self->hub);

  G_OBJECT_CLASS (lmd_http_stream_parent_class)->finalize (object);
}

static void
lmd_http_stream_class_init (LmdHttpStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_http_stream_finalize;
}

static void
lmd_http_stream_init (LmdHttpStream *self)
{
  g_queue_init (&self->held);
  self->state = STATE_OPEN;
  self->audio_sha256 = g_checksum_new (G_CHECKSUM_SHA256);
}
