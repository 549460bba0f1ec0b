/* SPDX-License-Identifier: MIT */
/*
 * test-api-body.c — request bodies through an api process: streamed to the workers, spooled
 * for a retry, never held in the api's memory; and jobs held by the workers found through
 * the api.
 *
 * Real parts only: one lightning-mediad --role api with a static list of two --role asr
 * workers (no Redis), real HTTP clients, a real recording from pocketsphinx-testdata at the
 * start of a 60 MiB WAV body.
 *
 * Covers: the large upload succeeds through the api with the transcript of the same body
 * sent to a worker directly, and the api's peak RSS (VmHWM) grows by far less than the body;
 * while the body streams the api holds it in an unlinked file of [api] spool_dir, which is
 * closed when the request ends; a chunked body over [limits] max_body_mb gets 413
 * FILE_TOO_LARGE with a log line carrying the request id, and the api keeps serving; kill -9
 * of the worker receiving a large upload half-way through: the request succeeds on the other
 * worker with the same request id and the same transcript; a client that leaves while a
 * worker transcribes its request: the api notices, closes its connection to the worker, and
 * the worker stops the transcription; a client that stalls half-way through its upload is cut
 * off after [server] client_timeout_s, its spool file closed, and the api keeps serving; GET /v1/jobs/{id} through the api
 * finds a job a worker holds, answers 404 for a job no worker has, 503 with retry_after when
 * no worker answers.  A JSON body nested 100,000 deep (it used to crash the worker, and the
 * api replayed it on the other one) gets 400 from a worker and both workers keep serving; a
 * worker that closes the connection after receiving a whole request (as one that crashed on
 * it would) is answered 502 BAD_GATEWAY and the request never reaches the other worker.
 * After every test the spool directory is empty.
 */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <gio/gunixinputstream.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lmd-test-audio.h"
#include "lmd-test-callback-receiver.h"
#include "lmd-test-fixtures.h"
#include "lmd-test-json.h"
#include "lmd-test-redis.h"
#include "lmd-test-server.h"
#include "lmd-test-server-thread.h"
#include "lmd-test-wav.h"
#include "lmd-wer.h"

#define BIG_BYTES (60u * 1024 * 1024)
#define MAX_BODY_MB 64

static SoupSession *session;
static LmdTestServer *api;
static LmdTestServer *workers[2];
static char *spool_dir;
static char *jobs_dirs[2];
static GBytes *short_wav;  /* 2.5 s of speech, 16 kHz WAV */
static GBytes *big_wav;    /* a recording, then silence: 96 kHz stereo float, 60 MiB */
static char *big_text;     /* the transcript of big_wav sent to a worker directly */

/* ---- set-up --------------------------------------------------------------------------- */

