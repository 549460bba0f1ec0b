/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-stream.c — live transcription over the WebSocket (see the header).
 */
#include "lmd-cli-stream.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "lmd-build-config.h"
#include <stdio.h>
#include <string.h>

#include "lmd-cli-pcm-reader.h"
#include "lmd-cli-progress.h"
#include "lmd-cli-subtitles.h"

#define READ_BYTES 32768
/* Seconds to wait for the last message after close_stream (the server decodes what is queued,
 * at most [streaming] max_queue_seconds of audio). */
#define LAST_MESSAGE_TIMEOUT_S 120
/* Longest interim shown in place: the end of a longer one (a line that wraps cannot be
 * rewritten with a carriage return). */
#define INTERIM_MAX_CHARS 72

typedef struct {
  const LmdCliOptions *options;
  GMainLoop *loop;                 /* owned */
  SoupSession *session;            /* owned */
  SoupMessage *upgrade;            /* owned; nullable */
  SoupWebsocketConnection *conn;   /* owned; nullable */
  GInputStream *input;             /* borrowed */
  GCancellable *cancellable;       /* owned */
  LmdCliPcmReader *reader;         /* owned */
  GByteArray *pcm;                 /* owned; audio read and not sent yet */
  LmdCliProgress *progress;        /* owned */
  GArray *cues;                    /* owned; LmdCliCue: the finals, for srt/vtt */
  guint64 input_size;
  gboolean reading, eof, connecting, close_sent, got_last, failed, interim_shown;
  guint pace_source, watchdog_source;
  gint64 started_at;               /* monotonic µs when the first frame could be sent */
  guint64 bytes_sent;
  guint chunk_bytes;
  LmdCliExit status;
} StreamRun;

static void pump (StreamRun *run);

