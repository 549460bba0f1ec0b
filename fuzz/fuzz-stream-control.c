/* SPDX-License-Identifier: MIT */
/*
 * fuzz-stream-control.c — the text frames of a live WebSocket stream, in both dialects that
 * read them (plugins/http/lmd-http-stream-control.c): the project's own messages (finalize,
 * close_stream, end) and Deepgram's live ones (KeepAlive, Finalize, CloseStream), with the
 * Deepgram stream's query read first the way /v1/listen reads it.
 *
 * The input: the first byte's low bit picks the dialect (0: the project's, 1: Deepgram's);
 * for Deepgram the rest of the first line is the query string; what follows is cut at each
 * 0xff byte (never part of UTF-8, so of no JSON document) into text frames, read in turn
 * until one closes the stream.  The first byte's bit 1 sends one frame of
 * LMD_JSON_MAX_CONTROL_BYTES + 1 bytes after them.  Checked for every frame: a refusal
 * carries an LMD_ERROR with a parameter and a sentence and closes with 1009 (a frame over the
 * limit) or 1008 and names the parameter ("message" or "type"); anything else is a JSON object whose "type" (read again with json-glib
 * alone) is one of the dialect's names for what was answered; a refusal's message in the
 * dialect's shape is a JSON object.
 */
#include "lmd-error.h"
#include "lmd-http-response.h"
#include "lmd-http-stream-control.h"
#include "lmd-json.h"

#include <libsoup/soup.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* "type" of @data read by json-glib without the project's guard (NULL: none) */
static char *
type_of (const char *data, gsize len)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root, *node;

  if (!json_parser_load_from_data (parser, data, (gssize) len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  node = json_object_get_member (json_node_get_object (root), "type");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

static void
check_answer (const LmdHttpStreamDialect *dialect, gpointer state, LmdHttpStreamControl control,
              const char *data, gsize len, gushort close_code, const char *param, const GError *error)
{
  if (control == LMD_HTTP_STREAM_REJECT)
    {
      g_autofree char *sentence = NULL, *shaped = NULL;
      LmdHttpStreamInfo info = { .session_id = "fuzz", .request_id = "req_fuzz" };
      const char *code;

      g_assert_nonnull (error);
      g_assert_true (error->domain == LMD_ERROR);
      g_assert_true (error->code == LMD_ERROR_INVALID_PARAMETER || error->code == LMD_ERROR_FILE_TOO_LARGE);
      g_assert_true ((close_code == 1009) == (len > LMD_JSON_MAX_CONTROL_BYTES));
      g_assert_true (close_code == 1009 || close_code == 1008);
      sentence = lmd_error_get_sentence (error);
      g_assert_true (g_strcmp0 (param, "message") == 0 || g_strcmp0 (param, "type") == 0);
      g_assert_true (sentence[0] != '\0');
      code = lmd_error_code_name (lmd_error_classify (error));
      shaped = dialect != NULL ? dialect->write_error (state, &info, code, param, sentence)
                               : lmd_http_stream_error_json (code, param, sentence);
      if (shaped != NULL)
        {
          g_autoptr (GError) parse_error = NULL;
          g_autoptr (JsonNode) root = lmd_json_parse (shaped, -1, G_MAXSIZE, &parse_error);
          g_assert_no_error (parse_error);
          g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
        }
      return;
    }
  g_assert_null (error);
  g_assert_null (param);
  {
    g_autofree char *type = type_of (data, len);
    g_assert_nonnull (type);
    switch (control)
      {
      case LMD_HTTP_STREAM_KEEP_ALIVE:
        g_assert_nonnull (dialect);
        g_assert_cmpstr (type, ==, "KeepAlive");
        break;
      case LMD_HTTP_STREAM_FINALIZE:
        g_assert_cmpstr (type, ==, dialect != NULL ? "Finalize" : "finalize");
        break;
      case LMD_HTTP_STREAM_CLOSE:
        if (dialect != NULL)
          g_assert_cmpstr (type, ==, "CloseStream");
        else
          g_assert_true (g_str_equal (type, "close_stream") || g_str_equal (type, "end"));
        break;
      case LMD_HTTP_STREAM_REJECT:
        g_assert_not_reached ();
      }
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const LmdHttpStreamDialect *dialect;
  LmdHttpStreamParams params = { .sample_rate = 16000 };
  gpointer state = NULL;
  const uint8_t *p, *end = data + size;
  gboolean closed = FALSE;

  if (size < 1)
    return 0;
  params.language = g_strdup ("en");
  dialect = (data[0] & 1) ? &lmd_http_deepgram_stream_dialect : NULL;
  p = data + 1;
  if (dialect != NULL)
    {
      const uint8_t *newline = memchr (p, '\n', (gsize) (end - p));
      gsize query_len = newline != NULL ? (gsize) (newline - p) : (gsize) (end - p);
      g_autofree char *raw_query = g_strndup ((const char *) p, query_len);
      g_autoptr (GHashTable) query = query_len > 0 ? soup_form_decode (raw_query) : NULL;
      g_autoptr (GError) error = NULL;

      if (!dialect->parse (query, raw_query, &params, &state, &error))
        g_assert_true (error != NULL && error->domain == LMD_ERROR && error->message[0] != '\0');
      else
        g_assert_no_error (error);
      /* a refused query ends the stream before any frame; the state is freed all the same */
      if (error != NULL)
        closed = TRUE;
      p = newline != NULL ? newline + 1 : end;
    }
  while (!closed && p < end)
    {
      const uint8_t *cut = memchr (p, 0xff, (gsize) (end - p));
      gsize len = cut != NULL ? (gsize) (cut - p) : (gsize) (end - p);
      g_autoptr (GError) error = NULL;
      g_autofree char *param = NULL;
      gushort close_code = 0;
      LmdHttpStreamControl control =
        lmd_http_stream_control_read (dialect, state, (const char *) p, len, &close_code, &param, &error);

      check_answer (dialect, state, control, (const char *) p, len, close_code, param, error);
      closed = control == LMD_HTTP_STREAM_CLOSE || control == LMD_HTTP_STREAM_REJECT;
      p = cut != NULL ? cut + 1 : end;
    }
  if (!closed && (data[0] & 2))
    {
      g_autofree char *big = g_malloc (LMD_JSON_MAX_CONTROL_BYTES + 1);
      g_autoptr (GError) error = NULL;
      g_autofree char *param = NULL;
      gushort close_code = 0;
      LmdHttpStreamControl control;

      memset (big, ' ', LMD_JSON_MAX_CONTROL_BYTES + 1);
      control = lmd_http_stream_control_read (dialect, state, big, LMD_JSON_MAX_CONTROL_BYTES + 1,
                                              &close_code, &param, &error);
      g_assert_true (control == LMD_HTTP_STREAM_REJECT && close_code == 1009);
      g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
      check_answer (dialect, state, control, big, LMD_JSON_MAX_CONTROL_BYTES + 1, close_code, param, error);
    }
  if (dialect != NULL && state != NULL)
    dialect->free_state (state);
  g_free (params.language);
  g_free (params.model);
  return 0;
}