static LmdTestServer *
start_worker (guint index)
{
  g_autofree char *config = g_strdup_printf ("[limits]\nallow_private_urls=true\n"
                                             "[jobs]\ndir=%s\npoll_ms=50\n", jobs_dirs[index]);
  const char *args[] = { "--role=asr", "--workers=1", "--plugins=http;gst-decoder;sphinx", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *srv = lmd_test_server_start (config, args, &error);

  g_assert_no_error (error);
  return srv;
}

/* short_wav and big_wav from one recording; FALSE without pocketsphinx-testdata. */
static gboolean
load_audio (void)
{
  gsize n = 0;
  g_autofree float *samples = lmd_test_librivox_read ("sense_and_sensibility_01_austen_64kb-0870", &n);

  if (samples == NULL)
    return FALSE;
  big_wav = lmd_test_wav_encode_wide (samples, n, BIG_BYTES);
  short_wav = lmd_test_wav_encode (samples, MIN (n, (gsize) (2.5 * LMD_TEST_LIBRIVOX_RATE)),
                                   LMD_TEST_LIBRIVOX_RATE);
  return TRUE;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static gboolean
need_setup (void)
{
  if (api == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

/* A line of /proc/@pid/status in KiB ("VmHWM", "VmRSS"). */
static guint64
proc_status_kib (GPid pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  g_autofree char *needle = g_strdup_printf ("\n%s:", field);
  const char *at;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  at = strstr (text, needle);
  g_assert_nonnull (at);
  return g_ascii_strtoull (at + strlen (needle), NULL, 10);
}

/* How many files of spool_dir @srv has open (unlinked or not). */
static guint
spool_files_of (LmdTestServer *srv)
{
  g_autofree char *fd_dir = g_strdup_printf ("/proc/%d/fd", (int) lmd_test_server_get_pid (srv));
  g_autoptr (GDir) dir = g_dir_open (fd_dir, 0, NULL);
  const char *name;
  guint n = 0;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *link = g_build_filename (fd_dir, name, NULL);
      g_autofree char *target = g_file_read_link (link, NULL);
      if (target != NULL && g_str_has_prefix (target, spool_dir))
        n++;
    }
  return n;
}

static guint
api_spool_files (void)
{
  return spool_files_of (api);
}

static void
assert_spool_empty (void)
{
  g_autoptr (GDir) dir = g_dir_open (spool_dir, 0, NULL);

  g_assert_nonnull (dir);
  g_assert_null (g_dir_read_name (dir));
  /* and nothing of it still open: every request's spool file was closed */
  for (guint tries = 0; tries < 100 && api_spool_files () > 0; tries++)
    g_usleep (20000);
  g_assert_cmpuint (api_spool_files (), ==, 0);
}

/* Whether a line of @log carries the request id @id and @text. */
static gboolean
log_has (const char *log, const char *id, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (log, "\n", -1);
  g_autofree char *tag = g_strdup_printf ("[%s] ", id);

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], tag) != NULL && strstr (lines[i], text) != NULL)
      return TRUE;
  return FALSE;
}

static const char *
text_of (LmdTestResponse *r)
{
  JsonObject *o = lmd_test_response_json (r);

  return json_object_get_string_member (o, "text");
}

static char *
post_big (LmdTestServer *srv, const char *request_id)
{
  g_autofree char *url = lmd_test_server_url (srv, "/v1/listen");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", big_wav, "X-Request-ID",
                                                 request_id, NULL);

  g_assert_no_error (r->error);
  if (r->status != 200)
    g_error ("expected 200, got %u: %.*s", r->status, (int) g_bytes_get_size (r->body),
             (const char *) g_bytes_get_data (r->body, NULL));
  return g_strdup (text_of (r));
}

/* ---- tests --------------------------------------------------------------------------------- */

static void
test_large_upload (void)
{
  GPid pid;
  guint64 hwm_before, hwm_after;
  g_autofree char *text = NULL;
  LmdWerCounts counts = { 0 };
  g_auto (GStrv) words = NULL;

  if (!need_setup ())
    return;
  pid = lmd_test_server_get_pid (api);
  /* a small request first, so the baseline includes a forwarded request */
  {
    g_autofree char *url = lmd_test_server_url (api, "/v1/listen");
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", short_wav, NULL);
    g_assert_cmpuint (r->status, ==, 200);
  }
  hwm_before = proc_status_kib (pid, "VmHWM");
  text = post_big (api, "big-upload-1");
  hwm_after = proc_status_kib (pid, "VmHWM");
  g_test_message ("api VmHWM %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT " KiB for a %u MiB body",
                  hwm_before, hwm_after, BIG_BYTES >> 20);
  g_test_message ("direct: %s\napi:    %s", big_text, text);
  words = lmd_wer_normalise (big_text);
  g_assert_cmpuint (g_strv_length (words), >=, 5);
  g_assert_cmpstr (text, ==, big_text);
  lmd_wer_accumulate (&counts, big_text, text);
  g_assert_cmpfloat (lmd_wer_rate (&counts), ==, 0);
  /* the body never sat in the api's memory (not measurable under AddressSanitizer, whose
   * quarantine keeps freed chunks resident, nor under a wrapper such as valgrind) */
#ifndef __SANITIZE_ADDRESS__
  if (g_getenv ("LMD_TEST_DAEMON_WRAPPER") == NULL)
    g_assert_cmpuint ((hwm_after - hwm_before) * 1024, <, BIG_BYTES / 4);
#endif
  assert_spool_empty ();
}

