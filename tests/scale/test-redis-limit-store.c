/* SPDX-License-Identifier: MIT */
/*
 * test-redis-limit-store.c — LmdRedisLimitStore (the redis-limits plugin's type) against a
 * real redis-server on a loopback port, without daemons: the Lua scripts' token bucket,
 * concurrency leases and daily quota, read back with a second (synchronous) hiredis client.
 *
 * Covers: exactly rpm admissions from a full bucket, then RATE_LIMIT_EXCEEDED with a
 * retry_after; a refusal takes nothing (the bucket is unchanged); refill at rpm / 60 per
 * second of Redis's clock; two stores (two processes' worth) share one concurrency limit;
 * release frees a slot; a ticket past its lease no longer counts, and a held ticket is
 * renewed past its lease; audio seconds released add up per quota id and UTC day, with a
 * 2-day expiry, and QUOTA_EXCEEDED with a retry_after up to the next UTC midnight once over;
 * the scripts survive SCRIPT FLUSH (EVALSHA → NOSCRIPT → EVAL); a stopped Redis answers
 * SERVICE_UNAVAILABLE at once, and audio released meanwhile reaches Redis once it is back; a
 * stalled Redis (SIGSTOP) answers SERVICE_UNAVAILABLE after limits_timeout_ms, and the slot it
 * grants late is given back.
 */
#include <gio/gio.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-redis-limit-store.h"
#include "lmd-test-redis.h"

static GSubprocess *redis;
static guint redis_port;
static redisContext *inspect; /* synchronous client to look at the keys */

static LmdLimitStore *
new_store (guint lease_s)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autofree char *url = g_strdup_printf ("redis://127.0.0.1:%u/2", redis_port);
  g_autoptr (GError) error = NULL;
  LmdLimitStore *store = g_object_new (LMD_TYPE_REDIS_LIMIT_STORE, NULL);

  g_key_file_set_string (config, "redis", "url", url);
  g_key_file_set_string (config, "redis", "prefix", "t:");
  g_key_file_set_integer (config, "redis", "limits_lease_s", (gint) lease_s);
  g_key_file_set_integer (config, "redis", "reconnect_max_ms", 200);
  g_assert_true (lmd_limit_store_setup (store, config, &error));
  g_assert_no_error (error);
  lmd_limit_store_start (store);
  return store;
}

static gboolean
wait_available (LmdLimitStore *store, gboolean want, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  while (lmd_limit_store_is_available (store) != want && g_get_monotonic_time () < deadline)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (2000);
  return lmd_limit_store_is_available (store) == want;
}

/* Runs the main context for @ms. */
static void
spin (guint ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < until)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (2000);
}

typedef struct {
  gboolean done;
  gboolean ok;
  guint retry;
  double today;
  GError *error;
} Answer;

static void
acquired (GObject *source, GAsyncResult *result, gpointer data)
{
  Answer *a = data;

  a->ok = lmd_limit_store_acquire_finish (LMD_LIMIT_STORE (source), result, &a->retry, &a->today,
                                          &a->error);
  a->done = TRUE;
}

