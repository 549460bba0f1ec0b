/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-stream-control.c — a live stream's text frame → what the stream does (see the
 * header).  Pure: no connection, no main context, no logging (the stream logs the refusal
 * with its request id).
 */
#include "lmd-http-stream-control.h"

#include "lmd-error.h"
#include "lmd-json.h"

#define CLOSE_POLICY 1008
#define CLOSE_TOO_BIG 1009

/* The project's own control messages (docs/api.md, "Streaming"). */
static LmdHttpStreamControl
own_control (JsonObject *object, GError **error)
{
  JsonNode *node = json_object_get_member (object, "type");
  const char *type = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
                             json_node_get_value_type (node) == G_TYPE_STRING
                         ? json_node_get_string (node)
                         : NULL;

  if (g_strcmp0 (type, "finalize") == 0)
    return LMD_HTTP_STREAM_FINALIZE;
  if (g_strcmp0 (type, "close_stream") == 0 || g_strcmp0 (type, "end") == 0)
    return LMD_HTTP_STREAM_CLOSE;
  g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
               "type" LMD_ERROR_PARAM_SEPARATOR "unknown control message type '%s' (use finalize, "
               "close_stream or end)", type != NULL ? type : "");
  return LMD_HTTP_STREAM_REJECT;
}

LmdHttpStreamControl
lmd_http_stream_control_read (const LmdHttpStreamDialect *dialect, gpointer state, const char *data,
                              gsize len, gushort *close_code, char **param, GError **error)
{
  g_autoptr (GError) json_error = NULL;
  g_autoptr (JsonNode) root = NULL;
  LmdHttpStreamControl control;

  g_return_val_if_fail (data != NULL || len == 0, LMD_HTTP_STREAM_REJECT);
  g_return_val_if_fail (close_code != NULL, LMD_HTTP_STREAM_REJECT);
  g_return_val_if_fail (param != NULL && *param == NULL, LMD_HTTP_STREAM_REJECT);
  g_return_val_if_fail (error != NULL && *error == NULL, LMD_HTTP_STREAM_REJECT);

  *close_code = CLOSE_POLICY;
  if (len > LMD_JSON_MAX_CONTROL_BYTES)
    {
      *close_code = CLOSE_TOO_BIG;
      *param = g_strdup ("message");
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE, "a control message of %" G_GSIZE_FORMAT
                   " bytes is over the limit of %u bytes", len, LMD_JSON_MAX_CONTROL_BYTES);
      return LMD_HTTP_STREAM_REJECT;
    }
  root = lmd_json_parse (len > 0 ? data : "", (gssize) len, LMD_JSON_MAX_CONTROL_BYTES, &json_error);
  if (root == NULL && g_error_matches (json_error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP))
    {
      *param = g_strdup ("message");
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "message" LMD_ERROR_PARAM_SEPARATOR "%s", json_error->message);
      return LMD_HTTP_STREAM_REJECT;
    }
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      *param = g_strdup ("message");
      g_set_error_literal (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                           "message" LMD_ERROR_PARAM_SEPARATOR
                           "a control message must be a JSON object such as {\"type\":\"finalize\"}");
      return LMD_HTTP_STREAM_REJECT;
    }
  control = dialect != NULL ? dialect->control (state, json_node_get_object (root), error)
                            : own_control (json_node_get_object (root), error);
  if (control == LMD_HTTP_STREAM_REJECT)
    *param = lmd_error_get_param (*error);
  return control;
}
