/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-deepgram-stream-dialect.c — Deepgram's live GET /v1/listen (WebSocket): every
 * message shape of it, on the stream of lmd-http-stream.c.
 *
 * Query: encoding (linear16, linear32, mulaw, alaw; absent: a container — WebM/Opus,
 * Ogg/Opus, WAV, … — decoded while it arrives), sample_rate (8000 to
 * 48000; absent: 16000), channels (1), language ("en-US" → "en"), model (mapped as for
 * prerecorded requests: lmd_http_deepgram_map_model()), interim_results (default false),
 * endpointing (ms of silence that ends an utterance, 100 to 10000; false: none, finals on
 * Finalize, CloseStream or [streaming] max_utterance_s; absent: [streaming] eou_timeout_ms),
 * utterance_end_ms (1000 to 10000: UtteranceEnd after each utterance), vad_events
 * (SpeechStarted).  Anything else is accepted and ignored.
 *
 * Sent:
 *   {"type":"Results","channel_index":[0,1],"duration","start","is_final","speech_final",
 *    "from_finalize","channel":{"alternatives":[{"transcript","confidence",
 *    "words":[{"word","start","end","confidence","punctuated_word"}]}]},
 *    "metadata":{"request_id","model_info":{"name","version","arch"},"model_uuid"}}
 *   {"type":"SpeechStarted","channel":[0,1],"timestamp"}            (vad_events=true)
 *   {"type":"UtteranceEnd","channel":[0,1],"last_word_end"}         (utterance_end_ms)
 *   {"type":"Metadata","transaction_key","request_id","sha256","created","duration",
 *    "channels","models","model_info"}                             (last, before the close)
 *   {"type":"Error","err_code","err_msg","description","request_id"} before a close for an
 *   error (none for the idle timeout: the close 1011 says it)
 * Received: binary frames of audio; {"type":"KeepAlive"} (no answer; keeps the stream open),
 * {"type":"Finalize"} (the open utterance's final comes with from_finalize true),
 * {"type":"CloseStream"} (the last finals, Metadata, close 1000).  A stream with neither
 * audio nor KeepAlive for 10 s gets Metadata and close 1011.
 *
 * The request id of every message is the stream's session id, a UUID: the request's id (the
 * transport gives GET /v1/listen a UUID), so the log names the stream as its client does.
 * Refusals before the stream opens carry it too (info has the ids, state is NULL).
 */
#define G_LOG_DOMAIN "lmd-http"

#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-http-deepgram-dialect.h"
#include "lmd-http-stream-dialect.h"
#include "lmd-json-writer.h"

/* Deepgram closes a stream without audio or KeepAlive after 10 s; its clients expect it. */
#define DEEPGRAM_IDLE_TIMEOUT_S 10
#define CLOSE_INTERNAL 1011

typedef struct {
  gboolean vad_events;
  guint utterance_end_ms;  /* 0: no UtteranceEnd */
  guint finalize_pending;  /* Finalize messages whose final has not been sent */
  char *created;           /* owned: ISO 8601, when the stream opened */
} DeepgramStream;

static void
deepgram_stream_free (gpointer data)
{
  DeepgramStream *state = data;

  g_free (state->created);
  g_free (state);
}

static gboolean
parse_uint (GHashTable *query, const char *key, guint64 lo, guint64 hi, guint64 *out, GError **error)
{
  const char *value = g_hash_table_lookup (query, key);

  if (value == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (value, 10, lo, hi, out, NULL))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "%s" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a number from %" G_GUINT64_FORMAT
                   " to %" G_GUINT64_FORMAT, key, value, lo, hi);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_bool (GHashTable *query, const char *key, gboolean *out, GError **error)
{
  const char *value = g_hash_table_lookup (query, key);

  if (value != NULL && !lmd_parse_boolean (value, out))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "%s" LMD_ERROR_PARAM_SEPARATOR "'%s' is not a boolean (true, false)", key, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
deepgram_parse (GHashTable *query, const char *raw_query, LmdHttpStreamParams *params,
                gpointer *state_out, GError **error)
{
  DeepgramStream *state = g_new0 (DeepgramStream, 1);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  guint64 rate = 16000, channels = 1, utterance_end = 0;
  const char *value;

  state->created = g_date_time_format_iso8601 (now);
  *state_out = state;
  params->interim_results = FALSE; /* Deepgram's default */
  params->vad_events = FALSE;
  params->word_timestamps = TRUE;
  params->container = TRUE;
  if (query == NULL)
    return TRUE;
  /* without encoding the audio is a container (a browser's WebM/Opus, Ogg/Opus, WAV) */
  params->container = !g_hash_table_contains (query, "encoding");
  if ((value = g_hash_table_lookup (query, "encoding")) != NULL &&
      !lmd_pcm_encoding_from_string (value, &params->encoding))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "encoding" LMD_ERROR_PARAM_SEPARATOR "'%s' is not supported here (linear16, "
                   "linear32, mulaw, alaw)", value);
      return FALSE;
    }
  if (!parse_uint (query, "sample_rate", 8000, 48000, &rate, error) ||
      !parse_uint (query, "channels", 1, 1, &channels, error) ||
      !parse_uint (query, "utterance_end_ms", 1000, 10000, &utterance_end, error) ||
      !parse_bool (query, "interim_results", &params->interim_results, error) ||
      !parse_bool (query, "vad_events", &params->vad_events, error))
    return FALSE;
  params->sample_rate = (guint) rate;
  state->utterance_end_ms = (guint) utterance_end;
  state->vad_events = params->vad_events;
  if ((value = g_hash_table_lookup (query, "endpointing")) != NULL)
    {
      gboolean on = TRUE;
      guint64 ms = 0;

      if (lmd_parse_boolean (value, &on) && !on)
        params->eou_timeout_ms = 600000; /* no endpointing: max_utterance_s, Finalize, CloseStream */
      else if (g_ascii_string_to_unsigned (value, 10, 0, 600000, &ms, NULL))
        params->eou_timeout_ms = (guint) CLAMP (ms, 100, 10000);
      else
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "endpointing" LMD_ERROR_PARAM_SEPARATOR "'%s' is neither milliseconds nor false",
                       value);
          return FALSE;
        }
    }
  if ((value = g_hash_table_lookup (query, "language")) != NULL)
    {
      const char *dash = strchr (value, '-');

      g_free (params->language);
      params->language = dash != NULL ? g_ascii_strdown (value, dash - value) : g_ascii_strdown (value, -1);
    }
  g_free (params->model);
  params->model = g_strdup (lmd_http_deepgram_map_model (NULL, g_hash_table_lookup (query, "model")));
  return TRUE;
}

