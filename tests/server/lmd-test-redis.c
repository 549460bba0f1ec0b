/* SPDX-License-Identifier: MIT */
#include "lmd-test-redis.h"

#include <signal.h>
#include <sys/prctl.h>

guint
lmd_test_free_port (void)
{
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_socket_bind (socket, any, TRUE, &error) ||
      (bound = g_socket_get_local_address (socket, &error)) == NULL)
    g_error ("no free loopback port: %s", error->message);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static gboolean
port_answers (guint port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) port,
                                                                        NULL, NULL);
  return conn != NULL;
}

GSubprocess *
lmd_test_redis_start (guint port, const char *log_dir)
{
  g_autofree char *path = g_find_program_in_path ("redis-server");
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GError) error = NULL;
  GSubprocess *redis;
  gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  if (path == NULL)
    return NULL;
  if (log_dir != NULL)
    {
      g_autofree char *log = g_build_filename (log_dir, "redis.log", NULL);
      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
      g_subprocess_launcher_set_cwd (launcher, log_dir);
      g_subprocess_launcher_set_stdout_file_path (launcher, log);
      g_subprocess_launcher_set_stderr_file_path (launcher, log);
    }
  else
    {
      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
      g_subprocess_launcher_set_cwd (launcher, g_get_tmp_dir ());
    }
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  redis = g_subprocess_launcher_spawn (launcher, &error, path, "--port", port_text, "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", NULL);
  if (redis == NULL)
    g_error ("cannot start redis-server: %s", error->message);
  while (!port_answers (port))
    {
      if (g_get_monotonic_time () >= deadline)
        g_error ("redis-server did not start on port %u", port);
      g_usleep (20000);
    }
  return redis;
}

void
lmd_test_redis_stop (GSubprocess *redis)
{
  g_subprocess_force_exit (redis);
  g_subprocess_wait (redis, NULL, NULL);
  g_object_unref (redis);
}
