/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-redis"

#include "lmd-redis-job-store.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-log.h"

#define GROUP "runners"
/* The longest one Redis step (connecting, a command) may wait for an answer. */
#define STEP_TIMEOUT_S 5
/* The longest a submission or a lookup waits for Redis, all steps and the retry on a fresh
 * connection together (docs/configuration.md, [jobs]): a client's request is refused with 503
 * within this, well before an api's worker_timeout_s. */
#define CLIENT_WAIT_S 10

/* One connection and the lock its commands run under. */
typedef struct {
  GMutex lock;
  redisContext *ctx;   /* under lock; NULL: not connected */
  gint64 deadline;     /* under lock: monotonic µs by which the operation under way ends; 0: none */
} RedisLink;

struct _LmdRedisJobStore {
  GObject parent_instance;

  LmdJobConfig config;
  char *host;          /* owned */
  guint port;
  char *password;      /* owned, nullable */
  guint db;
  char *stream_key;    /* owned: PREFIXjobs */
  char *bytes_key;     /* owned: PREFIXjobs:bytes */
  char *job_prefix;    /* owned: PREFIXjob: */
  char *consumer;      /* owned: this process in the group */

  RedisLink runner;    /* take, touch, complete, release */
  RedisLink client;    /* submit, lookup: a client's request never waits behind the runner's
                        * commands (each may wait its timeout for a Redis that does not answer) */
  GHashTable *entries; /* under runner.lock: job id → stream entry id, jobs this process took */
  GHashTable *claims;  /* under runner.lock: job id → this process's claim (the job hash's "claim") */
  guint64 claims_made; /* under runner.lock */
};

static void lmd_redis_job_store_iface_init (LmdJobStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdRedisJobStore, lmd_redis_job_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_JOB_STORE, lmd_redis_job_store_iface_init))

G_DEFINE_AUTOPTR_CLEANUP_FUNC (redisReply, freeReplyObject)

/* KEYS: stream, bytes counter, job hash; ARGV: max_pending, max_bytes, size, meta, audio, id */
static const char submit_script[] =
  "if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return -1 end\n"
  "local used = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
  "if used + tonumber(ARGV[3]) > tonumber(ARGV[2]) then return -2 end\n"
  "redis.call('HSET', KEYS[3], 'meta', ARGV[4], 'bytes', ARGV[3], 'audio', ARGV[5])\n"
  "redis.call('INCRBY', KEYS[2], ARGV[3])\n"
  "redis.call('XADD', KEYS[1], '*', 'job', ARGV[6])\n"
  "return 0\n";

/* Fencing (lmd-job-store.h): take() writes a claim of its own into the job hash once the
 * stream entry is this consumer's; touch() and complete() of another claim change nothing. */

/* KEYS: stream, job hash; ARGV: entry id, consumer, claim.  nil: the entry is no longer this
 * consumer's (another process claimed it since); else HMGET meta, audio, document. */
static const char take_script[] =
  "local p = redis.call('XPENDING', KEYS[1], '" GROUP "', ARGV[1], ARGV[1], 1)\n"
  "if #p == 0 or p[1][2] ~= ARGV[2] then return false end\n"
  "if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'claim', ARGV[3]) end\n"
  "return redis.call('HMGET', KEYS[2], 'meta', 'audio', 'document')\n";

/* KEYS: stream, job hash; ARGV: entry id, consumer, claim.  0: the claim is lost. */
static const char touch_script[] =
  "if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[3] then return 0 end\n"
  "redis.call('XCLAIM', KEYS[1], '" GROUP "', ARGV[2], 0, ARGV[1], 'JUSTID')\n"
  "return 1\n";

/* KEYS: job hash, bytes counter; ARGV: document, ttl, claim.  -1: the claim is lost (nothing
 * stored).  Completing twice under one claim counts the audio out once. */
