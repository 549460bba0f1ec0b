/* SPDX-License-Identifier: MIT */
/*
 * test-http-connections.c — the connection-level limits of the HTTP transport, through the
 * real daemon and raw loopback sockets: descriptors of keep-alive connections the client
 * closed are released (under a small RLIMIT_NOFILE set with prlimit), idle keep-alive
 * connections are closed after keepalive_timeout_s, slow request headers are cut at
 * header_timeout_s, the per-client and per-process caps answer 503, the listen backlog
 * takes a burst of 200 connections, and a bad Content-Length gets 400.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lmd-test-server.h"

#define PLUGINS "[plugins]\nload=http;gst-decoder;sphinx\n[sphinx]\ndecoders=1\n"

static LmdTestServer *
start_server (const char *config, const char *nofile)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *saved = g_strdup (g_getenv ("LMD_TEST_DAEMON_WRAPPER"));
  LmdTestServer *server;

  if (nofile != NULL)
    {
      /* prlimit sets both limits, so the daemon cannot raise its soft limit above them */
      g_autofree char *wrapper = g_strdup_printf ("prlimit --nofile=%s:%s %s", nofile, nofile,
                                                  saved != NULL ? saved : "");
      g_setenv ("LMD_TEST_DAEMON_WRAPPER", wrapper, TRUE);
    }
  server = lmd_test_server_start (config, NULL, &error);
  if (saved != NULL)
    g_setenv ("LMD_TEST_DAEMON_WRAPPER", saved, TRUE);
  else
    g_setenv ("LMD_TEST_DAEMON_WRAPPER", "", TRUE); /* empty = none */
  g_assert_no_error (error);
  return server;
}

/* A blocking loopback connection whose connect() and reads give up after @timeout_s. */
static int
raw_connect (LmdTestServer *server, double timeout_s)
{
  struct sockaddr_in addr = { 0 };
  struct timeval tv = { (time_t) timeout_s, (suseconds_t) ((timeout_s - (time_t) timeout_s) * 1e6) };
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  g_assert_cmpint (fd, >=, 0);
  addr.sin_family = AF_INET;
  addr.sin_port = htons ((guint16) lmd_test_server_get_port (server));
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  /* connect() too: a backlog that is full leaves it waiting for SYN retransmissions */
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    g_error ("connect to port %u: %s", lmd_test_server_get_port (server), g_strerror (errno));
  return fd;
}

static void
raw_send (int fd, const char *text)
{
  g_assert_cmpint (send (fd, text, strlen (text), MSG_NOSIGNAL), ==, (gssize) strlen (text));
}

/* Reads one response (headers and a Content-Length body), or what came before the end of
 * the stream, a reset or the read timeout; "" when nothing came. */
static char *
raw_read_response (int fd)
{
  GString *in = g_string_new (NULL);
  char buffer[4096];

  for (;;)
    {
      const char *end = strstr (in->str, "\r\n\r\n");
      gssize n;
      if (end != NULL)
        {
          const char *cl = strstr (in->str, "Content-Length: ");
          gsize want = (gsize) (end + 4 - in->str) + (cl != NULL ? g_ascii_strtoull (cl + 16, NULL, 10) : 0);
          if (in->len >= want)
            break;
        }
      n = recv (fd, buffer, sizeof buffer, 0);
      if (n <= 0)
        break;
      g_string_append_len (in, buffer, n);
    }
  return g_string_free (in, FALSE);
}

/* Seconds until the server closes @fd (reading and dropping what comes), or -1 after
 * @timeout_s. */
static double
seconds_until_closed (int fd, double timeout_s)
{
  gint64 t0 = g_get_monotonic_time ();
  char buffer[4096];

  while ((g_get_monotonic_time () - t0) / 1e6 < timeout_s)
    {
      gssize n = recv (fd, buffer, sizeof buffer, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return (g_get_monotonic_time () - t0) / 1e6;
    }
  return -1;
}

static guint
count_descriptors (LmdTestServer *server)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) lmd_test_server_get_pid (server));
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

static gboolean
log_contains (LmdTestServer *server, const char *needle)
{
  g_autofree char *log = lmd_test_server_read_log (server);
  return strstr (log, needle) != NULL;
}

static gboolean
need_prlimit (void)
{
  g_autofree char *prlimit = g_find_program_in_path ("prlimit");

  if (prlimit == NULL)
    g_test_skip ("prlimit (util-linux) is not installed");
  return prlimit != NULL;
}

/* The reproduction, scaled to 128 descriptors: every request on its own keep-alive
 * connection, closed by the client after the answer.  libsoup alone kept each one in
 * CLOSE-WAIT and stopped accepting once the descriptors ran out. */
