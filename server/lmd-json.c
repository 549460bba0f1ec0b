/* SPDX-License-Identifier: MIT */
#include "lmd-json.h"

#include <string.h>

G_DEFINE_QUARK (lmd-json-error-quark, lmd_json_error)

static gboolean
check_bounds (const char *data, gssize length, gsize max_bytes, guint max_depth, GError **error)
{
  gsize len = length < 0 ? strlen (data) : (gsize) length;
  gboolean in_string = FALSE, escaped = FALSE;
  gboolean top_seen = FALSE; /* a byte of a value outside every array and object */
  guint depth = 0;

  if (len > max_bytes)
    {
      g_set_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_LARGE,
                   "the JSON document (%" G_GSIZE_FORMAT " bytes) is longer than the limit of %"
                   G_GSIZE_FORMAT " bytes", len, max_bytes);
      return FALSE;
    }
  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];

      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE;
          continue;
        }
      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '[':
        case '{':
          /* json-glib 1.6 takes "{…}{…}" and "1[…]" as one document: it returns one
           * of the values and leaks the other (a request could leak memory at will), so a
           * second value is refused here */
          if (depth == 0 && top_seen)
            {
              g_set_error_literal (error, LMD_JSON_ERROR, LMD_JSON_ERROR_INVALID,
                                   "the JSON document holds more than one value");
              return FALSE;
            }
          if (++depth > max_depth)
            {
              g_set_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_DEEP,
                           "the JSON document nests arrays and objects deeper than %u levels",
                           max_depth);
              return FALSE;
            }
          break;
        case ']':
        case '}':
          /* an unbalanced closer is json-glib's to report */
          if (depth > 0 && --depth == 0)
            top_seen = TRUE;
          continue;
        default:
          break;
        }
      if (depth == 0 && c != ' ' && c != '\t' && c != '\n' && c != '\r')
        top_seen = TRUE;
    }
  return TRUE;
}

gboolean
lmd_json_check (const char *data, gssize length, gsize max_bytes, GError **error)
{
  return check_bounds (data, length, max_bytes, LMD_JSON_MAX_DEPTH, error);
}

JsonNode *
lmd_json_parse (const char *data, gssize length, gsize max_bytes, GError **error)
{
  return lmd_json_parse_bounded (data, length, max_bytes, LMD_JSON_MAX_DEPTH, error);
}

JsonNode *
lmd_json_parse_bounded (const char *data, gssize length, gsize max_bytes, guint max_depth,
                        GError **error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) parse_error = NULL;
  gsize len;
  JsonNode *root;

  if (data == NULL)
    data = "";
  len = length < 0 ? strlen (data) : (gsize) length;
  if (!check_bounds (data, (gssize) len, max_bytes, MIN (max_depth, LMD_JSON_MAX_DEPTH), error))
    return NULL;
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, data, (gssize) len, &parse_error))
    {
      g_set_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_INVALID, "%s", parse_error->message);
      return NULL;
    }
  root = json_parser_steal_root (parser);
  if (root == NULL)
    g_set_error_literal (error, LMD_JSON_ERROR, LMD_JSON_ERROR_INVALID, "the JSON document is empty");
  return root;
}

JsonNode *
lmd_json_parse_file (const char *path, gsize max_bytes, GError **error)
{
  g_autoptr (GMappedFile) file = g_mapped_file_new (path, FALSE, error);
  gsize len;

  if (file == NULL)
    return NULL;
  len = g_mapped_file_get_length (file);
  if (len > max_bytes)
    {
      g_set_error (error, LMD_JSON_ERROR, LMD_JSON_ERROR_TOO_LARGE,
                   "%s (%" G_GSIZE_FORMAT " bytes) is longer than the limit of %" G_GSIZE_FORMAT
                   " bytes", path, len, max_bytes);
      return NULL;
    }
  return lmd_json_parse (g_mapped_file_get_contents (file), (gssize) len, max_bytes, error);
}

static GType
value_type (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
}

gboolean
lmd_json_object_get_boolean (JsonObject *object, const char *name, gboolean default_value)
{
  if (value_type (object, name) != G_TYPE_BOOLEAN)
    return default_value;
  return json_object_get_boolean_member (object, name);
}

gint64
lmd_json_object_get_int (JsonObject *object, const char *name, gint64 default_value)
{
  if (value_type (object, name) != G_TYPE_INT64)
    return default_value;
  return json_object_get_int_member (object, name);
}

double
lmd_json_object_get_double (JsonObject *object, const char *name, double default_value)
{
  GType type = value_type (object, name);

  if (type == G_TYPE_DOUBLE)
    return json_object_get_double_member (object, name);
  if (type == G_TYPE_INT64)
    return (double) json_object_get_int_member (object, name);
  return default_value;
}

JsonObject *
lmd_json_object_get_object (JsonObject *object, const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}