static void
test_chunked_too_large (void)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) body = NULL;
  g_autoptr (GBytes) answer = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *log = NULL;
  gsize size = (MAX_BODY_MB + 6) * 1024 * 1024;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;

  if (!need_setup ())
    return;
  url = lmd_test_server_url (api, "/v1/listen");
  msg = soup_message_new ("POST", url);
  body = g_memory_input_stream_new_from_data (g_malloc0 (size), (gssize) size, g_free);
  /* no length: chunked, so only counting tells the api it is too large */
  soup_message_set_request_body (msg, "audio/wav", body, -1);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", "chunked-too-large-1");
  answer = soup_session_send_and_read (session, msg, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 413);
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (answer, NULL),
                                             (gssize) g_bytes_get_size (answer), NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "FILE_TOO_LARGE");
  log = lmd_test_server_read_log (api);
  g_assert_true (log_has (log, "chunked-too-large-1", "body passed the limit"));
  /* the api still serves */
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", short_wav, NULL);
    g_assert_no_error (r->error);
    g_assert_cmpuint (r->status, ==, 200);
  }
  assert_spool_empty ();
}

/* A client that sends the body through a pipe, the second half only when told. */
typedef struct {
  int fd;
  GBytes *data;
  gsize first;
  GMutex lock;
  GCond cond;
  gboolean go_on;
  gsize written;
  gboolean may_fail; /* the reader may be gone before the second half */
} SlowWriter;

static gboolean
write_all (int fd, const guint8 *p, gsize len)
{
  while (len > 0)
    {
      gssize n = write (fd, p, MIN (len, 65536));
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static gpointer
slow_writer_main (gpointer data)
{
  SlowWriter *w = data;
  const guint8 *p = g_bytes_get_data (w->data, NULL);

  g_assert_true (write_all (w->fd, p, w->first));
  g_mutex_lock (&w->lock);
  w->written = w->first;
  g_cond_broadcast (&w->cond);
  while (!w->go_on)
    g_cond_wait (&w->cond, &w->lock);
  g_mutex_unlock (&w->lock);
  if (!write_all (w->fd, p + w->first, g_bytes_get_size (w->data) - w->first))
    g_assert_true (w->may_fail);
  close (w->fd);
  return NULL;
}

static void
send_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LmdTestResponse *r = user_data;

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &r->error);
}

static void
test_kill_worker_mid_upload (void)
{
  int fds[2];
  SlowWriter w = { 0 };
  GThread *thread;
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) pipe_in = NULL;
  LmdTestResponse r = { 0 };
  guint victim = G_MAXUINT;
  gint64 deadline;
  g_autofree char *log = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  if (!need_setup ())
    return;
  g_assert_cmpint (pipe (fds), ==, 0);
  w.fd = fds[1];
  w.data = big_wav;
  w.first = BIG_BYTES / 2;
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  thread = g_thread_new ("slow-writer", slow_writer_main, &w);
  pipe_in = g_unix_input_stream_new (fds[0], TRUE);
  url = lmd_test_server_url (api, "/v1/listen");
  msg = soup_message_new ("POST", url);
  soup_message_set_request_body (msg, "audio/wav", pipe_in, BIG_BYTES);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", "kill-mid-upload-1");
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, send_done, &r);
  /* half the body is at the api, and on its way to a worker: which one? */
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (victim == G_MAXUINT && g_get_monotonic_time () < deadline)
    {
      gsize written;
      g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
      g_mutex_lock (&w.lock);
      written = w.written;
      g_mutex_unlock (&w.lock);
      if (written == 0)
        continue;
      g_free (log);
      log = lmd_test_server_read_log (api);
      for (guint i = 0; i < 2; i++)
        {
          g_autofree char *line = g_strdup_printf ("forwarding to http://127.0.0.1:%u (attempt 1",
                                                   lmd_test_server_get_port (workers[i]));
          if (log_has (log, "kill-mid-upload-1", line))
            victim = i;
        }
    }
  if (victim >= 2)
    g_error ("the api did not forward the upload; written %" G_GSIZE_FORMAT ", its log:\n%s", w.written, log);
  /* the api holds the body in its (unlinked) spool file */
  g_assert_cmpuint (api_spool_files (), ==, 1);
  for (guint i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
  g_test_message ("kill -9 worker %u (pid %d) half-way through the upload", victim,
                  (int) lmd_test_server_get_pid (workers[victim]));
  lmd_test_server_signal (workers[victim], SIGKILL);
  g_assert_cmpint (lmd_test_server_wait (workers[victim], 30), ==, -SIGKILL);
  g_mutex_lock (&w.lock);
  w.go_on = TRUE;
  g_cond_broadcast (&w.cond);
  g_mutex_unlock (&w.lock);
  deadline = g_get_monotonic_time () + 300 * G_USEC_PER_SEC;
  while (r.body == NULL && r.error == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
  g_thread_join (thread);
  g_assert_no_error (r.error);
  g_assert_nonnull (r.body);
  if (soup_message_get_status (msg) != 200)
    g_error ("expected 200, got %u: %.*s", soup_message_get_status (msg), (int) g_bytes_get_size (r.body),
             (const char *) g_bytes_get_data (r.body, NULL));
  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (r.body, NULL),
                                             (gssize) g_bytes_get_size (r.body), NULL));
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (json_parser_get_root (parser)), "text"), ==,
                   big_text);
  g_assert_cmpstr (soup_message_headers_get_one (soup_message_get_response_headers (msg), "X-Request-ID"), ==,
                   "kill-mid-upload-1");
  g_free (log);
  log = lmd_test_server_read_log (api);
  {
    g_autofree char *line = g_strdup_printf ("forwarding to http://127.0.0.1:%u (attempt 2",
                                             lmd_test_server_get_port (workers[1 - victim]));
    g_assert_true (log_has (log, "kill-mid-upload-1", line));
  }
  g_bytes_unref (r.body);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  assert_spool_empty ();
  lmd_test_server_stop (workers[victim]);
  workers[victim] = start_worker (victim);
}