/* One admission; *@error_code set to the LMD_ERROR code when refused (-1 when admitted). */
static gboolean
acquire (LmdLimitStore *store, const char *client, const char *quota, gint64 rpm,
         gint64 concurrency, double hours, const char *ticket, guint *retry, double *today,
         int *error_code)
{
  LmdLimitStoreLimits limits = { rpm, concurrency, hours };
  Answer a = { 0 };
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  lmd_limit_store_acquire_async (store, client, quota, &limits, ticket, NULL, acquired, &a);
  while (!a.done && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (a.done);
  if (retry != NULL)
    *retry = a.retry;
  if (today != NULL)
    *today = a.today;
  if (error_code != NULL)
    *error_code = a.ok ? -1 : a.error->code;
  if (!a.ok)
    g_assert_true (a.error->domain == LMD_ERROR);
  g_clear_error (&a.error);
  return a.ok;
}

static char *
redis_string (const char *format, ...)
{
  va_list ap;
  redisReply *r;
  char *out = NULL;

  va_start (ap, format);
  r = redisvCommand (inspect, format, ap);
  va_end (ap);
  g_assert_nonnull (r);
  if (r->type == REDIS_REPLY_STRING)
    out = g_strndup (r->str, r->len);
  else if (r->type == REDIS_REPLY_INTEGER)
    out = g_strdup_printf ("%lld", r->integer);
  freeReplyObject (r);
  return out;
}

static gint64
redis_int (const char *format, ...)
{
  va_list ap;
  redisReply *r;
  gint64 out;

  va_start (ap, format);
  r = redisvCommand (inspect, format, ap);
  va_end (ap);
  g_assert_nonnull (r);
  g_assert_cmpint (r->type, ==, REDIS_REPLY_INTEGER);
  out = r->integer;
  freeReplyObject (r);
  return out;
}

static void
connect_inspector (void)
{
  redisReply *r;

  g_clear_pointer (&inspect, redisFree);
  inspect = redisConnect ("127.0.0.1", (int) redis_port);
  g_assert_nonnull (inspect);
  g_assert_cmpint (inspect->err, ==, 0);
  r = redisCommand (inspect, "SELECT 2");
  freeReplyObject (r);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void
test_token_bucket (void)
{
  g_autoptr (LmdLimitStore) store = new_store (30);
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *at = NULL;
  guint retry = 0;
  int code = 0;

  g_assert_true (wait_available (store, TRUE, 10));
  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *ticket = g_strdup_printf ("rate-%u", i);
      g_assert_true (acquire (store, "bucket", NULL, 6, 0, 0, ticket, NULL, NULL, NULL));
    }
  before = redis_string ("HGET t:limits:rate:bucket tokens");
  g_assert_false (acquire (store, "bucket", NULL, 6, 0, 0, "rate-over", &retry, NULL, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  /* 6 per minute: the next token is due within 10 s */
  g_assert_cmpuint (retry, >=, 1);
  g_assert_cmpuint (retry, <=, 10);
  /* the refusal took nothing and wrote nothing */
  after = redis_string ("HGET t:limits:rate:bucket tokens");
  g_assert_cmpstr (before, ==, after);
  g_assert_cmpfloat (g_ascii_strtod (after, NULL), <, 1.0);
  /* the bucket expires on its own (a full bucket needs no key) */
  g_assert_cmpint (redis_int ("PTTL t:limits:rate:bucket"), >, 0);
  g_assert_cmpint (redis_int ("PTTL t:limits:rate:bucket"), <=, 61000);

  /* 20 s of Redis's clock ago: 2 tokens refilled at 6 per minute, not more */
  at = redis_string ("HGET t:limits:rate:bucket at");
  g_free (redis_string ("HSET t:limits:rate:bucket at %lld",
                        (long long) g_ascii_strtoll (at, NULL, 10) - 20000));
  g_assert_true (acquire (store, "bucket", NULL, 6, 0, 0, "refill-1", NULL, NULL, NULL));
  g_assert_true (acquire (store, "bucket", NULL, 6, 0, 0, "refill-2", NULL, NULL, NULL));
  g_assert_false (acquire (store, "bucket", NULL, 6, 0, 0, "refill-3", NULL, NULL, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  /* another client has its own bucket */
  g_assert_true (acquire (store, "other", NULL, 6, 0, 0, "other-1", NULL, NULL, NULL));
}

static void
test_concurrency_shared (void)
{
  g_autoptr (LmdLimitStore) a = new_store (30);
  g_autoptr (LmdLimitStore) b = new_store (30);
  guint retry = 0;
  int code = 0;

  g_assert_true (wait_available (a, TRUE, 10) && wait_available (b, TRUE, 10));
  g_assert_true (acquire (a, "conc", NULL, 0, 2, 0, "c1", NULL, NULL, NULL));
  g_assert_true (acquire (b, "conc", NULL, 0, 2, 0, "c2", NULL, NULL, NULL));
  g_assert_false (acquire (a, "conc", NULL, 0, 2, 0, "c3", &retry, NULL, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  g_assert_cmpuint (retry, ==, 1);
  g_assert_false (acquire (b, "conc", NULL, 0, 2, 0, "c3", NULL, NULL, NULL));
  g_assert_cmpint (redis_int ("ZCARD t:limits:active:conc"), ==, 2);
  /* a release on one frees the slot for the other */
  lmd_limit_store_release (a, "conc", NULL, "c1", 0);
  spin (100);
  g_assert_cmpint (redis_int ("ZCARD t:limits:active:conc"), ==, 1);
  g_assert_true (acquire (b, "conc", NULL, 0, 2, 0, "c4", NULL, NULL, NULL));
  lmd_limit_store_release (b, "conc", NULL, "c2", 0);
  lmd_limit_store_release (b, "conc", NULL, "c4", 0);
  spin (100);
  g_assert_cmpint (redis_int ("EXISTS t:limits:active:conc"), ==, 0);
}

static void
test_lease (void)
{
  g_autoptr (LmdLimitStore) holder = new_store (1);
  g_autoptr (LmdLimitStore) other = new_store (1);
  int code = 0;

  g_assert_true (wait_available (holder, TRUE, 10) && wait_available (other, TRUE, 10));
  g_assert_true (acquire (holder, "lease", NULL, 0, 1, 0, "held", NULL, NULL, NULL));
  /* renewed every lease / 3 while held: 2.5 leases later it still counts */
  spin (2500);
  g_assert_false (acquire (other, "lease", NULL, 0, 1, 0, "waiting", NULL, NULL, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_RATE_LIMIT_EXCEEDED);
  /* a clean exit (dispose) gives the slot back at once */
  g_object_run_dispose (G_OBJECT (holder));
  g_assert_true (acquire (other, "lease", NULL, 0, 1, 0, "after-exit", NULL, NULL, NULL));
  /* a ticket nobody renews any more (its process died) past its lease end no longer counts */
  g_free (redis_string ("ZADD t:limits:active:lease 1 ghost"));
  g_free (redis_string ("ZREM t:limits:active:lease after-exit"));
  g_assert_true (acquire (other, "lease", NULL, 0, 1, 0, "after-ghost", NULL, NULL, NULL));
  g_assert_cmpint (redis_int ("ZCARD t:limits:active:lease"), ==, 1);
}

static void
test_quota (void)
{
  g_autoptr (LmdLimitStore) a = new_store (30);
  g_autoptr (LmdLimitStore) b = new_store (30);
  g_autofree char *day_key = NULL;
  g_autofree char *total = NULL;
  double hours = 10.0 / 3600; /* 10 s */
  double today = -1;
  guint retry = 0;
  int code = 0;
  gint64 ttl;

  g_assert_true (wait_available (a, TRUE, 10) && wait_available (b, TRUE, 10));
  g_assert_true (acquire (a, "qa", "lic", 0, 0, hours, "q1", NULL, &today, NULL));
  g_assert_cmpfloat (today, ==, 0);
  lmd_limit_store_release (a, "qa", "lic", "q1", 6.5);
  spin (100);
  /* counted on a, seen by b: 6.5 < 10, still admitted */
  g_assert_true (acquire (b, "qb", "lic", 0, 0, hours, "q2", NULL, &today, NULL));
  g_assert_cmpfloat_with_epsilon (today, 6.5, 1e-6);
  lmd_limit_store_release (b, "qb", "lic", "q2", 4.0);
  spin (100);
  g_assert_false (acquire (a, "qa", "lic", 0, 0, hours, "q3", &retry, &today, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_QUOTA_EXCEEDED);
  g_assert_cmpfloat_with_epsilon (today, 10.5, 1e-6);
  g_assert_cmpuint (retry, >=, 1);
  g_assert_cmpuint (retry, <=, 86400);
  {
    /* the key of Redis's day, with its 2-day expiry */
    redisReply *r = redisCommand (inspect, "TIME");
    gint64 day = g_ascii_strtoll (r->element[0]->str, NULL, 10) / 86400;
    freeReplyObject (r);
    day_key = g_strdup_printf ("t:limits:audio:lic:%" G_GINT64_FORMAT, day);
  }
  total = redis_string ("GET %s", day_key);
  g_assert_cmpfloat_with_epsilon (g_ascii_strtod (total, NULL), 10.5, 1e-6);
  ttl = redis_int ("TTL %s", day_key);
  g_assert_cmpint (ttl, >, 86400);
  g_assert_cmpint (ttl, <=, 2 * 86400);
  /* another quota id is not affected */
  g_assert_true (acquire (a, "qa", "other-lic", 0, 0, hours, "q4", NULL, NULL, NULL));
}

static void
test_noscript (void)
{
  g_autoptr (LmdLimitStore) store = new_store (30);

  g_assert_true (wait_available (store, TRUE, 10));
  g_assert_true (acquire (store, "ns", NULL, 100, 5, 0, "n1", NULL, NULL, NULL));
  g_free (redis_string ("SCRIPT FLUSH"));
  g_assert_true (acquire (store, "ns", NULL, 100, 5, 0, "n2", NULL, NULL, NULL));
  lmd_limit_store_release (store, "ns", NULL, "n1", 0);
  g_free (redis_string ("SCRIPT FLUSH"));
  lmd_limit_store_release (store, "ns", NULL, "n2", 0);
  spin (200);
  g_assert_cmpint (redis_int ("ZCARD t:limits:active:ns"), ==, 0);
}

static void
test_redis_down (void)
{
  g_autoptr (LmdLimitStore) store = new_store (30);
  g_autofree char *total = NULL;
  int code = 0;
  gint64 day;

  g_assert_true (wait_available (store, TRUE, 10));
  g_clear_pointer (&redis, lmd_test_redis_stop);
  g_clear_pointer (&inspect, redisFree);
  g_assert_true (wait_available (store, FALSE, 10));
  g_assert_false (acquire (store, "down", "lic-down", 10, 1, 1, "d1", NULL, NULL, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_SERVICE_UNAVAILABLE);
  /* audio of a request admitted elsewhere meanwhile: kept until Redis is back */
  lmd_limit_store_release (store, "down", "lic-down", NULL, 3.25);
  redis = lmd_test_redis_start (redis_port, NULL);
  connect_inspector ();
  g_assert_true (wait_available (store, TRUE, 10));
  spin (200);
  day = g_get_real_time () / G_USEC_PER_SEC / 86400;
  total = redis_string ("GET t:limits:audio:lic-down:%lld", (long long) day);
  g_assert_nonnull (total);
  g_assert_cmpfloat_with_epsilon (g_ascii_strtod (total, NULL), 3.25, 1e-6);
  /* and admissions go through Redis again (an empty one: scripts sent again) */
  g_assert_true (acquire (store, "down", "lic-down", 10, 1, 1, "d2", NULL, NULL, NULL));
}

/* Redis accepts the command and does not answer (SIGSTOP): SERVICE_UNAVAILABLE after
 * limits_timeout_ms; the slot Redis grants once it runs again is given back at once. */
static void
test_redis_stalled (void)
{
  g_autoptr (LmdLimitStore) store = new_store (30);
  GPid pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (redis), NULL, 10);
  int code = 0;

  g_assert_true (wait_available (store, TRUE, 10));
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  g_assert_false (acquire (store, "stall", NULL, 0, 1, 0, "late", NULL, NULL, &code));
  g_assert_cmpint (code, ==, LMD_ERROR_SERVICE_UNAVAILABLE);
  /* answered by the timeout (limits_timeout_ms), not by a lost connection */
  g_assert_true (lmd_limit_store_is_available (store));
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  /* Redis now runs the script and admits "late" (its answer comes back on the store's
   * connection): nobody holds that ticket, so the store releases it */
  {
    gboolean admitted = FALSE;
    for (guint i = 0; i < 100 && !admitted; i++)
      {
        spin (50);
        admitted = acquire (store, "stall", NULL, 0, 1, 0, "next", NULL, NULL, NULL);
      }
    g_assert_true (admitted);
  }
  g_assert_cmpint (redis_int ("ZCARD t:limits:active:stall"), ==, 1);
  {
    /* the one held is "next": "late" was given back */
    g_autofree char *late = redis_string ("ZSCORE t:limits:active:stall late");
    g_autofree char *next = redis_string ("ZSCORE t:limits:active:stall next");
    g_assert_null (late);
    g_assert_nonnull (next);
  }
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  /* Redis stopped on purpose is logged as a warning: expected here, so only criticals abort */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  redis_port = lmd_test_free_port ();
  redis = lmd_test_redis_start (redis_port, NULL);
  if (redis == NULL)
    {
      g_test_skip ("redis-server is not installed");
      return g_test_run ();
    }
  connect_inspector ();
  g_test_add_func ("/redis-limits/token-bucket", test_token_bucket);
  g_test_add_func ("/redis-limits/concurrency-shared", test_concurrency_shared);
  g_test_add_func ("/redis-limits/lease", test_lease);
  g_test_add_func ("/redis-limits/quota", test_quota);
  g_test_add_func ("/redis-limits/noscript", test_noscript);
  g_test_add_func ("/redis-limits/redis-stalled", test_redis_stalled);
  g_test_add_func ("/redis-limits/redis-down", test_redis_down);
  status = g_test_run ();
  g_clear_pointer (&inspect, redisFree);
  g_clear_pointer (&redis, lmd_test_redis_stop);
  return status;
}
