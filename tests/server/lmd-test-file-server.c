/* SPDX-License-Identifier: MIT */
#include "lmd-test-file-server.h"

#include "lmd-test-server-thread.h"

struct _LmdTestFileServer {
  LmdTestServerThread *thread; /* owned */
  GMutex lock;
  GHashTable *bodies; /* path → GBytes, under lock */
  GHashTable *hits;   /* path → count, under lock */
  GHashTable *held;   /* path → GPtrArray of paused SoupServerMessage, under lock */
};

static void respond (LmdTestFileServer *self, SoupServerMessage *msg, const char *path);

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user_data)
{
  LmdTestFileServer *self = user_data;
  GPtrArray *waiting;

  g_mutex_lock (&self->lock);
  waiting = g_hash_table_lookup (self->held, path);
  if (waiting != NULL)
    {
      g_ptr_array_add (waiting, g_object_ref (msg));
      soup_server_message_pause (msg);
    }
  g_mutex_unlock (&self->lock);
  if (waiting == NULL)
    respond (self, msg, path);
}

static void
respond (LmdTestFileServer *self, SoupServerMessage *msg, const char *path)
{
  g_autoptr (GBytes) body = NULL;
  SoupRange *ranges = NULL;
  int n_ranges = 0;
  gsize size;

  g_mutex_lock (&self->lock);
  body = g_hash_table_lookup (self->bodies, path);
  if (body != NULL)
    {
      g_bytes_ref (body);
      g_hash_table_insert (self->hits, g_strdup (path),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (self->hits, path)) + 1));
    }
  g_mutex_unlock (&self->lock);
  if (body == NULL)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  size = g_bytes_get_size (body);
  if (soup_message_headers_get_ranges (soup_server_message_get_request_headers (msg), (goffset) size,
                                       &ranges, &n_ranges) && n_ranges == 1)
    {
      g_autoptr (GBytes) part = g_bytes_new_from_bytes (body, (gsize) ranges[0].start,
                                                        (gsize) (ranges[0].end - ranges[0].start + 1));
      soup_message_headers_set_content_range (soup_server_message_get_response_headers (msg),
                                              ranges[0].start, ranges[0].end, (goffset) size);
      soup_server_message_set_status (msg, 206, NULL);
      soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (part, NULL), g_bytes_get_size (part));
      soup_message_headers_free_ranges (soup_server_message_get_request_headers (msg), ranges);
      return;
    }
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                    g_bytes_get_data (body, NULL), size);
}

LmdTestFileServer *
lmd_test_file_server_start (void)
{
  LmdTestFileServer *self = g_new0 (LmdTestFileServer, 1);

  g_mutex_init (&self->lock);
  self->bodies = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  self->hits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  self->thread = lmd_test_server_thread_start ("test-file-server", handler, self);
  return self;
}

void
lmd_test_file_server_add (LmdTestFileServer *self, const char *path, GBytes *body)
{
  g_mutex_lock (&self->lock);
  g_hash_table_insert (self->bodies, g_strdup (path), g_bytes_ref (body));
  g_mutex_unlock (&self->lock);
}

void
lmd_test_file_server_hold (LmdTestFileServer *self, const char *path)
{
  g_mutex_lock (&self->lock);
  if (!g_hash_table_contains (self->held, path))
    g_hash_table_insert (self->held, g_strdup (path), g_ptr_array_new_with_free_func (g_object_unref));
  g_mutex_unlock (&self->lock);
}

typedef struct {
  LmdTestFileServer *self;
  char *path;
} Release;

static gboolean
release_cb (gpointer data)
{
  Release *r = data;
  GPtrArray *waiting = NULL;
  char *key = NULL;

  g_mutex_lock (&r->self->lock);
  g_hash_table_steal_extended (r->self->held, r->path, (gpointer *) &key, (gpointer *) &waiting);
  g_mutex_unlock (&r->self->lock);
  for (guint i = 0; waiting != NULL && i < waiting->len; i++)
    {
      respond (r->self, waiting->pdata[i], r->path);
      soup_server_message_unpause (waiting->pdata[i]);
    }
  g_clear_pointer (&waiting, g_ptr_array_unref);
  g_free (key);
  g_free (r->path);
  g_free (r);
  return G_SOURCE_REMOVE;
}

void
lmd_test_file_server_release (LmdTestFileServer *self, const char *path)
{
  Release *r = g_new0 (Release, 1);

  r->self = self;
  r->path = g_strdup (path);
  g_main_context_invoke (lmd_test_server_thread_get_context (self->thread), release_cb, r);
}

guint
lmd_test_file_server_get_held (LmdTestFileServer *self, const char *path)
{
  GPtrArray *waiting;
  guint n;

  g_mutex_lock (&self->lock);
  waiting = g_hash_table_lookup (self->held, path);
  n = waiting != NULL ? waiting->len : 0;
  g_mutex_unlock (&self->lock);
  return n;
}

guint
lmd_test_file_server_get_port (LmdTestFileServer *self)
{
  return lmd_test_server_thread_get_port (self->thread);
}

char *
lmd_test_file_server_url (LmdTestFileServer *self, const char *path)
{
  return lmd_test_server_thread_url (self->thread, path);
}

guint
lmd_test_file_server_get_hits (LmdTestFileServer *self, const char *path)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->hits, path));
  g_mutex_unlock (&self->lock);
  return n;
}

void
lmd_test_file_server_stop (LmdTestFileServer *self)
{
  lmd_test_server_thread_stop (self->thread);
  g_hash_table_unref (self->bodies);
  g_hash_table_unref (self->hits);
  g_hash_table_unref (self->held);
  g_mutex_clear (&self->lock);
  g_free (self);
}