/* The client leaves while a worker transcribes its request: the api closes its connection
 * to the worker, and the worker drops the request. */
static void
test_client_leaves (void)
{
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  LmdTestResponse r = { 0 };
  gint64 deadline;
  guint busy = G_MAXUINT;
  gboolean dropped = FALSE;

  if (!need_setup ())
    return;
  url = lmd_test_server_url (api, "/v1/listen");
  msg = soup_message_new ("POST", url);
  soup_message_set_request_body_from_bytes (msg, "audio/wav", big_wav);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", "client-leaves-1");
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, cancellable, send_done, &r);
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (busy == G_MAXUINT && r.body == NULL && r.error == NULL && g_get_monotonic_time () < deadline)
    {
      for (guint i = 0; i < 2 && busy == G_MAXUINT; i++)
        {
          g_autofree char *log = lmd_test_server_read_log (workers[i]);
          if (log_has (log, "client-leaves-1", "POST /v1/listen"))
            busy = i;
        }
      for (guint i = 0; i < 10; i++)
        g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
    }
  g_assert_cmpuint (busy, <, 2);
  g_cancellable_cancel (cancellable);
  while (r.body == NULL && r.error == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (!dropped && g_get_monotonic_time () < deadline)
    {
      g_autofree char *log = lmd_test_server_read_log (workers[busy]);
      dropped = log_has (log, "client-leaves-1", "client went away");
      g_usleep (50000);
    }
  if (!dropped)
    {
      g_autofree char *wlog = lmd_test_server_read_log (workers[busy]);
      g_autofree char *alog = lmd_test_server_read_log (api);
      g_error ("the worker did not drop the request; its log:\n%s\napi log:\n%s", wlog, alog);
    }
  {
    /* it noticed when the api closed the connection */
    g_autofree char *wlog = lmd_test_server_read_log (workers[busy]);
    g_autofree char *alog = lmd_test_server_read_log (api);
    g_assert_true (log_has (alog, "client-leaves-1", "the client closed its connection"));
    g_assert_true (log_has (wlog, "client-leaves-1", "the client closed its connection"));
    /* how far the transcription got before the cancellation reached it depends on the
     * machine's speed: reported, not asserted */
    g_test_message ("the worker %s", log_has (wlog, "client-leaves-1", "transcribed")
                                         ? "had finished the transcription when it noticed"
                                         : "stopped the transcription before its end");
  }
  g_clear_error (&r.error);
  assert_spool_empty ();
}

