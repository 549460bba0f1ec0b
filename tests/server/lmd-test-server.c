/* SPDX-License-Identifier: MIT */
#include "lmd-test-server.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct _LmdTestServer {
  GSubprocess *process;
  char *dir;      /* temp dir: config, port file, log */
  char *log_path;
  guint port;
};

const char *
lmd_test_daemon_path (void)
{
  static char *path = NULL;

  if (path == NULL)
    {
      const char *build = g_getenv ("LMD_BUILD_DIR");
      path = g_build_filename (build != NULL ? build : ".", "server", "lightning-mediad", NULL);
    }
  return path;
}

/* The logs of the daemons running now.  A failed assertion aborts the test program, and the
 * daemons' logs (in their temporary folders) would go unseen: on SIGABRT they are copied to
 * stderr first.  Set and cleared on the main thread, read by the signal handler only. */
#define MAX_LIVE_LOGS 64
static char *live_logs[MAX_LIVE_LOGS];

static void
write_all_stderr (const char *text, gsize len)
{
  while (len > 0)
    {
      gssize n = write (STDERR_FILENO, text, len);
      if (n <= 0)
        return;
      text += n;
      len -= (gsize) n;
    }
}

/* async-signal-safe: open, read, write, signal, raise */
static void
on_abort (int signum)
{
  static const char head[] = "\n--- the log of a daemon still running when the test aborted: ";
  char buffer[4096];

  for (guint i = 0; i < MAX_LIVE_LOGS; i++)
    {
      const char *path = live_logs[i];
      int fd;
      gssize n;

      if (path == NULL || (fd = open (path, O_RDONLY)) < 0)
        continue;
      write_all_stderr (head, sizeof head - 1);
      write_all_stderr (path, strlen (path));
      write_all_stderr (" ---\n", 5);
      while ((n = read (fd, buffer, sizeof buffer)) > 0)
        write_all_stderr (buffer, (gsize) n);
      close (fd);
    }
  signal (signum, SIG_DFL);
  raise (signum);
}

static void
live_log_add (const char *path)
{
  static gboolean installed = FALSE;

  if (!installed)
    {
      signal (SIGABRT, on_abort);
      installed = TRUE;
    }
  for (guint i = 0; i < MAX_LIVE_LOGS; i++)
    if (live_logs[i] == NULL)
      {
        live_logs[i] = g_strdup (path);
        return;
      }
}

static void
live_log_remove (const char *path)
{
  for (guint i = 0; i < MAX_LIVE_LOGS; i++)
    if (live_logs[i] != NULL && g_str_equal (live_logs[i], path))
      {
        char *gone = live_logs[i];
        live_logs[i] = NULL;
        g_free (gone);
        return;
      }
}

static void
test_server_free (LmdTestServer *self)
{
  if (self->log_path != NULL)
    live_log_remove (self->log_path);
  g_clear_object (&self->process);
  if (self->dir != NULL)
    {
      g_autoptr (GDir) dir = g_dir_open (self->dir, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *p = g_build_filename (self->dir, name, NULL);
          g_unlink (p);
        }
      g_rmdir (self->dir);
    }
  g_free (self->dir);
  g_free (self->log_path);
  g_free (self);
}

