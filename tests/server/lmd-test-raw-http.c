/* SPDX-License-Identifier: MIT */
#include "lmd-test-raw-http.h"

#include <string.h>

GSocketConnection *
lmd_test_raw_connect (guint port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn;

  g_socket_client_set_timeout (client, 10);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) port, NULL, &error);
  g_assert_no_error (error);
  return conn;
}

gboolean
lmd_test_raw_send (GSocketConnection *conn, const void *data, gsize len)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));

  g_socket_set_timeout (g_socket_connection_get_socket (conn), 30);
  return g_output_stream_write_all (out, data, len, NULL, NULL, NULL);
}

/* The declared length of the body in @head (the headers, NUL-terminated), -1 if none. */
static gint64
content_length (const char *head)
{
  g_auto (GStrv) lines = g_strsplit (head, "\r\n", -1);

  for (guint i = 1; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp (lines[i], "Content-Length:", 15) == 0)
      return g_ascii_strtoll (lines[i] + 15, NULL, 10);
  return -1;
}

char *
lmd_test_raw_read_response (GSocketConnection *conn, double timeout_s, gboolean *closed)
{
  GSocket *socket = g_socket_connection_get_socket (conn);
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  GString *in = g_string_new (NULL);
  gboolean eof = FALSE;

  while (g_get_monotonic_time () < deadline)
    {
      char buffer[16384];
      gssize n;
      const char *end = strstr (in->str, "\r\n\r\n");

      if (end != NULL)
        {
          g_autofree char *head = g_strndup (in->str, (gsize) (end - in->str));
          gint64 length = content_length (head);
          if (length >= 0 && (gint64) (in->len - (gsize) (end + 4 - in->str)) >= length)
            break;
        }
      if (!g_socket_condition_timed_wait (socket, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                          deadline - g_get_monotonic_time (), NULL, NULL))
        break;
      n = g_socket_receive (socket, buffer, sizeof buffer, NULL, NULL);
      if (n <= 0)
        {
          eof = TRUE;
          break;
        }
      g_string_append_len (in, buffer, n);
    }
  if (closed != NULL)
    {
      /* after a whole response: is the connection closed too? (a short look) */
      if (!eof && g_socket_condition_timed_wait (socket, G_IO_IN | G_IO_HUP, 200 * 1000, NULL, NULL))
        {
          char byte;
          eof = g_socket_receive (socket, &byte, 1, NULL, NULL) <= 0;
        }
      *closed = eof;
    }
  if (in->len == 0)
    {
      g_string_free (in, TRUE);
      return NULL;
    }
  return g_string_free (in, FALSE);
}

guint
lmd_test_raw_status (const char *response)
{
  if (response == NULL || !g_str_has_prefix (response, "HTTP/1."))
    return 0;
  return (guint) g_ascii_strtoull (response + 9, NULL, 10);
}

const char *
lmd_test_raw_body (const char *response)
{
  const char *end = response != NULL ? strstr (response, "\r\n\r\n") : NULL;

  return end != NULL ? end + 4 : "";
}

char *
lmd_test_raw_header (const char *response, const char *name)
{
  const char *end = response != NULL ? strstr (response, "\r\n\r\n") : NULL;
  g_autofree char *head = NULL;
  g_auto (GStrv) lines = NULL;
  gsize name_len = strlen (name);

  if (end == NULL)
    return NULL;
  head = g_strndup (response, (gsize) (end - response));
  lines = g_strsplit (head, "\r\n", -1);
  for (guint i = 1; lines[i] != NULL; i++)
    if (g_ascii_strncasecmp (lines[i], name, name_len) == 0 && lines[i][name_len] == ':')
      return g_strstrip (g_strdup (lines[i] + name_len + 1));
  return NULL;
}
