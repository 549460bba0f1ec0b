/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-state"

#include "lmd-static-state.h"

#include <string.h>

#include "lmd-config.h"

typedef struct {
  char *url;         /* owned, no trailing slash */
  char *host;        /* owned */
  guint16 port;
  gboolean alive;    /* last probe succeeded (TRUE until the first probe says otherwise) */
  gboolean probing;
} StaticWorker;

struct _LmdStaticState {
  GObject parent_instance;

  GPtrArray *workers;        /* owned, StaticWorker */
  guint probe_interval_ms;
  guint probe_id;
  GSocketClient *client;     /* owned */
  GCancellable *cancellable; /* owned: cancelled at finalize */
};

static void lmd_static_state_iface_init (LmdStateInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdStaticState, lmd_static_state, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_STATE, lmd_static_state_iface_init))

static void
static_worker_free (StaticWorker *w)
{
  g_free (w->url);
  g_free (w->host);
  g_free (w);
}

static gboolean
static_setup (LmdState *state, GKeyFile *config, GError **error)
{
  LmdStaticState *self = LMD_STATIC_STATE (state);
  g_auto (GStrv) urls = lmd_config_get_list (config, "api", "asr_base_url");
  gint64 interval;

  if (!lmd_config_get_int (config, "api", "probe_interval_ms", 2000, &interval, error))
    return FALSE;
  self->probe_interval_ms = (guint) CLAMP (interval, 100, 600000);
  for (guint i = 0; urls[i] != NULL; i++)
    {
      g_autofree char *trimmed = g_strstrip (g_strdup (urls[i]));
      g_autoptr (GUri) uri = NULL;
      StaticWorker *w;
      gsize len;

      if (trimmed[0] == '\0')
        continue;
      uri = g_uri_parse (trimmed, G_URI_FLAGS_NONE, NULL);
      if (uri == NULL || g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0' ||
          (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0 && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [api] asr_base_url: '%s' is not an http(s) URL", trimmed);
          return FALSE;
        }
      w = g_new0 (StaticWorker, 1);
      len = strlen (trimmed);
      while (len > 0 && trimmed[len - 1] == '/')
        trimmed[--len] = '\0';
      w->url = g_strdup (trimmed);
      w->host = g_strdup (g_uri_get_host (uri));
      w->port = g_uri_get_port (uri) > 0 ? (guint16) g_uri_get_port (uri)
                : g_str_equal (g_uri_get_scheme (uri), "https") ? 443 : 80;
      w->alive = TRUE;
      g_ptr_array_add (self->workers, w);
    }
  return TRUE;
}

/* A probe in flight holds no reference: disposing the state cancels it, and a cancelled
 * probe touches nothing but itself. */
typedef struct {
  LmdStaticState *self; /* borrowed */
  StaticWorker *worker; /* borrowed: workers live as long as self */
} Probe;

static void
probe_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Probe *probe = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source),
                                                                               result, &error);
  gboolean alive = conn != NULL;

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      if (alive != probe->worker->alive)
        {
          if (alive)
            g_info ("worker %s answers again", probe->worker->url);
          else
            g_warning ("worker %s does not answer: %s", probe->worker->url, error->message);
        }
      probe->worker->alive = alive;
      probe->worker->probing = FALSE;
    }
  if (conn != NULL)
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
  g_free (probe);
}

static gboolean
probe_all (gpointer data)
{
  LmdStaticState *self = data;

  for (guint i = 0; i < self->workers->len; i++)
    {
      StaticWorker *w = self->workers->pdata[i];
      Probe *probe;

      if (w->probing)
        continue;
      w->probing = TRUE;
      probe = g_new0 (Probe, 1);
      probe->self = self;
      probe->worker = w;
      g_socket_client_connect_to_host_async (self->client, w->host, w->port, self->cancellable,
                                             probe_done, probe);
    }
  return G_SOURCE_CONTINUE;
}

static void
static_start (LmdState *state)
{
  LmdStaticState *self = LMD_STATIC_STATE (state);

  if (self->probe_id != 0 || self->workers->len == 0)
    return;
  probe_all (self);
  self->probe_id = g_timeout_add (self->probe_interval_ms, probe_all, self);
}

static GPtrArray *
static_list_workers (LmdState *state)
{
  LmdStaticState *self = LMD_STATIC_STATE (state);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_worker_info_free);

  for (guint i = 0; i < self->workers->len; i++)
    {
      StaticWorker *w = self->workers->pdata[i];
      if (w->alive)
        g_ptr_array_add (out, lmd_worker_info_new (w->url));
    }
  return out;
}

static void
lmd_static_state_iface_init (LmdStateInterface *iface)
{
  iface->setup = static_setup;
  iface->start = static_start;
  iface->list_workers = static_list_workers;
}

static void
lmd_static_state_dispose (GObject *object)
{
  LmdStaticState *self = LMD_STATIC_STATE (object);

  g_clear_handle_id (&self->probe_id, g_source_remove);
  g_cancellable_cancel (self->cancellable);
  G_OBJECT_CLASS (lmd_static_state_parent_class)->dispose (object);
}

static void
lmd_static_state_finalize (GObject *object)
{
  LmdStaticState *self = LMD_STATIC_STATE (object);

  g_ptr_array_unref (self->workers);
  g_clear_object (&self->client);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (lmd_static_state_parent_class)->finalize (object);
}

static void
lmd_static_state_class_init (LmdStaticStateClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lmd_static_state_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_static_state_finalize;
}

static void
lmd_static_state_init (LmdStaticState *self)
{
  self->workers = g_ptr_array_new_with_free_func ((GDestroyNotify) static_worker_free);
  self->probe_interval_ms = 2000;
  self->client = g_socket_client_new ();
  g_socket_client_set_timeout (self->client, 2);
  self->cancellable = g_cancellable_new ();
}

LmdStaticState *
lmd_static_state_new (void)
{
  return g_object_new (LMD_TYPE_STATIC_STATE, NULL);
}
