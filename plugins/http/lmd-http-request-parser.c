/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-request-parser.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-json.h"

static gboolean
apply_query (LmdTranscribeRequest *request, GHashTable *query, GError **error)
{
  GHashTableIter iter;
  gpointer key, value;

  if (query == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, query);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!lmd_transcribe_options_set (&request->options, key, value, error))
      return FALSE;
  return TRUE;
}

static gboolean
parse_multipart (LmdTranscribeRequest *request, SoupMessageHeaders *request_headers,
                 GBytes *body, GError **error)
{
  g_autoptr (SoupMultipart) multipart = NULL;
  g_autoptr (GBytes) terminated = NULL;
  gsize body_len = 0;
  const char *body_data = g_bytes_get_data (body, &body_len);
  char *copy;
  int n;

  /* libsoup 3.2's multipart parser looks for the end of each part's headers with strstr(),
   * which reads past a body that holds no NUL after its last byte: a request body in memory
   * (read past the heap block) or in a spool file mapped whole (past the mapping when its
   * size is a multiple of the page size, which kills the process).  It gets a copy that
   * ends in a NUL (not counted in the body's length); the parts it returns refer to the copy. */
  copy = g_malloc (body_len + 1);
  if (body_len > 0)
    memcpy (copy, body_data, body_len);
  copy[body_len] = '\0';
  terminated = g_bytes_new_take (copy, body_len);
  multipart = soup_multipart_new_from_message (request_headers, terminated);

  if (multipart == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "body" LMD_ERROR_PARAM_SEPARATOR "malformed multipart/form-data body");
      return FALSE;
    }
  n = soup_multipart_get_length (multipart);
  for (int i = 0; i < n; i++)
    {
      SoupMessageHeaders *headers = NULL;
      GBytes *part = NULL;
      g_autofree char *disposition = NULL;
      g_autoptr (GHashTable) params = NULL;
      const char *name;

      gsize part_len = 0;
      const char *part_data;

      if (!soup_multipart_get_part (multipart, i, &headers, &part))
        continue;
      /* libsoup 3.2 gives a part whose headers end past the next boundary a negative length
       * (G_MAXSIZE): every part must lie within the body */
      part_data = g_bytes_get_data (part, &part_len);
      if (part_len > body_len ||
          (part_len > 0 && (part_data < copy || (gsize) (part_data - copy) > body_len - part_len)))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "body" LMD_ERROR_PARAM_SEPARATOR "malformed multipart/form-data body");
          return FALSE;
        }
      if (!soup_message_headers_get_content_disposition (headers, &disposition, &params))
        continue;
      name = g_hash_table_lookup (params, "name");
      if (name == NULL)
        continue;
      if (g_str_equal (name, "audio") || g_str_equal (name, "file"))
        {
          g_clear_pointer (&request->audio, g_bytes_unref);
          request->audio = g_bytes_ref (part);
        }
      else
        {
          gsize len = 0;
          const char *data = g_bytes_get_data (part, &len);
          g_autofree char *value = g_strndup (data != NULL ? data : "", len);
          if (g_str_equal (name, "timestamp_granularities[]") ||
              g_str_equal (name, "timestamp_granularities"))
            {
              if (g_str_equal (value, "word"))
                request->options.word_timestamps = TRUE;
              continue;
            }
          if (!g_utf8_validate (value, -1, NULL))
            {
              g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                           "%s" LMD_ERROR_PARAM_SEPARATOR "the value is not valid UTF-8", name);
              return FALSE;
            }
          if (!lmd_transcribe_options_set (&request->options, name, g_strstrip (value), error))
            return FALSE;
        }
    }
  if (request->audio == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "audio" LMD_ERROR_PARAM_SEPARATOR
                   "the multipart form has no field named 'audio' or 'file'");
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_json (LmdTranscribeRequest *request, GBytes *body, GError **error)
{
  g_autoptr (GError) parse_error = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (body, &len);
  g_autoptr (JsonNode) root = NULL;
  JsonObject *object;
  g_autoptr (GList) members = NULL;

  if (len == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "url" LMD_ERROR_PARAM_SEPARATOR "the JSON body is empty");
      return FALSE;
    }
  root = lmd_json_parse (data, (gssize) len, LMD_JSON_MAX_REQUEST_BYTES, &parse_error);
  if (root == NULL && g_error_matches (parse_error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_LARGE))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "a JSON body (%" G_GSIZE_FORMAT " bytes) is longer than the limit of %u bytes",
                   len, LMD_JSON_MAX_REQUEST_BYTES);
      return FALSE;
    }
  if (root == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "body" LMD_ERROR_PARAM_SEPARATOR "the body is not valid JSON: %s",
                   parse_error->message);
      return FALSE;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "body" LMD_ERROR_PARAM_SEPARATOR "the JSON body must be an object");
      return FALSE;
    }
  object = json_node_get_object (root);
  members = json_object_get_members (object);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (object, name);
      g_autofree char *text = NULL;

      if (JSON_NODE_HOLDS_NULL (node))
        continue;
      if (!JSON_NODE_HOLDS_VALUE (node))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "%s" LMD_ERROR_PARAM_SEPARATOR "must be a string, number or boolean", name);
          return FALSE;
        }
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_BOOLEAN:
          text = g_strdup (json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_INT64:
          text = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          text = g_strdup_printf ("%g", json_node_get_double (node));
          break;
        default:
          text = g_strdup (json_node_get_string (node));
          break;
        }
      if (g_str_equal (name, "url"))
        {
          if (json_node_get_value_type (node) != G_TYPE_STRING)
            {
              g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                           "url" LMD_ERROR_PARAM_SEPARATOR "must be a string");
              return FALSE;
            }
          g_free (request->url);
          request->url = g_steal_pointer (&text);
        }
      else if (!lmd_transcribe_options_set (&request->options, name, text, error))
        return FALSE;
    }
  if (request->url == NULL || request->url[0] == '\0')
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "url" LMD_ERROR_PARAM_SEPARATOR
                   "a JSON body must carry the audio's \"url\" (or send the audio itself)");
      return FALSE;
    }
  if (!g_str_has_prefix (request->url, "http://") && !g_str_has_prefix (request->url, "https://"))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "url" LMD_ERROR_PARAM_SEPARATOR "only http:// and https:// URLs are fetched");
      return FALSE;
    }
  return TRUE;
}

