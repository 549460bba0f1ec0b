/* SPDX-License-Identifier: MIT */
#include "lmd-wyoming-event-reader.h"

#include <string.h>

#include "lmd-error.h"
#include "lmd-json.h"

struct _LmdWyomingEventReader {
  LmdWyomingBounds bounds;
  GByteArray *buffer;          /* owned: bytes received, from offset on not yet consumed */
  gsize offset;
  gsize scanned;               /* bytes after offset already searched for '\n' */
  LmdWyomingEvent *partial;    /* owned, nullable: header read, waiting for data/payload */
  gsize data_length;
  gsize payload_length;
};

LmdWyomingEventReader *
lmd_wyoming_event_reader_new (const LmdWyomingBounds *bounds)
{
  LmdWyomingEventReader *self = g_new0 (LmdWyomingEventReader, 1);

  self->bounds = *bounds;
  /* allocated now: next() on a reader that has been given nothing (or only empty pushes)
   * computes buffer->data + offset, undefined on the NULL of an empty GByteArray */
  self->buffer = g_byte_array_sized_new (4096);
  return self;
}

void
lmd_wyoming_event_reader_free (LmdWyomingEventReader *self)
{
  if (self == NULL)
    return;
  g_byte_array_unref (self->buffer);
  lmd_wyoming_event_free (self->partial);
  g_free (self);
}

void
lmd_wyoming_event_reader_push (LmdWyomingEventReader *self, const guint8 *data, gsize len)
{
  /* drop what was consumed before growing, so the buffer holds at most one event and the
   * bytes after it */
  if (self->offset > 0 && self->offset >= self->buffer->len / 2)
    {
      g_byte_array_remove_range (self->buffer, 0, (guint) self->offset);
      self->offset = 0;
    }
  g_byte_array_append (self->buffer, data, (guint) len);
}

gsize
lmd_wyoming_event_reader_get_pending (LmdWyomingEventReader *self)
{
  return self->buffer->len - self->offset;
}

/* Reads the optional length member @name of @header into *@out (0 when absent). */
static gboolean
read_length (JsonObject *header, const char *name, gsize bound, gsize *out, GError **error)
{
  JsonNode *node = json_object_get_member (header, name);
  gint64 value;

  *out = 0;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64 ||
      (value = json_node_get_int (node)) < 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "%s" LMD_ERROR_PARAM_SEPARATOR "must be an integer >= 0", name);
      return FALSE;
    }
  if ((guint64) value > bound)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "%s" LMD_ERROR_PARAM_SEPARATOR "%" G_GINT64_FORMAT " bytes is over the limit "
                   "of %" G_GSIZE_FORMAT, name, value, bound);
      return FALSE;
    }
  *out = (gsize) value;
  return TRUE;
}

static JsonObject *
parse_object (const char *text, gsize len, const char *what, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) root = NULL;

  if (!g_utf8_validate (text, (gssize) len, NULL))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER, "the %s is not UTF-8", what);
      return NULL;
    }
  /* the length is bounded by the reader's own limits; lmd_json_parse() bounds the nesting
   * and refuses a second value on the line */
  root = lmd_json_parse (text, (gssize) len, G_MAXSIZE, &local);
  if (root == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER, "the %s is not JSON: %s", what,
                   local->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER, "the %s is not a JSON object", what);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/* Parses one header line into self->partial. */
static gboolean
parse_header (LmdWyomingEventReader *self, const char *line, gsize len, GError **error)
{
  g_autoptr (JsonObject) header = parse_object (line, len, "header line", error);
  JsonNode *type, *data;
  JsonObject *data_object = NULL;

  if (header == NULL)
    return FALSE;
  type = json_object_get_member (header, "type");
  if (type == NULL || !JSON_NODE_HOLDS_VALUE (type) || json_node_get_value_type (type) != G_TYPE_STRING ||
      json_node_get_string (type)[0] == '\0')
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "type" LMD_ERROR_PARAM_SEPARATOR "the header has no event type");
      return FALSE;
    }
  data = json_object_get_member (header, "data");
  if (data != NULL && JSON_NODE_HOLDS_OBJECT (data))
    data_object = json_object_ref (json_node_get_object (data));
  else if (data != NULL && !JSON_NODE_HOLDS_NULL (data))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "data" LMD_ERROR_PARAM_SEPARATOR "must be a JSON object");
      return FALSE;
    }
  if (!read_length (header, "data_length", self->bounds.max_data_bytes, &self->data_length, error) ||
      !read_length (header, "payload_length", self->bounds.max_payload_bytes, &self->payload_length, error))
    {
      if (data_object != NULL)
        json_object_unref (data_object);
      return FALSE;
    }
  self->partial = lmd_wyoming_event_new (json_node_get_string (type), data_object);
  return TRUE;
}

LmdWyomingEvent *
lmd_wyoming_event_reader_next (LmdWyomingEventReader *self, GError **error)
{
  const guint8 *base;
  gsize available;

  for (;;)
    {
      base = self->buffer->data + self->offset;
      available = self->buffer->len - self->offset;
      if (self->partial == NULL)
        {
          const guint8 *newline = memchr (base + self->scanned, '\n', available - self->scanned);
          gsize len;

          if (newline == NULL)
            {
              self->scanned = available;
              if (available > self->bounds.max_header_bytes)
                {
                  g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                               "the header line is over the limit of %" G_GSIZE_FORMAT " bytes",
                               self->bounds.max_header_bytes);
                  return NULL;
                }
              return NULL;
            }
          len = (gsize) (newline - base);
          if (len > self->bounds.max_header_bytes)
            {
              g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                           "the header line is over the limit of %" G_GSIZE_FORMAT " bytes",
                           self->bounds.max_header_bytes);
              return NULL;
            }
          self->offset += len + 1;
          self->scanned = 0;
          if (len > 0 && base[len - 1] == '\r')
            len--;
          if (len == 0)
            continue; /* blank lines between events are tolerated */
          if (!parse_header (self, (const char *) base, len, error))
            return NULL;
          continue;
        }
      if (available < self->data_length + self->payload_length)
        return NULL;
      if (self->data_length > 0)
        {
          g_autoptr (JsonObject) extra = parse_object ((const char *) base, self->data_length,
                                                       "additional data", error);
          JsonObjectIter iter;
          const char *name;
          JsonNode *value;

          if (extra == NULL)
            return NULL;
          /* the additional data is merged over the header's "data" */
          json_object_iter_init (&iter, extra);
          while (json_object_iter_next (&iter, &name, &value))
            json_object_set_member (self->partial->data, name, json_node_copy (value));
        }
      if (self->payload_length > 0)
        self->partial->payload = g_bytes_new (base + self->data_length, self->payload_length);
      self->offset += self->data_length + self->payload_length;
      self->data_length = self->payload_length = 0;
      return g_steal_pointer (&self->partial);
    }
}
