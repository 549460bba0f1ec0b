/* SPDX-License-Identifier: MIT */
/*
 * test-http-listener.c — how many waiting connections the http listener
 * (plugins/http/lmd-http-listener.c) hands to libsoup per turn of the main loop, counted
 * rather than timed: the listener runs in this process on 127.0.0.1 with a main context of
 * its own, three hundred client connections wait in its backlog (the kernel's accept queue,
 * read from the listening socket's TCP_INFO), and one non-blocking iteration of the context
 * must hand at least 256 of them (the listener's batch) to the SoupServer, the connection
 * tracker's count.  libsoup 3.2's own listener took one per turn, each turn costing time in
 * proportion to the connections already open: a burst of 2,000 held /health for seconds.
 * Then every connection sends a request and gets its 200.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "lmd-http-listener.h"

#define CLIENTS 300
/* the listener's ACCEPT_BATCH */
#define BATCH 256

static const char request[] = "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

static void
on_ping (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
         gpointer user_data)
{
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "pong", 4);
}

/* The connections waiting in @listening's accept queue (Linux reports them in tcpi_unacked
 * for a listening socket). */
static guint
backlog_length (GSocket *listening)
{
  struct tcp_info info = { 0 };
  socklen_t len = sizeof info;

  g_assert_cmpint (getsockopt (g_socket_get_fd (listening), IPPROTO_TCP, TCP_INFO, &info, &len), ==, 0);
  return info.tcpi_unacked;
}

/* A blocking connect to 127.0.0.1:@port; the kernel completes it without the server's
 * accept(). */
static int
connect_client (guint port)
{
  struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons (port),
                                 .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &address, sizeof address), ==, 0);
  return fd;
}

static void
test_accept_batch (void)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GInetAddress) address = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  /* no per-client limit: every connection comes from 127.0.0.1 */
  LmdHttpConnectionLimits limits = { .header_timeout_s = 30, .keepalive_timeout_s = 15,
                                     .max_connections = 4 * CLIENTS, .max_connections_per_client = 0,
                                     .body_timeout_s = 60, .body_min_rate_bytes = 1000 };
  g_autoptr (GError) error = NULL;
  SoupServer *server;
  LmdHttpConnectionTracker *tracker;
  GSList *listeners;
  GSocket *listening;
  guint port = 0, waiting = 0, after_one, after_two, answered = 0, turns = 0;
  int fds[CLIENTS];
  GString *answers[CLIENTS];
  gint64 deadline;

  g_main_context_push_thread_default (context);
  server = lmd_http_listener_new_server ();
  soup_server_add_handler (server, "/ping", on_ping, NULL, NULL);
  g_assert_true (lmd_http_listener_listen (&server, address, "127.0.0.1", 0, &limits, &port, &error));
  g_assert_no_error (error);
  tracker = lmd_http_listener_get_connections (server);
  listeners = soup_server_get_listeners (server);
  g_assert_cmpuint (g_slist_length (listeners), ==, 1);
  listening = listeners->data;
  g_slist_free (listeners);

  for (guint i = 0; i < CLIENTS; i++)
    {
      fds[i] = connect_client (port);
      answers[i] = g_string_new (NULL);
    }
  /* every connection in the accept queue before the first turn (bounded: 5 s) */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while ((waiting = backlog_length (listening)) < CLIENTS && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_cmpuint (waiting, ==, CLIENTS);
  g_assert_cmpuint (lmd_http_connection_tracker_get_count (tracker), ==, 0);

  /* one turn: a batch handed to libsoup, the rest left waiting for the next turn */
  g_main_context_iteration (context, FALSE);
  after_one = lmd_http_connection_tracker_get_count (tracker);
  g_main_context_iteration (context, FALSE);
  after_two = lmd_http_connection_tracker_get_count (tracker);
  g_test_message ("%u connections waiting: %u handed to libsoup after one turn of the main loop, "
                  "%u after two; %u left in the backlog", CLIENTS, after_one, after_two,
                  backlog_length (listening));
  g_assert_cmpuint (after_one, >=, MIN (CLIENTS, BATCH));
  /* at most the batch, and the one connection libsoup's own listener on the same socket may
   * take in the same turn */
  g_assert_cmpuint (after_one, <=, BATCH + 1);
  g_assert_cmpuint (after_two, ==, CLIENTS);
  g_assert_cmpuint (backlog_length (listening), ==, 0);

  /* every connection answered (bounded: 30 s, a guard against a hang, not a figure) */
  for (guint i = 0; i < CLIENTS; i++)
    {
      g_assert_cmpint (write (fds[i], request, sizeof request - 1), ==, sizeof request - 1);
      g_assert_true (g_unix_set_fd_nonblocking (fds[i], TRUE, NULL));
    }
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (answered < CLIENTS && g_get_monotonic_time () < deadline)
    {
      g_main_context_iteration (context, FALSE);
      turns++;
      answered = 0;
      for (guint i = 0; i < CLIENTS; i++)
        {
          char buffer[512];
          ssize_t n;

          while (fds[i] >= 0 && (n = recv (fds[i], buffer, sizeof buffer, 0)) > 0)
            g_string_append_len (answers[i], buffer, n);
          if (fds[i] >= 0 && (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)))
            {
              close (fds[i]);
              fds[i] = -1;
            }
          answered += fds[i] < 0;
        }
      if (answered < CLIENTS)
        g_usleep (1000);
    }
  g_test_message ("%u of %u connections answered and closed in %u turns", answered, CLIENTS, turns);
  g_assert_cmpuint (answered, ==, CLIENTS);
  for (guint i = 0; i < CLIENTS; i++)
    {
      g_assert_true (g_str_has_prefix (answers[i]->str, "HTTP/1.1 200 OK\r\n"));
      g_assert_true (g_str_has_suffix (answers[i]->str, "\r\n\r\npong"));
      g_string_free (answers[i], TRUE);
    }

  lmd_http_listener_clear (&server);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/listener/accept-batch", test_accept_batch);
  return g_test_run ();
}