static const char complete_script[] =
  "if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[3] then return -1 end\n"
  "local b = tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0')\n"
  "redis.call('HSET', KEYS[1], 'document', ARGV[1], 'bytes', '0')\n"
  "redis.call('HDEL', KEYS[1], 'audio')\n"
  "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
  "if b > 0 then redis.call('DECRBY', KEYS[2], b) end\n"
  "return b\n";

gboolean
lmd_redis_url_parse (const char *url, char **host, guint *port, char **password, guint *db,
                     GError **error)
{
  g_autoptr (GUri) uri = NULL;
  const char *path, *userinfo;
  g_autoptr (GError) local_error = NULL;

  uri = url != NULL ? g_uri_parse (url, G_URI_FLAGS_HAS_PASSWORD | G_URI_FLAGS_ENCODED, &local_error) : NULL;
  if (uri == NULL || g_strcmp0 (g_uri_get_scheme (uri), "redis") != 0 || g_uri_get_host (uri) == NULL ||
      g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [redis] url: '%s' is not redis://[:password@]host[:port][/db]",
                   url != NULL ? url : "");
      return FALSE;
    }
  *host = g_strdup (g_uri_get_host (uri));
  *port = g_uri_get_port (uri) > 0 ? (guint) g_uri_get_port (uri) : 6379;
  userinfo = g_uri_get_password (uri);
  *password = userinfo != NULL && userinfo[0] != '\0' ? g_uri_unescape_string (userinfo, NULL) : NULL;
  *db = 0;
  path = g_uri_get_path (uri);
  if (path != NULL && path[0] == '/' && path[1] != '\0')
    {
      guint64 n;
      if (!g_ascii_string_to_unsigned (path + 1, 10, 0, 1000, &n, NULL))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [redis] url: database '%s' is not a number", path + 1);
          g_clear_pointer (host, g_free);
          g_clear_pointer (password, g_free);
          return FALSE;
        }
      *db = (guint) n;
    }
  return TRUE;
}

/* ---- connection (all under link->lock) ----------------------------------------------------- */

static void
disconnect (RedisLink *link)
{
  g_clear_pointer (&link->ctx, redisFree);
}

static gboolean
unavailable (LmdRedisJobStore *self, GError **error, const char *what)
{
  g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE, "redis %s:%u: %s", self->host,
               self->port, what);
  return FALSE;
}

/* Whether the server closed the idle connection (a Redis restarted since the last command) or
 * sent something nobody asked for; either way it cannot carry the next command.  Never
 * blocks. */
static gboolean
connection_is_stale (redisContext *ctx)
{
  char byte;
  ssize_t n = recv (ctx->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0)
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return TRUE; /* 0: closed by the server; > 0: a byte that answers nothing */
}

/* The wait for the next step: STEP_TIMEOUT_S, or what is left before the link's deadline;
 * FALSE when nothing is left. */
static gboolean
step_timeout (RedisLink *link, struct timeval *tv)
{
  gint64 wait_us = (gint64) STEP_TIMEOUT_S * G_USEC_PER_SEC;

  if (link->deadline != 0)
    wait_us = MIN (wait_us, link->deadline - g_get_monotonic_time ());
  if (wait_us <= 0)
    return FALSE;
  tv->tv_sec = wait_us / G_USEC_PER_SEC;
  tv->tv_usec = wait_us % G_USEC_PER_SEC;
  if (link->ctx != NULL)
    redisSetTimeout (link->ctx, *tv);
  return TRUE;
}

static redisReply *command_once (LmdRedisJobStore *self, RedisLink *link, int argc, const char **argv,
                                 const size_t *lens, gboolean *reused, GError **error);

/* Runs a command; NULL with @error set on a connection failure (the connection is dropped)
 * or an error reply.  An idle connection the server has closed is replaced before the
 * command; a command whose reused connection ends without an answer (the server closed it
 * while the command was on its way) runs once more on a fresh one. */
