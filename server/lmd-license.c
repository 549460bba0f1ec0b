/* SPDX-License-Identifier: MIT */
#include "lmd-license.h"

#include <string.h>

G_DEFINE_INTERFACE (LmdLicense, lmd_license, G_TYPE_OBJECT)

static void
lmd_license_default_init (LmdLicenseInterface *iface)
{
}

gboolean
lmd_license_setup (LmdLicense *self, GKeyFile *config, GError **error)
{
  LmdLicenseInterface *iface;

  g_return_val_if_fail (LMD_IS_LICENSE (self), FALSE);
  iface = LMD_LICENSE_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

LmdLicenseTicket *
lmd_license_admit (LmdLicense *self, const char *api_key, const char *feature,
                   const char *request_id, guint *retry_after_s, GError **error)
{
  guint retry = 0;
  LmdLicenseTicket *ticket;

  g_return_val_if_fail (LMD_IS_LICENSE (self), NULL);
  ticket = LMD_LICENSE_GET_IFACE (self)->admit (self, api_key, feature, request_id, &retry, error);
  if (retry_after_s != NULL)
    *retry_after_s = retry;
  return ticket;
}

void
lmd_license_complete (LmdLicense *self, LmdLicenseTicket *ticket, double audio_seconds, guint status)
{
  g_return_if_fail (LMD_IS_LICENSE (self));
  if (ticket != NULL)
    LMD_LICENSE_GET_IFACE (self)->complete (self, ticket, audio_seconds, status);
}

void
lmd_license_get_status (LmdLicense *self, LmdLicenseStatus *status)
{
  g_return_if_fail (LMD_IS_LICENSE (self));
  memset (status, 0, sizeof *status);
  LMD_LICENSE_GET_IFACE (self)->get_status (self, status);
}
