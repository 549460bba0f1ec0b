/* SPDX-License-Identifier: MIT */
/*
 * test-api-late-admission.c — an api process whose admission of a request comes back after the
 * request has already been answered and its exchange has ended.
 *
 * On the api the admission runs while the body streams into the spool; a chunked body that
 * passes [limits] max_body_mb is refused 413 at once, and libsoup sends that answer once it
 * has read (and dropped) the rest of the body, whether or not the admission has come back.
 * When the admission comes back later, the request is over: the admission must be given back
 * at once, with no second answer and no unpause of the ended message (libsoup's critical
 * "soup_server_message_unpause: assertion 'msg->io_data != NULL'" aborted the api under
 * G_DEBUG=fatal-criticals), and the api must keep serving.
 *
 * The moment is held deterministically with real parts: the api counts its per-key limits in a
 * real redis-server (plugin redis-limits), and that redis-server is stopped (SIGSTOP) while the
 * request is sent, so its admission waits until the test lets Redis run again (SIGCONT), after
 * the client has its 413.  One api (role api, license with concurrency 1 per key), one asr
 * worker, real HTTP clients; everything on 127.0.0.1.
 *
 * Covers: the client gets 413 FILE_TOO_LARGE while the admission waits; after SIGCONT the
 * admission is granted in Redis and released again at once (the key's concurrency slot is
 * free: the set of its tickets is empty, and its next request is admitted and reaches the
 * worker, 415 for a body that is no audio, not 429); the api logged one answer for the
 * request, its log line about the late admission carries the request id, and /health
 * answers.
 */
#include <glib/gstdio.h>
#include <hiredis/hiredis.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-fixtures.h"
#include "lmd-test-license-support.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"

#define KEY "late-admission-key-0123456789"
#define REQUEST_ID "late-admission-1"
#define MAX_BODY_MB 1

static char *dir;
static GSubprocess *redis;
static guint redis_port;
static redisContext *inspect;
static LmdTestServer *api;
static LmdTestServer *worker;

/* ---- helpers ------------------------------------------------------------------------------ */

static pid_t
redis_pid (void)
{
  const char *id = g_subprocess_get_identifier (redis);

  g_assert_nonnull (id);
  return (pid_t) g_ascii_strtoll (id, NULL, 10);
}

static char *
key_hash8 (void)
{
  g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY, -1);

  return g_strndup (h, 8);
}

/* The number of members of the Redis key "lmd:limits:@kind:lic_late/api:HASH" (a sorted set:
 * the concurrency tickets held), or whether it exists at all (@kind "rate": the key's token
 * bucket, written by each admission granted). */
static gint64
redis_count (const char *kind)
{
  g_autofree char *hash = key_hash8 ();
  redisReply *r;
  gint64 n;

  if (g_str_equal (kind, "rate"))
    r = redisCommand (inspect, "EXISTS lmd:limits:rate:lic_late/api:%s", hash);
  else
    r = redisCommand (inspect, "ZCARD lmd:limits:active:lic_late/api:%s", hash);
  g_assert_true (r != NULL && r->type == REDIS_REPLY_INTEGER);
  n = r->integer;
  freeReplyObject (r);
  return n;
}

static gboolean
wait_redis_count (const char *kind, gint64 want, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) lmd_test_timeout_s (timeout_s) * G_USEC_PER_SEC;

  while (redis_count (kind) != want)
    {
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_usleep (20000);
    }
  return TRUE;
}

/* The api answers /health and has the worker in its registry (read from Redis). */
static gboolean
api_ready (SoupSession *session)
{
  g_autofree char *url = lmd_test_server_url (api, "/health?detailed=true");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  JsonObject *o;

  if (r->error != NULL || r->status != 200)
    return FALSE;
  o = lmd_test_response_json (r);
  return json_object_has_member (o, "workers") && json_object_get_int_member (o, "workers") >= 1;
}

static guint
count_lines (const char *log, const char *id, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  g_autofree char *tag = g_strdup_printf ("[%s] ", id);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], tag) != NULL && strstr (lines[i], text) != NULL)
      n++;
  return n;
}

static void
assert_status (LmdTestResponse *r, guint status, const char *code)
{
  g_assert_no_error (r->error);
  if (r->status != status)
    g_error ("expected %u %s, got %u: %.*s", status, code, r->status, (int) g_bytes_get_size (r->body),
             (const char *) g_bytes_get_data (r->body, NULL));
  g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, code);
}

/* ---- the test ----------------------------------------------------------------------------- */

