/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-redis"

#include "lmd-redis-connection.h"

#include <gio/gio.h>
#include <hiredis/adapters/glib.h>
#include <hiredis/async.h>
#include <string.h>

struct _LmdRedisConnection {
  GObject parent_instance;

  char *host;            /* owned */
  guint port;
  char *user;            /* owned, nullable */
  char *password;        /* owned, nullable */
  guint db;
  char *display_name;    /* owned */
  guint reconnect_max_ms;

  redisAsyncContext *ac; /* owned by hiredis once connected; NULL while down */
  GSource *source;       /* owned: the adapter's source for ac */
  gboolean connected;    /* connected and AUTH/SELECT sent */
  gboolean closing;      /* finalizing: no reconnect */
  guint backoff_ms;
  guint reconnect_id;
  guint pending;         /* accepted commands without their reply yet */
  gboolean logged_down;  /* "unreachable" logged once per outage */

  LmdRedisReadyFunc ready_func;
  gpointer ready_data;
};

G_DEFINE_FINAL_TYPE (LmdRedisConnection, lmd_redis_connection, G_TYPE_OBJECT)

typedef struct {
  LmdRedisConnection *self; /* borrowed: pending callbacks run before the context is freed */
  LmdRedisReplyFunc func;
  gpointer user_data;
} Pending;

static void connect_now (LmdRedisConnection *self);

static gboolean
destroy_source_cb (gpointer data)
{
  g_source_destroy (data);
  return G_SOURCE_REMOVE;
}

/* The context is being freed by hiredis, which still calls the adapter's clean-up on the
 * source afterwards: the source goes away from an idle callback, not here. */
static void
drop_context (LmdRedisConnection *self, gboolean now)
{
  self->ac = NULL;
  self->connected = FALSE;
  if (self->source == NULL)
    return;
  if (now)
    g_source_destroy (self->source);
  else
    g_idle_add_full (G_PRIORITY_DEFAULT, destroy_source_cb, g_source_ref (self->source),
                     (GDestroyNotify) g_source_unref);
  g_clear_pointer (&self->source, g_source_unref);
}

static gboolean
reconnect_cb (gpointer data)
{
  LmdRedisConnection *self = data;

  self->reconnect_id = 0;
  connect_now (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (LmdRedisConnection *self)
{
  if (self->closing || self->reconnect_id != 0)
    return;
  self->reconnect_id = g_timeout_add (self->backoff_ms, reconnect_cb, self);
  self->backoff_ms = MIN (self->backoff_ms * 2, self->reconnect_max_ms);
}

static void
on_auth_reply (redisAsyncContext *ac, void *r, void *privdata)
{
  redisReply *reply = r;
  LmdRedisConnection *self = ac->data;

  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && self != NULL)
    {
      g_warning ("%s refused the credentials or database: %s", self->display_name, reply->str);
      redisAsyncDisconnect (ac);
    }
}

static void
on_connect (const redisAsyncContext *cac, int status)
{
  redisAsyncContext *ac = (redisAsyncContext *) cac;
  LmdRedisConnection *self = ac->data;

  if (status != REDIS_OK)
    {
      /* hiredis frees the context after this callback, without calling on_disconnect */
      if (!self->logged_down)
        g_warning ("%s unreachable: %s; retrying", self->display_name, ac->errstr);
      self->logged_down = TRUE;
      drop_context (self, FALSE);
      schedule_reconnect (self);
      return;
    }
  if (self->password != NULL)
    {
      if (self->user != NULL && self->user[0] != '\0')
        redisAsyncCommand (ac, on_auth_reply, NULL, "AUTH %s %s", self->user, self->password);
      else
        redisAsyncCommand (ac, on_auth_reply, NULL, "AUTH %s", self->password);
    }
  if (self->db != 0)
    redisAsyncCommand (ac, on_auth_reply, NULL, "SELECT %u", self->db);
  self->connected = TRUE;
  self->backoff_ms = 100;
  g_info ("connected to %s%s", self->display_name, self->logged_down ? " again" : "");
  self->logged_down = FALSE;
  if (self->ready_func != NULL)
    self->ready_func (self, self->ready_data);
}

static void
on_disconnect (const redisAsyncContext *ac, int status)
{
  LmdRedisConnection *self = ac->data;

  if (self == NULL || self->closing)
    return;
  if (!self->logged_down)
    g_warning ("connection to %s lost%s%s; reconnecting", self->display_name,
               status != REDIS_OK ? ": " : "", status != REDIS_OK ? ac->errstr : "");
  self->logged_down = TRUE;
  drop_context (self, FALSE);
  schedule_reconnect (self);
}

static void
connect_now (LmdRedisConnection *self)
{
  redisAsyncContext *ac = redisAsyncConnect (self->host, (int) self->port);

  if (ac == NULL || ac->err)
    {
      if (!self->logged_down)
        g_warning ("cannot connect to %s: %s; retrying", self->display_name,
                   ac != NULL ? ac->errstr : "out of memory");
      self->logged_down = TRUE;
      if (ac != NULL)
        redisAsyncFree (ac);
      schedule_reconnect (self);
      return;
    }
  ac->data = self;
  self->ac = ac;
  self->source = redis_source_new (ac);
  g_source_attach (self->source, g_main_context_get_thread_default ());
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
}

static gboolean
parse_url (LmdRedisConnection *self, const char *url, GError **error)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED_PATH, NULL);
  const char *path;

  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "redis") != 0 || g_uri_get_host (uri) == NULL ||
      g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "redis url: expected redis://[:password@]host[:port][/db]");
      return FALSE;
    }
  self->host = g_strdup (g_uri_get_host (uri));
  self->port = g_uri_get_port (uri) > 0 ? (guint) g_uri_get_port (uri) : 6379;
  if (g_uri_get_password (uri) != NULL)
    {
      self->password = g_uri_unescape_string (g_uri_get_password (uri), NULL);
      self->user = g_uri_get_user (uri) != NULL ? g_uri_unescape_string (g_uri_get_user (uri), NULL) : NULL;
    }
  path = g_uri_get_path (uri);
  if (path != NULL && path[0] == '/' && path[1] != '\0')
    {
      guint64 db;
      if (!g_ascii_string_to_unsigned (path + 1, 10, 0, 65535, &db, NULL))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "redis url: '%s' is not a database number", path + 1);
          return FALSE;
        }
      self->db = (guint) db;
    }
  self->display_name = g_strdup_printf ("%s:%u/%u", self->host, self->port, self->db);
  return TRUE;
}

