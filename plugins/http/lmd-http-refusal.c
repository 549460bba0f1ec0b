/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-refusal.h"
#include "lmd-http-listener.h"

#include <string.h>

#define SCRATCH_BYTES 65536

/* One refused connection, from the response's first byte to the close. */
typedef struct {
  GIOStream *stream;     /* owned: taken from libsoup */
  GSocket *socket;       /* owned ref */
  GCancellable *cancel;  /* owned: cancelled by the deadline */
  GSource *deadline;     /* owned, nullable: the end of the write and the linger */
  guint64 drained;       /* bytes of the request read and dropped */
  guint8 scratch[SCRATCH_BYTES];
} Refusal;

static void
refusal_free (Refusal *r)
{
  if (r->deadline != NULL)
    {
      g_source_destroy (r->deadline);
      g_source_unref (r->deadline);
    }
  g_io_stream_close (r->stream, NULL, NULL);
  g_object_unref (r->stream);
  g_object_unref (r->socket);
  g_object_unref (r->cancel);
  g_free (r);
}

static gboolean
on_linger_deadline (gpointer user_data)
{
  Refusal *r = user_data;

  g_clear_pointer (&r->deadline, g_source_unref);
  g_cancellable_cancel (r->cancel);
  return G_SOURCE_REMOVE;
}

static void
on_drained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Refusal *r = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0 || g_cancellable_is_cancelled (r->cancel))
    {
      refusal_free (r); /* end of the client's data, an error, or the deadline */
      return;
    }
  r->drained += (guint64) n;
  g_input_stream_read_async (g_io_stream_get_input_stream (r->stream), r->scratch, sizeof r->scratch,
                             G_PRIORITY_DEFAULT, r->cancel, on_drained, r);
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Refusal *r = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      refusal_free (r);
      return;
    }
  /* the client reads our FIN after the response; what it still sends is dropped */
  g_socket_shutdown (r->socket, FALSE, TRUE, NULL);
  g_input_stream_read_async (g_io_stream_get_input_stream (r->stream), r->scratch, sizeof r->scratch,
                             G_PRIORITY_DEFAULT, r->cancel, on_drained, r);
}

/* (transfer full) the status line, headers and body of @msg's response, as sent on the wire */
static GBytes *
serialise_response (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_response_body (msg));
  guint status = soup_server_message_get_status (msg);
  const char *reason = soup_server_message_get_reason_phrase (msg);
  GString *out = g_string_new (NULL);
  SoupMessageHeadersIter iter;
  const char *name, *value;

  soup_message_headers_remove (headers, "Transfer-Encoding");
  soup_message_headers_set_content_length (headers, (goffset) g_bytes_get_size (body));
  soup_message_headers_replace (headers, "Connection", "close");
  if (soup_message_headers_get_one (headers, "Date") == NULL)
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
      g_autofree char *date = soup_date_time_to_string (now, SOUP_DATE_HTTP);
      soup_message_headers_replace (headers, "Date", date);
    }
  g_string_append_printf (out, "HTTP/1.1 %u %s\r\n", status,
                          reason != NULL ? reason : soup_status_get_phrase (status));
  soup_message_headers_iter_init (&iter, headers);
  while (soup_message_headers_iter_next (&iter, &name, &value))
    g_string_append_printf (out, "%s: %s\r\n", name, value);
  g_string_append (out, "\r\n");
  g_string_append_len (out, g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body));
  return g_string_free_to_bytes (out);
}

static gboolean
take_connection (gpointer user_data)
{
  SoupServerMessage *msg = user_data; /* owned ref */
  GSocket *socket = lmd_http_listener_get_socket (msg);
  g_autoptr (GBytes) response = NULL;
  Refusal *r;

  if (socket == NULL)
    {
      /* the client went away meanwhile: libsoup has closed the connection */
      g_object_unref (msg);
      return G_SOURCE_REMOVE;
    }
  response = serialise_response (msg);
  r = g_new0 (Refusal, 1);
  r->socket = g_object_ref (socket);
  r->cancel = g_cancellable_new ();
  r->stream = soup_server_message_steal_connection (msg);
  g_object_unref (msg);
  if (r->stream == NULL)
    {
      g_object_unref (r->socket);
      g_object_unref (r->cancel);
      g_free (r);
      return G_SOURCE_REMOVE;
    }
  /* writing the answer and lingering after it take LMD_HTTP_REFUSAL_LINGER_MS at most */
  r->deadline = g_timeout_source_new (LMD_HTTP_REFUSAL_LINGER_MS);
  g_source_set_callback (r->deadline, on_linger_deadline, r, NULL);
  g_source_attach (r->deadline, g_main_context_get_thread_default ());
  /* the bytes live as long as the stream, hence the write */
  g_object_set_data_full (G_OBJECT (r->stream), "lmd-refusal-response", g_bytes_ref (response),
                          (GDestroyNotify) g_bytes_unref);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (r->stream),
                                   g_bytes_get_data (response, NULL), g_bytes_get_size (response),
                                   G_PRIORITY_DEFAULT, r->cancel, on_written, r);
  return G_SOURCE_REMOVE;
}

void
lmd_http_refuse_now (SoupServerMessage *msg)
{
  g_return_if_fail (soup_server_message_get_status (msg) != 0);

  GSource *idle = g_idle_source_new ();

  soup_server_message_pause (msg);
  /* not from within libsoup's own I/O callbacks (got-headers, got-chunk): on the next turn */
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, take_connection, g_object_ref (msg), NULL);
  g_source_attach (idle, g_main_context_get_thread_default ());
  g_source_unref (idle);
}
