/* SPDX-License-Identifier: MIT */
/*
 * test-fault-matrix.c — the cells of the fault matrix of docs/reliability.md that no other
 * test covers, on one deployment: a redis-server on a free loopback port, two asr workers
 * (sphinx, worker registry and job store in Redis) and one api (registry and job store in
 * Redis, the in-process license in development mode), with a callback receiver for jobs.
 *
 *   /faults/asr-stop-batch   SIGSTOP of a worker during batch requests: each is answered,
 *                            200 or 504 TIMEOUT after [api] worker_timeout_s (120 s); new requests go
 *                            to the other worker; SIGCONT and it serves again
 *   /faults/asr-stop-stream  SIGSTOP of the worker of a relayed stream: the client gets an
 *                            error message and a close within worker_timeout_s, not silence
 *   /faults/redis-stop       SIGSTOP of Redis during batch requests and a stream: every one
 *                            succeeds, /health answers throughout
 *   /faults/redis-stop-jobs  SIGSTOP of Redis with jobs pending: a new job is refused 503
 *                            SERVICE_UNAVAILABLE within 40 s (not left hanging, and before the
 *                            api's worker_timeout_s could answer 504); once Redis runs again every
 *                            accepted job is delivered, once
 *   /faults/asr-stop-job     SIGSTOP of the worker running a job (20 s of speech) past
 *                            claim_timeout_s: the other worker takes the job over and delivers
 *                            it; after SIGCONT the stopped one finds its claim fenced, drops its
 *                            result and posts nothing: one delivery
 *   /faults/api-kill-stream  kill -9 of the api during a relayed stream: the worker's stream
 *                            ends (its decoder is freed), a new api serves at once
 *   /faults/api-stop-batch   SIGSTOP of the api with batch requests (20 s of speech each) in
 *                            flight: nothing is answered while it is stopped; after SIGCONT
 *                            every request is answered 200
 *   /faults/api-kill-batch   kill -9 of the api with batch requests in flight: those not yet
 *                            answered see their connection end (no HTTP answer), the others
 *                            keep their 200; a restarted api serves at once
 *   /faults/api-stop-stream  SIGSTOP of the api during a relayed stream (4 s): after SIGCONT the
 *                            audio sent meanwhile is relayed and the stream ends normally
 *                            (close 1000, the recording transcribed)
 *   /faults/api-stop-job     SIGSTOP of the api with jobs accepted: the workers deliver them
 *                            meanwhile; a submission sent meanwhile is accepted after SIGCONT;
 *                            each delivered once and found through the api
 *   /faults/api-kill-job     kill -9 of the api with a job accepted and two being submitted:
 *                            every job answered 202 is delivered once and found through a
 *                            restarted api; an unanswered submission is delivered at most once
 *
 * The cells covered elsewhere (kill -9 of a worker, of Redis, of the license role, of a job's
 * process) are listed in docs/reliability.md with their tests.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-batch.h"
#include "lmd-test-callback-receiver.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"
#include "lmd-test-wav.h"

/* [api] worker_timeout_s: long enough for a busy worker on a loaded machine (instrumented
 * builds are several times slower); far above the 10 s in which a worker's job store refuses
 * a job while Redis is stopped (/faults/redis-stop-jobs), so that answer is the store's 503 */
static guint worker_timeout_s = 120;
#define WORKER_TIMEOUT_S worker_timeout_s

static SoupSession *session;
static GSubprocess *redis;
static guint redis_port;
static LmdTestServer *api;
static LmdTestServer *workers[2];
static LmdTestCallbackReceiver *receiver;
static char *callback;
static GBytes *short_wav;      /* 2.5 s of speech, WAV */
static GBytes *long_wav;       /* 20 s of speech, WAV */
static GBytes *stream_pcm;     /* one recording as linear16 */

/* ---- set-up --------------------------------------------------------------------------- */

static char *
config (const char *extra)
{
  return g_strdup_printf ("[redis]\nurl=redis://127.0.0.1:%u/5\nworker_ttl_s=2\nrefresh_ms=200\n"
                          "reconnect_max_ms=500\n[server]\nheartbeat_interval_ms=300\n"
                          "[limits]\nallow_private_urls=true\n"
                          "[jobs]\nclaim_timeout_s=3\npoll_ms=50\ncallback_backoff_s=1\n"
                          "[api]\nworker_timeout_s=%u\nfailure_quarantine_ms=3000\n%s",
                          redis_port, WORKER_TIMEOUT_S, extra != NULL ? extra : "");
}

