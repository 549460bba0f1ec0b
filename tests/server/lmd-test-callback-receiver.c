/* SPDX-License-Identifier: MIT */
#include "lmd-test-callback-receiver.h"

#include <libsoup/soup.h>

struct _LmdTestCallbackReceiver {
  SoupServer *server;
  GMainContext *context;
  GThread *thread;
  guint port;
  gint quit;
  GMutex lock;
  guint fail_first;   /* under lock */
  guint requests;     /* under lock */
  GPtrArray *bodies;  /* under lock: char* of delivered POSTs */
};

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
  LmdTestCallbackReceiver *self = user_data;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr (GBytes) bytes = NULL;
  gboolean fail;

  if (!g_str_equal (soup_server_message_get_method (msg), "POST"))
    {
      soup_server_message_set_status (msg, 405, NULL);
      return;
    }
  bytes = soup_message_body_flatten (body);
  g_mutex_lock (&self->lock);
  self->requests++;
  fail = self->requests <= self->fail_first;
  if (!fail)
    g_ptr_array_add (self->bodies, g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes)));
  g_mutex_unlock (&self->lock);
  soup_server_message_set_status (msg, fail ? 500 : 200, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, fail ? "no" : "ok", 2);
}

static gpointer
thread_main (gpointer data)
{
  LmdTestCallbackReceiver *self = data;

  g_main_context_push_thread_default (self->context);
  while (!g_atomic_int_get (&self->quit))
    g_main_context_iteration (self->context, TRUE);
  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
  while (g_main_context_pending (self->context))
    g_main_context_iteration (self->context, FALSE);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

LmdTestCallbackReceiver *
lmd_test_callback_receiver_start (guint fail_first)
{
  LmdTestCallbackReceiver *self = g_new0 (LmdTestCallbackReceiver, 1);
  g_autoptr (GError) error = NULL;
  GSList *listeners;

  g_mutex_init (&self->lock);
  self->fail_first = fail_first;
  self->bodies = g_ptr_array_new_with_free_func (g_free);
  self->context = g_main_context_new ();
  g_main_context_push_thread_default (self->context);
  self->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (self->server, NULL, handler, self, NULL);
  soup_server_listen_local (self->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  g_main_context_pop_thread_default (self->context);
  listeners = soup_server_get_listeners (self->server);
  {
    g_autoptr (GSocketAddress) local = g_socket_get_local_address (listeners->data, &error);
    g_assert_no_error (error);
    self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
  }
  g_slist_free (listeners);
  self->thread = g_thread_new ("test-callbacks", thread_main, self);
  return self;
}

char *
lmd_test_callback_receiver_url (LmdTestCallbackReceiver *self, const char *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", self->port, path);
}

guint
lmd_test_callback_receiver_get_requests (LmdTestCallbackReceiver *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->requests;
  g_mutex_unlock (&self->lock);
  return n;
}

guint
lmd_test_callback_receiver_get_delivered (LmdTestCallbackReceiver *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->bodies->len;
  g_mutex_unlock (&self->lock);
  return n;
}

char *
lmd_test_callback_receiver_get_body (LmdTestCallbackReceiver *self, guint i)
{
  char *body = NULL;

  g_mutex_lock (&self->lock);
  if (i < self->bodies->len)
    body = g_strdup (self->bodies->pdata[i]);
  g_mutex_unlock (&self->lock);
  return body;
}

guint
lmd_test_callback_receiver_wait (LmdTestCallbackReceiver *self, guint count, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint n;

  while ((n = lmd_test_callback_receiver_get_delivered (self)) < count && g_get_monotonic_time () < deadline)
    {
      /* the daemons are child processes reaped on this context */
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20000);
    }
  return n;
}

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_REMOVE;
}

void
lmd_test_callback_receiver_stop (LmdTestCallbackReceiver *self)
{
  GSource *source = g_idle_source_new ();

  g_atomic_int_set (&self->quit, 1);
  g_source_set_callback (source, wake_up, NULL, NULL);
  g_source_attach (source, self->context);
  g_source_unref (source);
  g_thread_join (self->thread);
  g_main_context_unref (self->context);
  g_ptr_array_unref (self->bodies);
  g_mutex_clear (&self->lock);
  g_free (self);
}
