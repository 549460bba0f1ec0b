/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-wyoming"

#include "lmd-wyoming-connection.h"

#include <string.h>

#include "lmd-build-config.h"
#include "lmd-error.h"
#include "lmd-log.h"
#include "lmd-transcribe-options.h"
#include "lmd-wyoming-audio.h"
#include "lmd-wyoming-event-reader.h"
#include "lmd-wyoming-event.h"
#include "lmd-wyoming-live.h"

#define READ_BYTES 65536
#define PROGRAM_NAME "lightning-mediad"
#define PROGRAM_URL "https://github.com/lightning-mediad/lightning-mediad"

struct _LmdWyomingConnection {
  GObject parent_instance;

  LmdWyomingConfig config;        /* owned copy */
  LmdRouter *router;              /* borrowed */
  GThreadPool *live_pool;         /* borrowed, nullable: streaming off */
  LmdLicense *license;            /* owned ref, nullable: every request is admitted */
  GSocketConnection *socket;      /* owned ref */
  GCancellable *cancellable;      /* owned: cancelled when the connection closes */
  LmdWyomingEventReader *reader;  /* owned */
  char *request_id;               /* owned: the utterance being received (renewed after each) */
  char *peer;                     /* owned: "address:port" of the client, for logs */

  /* input */
  gboolean reading;               /* a read is in flight */
  gboolean eof;                   /* the client closed its side */
  gint64 last_input;              /* monotonic µs of the last byte, or of the end of busy time */
  guint idle_source;

  /* output: events written in order, one write in flight */
  GQueue outbox;                  /* GBytes * (owned) */
  GBytes *writing;                /* owned, nullable: the write in flight */
  gboolean close_after_flush;
  gboolean closed;

  /* the next utterance */
  char *model;                    /* owned, nullable: the default model */
  char *language;                 /* owned, nullable: the default language */
  LmdWyomingAudio *audio;         /* owned, nullable: between audio-start and audio-stop */
  /* transcript streaming of the utterance ([wyoming] streaming) */
  gboolean streaming;             /* transcript-start was sent: transcript-stop follows */
  LmdWyomingLive *live;           /* owned, nullable: the model streams (so far) */
  gboolean live_waiting;          /* audio-stop passed to live, its last report awaited */

  /* the utterance being transcribed */
  gboolean busy;
  GCancellable *work;             /* owned, nullable: cancelled when the client goes away */
  LmdLicenseTicket *ticket;       /* owned, nullable */
  double work_seconds;
  gint64 work_started;
};

enum { SIGNAL_CLOSED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LmdWyomingConnection, lmd_wyoming_connection, G_TYPE_OBJECT)

static void process_events (LmdWyomingConnection *self);
static void maybe_read (LmdWyomingConnection *self);
static void live_clear (LmdWyomingConnection *self);
static void transcribe_start (LmdWyomingConnection *self);

static char *
new_request_id (void)
{
  g_autofree char *uuid = g_uuid_string_random ();
  GString *id = g_string_new ("req_");

  for (const char *p = uuid; *p != '\0'; p++)
    if (*p != '-')
      g_string_append_c (id, *p);
  return g_string_free (id, FALSE);
}

/* ---- closing ---------------------------------------------------------------------------- */

static void
release_ticket (LmdWyomingConnection *self, guint status)
{
  if (self->ticket != NULL)
    lmd_license_complete (self->license, g_steal_pointer (&self->ticket), self->work_seconds, status);
}

static void
close_now (LmdWyomingConnection *self)
{
  if (self->closed)
    return;
  self->closed = TRUE;
  g_clear_handle_id (&self->idle_source, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  if (self->work != NULL)
    g_cancellable_cancel (self->work);
  /* an admission whose work will never report back is released now */
  if (!self->busy || self->live_waiting)
    release_ticket (self, 499);
  live_clear (self);
  g_queue_clear_full (&self->outbox, (GDestroyNotify) g_bytes_unref);
  /* closed at once, not by g_io_stream_close(): that refuses while a read is pending */
  g_socket_close (g_socket_connection_get_socket (self->socket), NULL);
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id, "connection from %s closed", self->peer);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}