static LmdTestServer *
start_worker (void)
{
  g_autofree char *text = config (NULL);
  const char *args[] = { "--role=asr", "--workers=1", "--plugins=http;gst-decoder;sphinx;redis;redis-jobs", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *srv = lmd_test_server_start (text, args, &error);

  g_assert_no_error (error);
  return srv;
}

static LmdTestServer *
start_api (void)
{
  g_autofree char *text = config (NULL);
  const char *args[] = { "--role=api", "--plugins=http;license;redis;redis-jobs", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *srv = lmd_test_server_start (text, args, &error);

  g_assert_no_error (error);
  return srv;
}

static char *
get_text (LmdTestServer *srv, const char *path, guint *status)
{
  g_autofree char *url = lmd_test_server_url (srv, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  *status = r->status;
  return r->body != NULL ? g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body)) : g_strdup ("");
}

/* Waits until the api lists @n workers; FALSE after @timeout_s. */
static gboolean
wait_for_workers (guint n, double timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  g_autofree char *want = g_strdup_printf ("\"workers\":%u", n);

  while (g_get_monotonic_time () < deadline)
    {
      guint status = 0;
      g_autofree char *health = get_text (api, "/health?detailed=true", &status);
      if (strstr (health, want) != NULL)
        return TRUE;
      g_usleep (100000);
    }
  return FALSE;
}

static double
metric_value (const char *text, const char *name)
{
  g_autofree char *needle = g_strdup_printf ("\n%s ", name);
  const char *at = strstr (text, needle);

  return at != NULL ? g_ascii_strtod (at + strlen (needle), NULL) : 0;
}

static double
worker_metric (guint w, const char *name)
{
  guint status = 0;
  g_autofree char *text = get_text (workers[w], "/metrics", &status);

  return metric_value (text, name);
}

static gboolean
need_setup (void)
{
  if (api == NULL)
    g_test_skip ("redis-server or pocketsphinx-testdata is not installed");
  return api != NULL;
}

static void
spin (guint ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (2000), TRUE);
}

/* ---- concurrent batch requests ------------------------------------------------------------ */

static void
batch_send_to (LmdTestBatch *batch, LmdTestServer *srv, const char *path, guint n, GBytes *wav)
{
  g_autofree char *url = lmd_test_server_url (srv, path);

  lmd_test_batch_post (batch, url, "audio/wav", wav, n);
}

static void
batch_send_wav (LmdTestBatch *batch, LmdTestServer *srv, guint n, GBytes *wav)
{
  batch_send_to (batch, srv, "/v1/listen", n, wav);
}

static void
batch_send (LmdTestBatch *batch, LmdTestServer *srv, guint n)
{
  batch_send_wav (batch, srv, n, short_wav);
}

/* ---- cells -------------------------------------------------------------------------------- */

/* The worker with the most requests in flight is stopped. */
static void
test_asr_stop_batch (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  g_autoptr (LmdTestBatch) after = lmd_test_batch_new (session);
  guint victim, n_200 = 0, n_504 = 0;
  gint64 stopped_at;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  batch_send (batch, api, 6);
  spin (700);
  victim = worker_metric (0, "asr_active_requests") + worker_metric (0, "asr_batch_queue_depth") >=
               worker_metric (1, "asr_active_requests") + worker_metric (1, "asr_batch_queue_depth")
             ? 0 : 1;
  g_test_message ("SIGSTOP worker %u with %u of 6 requests answered", victim, lmd_test_batch_get_done (batch));
  lmd_test_server_signal (workers[victim], SIGSTOP);
  stopped_at = g_get_monotonic_time ();
  lmd_test_batch_wait (batch, 120);
  for (guint i = 0; i < lmd_test_batch_get_sent (batch); i++)
    {
      if (lmd_test_batch_get_status (batch, i) == 200)
        n_200++;
      else if (lmd_test_batch_get_status (batch, i) == 504 &&
               strstr (lmd_test_batch_get_body (batch, i), "\"code\":\"TIMEOUT\"") != NULL)
        n_504++;
    }
  g_test_message ("6 requests: %u answered 200, %u 504 TIMEOUT; the last %.1f s after the stop", n_200, n_504,
                  (g_get_monotonic_time () - stopped_at) / 1e6);
  g_assert_cmpuint (n_200 + n_504, ==, 6);
  /* while it is stopped, new requests go to the other worker */
  g_assert_true (wait_for_workers (1, 10));
  batch_send (after, api, 2);
  lmd_test_batch_wait (after, 120);
  for (guint i = 0; i < lmd_test_batch_get_sent (after); i++)
    g_assert_cmpuint (lmd_test_batch_get_status (after, i), ==, 200);
  lmd_test_server_signal (workers[victim], SIGCONT);
  g_assert_true (wait_for_workers (2, 20));
}

