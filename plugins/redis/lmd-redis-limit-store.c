/* SPDX-License-Identifier: MIT */
/*
 * lmd-redis-limit-store.c — per-key limits in Redis, decided by Lua scripts (see header).
 */
#define G_LOG_DOMAIN "lmd-redis"

#include "lmd-redis-limit-store.h"

#include <math.h>
#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-redis-connection.h"

#define SECONDS_PER_DAY 86400
#define QUOTA_KEY_TTL_S (2 * SECONDS_PER_DAY)

/* ---- scripts -------------------------------------------------------------------------------
 *
 * Keys are declared (KEYS) except the day suffix of the quota key, which only the script
 * knows (Redis's clock): the store targets one Redis, not a cluster.  Scripts that call TIME
 * and then write need effects replication, the default since Redis 5 (asked for explicitly
 * on older ones).
 */

/* KEYS: bucket, active set, quota key without its day.
 * ARGV: rpm, concurrency, quota seconds (0 = none), ticket id, lease ms.
 * Returns {0 admitted | 1 rate or concurrency refused | 2 quota refused, retry after s,
 *          audio seconds used today (string)}. */
static const char acquire_lua[] =
  "if redis.replicate_commands then redis.replicate_commands() end\n"
  "local t = redis.call('TIME')\n"
  "local s = tonumber(t[1])\n"
  "local now = s * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
  "local day = math.floor(s / 86400)\n"
  "local rpm = tonumber(ARGV[1])\n"
  "local conc = tonumber(ARGV[2])\n"
  "local quota = tonumber(ARGV[3])\n"
  "local used = tonumber(redis.call('GET', KEYS[3] .. ':' .. day) or '0') or 0\n"
  "if quota > 0 and used >= quota then\n"
  "  return {2, (day + 1) * 86400 - s, tostring(used)}\n"
  "end\n"
  "if conc > 0 then\n"
  "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
  "  if redis.call('ZCARD', KEYS[2]) >= conc then return {1, 1, tostring(used)} end\n"
  "end\n"
  "if rpm > 0 then\n"
  "  local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')\n"
  "  local tokens = tonumber(b[1])\n"
  "  local at = tonumber(b[2])\n"
  "  if tokens == nil or at == nil then tokens = rpm\n"
  "  elseif now > at then tokens = tokens + (now - at) * rpm / 60000 end\n"
  "  if tokens > rpm then tokens = rpm end\n"
  "  if tokens < 1 then\n"
  "    local wait = (1 - tokens) * 60 / rpm\n"
  "    return {1, math.max(1, math.ceil(wait - 1e-6)), tostring(used)}\n"
  "  end\n"
  "  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', now)\n"
  "  redis.call('PEXPIRE', KEYS[1], 61000)\n"
  "end\n"
  "if conc > 0 then\n"
  "  local lease = tonumber(ARGV[5])\n"
  "  redis.call('ZADD', KEYS[2], now + lease, ARGV[4])\n"
  "  redis.call('PEXPIRE', KEYS[2], 2 * lease)\n"
  "end\n"
  "return {0, 0, tostring(used)}\n";

/* KEYS: active set, quota key without its day.
 * ARGV: ticket id ('' = none), audio seconds, day ('' = today by Redis's clock). */
static const char release_lua[] =
  "if redis.replicate_commands then redis.replicate_commands() end\n"
  "if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end\n"
  "local seconds = tonumber(ARGV[2]) or 0\n"
  "if seconds > 0 then\n"
  "  local day = tonumber(ARGV[3])\n"
  "  if day == nil then day = math.floor(tonumber(redis.call('TIME')[1]) / 86400) end\n"
  "  local k = KEYS[2] .. ':' .. day\n"
  "  redis.call('INCRBYFLOAT', k, ARGV[2])\n"
  "  redis.call('EXPIRE', k, " G_STRINGIFY (QUOTA_KEY_TTL_S) ")\n"
  "end\n"
  "return 1\n";