/* A client that stops sending half-way: an api with [server] client_timeout_s=2 closes its
 * connection, abandons the request at the worker, closes the spool file and keeps serving. */
static void
test_slow_client (void)
{
  g_autofree char *config = NULL;
  const char *args[] = { "--role=api", NULL };
  g_autoptr (GError) error = NULL;
  LmdTestServer *strict;
  int fds[2];
  SlowWriter w = { 0 };
  GThread *thread;
  g_autofree char *url = NULL;
  char *log = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) pipe_in = NULL;
  LmdTestResponse r = { 0 };
  gint64 t0, deadline;
  guint status;

  if (!need_setup ())
    return;
  config = g_strdup_printf ("[server]\nclient_timeout_s=2\n"
                            "[api]\nasr_base_url=http://127.0.0.1:%u,http://127.0.0.1:%u\n"
                            "probe_interval_ms=200\nspool_dir=%s\n",
                            lmd_test_server_get_port (workers[0]), lmd_test_server_get_port (workers[1]),
                            spool_dir);
  strict = lmd_test_server_start (config, args, &error);
  g_assert_no_error (error);
  g_assert_cmpint (pipe (fds), ==, 0);
  w.fd = fds[1];
  w.data = big_wav;
  w.first = 4 * 1024 * 1024;
  w.may_fail = TRUE;
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  thread = g_thread_new ("slow-writer", slow_writer_main, &w);
  pipe_in = g_unix_input_stream_new (fds[0], TRUE);
  url = lmd_test_server_url (strict, "/v1/listen");
  msg = soup_message_new ("POST", url);
  soup_message_set_request_body (msg, "audio/wav", pipe_in, BIG_BYTES);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "X-Request-ID", "slow-client-1");
  t0 = g_get_monotonic_time ();
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, send_done, &r);
  /* the api forwards, spools what came, then gives the silent client up: its spool file is
   * closed and its request to the worker abandoned (the client itself, waiting on its own
   * input, notices only when it sends again) */
  deadline = t0 + 60 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
      g_free (log);
      log = lmd_test_server_read_log (strict);
      if (log_has (log, "slow-client-1", "client went away before the worker answered"))
        break;
    }
  g_test_message ("the api gave the stalled upload up after %.1f s", (g_get_monotonic_time () - t0) / 1e6);
  g_assert_true (log_has (log, "slow-client-1", "forwarding to"));
  g_assert_true (log_has (log, "slow-client-1", "client went away before the worker answered"));
  for (guint tries = 0; tries < 100 && spool_files_of (strict) > 0; tries++)
    g_usleep (20000);
  g_assert_cmpuint (spool_files_of (strict), ==, 0);
  g_assert_null (r.body);
  g_mutex_lock (&w.lock);
  w.go_on = TRUE;
  g_cond_broadcast (&w.cond);
  g_mutex_unlock (&w.lock);
  /* the client, sending again, finds the connection closed */
  deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (r.body == NULL && r.error == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (5000), TRUE);
  status = r.body != NULL ? soup_message_get_status (msg) : 0;
  g_test_message ("the client: %s (status %u)", r.error != NULL ? r.error->message : "an answer", status);
  /* the writer's last writes fail rather than block */
  g_input_stream_close (pipe_in, NULL, NULL);
  g_clear_object (&msg);
  g_clear_object (&pipe_in);
  g_thread_join (thread);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
  g_assert_true (r.error != NULL || (r.body != NULL && status != 200));
  g_clear_error (&r.error);
  g_clear_pointer (&r.body, g_bytes_unref);
  /* and the api still serves */
  {
    g_autoptr (LmdTestResponse) ok = lmd_test_http (session, "POST", url, "audio/wav", short_wav, NULL);
    g_assert_cmpuint (ok->status, ==, 200);
  }
  g_free (log);
  g_assert_cmpint (lmd_test_server_stop (strict), ==, 0);
  assert_spool_empty ();
}