/* Finds the worker holding a stream; G_MAXUINT when none does within 5 s. */
static guint
stream_worker (void)
{
  for (guint tries = 0; tries < 100; tries++)
    {
      for (guint w = 0; w < 2; w++)
        if (worker_metric (w, "asr_active_streams") >= 1)
          return w;
      spin (50);
    }
  return G_MAXUINT;
}

/* A stream through the api, with the first second of the recording sent; @worker: the worker
 * that holds it. */
static LmdTestStream *
open_relayed_stream (guint *worker)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream", lmd_test_server_get_port (api));
  g_autoptr (GError) error = NULL;
  LmdTestStream *s = lmd_test_stream_connect (session, url, &error);

  g_assert_no_error (error);
  lmd_test_stream_send (s, g_bytes_get_data (stream_pcm, NULL), 32000);
  *worker = stream_worker ();
  g_assert_cmpuint (*worker, <, 2);
  return s;
}

static void
test_asr_stop_stream (void)
{
  g_autoptr (LmdTestStream) s = NULL;
  JsonObject *e;
  guint victim;
  gint64 stopped_at;
  double took;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  s = open_relayed_stream (&victim);
  lmd_test_server_signal (workers[victim], SIGSTOP);
  stopped_at = g_get_monotonic_time ();
  /* the client goes on sending audio, as a microphone would */
  for (guint i = 0; i < 4 * WORKER_TIMEOUT_S * 10 && !s->closed; i++)
    {
      lmd_test_stream_send (s, (const guint8 *) g_bytes_get_data (stream_pcm, NULL) + 32000, 3200);
      spin (100);
    }
  took = (g_get_monotonic_time () - stopped_at) / 1e6;
  g_test_message ("stream %s %.1f s after its worker was stopped (code %u)", s->closed ? "closed" : "still open",
                  took, s->close_code);
  lmd_test_server_signal (workers[victim], SIGCONT);
  g_assert_true (s->closed);
  e = lmd_test_stream_find_type (s, "error");
  g_assert_nonnull (e);
  g_assert_cmpstr (json_object_get_string_member (e, "code"), ==, "SERVICE_UNAVAILABLE");
  g_assert_cmpuint (s->close_code, ==, 1011);
  g_assert_cmpfloat (took, <=, 3.0 * WORKER_TIMEOUT_S);
  g_assert_true (wait_for_workers (2, 20));
}

static void
test_redis_stop (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  g_autofree char *url = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestStream) s = NULL;
  GPid redis_pid;
  guint probes = 0, probes_ok = 0;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  redis_pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (redis), NULL, 10);
  url = g_strdup_printf ("ws://127.0.0.1:%u/v1/listen/stream", lmd_test_server_get_port (api));
  s = lmd_test_stream_connect (session, url, &error);
  g_assert_no_error (error);
  g_assert_cmpint (kill (redis_pid, SIGSTOP), ==, 0);
  batch_send (batch, api, 2);
  for (gsize off = 0; off < g_bytes_get_size (stream_pcm); off += 32000)
    lmd_test_stream_send (s, (const guint8 *) g_bytes_get_data (stream_pcm, NULL) + off,
                          MIN (32000, g_bytes_get_size (stream_pcm) - off));
  lmd_test_stream_send_text (s, "{\"type\":\"close_stream\"}");
  /* Redis stays stopped 4 s (two worker TTLs) while the requests run */
  for (guint i = 0; i < 8; i++)
    {
      guint status = 0;
      g_autofree char *health = get_text (api, "/health", &status);
      probes++;
      probes_ok += status == 200;
      spin (500);
    }
  g_assert_cmpint (kill (redis_pid, SIGCONT), ==, 0);
  lmd_test_batch_wait (batch, 120);
  g_assert_true (lmd_test_stream_wait_closed (s, 60));
  g_test_message ("Redis stopped 4 s: %u of %u /health answered 200; stream closed %u", probes_ok, probes,
                  s->close_code);
  for (guint i = 0; i < lmd_test_batch_get_sent (batch); i++)
    g_assert_cmpuint (lmd_test_batch_get_status (batch, i), ==, 200);
  g_assert_cmpuint (probes_ok, ==, probes);
  g_assert_cmpuint (s->close_code, ==, 1000);
  g_assert_cmpuint (s->n_last, ==, 1);
  g_assert_true (wait_for_workers (2, 20));
}

