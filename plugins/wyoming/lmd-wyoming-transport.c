/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-wyoming"

#include "lmd-wyoming-transport.h"

#include "lmd-log.h"
#include "lmd-plugin.h"
#include "lmd-router.h"
#include "lmd-transport.h"
#include "lmd-wyoming-config.h"
#include "lmd-wyoming-connection.h"
#include "lmd-wyoming-live.h"
#ifdef LMD_HAVE_AVAHI
#include "lmd-wyoming-zeroconf.h"
#endif

struct _LmdWyomingTransport {
  GObject parent_instance;

  LmdWyomingConfig config;     /* owned */
  LmdRouter *router;           /* borrowed from the daemon */
  GSocketService *service;     /* owned, nullable before start() */
  GThreadPool *live_pool;      /* owned, nullable: [wyoming] streaming off */
#ifdef LMD_HAVE_AVAHI
  LmdWyomingZeroconf *zeroconf; /* owned, nullable: [wyoming] zeroconf off */
#endif
  guint bound_port;
  GHashTable *connections;     /* owned: LmdWyomingConnection (owned ref) → itself */
  guint64 connections_total;
  guint64 refused_total;
};

static void lmd_wyoming_transport_iface_init (LmdTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdWyomingTransport, lmd_wyoming_transport, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_TRANSPORT, lmd_wyoming_transport_iface_init))

static void
on_connection_closed (LmdWyomingConnection *connection, gpointer user_data)
{
  LmdWyomingTransport *self = user_data;

  g_signal_handlers_disconnect_by_data (connection, self);
  g_hash_table_remove (self->connections, connection);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *socket_connection, GObject *source,
             gpointer user_data)
{
  LmdWyomingTransport *self = user_data;
  LmdWyomingConnection *connection = lmd_wyoming_connection_new (socket_connection, &self->config,
                                                                 self->router, self->live_pool);

  self->connections_total++;
  g_hash_table_add (self->connections, connection);
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), self);
  if (g_hash_table_size (self->connections) > self->config.max_connections)
    {
      g_autofree char *reason = g_strdup_printf ("the server is at its limit of %u Wyoming "
                                                 "connections; retry later",
                                                 self->config.max_connections);
      self->refused_total++;
      lmd_wyoming_connection_refuse (connection, reason);
    }
  else if (lmd_router_is_draining (self->router))
    lmd_wyoming_connection_refuse (connection, "the server is shutting down");
  else
    lmd_wyoming_connection_start (connection);
  return TRUE;
}

/* ---- LmdTransport ----------------------------------------------------------------------- */

static gboolean
wyoming_setup (LmdTransport *transport, GKeyFile *config, GError **error)
{
  LmdWyomingTransport *self = LMD_WYOMING_TRANSPORT (transport);

  return lmd_wyoming_config_load (&self->config, config, error);
}

static gboolean
wyoming_start (LmdTransport *transport, LmdRouter *router, GError **error)
{
  LmdWyomingTransport *self = LMD_WYOMING_TRANSPORT (transport);
  g_autoptr (GInetAddress) address = g_inet_address_new_from_string (self->config.host);
  g_autoptr (GSocketAddress) socket_address = NULL;
  g_autoptr (GSocketAddress) effective = NULL;

  if (address == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "config [wyoming] host: '%s' is not an IP address", self->config.host);
      return FALSE;
    }
  self->router = router;
  self->service = g_socket_service_new ();
  socket_address = g_inet_socket_address_new (address, (guint16) self->config.port);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), socket_address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &effective,
                                      error))
    {
      g_prefix_error (error, "cannot listen on %s:%u: ", self->config.host, self->config.port);
      g_clear_object (&self->service);
      return FALSE;
    }
  self->bound_port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  if (self->config.streaming)
    self->live_pool = g_thread_pool_new (lmd_wyoming_live_run, NULL,
                                         (int) MAX (lmd_router_get_limits (router)->workers, 1), FALSE, NULL);
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);
  g_socket_service_start (self->service);
  g_info ("listening on tcp://%s:%u%s", self->config.host, self->bound_port,
          self->config.streaming ? " (transcript streaming on)" : "");
  if (self->config.zeroconf)
    {
#ifdef LMD_HAVE_AVAHI
      g_autoptr (GError) local = NULL;
      self->zeroconf = lmd_wyoming_zeroconf_new (self->config.zeroconf_name, self->bound_port, &local);
      /* discovery is a convenience: the service runs without it */
      if (self->zeroconf == NULL)
        g_warning ("%s; the service is not announced", local->message);
#else
      g_warning ("zeroconf: this build has no Avahi (libavahi-client, libavahi-glib); the service "
                 "is not announced");
#endif
    }
  return TRUE;
}