/* KEYS: active set.  ARGV: lease ms, ticket ids... (only those still there are renewed) */
static const char renew_lua[] =
  "if redis.replicate_commands then redis.replicate_commands() end\n"
  "local t = redis.call('TIME')\n"
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
  "local lease = tonumber(ARGV[1])\n"
  "for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i]) end\n"
  "redis.call('PEXPIRE', KEYS[1], 2 * lease)\n"
  "return 1\n";

typedef struct {
  const char *text;
  char *sha1; /* owned: hex */
} Script;

struct _LmdRedisLimitStore {
  GObject parent_instance;

  LmdRedisConnection *conn; /* owned */
  char *prefix;             /* owned */
  guint lease_s;
  guint timeout_ms;
  guint renew_id;
  gboolean started;
  gboolean script_error_logged;
  GHashTable *held;         /* owned: ticket id (owned) → client id (owned), renewed */
  GHashTable *unsent;       /* owned: quota id (owned) → UnsentAudio (owned) */
  Script acquire, release, renew;
};

typedef struct {
  gint64 day;               /* UTC day by this process's clock */
  double seconds;
} UnsentAudio;

static void lmd_redis_limit_store_iface_init (LmdLimitStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdRedisLimitStore, lmd_redis_limit_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_LIMIT_STORE,
                                                      lmd_redis_limit_store_iface_init))

static char *
rate_key (LmdRedisLimitStore *self, const char *client_id)
{
  return g_strconcat (self->prefix, "limits:rate:", client_id, NULL);
}

static char *
active_key (LmdRedisLimitStore *self, const char *client_id)
{
  return g_strconcat (self->prefix, "limits:active:", client_id, NULL);
}

static char *
audio_key (LmdRedisLimitStore *self, const char *quota_id)
{
  return g_strconcat (self->prefix, "limits:audio:", quota_id != NULL ? quota_id : "", NULL);
}

/* ---- EVALSHA, then EVAL on NOSCRIPT ------------------------------------------------------- */

typedef struct {
  LmdRedisLimitStore *self; /* borrowed: the connection (and every pending reply) goes first */
  const Script *script;
  GPtrArray *argv;          /* owned, char*: EVALSHA sha nkeys keys... args... */
  LmdRedisReplyFunc func;   /* nullable */
  gpointer user_data;
  gboolean retried;
} ScriptCall;

static void
script_call_free (ScriptCall *c)
{
  g_ptr_array_unref (c->argv);
  g_free (c);
}

static void
on_script_reply (LmdRedisConnection *conn, redisReply *reply, gpointer data)
{
  ScriptCall *c = data;

  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !c->retried
      && g_str_has_prefix (reply->str, "NOSCRIPT"))
    {
      /* Redis restarted, or SCRIPT FLUSH: send the text once; it is cached from then on */
      c->retried = TRUE;
      g_free (c->argv->pdata[0]);
      g_free (c->argv->pdata[1]);
      c->argv->pdata[0] = g_strdup ("EVAL");
      c->argv->pdata[1] = g_strdup (c->script->text);
      if (lmd_redis_connection_command_argv (conn, on_script_reply, c, (int) c->argv->len,
                                             (const char **) c->argv->pdata, NULL))
        return;
      reply = NULL;
    }
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !c->self->script_error_logged)
    {
      g_warning ("limits script refused by %s: %s",
                 lmd_redis_connection_get_display_name (conn), reply->str);
      c->self->script_error_logged = TRUE;
    }
  if (c->func != NULL)
    c->func (conn, reply, c->user_data);
  script_call_free (c);
}

/* Runs @script with @nkeys keys then arguments (@args, NULL-terminated after the keys).
 * FALSE (and @func never called) when not connected. */
static gboolean
run_script (LmdRedisLimitStore *self, const Script *script, LmdRedisReplyFunc func,
            gpointer user_data, guint nkeys, const char *const *args)
{
  ScriptCall *c = g_new0 (ScriptCall, 1);

  c->self = self;
  c->script = script;
  c->func = func;
  c->user_data = user_data;
  c->argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (c->argv, g_strdup ("EVALSHA"));
  g_ptr_array_add (c->argv, g_strdup (script->sha1));
  g_ptr_array_add (c->argv, g_strdup_printf ("%u", nkeys));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (c->argv, g_strdup (args[i]));
  if (!lmd_redis_connection_command_argv (self->conn, on_script_reply, c, (int) c->argv->len,
                                          (const char **) c->argv->pdata, NULL))
    {
      script_call_free (c);
      return FALSE;
    }
  return TRUE;
}