/* POSTs a job to the api: the status, and the job id of a 202 (transfer full, or NULL). */
static guint
submit (GBytes *wav, char **job_id, double *took_s)
{
  g_autofree char *escaped = g_uri_escape_string (callback, NULL, FALSE);
  g_autofree char *path = g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
  g_autofree char *url = lmd_test_server_url (api, path);
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", wav, NULL);

  if (took_s != NULL)
    *took_s = (g_get_monotonic_time () - t0) / 1e6;
  *job_id = NULL;
  if (r->status == 202)
    *job_id = g_strdup (json_object_get_string_member (lmd_test_response_json (r), "job_id"));
  else if (r->body != NULL)
    g_test_message ("job refused: %u %.*s", r->status, (int) g_bytes_get_size (r->body),
                    (const char *) g_bytes_get_data (r->body, NULL));
  return r->status;
}

/* The deliveries of @job_id since delivery @from: how many, all completed with one text. */
static guint
deliveries_of (const char *job_id, guint from)
{
  guint n = 0;
  g_autofree char *text = NULL;

  for (guint i = from; i < lmd_test_callback_receiver_get_delivered (receiver); i++)
    {
      g_autofree char *body = lmd_test_callback_receiver_get_body (receiver, i);
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *o, *result;
      g_assert_true (json_parser_load_from_data (parser, body, -1, NULL));
      o = json_node_get_object (json_parser_get_root (parser));
      if (g_strcmp0 (json_object_get_string_member (o, "job_id"), job_id) != 0)
        continue;
      g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "completed");
      result = json_object_get_object_member (o, "result");
      if (text == NULL)
        text = g_strdup (json_object_get_string_member (result, "text"));
      g_assert_cmpstr (json_object_get_string_member (result, "text"), ==, text);
      n++;
    }
  return n;
}

static void
test_redis_stop_jobs (void)
{
  char *jobs[3] = { NULL };
  g_autofree char *refused = NULL;
  guint from, status;
  double took = 0;
  GPid redis_pid;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  redis_pid = (GPid) g_ascii_strtoll (g_subprocess_get_identifier (redis), NULL, 10);
  from = lmd_test_callback_receiver_get_delivered (receiver);
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    g_assert_cmpuint (submit (short_wav, &jobs[i], NULL), ==, 202);
  g_assert_cmpint (kill (redis_pid, SIGSTOP), ==, 0);
  status = submit (short_wav, &refused, &took);
  g_test_message ("a job submitted while Redis is stopped: %u after %.1f s", status, took);
  g_assert_cmpint (kill (redis_pid, SIGCONT), ==, 0);
  g_assert_cmpuint (status, ==, 503);
  g_assert_null (refused);
  /* a worker's store refuses a submission within 10 s (a connection of its own, so it does
   * not wait behind the job runner's commands; all its steps within that bound), and the api
   * tries the other worker once on a 503: refused within 20 s (40 here, for a loaded
   * machine), long before the api's worker_timeout_s */
  g_assert_cmpfloat (took, <, 40.0);
  lmd_test_callback_receiver_wait (receiver, from + G_N_ELEMENTS (jobs), 90);
  /* claims are renewed every second here: wait a claim timeout for a late duplicate */
  spin (4000);
  for (guint i = 0; i < G_N_ELEMENTS (jobs); i++)
    {
      guint n = deliveries_of (jobs[i], from);
      g_test_message ("job %s delivered %u time(s)", jobs[i], n);
      g_assert_cmpuint (n, ==, 1);
      g_free (jobs[i]);
    }
  g_assert_true (wait_for_workers (2, 20));
}