static redisReply *
command_argv (LmdRedisJobStore *self, RedisLink *link, int argc, const char **argv, const size_t *lens, GError **error)
{
  g_autoptr (GError) first_error = NULL;
  gboolean reused = FALSE;
  redisReply *reply;

  if (link->ctx != NULL && connection_is_stale (link->ctx))
    {
      g_info ("%s:%u closed the connection; connecting again", self->host,
              self->port);
      disconnect (link);
    }
  reply = command_once (self, link, argc, argv, lens, &reused, &first_error);
  if (reply != NULL || !reused || link->ctx != NULL)
    {
      /* an answer, an error reply (the connection is fine), or a failure on a fresh one */
      if (first_error != NULL)
        g_propagate_error (error, g_steal_pointer (&first_error));
      return reply;
    }
  g_info ("%s:%u: %s; connecting again for %s", self->host, self->port,
          first_error->message, argv[0]);
  return command_once (self, link, argc, argv, lens, &reused, error);
}

/* One attempt; *@reused tells whether the connection was open before it. */
static redisReply *
command_once (LmdRedisJobStore *self, RedisLink *link, int argc, const char **argv, const size_t *lens,
              gboolean *reused, GError **error)
{
  redisReply *reply;
  struct timeval timeout;

  *reused = link->ctx != NULL;
  if (!step_timeout (link, &timeout))
    {
      g_autofree char *why = g_strdup_printf ("no answer within %u s", CLIENT_WAIT_S);
      disconnect (link);
      unavailable (self, error, why);
      return NULL;
    }
  if (link->ctx == NULL)
    {
      link->ctx = redisConnectWithTimeout (self->host, (int) self->port, timeout);
      if (link->ctx == NULL || link->ctx->err)
        {
          g_autofree char *why = g_strdup (link->ctx != NULL ? link->ctx->errstr : "cannot connect");
          disconnect (link);
          unavailable (self, error, why);
          return NULL;
        }
      redisSetTimeout (link->ctx, timeout);
      if (self->password != NULL && step_timeout (link, &timeout))
        {
          g_autoptr (redisReply) r = redisCommand (link->ctx, "AUTH %s", self->password);
          if (r == NULL || r->type == REDIS_REPLY_ERROR)
            {
              g_autofree char *why = g_strdup_printf ("AUTH failed: %s", r != NULL ? r->str : link->ctx->errstr);
              disconnect (link);
              unavailable (self, error, why);
              return NULL;
            }
        }
      if (self->db != 0 && step_timeout (link, &timeout))
        {
          g_autoptr (redisReply) r = redisCommand (link->ctx, "SELECT %u", self->db);
          if (r == NULL || r->type == REDIS_REPLY_ERROR)
            {
              disconnect (link);
              unavailable (self, error, "SELECT failed");
              return NULL;
            }
        }
      if (step_timeout (link, &timeout))
        {
          g_autoptr (redisReply) r = redisCommand (link->ctx, "XGROUP CREATE %s " GROUP " 0 MKSTREAM",
                                                   self->stream_key);
          if (r == NULL || (r->type == REDIS_REPLY_ERROR && !g_str_has_prefix (r->str, "BUSYGROUP")))
            {
              g_autofree char *why = g_strdup_printf ("XGROUP CREATE failed: %s",
                                                      r != NULL ? r->str : link->ctx->errstr);
              disconnect (link);
              unavailable (self, error, why);
              return NULL;
            }
        }
    }
  if (!step_timeout (link, &timeout))
    {
      g_autofree char *why = g_strdup_printf ("no answer within %u s", CLIENT_WAIT_S);
      disconnect (link);
      unavailable (self, error, why);
      return NULL;
    }
  reply = redisCommandArgv (link->ctx, argc, argv, lens);
  if (reply == NULL)
    {
      g_autofree char *why = g_strdup (link->ctx->errstr);
      disconnect (link);
      unavailable (self, error, why);
      return NULL;
    }
  if (reply->type == REDIS_REPLY_ERROR)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "redis %s: %s", argv[0], reply->str);
      freeReplyObject (reply);
      return NULL;
    }
  return reply;
}

/* command (self, link, error, "ARG", ..., NULL): text arguments */
static redisReply *
command (LmdRedisJobStore *self, RedisLink *link, GError **error, ...) G_GNUC_NULL_TERMINATED;

