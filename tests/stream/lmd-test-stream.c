/* SPDX-License-Identifier: MIT */
#include "lmd-test-stream.h"

#include <math.h>
#include <string.h>

#include "lmd-test-server.h"

static void
on_message (SoupWebsocketConnection *conn, gint type, GBytes *message, gpointer user_data)
{
  LmdTestStream *self = user_data;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len;
  const char *data = g_bytes_get_data (message, &len);
  gint64 now = g_get_monotonic_time ();
  JsonObject *object;

  if (type != SOUP_WEBSOCKET_DATA_TEXT || !json_parser_load_from_data (parser, data, (gssize) len, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_test_message ("unexpected message: %.*s", (int) len, data);
      return;
    }
  object = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  g_ptr_array_add (self->messages, object);
  g_array_append_val (self->arrivals, now);
  if (json_object_has_member (object, "is_final"))
    {
      if (json_object_get_boolean_member (object, "is_last"))
        self->n_last++;
      else if (json_object_get_boolean_member (object, "is_final"))
        self->n_finals++;
      else
        self->n_interims++;
    }
}

static void
on_closed (SoupWebsocketConnection *conn, gpointer user_data)
{
  LmdTestStream *self = user_data;

  self->closed = TRUE;
  self->close_code = soup_websocket_connection_get_close_code (conn);
}

static void
connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  gpointer *out = user_data;
  GError *error = NULL;

  out[0] = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &error);
  out[1] = error;
  out[2] = GINT_TO_POINTER (1);
}

LmdTestStream *
lmd_test_stream_connect (SoupSession *session, const char *url, GError **error)
{
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", url);
  gpointer out[3] = { NULL, NULL, NULL };
  LmdTestStream *self;

  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        connected, out);
  while (out[2] == NULL)
    g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
  if (out[0] == NULL)
    {
      g_propagate_error (error, out[1]);
      return NULL;
    }
  self = g_new0 (LmdTestStream, 1);
  self->conn = out[0];
  self->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  self->arrivals = g_array_new (FALSE, FALSE, sizeof (gint64));
  /* audio frames up to 1 MiB, so tests can send frames over the server's limit */
  soup_websocket_connection_set_max_incoming_payload_size (self->conn, 1024 * 1024);
  g_signal_connect (self->conn, "message", G_CALLBACK (on_message), self);
  g_signal_connect (self->conn, "closed", G_CALLBACK (on_closed), self);
  return self;
}

void
lmd_test_stream_free (LmdTestStream *self)
{
  if (self == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->conn, self);
  if (soup_websocket_connection_get_state (self->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (self->conn, 1000, NULL);
  g_object_unref (self->conn);
  g_ptr_array_unref (self->messages);
  g_array_unref (self->arrivals);
  g_free (self);
}

void
lmd_test_stream_send (LmdTestStream *self, const void *data, gsize len)
{
  if (soup_websocket_connection_get_state (self->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_binary (self->conn, data, len);
}

void
lmd_test_stream_send_text (LmdTestStream *self, const char *text)
{
  if (soup_websocket_connection_get_state (self->conn) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (self->conn, text);
}

gboolean
lmd_test_stream_wait_closed (LmdTestStream *self, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () +
                    (gint64) (timeout_s * lmd_test_timeout_s (1) * G_USEC_PER_SEC);

  while (!self->closed && g_get_monotonic_time () < deadline)
    g_main_context_iteration (g_main_context_get_thread_default (), FALSE) || (g_usleep (1000), TRUE);
  return self->closed;
}

char *
lmd_test_stream_finals_text (LmdTestStream *self)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < self->messages->len; i++)
    {
      JsonObject *m = self->messages->pdata[i];
      const char *text;
      if (!json_object_has_member (m, "is_final") || !json_object_get_boolean_member (m, "is_final"))
        continue;
      text = json_object_get_string_member (m, "transcript");
      if (text[0] == '\0')
        continue;
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, text);
    }
  return g_string_free (out, FALSE);
}

JsonObject *
lmd_test_stream_find_type (LmdTestStream *self, const char *type)
{
  for (guint i = 0; i < self->messages->len; i++)
    {
      JsonObject *m = self->messages->pdata[i];
      if (json_object_has_member (m, "type") &&
          g_str_equal (json_object_get_string_member (m, "type"), type != NULL ? type : "error"))
        return m;
    }
  return NULL;
}

static gint16
to_s16 (float v)
{
  float s = v * 32768.0f;
  return s >= 32767.0f ? 32767 : s <= -32768.0f ? -32768 : (gint16) lrintf (s);
}

GBytes *
lmd_test_encode_linear16 (const float *samples, gsize n)
{
  guint8 *out = g_malloc (2 * n);

  for (gsize i = 0; i < n; i++)
    {
      gint16 s = to_s16 (samples[i]);
      out[2 * i] = (guint8) (s & 0xff);
      out[2 * i + 1] = (guint8) ((guint16) s >> 8);
    }
  return g_bytes_new_take (out, 2 * n);
}

GBytes *
lmd_test_encode_linear32 (const float *samples, gsize n)
{
  float *out = g_memdup2 (samples, n * sizeof (float)); /* little-endian hosts */
  return g_bytes_new_take (out, n * sizeof (float));
}

/* G.711 µ-law encoder (the inverse of the server's decoder). */
static guint8
mulaw_encode (gint16 sample)
{
  int sign = sample < 0 ? 0x80 : 0;
  int magnitude = MIN (sample < 0 ? -(int) sample : (int) sample, 32635) + 0x84;
  int exponent = 7;

  for (int mask = 0x4000; (magnitude & mask) == 0 && exponent > 0; mask >>= 1)
    exponent--;
  return (guint8) ~(sign | (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0f));
}

GBytes *
lmd_test_encode_mulaw (const float *samples, gsize n)
{
  guint8 *out = g_malloc (n);

  for (gsize i = 0; i < n; i++)
    out[i] = mulaw_encode (to_s16 (samples[i]));
  return g_bytes_new_take (out, n);
}

float *
lmd_test_resample (const float *samples, gsize n, guint rate, gsize *out_n)
{
  float *out;

  if (rate == 8000)
    {
      /* low-pass at 3.6 kHz (31-tap Hann-windowed sinc), keep every other sample */
      const int taps = 15;
      *out_n = n / 2;
      out = g_new0 (float, *out_n);
      for (gsize j = 0; j < *out_n; j++)
        {
          double acc = 0.0;
          for (int k = -taps; k <= taps; k++)
            {
              gssize i = (gssize) (2 * j) + k;
              double x = G_PI * 0.45 * k;
              double h = 0.45 * (k == 0 ? 1.0 : sin (x) / x) * (0.5 + 0.5 * cos (G_PI * k / (taps + 1)));
              if (i >= 0 && (gsize) i < n)
                acc += samples[i] * h;
            }
          out[j] = (float) acc;
        }
      return out;
    }
  else
    {
      guint factor = rate / 16000;
      *out_n = n * factor;
      out = g_new0 (float, *out_n);
      for (gsize i = 0; i < n; i++)
        for (guint f = 0; f < factor; f++)
          {
            float next = i + 1 < n ? samples[i + 1] : 0.0f;
            out[i * factor + f] = samples[i] + (next - samples[i]) * (float) f / factor;
          }
      return out;
    }
}