static void
test_asr_stop_job (void)
{
  g_autofree char *job = NULL;
  g_autofree char *took = NULL;
  g_autofree char *fenced = NULL;
  guint from, victim = G_MAXUINT, n;
  gint64 deadline;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  from = lmd_test_callback_receiver_get_delivered (receiver);
  /* long enough that the worker is stopped while it transcribes, not after */
  g_assert_cmpuint (submit (long_wav, &job, NULL), ==, 202);
  took = g_strdup_printf ("took job %s", job);
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (victim == G_MAXUINT && g_get_monotonic_time () < deadline)
    {
      for (guint w = 0; w < 2 && victim == G_MAXUINT; w++)
        {
          g_autofree char *log = lmd_test_server_read_log (workers[w]);
          if (strstr (log, took) != NULL)
            victim = w;
        }
      spin (10);
    }
  g_assert_cmpuint (victim, <, 2);
  lmd_test_server_signal (workers[victim], SIGSTOP);
  /* the other worker takes the job over after claim_timeout_s (3 s) and delivers it */
  g_assert_cmpuint (lmd_test_callback_receiver_wait (receiver, from + 1, 60), >=, from + 1);
  g_assert_cmpuint (deliveries_of (job, from), ==, 1);
  lmd_test_server_signal (workers[victim], SIGCONT);
  /* the stopped one, running again, finds its claim fenced (complete() or the check before
   * the post): it drops its result and posts nothing */
  fenced = g_strdup_printf ("job %s was taken over by another process", job);
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *log = lmd_test_server_read_log (workers[victim]);
      if (strstr (log, fenced) != NULL)
        break;
      spin (50);
    }
  {
    g_autofree char *log = lmd_test_server_read_log (workers[victim]);
    g_assert_nonnull (strstr (log, fenced));
  }
  spin (2000);
  n = deliveries_of (job, from);
  g_test_message ("job %s delivered %u time(s) (worker %u stopped while it ran)", job, n, victim);
  g_assert_cmpuint (n, ==, 1);
  g_assert_true (wait_for_workers (2, 20));
}

static void
test_api_kill_stream (void)
{
  g_autoptr (LmdTestStream) s = NULL;
  guint w;
  gint64 killed_at, deadline;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  s = open_relayed_stream (&w);
  lmd_test_server_signal (api, SIGKILL);
  killed_at = g_get_monotonic_time ();
  g_assert_cmpint (lmd_test_server_wait (api, 30), ==, -SIGKILL);
  lmd_test_server_stop (api);
  /* the client sees its connection end */
  g_assert_true (lmd_test_stream_wait_closed (s, 10));
  /* the worker's stream ends with the api's connection */
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (worker_metric (w, "asr_active_streams") > 0 && g_get_monotonic_time () < deadline)
    spin (100);
  g_test_message ("worker %u freed the stream %.2f s after the api was killed", w,
                  (g_get_monotonic_time () - killed_at) / 1e6);
  g_assert_cmpfloat (worker_metric (w, "asr_active_streams"), ==, 0);
  api = start_api ();
  g_assert_true (wait_for_workers (2, 20));
  {
    g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
    batch_send (batch, api, 2);
    lmd_test_batch_wait (batch, 120);
    g_assert_cmpuint (lmd_test_batch_get_status (batch, 0), ==, 200);
    g_assert_cmpuint (lmd_test_batch_get_status (batch, 1), ==, 200);
  }
}

/* SIGSTOP of the api with batch requests in flight: its clients wait (nothing is answered
 * while it is stopped); after SIGCONT every request is answered 200. */
static void
test_api_stop_batch (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  guint answered_while_stopped;
  gint64 resumed_at;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  batch_send_wav (batch, api, 4, long_wav);
  spin (300);
  lmd_test_server_signal (api, SIGSTOP);
  spin (100);
  answered_while_stopped = lmd_test_batch_get_done (batch);
  spin (4000);
  g_assert_cmpuint (lmd_test_batch_get_done (batch), ==, answered_while_stopped);
  lmd_test_server_signal (api, SIGCONT);
  resumed_at = g_get_monotonic_time ();
  lmd_test_batch_wait (batch, WORKER_TIMEOUT_S + 60);
  g_test_message ("api stopped 4 s: %u of 4 answered before; all answered %.1f s after SIGCONT",
                  answered_while_stopped, (g_get_monotonic_time () - resumed_at) / 1e6);
  for (guint i = 0; i < lmd_test_batch_get_sent (batch); i++)
    g_assert_cmpuint (lmd_test_batch_get_status (batch, i), ==, 200);
  g_assert_true (wait_for_workers (2, 20));
}

/* kill -9 of the api with batch requests in flight: its clients see their connections end
 * (no HTTP answer can come from a dead process), those answered before keep their 200; a
 * restarted api serves at once. */
