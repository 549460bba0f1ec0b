/* SPDX-License-Identifier: MIT */
#include "lmd-test-server-thread.h"

struct _LmdTestServerThread {
  SoupServer *server;     /* owned; released by the thread when it ends */
  GMainContext *context;  /* owned */
  GThread *thread;        /* owned, joined by stop */
  guint port;
  gint quit;              /* atomic */
};

static gpointer
thread_main (gpointer data)
{
  LmdTestServerThread *self = data;

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

LmdTestServerThread *
lmd_test_server_thread_start (const char *name, SoupServerCallback handler, gpointer user_data)
{
  LmdTestServerThread *self = g_new0 (LmdTestServerThread, 1);
  g_autoptr (GError) error = NULL;
  GSList *listeners;

  self->context = g_main_context_new ();
  /* the listening sockets are attached to the thread-default context at listen time */
  g_main_context_push_thread_default (self->context);
  self->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (self->server, NULL, handler, user_data, NULL);
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
  self->thread = g_thread_new (name, thread_main, self);
  return self;
}

guint
lmd_test_server_thread_get_port (LmdTestServerThread *self)
{
  return self->port;
}

GMainContext *
lmd_test_server_thread_get_context (LmdTestServerThread *self)
{
  return self->context;
}

char *
lmd_test_server_thread_url (LmdTestServerThread *self, const char *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", self->port, path);
}

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_REMOVE;
}

void
lmd_test_server_thread_stop (LmdTestServerThread *self)
{
  GSource *source = g_idle_source_new ();

  g_atomic_int_set (&self->quit, 1);
  /* wakes the thread's blocking iteration so that it sees @quit */
  g_source_set_callback (source, wake_up, NULL, NULL);
  g_source_attach (source, self->context);
  g_source_unref (source);
  g_thread_join (self->thread);
  g_main_context_unref (self->context);
  g_free (self);
}
