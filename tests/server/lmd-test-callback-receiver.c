/* SPDX-License-Identifier: MIT */
#include "lmd-test-callback-receiver.h"

#include "lmd-test-server-thread.h"

struct _LmdTestCallbackReceiver {
  LmdTestServerThread *thread; /* owned */
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

LmdTestCallbackReceiver *
lmd_test_callback_receiver_start (guint fail_first)
{
  LmdTestCallbackReceiver *self = g_new0 (LmdTestCallbackReceiver, 1);

  g_mutex_init (&self->lock);
  self->fail_first = fail_first;
  self->bodies = g_ptr_array_new_with_free_func (g_free);
  self->thread = lmd_test_server_thread_start ("test-callbacks", handler, self);
  return self;
}

char *
lmd_test_callback_receiver_url (LmdTestCallbackReceiver *self, const char *path)
{
  return lmd_test_server_thread_url (self->thread, path);
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

void
lmd_test_callback_receiver_stop (LmdTestCallbackReceiver *self)
{
  lmd_test_server_thread_stop (self->thread);
  g_ptr_array_unref (self->bodies);
  g_mutex_clear (&self->lock);
  g_free (self);
}