static void
test_api_kill_batch (void)
{
  g_autoptr (LmdTestBatch) batch = lmd_test_batch_new (session);
  g_autoptr (LmdTestBatch) after = lmd_test_batch_new (session);
  guint n_200 = 0, n_cut = 0;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  batch_send_wav (batch, api, 4, long_wav);
  spin (300);
  lmd_test_server_signal (api, SIGKILL);
  g_assert_cmpint (lmd_test_server_wait (api, 30), ==, -SIGKILL);
  lmd_test_batch_wait (batch, 30);
  for (guint i = 0; i < lmd_test_batch_get_sent (batch); i++)
    {
      if (lmd_test_batch_get_status (batch, i) == 200)
        n_200++;
      else if (lmd_test_batch_get_status (batch, i) == 0)
        n_cut++;
    }
  g_test_message ("api killed: %u of 4 answered 200 before, %u connections ended without an answer",
                  n_200, n_cut);
  g_assert_cmpuint (n_200 + n_cut, ==, lmd_test_batch_get_sent (batch));
  g_assert_cmpuint (n_cut, >=, 1);
  lmd_test_server_stop (api);
  api = start_api ();
  g_assert_true (wait_for_workers (2, 20));
  batch_send (after, api, 2);
  lmd_test_batch_wait (after, WORKER_TIMEOUT_S + 60);
  g_assert_cmpuint (lmd_test_batch_get_status (after, 0), ==, 200);
  g_assert_cmpuint (lmd_test_batch_get_status (after, 1), ==, 200);
}

/* SIGSTOP of the api during a relayed stream, 4 s, the client sending audio all along: after
 * SIGCONT the api relays what the client sent meanwhile, and the stream ends normally (the
 * whole recording transcribed, close 1000).  The worker's side of the stream waits: 4 s is
 * far below its idle timeout. */
static void
test_api_stop_stream (void)
{
  g_autofree char *text = NULL;
  g_autoptr (LmdTestStream) s = NULL;
  const guint8 *pcm;
  gsize len, sent = 0;
  guint w, messages_while_stopped;
  gint64 resumed_at;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  pcm = g_bytes_get_data (stream_pcm, &len);
  len = MIN (len, (gsize) 16000 * 2 * 10); /* 10 s of the recording */
  s = open_relayed_stream (&w);
  sent = 32000;
  lmd_test_server_signal (api, SIGSTOP);
  spin (100);
  messages_while_stopped = s->messages->len;
  /* 4 s stopped, the client going on at real-time pace */
  for (guint i = 0; i < 40 && sent < len; i++, sent += 3200)
    {
      lmd_test_stream_send (s, pcm + sent, MIN (3200, len - sent));
      spin (100);
    }
  g_assert_cmpuint (s->messages->len, ==, messages_while_stopped);
  g_assert_false (s->closed);
  lmd_test_server_signal (api, SIGCONT);
  resumed_at = g_get_monotonic_time ();
  for (; sent < len; sent += 3200)
    {
      lmd_test_stream_send (s, pcm + sent, MIN (3200, len - sent));
      spin (20);
    }
  lmd_test_stream_send_text (s, "{\"type\":\"close_stream\"}");
  g_assert_true (lmd_test_stream_wait_closed (s, WORKER_TIMEOUT_S));
  text = lmd_test_stream_finals_text (s);
  g_test_message ("api stopped 4 s during a stream: closed %u %.1f s after SIGCONT, %u finals: %s",
                  s->close_code, (g_get_monotonic_time () - resumed_at) / 1e6, s->n_finals, text);
  g_assert_null (lmd_test_stream_find_type (s, "error"));
  g_assert_cmpuint (s->close_code, ==, 1000);
  g_assert_cmpuint (s->n_last, ==, 1);
  /* the recording starts "i had been ..."; words from after the stop are there too */
  g_assert_cmpuint (strlen (text), >, 40);
  g_assert_cmpfloat (worker_metric (w, "asr_active_streams"), ==, 0);
}

/* The job id in the 202 answer of a submission (transfer full), or NULL. */
static char *
job_id_of (const char *body)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (body == NULL || !json_parser_load_from_data (parser, body, -1, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root) || !json_object_has_member (json_node_get_object (root), "job_id"))
    return NULL;
  return g_strdup (json_object_get_string_member (json_node_get_object (root), "job_id"));
}

static char *
jobs_path (void)
{
  g_autofree char *escaped = g_uri_escape_string (callback, NULL, FALSE);

  return g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
}

/* The stored document of @job_id through the api: "completed" within @timeout_s. */
static void
assert_job_completed (const char *job_id, double timeout_s)
{
  g_autofree char *path = g_strdup_printf ("/v1/jobs/%s", job_id);
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);

  for (;;)
    {
      guint status = 0;
      g_autofree char *body = get_text (api, path, &status);
      if (status == 200 && strstr (body, "\"completed\"") != NULL)
        return;
      if (g_get_monotonic_time () >= deadline)
        g_error ("job %s through the api: %u %s", job_id, status, body);
      spin (200);
    }
}

/* SIGSTOP of the api with jobs accepted: the workers run them and post their callbacks
 * while the api is stopped (the api is not on a job's way once it has answered 202); a job
 * submitted while it is stopped waits, and is accepted after SIGCONT; each job is delivered
 * once, and found through the api. */