static void
test_admitted_after_answer (void)
{
  /* the 413's connection stays open (kept alive by this session) until the end, so that the
   * ended message is not dropped before its admission comes back */
  g_autoptr (SoupSession) first = soup_session_new_with_options ("timeout", lmd_test_timeout_s (60), NULL);
  g_autoptr (SoupSession) other = soup_session_new_with_options ("timeout", lmd_test_timeout_s (60), NULL);
  g_autofree char *url = lmd_test_server_url (api, "/v1/listen");
  g_autofree char *auth = g_strdup_printf ("Token %s", KEY);
  g_autofree char *log = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) body = NULL;
  g_autoptr (GBytes) answer = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GBytes) garbage = g_bytes_new_static ("this is not audio in any format", 31);
  gsize size = (MAX_BODY_MB + 1) * 1024 * 1024;
  gint64 deadline;

  if (api == NULL)
    return;
  deadline = g_get_monotonic_time () + (gint64) lmd_test_timeout_s (20) * G_USEC_PER_SEC;
  while (!api_ready (other))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (100000);
    }

  /* Redis stopped: the admission of the next request waits for it */
  g_assert_cmpint (kill (redis_pid (), SIGSTOP), ==, 0);
  msg = soup_message_new ("POST", url);
  body = g_memory_input_stream_new_from_data (g_malloc0 (size), (gssize) size, g_free);
  soup_message_set_request_body (msg, "audio/wav", body, -1); /* chunked */
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", REQUEST_ID);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", auth);
  answer = soup_session_send_and_read (first, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 413);
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (answer, NULL),
                                             (gssize) g_bytes_get_size (answer), NULL));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "code"),
                   ==, "FILE_TOO_LARGE");
  g_assert_cmpint (kill (redis_pid (), SIGCONT), ==, 0);

  /* the admission comes back now, after the answer: granted in Redis, then given back */
  if (!wait_redis_count ("rate", 1, 20))
    g_error ("the admission of the refused request never reached Redis; the api's log:\n%s",
             lmd_test_server_read_log (api));
  if (!wait_redis_count ("active", 0, 10))
    g_error ("the concurrency slot of the request answered before its admission was not given "
             "back (%" G_GINT64_FORMAT " held); the api's log:\n%s",
             redis_count ("active"), lmd_test_server_read_log (api));

  /* one answer, logged once; the late admission logged with the request id */
  log = lmd_test_server_read_log (api);
  g_assert_cmpuint (count_lines (log, REQUEST_ID, "→ 413 FILE_TOO_LARGE"), ==, 1);
  g_assert_cmpuint (count_lines (log, REQUEST_ID, "admitted after its answer"), ==, 1);
  g_assert_null (strstr (log, "CRITICAL"));

  /* the api still serves, and the key's slot is free: its next request reaches the worker */
  {
    g_autofree char *health_url = lmd_test_server_url (api, "/health");
    g_autoptr (LmdTestResponse) health = lmd_test_http (other, "GET", health_url, NULL, NULL, NULL);
    g_autoptr (LmdTestResponse) next = lmd_test_http (other, "POST", url, "audio/wav", garbage,
                                                      "Authorization", auth, NULL);

    g_assert_no_error (health->error);
    g_assert_cmpuint (health->status, ==, 200);
    assert_status (next, 415, "UNSUPPORTED_FORMAT");
  }
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  const char *features[] = { "batch", "streaming", NULL };
  int status;

  g_test_init (&argc, &argv, NULL);
  redis_port = lmd_test_free_port ();
  redis = lmd_test_redis_start (redis_port, NULL);
  if (redis == NULL)
    {
      g_test_skip ("redis-server is not installed");
      return g_test_run ();
    }
  inspect = redisConnect ("127.0.0.1", (int) redis_port);
  g_assert_true (inspect != NULL && inspect->err == 0);
  dir = g_dir_make_tmp ("lmd-late-admission-XXXXXX", &error);
  g_assert_no_error (error);
  {
    g_autoptr (LmdLicenseSigningKey) vendor = lmd_license_signing_key_generate ();
    g_autofree char *pub = lmd_test_write_public_key (vendor, dir);
    /* 60 requests a minute and 1 at a time per key */
    g_autofree char *license_key = lmd_test_issue_key (vendor, "lic_late", 0, 30 * 86400, 60, 1, 0, features);
    g_autofree char *state = g_build_filename (dir, "state", NULL);
    g_autofree char *key_sha = g_compute_checksum_for_string (G_CHECKSUM_SHA256, KEY, -1);
    g_autofree char *api_config = NULL;
    const char *worker_args[] = { "--role=asr", "--workers=1", "--plugins=http;gst-decoder;sphinx;redis", NULL };
    const char *api_args[] = { "--role=api", NULL };
    g_autofree char *worker_config = g_strdup_printf ("[redis]\nurl=redis://127.0.0.1:%u/0\n"
                                                      "[server]\nheartbeat_interval_ms=300\n",
                                                      redis_port);

    /* the worker publishes itself in Redis, where the api finds it */
    worker = lmd_test_server_start (worker_config, worker_args, &error);
    g_assert_no_error (error);
    /* the admission waits for Redis for up to a minute: far longer than the refusal takes */
    api_config = g_strdup_printf ("[limits]\nmax_body_mb=%u\n"
                                  "[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\napi_keys_sha256=%s\n"
                                  "[redis]\nurl=redis://127.0.0.1:%u/0\nlimits_timeout_ms=60000\n"
                                  "refresh_ms=200\n",
                                  MAX_BODY_MB, license_key, pub, state, key_sha, redis_port);
    api = lmd_test_server_start (api_config, api_args, &error);
    g_assert_no_error (error);
  }

  g_test_add_func ("/api-late-admission/admitted-after-answer", test_admitted_after_answer);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (api), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (worker), ==, 0);
  redisFree (inspect);
  lmd_test_redis_stop (redis);
  lmd_test_rm_rf (dir);
  g_free (dir);
  return status;
}