/* ---- release, renewal, what waits for the connection ------------------------------------ */

static gboolean
send_release (LmdRedisLimitStore *self, const char *client_id, const char *quota_id,
              const char *ticket_id, double audio_seconds, const char *day)
{
  g_autofree char *active = active_key (self, client_id != NULL ? client_id : "");
  g_autofree char *audio = audio_key (self, quota_id);
  char seconds[G_ASCII_DTOSTR_BUF_SIZE];
  const char *args[6];

  g_ascii_formatd (seconds, sizeof seconds, "%.6f", quota_id != NULL ? audio_seconds : 0.0);
  args[0] = active;
  args[1] = audio;
  args[2] = ticket_id != NULL ? ticket_id : "";
  args[3] = seconds;
  args[4] = day != NULL ? day : "";
  args[5] = NULL;
  return run_script (self, &self->release, NULL, NULL, 2, args);
}

static void
keep_unsent (LmdRedisLimitStore *self, const char *quota_id, double audio_seconds)
{
  gint64 today = g_get_real_time () / G_USEC_PER_SEC / SECONDS_PER_DAY;
  UnsentAudio *u = g_hash_table_lookup (self->unsent, quota_id);

  if (u == NULL)
    {
      u = g_new0 (UnsentAudio, 1);
      g_hash_table_insert (self->unsent, g_strdup (quota_id), u);
    }
  if (u->day != today)
    {
      u->day = today; /* yesterday's seconds no longer count against any quota */
      u->seconds = 0;
    }
  u->seconds += audio_seconds;
}

static void
send_unsent (LmdRedisLimitStore *self)
{
  GHashTableIter iter;
  gpointer key, value;
  gint64 today = g_get_real_time () / G_USEC_PER_SEC / SECONDS_PER_DAY;

  g_hash_table_iter_init (&iter, self->unsent);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      UnsentAudio *u = value;
      g_autofree char *day = g_strdup_printf ("%" G_GINT64_FORMAT, u->day);

      if (u->day == today && u->seconds > 0 && !send_release (self, NULL, key, NULL, u->seconds, day))
        return; /* down again: kept for the next time */
      g_info ("%.1f s of audio of quota %s counted while %s was unreachable added to it",
              u->seconds, (const char *) key, lmd_redis_connection_get_display_name (self->conn));
      g_hash_table_iter_remove (&iter);
    }
}

static gboolean
renew_cb (gpointer data)
{
  LmdRedisLimitStore *self = data;
  g_autoptr (GHashTable) by_client = NULL;
  g_autofree char *lease_ms = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (g_hash_table_size (self->held) == 0 || !lmd_redis_connection_is_connected (self->conn))
    return G_SOURCE_CONTINUE;
  /* one script per client: its set, then all its tickets */
  by_client = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify) g_ptr_array_unref);
  lease_ms = g_strdup_printf ("%u", self->lease_s * 1000);
  g_hash_table_iter_init (&iter, self->held);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GPtrArray *args = g_hash_table_lookup (by_client, value);
      if (args == NULL)
        {
          args = g_ptr_array_new_with_free_func (g_free);
          g_ptr_array_add (args, active_key (self, value));
          g_ptr_array_add (args, g_strdup (lease_ms));
          g_hash_table_insert (by_client, value, args);
        }
      g_ptr_array_add (args, g_strdup (key));
    }
  g_hash_table_iter_init (&iter, by_client);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GPtrArray *args = value;
      g_ptr_array_add (args, NULL);
      run_script (self, &self->renew, NULL, NULL, 1, (const char *const *) args->pdata);
    }
  return G_SOURCE_CONTINUE;
}

static void
on_ready (LmdRedisConnection *conn, gpointer data)
{
  LmdRedisLimitStore *self = data;

  self->script_error_logged = FALSE;
  send_unsent (self);
  renew_cb (self); /* Redis may have been away for most of a lease */
}

