/* SPDX-License-Identifier: MIT */
#include "lmd-test-wyoming-client.h"

#include <string.h>

struct _LmdTestWyomingClient {
  GSocketConnection *connection;  /* owned */
  GDataInputStream *in;           /* owned */
  GOutputStream *out;             /* borrowed from connection */
};

void
lmd_test_wyoming_event_free (LmdTestWyomingEvent *self)
{
  if (self == NULL)
    return;
  g_free (self->type);
  json_object_unref (self->data);
  g_clear_pointer (&self->payload, g_bytes_unref);
  g_free (self);
}

LmdTestWyomingClient *
lmd_test_wyoming_client_connect (guint port, guint timeout_s, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, (guint16) port);
  GSocketConnection *connection;
  LmdTestWyomingClient *self;

  g_socket_client_set_timeout (client, timeout_s);
  connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, error);
  if (connection == NULL)
    return NULL;
  g_socket_set_timeout (g_socket_connection_get_socket (connection), timeout_s);
  self = g_new0 (LmdTestWyomingClient, 1);
  self->connection = connection;
  self->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)));
  g_data_input_stream_set_newline_type (self->in, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (self->in), 65536);
  self->out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  return self;
}

void
lmd_test_wyoming_client_free (LmdTestWyomingClient *self)
{
  if (self == NULL)
    return;
  g_clear_object (&self->in);
  g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_clear_object (&self->connection);
  g_free (self);
}

gboolean
lmd_test_wyoming_client_send_raw (LmdTestWyomingClient *self, const void *bytes, gsize len,
                                  GError **error)
{
  return g_output_stream_write_all (self->out, bytes, len, NULL, NULL, error);
}

gboolean
lmd_test_wyoming_client_send (LmdTestWyomingClient *self, const char *type, const char *data_json,
                              const void *payload, gsize len, GError **error)
{
  g_autoptr (GString) message = g_string_new (NULL);
  gsize data_len = data_json != NULL ? strlen (data_json) : 0;

  g_string_append_printf (message, "{\"type\":\"%s\"", type);
  if (data_len > 0)
    g_string_append_printf (message, ",\"data_length\":%" G_GSIZE_FORMAT, data_len);
  if (len > 0)
    g_string_append_printf (message, ",\"payload_length\":%" G_GSIZE_FORMAT, len);
  g_string_append (message, "}\n");
  if (data_len > 0)
    g_string_append_len (message, data_json, (gssize) data_len);
  if (len > 0)
    g_string_append_len (message, payload, (gssize) len);
  return lmd_test_wyoming_client_send_raw (self, message->str, message->len, error);
}

static JsonObject *
parse_object (const char *text, gssize len, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, len, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a JSON object: %s", text);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

static GBytes *
read_exactly (LmdTestWyomingClient *self, gsize len, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (MAX (len, 1));
  gsize got = 0;

  if (!g_input_stream_read_all (G_INPUT_STREAM (self->in), buffer, len, &got, NULL, error))
    return NULL;
  if (got != len)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT, "the stream ended inside an event");
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&buffer), len);
}

LmdTestWyomingEvent *
lmd_test_wyoming_client_receive (LmdTestWyomingClient *self, GError **error)
{
  g_autoptr (LmdTestWyomingEvent) event = NULL;
  g_autoptr (JsonObject) header = NULL;
  g_autofree char *line = NULL;
  gsize line_len = 0;
  JsonNode *data;
  gint64 data_length, payload_length;

  line = g_data_input_stream_read_line (self->in, &line_len, NULL, error);
  if (line == NULL)
    return NULL;
  header = parse_object (line, (gssize) line_len, error);
  if (header == NULL)
    return NULL;
  event = g_new0 (LmdTestWyomingEvent, 1);
  event->type = g_strdup (json_object_get_string_member_with_default (header, "type", ""));
  data = json_object_get_member (header, "data");
  event->data = data != NULL && JSON_NODE_HOLDS_OBJECT (data) ? json_object_ref (json_node_get_object (data))
                                                               : json_object_new ();
  data_length = json_object_get_int_member_with_default (header, "data_length", 0);
  payload_length = json_object_get_int_member_with_default (header, "payload_length", 0);
  if (data_length > 0)
    {
      g_autoptr (GBytes) bytes = read_exactly (self, (gsize) data_length, error);
      g_autoptr (JsonObject) extra = NULL;
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      if (bytes == NULL)
        return NULL;
      extra = parse_object (g_bytes_get_data (bytes, NULL), (gssize) g_bytes_get_size (bytes), error);
      if (extra == NULL)
        return NULL;
      json_object_iter_init (&iter, extra);
      while (json_object_iter_next (&iter, &name, &value))
        json_object_set_member (event->data, name, json_node_copy (value));
    }
  if (payload_length > 0)
    {
      event->payload = read_exactly (self, (gsize) payload_length, error);
      if (event->payload == NULL)
        return NULL;
    }
  return g_steal_pointer (&event);
}

gboolean
lmd_test_wyoming_client_send_audio (LmdTestWyomingClient *self, const char *language,
                                    const guint8 *pcm, gsize len, guint rate, guint width,
                                    guint channels, gsize chunk_bytes, gboolean realtime,
                                    GError **error)
{
  g_autofree char *format = g_strdup_printf ("{\"rate\":%u,\"width\":%u,\"channels\":%u}", rate,
                                             width, channels);
  double bytes_per_second = (double) rate * width * channels;
  gint64 start;

  if (language != NULL)
    {
      g_autofree char *data = g_strdup_printf ("{\"language\":\"%s\"}", language);
      if (!lmd_test_wyoming_client_send (self, "transcribe", data, NULL, 0, error))
        return FALSE;
    }
  if (!lmd_test_wyoming_client_send (self, "audio-start", format, NULL, 0, error))
    return FALSE;
  start = g_get_monotonic_time ();
  for (gsize offset = 0; offset < len; offset += chunk_bytes)
    {
      gsize n = MIN (chunk_bytes, len - offset);
      if (realtime)
        {
          /* the chunk can be sent once the microphone has recorded it */
          gint64 due = start + (gint64) ((offset + n) / bytes_per_second * G_USEC_PER_SEC);
          gint64 now = g_get_monotonic_time ();
          if (due > now)
            g_usleep ((gulong) (due - now));
        }
      if (!lmd_test_wyoming_client_send (self, "audio-chunk", format, pcm + offset, n, error))
        return FALSE;
    }
  return lmd_test_wyoming_client_send (self, "audio-stop", NULL, NULL, 0, error);
}