/* A daemon never outlives the test that started it, even when the test aborts. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

LmdTestServer *
lmd_test_server_start (const char *config_text, const char *const *extra_args, GError **error)
{
  LmdTestServer *self = g_new0 (LmdTestServer, 1);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *port_path = NULL;
  gint64 deadline;

  self->dir = g_dir_make_tmp ("lmd-test-XXXXXX", error);
  if (self->dir == NULL)
    {
      test_server_free (self);
      return NULL;
    }
  port_path = g_build_filename (self->dir, "port", NULL);
  self->log_path = g_build_filename (self->dir, "daemon.log", NULL);

  /* LMD_TEST_DAEMON_WRAPPER runs the daemon under a tool, e.g. valgrind (make valgrind) */
  if (g_getenv ("LMD_TEST_DAEMON_WRAPPER") != NULL && g_getenv ("LMD_TEST_DAEMON_WRAPPER")[0] != '\0')
    {
      g_auto (GStrv) wrapper = NULL;
      if (!g_shell_parse_argv (g_getenv ("LMD_TEST_DAEMON_WRAPPER"), NULL, &wrapper, error))
        {
          test_server_free (self);
          return NULL;
        }
      for (guint i = 0; wrapper[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (wrapper[i]));
    }
  g_ptr_array_add (argv, g_strdup (lmd_test_daemon_path ()));
  if (config_text != NULL)
    {
      g_autofree char *config_path = g_build_filename (self->dir, "test.conf", NULL);
      if (!g_file_set_contents (config_path, config_text, -1, error))
        {
          test_server_free (self);
          return NULL;
        }
      g_ptr_array_add (argv, g_strdup ("--config"));
      g_ptr_array_add (argv, g_strdup (config_path));
    }
  g_ptr_array_add (argv, g_strdup ("--port=0"));
  g_ptr_array_add (argv, g_strdup_printf ("--port-file=%s", port_path));
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra_args[i]));
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_set_stderr_file_path (launcher, self->log_path);
  g_subprocess_launcher_set_stdout_file_path (launcher, self->log_path);
  /* never inherit a port from the environment */
  g_subprocess_launcher_unsetenv (launcher, "API_SERVER_PORT");
  g_subprocess_launcher_unsetenv (launcher, "PORT");
  self->process = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (self->process == NULL)
    {
      test_server_free (self);
      return NULL;
    }

  deadline = g_get_monotonic_time () + 300 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (port_path, &text, NULL, NULL) && text[0] != '\0')
        {
          self->port = (guint) g_ascii_strtoull (text, NULL, 10);
          live_log_add (self->log_path);
          return self;
        }
      if (g_subprocess_get_identifier (self->process) == NULL)
        break;
      /* a process that exited is reaped by the GLib worker; poll its state */
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20000);
    }
  {
    g_autofree char *log = lmd_test_server_read_log (self);
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the daemon did not start listening:\n%s", log);
  }
  g_subprocess_force_exit (self->process);
  g_subprocess_wait (self->process, NULL, NULL);
  test_server_free (self);
  return NULL;
}

void
lmd_test_server_signal (LmdTestServer *self, int signum)
{
  g_subprocess_send_signal (self->process, signum);
}

int
lmd_test_server_wait (LmdTestServer *self, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      if (g_subprocess_get_identifier (self->process) == NULL)
        {
          g_subprocess_wait (self->process, NULL, NULL);
          if (g_subprocess_get_if_exited (self->process))
            return g_subprocess_get_exit_status (self->process);
          return -g_subprocess_get_term_sig (self->process);
        }
      g_main_context_iteration (NULL, FALSE);
      g_usleep (20000);
    }
  return G_MININT;
}

int
lmd_test_server_stop (LmdTestServer *self)
{
  int status;

  g_subprocess_send_signal (self->process, SIGTERM);
  status = lmd_test_server_wait (self, 300);
  if (status == G_MININT)
    {
      g_subprocess_force_exit (self->process);
      g_subprocess_wait (self->process, NULL, NULL);
    }
  else if (status > 0)
    {
      /* a failed exit (or the error exit of a wrapper such as valgrind): the log says why, and
       * it goes with the temporary folder */
      g_autofree char *log = lmd_test_server_read_log (self);
      g_printerr ("the daemon exited with status %d; its log:\n%s\n", status, log);
    }
  test_server_free (self);
  return status;
}

guint
lmd_test_server_get_port (LmdTestServer *self)
{
  return self->port;
}

GPid
lmd_test_server_get_pid (LmdTestServer *self)
{
  const char *id = g_subprocess_get_identifier (self->process);
  return id != NULL ? (GPid) g_ascii_strtoll (id, NULL, 10) : 0;
}

char *
lmd_test_server_url (LmdTestServer *self, const char *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", self->port, path);
}

char *
lmd_test_server_read_log (LmdTestServer *self)
{
  char *text = NULL;

  if (!g_file_get_contents (self->log_path, &text, NULL, NULL))
    return g_strdup ("");
  return text;
}

static void
communicate_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

gboolean
lmd_test_slow_build (void)
{
#ifdef __SANITIZE_ADDRESS__
  return TRUE;
#else
  const char *wrapper = g_getenv ("LMD_TEST_DAEMON_WRAPPER");
  return wrapper != NULL && wrapper[0] != '\0';
#endif
}

gboolean
lmd_test_under_valgrind (void)
{
  const char *wrapper = g_getenv ("LMD_TEST_DAEMON_WRAPPER");

  return wrapper != NULL && strstr (wrapper, "valgrind") != NULL;
}

guint
lmd_test_timeout_s (guint seconds)
{
  return lmd_test_under_valgrind () ? seconds * 10 : seconds;
}

gboolean
lmd_test_skip_under_valgrind (const char *why)
{
  g_autofree char *message = NULL;

  if (!lmd_test_under_valgrind ())
    return FALSE;
  message = g_strdup_printf ("not under valgrind: %s", why);
  g_test_skip (message);
  return TRUE;
}

