/* SPDX-License-Identifier: MIT */
/*
 * test-jobs.c — asynchronous jobs end to end: real daemons (HTTP + GStreamer + sphinx), real
 * speech (pocketsphinx-testdata), a real callback receiver (an HTTP server in this test), and
 * for the Redis store a real redis-server owned by the test on a free loopback port.
 *
 *   /jobs/embedded/...   the built-in local store: callback = synchronous answer, GET
 *                        /v1/jobs/{id}, 404, validation, failed jobs, retried callbacks;
 *   /jobs/local/kill     kill -9 while jobs run and wait; a restart on the same spool finishes
 *                        them, each callback exactly once;
 *   /jobs/redis/...      two processes sharing a Redis: kill -9 of the process running a job,
 *                        and of the process that accepted one; the other finishes it;
 *   /jobs/redis/restart  redis-server restarted under a running daemon: the next
 *                        GET /v1/jobs/{id} reaches the new server (404 for a job it does not
 *                        know, not 503 "Server closed the connection"), and so does the next
 *                        submission.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-fixtures.h"
#include "lmd-test-callback-receiver.h"
#include "lmd-test-file-server.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"

#define WAIT_S 120

static SoupSession *session;
static GBytes *speech;        /* a LibriVox WAV */
static char *state_home;      /* XDG_STATE_HOME of the daemons: a temporary directory */

static gboolean
need_testdata (void)
{
  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

static JsonObject *
parse_object (const char *text)
{
  static GPtrArray *keep = NULL; /* parsers live until exit */
  JsonParser *parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  if (keep == NULL)
    keep = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (keep, parser);
  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

static LmdTestServer *
start_daemon (const char *config)
{
  g_autoptr (GError) error = NULL;
  LmdTestServer *server = lmd_test_server_start (config, NULL, &error);

  g_assert_no_error (error);
  return server;
}

/* The synchronous answer's text for the speech. */
static char *
sync_text (LmdTestServer *server)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", speech, NULL);

  g_assert_cmpuint (r->status, ==, 200);
  return g_strdup (json_object_get_string_member (lmd_test_response_json (r), "text"));
}

/* POSTs @audio with callback_url=@callback; (transfer full) the job id of the 202. */
static char *
submit (LmdTestServer *server, GBytes *audio, const char *callback)
{
  g_autofree char *escaped = g_uri_escape_string (callback, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
  g_autofree char *url = lmd_test_server_url (server, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
  JsonObject *o;

  g_assert_no_error (r->error);
  if (r->status != 202)
    g_error ("expected 202, got %u: %.*s", r->status, (int) g_bytes_get_size (r->body),
             (const char *) g_bytes_get_data (r->body, NULL));
  o = lmd_test_response_json (r);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "processing");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (o, "job_id"), "job_"));
  return g_strdup (json_object_get_string_member (o, "job_id"));
}

/* GET /v1/jobs/@job_id: (transfer full) the body; *status the HTTP status. */
static char *
get_job (LmdTestServer *server, const char *job_id, guint *status)
{
  g_autofree char *path = g_strdup_printf ("/v1/jobs/%s", job_id);
  g_autofree char *url = lmd_test_server_url (server, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_no_error (r->error);
  *status = r->status;
  return g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
}

/* Waits until the daemon's log contains @needle. */
static gboolean
wait_log (LmdTestServer *server, const char *needle, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  for (;;)
    {
      g_autofree char *log = lmd_test_server_read_log (server);
      if (strstr (log, needle) != NULL)
        return TRUE;
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20000);
    }
}

static void
kill_daemon (LmdTestServer *server)
{
  lmd_test_server_signal (server, SIGKILL);
  g_assert_cmpint (lmd_test_server_wait (server, 30), ==, -SIGKILL);
}