static void
test_api_stop_job (void)
{
  g_autoptr (LmdTestBatch) accepted = lmd_test_batch_new (session);
  g_autoptr (LmdTestBatch) waiting = lmd_test_batch_new (session);
  g_autofree char *path = jobs_path ();
  char *ids[3] = { NULL };
  guint from, delivered_while_stopped;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  from = lmd_test_callback_receiver_get_delivered (receiver);
  batch_send_to (accepted, api, path, 2, short_wav);
  lmd_test_batch_wait (accepted, WORKER_TIMEOUT_S);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_cmpuint (lmd_test_batch_get_status (accepted, i), ==, 202);
      ids[i] = job_id_of (lmd_test_batch_get_body (accepted, i));
      g_assert_nonnull (ids[i]);
    }
  lmd_test_server_signal (api, SIGSTOP);
  batch_send_to (waiting, api, path, 1, short_wav);
  /* the two accepted jobs are delivered while the api is stopped */
  delivered_while_stopped = lmd_test_callback_receiver_wait (receiver, from + 2, WORKER_TIMEOUT_S) - from;
  spin (500);
  g_test_message ("api stopped: %u of 2 accepted jobs delivered meanwhile; the submission sent meanwhile: "
                  "%s", delivered_while_stopped, lmd_test_batch_get_done (waiting) > 0 ? "answered" : "waiting");
  g_assert_cmpuint (delivered_while_stopped, ==, 2);
  g_assert_cmpuint (lmd_test_batch_get_done (waiting), ==, 0);
  lmd_test_server_signal (api, SIGCONT);
  lmd_test_batch_wait (waiting, WORKER_TIMEOUT_S);
  g_assert_cmpuint (lmd_test_batch_get_status (waiting, 0), ==, 202);
  ids[2] = job_id_of (lmd_test_batch_get_body (waiting, 0));
  g_assert_nonnull (ids[2]);
  lmd_test_callback_receiver_wait (receiver, from + 3, WORKER_TIMEOUT_S);
  /* a claim timeout for a late duplicate */
  spin (4000);
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_assert_cmpuint (deliveries_of (ids[i], from), ==, 1);
      assert_job_completed (ids[i], 10);
      g_free (ids[i]);
    }
}

/* kill -9 of the api with a job accepted and two more being submitted: the accepted job is
 * run and delivered once by a worker; a submission whose 202 came back is delivered once
 * too; one whose connection ended without an answer may still have been accepted by a worker
 * (the api had forwarded it whole): it is then delivered once, under a job id the client never
 * saw.  A restarted api finds the accepted jobs. */
static void
test_api_kill_job (void)
{
  g_autoptr (LmdTestBatch) accepted = lmd_test_batch_new (session);
  g_autoptr (LmdTestBatch) cut = lmd_test_batch_new (session);
  g_autofree char *path = jobs_path ();
  g_autofree char *first = NULL;
  GPtrArray *known = g_ptr_array_new_with_free_func (g_free);
  guint from, unanswered = 0, total;

  if (!need_setup ())
    return;
  g_assert_true (wait_for_workers (2, 20));
  from = lmd_test_callback_receiver_get_delivered (receiver);
  batch_send_to (accepted, api, path, 1, long_wav);
  lmd_test_batch_wait (accepted, WORKER_TIMEOUT_S);
  g_assert_cmpuint (lmd_test_batch_get_status (accepted, 0), ==, 202);
  first = job_id_of (lmd_test_batch_get_body (accepted, 0));
  g_assert_nonnull (first);
  g_ptr_array_add (known, g_strdup (first));
  batch_send_to (cut, api, path, 2, long_wav);
  spin (10); /* on their way: sent, forwarded, or answered already */
  lmd_test_server_signal (api, SIGKILL);
  g_assert_cmpint (lmd_test_server_wait (api, 30), ==, -SIGKILL);
  lmd_test_batch_wait (cut, 30);
  for (guint i = 0; i < lmd_test_batch_get_sent (cut); i++)
    {
      g_autofree char *id = lmd_test_batch_get_status (cut, i) == 202 ? job_id_of (lmd_test_batch_get_body (cut, i)) : NULL;
      if (id != NULL)
        g_ptr_array_add (known, g_steal_pointer (&id));
      else
        {
          g_assert_cmpuint (lmd_test_batch_get_status (cut, i), ==, 0); /* the connection ended, no answer */
          unanswered++;
        }
    }
  lmd_test_server_stop (api);
  api = start_api ();
  g_assert_true (wait_for_workers (2, 20));
  /* every job whose 202 came back is delivered, once; the others at most once each */
  lmd_test_callback_receiver_wait (receiver, from + known->len, WORKER_TIMEOUT_S + 60);
  spin (5000);
  total = lmd_test_callback_receiver_get_delivered (receiver) - from;
  g_test_message ("api killed: %u job(s) accepted, %u submission(s) without an answer, %u callback(s)",
                  known->len, unanswered, total);
  for (guint i = 0; i < known->len; i++)
    {
      g_assert_cmpuint (deliveries_of (known->pdata[i], from), ==, 1);
      assert_job_completed (known->pdata[i], 10);
    }
  g_assert_cmpuint (total, >=, known->len);
  g_assert_cmpuint (total, <=, known->len + unanswered);
  /* and no job id twice among them */
  for (guint i = from; i < lmd_test_callback_receiver_get_delivered (receiver); i++)
    {
      g_autofree char *body = lmd_test_callback_receiver_get_body (receiver, i);
      g_autofree char *id = job_id_of (body);
      g_assert_nonnull (id);
      g_assert_cmpuint (deliveries_of (id, from), ==, 1);
    }
  g_ptr_array_unref (known);
}