static void
finish_run (StreamRun *run)
{
  g_cancellable_cancel (run->cancellable);
  if (run->conn != NULL && soup_websocket_connection_get_state (run->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (run->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
  else if (run->conn == NULL || soup_websocket_connection_get_state (run->conn) == SOUP_WEBSOCKET_STATE_CLOSED)
    g_main_loop_quit (run->loop);
  /* else: closing, on_closed quits */
}

static void
fail (StreamRun *run, LmdCliExit status)
{
  if (!run->failed)
    {
      run->failed = TRUE;
      run->status = status;
    }
  finish_run (run);
}

static void
clear_interim (StreamRun *run)
{
  if (run->interim_shown)
    {
      fputs ("\r\033[K", stdout);
      run->interim_shown = FALSE;
    }
}

static void
on_transcript (StreamRun *run, JsonObject *o)
{
  const char *text = json_object_get_string_member_with_default (o, "transcript", "");
  gboolean is_final = json_object_get_boolean_member_with_default (o, "is_final", FALSE);

  if (!is_final)
    {
      if (run->options->format == LMD_CLI_FORMAT_TEXT && run->options->interim_in_place)
        {
          glong chars = g_utf8_strlen (text, -1);
          const char *shown = chars > INTERIM_MAX_CHARS ? g_utf8_offset_to_pointer (text, chars - INTERIM_MAX_CHARS) : text;
          fprintf (stdout, "\r\033[K%s%s", shown == text ? "" : "…", shown);
          fflush (stdout);
          run->interim_shown = TRUE;
        }
      return;
    }
  if (text[0] == '\0')
    return;
  if (run->options->format == LMD_CLI_FORMAT_TEXT)
    {
      clear_interim (run);
      fprintf (stdout, "%s\n", text);
      fflush (stdout);
    }
  if (json_object_has_member (o, "start") && json_object_has_member (o, "end"))
    lmd_cli_cues_add (run->cues, json_object_get_double_member (o, "start"),
                      json_object_get_double_member (o, "end"), text);
}

static void
on_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  StreamRun *run = user_data;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = g_bytes_get_data (message, &len);
  JsonNode *root;
  JsonObject *o;
  const char *kind;

  if (type != SOUP_WEBSOCKET_DATA_TEXT || data == NULL ||
      !json_parser_load_from_data (parser, data, (gssize) len, NULL) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fprintf (stderr, "lightning-transcribe: the server sent a message that is not a JSON object\n");
      fail (run, LMD_CLI_EXIT_SERVER);
      return;
    }
  o = json_node_get_object (root);
  if (run->options->format == LMD_CLI_FORMAT_JSON)
    {
      fwrite (data, 1, len, stdout);
      fputc ('\n', stdout);
      fflush (stdout);
    }
  kind = json_object_get_string_member_with_default (o, "type", NULL);
  if (g_strcmp0 (kind, "error") == 0)
    {
      clear_interim (run);
      if (!run->failed)
        {
          run->failed = TRUE;
          run->status = lmd_cli_exit_report_stream (json_object_get_string_member_with_default (o, "code", NULL),
                                                    json_object_get_string_member_with_default (o, "error", NULL));
        }
      return; /* the server sends its last message (when any) and closes */
    }
  if (kind != NULL)
    return; /* speech_started, speech_ended */
  on_transcript (run, o);
  if (json_object_get_boolean_member_with_default (o, "is_last", FALSE))
    {
      run->got_last = TRUE;
      finish_run (run);
    }
}

static void
on_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  StreamRun *run = user_data;

  if (!run->got_last && !run->failed)
    {
      clear_interim (run);
      fprintf (stderr, "lightning-transcribe: the server closed the stream (code %u) before its last message\n",
               soup_websocket_connection_get_close_code (conn));
      run->failed = TRUE;
      run->status = LMD_CLI_EXIT_SERVER;
    }
  g_main_loop_quit (run->loop);
}

static gboolean
on_watchdog (gpointer user_data)
{
  StreamRun *run = user_data;

  run->watchdog_source = 0;
  fprintf (stderr, "lightning-transcribe: no last message %d s after the end of the audio\n",
           LAST_MESSAGE_TIMEOUT_S);
  fail (run, LMD_CLI_EXIT_SERVER);
  return G_SOURCE_REMOVE;
}

static gboolean
on_pace (gpointer user_data)
{
  StreamRun *run = user_data;

  run->pace_source = 0;
  pump (run);
  return G_SOURCE_REMOVE;
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StreamRun *run = user_data;
  g_autoptr (GError) error = NULL;

  run->connecting = FALSE;
  run->conn = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  if (run->conn == NULL)
    {
      guint status = soup_message_get_status (run->upgrade);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_main_loop_quit (run->loop);
      else if (status >= 200 && status != SOUP_STATUS_SWITCHING_PROTOCOLS)
        {
          fprintf (stderr, "lightning-transcribe: the server refused the stream: %u %s\n", status,
                   soup_message_get_reason_phrase (run->upgrade));
          run->failed = TRUE;
          run->status = lmd_cli_exit_from_status (status);
          g_main_loop_quit (run->loop);
        }
      else
        {
          run->failed = TRUE;
          run->status = lmd_cli_exit_report_transport (run->options->url, error);
          g_main_loop_quit (run->loop);
        }
      return;
    }
  g_signal_connect (run->conn, "message", G_CALLBACK (on_message), run);
  g_signal_connect (run->conn, "closed", G_CALLBACK (on_closed), run);
  run->started_at = g_get_monotonic_time ();
  pump (run);
}

/* (transfer full) the WebSocket URL of the stream, with the audio's format in the query */
static char *
stream_url (StreamRun *run)
{
  const LmdCliOptions *options = run->options;
  g_autoptr (GString) url = g_string_new (NULL);

  if (g_str_has_prefix (options->url, "https://"))
    g_string_append_printf (url, "wss://%s", options->url + strlen ("https://"));
  else if (g_str_has_prefix (options->url, "http://"))
    g_string_append_printf (url, "ws://%s", options->url + strlen ("http://"));
  else
    g_string_append (url, options->url);
  while (url->len > 0 && url->str[url->len - 1] == '/')
    g_string_truncate (url, url->len - 1);
  g_string_append_printf (url, "/v1/listen/stream?sample_rate=%u&encoding=%s&interim_results=true"
                          "&word_timestamps=true",
                          lmd_cli_pcm_reader_get_sample_rate (run->reader),
                          lmd_cli_pcm_reader_get_encoding (run->reader));
  if (options->model != NULL)
    {
      g_string_append (url, "&model=");
      g_string_append_uri_escaped (url, options->model, NULL, FALSE);
    }
  if (options->language != NULL)
    {
      g_string_append (url, "&language=");
      g_string_append_uri_escaped (url, options->language, NULL, FALSE);
    }
  return g_string_free (g_steal_pointer (&url), FALSE);
}

static void
connect_stream (StreamRun *run)
{
  g_autofree char *url = stream_url (run);

  run->upgrade = soup_message_new (SOUP_METHOD_GET, url);
  if (run->upgrade == NULL)
    {
      fprintf (stderr, "lightning-transcribe: --url %s is not an http(s) URL\n", run->options->url);
      run->failed = TRUE;
      run->status = LMD_CLI_EXIT_USAGE;
      g_main_loop_quit (run->loop);
      return;
    }
  if (run->options->key != NULL)
    {
      g_autofree char *value = g_strdup_printf ("Token %s", run->options->key);
      soup_message_headers_replace (soup_message_get_request_headers (run->upgrade), "Authorization", value);
    }
  run->connecting = TRUE;
  run->chunk_bytes = lmd_cli_pcm_reader_get_bytes_per_second (run->reader) / 10;
  soup_session_websocket_connect_async (run->session, run->upgrade, NULL, NULL, G_PRIORITY_DEFAULT,
                                        run->cancellable, on_connected, run);
}

static void read_more (StreamRun *run);

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StreamRun *run = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);

  run->reading = FALSE;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (bytes == NULL)
    {
      fprintf (stderr, "lightning-transcribe: cannot read the audio: %s\n", error->message);
      fail (run, LMD_CLI_EXIT_INPUT);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      run->eof = TRUE;
      if (!lmd_cli_pcm_reader_finish (run->reader, run->pcm, &error))
        {
          fprintf (stderr, "lightning-transcribe: %s\n", error->message);
          fail (run, LMD_CLI_EXIT_INPUT);
          return;
        }
    }
  else if (!lmd_cli_pcm_reader_push (run->reader, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                     run->pcm, &error))
    {
      fprintf (stderr, "lightning-transcribe: %s\n", error->message);
      fail (run, LMD_CLI_EXIT_INPUT);
      return;
    }
  if (run->upgrade == NULL)
    {
      if (lmd_cli_pcm_reader_has_format (run->reader))
        connect_stream (run);
      else
        read_more (run);
      return;
    }
  pump (run);
}