static redisReply *
command (LmdRedisJobStore *self, RedisLink *link, GError **error, ...)
{
  const char *argv[16];
  size_t lens[16];
  int argc = 0;
  va_list ap;
  const char *arg;

  va_start (ap, error);
  while ((arg = va_arg (ap, const char *)) != NULL && argc < 16)
    {
      argv[argc] = arg;
      lens[argc] = strlen (arg);
      argc++;
    }
  va_end (ap);
  return command_argv (self, link, argc, argv, lens, error);
}

static char *
job_key (LmdRedisJobStore *self, const char *job_id)
{
  return g_strconcat (self->job_prefix, job_id, NULL);
}

/* ---- LmdJobStore ------------------------------------------------------------------------- */

static gboolean
redis_setup (LmdJobStore *store, GKeyFile *config, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  g_autofree char *url = lmd_config_get_string (config, "redis", "url", "redis://127.0.0.1:6379");
  g_autofree char *prefix = lmd_config_get_string (config, "redis", "prefix", "lmd:");
  g_autofree char *hostname = g_strdup (g_get_host_name ());
  g_autoptr (redisReply) reply = NULL;
  g_autoptr (GError) local_error = NULL;

  lmd_job_config_clear (&self->config);
  if (!lmd_job_config_load (&self->config, config, error) ||
      !lmd_redis_url_parse (url, &self->host, &self->port, &self->password, &self->db, error))
    return FALSE;
  self->stream_key = g_strconcat (prefix, "jobs", NULL);
  self->bytes_key = g_strconcat (prefix, "jobs:bytes", NULL);
  self->job_prefix = g_strconcat (prefix, "job:", NULL);
  self->consumer = g_strdup_printf ("%s-%d-%08x", hostname, (int) getpid (), g_random_int ());
  /* Redis may come up after us: a failed first connection is only a warning, and jobs are
   * answered 503 until it works. */
  g_mutex_lock (&self->client.lock);
  reply = command (self, &self->client, &local_error, "PING", NULL);
  g_mutex_unlock (&self->client.lock);
  if (reply == NULL)
    g_warning ("%s (retrying when jobs arrive)", local_error->message);
  else
    g_info ("redis %s:%u/%u ready, consumer %s", self->host, self->port, self->db, self->consumer);
  return TRUE;
}

static gboolean
redis_submit (LmdJobStore *store, const LmdJob *job, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  gsize size = job->audio != NULL ? g_bytes_get_size (job->audio) : 0;
  g_autofree char *key = job_key (self, job->id);
  g_autofree char *meta = lmd_job_to_meta_json (job);
  g_autofree char *size_text = g_strdup_printf ("%" G_GSIZE_FORMAT, size);
  g_autoptr (redisReply) reply = NULL;
  gboolean ok = FALSE;

  if (size > self->config.max_bytes)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is larger than the job store's limit of %" G_GUINT64_FORMAT " MB",
                   self->config.max_bytes / (1024 * 1024));
      return FALSE;
    }
  g_mutex_lock (&self->client.lock);
  self->client.deadline = g_get_monotonic_time () + (gint64) CLIENT_WAIT_S * G_USEC_PER_SEC;
  {
    /* bounds checked and job stored in one step: the job before its stream entry, so whoever
     * reads the entry finds the job */
    g_autofree char *max_pending = g_strdup_printf ("%u", self->config.max_pending);
    g_autofree char *max_bytes = g_strdup_printf ("%" G_GUINT64_FORMAT, self->config.max_bytes);
    const char *argv[] = { "EVAL", submit_script, "3", self->stream_key, self->bytes_key, key,
                           max_pending, max_bytes, size_text, meta,
                           size > 0 ? g_bytes_get_data (job->audio, NULL) : "", job->id };
    size_t lens[G_N_ELEMENTS (argv)];

    for (guint i = 0; i < G_N_ELEMENTS (argv); i++)
      lens[i] = i == 10 ? size : strlen (argv[i]); /* [10]: the audio, binary */
    reply = command_argv (self, &self->client, G_N_ELEMENTS (argv), argv, lens, error);
  }
  if (reply == NULL)
    goto out;
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -1)
    g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                 "%u jobs are waiting already; try again later", self->config.max_pending);
  else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == -2)
    g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                 "the audio of waiting jobs would pass the limit of %" G_GUINT64_FORMAT " MB; try again later",
                 self->config.max_bytes / (1024 * 1024));
  else
    ok = TRUE;
