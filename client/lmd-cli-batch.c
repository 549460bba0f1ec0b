/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-batch.c — one upload, one answer (see the header).
 */
#include "lmd-cli-batch.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "lmd-build-config.h"
#include <stdio.h>

#include "lmd-cli-progress.h"

typedef struct {
  GMainLoop *loop;           /* owned */
  LmdCliProgress *progress;  /* owned */
  gsize body_size;
  gsize body_sent;
  gboolean body_done;
  guint tick_source;
  guint status;
  GBytes *answer;            /* owned; nullable */
  GError *error;             /* owned; nullable: no answer */
} BatchRun;

static void
on_wrote_body_data (SoupMessage *msg, guint chunk_size, gpointer user_data)
{
  BatchRun *run = user_data;

  run->body_sent += chunk_size;
  lmd_cli_progress_update (run->progress, "uploading", (double) run->body_sent,
                           (double) run->body_size, "bytes");
}

static void
on_wrote_body (SoupMessage *msg, gpointer user_data)
{
  BatchRun *run = user_data;

  run->body_done = TRUE;
}

static gboolean
on_tick (gpointer user_data)
{
  BatchRun *run = user_data;

  if (run->body_done)
    lmd_cli_progress_tick (run->progress, "transcribing");
  return G_SOURCE_CONTINUE;
}

static void
on_answer (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BatchRun *run = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  run->answer = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &run->error);
  run->status = soup_message_get_status (msg);
  g_main_loop_quit (run->loop);
}

/* (transfer full) the request URL: @path on the base URL with the options in the query */
static char *
request_url (const LmdCliOptions *options, const char *path, gboolean with_query)
{
  g_autoptr (GString) url = g_string_new (options->url);

  while (url->len > 0 && url->str[url->len - 1] == '/')
    g_string_truncate (url, url->len - 1);
  g_string_append (url, path);
  if (with_query)
    {
      g_string_append (url, "?timestamps=true");
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
    }
  return g_string_free (g_steal_pointer (&url), FALSE);
}

static SoupMessage *
build_message (const LmdCliOptions *options, GBytes *audio, const char *filename, GBytes **body)
{
  gboolean subtitles = options->format == LMD_CLI_FORMAT_SRT || options->format == LMD_CLI_FORMAT_VTT;
  g_autofree char *url = request_url (options, subtitles ? "/v1/audio/transcriptions" : "/v1/listen",
                                      !subtitles);
  SoupMessage *msg = soup_message_new (SOUP_METHOD_POST, url);

  if (msg == NULL)
    return NULL;
  if (subtitles)
    {
      g_autoptr (SoupMultipart) form = soup_multipart_new (SOUP_FORM_MIME_TYPE_MULTIPART);
      soup_multipart_append_form_file (form, "file", filename, "application/octet-stream", audio);
      soup_multipart_append_form_string (form, "response_format",
                                         options->format == LMD_CLI_FORMAT_SRT ? "srt" : "vtt");
      if (options->model != NULL)
        soup_multipart_append_form_string (form, "model", options->model);
      if (options->language != NULL)
        soup_multipart_append_form_string (form, "language", options->language);
      soup_multipart_to_message (form, soup_message_get_request_headers (msg), body);
      soup_message_set_request_body_from_bytes (msg, NULL, *body);
    }
  else
    {
      *body = g_bytes_ref (audio);
      soup_message_set_request_body_from_bytes (msg, "application/octet-stream", audio);
    }
  if (options->key != NULL)
    {
      g_autofree char *value = g_strdup_printf ("Token %s", options->key);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
    }
  return msg;
}

static LmdCliExit
print_answer (const LmdCliOptions *options, GBytes *answer)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (answer, &len);

  if (options->format == LMD_CLI_FORMAT_TEXT)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonNode *root;
      const char *text;

      if (!json_parser_load_from_data (parser, data != NULL ? data : "", (gssize) len, NULL) ||
          (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
          (text = json_object_get_string_member_with_default (json_node_get_object (root), "text", NULL)) == NULL)
        {
          fprintf (stderr, "lightning-transcribe: the server's answer has no \"text\"\n");
          return LMD_CLI_EXIT_SERVER;
        }
      printf ("%s\n", text);
    }
  else
    {
      fwrite (data, 1, len, stdout);
      if (len > 0 && data[len - 1] != '\n' && options->format == LMD_CLI_FORMAT_JSON)
        fputc ('\n', stdout);
    }
  if (fflush (stdout) != 0 || ferror (stdout))
    {
      fprintf (stderr, "lightning-transcribe: cannot write the transcript\n");
      return LMD_CLI_EXIT_FAILURE;
    }
  return LMD_CLI_EXIT_OK;
}

LmdCliExit
lmd_cli_batch_run (const LmdCliOptions *options, GBytes *audio, const char *filename)
{
  g_autoptr (SoupSession) session = soup_session_new_with_options ("timeout", 0, "idle-timeout", 0,
                                                                   "user-agent", "lightning-transcribe/" LMD_VERSION,
                                                                   NULL);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (SoupMessage) msg = build_message (options, audio, filename, &body);
  BatchRun run = { 0 };
  LmdCliExit status;

  if (msg == NULL)
    {
      fprintf (stderr, "lightning-transcribe: --url %s is not an http(s) URL\n", options->url);
      return LMD_CLI_EXIT_USAGE;
    }
  run.loop = g_main_loop_new (NULL, FALSE);
  run.progress = lmd_cli_progress_new (options->progress);
  run.body_size = g_bytes_get_size (body);
  g_signal_connect (msg, "wrote-body-data", G_CALLBACK (on_wrote_body_data), &run);
  g_signal_connect (msg, "wrote-body", G_CALLBACK (on_wrote_body), &run);
  run.tick_source = g_timeout_add (100, on_tick, &run);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, on_answer, &run);
  g_main_loop_run (run.loop);
  g_source_remove (run.tick_source);
  lmd_cli_progress_free (run.progress);

  if (run.answer == NULL)
    status = lmd_cli_exit_report_transport (options->url, run.error);
  else if (run.status == SOUP_STATUS_OK)
    status = print_answer (options, run.answer);
  else
    status = lmd_cli_exit_report_http (run.status, run.answer);
  g_clear_pointer (&run.answer, g_bytes_unref);
  g_clear_error (&run.error);
  g_main_loop_unref (run.loop);
  return status;
}