/* ---- output ----------------------------------------------------------------------------- */

static void flush (LmdWyomingConnection *self);

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LmdWyomingConnection) self = user_data;
  g_autoptr (GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error);
  g_clear_pointer (&self->writing, g_bytes_unref);
  if (self->closed)
    return;
  if (error != NULL)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "cannot write to %s: %s",
                       self->peer, error->message);
      close_now (self);
      return;
    }
  flush (self);
}

static void
flush (LmdWyomingConnection *self)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (self->socket));

  if (self->closed || self->writing != NULL)
    return;
  self->writing = g_queue_pop_head (&self->outbox);
  if (self->writing == NULL)
    {
      if (self->close_after_flush)
        close_now (self);
      return;
    }
  g_output_stream_write_all_async (out, g_bytes_get_data (self->writing, NULL),
                                   g_bytes_get_size (self->writing), G_PRIORITY_DEFAULT,
                                   self->cancellable, on_written, g_object_ref (self));
}

/* Queues @event (taken) to be written. */
static void
send_event (LmdWyomingConnection *self, LmdWyomingEvent *event)
{
  g_autoptr (LmdWyomingEvent) owned = event;

  if (self->closed || self->close_after_flush)
    return;
  g_queue_push_tail (&self->outbox, lmd_wyoming_event_encode (owned));
  flush (self);
}

/* Answers @error with an error event, then closes. */
static void
fail (LmdWyomingConnection *self, const GError *error)
{
  LmdErrorCode code = lmd_error_classify (error);
  g_autofree char *param = lmd_error_get_param (error);
  g_autofree char *sentence = lmd_error_get_sentence (error);
  JsonObject *data = json_object_new ();

  if (self->closed || self->close_after_flush)
    return;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "%s from %s: %s; closing",
                   lmd_error_code_name (code), self->peer, error->message);
  json_object_set_string_member (data, "text", error->message);
  json_object_set_string_member (data, "code", lmd_error_code_name (code));
  if (param != NULL)
    json_object_set_string_member (data, "param", param);
  json_object_set_string_member (data, "request_id", self->request_id);
  send_event (self, lmd_wyoming_event_new ("error", data));
  self->close_after_flush = TRUE;
  if (self->work != NULL)
    g_cancellable_cancel (self->work);
  flush (self);
}

/* ---- describe ----------------------------------------------------------------------------- */

static JsonObject *
attribution (void)
{
  JsonObject *a = json_object_new ();

  json_object_set_string_member (a, "name", PROGRAM_NAME);
  json_object_set_string_member (a, "url", PROGRAM_URL);
  return a;
}

static LmdWyomingEvent *
info_event (LmdWyomingConnection *self)
{
  g_autoptr (GPtrArray) models = lmd_router_list_models (self->router);
  JsonObject *data = json_object_new ();
  JsonObject *program = json_object_new ();
  JsonArray *asr = json_array_new ();
  JsonArray *model_list = json_array_new ();
  gboolean streams = FALSE;
  static const char *const other_services[] = { "tts", "handle", "intent", "wake", "mic", "snd" };

  for (guint i = 0; i < models->len; i++)
    {
      const char *name = models->pdata[i];
      LmdEngine *engine = lmd_router_find_engine (self->router, name);
      JsonObject *model = json_object_new ();
      JsonArray *languages = json_array_new ();
      const char *const *known = lmd_language_list_known ();

      for (guint j = 0; known[j] != NULL; j++)
        if (!g_str_equal (known[j], "auto") && lmd_engine_supports_language (engine, known[j]))
          json_array_add_string_element (languages, known[j]);
      json_object_set_string_member (model, "name", name);
      json_object_set_string_member (model, "description",
                                     i == 0 ? "speech-to-text model (the default)" : "speech-to-text model");
      json_object_set_object_member (model, "attribution", attribution ());
      json_object_set_boolean_member (model, "installed", TRUE);
      json_object_set_string_member (model, "version", LMD_VERSION);
      json_object_set_array_member (model, "languages", languages);
      json_array_add_object_element (model_list, model);
    }
  streams = self->live_pool != NULL;
  json_object_set_string_member (program, "name", PROGRAM_NAME);
  json_object_set_string_member (program, "description", "lightning-mediad speech-to-text server");
  json_object_set_object_member (program, "attribution", attribution ());
  json_object_set_boolean_member (program, "installed", TRUE);
  json_object_set_string_member (program, "version", LMD_VERSION);
  json_object_set_array_member (program, "models", model_list);
  json_object_set_boolean_member (program, "supports_transcript_streaming", streams);
  json_array_add_object_element (asr, program);
  json_object_set_array_member (data, "asr", asr);
  for (guint i = 0; i < G_N_ELEMENTS (other_services); i++)
    json_object_set_array_member (data, other_services[i], json_array_new ());
  return lmd_wyoming_event_new ("info", data);
}