out:
  self->client.deadline = 0;
  g_mutex_unlock (&self->client.lock);
  return ok;
}

/* The job id of a stream entry [id, [field, value, ...]]. */
static const char *
entry_job_id (redisReply *entry, const char **entry_id)
{
  redisReply *fields;

  if (entry == NULL || entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
      entry->element[0]->type != REDIS_REPLY_STRING)
    return NULL;
  *entry_id = entry->element[0]->str;
  fields = entry->element[1];
  if (fields->type != REDIS_REPLY_ARRAY)
    return NULL;
  for (size_t i = 0; i + 1 < fields->elements; i += 2)
    if (fields->element[i]->type == REDIS_REPLY_STRING && g_str_equal (fields->element[i]->str, "job") &&
        fields->element[i + 1]->type == REDIS_REPLY_STRING)
      return fields->element[i + 1]->str;
  return NULL;
}

static void
forget_entry (LmdRedisJobStore *self, const char *entry_id)
{
  g_autoptr (redisReply) a = command (self, &self->runner, NULL, "XACK", self->stream_key, GROUP, entry_id, NULL);
  g_autoptr (redisReply) d = command (self, &self->runner, NULL, "XDEL", self->stream_key, entry_id, NULL);
}

static LmdJob *
redis_take (LmdJobStore *store, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  g_autofree char *idle_ms = g_strdup_printf ("%u", self->config.claim_timeout_s * 1000);
  LmdJob *job = NULL;

  g_mutex_lock (&self->runner.lock);
  for (guint tries = 0; tries < 16 && job == NULL; tries++)
    {
      g_autoptr (redisReply) reply = NULL;
      g_autoptr (redisReply) data = NULL;
      g_autoptr (GError) local_error = NULL;
      g_autofree char *key = NULL;
      g_autofree char *claim = NULL;
      redisReply *entry = NULL;
      const char *entry_id = NULL, *job_id;
      gboolean reclaimed = FALSE;

      /* first a job whose owner stopped renewing its claim, then a new one */
      reply = command (self, &self->runner, error, "XAUTOCLAIM", self->stream_key, GROUP, self->consumer, idle_ms,
                       "0-0", "COUNT", "1", NULL);
      if (reply == NULL)
        break;
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
          reply->element[1]->type == REDIS_REPLY_ARRAY && reply->element[1]->elements > 0)
        {
          entry = reply->element[1]->element[0];
          reclaimed = TRUE;
        }
      else
        {
          g_clear_pointer (&reply, freeReplyObject);
          reply = command (self, &self->runner, error, "XREADGROUP", "GROUP", GROUP, self->consumer, "COUNT", "1",
                           "STREAMS", self->stream_key, ">", NULL);
          if (reply == NULL)
            break;
          if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0)
            break; /* nothing waits */
          /* [[stream, [[id, fields]]]] */
          if (reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements >= 2 &&
              reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY &&
              reply->element[0]->element[1]->elements > 0)
            entry = reply->element[0]->element[1]->element[0];
        }
      job_id = entry_job_id (entry, &entry_id);
      if (job_id == NULL)
        {
          if (entry_id != NULL)
            forget_entry (self, entry_id);
          continue;
        }
      key = job_key (self, job_id);
      claim = g_strdup_printf ("%s:%" G_GUINT64_FORMAT, self->consumer, ++self->claims_made);
      {
        const char *argv[] = { "EVAL", take_script, "2", self->stream_key, key, entry_id,
                               self->consumer, claim };
        size_t lens[G_N_ELEMENTS (argv)];

        for (guint i = 0; i < G_N_ELEMENTS (argv); i++)
          lens[i] = strlen (argv[i]);
        data = command_argv (self, &self->runner, G_N_ELEMENTS (argv), argv, lens, error);
      }
      if (data == NULL)
        break;
      if (data->type == REDIS_REPLY_NIL)
        continue; /* claimed by another process since: theirs */
      if (data->type != REDIS_REPLY_ARRAY || data->elements != 3 ||
          data->element[0]->type != REDIS_REPLY_STRING ||
          (job = lmd_job_from_meta_json (data->element[0]->str, &local_error)) == NULL)
        {
          g_warning ("dropping stream entry %s: job %s is gone or unreadable", entry_id, job_id);
          forget_entry (self, entry_id);
          continue;
        }
      if (data->element[2]->type == REDIS_REPLY_STRING)
        job->document = g_strndup (data->element[2]->str, data->element[2]->len);
      else if (data->element[1]->type == REDIS_REPLY_STRING && job->url == NULL)
        job->audio = g_bytes_new (data->element[1]->str, data->element[1]->len);
      else if (job->url == NULL)
        {
          g_autoptr (GError) lost = g_error_new (LMD_ERROR, LMD_ERROR_INTERNAL, "the job's audio was lost");
          job->document = lmd_job_document_failed (job->id, lost);
        }
      g_hash_table_insert (self->entries, g_strdup (job->id), g_strdup (entry_id));
      g_hash_table_insert (self->claims, g_strdup (job->id), g_steal_pointer (&claim));
      if (reclaimed)
        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, job->request_id,
                         "reclaimed job %s, whose owner was silent for %u s", job->id,
                         self->config.claim_timeout_s);
    }
  g_mutex_unlock (&self->runner.lock);
  return job;
}