/* ---- acquire ------------------------------------------------------------------------------ */

typedef struct {
  guint retry_after_s;
  double audio_seconds_today; /* -1 = unknown */
} AcquireAnswer;

/* One admission in flight: owned by the pending reply, which always comes (NULL when the
 * connection goes).  The task is answered by the reply or by the timeout, whichever is first. */
typedef struct {
  LmdRedisLimitStore *self; /* owned ref */
  GTask *task;              /* owned; NULL once answered */
  GSource *timeout;         /* owned */
  char *client_id;          /* owned */
  char *quota_id;           /* owned, nullable */
  char *ticket_id;          /* owned */
  gboolean holds_slot;      /* concurrency is limited: the ticket is in the set */
} Acquire;

static void
acquire_free (Acquire *a)
{
  if (a->timeout != NULL)
    {
      g_source_destroy (a->timeout);
      g_source_unref (a->timeout);
    }
  g_clear_object (&a->task);
  g_object_unref (a->self);
  g_free (a->client_id);
  g_free (a->quota_id);
  g_free (a->ticket_id);
  g_free (a);
}

static void
answer_unavailable (Acquire *a, const char *why)
{
  GTask *task = g_steal_pointer (&a->task);

  g_task_return_new_error (task, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                           "shared limits: %s", why);
  g_object_unref (task);
}

static gboolean
acquire_timeout_cb (gpointer data)
{
  Acquire *a = data;

  g_clear_pointer (&a->timeout, g_source_unref);
  if (a->task != NULL)
    answer_unavailable (a, "Redis did not answer in time");
  return G_SOURCE_REMOVE;
}

static double
reply_double (const redisReply *r)
{
  if (r->type == REDIS_REPLY_STRING)
    return g_ascii_strtod (r->str, NULL);
  if (r->type == REDIS_REPLY_INTEGER)
    return (double) r->integer;
  return -1;
}

static void
on_acquire_reply (LmdRedisConnection *conn, redisReply *reply, gpointer data)
{
  Acquire *a = data;
  AcquireAnswer *answer;
  long long code;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
      || reply->element[0]->type != REDIS_REPLY_INTEGER
      || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
      if (a->task != NULL)
        answer_unavailable (a, reply == NULL ? "the connection to Redis was lost"
                                             : "unexpected answer from Redis");
      acquire_free (a);
      return;
    }
  code = reply->element[0]->integer;
  if (a->task == NULL)
    {
      /* answered locally already (timeout): give back what Redis granted meanwhile */
      if (code == 0)
        send_release (a->self, a->client_id, NULL, a->ticket_id, 0, NULL);
      acquire_free (a);
      return;
    }
  answer = g_task_get_task_data (a->task);
  answer->audio_seconds_today = reply_double (reply->element[2]);
  if (code == 0)
    {
      if (a->holds_slot)
        g_hash_table_insert (a->self->held, g_strdup (a->ticket_id), g_strdup (a->client_id));
      g_task_return_boolean (a->task, TRUE);
    }
  else
    {
      answer->retry_after_s = (guint) CLAMP (reply->element[1]->integer, 1, SECONDS_PER_DAY);
      if (code == 2)
        g_task_return_new_error (a->task, LMD_ERROR, LMD_ERROR_QUOTA_EXCEEDED,
                                 "the daily audio quota is used up (shared limit)");
      else
        g_task_return_new_error (a->task, LMD_ERROR, LMD_ERROR_RATE_LIMIT_EXCEEDED,
                                 "too many requests or too many concurrent requests "
                                 "(shared limit)");
    }
  g_clear_object (&a->task);
  acquire_free (a);
}