/* ---- transcription ------------------------------------------------------------------------ */

static void
live_clear (LmdWyomingConnection *self)
{
  if (self->live != NULL)
    lmd_wyoming_live_cancel (self->live);
  g_clear_object (&self->live);
  self->live_waiting = FALSE;
}

static void
utterance_reset (LmdWyomingConnection *self)
{
  live_clear (self);
  self->streaming = FALSE;
  g_clear_pointer (&self->audio, lmd_wyoming_audio_free);
  g_clear_pointer (&self->model, g_free);
  g_clear_pointer (&self->language, g_free);
  g_free (self->request_id);
  self->request_id = new_request_id ();
}

static void
work_end (LmdWyomingConnection *self, guint status)
{
  release_ticket (self, status);
  g_clear_object (&self->work);
  self->busy = FALSE;
  self->last_input = g_get_monotonic_time ();
  utterance_reset (self);
  if (!self->closed)
    {
      process_events (self);
      maybe_read (self);
    }
}

static void
send_transcript (LmdWyomingConnection *self, const char *text, const char *language)
{
  JsonObject *data = json_object_new ();

  json_object_set_string_member (data, "text", text);
  json_object_set_string_member (data, "language", language);
  send_event (self, lmd_wyoming_event_new ("transcript", data));
  if (self->streaming)
    send_event (self, lmd_wyoming_event_new ("transcript-stop", NULL));
}

static void
transcribe_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LmdWyomingConnection) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTranscript) transcript = lmd_router_transcribe_finish (LMD_ROUTER (source), result, &error);

  if (transcript == NULL)
    {
      LmdErrorCode code = lmd_error_classify (error);
      if (self->closed)
        LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "the client went away: %s",
                         error->message);
      else
        fail (self, error);
      work_end (self, self->closed ? 499 : lmd_error_http_status (code));
      return;
    }
  self->work_seconds = transcript->duration;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                   "transcript of %.2f s of audio in %.2f s: %zu characters", transcript->duration,
                   (g_get_monotonic_time () - self->work_started) / 1e6, strlen (transcript->text));
  send_transcript (self, transcript->text, transcript->language != NULL ? transcript->language : "en");
  work_end (self, 200);
}

static const char *
engine_language (LmdWyomingConnection *self)
{
  return self->language != NULL ? self->language : "en";
}

/* Admitted: the utterance goes to the router. */
static void
transcribe_run (LmdWyomingConnection *self)
{
  LmdLicense *license = self->license;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTranscribeRequest) request = NULL;
  LmdEngine *engine;

  if (self->closed)
    {
      work_end (self, 499);
      return;
    }
  engine = lmd_router_find_engine (self->router, self->model);
  if (engine != NULL && engine == lmd_router_find_engine (self->router, "whisper") &&
      !lmd_license_allows (license, self->ticket, "whisper"))
    {
      error = g_error_new (LMD_ERROR, LMD_ERROR_FEATURE_NOT_LICENSED,
                           "the license does not include the feature 'whisper' (model %s)",
                           lmd_engine_get_model_name (engine));
      fail (self, error);
      work_end (self, 403);
      return;
    }
  request = lmd_transcribe_request_new (self->request_id);
  request->audio = lmd_wyoming_audio_to_wav (self->audio);
  g_free (request->options.language);
  request->options.language = g_strdup (engine_language (self));
  request->options.model = g_strdup (self->model);
  request->options.word_timestamps = FALSE;
  self->work_started = g_get_monotonic_time ();
  lmd_router_transcribe_async (self->router, g_steal_pointer (&request), self->work,
                               transcribe_done, g_object_ref (self));
}