/* Under runner.lock: forgets a job another process owns now. */
static gboolean
claim_lost (LmdRedisJobStore *self, const char *job_id, GError **error)
{
  g_hash_table_remove (self->entries, job_id);
  g_hash_table_remove (self->claims, job_id);
  g_set_error (error, LMD_JOB_STORE_ERROR, LMD_JOB_STORE_ERROR_CLAIM_LOST,
               "job %s was handed to another process since this one took it", job_id);
  return FALSE;
}

static gboolean
redis_touch (LmdJobStore *store, const char *job_id, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  g_autofree char *key = job_key (self, job_id);
  g_autoptr (redisReply) reply = NULL;
  const char *entry_id, *claim;
  gboolean ok = TRUE;

  g_mutex_lock (&self->runner.lock);
  entry_id = g_hash_table_lookup (self->entries, job_id);
  claim = g_hash_table_lookup (self->claims, job_id);
  if (entry_id != NULL && claim != NULL)
    {
      const char *argv[] = { "EVAL", touch_script, "2", self->stream_key, key, entry_id,
                             self->consumer, claim };
      size_t lens[G_N_ELEMENTS (argv)];

      for (guint i = 0; i < G_N_ELEMENTS (argv); i++)
        lens[i] = strlen (argv[i]);
      reply = command_argv (self, &self->runner, G_N_ELEMENTS (argv), argv, lens, error);
      ok = reply != NULL;
      if (ok && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
        ok = claim_lost (self, job_id, error);
    }
  else
    ok = claim_lost (self, job_id, error); /* not taken here, or lost already */
  g_mutex_unlock (&self->runner.lock);
  return ok;
}

static gboolean
redis_complete (LmdJobStore *store, const char *job_id, const char *document, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  g_autofree char *key = job_key (self, job_id);
  g_autofree char *ttl = g_strdup_printf ("%u", self->config.result_ttl_s);
  g_autoptr (redisReply) reply = NULL;
  gboolean ok;

  g_mutex_lock (&self->runner.lock);
  {
    const char *claim = g_hash_table_lookup (self->claims, job_id);
    const char *argv[] = { "EVAL", complete_script, "2", key, self->bytes_key, document, ttl,
                           claim != NULL ? claim : "" };
    size_t lens[G_N_ELEMENTS (argv)];

    for (guint i = 0; i < G_N_ELEMENTS (argv); i++)
      lens[i] = strlen (argv[i]);
    reply = command_argv (self, &self->runner, G_N_ELEMENTS (argv), argv, lens, error);
  }
  ok = reply != NULL;
  if (ok && reply->type == REDIS_REPLY_INTEGER && reply->integer == -1)
    ok = claim_lost (self, job_id, error);
  g_mutex_unlock (&self->runner.lock);
  return ok;
}

static gboolean
redis_release (LmdJobStore *store, const char *job_id, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  g_autofree char *entry_id = NULL;
  g_autoptr (redisReply) ack = NULL;
  g_autoptr (redisReply) del = NULL;
  gboolean ok = FALSE;

  g_mutex_lock (&self->runner.lock);
  entry_id = g_strdup (g_hash_table_lookup (self->entries, job_id));
  if (entry_id == NULL)
    ok = TRUE;
  else if ((ack = command (self, &self->runner, error, "XACK", self->stream_key, GROUP, entry_id, NULL)) != NULL &&
           (del = command (self, &self->runner, error, "XDEL", self->stream_key, entry_id, NULL)) != NULL)
    {
      g_hash_table_remove (self->entries, job_id);
      g_hash_table_remove (self->claims, job_id);
      ok = TRUE;
    }
  g_mutex_unlock (&self->runner.lock);
  return ok;
}

static char *
redis_lookup (LmdJobStore *store, const char *job_id, GError **error)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (store);
  g_autofree char *key = job_key (self, job_id);
  g_autoptr (redisReply) reply = NULL;
  char *document = NULL;

  g_mutex_lock (&self->client.lock);
  self->client.deadline = g_get_monotonic_time () + (gint64) CLIENT_WAIT_S * G_USEC_PER_SEC;
  reply = command (self, &self->client, error, "HMGET", key, "document", "bytes", NULL);
  self->client.deadline = 0;
  g_mutex_unlock (&self->client.lock);
  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
    return NULL;
  if (reply->element[0]->type == REDIS_REPLY_STRING)
    document = g_strndup (reply->element[0]->str, reply->element[0]->len);
  else if (reply->element[1]->type == REDIS_REPLY_STRING)
    document = lmd_job_document_processing (job_id);
  return document;
}