/* Finds the callback delivery of @job_id among the receiver's; asserts there is exactly one. */
static char *
the_delivery_of (LmdTestCallbackReceiver *receiver, const char *job_id)
{
  char *found = NULL;

  for (guint i = 0; i < lmd_test_callback_receiver_get_delivered (receiver); i++)
    {
      g_autofree char *body = lmd_test_callback_receiver_get_body (receiver, i);
      JsonObject *o = parse_object (body);
      if (g_str_equal (json_object_get_string_member (o, "job_id"), job_id))
        {
          if (found != NULL)
            g_error ("the callback of %s arrived more than once", job_id);
          found = g_steal_pointer (&body);
        }
    }
  if (found == NULL)
    g_error ("no callback for %s", job_id);
  return found;
}

/* Asserts that @document is the completed document of @job_id with the transcript @text. */
static void
assert_completed (const char *document, const char *job_id, const char *text)
{
  JsonObject *o = parse_object (document);
  JsonObject *result;

  g_assert_cmpstr (json_object_get_string_member (o, "job_id"), ==, job_id);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "completed");
  result = json_object_get_object_member (o, "result");
  g_assert_nonnull (result);
  g_assert_cmpstr (json_object_get_string_member (result, "text"), ==, text);
  g_assert_cmpfloat (json_object_get_double_member (result, "duration"), >, 1.0);
  g_assert_cmpstr (json_object_get_string_member (result, "language"), ==, "en");
}

