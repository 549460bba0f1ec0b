/* SPDX-License-Identifier: MIT */
/*
 * fuzz-json.c — the JSON guard (lmd-json.c) with the bounds of the documents that come from
 * outside: request bodies and options (LMD_JSON_MAX_REQUEST_BYTES) and WebSocket control
 * messages (LMD_JSON_MAX_CONTROL_BYTES).  Accepted documents are walked the way the handlers
 * read them: members by name and type, the control message's "type" string.
 */
#include "lmd-json.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
walk (JsonNode *node, guint depth)
{
  g_assert (depth <= LMD_JSON_MAX_DEPTH + 1);
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        g_autoptr (GList) members = json_object_get_members (object);
        for (GList *l = members; l != NULL; l = l->next)
          walk (json_object_get_member (object, l->data), depth + 1);
        if (json_object_has_member (object, "type") &&
            JSON_NODE_HOLDS_VALUE (json_object_get_member (object, "type")) &&
            json_node_get_value_type (json_object_get_member (object, "type")) == G_TYPE_STRING)
          (void) g_utf8_validate (json_object_get_string_member (object, "type"), -1, NULL);
        break;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        for (guint i = 0; i < json_array_get_length (array); i++)
          walk (json_array_get_element (array, i), depth + 1);
        break;
      }
    case JSON_NODE_VALUE:
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        (void) strlen (json_node_get_string (node));
      else if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
        (void) json_node_get_double (node);
      else if (json_node_get_value_type (node) == G_TYPE_INT64)
        (void) json_node_get_int (node);
      break;
    case JSON_NODE_NULL:
      break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const gsize bounds[] = { LMD_JSON_MAX_REQUEST_BYTES, LMD_JSON_MAX_CONTROL_BYTES };

  for (guint i = 0; i < G_N_ELEMENTS (bounds); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) root = lmd_json_parse ((const char *) data, (gssize) size, bounds[i],
                                                  &error);
      /* exactly one of a document and an error */
      g_assert ((root == NULL) != (error == NULL));
      if (root != NULL)
        walk (root, 0);
      else
        g_assert (error->domain == LMD_JSON_ERROR && error->message != NULL);
    }
  return 0;
}