static void
transcribe_admitted (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LmdWyomingConnection) self = user_data;
  g_autoptr (GError) error = NULL;
  guint retry_after = 0;

  self->ticket = lmd_license_admit_finish (LMD_LICENSE (source), result, &retry_after, &error);
  if (self->ticket == NULL)
    {
      fail (self, error);
      work_end (self, lmd_error_http_status (lmd_error_classify (error)));
      return;
    }
  transcribe_run (self);
}

/* audio-stop: the utterance goes to the router. */
static void
transcribe_start (LmdWyomingConnection *self)
{
  const LmdWyomingFormat *format;

  if (self->audio == NULL || lmd_wyoming_audio_get_frames (self->audio) == 0)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "audio-stop without audio; empty transcript");
      send_transcript (self, "", engine_language (self));
      utterance_reset (self);
      return;
    }
  if (lmd_router_is_draining (self->router))
    {
      g_autoptr (GError) error = g_error_new (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                              "the server is shutting down");
      fail (self, error);
      return;
    }
  format = lmd_wyoming_audio_get_format (self->audio);
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                   "%s: %.2f s of audio (%u Hz, %u bytes, %u channels), language %s, model %s",
                   self->peer, lmd_wyoming_audio_get_seconds (self->audio), format->rate, format->width,
                   format->channels, engine_language (self), self->model != NULL ? self->model : "(default)");
  self->busy = TRUE;
  self->work = g_cancellable_new ();
  self->work_seconds = lmd_wyoming_audio_get_seconds (self->audio);
  if (self->license == NULL || self->ticket != NULL)
    transcribe_run (self); /* no license service, or admitted already (streaming) */
  else
    lmd_license_admit_async (self->license, self->config.api_key, "batch",
                             self->request_id, self->work, transcribe_admitted, g_object_ref (self));
}

/* ---- events ------------------------------------------------------------------------------- */

static gboolean
read_format (LmdWyomingEvent *event, LmdWyomingFormat *format, GError **error)
{
  static const char *const names[] = { "rate", "width", "channels" };
  guint *fields[] = { &format->rate, &format->width, &format->channels };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      gint64 value;
      if (!lmd_wyoming_event_get_int (event, names[i], &value))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "%s" LMD_ERROR_PARAM_SEPARATOR "%s needs an integer '%s'", names[i],
                       event->type, names[i]);
          return FALSE;
        }
      *fields[i] = (guint) CLAMP (value, 0, G_MAXUINT32);
      if (value < 0 || value > G_MAXUINT32)
        *fields[i] = 0;
    }
  return lmd_wyoming_format_check (format, error);
}

static void on_live (LmdWyomingLiveReport report, const char *text, const GError *error,
                     gpointer user_data);

static gboolean
audio_begin (LmdWyomingConnection *self, const LmdWyomingFormat *format, GError **error)
{
  const LmdLimits *limits = lmd_router_get_limits (self->router);
  LmdLicense *license = self->license;
  JsonObject *data;

  live_clear (self);
  release_ticket (self, 499);
  g_clear_pointer (&self->audio, lmd_wyoming_audio_free);
  self->audio = lmd_wyoming_audio_new (format, limits->max_body_bytes, limits->max_audio_seconds);
  self->streaming = FALSE;
  if (self->live_pool == NULL)
    return TRUE;
  /* Transcript streaming: the words are decoded while the audio arrives, so admission comes
   * first, synchronously (a remote license service answers from its cache). */
  if (license != NULL)
    {
      guint retry_after = 0;
      self->ticket = lmd_license_admit (license, self->config.api_key, "streaming", self->request_id,
                                        &retry_after, error);
      if (self->ticket == NULL)
        return FALSE;
    }
  self->streaming = TRUE;
  self->live = lmd_wyoming_live_new (self->live_pool, lmd_router_find_engine (self->router, self->model),
                                     engine_language (self), self->request_id, format, on_live, self);
  data = json_object_new ();
  json_object_set_string_member (data, "language", engine_language (self));
  send_event (self, lmd_wyoming_event_new ("transcript-start", data));
  return TRUE;
}