static void
wyoming_stop (LmdTransport *transport)
{
  LmdWyomingTransport *self = LMD_WYOMING_TRANSPORT (transport);

  /* the listening socket only: utterances being transcribed still get their transcripts */
#ifdef LMD_HAVE_AVAHI
  g_clear_pointer (&self->zeroconf, lmd_wyoming_zeroconf_free);
#endif
  if (self->service != NULL)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
    }
}

static guint
wyoming_get_port (LmdTransport *transport)
{
  return LMD_WYOMING_TRANSPORT (transport)->bound_port;
}

static guint
wyoming_get_in_flight (LmdTransport *transport)
{
  LmdWyomingTransport *self = LMD_WYOMING_TRANSPORT (transport);
  GHashTableIter iter;
  gpointer connection;
  guint busy = 0;

  /* idle connections (Home Assistant keeps none, but a client may) do not hold up a drain */
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    if (lmd_wyoming_connection_is_busy (connection))
      busy++;
  return busy;
}

static void
lmd_wyoming_transport_iface_init (LmdTransportInterface *iface)
{
  iface->setup = wyoming_setup;
  iface->start = wyoming_start;
  iface->stop = wyoming_stop;
  iface->get_port = wyoming_get_port;
  iface->get_in_flight = wyoming_get_in_flight;
}

/* ---- GObject ---------------------------------------------------------------------------- */

static void
lmd_wyoming_transport_dispose (GObject *object)
{
  LmdWyomingTransport *self = LMD_WYOMING_TRANSPORT (object);
  g_autoptr (GList) connections = g_hash_table_get_keys (self->connections);

  for (GList *l = connections; l != NULL; l = l->next)
    {
      g_signal_handlers_disconnect_by_data (l->data, self);
      lmd_wyoming_connection_abort (l->data);
    }
  g_hash_table_remove_all (self->connections);
#ifdef LMD_HAVE_AVAHI
  g_clear_pointer (&self->zeroconf, lmd_wyoming_zeroconf_free);
#endif
  if (self->service != NULL)
    {
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_clear_object (&self->service);
    }
  G_OBJECT_CLASS (lmd_wyoming_transport_parent_class)->dispose (object);
}

static void
lmd_wyoming_transport_finalize (GObject *object)
{
  LmdWyomingTransport *self = LMD_WYOMING_TRANSPORT (object);

  g_hash_table_unref (self->connections);
  /* the connections cancelled their work: what runs ends soon, what is queued is dropped */
  if (self->live_pool != NULL)
    g_thread_pool_free (self->live_pool, FALSE, TRUE);
  lmd_wyoming_config_clear (&self->config);
  G_OBJECT_CLASS (lmd_wyoming_transport_parent_class)->finalize (object);
}

static void
lmd_wyoming_transport_class_init (LmdWyomingTransportClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lmd_wyoming_transport_dispose;
  G_OBJECT_CLASS (klass)->finalize = lmd_wyoming_transport_finalize;
}

static void
lmd_wyoming_transport_init (LmdWyomingTransport *self)
{
  self->connections = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->config.host = g_strdup ("127.0.0.1");
  self->config.port = 10300;
  self->config.max_connections = 100;
  self->config.idle_timeout_s = 30;
  self->config.bounds.max_header_bytes = 65536;
  self->config.bounds.max_data_bytes = 65536;
  self->config.bounds.max_payload_bytes = 1048576;
  self->config.zeroconf_name = g_strdup ("lightning-mediad");
}

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "wyoming",
    "Wyoming transport (TCP): speech-to-text for Home Assistant and Rhasspy",
    lmd_wyoming_transport_get_type,
  };
  return &info;
}