static const char *
redis_get_name (LmdJobStore *store)
{
  return "redis";
}

static void
lmd_redis_job_store_iface_init (LmdJobStoreInterface *iface)
{
  iface->setup = redis_setup;
  iface->submit = redis_submit;
  iface->take = redis_take;
  iface->touch = redis_touch;
  iface->complete = redis_complete;
  iface->release = redis_release;
  iface->lookup = redis_lookup;
  iface->get_name = redis_get_name;
}

static void
lmd_redis_job_store_finalize (GObject *object)
{
  LmdRedisJobStore *self = LMD_REDIS_JOB_STORE (object);

  disconnect (&self->runner);
  disconnect (&self->client);
  lmd_job_config_clear (&self->config);
  g_free (self->host);
  g_free (self->password);
  g_free (self->stream_key);
  g_free (self->bytes_key);
  g_free (self->job_prefix);
  g_free (self->consumer);
  g_hash_table_unref (self->entries);
  g_hash_table_unref (self->claims);
  g_mutex_clear (&self->runner.lock);
  g_mutex_clear (&self->client.lock);
  G_OBJECT_CLASS (lmd_redis_job_store_parent_class)->finalize (object);
}

static void
lmd_redis_job_store_class_init (LmdRedisJobStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_redis_job_store_finalize;
}

static void
lmd_redis_job_store_init (LmdRedisJobStore *self)
{
  g_mutex_init (&self->runner.lock);
  g_mutex_init (&self->client.lock);
  self->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->claims = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}