static void
write_model_info (LmdJsonWriter *w, const char *model)
{
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "name");
  lmd_json_writer_string (w, model);
  lmd_json_writer_key (w, "version");
  lmd_json_writer_string (w, "lightning-mediad");
  lmd_json_writer_key (w, "arch");
  lmd_json_writer_string (w, model);
  lmd_json_writer_end_object (w);
}

static void
write_channel_pair (LmdJsonWriter *w, const char *key)
{
  lmd_json_writer_key (w, key);
  lmd_json_writer_begin_array (w);
  lmd_json_writer_int (w, 0);
  lmd_json_writer_int (w, 1);
  lmd_json_writer_end_array (w);
}

static char *
results_message (const LmdHttpStreamInfo *info, double start, double duration, gboolean is_final,
                 gboolean speech_final, gboolean from_finalize, const char *text,
                 const LmdTranscript *transcript)
{
  const char *model = info->model_name != NULL ? info->model_name : "default";
  g_autofree char *model_uuid = lmd_http_deepgram_model_uuid (model);
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "type");
  lmd_json_writer_string (w, "Results");
  write_channel_pair (w, "channel_index");
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, MAX (duration, 0.0), 3);
  lmd_json_writer_key (w, "start");
  lmd_json_writer_double (w, MAX (start, 0.0), 3);
  lmd_json_writer_key (w, "is_final");
  lmd_json_writer_boolean (w, is_final);
  lmd_json_writer_key (w, "speech_final");
  lmd_json_writer_boolean (w, speech_final);
  lmd_json_writer_key (w, "from_finalize");
  lmd_json_writer_boolean (w, from_finalize);
  lmd_json_writer_key (w, "channel");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "alternatives");
  lmd_json_writer_begin_array (w);
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "transcript");
  lmd_json_writer_string (w, text != NULL ? text : "");
  lmd_json_writer_key (w, "confidence");
  lmd_json_writer_double (w, transcript != NULL ? transcript->confidence : 0.0, 3);
  if (transcript != NULL)
    lmd_http_deepgram_write_words (w, transcript, 0, transcript->words->len);
  else
    {
      lmd_json_writer_key (w, "words");
      lmd_json_writer_begin_array (w);
      lmd_json_writer_end_array (w);
    }
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_array (w);
  lmd_json_writer_end_object (w);
  lmd_json_writer_key (w, "metadata");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, info->session_id);
  lmd_json_writer_key (w, "model_info");
  write_model_info (w, model);
  lmd_json_writer_key (w, "model_uuid");
  lmd_json_writer_string (w, model_uuid);
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static char *
metadata_message (DeepgramStream *state, const LmdHttpStreamInfo *info, double duration)
{
  const char *model = info->model_name != NULL ? info->model_name : "default";
  g_autofree char *model_uuid = lmd_http_deepgram_model_uuid (model);
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "type");
  lmd_json_writer_string (w, "Metadata");
  lmd_json_writer_key (w, "transaction_key");
  lmd_json_writer_string (w, "deprecated");
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, info->session_id);
  lmd_json_writer_key (w, "sha256");
  lmd_json_writer_string (w, info->audio_sha256 != NULL ? info->audio_sha256 : "");
  lmd_json_writer_key (w, "created");
  lmd_json_writer_string (w, state->created);
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, duration, 3);
  lmd_json_writer_key (w, "channels");
  lmd_json_writer_int (w, 1);
  lmd_json_writer_key (w, "models");
  lmd_json_writer_begin_array (w);
  lmd_json_writer_string (w, model_uuid);
  lmd_json_writer_end_array (w);
  lmd_json_writer_key (w, "model_info");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, model_uuid);
  write_model_info (w, model);
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static void
deepgram_write_event (gpointer data, const LmdHttpStreamInfo *info, const LmdLiveEvent *event,
                      LmdHttpStreamSendFunc send, gpointer send_data)
{
  DeepgramStream *state = data;
  LmdJsonWriter *w;

  switch (event->type)
    {
    case LMD_LIVE_EVENT_SPEECH_STARTED:
      if (!state->vad_events)
        return;
      w = lmd_json_writer_new ();
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "type");
      lmd_json_writer_string (w, "SpeechStarted");
      write_channel_pair (w, "channel");
      lmd_json_writer_key (w, "timestamp");
      lmd_json_writer_double (w, MAX (event->start, 0.0), 3);
      lmd_json_writer_end_object (w);
      send (lmd_json_writer_finish (w), send_data);
      break;
    case LMD_LIVE_EVENT_SPEECH_ENDED:
      break;
    case LMD_LIVE_EVENT_INTERIM:
      send (results_message (info, event->start, info->audio_seconds - event->start, FALSE, FALSE, FALSE,
                             event->text, NULL),
            send_data);
      break;
    case LMD_LIVE_EVENT_FINAL:
      {
        gboolean from_finalize = state->finalize_pending > 0;
        const LmdTranscript *t = event->transcript;

        if (from_finalize)
          state->finalize_pending--;
        send (results_message (info, event->start, event->end - event->start, TRUE, !from_finalize,
                               from_finalize, t->text, t),
              send_data);
        if (state->utterance_end_ms > 0 && t->words->len > 0)
          {
            w = lmd_json_writer_new ();
            lmd_json_writer_begin_object (w);
            lmd_json_writer_key (w, "type");
            lmd_json_writer_string (w, "UtteranceEnd");
            write_channel_pair (w, "channel");
            lmd_json_writer_key (w, "last_word_end");
            lmd_json_writer_double (w, g_array_index (t->words, LmdWord, t->words->len - 1).end, 3);
            lmd_json_writer_end_object (w);
            send (lmd_json_writer_finish (w), send_data);
          }
      }
      break;
    case LMD_LIVE_EVENT_END:
      send (metadata_message (state, info, event->duration), send_data);
      break;
    case LMD_LIVE_EVENT_ERROR:
      break; /* written by write_error */
    }
}