int
main (int argc, char **argv)
{
  g_autofree char *redis_path = g_find_program_in_path ("redis-server");
  g_autofree float *samples = NULL;
  gsize n_samples = 0;
  int status;

  g_test_init (&argc, &argv, NULL);
#ifdef __SANITIZE_ADDRESS__
  worker_timeout_s = 240;
#else
  if (g_getenv ("LMD_TEST_DAEMON_WRAPPER") != NULL && g_getenv ("LMD_TEST_DAEMON_WRAPPER")[0] != '\0')
    worker_timeout_s = 480;
#endif
  session = soup_session_new_with_options ("max-conns", 256, "max-conns-per-host", 256, "timeout", 300, NULL);
  if (redis_path != NULL)
    samples = lmd_test_librivox_read ("sense_and_sensibility_01_austen_64kb-0870", &n_samples);
  if (samples != NULL)
    {
      short_wav = lmd_test_wav_encode (samples, MIN (n_samples, (gsize) (2.5 * LMD_TEST_LIBRIVOX_RATE)),
                                       LMD_TEST_LIBRIVOX_RATE);
      long_wav = lmd_test_wav_encode (samples, MIN (n_samples, (gsize) (20 * LMD_TEST_LIBRIVOX_RATE)),
                                      LMD_TEST_LIBRIVOX_RATE);
      stream_pcm = lmd_test_encode_linear16 (samples, n_samples);
      redis_port = lmd_test_free_port ();
      redis = lmd_test_redis_start (redis_port, NULL);
      g_assert_nonnull (redis);
      receiver = lmd_test_callback_receiver_start (0);
      callback = lmd_test_callback_receiver_url (receiver, "/hook");
      workers[0] = start_worker ();
      workers[1] = start_worker ();
      api = start_api ();
      g_assert_true (wait_for_workers (2, 30));
    }
  g_test_add_func ("/faults/asr-stop-batch", test_asr_stop_batch);
  g_test_add_func ("/faults/asr-stop-stream", test_asr_stop_stream);
  g_test_add_func ("/faults/redis-stop", test_redis_stop);
  g_test_add_func ("/faults/redis-stop-jobs", test_redis_stop_jobs);
  g_test_add_func ("/faults/asr-stop-job", test_asr_stop_job);
  g_test_add_func ("/faults/api-kill-stream", test_api_kill_stream);
  g_test_add_func ("/faults/api-stop-batch", test_api_stop_batch);
  g_test_add_func ("/faults/api-kill-batch", test_api_kill_batch);
  g_test_add_func ("/faults/api-stop-stream", test_api_stop_stream);
  g_test_add_func ("/faults/api-stop-job", test_api_stop_job);
  g_test_add_func ("/faults/api-kill-job", test_api_kill_job);
  status = g_test_run ();
  if (api != NULL)
    {
      g_assert_cmpint (lmd_test_server_stop (api), ==, 0);
      for (guint w = 0; w < 2; w++)
        g_assert_cmpint (lmd_test_server_stop (workers[w]), ==, 0);
      lmd_test_redis_stop (redis);
      lmd_test_callback_receiver_stop (receiver);
    }
  g_free (callback);
  g_clear_object (&session);
  g_clear_pointer (&short_wav, g_bytes_unref);
  g_clear_pointer (&long_wav, g_bytes_unref);
  g_clear_pointer (&stream_pcm, g_bytes_unref);
  return status;
}