/* The live session's reports (main context; none after live_clear()). */
static void
on_live (LmdWyomingLiveReport report, const char *text, const GError *error, gpointer user_data)
{
  LmdWyomingConnection *self = user_data;
  JsonObject *data;

  switch (report)
    {
    case LMD_WYOMING_LIVE_CHUNK:
      data = json_object_new ();
      json_object_set_string_member (data, "text", text);
      send_event (self, lmd_wyoming_event_new ("transcript-chunk", data));
      break;
    case LMD_WYOMING_LIVE_DONE:
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                       "transcript of %.2f s of audio, streamed, %.2f s after audio-stop: %zu characters",
                       self->work_seconds, (g_get_monotonic_time () - self->work_started) / 1e6,
                       strlen (text));
      send_transcript (self, text, engine_language (self));
      work_end (self, 200);
      break;
    case LMD_WYOMING_LIVE_UNAVAILABLE:
      /* the model cannot stream: the utterance is transcribed whole at audio-stop */
      live_clear (self);
      if (self->busy)
        {
          self->busy = FALSE;
          transcribe_start (self);
        }
      break;
    case LMD_WYOMING_LIVE_FAILED:
      fail (self, error);
      if (self->busy)
        work_end (self, lmd_error_http_status (lmd_error_classify (error)));
      else
        live_clear (self);
      break;
    }
}

static gboolean
handle_transcribe (LmdWyomingConnection *self, LmdWyomingEvent *event, GError **error)
{
  const char *name = lmd_wyoming_event_get_string (event, "name");
  const char *language = lmd_wyoming_event_get_string (event, "language");
  LmdEngine *engine;

  /* the program's own name (as info lists it) and "" mean the default model */
  if (name != NULL && (name[0] == '\0' || g_str_equal (name, PROGRAM_NAME)))
    name = NULL;
  engine = lmd_router_find_engine (self->router, name);

  if (engine == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "model" LMD_ERROR_PARAM_SEPARATOR "no model named '%s'", name);
      return FALSE;
    }
  g_clear_pointer (&self->model, g_free);
  g_clear_pointer (&self->language, g_free);
  self->model = g_strdup (name);
  if (language != NULL && language[0] != '\0')
    {
      /* "en-US", "en_GB" → "en": models know languages, not regions */
      g_autofree char *lower = g_ascii_strdown (language, -1);
      lower[strcspn (lower, "-_")] = '\0';
      if (!lmd_engine_supports_language (engine, lower))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "language" LMD_ERROR_PARAM_SEPARATOR "model %s does not transcribe '%s'",
                       lmd_engine_get_model_name (engine), language);
          return FALSE;
        }
      self->language = g_steal_pointer (&lower);
    }
  return TRUE;
}