static void
test_closed_keepalive_released (void)
{
  LmdTestServer *server;
  guint baseline, after = 0;
  gint64 t0;

  if (!need_prlimit ())
    return;
  server = start_server (PLUGINS, "128");
  baseline = count_descriptors (server);
  for (guint i = 0; i < 300; i++)
    {
      int fd = raw_connect (server, 10);
      g_autofree char *answer = NULL;
      raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      answer = raw_read_response (fd);
      if (!g_str_has_prefix (answer, "HTTP/1.1 200"))
        g_error ("request %u of 300 got no answer (%zu bytes): the server ran out of descriptors", i,
                 strlen (answer));
      close (fd);
    }
  /* one more, and the descriptors are back to what an idle server holds */
  {
    int fd = raw_connect (server, 10);
    g_autofree char *answer = NULL;
    raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    answer = raw_read_response (fd);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 200"));
    close (fd);
  }
  t0 = g_get_monotonic_time ();
  while ((after = count_descriptors (server)) > baseline + 2 && g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC)
    g_usleep (50000);
  g_test_message ("descriptors: %u before, %u after 301 requests", baseline, after);
  g_assert_cmpuint (after, <=, baseline + 2);
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* Out of descriptors (a per-process limit above what the descriptors allow), libsoup's
 * accept() fails and libsoup stops accepting for good: once the connections are gone, the
 * server must accept again. */
static void
test_accepting_after_exhaustion (void)
{
  LmdTestServer *server;
  int held[80];
  gboolean served = FALSE;
  gint64 t0;

  if (!need_prlimit ())
    return;
  server = start_server (PLUGINS "[server]\nmax_connections=500\nmax_connections_per_client=0\n", "64");
  for (guint i = 0; i < G_N_ELEMENTS (held); i++)
    held[i] = raw_connect (server, 10);
  /* the server takes what it can until accept() fails: its descriptors stop growing (under a
   * slow build, valgrind, that takes far longer than the 1.5 s of a plain one) */
  {
    gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
    gint64 steady_since = g_get_monotonic_time ();
    guint last = 0;

    g_usleep (1500000);
    while (g_get_monotonic_time () < deadline)
      {
        guint n = count_descriptors (server);

        if (n != last)
          {
            last = n;
            steady_since = g_get_monotonic_time ();
          }
        else if (g_get_monotonic_time () - steady_since >= G_USEC_PER_SEC)
          break;
        g_usleep (100000);
      }
  }
  for (guint i = 0; i < G_N_ELEMENTS (held); i++)
    close (held[i]);
  t0 = g_get_monotonic_time ();
  while (!served && g_get_monotonic_time () - t0 < 15 * G_USEC_PER_SEC)
    {
      int fd = raw_connect (server, 5);
      g_autofree char *answer = NULL;
      raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      answer = raw_read_response (fd);
      close (fd);
      served = g_str_has_prefix (answer, "HTTP/1.1 200");
    }
  g_test_message ("served again %.1f s after the connections closed", (g_get_monotonic_time () - t0) / 1e6);
  g_assert_true (served);
  g_assert_true (log_contains (server, "accepting again"));
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* An idle keep-alive connection is closed by the server after keepalive_timeout_s; one that
 * sends its next request in time is served. */
static void
test_idle_keepalive_closed (void)
{
  LmdTestServer *server = start_server (PLUGINS "[server]\nkeepalive_timeout_s=1\n", NULL);
  /* each read waits at most this long: a daemon under valgrind takes more than 1 s to answer */
  int fd = raw_connect (server, lmd_test_slow_build () ? 10 : 1);
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  double closed_after;

  raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  first = raw_read_response (fd);
  g_assert_true (g_str_has_prefix (first, "HTTP/1.1 200"));
  raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  second = raw_read_response (fd);
  g_assert_true (g_str_has_prefix (second, "HTTP/1.1 200"));
  closed_after = seconds_until_closed (fd, 10);
  g_test_message ("idle keep-alive connection closed after %.2f s", closed_after);
  g_assert_cmpfloat (closed_after, >=, 0.5);
  g_assert_cmpfloat (closed_after, <=, lmd_test_slow_build () ? 8.0 : 4.0);
  close (fd);
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* A client sending its headers one byte every 200 ms is answered 408 and cut at
 * header_timeout_s (libsoup alone kept it as long as each byte came within
 * client_timeout_s); so is one that connects and sends nothing. */
static void
test_slow_headers_cut (void)
{
  LmdTestServer *server = start_server (PLUGINS "[server]\nheader_timeout_s=1\n", NULL);
  const char *request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
  int fd = raw_connect (server, 0.2);
  gint64 t0 = g_get_monotonic_time ();
  g_autofree char *answer = NULL;
  gboolean cut = FALSE;
  double elapsed;

  /* 80 bytes at 5 a second would take 16 s */
  for (const char *p = request; *p != '\0' && !cut; p++)
    {
      char buffer[512];
      gssize n;
      if (send (fd, p, 1, MSG_NOSIGNAL) != 1)
        break;
      n = recv (fd, buffer, sizeof buffer - 1, 0);
      if (n > 0)
        {
          buffer[n] = '\0';
          answer = g_strdup (buffer);
          cut = TRUE;
        }
      else if (n == 0)
        cut = TRUE;
    }
  elapsed = (g_get_monotonic_time () - t0) / 1e6;
  g_test_message ("slow headers cut after %.2f s", elapsed);
  g_assert_true (cut);
  g_assert_nonnull (answer);
  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 408"));
  g_assert_nonnull (strstr (answer, "\"code\":\"TIMEOUT\""));
  g_assert_cmpfloat (elapsed, <, lmd_test_slow_build () ? 10.0 : 5.0);
  close (fd);

  /* a connection that sends nothing */
  fd = raw_connect (server, 10);
  answer = (g_free (answer), raw_read_response (fd));
  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 408"));
  close (fd);
  g_assert_true (log_contains (server, "header_timeout_s"));
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* Three connections open from 127.0.0.1: a fourth gets 503 before its request is read, the
 * log says which limit; once they close, a new one is served.  The same for the
 * per-process limit. */
static void
check_cap (const char *config, const char *limit_name, const char *metric_line)
{
  LmdTestServer *server = start_server (config, NULL);
  int held[3];
  int fd;
  g_autofree char *answer = NULL;
  gboolean served = FALSE;
  gint64 t0;

  for (guint i = 0; i < G_N_ELEMENTS (held); i++)
    held[i] = raw_connect (server, 10);
  /* the three are tracked once the server has seen them */
  g_usleep (300000);
  fd = raw_connect (server, 10);
  raw_send (fd, "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nRIFF");
  answer = raw_read_response (fd);
  g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 503"));
  g_assert_nonnull (strstr (answer, "\"code\":\"SERVICE_UNAVAILABLE\""));
  g_assert_nonnull (strstr (answer, "Connection: close"));
  g_assert_cmpfloat (seconds_until_closed (fd, 10), >=, 0);
  close (fd);
  g_assert_true (log_contains (server, limit_name));
  g_assert_true (log_contains (server, "refused with 503"));

  for (guint i = 0; i < G_N_ELEMENTS (held); i++)
    close (held[i]);
  t0 = g_get_monotonic_time ();
  while (!served && g_get_monotonic_time () - t0 < 10 * G_USEC_PER_SEC)
    {
      g_autofree char *again = NULL;
      fd = raw_connect (server, 10);
      raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      again = raw_read_response (fd);
      close (fd);
      served = g_str_has_prefix (again, "HTTP/1.1 200");
      if (!served)
        g_usleep (100000);
    }
  g_assert_true (served);
  /* the refusal is counted */
  {
    g_autofree char *metrics = NULL;
    fd = raw_connect (server, 10);
    raw_send (fd, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    metrics = raw_read_response (fd);
    close (fd);
    const char *line = strstr (metrics, metric_line);
    g_assert_nonnull (line);
    /* the one above, and any the loop above met while the held ones were being closed */
    g_assert_cmpuint (g_ascii_strtoull (line + strlen (metric_line), NULL, 10), >=, 1);
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

static void
test_per_client_cap (void)
{
  check_cap (PLUGINS "[server]\nmax_connections_per_client=3\n", "max_connections_per_client",
             "asr_http_connections_refused_total{limit=\"max_connections_per_client\"} ");
}

static void
test_per_process_cap (void)
{
  check_cap (PLUGINS "[server]\nmax_connections=3\n", "max_connections)",
             "asr_http_connections_refused_total{limit=\"max_connections\"} ");
}

/* 200 connections while the daemon is stopped: each completes its handshake in the listen
 * backlog (libsoup's own is 10: the rest waited for SYN retransmissions), and once it runs
 * again every one gets an HTTP answer, none a reset. */
static void
test_backlog_burst (void)
{
  LmdTestServer *server = start_server (PLUGINS, NULL);
  GPid pid = lmd_test_server_get_pid (server);
  int fds[200];
  struct pollfd pfds[200];
  struct sockaddr_in addr = { 0 };
  guint connected = 0, ok = 0, busy = 0;
  gint64 t0;

  addr.sin_family = AF_INET;
  addr.sin_port = htons ((guint16) lmd_test_server_get_port (server));
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert_cmpint (kill (pid, SIGSTOP), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      fds[i] = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      g_assert_cmpint (fds[i], >=, 0);
      if (connect (fds[i], (struct sockaddr *) &addr, sizeof addr) != 0)
        g_assert_cmpint (errno, ==, EINPROGRESS);
      pfds[i].fd = fds[i];
      pfds[i].events = POLLOUT;
    }
  /* a connection in the backlog is established; one left out waits for a SYN retransmission */
  t0 = g_get_monotonic_time ();
  while (connected < G_N_ELEMENTS (fds) && g_get_monotonic_time () - t0 < 500000)
    {
      connected = 0;
      poll (pfds, G_N_ELEMENTS (pfds), 50);
      for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
        connected += (pfds[i].revents & POLLOUT) != 0;
    }
  g_test_message ("%u of 200 connections established while the server was stopped", connected);
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      int flags = 0;
      struct timeval tv = { 30, 0 };
      /* back to blocking for the exchange */
      ioctl (fds[i], FIONBIO, &flags);
      setsockopt (fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
  g_assert_cmpint (kill (pid, SIGCONT), ==, 0);
  g_assert_cmpuint (connected, ==, G_N_ELEMENTS (fds));
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      struct pollfd out = { fds[i], POLLOUT, 0 };
      poll (&out, 1, 10000);
      raw_send (fds[i], "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    }
  for (guint i = 0; i < G_N_ELEMENTS (fds); i++)
    {
      g_autofree char *answer = raw_read_response (fds[i]);
      ok += g_str_has_prefix (answer, "HTTP/1.1 200");
      busy += g_str_has_prefix (answer, "HTTP/1.1 503");
      close (fds[i]);
    }
  g_test_message ("200 connections: %u answered 200, %u answered 503", ok, busy);
  g_assert_cmpuint (ok + busy, ==, G_N_ELEMENTS (fds));
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

/* RFC 9112 §6.3: a Content-Length that is not one non-negative decimal number is answered
 * 400 and the connection closed, without waiting for a body. */
static void
test_bad_content_length (void)
{
  LmdTestServer *server = start_server (PLUGINS, NULL);
  static const char *const requests[] = {
    "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nContent-Length: 9\r\n\r\nRIFF",
    "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\nRIFF",
    "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 18446744073709551617\r\n\r\nRIFF",
    "POST /v1/listen HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4, 9\r\n\r\nRIFF",
  };

  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      int fd = raw_connect (server, 5);
      g_autofree char *answer = NULL;
      raw_send (fd, requests[i]);
      answer = raw_read_response (fd);
      g_test_message ("request %u: %.12s", i, answer);
      g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 400"));
      g_assert_nonnull (strstr (answer, "Content-Length"));
      if (i < 3)
        {
          /* ours (libsoup itself refuses what is not a number list, with an empty 400) */
          g_assert_nonnull (strstr (answer, "\"code\":\"INVALID_PARAMETER\""));
          g_assert_nonnull (strstr (answer, "\"param\":\"Content-Length\""));
          g_assert_nonnull (strstr (answer, "X-Request-ID: req_"));
        }
      g_assert_cmpfloat (seconds_until_closed (fd, 5), >=, 0);
      close (fd);
    }
  g_assert_true (log_contains (server, "Content-Length"));
  /* the server serves everyone else */
  {
    int fd = raw_connect (server, 5);
    g_autofree char *answer = NULL;
    raw_send (fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    answer = raw_read_response (fd);
    g_assert_true (g_str_has_prefix (answer, "HTTP/1.1 200"));
    close (fd);
  }
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/connections/closed-keepalive-released", test_closed_keepalive_released);
  g_test_add_func ("/connections/accepting-after-exhaustion", test_accepting_after_exhaustion);
  g_test_add_func ("/connections/idle-keepalive-closed", test_idle_keepalive_closed);
  g_test_add_func ("/connections/slow-headers-cut", test_slow_headers_cut);
  g_test_add_func ("/connections/per-client-cap", test_per_client_cap);
  g_test_add_func ("/connections/per-process-cap", test_per_process_cap);
  g_test_add_func ("/connections/backlog-burst", test_backlog_burst);
  g_test_add_func ("/connections/bad-content-length", test_bad_content_length);
  return g_test_run ();
}