static LmdHttpStreamControl
deepgram_control (gpointer data, JsonObject *message, GError **error)
{
  DeepgramStream *state = data;
  JsonNode *node = json_object_get_member (message, "type");
  const char *type = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                             json_node_get_value_type (node) == G_TYPE_STRING
                         ? json_node_get_string (node)
                         : NULL;

  if (g_strcmp0 (type, "KeepAlive") == 0)
    return LMD_HTTP_STREAM_KEEP_ALIVE;
  if (g_strcmp0 (type, "Finalize") == 0)
    {
      state->finalize_pending++;
      return LMD_HTTP_STREAM_FINALIZE;
    }
  if (g_strcmp0 (type, "CloseStream") == 0)
    return LMD_HTTP_STREAM_CLOSE;
  g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
               "type" LMD_ERROR_PARAM_SEPARATOR "unknown message type '%s' (KeepAlive, Finalize, CloseStream)",
               type != NULL ? type : "");
  return LMD_HTTP_STREAM_REJECT;
}

static char *
deepgram_write_error (gpointer data, const LmdHttpStreamInfo *info, const char *code,
                      const char *param, const char *message)
{
  g_autofree char *text = param != NULL ? g_strdup_printf ("%s: %s", param, message) : g_strdup (message);
  LmdJsonWriter *w;

  if (g_strcmp0 (code, "TIMEOUT") == 0)
    return NULL; /* Deepgram's clients see the close 1011 */
  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "type");
  lmd_json_writer_string (w, "Error");
  lmd_json_writer_key (w, "err_code");
  lmd_json_writer_string (w, code);
  lmd_json_writer_key (w, "err_msg");
  lmd_json_writer_string (w, text);
  lmd_json_writer_key (w, "description");
  lmd_json_writer_string (w, text);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, info != NULL ? info->session_id : NULL);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

const LmdHttpStreamDialect lmd_http_deepgram_stream_dialect = {
  .version = LMD_HTTP_STREAM_DIALECT_VERSION,
  .name = "deepgram",
  .idle_timeout_s = DEEPGRAM_IDLE_TIMEOUT_S,
  .idle_close_code = CLOSE_INTERNAL,
  .keep_alive_is_activity = TRUE,
  .parse = deepgram_parse,
  .free_state = deepgram_stream_free,
  .write_event = deepgram_write_event,
  .control = deepgram_control,
  .write_error = deepgram_write_error,
};