static char *
make_spool (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("lmd-jobs-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

/* ---- fixture: a job store, a callback receiver, the daemons' config ----------------------- */

typedef struct {
  GSubprocess *process;
  guint port;
  char *dir;
} TestRedis;

static TestRedis *
redis_start (void)
{
  TestRedis *redis = g_new0 (TestRedis, 1);

  redis->dir = make_spool ();
  redis->port = lmd_test_free_port ();
  redis->process = lmd_test_redis_start (redis->port, redis->dir);
  if (redis->process == NULL)
    {
      lmd_test_rm_rf (redis->dir);
      g_free (redis->dir);
      g_free (redis);
      return NULL;
    }
  return redis;
}

static void
redis_stop (TestRedis *redis)
{
  lmd_test_redis_stop (redis->process);
  lmd_test_rm_rf (redis->dir);
  g_free (redis->dir);
  g_free (redis);
}

/* What a test needs: the parameter of the fixture. */
typedef struct {
  gboolean redis;          /* the redis-jobs store on a redis-server of the test; else the
                            * built-in local store in a spool directory of the test */
  gboolean speech;         /* skipped without pocketsphinx-testdata */
  gboolean allow_private;  /* [limits] allow_private_urls (the receiver is on loopback) */
  guint fail_first;        /* callback POSTs the receiver answers 500 before it accepts */
  const char *redis_keys;  /* more keys of [redis] (nullable) */
  const char *jobs_keys;   /* keys of [jobs] */
  gboolean daemon;         /* start one daemon with the config (tests that need more start them) */
} JobsSetup;

typedef struct {
  gboolean ready;                    /* FALSE when skipped: the test returns at once */
  char *spool;                       /* owned: the local store's directory, NULL with Redis */
  TestRedis *redis;                  /* owned, NULL with the local store */
  char *config;                      /* owned: the daemons' config */
  LmdTestCallbackReceiver *receiver; /* owned */
  char *callback;                    /* owned: the receiver's URL */
  LmdTestServer *server;             /* owned, nullable: stopped by the tear-down, which expects
                                      * exit status 0 */
} JobsFixture;

#define LOCAL_JOBS_KEYS "callback_backoff_s=1\ncallback_backoff_max_s=2\ncallback_attempts=4\npoll_ms=50\n"

static const JobsSetup local_store = {
  .speech = TRUE, .allow_private = TRUE, .jobs_keys = LOCAL_JOBS_KEYS, .daemon = TRUE,
};
static const JobsSetup local_store_no_speech = {
  .allow_private = TRUE, .jobs_keys = LOCAL_JOBS_KEYS, .daemon = TRUE,
};
static const JobsSetup local_store_public_only = {
  .jobs_keys = LOCAL_JOBS_KEYS, .daemon = TRUE,
};
static const JobsSetup local_store_flaky_receiver = {
  .speech = TRUE, .allow_private = TRUE, .fail_first = 2, .jobs_keys = LOCAL_JOBS_KEYS,
  .daemon = TRUE,
};
static const JobsSetup redis_store = {
  .redis = TRUE, .speech = TRUE, .allow_private = TRUE,
  .jobs_keys = "claim_timeout_s=2\ncallback_backoff_s=1\npoll_ms=50\n",
};
static const JobsSetup redis_store_bounded = {
  .redis = TRUE, .speech = TRUE, .allow_private = TRUE, .redis_keys = "prefix=bounds:\n",
  .jobs_keys = "max_pending=1\nmax_mb=1\npoll_ms=50\n", .daemon = TRUE,
};

/* The runner polls once a minute: the requests of the test are the first to use the store's
 * connection after a restart. */
static const JobsSetup redis_store_quiet = {
  .redis = TRUE, .speech = TRUE, .allow_private = TRUE, .jobs_keys = "poll_ms=60000\n",
  .daemon = TRUE,
};

static void
jobs_fixture_set_up (JobsFixture *f, gconstpointer data)
{
  const JobsSetup *setup = data;
  g_autofree char *store = NULL;

  if (setup->speech && !need_testdata ())
    return;
  if (setup->redis)
    {
      if ((f->redis = redis_start ()) == NULL)
        {
          g_test_skip ("redis-server is not installed");
          return;
        }
      store = g_strdup_printf ("[redis]\nurl=redis://127.0.0.1:%u/0\n%s[jobs]\n", f->redis->port,
                               setup->redis_keys != NULL ? setup->redis_keys : "");
    }
  else
    {
      f->spool = make_spool ();
      store = g_strdup_printf ("[jobs]\ndir=%s\n", f->spool);
    }
  f->config = g_strdup_printf ("[server]\nrole=all\nhost=127.0.0.1\n"
                               "[plugins]\nload=http;gst-decoder;sphinx%s\n"
                               "[limits]\nworkers=1\nallow_private_urls=%s\n"
                               "%s%s",
                               setup->redis ? ";redis-jobs" : "",
                               setup->allow_private ? "true" : "false", store, setup->jobs_keys);
  f->receiver = lmd_test_callback_receiver_start (setup->fail_first);
  f->callback = lmd_test_callback_receiver_url (f->receiver, "/hook");
  if (setup->daemon)
    f->server = start_daemon (f->config);
  f->ready = TRUE;
}

static void
jobs_fixture_tear_down (JobsFixture *f, gconstpointer data)
{
  if (f->server != NULL)
    g_assert_cmpint (lmd_test_server_stop (f->server), ==, 0);
  g_clear_pointer (&f->receiver, lmd_test_callback_receiver_stop);
  if (f->spool != NULL)
    lmd_test_rm_rf (f->spool);
  g_clear_pointer (&f->redis, redis_stop);
  g_free (f->spool);
  g_free (f->config);
  g_free (f->callback);
}

/* ---- embedded default -------------------------------------------------------------------- */

static void
test_embedded_callback (JobsFixture *f, gconstpointer data)
{
  g_autofree char *text = NULL;
  g_autofree char *job_id = NULL;
  g_autofree char *delivered = NULL;
  g_autofree char *fetched = NULL;
  g_autofree char *log = NULL;
  guint status;

  if (!f->ready)
    return;
  text = sync_text (f->server);
  g_assert_cmpstr (text, !=, "");
  job_id = submit (f->server, speech, f->callback);
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  delivered = the_delivery_of (f->receiver, job_id);
  assert_completed (delivered, job_id, text);
  /* GET /v1/jobs/{id} answers the same document */
  fetched = get_job (f->server, job_id, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (fetched, ==, delivered);
  log = lmd_test_server_read_log (f->server);
  g_assert_nonnull (strstr (log, "callback of job"));
}

static void
test_embedded_errors (JobsFixture *f, gconstpointer data)
{
  static const struct {
    const char *callback;
  } refused[] = { { "ftp://example.com/hook" }, { "not a url" }, { "http://127.0.0.1:9/hook" },
                  { "http://10.1.2.3/hook" }, { "http://localhost/hook" },
                  /* numeric and trailing-dot forms of loopback, read as the resolver reads them */
                  { "http://127.1/hook" }, { "http://2130706433/hook" }, { "http://0x7f.1/hook" },
                  { "http://localhost./hook" }, { "http://[::ffff:127.0.0.1]/hook" } };
  g_autofree char *unknown = NULL;
  guint status;

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *escaped = g_uri_escape_string (refused[i].callback, NULL, FALSE);
      g_autofree char *path = g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
      g_autofree char *url = lmd_test_server_url (f->server, path);
      g_autoptr (GBytes) body = g_bytes_new_static ("RIFF", 4);
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", body,
                                                     "X-Request-ID", "bad-callback-1", NULL);
      JsonObject *o;

      g_assert_cmpuint (r->status, ==, 400);
      o = lmd_test_response_json (r);
      g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "INVALID_PARAMETER");
      g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, "callback_url");
    }
  /* unknown and malformed ids */
  unknown = get_job (f->server, "job_0123456789abcdef0123456789abcdef", &status);
  g_assert_cmpuint (status, ==, 404);
  g_assert_cmpstr (json_object_get_string_member (parse_object (unknown), "code"), ==, "NOT_FOUND");
  {
    g_autofree char *odd = get_job (f->server, "job_..%2E%2E%2Fdone", &status);
    g_assert_cmpuint (status, >=, 400); /* never a file outside the spool */
    g_free (g_steal_pointer (&odd));
    odd = get_job (f->server, "JOB_0123456789ABCDEF0123456789ABCDEF", &status);
    g_assert_cmpuint (status, ==, 404);
  }
  {
    g_autofree char *log = lmd_test_server_read_log (f->server);
    g_assert_nonnull (strstr (log, "[bad-callback-1]"));
    g_assert_nonnull (strstr (log, "callback_url"));
  }
}