LmdRedisConnection *
lmd_redis_connection_new (const char *url, guint reconnect_max_ms, GError **error)
{
  g_autoptr (LmdRedisConnection) self = g_object_new (LMD_TYPE_REDIS_CONNECTION, NULL);

  if (!parse_url (self, url, error))
    return NULL;
  self->reconnect_max_ms = MAX (reconnect_max_ms, 100u);
  return g_steal_pointer (&self);
}

void
lmd_redis_connection_set_ready_func (LmdRedisConnection *self, LmdRedisReadyFunc func,
                                     gpointer user_data)
{
  self->ready_func = func;
  self->ready_data = user_data;
}

void
lmd_redis_connection_start (LmdRedisConnection *self)
{
  if (self->ac == NULL && self->reconnect_id == 0)
    connect_now (self);
}

gboolean
lmd_redis_connection_is_connected (LmdRedisConnection *self)
{
  return self->connected;
}

const char *
lmd_redis_connection_get_display_name (LmdRedisConnection *self)
{
  return self->display_name;
}

static void
on_reply (redisAsyncContext *ac, void *reply, void *privdata)
{
  Pending *p = privdata;

  p->self->pending--;
  if (p->func != NULL)
    p->func (p->self, reply, p->user_data);
  g_free (p);
}

gboolean
lmd_redis_connection_command_argv (LmdRedisConnection *self, LmdRedisReplyFunc func,
                                   gpointer user_data, int argc, const char **argv,
                                   const size_t *argvlen)
{
  Pending *p;

  if (!self->connected || self->ac == NULL)
    return FALSE;
  p = g_new0 (Pending, 1);
  p->self = self;
  p->func = func;
  p->user_data = user_data;
  if (redisAsyncCommandArgv (self->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK)
    {
      g_free (p);
      return FALSE;
    }
  self->pending++;
  return TRUE;
}

gboolean
lmd_redis_connection_command (LmdRedisConnection *self, LmdRedisReplyFunc func, gpointer user_data, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GArray) lens = g_array_new (FALSE, FALSE, sizeof (size_t));
  va_list ap;
  const char *arg;

  va_start (ap, user_data);
  while ((arg = va_arg (ap, const char *)) != NULL)
    {
      size_t len = strlen (arg);
      g_ptr_array_add (args, (gpointer) arg);
      g_array_append_val (lens, len);
    }
  va_end (ap);
  return lmd_redis_connection_command_argv (self, func, user_data, (int) args->len,
                                            (const char **) args->pdata, (const size_t *) lens->data);
}

void
lmd_redis_connection_flush (LmdRedisConnection *self, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (self->pending > 0 && self->connected && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (g_main_context_get_thread_default (), FALSE))
      g_usleep (1000);
}

static void
lmd_redis_connection_finalize (GObject *object)
{
  LmdRedisConnection *self = LMD_REDIS_CONNECTION (object);

  self->closing = TRUE;
  g_clear_handle_id (&self->reconnect_id, g_source_remove);
  if (self->ac != NULL)
    {
      redisAsyncContext *ac = self->ac;
      /* pending callbacks get NULL replies now, while self is still whole */
      redisAsyncFree (ac);
      drop_context (self, TRUE);
    }
  g_free (self->host);
  g_free (self->user);
  g_free (self->password);
  g_free (self->display_name);
  G_OBJECT_CLASS (lmd_redis_connection_parent_class)->finalize (object);
}

static void
lmd_redis_connection_class_init (LmdRedisConnectionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_redis_connection_finalize;
}

static void
lmd_redis_connection_init (LmdRedisConnection *self)
{
  self->backoff_ms = 100;
  self->reconnect_max_ms = 2000;
  self->port = 6379;
}