/* TRUE when @body reads as an HTML form (name=value pairs joined by '&'): printable ASCII
 * only.  Audio is binary from its first bytes (every container's header has bytes outside
 * that range), so a body with any other byte is taken for audio that was sent with
 * application/x-www-form-urlencoded — the type curl's --data-binary sends when no -H is
 * given — and the decoder decides whether it recognises it. */
static gboolean
looks_like_form (GBytes *body)
{
  gsize len = 0;
  const guint8 *p = body != NULL ? g_bytes_get_data (body, &len) : NULL;

  for (gsize i = 0; i < len; i++)
    if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\r' && p[i] != '\n' && p[i] != '\t')
      return FALSE;
  return TRUE;
}

gboolean
lmd_http_request_parse (LmdTranscribeRequest *request, SoupServerMessage *msg, GHashTable *query,
                        GBytes *body, GError **error)
{
  return lmd_http_request_parse_headers (request, soup_server_message_get_request_headers (msg),
                                         query, body, error);
}

gboolean
lmd_http_request_parse_headers (LmdTranscribeRequest *request, SoupMessageHeaders *headers,
                                GHashTable *query, GBytes *body, GError **error)
{
  const char *content_type = soup_message_headers_get_content_type (headers, NULL);

  if (!apply_query (request, query, error))
    return FALSE;
  if (content_type != NULL && g_ascii_strcasecmp (content_type, "multipart/form-data") == 0)
    return parse_multipart (request, headers, body, error);
  if (content_type != NULL && (g_ascii_strcasecmp (content_type, "application/json") == 0 ||
                               g_str_has_suffix (content_type, "+json")))
    return parse_json (request, body, error);
  if (content_type != NULL &&
      g_ascii_strcasecmp (content_type, "application/x-www-form-urlencoded") == 0 &&
      body != NULL && g_bytes_get_size (body) > 0 && looks_like_form (body))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "body" LMD_ERROR_PARAM_SEPARATOR
                   "an HTML form body (application/x-www-form-urlencoded) carries no audio: "
                   "send the audio's bytes with their type (curl --data-binary @speech.wav "
                   "-H 'Content-Type: audio/wav'), as multipart/form-data (curl -F "
                   "file=@speech.wav) or as JSON {\"url\": \"https://...\"}");
      return FALSE;
    }
  if (body == NULL || g_bytes_get_size (body) == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER,
                   "audio" LMD_ERROR_PARAM_SEPARATOR "the request body is empty: send the audio");
      return FALSE;
    }
  request->audio = g_bytes_ref (body);
  return TRUE;
}
