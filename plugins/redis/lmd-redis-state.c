/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-redis"

#include "lmd-redis-state.h"

#include "lmd-config.h"
#include "lmd-redis-connection.h"

struct _LmdRedisState {
  GObject parent_instance;

  LmdRedisConnection *conn; /* owned */
  char *prefix;             /* owned */
  guint worker_ttl_s;
  guint refresh_ms;
  guint refresh_id;
  gboolean refreshing;      /* a SMEMBERS/MGET round is under way */
  LmdWorkerInfo *published; /* owned, nullable: this process's last record, re-sent on reconnect */
  GPtrArray *workers;       /* owned, LmdWorkerInfo: the registry as last read */
};

static void lmd_redis_state_iface_init (LmdStateInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdRedisState, lmd_redis_state, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_STATE, lmd_redis_state_iface_init))

static char *
worker_key (LmdRedisState *self, const char *url)
{
  return g_strconcat (self->prefix, "worker:", url, NULL);
}

static char *
workers_key (LmdRedisState *self)
{
  return g_strconcat (self->prefix, "workers", NULL);
}

static gboolean
redis_setup (LmdState *state, GKeyFile *config, GError **error)
{
  LmdRedisState *self = LMD_REDIS_STATE (state);
  g_autofree char *url = lmd_config_get_string (config, "redis", "url", NULL);
  gint64 ttl, refresh, reconnect_max;

  if (url == NULL || url[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "config [redis] url (env REDIS_URL) is not set");
      return FALSE;
    }
  if (!lmd_config_get_int (config, "redis", "worker_ttl_s", 5, &ttl, error) ||
      !lmd_config_get_int (config, "redis", "refresh_ms", 500, &refresh, error) ||
      !lmd_config_get_int (config, "redis", "reconnect_max_ms", 2000, &reconnect_max, error))
    return FALSE;
  if (ttl < 1 || ttl > 3600 || refresh < 50 || refresh > 60000 || reconnect_max < 100 ||
      reconnect_max > 600000)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [redis]: worker_ttl_s must be 1..3600, refresh_ms 50..60000, "
                   "reconnect_max_ms 100..600000");
      return FALSE;
    }
  self->worker_ttl_s = (guint) ttl;
  self->refresh_ms = (guint) refresh;
  g_free (self->prefix);
  self->prefix = lmd_config_get_string (config, "redis", "prefix", "lmd:");
  self->conn = lmd_redis_connection_new (url, (guint) reconnect_max, error);
  return self->conn != NULL;
}

static void
send_record (LmdRedisState *self)
{
  g_autofree char *key = worker_key (self, self->published->url);
  g_autofree char *set = workers_key (self);
  g_autofree char *json = lmd_worker_info_to_json (self->published);
  g_autofree char *ttl = g_strdup_printf ("%u", self->worker_ttl_s);

  if (lmd_redis_connection_command (self->conn, NULL, NULL, "SET", key, json, "EX", ttl, NULL))
    lmd_redis_connection_command (self->conn, NULL, NULL, "SADD", set, self->published->url, NULL);
}

/* ---- reading the registry ------------------------------------------------------------------ */

/* A registry read in progress.  It holds no reference: the connection belongs to the state,
 * and freeing it (dispose) runs every pending callback with a NULL reply first. */
typedef struct {
  LmdRedisState *self; /* borrowed */
  GPtrArray *urls;     /* owned, char* */
} Refresh;

static void
refresh_free (Refresh *r)
{
  r->self->refreshing = FALSE;
  g_clear_pointer (&r->urls, g_ptr_array_unref);
  g_free (r);
}

static void
on_mget (LmdRedisConnection *conn, redisReply *reply, gpointer data)
{
  Refresh *r = data;
  LmdRedisState *self = r->self;
  GPtrArray *workers;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != r->urls->len)
    {
      refresh_free (r);
      return;
    }
  workers = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_worker_info_free);
  for (gsize i = 0; i < reply->elements; i++)
    {
      redisReply *e = reply->element[i];
      g_autoptr (GError) error = NULL;
      LmdWorkerInfo *info;

      if (e->type != REDIS_REPLY_STRING)
        {
          /* the key expired: the worker stopped heartbeating */
          g_autofree char *set = workers_key (self);
          lmd_redis_connection_command (conn, NULL, NULL, "SREM", set, r->urls->pdata[i], NULL);
          g_info ("worker %s left the registry (heartbeat expired)", (char *) r->urls->pdata[i]);
          continue;
        }
      info = lmd_worker_info_from_json (e->str, (gssize) e->len, &error);
      if (info == NULL)
        g_warning ("worker record of %s is not valid: %s", (char *) r->urls->pdata[i], error->message);
      else
        g_ptr_array_add (workers, info);
    }
  g_ptr_array_unref (self->workers);
  self->workers = workers;
  refresh_free (r);
}