static char *
get_job (LmdTestServer *srv, const char *job_id, guint *status, JsonObject **object)
{
  g_autofree char *path = g_strdup_printf ("/v1/jobs/%s", job_id);
  g_autofree char *url = lmd_test_server_url (srv, path);
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_no_error (r->error);
  *status = r->status;
  if (object != NULL)
    *object = json_object_ref (lmd_test_response_json (r));
  return g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
}

static void
test_job_at_worker (void)
{
  LmdTestCallbackReceiver *receiver;
  g_autofree char *callback = NULL, *escaped = NULL, *path = NULL, *url = NULL;
  g_autofree char *job_id = NULL, *via_api = NULL, *direct = NULL, *missing = NULL;
  guint status = 0, direct_status = 0, holder_status[2] = { 0, 0 };
  JsonObject *o = NULL;

  if (!need_setup ())
    return;
  receiver = lmd_test_callback_receiver_start (0);
  callback = lmd_test_callback_receiver_url (receiver, "/hook");
  escaped = g_uri_escape_string (callback, NULL, FALSE);
  path = g_strdup_printf ("/v1/listen?callback_url=%s", escaped);
  url = lmd_test_server_url (api, path);
  {
    g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", short_wav, NULL);
    g_assert_cmpuint (r->status, ==, 202);
    job_id = g_strdup (json_object_get_string_member (lmd_test_response_json (r), "job_id"));
  }
  g_assert_cmpuint (lmd_test_callback_receiver_wait (receiver, 1, 120), ==, 1);
  /* exactly one worker holds it */
  for (guint i = 0; i < 2; i++)
    g_free (get_job (workers[i], job_id, &holder_status[i], NULL));
  g_assert_cmpuint (MIN (holder_status[0], holder_status[1]), ==, 200);
  g_assert_cmpuint (MAX (holder_status[0], holder_status[1]), ==, 404);
  direct = get_job (workers[holder_status[0] == 200 ? 0 : 1], job_id, &direct_status, NULL);
  /* the api finds it */
  via_api = get_job (api, job_id, &status, &o);
  g_assert_cmpuint (status, ==, 200);
  g_assert_cmpstr (via_api, ==, direct);
  g_assert_cmpstr (json_object_get_string_member (o, "job_id"), ==, job_id);
  json_object_unref (o);
  /* a job no worker has */
  missing = get_job (api, "job_0123456789abcdef0123456789abcdef", &status, &o);
  g_assert_cmpuint (status, ==, 404);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "NOT_FOUND");
  json_object_unref (o);
  lmd_test_callback_receiver_stop (receiver);
  assert_spool_empty ();
}

static void
test_job_no_worker_answers (void)
{
  g_autofree char *config = g_strdup_printf ("[api]\nasr_base_url=http://127.0.0.1:%u\nprobe_interval_ms=200\n",
                                             lmd_test_free_port ());
  const char *args[] = { "--role=api", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *body = NULL;
  LmdTestServer *lone;
  guint status = 0;
  JsonObject *o = NULL;

  if (!need_setup ())
    return;
  lone = lmd_test_server_start (config, args, &error);
  g_assert_no_error (error);
  body = get_job (lone, "job_0123456789abcdef0123456789abcdef", &status, &o);
  g_assert_cmpuint (status, ==, 503);
  g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "SERVICE_UNAVAILABLE");
  g_assert_cmpint (json_object_get_int_member (o, "retry_after"), >, 0);
  json_object_unref (o);
  g_assert_cmpint (lmd_test_server_stop (lone), ==, 0);
}

static void
assert_healthy (LmdTestServer *srv)
{
  g_autofree char *url = lmd_test_server_url (srv, "/health");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
}

