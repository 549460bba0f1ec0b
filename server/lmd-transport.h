/* SPDX-License-Identifier: MIT */
/*
 * lmd-transport.h — interface: something that listens and turns requests into router calls.
 *
 * All methods run on the main context.  A transport never runs inference itself: it hands
 * work to the LmdRouter and answers when the router's callback fires.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _LmdRouter LmdRouter;

#define LMD_TYPE_TRANSPORT (lmd_transport_get_type ())
G_DECLARE_INTERFACE (LmdTransport, lmd_transport, LMD, TRANSPORT, GObject)

struct _LmdTransportInterface {
  GTypeInterface parent_iface;

  /* Reads the config (host, port, limits). Optional. */
  gboolean (*setup) (LmdTransport *self, GKeyFile *config, GError **error);
  /* Starts listening; @router is borrowed for the transport's lifetime. */
  gboolean (*start) (LmdTransport *self, LmdRouter *router, GError **error);
  /* Stops accepting new connections; in-flight requests finish. */
  void (*stop) (LmdTransport *self);
  /* The port actually bound (useful with port 0), or 0 before start(). */
  guint (*get_port) (LmdTransport *self);
  /* Number of requests being served right now (for draining on shutdown). */
  guint (*get_in_flight) (LmdTransport *self);
};

gboolean lmd_transport_setup (LmdTransport *self, GKeyFile *config, GError **error);
gboolean lmd_transport_start (LmdTransport *self, LmdRouter *router, GError **error);
void lmd_transport_stop (LmdTransport *self);
guint lmd_transport_get_port (LmdTransport *self);
guint lmd_transport_get_in_flight (LmdTransport *self);

G_END_DECLS