/* FALSE with @error for input that ends the connection. */
static gboolean
handle_event (LmdWyomingConnection *self, LmdWyomingEvent *event, GError **error)
{
  LmdWyomingFormat format;

  if (g_str_equal (event->type, "describe"))
    send_event (self, info_event (self));
  else if (g_str_equal (event->type, "ping"))
    {
      JsonObject *data = json_object_new ();
      const char *text = lmd_wyoming_event_get_string (event, "text");
      if (text != NULL)
        json_object_set_string_member (data, "text", text);
      send_event (self, lmd_wyoming_event_new ("pong", data));
    }
  else if (g_str_equal (event->type, "transcribe"))
    return handle_transcribe (self, event, error);
  else if (g_str_equal (event->type, "audio-start"))
    {
      if (!read_format (event, &format, error))
        return FALSE;
      return audio_begin (self, &format, error);
    }
  else if (g_str_equal (event->type, "audio-chunk"))
    {
      if (!read_format (event, &format, error))
        return FALSE;
      if (self->audio == NULL && !audio_begin (self, &format, error))
        return FALSE;
      if (!lmd_wyoming_format_equal (&format, lmd_wyoming_audio_get_format (self->audio)))
        {
          const LmdWyomingFormat *started = lmd_wyoming_audio_get_format (self->audio);
          g_set_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT,
                       "an audio-chunk of %u Hz, %u bytes, %u channels in a stream that started "
                       "with %u Hz, %u bytes, %u channels", format.rate, format.width, format.channels,
                       started->rate, started->width, started->channels);
          return FALSE;
        }
      if (event->payload != NULL &&
          !lmd_wyoming_audio_append (self->audio, g_bytes_get_data (event->payload, NULL),
                                     g_bytes_get_size (event->payload), error))
        return FALSE;
      if (event->payload != NULL && self->live != NULL)
        lmd_wyoming_live_push (self->live, g_bytes_get_data (event->payload, NULL),
                               g_bytes_get_size (event->payload));
    }
  else if (g_str_equal (event->type, "audio-stop"))
    {
      if (self->live != NULL && self->audio != NULL)
        {
          /* the live session's last report answers */
          self->busy = TRUE;
          self->live_waiting = TRUE;
          self->work_started = g_get_monotonic_time ();
          self->work_seconds = lmd_wyoming_audio_get_seconds (self->audio);
          lmd_wyoming_live_stop (self->live);
        }
      else
        transcribe_start (self);
    }
  else
    LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id, "ignoring an event of type '%s'",
                     event->type);
  return TRUE;
}

static void
process_events (LmdWyomingConnection *self)
{
  while (!self->busy && !self->closed && !self->close_after_flush)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (LmdWyomingEvent) event = lmd_wyoming_event_reader_next (self->reader, &error);

      if (event == NULL)
        {
          if (error != NULL)
            fail (self, error);
          else if (self->eof)
            {
              /* the client has said all it will: what is left is a cut-off event */
              if (lmd_wyoming_event_reader_get_pending (self->reader) > 0)
                LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                                 "%s closed in the middle of an event", self->peer);
              self->close_after_flush = TRUE;
              flush (self);
            }
          return;
        }
      if (!handle_event (self, event, &error))
        fail (self, error);
    }
}

/* ---- input -------------------------------------------------------------------------------- */

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LmdWyomingConnection) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);

  self->reading = FALSE;
  if (self->closed)
    return;
  if (bytes == NULL)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id, "cannot read from %s: %s",
                       self->peer, error->message);
      close_now (self);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      self->eof = TRUE;
      if (self->busy)
        {
          LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                           "%s went away before the transcript; stopping it", self->peer);
          close_now (self);
          return;
        }
      process_events (self);
      return;
    }
  self->last_input = g_get_monotonic_time ();
  lmd_wyoming_event_reader_push (self->reader, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  process_events (self);
  maybe_read (self);
}

/* Keeps one read in flight, also while busy (to see a client that goes away), unless a
 * whole event's worth of bytes waits to be handled. */
static void
maybe_read (LmdWyomingConnection *self)
{
  const LmdWyomingBounds *b = &self->config.bounds;
  gsize limit = b->max_header_bytes + b->max_data_bytes + b->max_payload_bytes + READ_BYTES;

  if (self->reading || self->eof || self->closed || self->close_after_flush ||
      lmd_wyoming_event_reader_get_pending (self->reader) > limit)
    return;
  self->reading = TRUE;
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (G_IO_STREAM (self->socket)),
                                   READ_BYTES, G_PRIORITY_DEFAULT, self->cancellable, on_read,
                                   g_object_ref (self));
}