int
lmd_test_daemon_run (const char *const *argv, char **output, guint timeout_s)
{
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;

  g_ptr_array_add (full, (gpointer) lmd_test_daemon_path ());
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (full, (gpointer) argv[i]);
  g_ptr_array_add (full, NULL);
  process = g_subprocess_newv ((const char *const *) full->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  {
    /* bounded: a daemon that should have refused to start but serves is killed, and the
     * caller sees G_MININT instead of waiting for ever */
    g_autoptr (GMainContext) context = g_main_context_new ();
    gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
    GAsyncResult *result = NULL;
    gboolean killed = FALSE;

    g_main_context_push_thread_default (context);
    g_subprocess_communicate_utf8_async (process, NULL, NULL, communicate_done, &result);
    while (result == NULL)
      {
        if (!killed && g_get_monotonic_time () > deadline)
          {
            g_subprocess_force_exit (process);
            killed = TRUE;
          }
        if (!g_main_context_iteration (context, FALSE))
          g_usleep (10000);
      }
    g_subprocess_communicate_utf8_finish (process, result, &out, NULL, &error);
    g_object_unref (result);
    g_main_context_pop_thread_default (context);
    g_assert_no_error (error);
    if (output != NULL)
      *output = g_steal_pointer (&out);
    if (killed)
      return G_MININT;
  }
  if (g_subprocess_get_if_exited (process))
    return g_subprocess_get_exit_status (process);
  return -g_subprocess_get_term_sig (process);
}

int
lmd_test_daemon_run_config (const char *config, char **output, guint timeout_s)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("lmd-config-XXXXXX", &error);
  g_autofree char *path = NULL;
  const char *argv[] = { "--config", NULL, "--port=0", NULL };
  int status;

  g_assert_no_error (error);
  path = g_build_filename (dir, "lightning-mediad.conf", NULL);
  g_assert_true (g_file_set_contents (path, config, -1, NULL));
  argv[1] = path;
  status = lmd_test_daemon_run (argv, output, timeout_s);
  g_unlink (path);
  g_rmdir (dir);
  return status;
}

char *
lmd_test_server_get_metrics (LmdTestServer *self, SoupSession *session)
{
  g_autofree char *url = lmd_test_server_url (self, "/metrics");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_cmpuint (r->status, ==, 200);
  return g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
}

double
lmd_test_metric_value (const char *text, const char *name, double absent)
{
  g_autofree char *needle = g_strdup_printf ("\n%s ", name);
  const char *at = strstr (text, needle);

  return at != NULL ? g_ascii_strtod (at + strlen (needle), NULL) : absent;
}

double
lmd_test_server_metric (LmdTestServer *self, SoupSession *session, const char *name)
{
  g_autofree char *text = lmd_test_server_get_metrics (self, session);
  g_autofree char *needle = g_strdup_printf ("\n%s ", name);

  g_assert_nonnull (strstr (text, needle));
  return lmd_test_metric_value (text, name, 0.0);
}

void
lmd_test_response_free (LmdTestResponse *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->body, g_bytes_unref);
  g_clear_pointer (&self->headers, soup_message_headers_unref);
  g_clear_error (&self->error);
  g_free (self);
}

LmdTestResponse *
lmd_test_http (SoupSession *session, const char *method, const char *url, const char *content_type,
               GBytes *body, ...)
{
  LmdTestResponse *r = g_new0 (LmdTestResponse, 1);
  g_autoptr (SoupMessage) msg = soup_message_new (method, url);
  va_list args;
  const char *name;

  g_assert_nonnull (msg);
  if (body != NULL)
    soup_message_set_request_body_from_bytes (msg, content_type, body);
  va_start (args, body);
  while ((name = va_arg (args, const char *)) != NULL)
    {
      const char *value = va_arg (args, const char *);
      soup_message_headers_replace (soup_message_get_request_headers (msg), name, value);
    }
  va_end (args);
  r->body = soup_session_send_and_read (session, msg, NULL, &r->error);
  r->status = r->error == NULL ? soup_message_get_status (msg) : 0;
  r->headers = soup_message_headers_ref (soup_message_get_response_headers (msg));
  if (r->body == NULL)
    r->body = g_bytes_new (NULL, 0);
  return r;
}

JsonObject *
lmd_test_response_json (LmdTestResponse *self)
{
  static GPtrArray *keep = NULL; /* parsers live until exit: tests read the objects freely */
  JsonParser *parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (self->body, &len);
  JsonNode *root;

  if (keep == NULL)
    keep = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (keep, parser);
  json_parser_load_from_data (parser, data != NULL ? data : "", (gssize) len, &error);
  if (error != NULL)
    g_error ("response (status %u) is not JSON: %s: %.*s", self->status, error->message, (int) MIN (len, 500), data);
  root = json_parser_get_root (parser);
  g_assert_true (root != NULL && JSON_NODE_HOLDS_OBJECT (root));
  return json_node_get_object (root);
}