/* Audio the decoder cannot read: the job fails, and the callback says so with the code. */
static void
test_embedded_failed_job (JobsFixture *f, gconstpointer data)
{
  g_autoptr (GBytes) garbage = g_bytes_new_static ("this is not audio at all, not even close", 40);
  g_autofree char *job_id = submit (f->server, garbage, f->callback);
  g_autofree char *delivered = NULL;
  JsonObject *o;
  const char *code;

  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  delivered = the_delivery_of (f->receiver, job_id);
  o = parse_object (delivered);
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "failed");
  code = json_object_get_string_member (o, "code");
  g_assert_true (g_str_equal (code, "UNSUPPORTED_FORMAT") || g_str_equal (code, "UNPROCESSABLE_AUDIO"));
  g_assert_true (strlen (json_object_get_string_member (o, "error")) > 0);
  g_assert_false (json_object_has_member (o, "result"));
}

/* The receiver fails the first two posts: the third delivers, with the same document. */
static void
test_embedded_retries (JobsFixture *f, gconstpointer data)
{
  g_autofree char *job_id = NULL;
  g_autofree char *delivered = NULL;
  g_autofree char *text = NULL;
  g_autofree char *log = NULL;

  if (!f->ready)
    return;
  text = sync_text (f->server);
  job_id = submit (f->server, speech, f->callback);
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  g_assert_cmpuint (lmd_test_callback_receiver_get_requests (f->receiver), ==, 3);
  delivered = the_delivery_of (f->receiver, job_id);
  assert_completed (delivered, job_id, text);
  g_assert_true (wait_log (f->server, "delivered (attempt 3", 10));
  log = lmd_test_server_read_log (f->server);
  g_assert_nonnull (strstr (log, "answered HTTP 500 (attempt 1)"));
}