static void
test_deep_json (void)
{
  /* the body (200 KB) is over the size bound of a JSON body; one within it is still
   * far deeper than the depth bound */
  static const struct {
    guint depth;
    guint status;
    const char *code;
  } cases[] = { { 100000, 413, "FILE_TOO_LARGE" }, { 32000, 400, "INVALID_PARAMETER" } };
  g_autofree char *url = NULL;

  if (!need_setup ())
    return;
  url = lmd_test_server_url (api, "/v1/listen");
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autoptr (GBytes) deep = lmd_test_json_nested_arrays (cases[c].depth);
      g_autofree char *id = g_strdup_printf ("deep-json-api-%u", cases[c].depth);
      g_autofree char *logged_as = g_strdup_printf ("%u %s", cases[c].status, cases[c].code);
      g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "application/json", deep,
                                                     "X-Request-ID", id, NULL);
      gboolean logged = FALSE;
      JsonObject *o;

      g_assert_no_error (r->error);
      g_assert_cmpuint (r->status, ==, cases[c].status);
      o = lmd_test_response_json (r);
      g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, cases[c].code);
      if (cases[c].status == 400)
        {
          g_assert_cmpstr (json_object_get_string_member (o, "param"), ==, "body");
          g_assert_nonnull (strstr (json_object_get_string_member (o, "error"), "deeper than 64 levels"));
        }
      /* both workers are alive and serving; the process that answered logged it with the id */
      {
        g_autofree char *api_log = lmd_test_server_read_log (api);
        logged = log_has (api_log, id, logged_as);
      }
      for (guint w = 0; w < 2; w++)
        {
          g_autofree char *log = lmd_test_server_read_log (workers[w]);
          g_assert_cmpint (kill (lmd_test_server_get_pid (workers[w]), 0), ==, 0);
          assert_healthy (workers[w]);
          logged = logged || log_has (log, id, logged_as);
        }
      g_assert_true (logged);
      assert_healthy (api);
    }
  assert_spool_empty ();
}

/* A worker that takes each batch request whole, then closes the connection without an
 * answer, as a worker that crashed on it would; it answers anything else 200. */
typedef struct {
  gint posts;          /* atomic */
  GMutex lock;
  GPtrArray *ids;      /* owned: X-Request-ID of each POST, under lock */
} ClosingWorker;

static void
closing_worker_handler (SoupServer *server, SoupServerMessage *msg, const char *path,
                        GHashTable *query, gpointer user_data)
{
  ClosingWorker *cw = user_data;
  GIOStream *stream;

  if (!g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_POST))
    {
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC, "{}", 2);
      return;
    }
  g_mutex_lock (&cw->lock);
  g_ptr_array_add (cw->ids, g_strdup (soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                                    "X-Request-ID")));
  g_mutex_unlock (&cw->lock);
  g_atomic_int_inc (&cw->posts);
  stream = soup_server_message_steal_connection (msg);
  g_io_stream_close (stream, NULL, NULL);
  g_object_unref (stream);
}

