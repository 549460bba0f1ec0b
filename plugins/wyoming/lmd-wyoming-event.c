/* SPDX-License-Identifier: MIT */
#include "lmd-wyoming-event.h"

#include <math.h>
#include <string.h>

LmdWyomingEvent *
lmd_wyoming_event_new (const char *type, JsonObject *data)
{
  LmdWyomingEvent *self = g_new0 (LmdWyomingEvent, 1);

  self->type = g_strdup (type);
  self->data = data != NULL ? data : json_object_new ();
  return self;
}

void
lmd_wyoming_event_free (LmdWyomingEvent *self)
{
  if (self == NULL)
    return;
  g_free (self->type);
  json_object_unref (self->data);
  g_clear_pointer (&self->payload, g_bytes_unref);
  g_free (self);
}

static char *
object_to_string (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();

  json_node_set_object (node, object);
  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

GBytes *
lmd_wyoming_event_encode (const LmdWyomingEvent *self)
{
  g_autoptr (JsonObject) header = json_object_new ();
  g_autofree char *data = NULL;
  g_autofree char *line = NULL;
  gsize data_len = 0, payload_len = self->payload != NULL ? g_bytes_get_size (self->payload) : 0;
  GByteArray *out;

  json_object_set_string_member (header, "type", self->type);
  json_object_set_string_member (header, "version", LMD_WYOMING_PROTOCOL_VERSION);
  if (json_object_get_size (self->data) > 0)
    {
      data = object_to_string (self->data);
      data_len = strlen (data);
      json_object_set_int_member (header, "data_length", (gint64) data_len);
    }
  if (payload_len > 0)
    json_object_set_int_member (header, "payload_length", (gint64) payload_len);
  line = object_to_string (header);

  out = g_byte_array_sized_new ((guint) (strlen (line) + 1 + data_len + payload_len));
  g_byte_array_append (out, (const guint8 *) line, (guint) strlen (line));
  g_byte_array_append (out, (const guint8 *) "\n", 1);
  if (data_len > 0)
    g_byte_array_append (out, (const guint8 *) data, (guint) data_len);
  if (payload_len > 0)
    g_byte_array_append (out, g_bytes_get_data (self->payload, NULL), (guint) payload_len);
  return g_byte_array_free_to_bytes (out);
}

gboolean
lmd_wyoming_event_get_int (const LmdWyomingEvent *self, const char *name, gint64 *out)
{
  JsonNode *node = json_object_get_member (self->data, name);
  double value;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    {
      *out = json_node_get_int (node);
      return TRUE;
    }
  if (json_node_get_value_type (node) != G_TYPE_DOUBLE)
    return FALSE;
  value = json_node_get_double (node);
  if (!isfinite (value) || value != floor (value) || fabs (value) > 9.0e15)
    return FALSE;
  *out = (gint64) value;
  return TRUE;
}

const char *
lmd_wyoming_event_get_string (const LmdWyomingEvent *self, const char *name)
{
  JsonNode *node = json_object_get_member (self->data, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}