/* JSON {"url", "callback_url", "timestamps"}: the audio is fetched when the job runs. */
static void
test_embedded_json_url (JobsFixture *f, gconstpointer data)
{
  LmdTestFileServer *files = lmd_test_file_server_start ();
  g_autofree char *audio_url = lmd_test_file_server_url (files, "/speech.wav");
  g_autofree char *json = g_strdup_printf ("{\"url\":\"%s\",\"callback_url\":\"%s\",\"timestamps\":true}",
                                           audio_url, f->callback);
  g_autoptr (GBytes) body = g_bytes_new (json, strlen (json));
  g_autoptr (LmdTestResponse) r = NULL;
  g_autofree char *url = NULL;
  g_autofree char *text = NULL;
  g_autofree char *delivered = NULL;
  const char *job_id;
  JsonObject *result;

  if (!f->ready)
    {
      lmd_test_file_server_stop (files);
      return;
    }
  lmd_test_file_server_add (files, "/speech.wav", speech);
  text = sync_text (f->server);
  url = lmd_test_server_url (f->server, "/v1/listen");
  r = lmd_test_http (session, "POST", url, "application/json", body, NULL);
  g_assert_cmpuint (r->status, ==, 202);
  job_id = json_object_get_string_member (lmd_test_response_json (r), "job_id");
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  delivered = the_delivery_of (f->receiver, job_id);
  assert_completed (delivered, job_id, text);
  result = json_object_get_object_member (parse_object (delivered), "result");
  g_assert_true (json_object_has_member (result, "words"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (result, "words")), >, 0);
  g_assert_cmpuint (lmd_test_file_server_get_hits (files, "/speech.wav"), ==, 1);
  lmd_test_file_server_stop (files);
}

/* ---- local spool survives kill -9 ---------------------------------------------------------- */

static void
test_local_kill (JobsFixture *f, gconstpointer data)
{
  g_autofree char *text = NULL;
  g_autofree char *running = NULL;
  g_autofree char *waiting = NULL;
  g_autofree char *took = NULL;
  guint status;

  if (!f->ready)
    return;
  text = sync_text (f->server);
  /* one worker: the first job runs, the second waits */
  running = submit (f->server, speech, f->callback);
  waiting = submit (f->server, speech, f->callback);
  took = g_strdup_printf ("took job %s", running);
  g_assert_true (wait_log (f->server, took, WAIT_S));
  kill_daemon (f->server);
  lmd_test_server_stop (f->server);
  g_assert_cmpuint (lmd_test_callback_receiver_get_delivered (f->receiver), ==, 0);

  f->server = start_daemon (f->config);
  {
    g_autofree char *pending = get_job (f->server, waiting, &status);
    g_assert_cmpuint (status, ==, 200); /* still known after the restart */
  }
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 2, WAIT_S), ==, 2);
  {
    g_autofree char *a = the_delivery_of (f->receiver, running);
    g_autofree char *b = the_delivery_of (f->receiver, waiting);
    g_autofree char *fetched = get_job (f->server, running, &status);
    assert_completed (a, running, text);
    assert_completed (b, waiting, text);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (fetched, ==, a);
  }
  /* exactly once: a stop and a restart deliver nothing more */
  g_assert_cmpint (lmd_test_server_stop (f->server), ==, 0);
  f->server = start_daemon (f->config);
  g_usleep (G_USEC_PER_SEC);
  g_assert_cmpuint (lmd_test_callback_receiver_get_delivered (f->receiver), ==, 2);
  {
    g_autofree char *fetched = get_job (f->server, waiting, &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (json_object_get_string_member (parse_object (fetched), "status"), ==, "completed");
  }
}