static gboolean
on_idle_check (gpointer user_data)
{
  LmdWyomingConnection *self = user_data;
  g_autoptr (GError) error = NULL;

  if (self->busy || self->close_after_flush ||
      g_get_monotonic_time () - self->last_input < (gint64) self->config.idle_timeout_s * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  error = g_error_new (LMD_ERROR, LMD_ERROR_TIMEOUT, "nothing received for %u s",
                       self->config.idle_timeout_s);
  self->idle_source = 0;
  fail (self, error);
  return G_SOURCE_REMOVE;
}

/* ---- public ------------------------------------------------------------------------------- */

LmdWyomingConnection *
lmd_wyoming_connection_new (GSocketConnection *socket_connection, const LmdWyomingConfig *config,
                            LmdRouter *router, GThreadPool *live_pool)
{
  LmdWyomingConnection *self = g_object_new (LMD_TYPE_WYOMING_CONNECTION, NULL);
  g_autoptr (GSocketAddress) remote = g_socket_connection_get_remote_address (socket_connection, NULL);

  lmd_wyoming_config_copy (&self->config, config);
  self->router = router;
  self->live_pool = live_pool;
  if (lmd_router_get_license (router) != NULL)
    self->license = g_object_ref (lmd_router_get_license (router));
  self->socket = g_object_ref (socket_connection);
  self->reader = lmd_wyoming_event_reader_new (&config->bounds);
  if (G_IS_INET_SOCKET_ADDRESS (remote))
    {
      g_autofree char *address =
        g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (remote)));
      self->peer = g_strdup_printf ("%s:%u", address, g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote)));
    }
  else
    self->peer = g_strdup ("(unknown)");
  return self;
}

void
lmd_wyoming_connection_start (LmdWyomingConnection *self)
{
  g_return_if_fail (LMD_IS_WYOMING_CONNECTION (self));

  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id, "connection from %s", self->peer);
  self->last_input = g_get_monotonic_time ();
  self->idle_source = g_timeout_add_seconds (1, on_idle_check, self);
  maybe_read (self);
}

void
lmd_wyoming_connection_refuse (LmdWyomingConnection *self, const char *reason)
{
  g_autoptr (GError) error = g_error_new_literal (LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE, reason);

  g_return_if_fail (LMD_IS_WYOMING_CONNECTION (self));
  fail (self, error);
}

void
lmd_wyoming_connection_abort (LmdWyomingConnection *self)
{
  g_return_if_fail (LMD_IS_WYOMING_CONNECTION (self));
  close_now (self);
}

gboolean
lmd_wyoming_connection_is_busy (LmdWyomingConnection *self)
{
  g_return_val_if_fail (LMD_IS_WYOMING_CONNECTION (self), FALSE);
  return self->busy;
}

/* ---- GObject ------------------------------------------------------------------------------ */

static void
lmd_wyoming_connection_finalize (GObject *object)
{
  LmdWyomingConnection *self = LMD_WYOMING_CONNECTION (object);

  g_warn_if_fail (self->ticket == NULL);
  g_clear_handle_id (&self->idle_source, g_source_remove);
  g_queue_clear_full (&self->outbox, (GDestroyNotify) g_bytes_unref);
  g_clear_pointer (&self->writing, g_bytes_unref);
  g_clear_pointer (&self->audio, lmd_wyoming_audio_free);
  if (self->live != NULL)
    lmd_wyoming_live_cancel (self->live);
  g_clear_object (&self->live);
  g_clear_pointer (&self->reader, lmd_wyoming_event_reader_free);
  g_clear_object (&self->work);
  g_clear_object (&self->license);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->socket);
  lmd_wyoming_config_clear (&self->config);
  g_free (self->model);
  g_free (self->language);
  g_free (self->request_id);
  g_free (self->peer);
  G_OBJECT_CLASS (lmd_wyoming_connection_parent_class)->finalize (object);
}

static void
lmd_wyoming_connection_class_init (LmdWyomingConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_wyoming_connection_finalize;
  /* the connection is over: no more events will be read or written */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
lmd_wyoming_connection_init (LmdWyomingConnection *self)
{
  g_queue_init (&self->outbox);
  self->cancellable = g_cancellable_new ();
  self->request_id = new_request_id ();
}
