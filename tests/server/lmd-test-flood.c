/* SPDX-License-Identifier: MIT */
#include "lmd-test-flood.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
client_free (LmdTestFloodClient *c)
{
  if (c->fd >= 0)
    close (c->fd);
  g_bytes_unref (c->request);
  g_string_free (c->answer, TRUE);
  g_free (c);
}

LmdTestFlood *
lmd_test_flood_new (guint port)
{
  LmdTestFlood *self = g_new0 (LmdTestFlood, 1);

  self->port = port;
  self->clients = g_ptr_array_new_with_free_func ((GDestroyNotify) client_free);
  self->probe_failures = g_array_new (FALSE, FALSE, sizeof (double));
  self->probe_timeout_s = 5;
  return self;
}

void
lmd_test_flood_free (LmdTestFlood *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->clients);
  g_array_unref (self->probe_failures);
  g_free (self);
}

static struct sockaddr_in
loopback (guint port)
{
  struct sockaddr_in addr = { 0 };

  addr.sin_family = AF_INET;
  addr.sin_port = htons ((guint16) port);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  return addr;
}

LmdTestFloodClient *
lmd_test_flood_add (LmdTestFlood *self, const void *request, gsize len, gsize head, guint interval_ms)
{
  LmdTestFloodClient *c = g_new0 (LmdTestFloodClient, 1);
  struct sockaddr_in addr = loopback (self->port);

  c->fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    g_error ("socket: %s", g_strerror (errno));
  if (connect (c->fd, (struct sockaddr *) &addr, sizeof addr) != 0 && errno != EINPROGRESS)
    g_error ("connect to 127.0.0.1:%u: %s", self->port, g_strerror (errno));
  c->request = g_bytes_new (request, len);
  c->head = MIN (head, len);
  c->interval_ms = interval_ms;
  c->started_us = g_get_monotonic_time ();
  c->next_send_us = c->started_us;
  c->answer = g_string_new (NULL);
  g_ptr_array_add (self->clients, c);
  return c;
}

/* Sends what is due; FALSE when the server closed the connection for writing. */
static gboolean
client_send (LmdTestFloodClient *c, gint64 now)
{
  gsize total = g_bytes_get_size (c->request);
  const guint8 *data = g_bytes_get_data (c->request, NULL);

  while (c->sent < total && now >= c->next_send_us)
    {
      gsize want;
      gssize n;
      if (c->sent < c->head)
        want = c->head - c->sent;
      else if (c->interval_ms == 0)
        want = total - c->sent;
      else
        want = 1;
      n = send (c->fd, data + c->sent, want, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ENOTCONN;
      c->sent += (gsize) n;
      if (c->sent >= c->head && c->interval_ms > 0)
        c->next_send_us = now + (gint64) c->interval_ms * 1000;
    }
  return TRUE;
}

/* One /health on a connection of its own, at most @timeout_s; the seconds it took, or -1. */
static double
probe_health (guint port, guint timeout_s)
{
  struct sockaddr_in addr = loopback (port);
  struct timeval tv = { timeout_s, 0 };
  static const char request[] = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  gint64 t0 = g_get_monotonic_time ();
  char buffer[512];
  gssize n;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  gboolean ok;

  if (fd < 0)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0 ||
      send (fd, request, sizeof request - 1, MSG_NOSIGNAL) != (gssize) sizeof request - 1)
    {
      close (fd);
      return -1;
    }
  n = recv (fd, buffer, sizeof buffer - 1, 0);
  close (fd);
  if (n <= 0)
    return -1;
  buffer[n] = '\0';
  ok = g_str_has_prefix (buffer, "HTTP/1.1 200");
  return ok ? (g_get_monotonic_time () - t0) / 1e6 : -1;
}

gboolean
lmd_test_flood_run (LmdTestFlood *self, double timeout_s, guint probe_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  gint64 next_probe = g_get_monotonic_time () + (gint64) probe_ms * 1000;
  g_autofree struct pollfd *pfds = g_new0 (struct pollfd, MAX (self->clients->len, 1));
  guint open;

  self->started_us = g_get_monotonic_time ();
  do
    {
      gint64 now = g_get_monotonic_time ();
      guint n = 0;

      open = 0;
      for (guint i = 0; i < self->clients->len; i++)
        {
          LmdTestFloodClient *c = self->clients->pdata[i];
          if (c->fd < 0)
            continue;
          open++;
          if (!client_send (c, now))
            {
              /* the server closed its reading side: what it answered may still be readable */
            }
          pfds[n].fd = c->fd;
          pfds[n].events = POLLIN | (c->sent < g_bytes_get_size (c->request) && c->interval_ms == 0 ? POLLOUT : 0);
          pfds[n].revents = 0;
          n++;
        }
      if (open == 0)
        break;
      poll (pfds, n, 20);
      now = g_get_monotonic_time ();
      for (guint i = 0, k = 0; i < self->clients->len; i++)
        {
          LmdTestFloodClient *c = self->clients->pdata[i];
          char buffer[4096];
          gssize got;
          if (c->fd < 0)
            continue;
          if ((pfds[k++].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
            continue;
          got = recv (c->fd, buffer, sizeof buffer, MSG_DONTWAIT);
          if (got > 0)
            {
              if (c->answered_us == 0)
                c->answered_us = now;
              g_string_append_len (c->answer, buffer, got);
              continue;
            }
          if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
          c->closed_us = now;
          close (c->fd);
          c->fd = -1;
        }
      if (probe_ms > 0 && now >= next_probe)
        {
          double at = (g_get_monotonic_time () - self->started_us) / 1e6;
          double took = probe_health (self->port, self->probe_timeout_s);
          self->probes++;
          if (took < 0)
            g_array_append_val (self->probe_failures, at);
          if (took >= 0)
            {
              self->probes_ok++;
              self->probe_max_s = MAX (self->probe_max_s, took);
            }
          next_probe = g_get_monotonic_time () + (gint64) probe_ms * 1000;
        }
    }
  while (g_get_monotonic_time () < deadline);
  return open == 0;
}

guint
lmd_test_flood_client_status (const LmdTestFloodClient *client)
{
  const char *a = client->answer->str;

  if (!g_str_has_prefix (a, "HTTP/1.") || client->answer->len < 12)
    return 0;
  return (guint) g_ascii_strtoull (a + 9, NULL, 10);
}

double
lmd_test_flood_client_closed_after (const LmdTestFloodClient *client)
{
  return client->closed_us == 0 ? -1 : (client->closed_us - client->started_us) / 1e6;
}

guint
lmd_test_count_descriptors (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd", (int) pid);
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

guint64
lmd_test_resident_bytes (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents (path, &text, NULL, NULL) || (line = strstr (text, "VmRSS:")) == NULL)
    return 0;
  return g_ascii_strtoull (line + 6, NULL, 10) * 1024;
}