static void
test_no_replay_after_worker_closes (void)
{
  ClosingWorker cw = { 0 };
  LmdTestServerThread *fake;
  g_autofree char *config = NULL;
  const char *args[] = { "--role=api", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *worker_log = NULL;
  g_autofree char *api_log = NULL;
  LmdTestServer *lone;
  guint n_502 = 0, n_200 = 0;

  if (!need_setup ())
    return;
  g_mutex_init (&cw.lock);
  cw.ids = g_ptr_array_new_with_free_func (g_free);
  fake = lmd_test_server_thread_start ("closing-worker", closing_worker_handler, &cw);
  /* the closing worker and a real one, equally loaded: the picker alternates between them */
  config = g_strdup_printf ("[api]\nasr_base_url=http://127.0.0.1:%u,http://127.0.0.1:%u\n"
                            "probe_interval_ms=200\nfailure_quarantine_ms=100\nspool_dir=%s\n",
                            lmd_test_server_thread_get_port (fake),
                            lmd_test_server_get_port (workers[0]), spool_dir);
  lone = lmd_test_server_start (config, args, &error);
  g_assert_no_error (error);
  url = lmd_test_server_url (lone, "/v1/listen");
  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *id = g_strdup_printf ("no-replay-%u", i);
      g_autoptr (LmdTestResponse) r = NULL;

      g_usleep (300 * 1000); /* past the quarantine of the previous failure */
      r = lmd_test_http (session, "POST", url, "audio/wav", short_wav, "X-Request-ID", id, NULL);
      g_assert_no_error (r->error);
      if (r->status == 502)
        {
          JsonObject *o = lmd_test_response_json (r);
          g_assert_cmpstr (json_object_get_string_member (o, "code"), ==, "BAD_GATEWAY");
          n_502++;
        }
      else
        {
          g_assert_cmpuint (r->status, ==, 200);
          n_200++;
        }
    }
  g_test_message ("%u answered 502, %u answered 200; the closing worker took %d", n_502, n_200,
                  g_atomic_int_get (&cw.posts));
  /* every request the closing worker took was answered 502 and went to no other worker */
  g_assert_cmpuint (n_502, >=, 1);
  g_assert_cmpuint (n_502, ==, (guint) g_atomic_int_get (&cw.posts));
  worker_log = lmd_test_server_read_log (workers[0]);
  api_log = lmd_test_server_read_log (lone);
  g_mutex_lock (&cw.lock);
  for (guint i = 0; i < cw.ids->len; i++)
    {
      const char *id = cw.ids->pdata[i];
      g_autofree char *tag = g_strdup_printf ("[%s]", id);
      g_assert_null (strstr (worker_log, tag));
      g_assert_true (log_has (api_log, id, "502 BAD_GATEWAY"));
    }
  g_mutex_unlock (&cw.lock);
  g_assert_cmpint (lmd_test_server_stop (lone), ==, 0);
  lmd_test_server_thread_stop (fake);
  g_ptr_array_unref (cw.ids);
  g_mutex_clear (&cw.lock);
  assert_spool_empty ();
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  signal (SIGPIPE, SIG_IGN); /* a slow client's writer may find the pipe closed */
  session = soup_session_new_with_options ("max-conns", 64, "max-conns-per-host", 64, "timeout", lmd_test_timeout_s (300), NULL);
  if (load_audio ())
    {
      g_autofree char *api_config = NULL;
      const char *api_args[] = { "--role=api", NULL };
      g_autoptr (GError) error = NULL;

      spool_dir = g_dir_make_tmp ("lmd-api-spool-XXXXXX", &error);
      g_assert_no_error (error);
      for (guint i = 0; i < 2; i++)
        {
          jobs_dirs[i] = g_dir_make_tmp ("lmd-api-jobs-XXXXXX", &error);
          g_assert_no_error (error);
          workers[i] = start_worker (i);
        }
      api_config = g_strdup_printf ("[limits]\nmax_body_mb=%u\n"
                                    "[api]\nasr_base_url=http://127.0.0.1:%u,http://127.0.0.1:%u\n"
                                    "probe_interval_ms=200\nspool_dir=%s\n",
                                    MAX_BODY_MB, lmd_test_server_get_port (workers[0]),
                                    lmd_test_server_get_port (workers[1]), spool_dir);
      api = lmd_test_server_start (api_config, api_args, &error);
      g_assert_no_error (error);
      big_text = post_big (workers[0], "big-direct-1");
    }
  g_test_add_func ("/api-body/large-upload", test_large_upload);
  g_test_add_func ("/api-body/chunked-too-large", test_chunked_too_large);
  g_test_add_func ("/api-body/kill-worker-mid-upload", test_kill_worker_mid_upload);
  g_test_add_func ("/api-body/client-leaves", test_client_leaves);
  g_test_add_func ("/api-body/slow-client", test_slow_client);
  g_test_add_func ("/api-body/job-at-worker", test_job_at_worker);
  g_test_add_func ("/api-body/job-no-worker-answers", test_job_no_worker_answers);
  g_test_add_func ("/api-body/deep-json", test_deep_json);
  g_test_add_func ("/api-body/no-replay-after-worker-closes", test_no_replay_after_worker_closes);
  status = g_test_run ();
  if (api != NULL)
    {
      g_assert_cmpint (lmd_test_server_stop (api), ==, 0);
      for (guint w = 0; w < 2; w++)
        {
          g_assert_cmpint (lmd_test_server_stop (workers[w]), ==, 0);
          lmd_test_rm_rf (jobs_dirs[w]);
        }
      g_assert_cmpint (g_rmdir (spool_dir), ==, 0);
    }
  for (guint w = 0; w < 2; w++)
    g_free (jobs_dirs[w]);
  g_free (spool_dir);
  g_free (big_text);
  g_clear_object (&session);
  g_clear_pointer (&short_wav, g_bytes_unref);
  g_clear_pointer (&big_wav, g_bytes_unref);
  return status;
}