/* The process running a job dies: the other reclaims the job after claim_timeout_s. */
static void
test_redis_kill_worker (JobsFixture *f, gconstpointer data)
{
  LmdTestServer *a, *b, *survivor;
  g_autofree char *text = NULL;
  g_autofree char *job_id = NULL;
  g_autofree char *took = NULL;
  g_autofree char *delivered = NULL;
  g_autofree char *fetched = NULL;
  guint status;

  if (!f->ready)
    return;
  a = start_daemon (f->config);
  b = start_daemon (f->config);
  text = sync_text (a);
  job_id = submit (a, speech, f->callback);
  took = g_strdup_printf ("took job %s", job_id);
  {
    gint64 deadline = g_get_monotonic_time () + WAIT_S * G_USEC_PER_SEC;
    LmdTestServer *runner = NULL;
    while (runner == NULL && g_get_monotonic_time () < deadline)
      {
        if (wait_log (a, took, 0))
          runner = a;
        else if (wait_log (b, took, 0))
          runner = b;
        else
          g_usleep (10000);
      }
    g_assert_nonnull (runner);
    kill_daemon (runner);
    survivor = runner == a ? b : a;
    lmd_test_server_stop (runner);
  }
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  delivered = the_delivery_of (f->receiver, job_id);
  assert_completed (delivered, job_id, text);
  g_assert_true (wait_log (survivor, "reclaimed job", 5));
  fetched = get_job (survivor, job_id, &status);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (fetched, ==, delivered);
  /* exactly once: nothing more after another claim timeout */
  g_usleep (3 * G_USEC_PER_SEC);
  g_assert_cmpuint (lmd_test_callback_receiver_get_delivered (f->receiver), ==, 1);
  g_assert_cmpint (lmd_test_server_stop (survivor), ==, 0);
}

/* The process that accepted a job dies right after its 202: another finishes the job, and
 * GET /v1/jobs/{id} works from any process, a restarted one included. */
static void
test_redis_kill_api (JobsFixture *f, gconstpointer data)
{
  LmdTestServer *a, *b;
  g_autofree char *text = NULL;
  g_autofree char *job_id = NULL;
  g_autofree char *delivered = NULL;
  guint status;

  if (!f->ready)
    return;
  b = start_daemon (f->config);
  text = sync_text (b);
  a = start_daemon (f->config);
  job_id = submit (a, speech, f->callback);
  kill_daemon (a);
  lmd_test_server_stop (a);
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  delivered = the_delivery_of (f->receiver, job_id);
  assert_completed (delivered, job_id, text);
  {
    g_autofree char *fetched = get_job (b, job_id, &status);
    g_assert_cmpuint (status, ==, 200);
    g_assert_cmpstr (fetched, ==, delivered);
  }
  /* a new process knows the job too */
  a = start_daemon (f->config);
  {
    g_autofree char *fetched = get_job (a, job_id, &status);
    g_autofree char *unknown = get_job (a, "job_0123456789abcdef0123456789abcdef", &status);
    g_assert_cmpstr (fetched, ==, delivered);
    g_assert_cmpuint (status, ==, 404);
  }
  g_usleep (3 * G_USEC_PER_SEC);
  g_assert_cmpuint (lmd_test_callback_receiver_get_delivered (f->receiver), ==, 1);
  g_assert_cmpint (lmd_test_server_stop (a), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (b), ==, 0);
}

/* redis-server restarts (SIGKILL, then a new one on the same port, without the old data):
 * the store's connection to the old one is closed, and the next request uses a new one. */
static void
test_redis_restart (JobsFixture *f, gconstpointer data)
{
  const char *unknown_id = "job_0123456789abcdef0123456789abcdef";
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *again = NULL;
  guint status = 0;

  if (!f->ready)
    return;
  before = get_job (f->server, unknown_id, &status);
  g_assert_cmpuint (status, ==, 404); /* the connection is open now */
  lmd_test_redis_stop (f->redis->process);
  f->redis->process = lmd_test_redis_start (f->redis->port, f->redis->dir);
  g_assert_nonnull (f->redis->process);
  after = get_job (f->server, unknown_id, &status);
  g_test_message ("GET after the restart: %u %s", status, after);
  g_assert_cmpuint (status, ==, 404);
  g_assert_cmpstr (json_object_get_string_member (parse_object (after), "code"), ==, "NOT_FOUND");
  again = submit (f->server, speech, f->callback);
  g_assert_true (g_str_has_prefix (again, "job_"));
  g_assert_true (wait_log (f->server, "closed the connection; connecting again", 0));
}