static void
redis_limits_acquire_async (LmdLimitStore *store, const char *client_id, const char *quota_id,
                            const LmdLimitStoreLimits *limits, const char *ticket_id,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (store);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  AcquireAnswer *answer = g_new0 (AcquireAnswer, 1);
  g_autofree char *rate = rate_key (self, client_id);
  g_autofree char *active = active_key (self, client_id);
  g_autofree char *audio = audio_key (self, quota_id);
  g_autofree char *rpm = g_strdup_printf ("%" G_GINT64_FORMAT, MAX (limits->rpm, 0));
  g_autofree char *concurrency = g_strdup_printf ("%" G_GINT64_FORMAT, MAX (limits->concurrency, 0));
  g_autofree char *lease_ms = g_strdup_printf ("%u", self->lease_s * 1000);
  char quota[G_ASCII_DTOSTR_BUF_SIZE];
  const char *args[9];
  Acquire *a;

  answer->audio_seconds_today = -1;
  g_task_set_source_tag (task, redis_limits_acquire_async);
  g_task_set_task_data (task, answer, g_free);
  if (!lmd_redis_connection_is_connected (self->conn))
    {
      g_task_return_new_error (task, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                               "shared limits: Redis (%s) is unreachable",
                               lmd_redis_connection_get_display_name (self->conn));
      return;
    }
  g_ascii_formatd (quota, sizeof quota, "%.3f",
                   quota_id != NULL && limits->audio_hours_per_day > 0
                     ? limits->audio_hours_per_day * 3600.0 : 0.0);
  args[0] = rate;
  args[1] = active;
  args[2] = audio;
  args[3] = rpm;
  args[4] = concurrency;
  args[5] = quota;
  args[6] = ticket_id;
  args[7] = lease_ms;
  args[8] = NULL;
  a = g_new0 (Acquire, 1);
  a->self = g_object_ref (self);
  a->task = g_object_ref (task);
  a->client_id = g_strdup (client_id);
  a->quota_id = g_strdup (quota_id);
  a->ticket_id = g_strdup (ticket_id);
  a->holds_slot = limits->concurrency > 0;
  if (!run_script (self, &self->acquire, on_acquire_reply, a, 3, args))
    {
      answer_unavailable (a, "Redis is unreachable");
      acquire_free (a);
      return;
    }
  a->timeout = g_timeout_source_new (self->timeout_ms);
  g_source_set_callback (a->timeout, acquire_timeout_cb, a, NULL);
  g_source_attach (a->timeout, g_main_context_get_thread_default ());
}

static gboolean
redis_limits_acquire_finish (LmdLimitStore *store, GAsyncResult *result, guint *retry_after_s,
                             double *audio_seconds_today, GError **error)
{
  AcquireAnswer *answer;

  g_return_val_if_fail (g_task_is_valid (result, store), FALSE);
  answer = g_task_get_task_data (G_TASK (result));
  *retry_after_s = answer->retry_after_s;
  *audio_seconds_today = answer->audio_seconds_today;
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
redis_limits_release (LmdLimitStore *store, const char *client_id, const char *quota_id,
                      const char *ticket_id, double audio_seconds)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (store);

  if (!(audio_seconds > 0) || !isfinite (audio_seconds))
    audio_seconds = 0;
  if (ticket_id != NULL)
    g_hash_table_remove (self->held, ticket_id);
  if (send_release (self, client_id, quota_id, ticket_id, audio_seconds, NULL))
    return;
  /* the ticket lapses with its lease; the audio is added once Redis is back */
  if (quota_id != NULL && audio_seconds > 0)
    keep_unsent (self, quota_id, audio_seconds);
}

/* ---- LmdLimitStore ------------------------------------------------------------------------ */

static gboolean
redis_limits_setup (LmdLimitStore *store, GKeyFile *config, GError **error)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (store);
  g_autofree char *url = lmd_config_get_string (config, "redis", "url", NULL);
  gint64 lease, timeout, reconnect_max;
  gboolean shared_limits;

  if (url == NULL || url[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "config [redis] url (env REDIS_URL) is not set");
      return FALSE;
    }
  /* read by the daemon to load this plugin, which treats a bad value as true: refused here */
  if (!lmd_config_get_boolean (config, "redis", "shared_limits", TRUE, &shared_limits, error)
      || !lmd_config_get_int (config, "redis", "limits_lease_s", 30, &lease, error)
      || !lmd_config_get_int (config, "redis", "limits_timeout_ms", 1000, &timeout, error)
      || !lmd_config_get_int (config, "redis", "reconnect_max_ms", 2000, &reconnect_max, error))
    return FALSE;
  if (lease < 1 || lease > 3600 || timeout < 10 || timeout > 60000 || reconnect_max < 100
      || reconnect_max > 600000)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [redis]: limits_lease_s must be 1..3600, limits_timeout_ms "
                   "10..60000, reconnect_max_ms 100..600000");
      return FALSE;
    }
  self->lease_s = (guint) lease;
  self->timeout_ms = (guint) timeout;
  g_free (self->prefix);
  self->prefix = lmd_config_get_string (config, "redis", "prefix", "lmd:");
  self->conn = lmd_redis_connection_new (url, (guint) reconnect_max, error);
  return self->conn != NULL;
}

