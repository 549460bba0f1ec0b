/* SPDX-License-Identifier: MIT */
#include "lmd-transport.h"

G_DEFINE_INTERFACE (LmdTransport, lmd_transport, G_TYPE_OBJECT)

static void
lmd_transport_default_init (LmdTransportInterface *iface)
{
}

gboolean
lmd_transport_setup (LmdTransport *self, GKeyFile *config, GError **error)
{
  LmdTransportInterface *iface;

  g_return_val_if_fail (LMD_IS_TRANSPORT (self), FALSE);
  iface = LMD_TRANSPORT_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

gboolean
lmd_transport_start (LmdTransport *self, LmdRouter *router, GError **error)
{
  g_return_val_if_fail (LMD_IS_TRANSPORT (self), FALSE);
  return LMD_TRANSPORT_GET_IFACE (self)->start (self, router, error);
}

void
lmd_transport_stop (LmdTransport *self)
{
  LmdTransportInterface *iface;

  g_return_if_fail (LMD_IS_TRANSPORT (self));
  iface = LMD_TRANSPORT_GET_IFACE (self);
  if (iface->stop != NULL)
    iface->stop (self);
}

guint
lmd_transport_get_port (LmdTransport *self)
{
  LmdTransportInterface *iface;

  g_return_val_if_fail (LMD_IS_TRANSPORT (self), 0);
  iface = LMD_TRANSPORT_GET_IFACE (self);
  return iface->get_port != NULL ? iface->get_port (self) : 0;
}

guint
lmd_transport_get_in_flight (LmdTransport *self)
{
  LmdTransportInterface *iface;

  g_return_val_if_fail (LMD_IS_TRANSPORT (self), 0);
  iface = LMD_TRANSPORT_GET_IFACE (self);
  return iface->get_in_flight != NULL ? iface->get_in_flight (self) : 0;
}