static void
on_smembers (LmdRedisConnection *conn, redisReply *reply, gpointer data)
{
  Refresh *r = data;
  g_autoptr (GPtrArray) argv = NULL;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
    {
      refresh_free (r);
      return;
    }
  if (reply->elements == 0)
    {
      g_ptr_array_set_size (r->self->workers, 0);
      refresh_free (r);
      return;
    }
  r->urls = g_ptr_array_new_with_free_func (g_free);
  argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup ("MGET"));
  for (gsize i = 0; i < reply->elements; i++)
    if (reply->element[i]->type == REDIS_REPLY_STRING)
      {
        g_ptr_array_add (r->urls, g_strndup (reply->element[i]->str, reply->element[i]->len));
        g_ptr_array_add (argv, worker_key (r->self, r->urls->pdata[r->urls->len - 1]));
      }
  if (!lmd_redis_connection_command_argv (conn, on_mget, r, (int) argv->len,
                                          (const char **) argv->pdata, NULL))
    refresh_free (r);
}

static gboolean
refresh_cb (gpointer data)
{
  LmdRedisState *self = data;
  g_autofree char *set = workers_key (self);
  Refresh *r;

  if (self->refreshing)
    return G_SOURCE_CONTINUE;
  r = g_new0 (Refresh, 1);
  r->self = self;
  self->refreshing = TRUE;
  if (!lmd_redis_connection_command (self->conn, on_smembers, r, "SMEMBERS", set, NULL))
    refresh_free (r);
  return G_SOURCE_CONTINUE;
}

static void
on_ready (LmdRedisConnection *conn, gpointer data)
{
  LmdRedisState *self = data;

  /* Redis may have restarted empty: this worker is back in the registry at once */
  if (self->published != NULL)
    send_record (self);
  refresh_cb (self);
}

/* ---- LmdState ---------------------------------------------------------------------------- */

static void
redis_start (LmdState *state)
{
  LmdRedisState *self = LMD_REDIS_STATE (state);

  if (self->refresh_id != 0)
    return;
  g_info ("worker registry at %s (prefix '%s', worker ttl %u s)",
          lmd_redis_connection_get_display_name (self->conn), self->prefix, self->worker_ttl_s);
  lmd_redis_connection_set_ready_func (self->conn, on_ready, self);
  lmd_redis_connection_start (self->conn);
  self->refresh_id = g_timeout_add (self->refresh_ms, refresh_cb, self);
}

static void
redis_publish_worker (LmdState *state, const LmdWorkerInfo *info)
{
  LmdRedisState *self = LMD_REDIS_STATE (state);

  g_clear_pointer (&self->published, lmd_worker_info_free);
  self->published = lmd_worker_info_copy (info);
  send_record (self);
}

static void
redis_withdraw_worker (LmdState *state, const char *url, guint timeout_ms)
{
  LmdRedisState *self = LMD_REDIS_STATE (state);
  g_autofree char *key = worker_key (self, url);
  g_autofree char *set = workers_key (self);

  g_clear_pointer (&self->published, lmd_worker_info_free);
  if (lmd_redis_connection_command (self->conn, NULL, NULL, "DEL", key, NULL))
    lmd_redis_connection_command (self->conn, NULL, NULL, "SREM", set, url, NULL);
  if (timeout_ms > 0)
    lmd_redis_connection_flush (self->conn, timeout_ms);
}

static GPtrArray *
redis_list_workers (LmdState *state)
{
  LmdRedisState *self = LMD_REDIS_STATE (state);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_worker_info_free);

  for (guint i = 0; i < self->workers->len; i++)
    {
      LmdWorkerInfo *w = self->workers->pdata[i];
      if (!w->draining)
        g_ptr_array_add (out, lmd_worker_info_copy (w));
    }
  return out;
}

static const char *
redis_get_store_health (LmdState *state)
{
  LmdRedisState *self = LMD_REDIS_STATE (state);

  return self->conn != NULL && lmd_redis_connection_is_connected (self->conn) ? "healthy" : "unhealthy";
}

static void
lmd_redis_state_iface_init (LmdStateInterface *iface)
{
  iface->setup = redis_setup;
  iface->start = redis_start;
  iface->publish_worker = redis_publish_worker;
  iface->withdraw_worker = redis_withdraw_worker;
  iface->list_workers = redis_list_workers;
  iface->get_store_health = redis_get_store_health;
}

static void
lmd_redis_state_dispose (GObject *object)
{
  LmdRedisState *self = LMD_REDIS_STATE (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_clear_object (&self->conn);
  G_OBJECT_CLASS (lmd_redis_state_parent_class)->dispose (object);
}

static void
lmd_redis_state_finalize (GObject *object)
{
  LmdRedisState *self = LMD_REDIS_STATE (object);

  g_clear_object (&self->conn);
  g_clear_pointer (&self->published, lmd_worker_info_free);
  g_ptr_array_unref (self->workers);
  g_free (self->prefix);
  G_OBJECT_CLASS (lmd_redis_state_parent_class)->finalize (object);
}

static void
lmd_redis_state_class_init (LmdRedisStateClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lmd_redis_state_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_redis_state_finalize;
}

static void
lmd_redis_state_init (LmdRedisState *self)
{
  self->prefix = g_strdup ("lmd:");
  self->worker_ttl_s = 5;
  self->refresh_ms = 500;
  self->workers = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_worker_info_free);
}