/* Bounds: max_pending jobs in the stream, then 503; a body over max_mb alone is 413. */
static void
test_redis_bounds (JobsFixture *f, gconstpointer data)
{
  g_autofree char *first = NULL;
  g_autofree char *escaped = NULL;
  g_autofree char *path = NULL;
  g_autofree char *url = NULL;

  if (!f->ready)
    return;
  escaped = g_uri_escape_string (f->callback, NULL, FALSE);
  path = g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
  url = lmd_test_server_url (f->server, path);
  {
    g_autoptr (GBytes) big = g_bytes_new_take (g_malloc0 (1536 * 1024), 1536 * 1024);
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", big, NULL);
    g_assert_cmpuint (r->status, ==, 413);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, "FILE_TOO_LARGE");
  }
  first = submit (f->server, speech, f->callback);
  {
    /* the first job is pending until its callback is delivered */
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", speech, NULL);
    g_assert_cmpuint (r->status, ==, 503);
    g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, "SERVICE_UNAVAILABLE");
  }
  g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 1, WAIT_S), ==, 1);
  g_free (the_delivery_of (f->receiver, first));
  g_assert_true (wait_log (f->server, "delivered", 10));
  g_usleep (G_USEC_PER_SEC / 2); /* the release follows the delivery */
  {
    g_autofree char *second = submit (f->server, speech, f->callback);
    g_assert_cmpuint (lmd_test_callback_receiver_wait (f->receiver, 2, WAIT_S), ==, 2);
  }
}

/* ---- the default spool directory -------------------------------------------------------- */

#define DEFAULT_LIKE_CONFIG \
  "[server]\nhost=127.0.0.1\n[plugins]\nload=http;gst-decoder;sphinx\n" \
  "[limits]\nworkers=1\nallow_private_urls=true\n"