static void
read_more (StreamRun *run)
{
  if (run->reading || run->eof || run->failed)
    return;
  run->reading = TRUE;
  g_input_stream_read_bytes_async (run->input, READ_BYTES, G_PRIORITY_DEFAULT, run->cancellable,
                                   on_read, run);
}

/* Sends the frames that are due, schedules the next, reads more input, ends the stream. */
static void
pump (StreamRun *run)
{
  guint bytes_per_second = lmd_cli_pcm_reader_get_bytes_per_second (run->reader);
  double total = lmd_cli_pcm_reader_get_expected_bytes (run->reader) / (double) bytes_per_second;

  if (run->conn == NULL || run->failed || run->pace_source != 0 ||
      soup_websocket_connection_get_state (run->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  while (run->pcm->len >= run->chunk_bytes || (run->eof && run->pcm->len > 0))
    {
      gint64 due = run->started_at + (gint64) (run->bytes_sent * (double) G_USEC_PER_SEC /
                                               (bytes_per_second * run->options->speed));
      gint64 now = g_get_monotonic_time ();
      guint n = MIN (run->chunk_bytes, run->pcm->len);

      if (due > now + 1000)
        {
          run->pace_source = g_timeout_add ((guint) ((due - now) / 1000), on_pace, run);
          break;
        }
      soup_websocket_connection_send_binary (run->conn, run->pcm->data, n);
      run->bytes_sent += n;
      g_byte_array_remove_range (run->pcm, 0, n);
      lmd_cli_progress_update (run->progress, "streaming", run->bytes_sent / (double) bytes_per_second,
                               total, "s");
    }
  if (run->eof && run->pcm->len == 0 && !run->close_sent)
    {
      soup_websocket_connection_send_text (run->conn, "{\"type\":\"close_stream\"}");
      run->close_sent = TRUE;
      lmd_cli_progress_clear (run->progress);
      run->watchdog_source = g_timeout_add_seconds (LAST_MESSAGE_TIMEOUT_S, on_watchdog, run);
    }
  else if (run->pcm->len < 2 * run->chunk_bytes)
    read_more (run);
}

LmdCliExit
lmd_cli_stream_run (const LmdCliOptions *options, GInputStream *input, guint64 input_size)
{
  StreamRun run = { 0 };

  run.options = options;
  run.loop = g_main_loop_new (NULL, FALSE);
  run.session = soup_session_new_with_options ("user-agent", "lightning-transcribe/" LMD_VERSION, NULL);
  run.input = input;
  run.input_size = input_size;
  run.cancellable = g_cancellable_new ();
  run.reader = lmd_cli_pcm_reader_new (options->sample_rate);
  run.pcm = g_byte_array_new ();
  run.progress = lmd_cli_progress_new (options->progress);
  run.cues = lmd_cli_cues_new ();
  run.status = LMD_CLI_EXIT_OK;

  read_more (&run);
  g_main_loop_run (run.loop);

  /* the callbacks of a read or a connection still in flight (cancelled) come before @run goes */
  while (run.reading || run.connecting)
    g_main_context_iteration (NULL, TRUE);
  clear_interim (&run);
  lmd_cli_progress_clear (run.progress);
  if (!run.failed && (options->format == LMD_CLI_FORMAT_SRT || options->format == LMD_CLI_FORMAT_VTT))
    {
      g_autofree char *text = lmd_cli_cues_render (run.cues, options->format == LMD_CLI_FORMAT_VTT);
      fputs (text, stdout);
    }
  if (fflush (stdout) != 0 && !run.failed)
    run.status = LMD_CLI_EXIT_FAILURE;

  g_clear_handle_id (&run.pace_source, g_source_remove);
  g_clear_handle_id (&run.watchdog_source, g_source_remove);
  if (run.conn != NULL)
    g_signal_handlers_disconnect_by_data (run.conn, &run);
  g_clear_object (&run.conn);
  g_clear_object (&run.upgrade);
  g_clear_object (&run.session);
  g_clear_object (&run.cancellable);
  g_array_unref (run.cues);
  lmd_cli_progress_free (run.progress);
  g_byte_array_unref (run.pcm);
  lmd_cli_pcm_reader_free (run.reader);
  g_main_loop_unref (run.loop);
  return run.status;
}