static void
redis_limits_start (LmdLimitStore *store)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (store);

  if (self->started)
    return;
  self->started = TRUE;
  g_info ("per-key limits shared at %s (prefix '%s', concurrency lease %u s)",
          lmd_redis_connection_get_display_name (self->conn), self->prefix, self->lease_s);
  lmd_redis_connection_set_ready_func (self->conn, on_ready, self);
  lmd_redis_connection_start (self->conn);
  self->renew_id = g_timeout_add (MAX (self->lease_s * 1000 / 3, 100u), renew_cb, self);
}

static gboolean
redis_limits_is_available (LmdLimitStore *store)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (store);

  return self->conn != NULL && lmd_redis_connection_is_connected (self->conn);
}

static const char *
redis_limits_get_name (LmdLimitStore *store)
{
  return "redis";
}

static void
lmd_redis_limit_store_iface_init (LmdLimitStoreInterface *iface)
{
  iface->setup = redis_limits_setup;
  iface->start = redis_limits_start;
  iface->is_available = redis_limits_is_available;
  iface->acquire_async = redis_limits_acquire_async;
  iface->acquire_finish = redis_limits_acquire_finish;
  iface->release = redis_limits_release;
  iface->get_name = redis_limits_get_name;
}

/* ---- GObject ------------------------------------------------------------------------------ */

static void
script_init (Script *s, const char *text)
{
  s->text = text;
  s->sha1 = g_compute_checksum_for_string (G_CHECKSUM_SHA1, text, -1);
}

static void
lmd_redis_limit_store_dispose (GObject *object)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (object);

  g_clear_handle_id (&self->renew_id, g_source_remove);
  if (self->conn != NULL && g_hash_table_size (self->held) > 0)
    {
      /* a clean exit gives its slots back at once instead of after the lease */
      GHashTableIter iter;
      gpointer key, value;
      g_hash_table_iter_init (&iter, self->held);
      while (g_hash_table_iter_next (&iter, &key, &value))
        send_release (self, value, NULL, key, 0, NULL);
      g_hash_table_remove_all (self->held);
      lmd_redis_connection_flush (self->conn, 500);
    }
  /* pending replies run now (NULL), while the store is whole */
  g_clear_object (&self->conn);
  G_OBJECT_CLASS (lmd_redis_limit_store_parent_class)->dispose (object);
}

static void
lmd_redis_limit_store_finalize (GObject *object)
{
  LmdRedisLimitStore *self = LMD_REDIS_LIMIT_STORE (object);

  g_hash_table_unref (self->held);
  g_hash_table_unref (self->unsent);
  g_free (self->prefix);
  g_free (self->acquire.sha1);
  g_free (self->release.sha1);
  g_free (self->renew.sha1);
  G_OBJECT_CLASS (lmd_redis_limit_store_parent_class)->finalize (object);
}

static void
lmd_redis_limit_store_class_init (LmdRedisLimitStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lmd_redis_limit_store_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_redis_limit_store_finalize;
}

static void
lmd_redis_limit_store_init (LmdRedisLimitStore *self)
{
  self->prefix = g_strdup ("lmd:");
  self->lease_s = 30;
  self->timeout_ms = 1000;
  self->held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->unsent = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  script_init (&self->acquire, acquire_lua);
  script_init (&self->release, release_lua);
  script_init (&self->renew, renew_lua);
}