/* A port that is free now (bound and released at once). */
static guint
free_port (void)
{
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (socket);
  g_socket_bind (socket, any, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Two servers started on one machine with the default configuration, each on its own port,
 * both take asynchronous jobs (the default spool is per port); a spool directory configured
 * explicitly that another process uses stops start-up with a message naming it. */
static void
test_default_spool_per_port (void)
{
  g_autoptr (GError) error = NULL;
  const char *state = state_home;
  /* the default configuration's plugins, no [jobs] dir */
  const char *config = DEFAULT_LIKE_CONFIG;
  g_autofree char *port_a = NULL, *port_b = NULL;
  g_autofree char *dir_a = NULL, *dir_b = NULL;
  g_autofree char *log_a = NULL, *log_b = NULL;
  g_autofree char *explicit = NULL, *output = NULL;
  g_autofree char *config_path = NULL;
  LmdTestServer *a, *b;
  int status;

  if (!need_testdata ())
    return;
  port_a = g_strdup_printf ("--port=%u", free_port ());
  port_b = g_strdup_printf ("--port=%u", free_port ());
  {
    const char *args_a[] = { port_a, NULL }, *args_b[] = { port_b, NULL };
    a = lmd_test_server_start (config, args_a, &error);
    g_assert_no_error (error);
    b = lmd_test_server_start (config, args_b, &error);
    g_assert_no_error (error);
  }
  /* the callback goes nowhere (a closed loopback port): only the 202 matters here */
  g_free (submit (a, speech, "http://127.0.0.1:9/cb"));
  g_free (submit (b, speech, "http://127.0.0.1:9/cb"));
  log_a = lmd_test_server_read_log (a);
  log_b = lmd_test_server_read_log (b);
  g_assert_null (strstr (log_a, "disabled"));
  g_assert_null (strstr (log_b, "disabled"));
  dir_a = g_strdup_printf ("%s/lightning-mediad/jobs-%s/lock", state, port_a + strlen ("--port="));
  dir_b = g_strdup_printf ("%s/lightning-mediad/jobs-%s/lock", state, port_b + strlen ("--port="));
  g_assert_true (g_file_test (dir_a, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (dir_b, G_FILE_TEST_EXISTS));

  /* the same directory configured explicitly while a runs: start-up stops and names it */
  explicit = g_path_get_dirname (dir_a);
  config_path = g_build_filename (state, "explicit.conf", NULL);
  {
    g_autofree char *text = g_strdup_printf ("%s[jobs]\ndir=%s\n", DEFAULT_LIKE_CONFIG, explicit);
    const char *argv[] = { "--config", config_path, "--port=0", NULL };

    g_file_set_contents (config_path, text, -1, &error);
    g_assert_no_error (error);
    status = lmd_test_daemon_run (argv, &output, 60);
  }
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (output, explicit));
  g_assert_nonnull (strstr (output, "in use"));

  g_assert_cmpint (lmd_test_server_stop (a), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (b), ==, 0);
}

/* A server on an ephemeral port keeps its jobs in a private temporary spool, removed when it
 * stops. */
static void
test_ephemeral_spool (void)
{
  g_autoptr (GError) error = NULL;
  LmdTestServer *server;
  g_autofree char *log = NULL;
  g_autofree char *dir = NULL;
  const char *start, *end;

  if (!need_testdata ())
    return;
  server = lmd_test_server_start (DEFAULT_LIKE_CONFIG, NULL, &error);
  g_assert_no_error (error);
  g_free (submit (server, speech, "http://127.0.0.1:9/cb"));
  log = lmd_test_server_read_log (server);
  start = strstr (log, "lightning-mediad-jobs-");
  g_assert_nonnull (start);
  while (start > log && start[-1] != ' ')
    start--;
  end = start + strcspn (start, " \n)");
  dir = g_strndup (start, end - start);
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  /* the daemons' default job spools land in a directory of this run, not in $HOME (set
   * before any thread exists; inherited by every daemon) */
  state_home = g_dir_make_tmp ("lmd-test-state-XXXXXX", NULL);
  g_assert_nonnull (state_home);
  g_setenv ("XDG_STATE_HOME", state_home, TRUE);
  if (lmd_test_librivox_dir () != NULL)
    {
      g_auto (GStrv) ids = lmd_test_librivox_ids ();

      speech = lmd_test_librivox_file (ids[0]);
    }
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (300), NULL);

#define ADD(path, setup, test) \
  g_test_add (path, JobsFixture, &setup, jobs_fixture_set_up, test, jobs_fixture_tear_down)
  ADD ("/jobs/embedded/callback", local_store, test_embedded_callback);
  ADD ("/jobs/embedded/errors", local_store_public_only, test_embedded_errors);
  ADD ("/jobs/embedded/failed-job", local_store_no_speech, test_embedded_failed_job);
  ADD ("/jobs/embedded/retries", local_store_flaky_receiver, test_embedded_retries);
  ADD ("/jobs/embedded/json-url", local_store, test_embedded_json_url);
  ADD ("/jobs/local/kill", local_store, test_local_kill);
  ADD ("/jobs/redis/kill-worker", redis_store, test_redis_kill_worker);
  ADD ("/jobs/redis/kill-api", redis_store, test_redis_kill_api);
  ADD ("/jobs/redis/bounds", redis_store_bounded, test_redis_bounds);
  ADD ("/jobs/redis/restart", redis_store_quiet, test_redis_restart);
#undef ADD
  g_test_add_func ("/jobs/local/default-spool-per-port", test_default_spool_per_port);
  g_test_add_func ("/jobs/local/ephemeral-spool", test_ephemeral_spool);
  status = g_test_run ();
  g_object_unref (session);
  g_clear_pointer (&speech, g_bytes_unref);
  lmd_test_rm_rf (state_home);
  g_free (state_home);
  return status;
}
