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

/* The fallback of admit_async: the synchronous answer, delivered through a GTask so that the
 * callback never runs inside the caller's call. */
static void
default_admit_async (LmdLicense *self, const char *api_key, const char *feature,
                     const char *request_id, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  GError *error = NULL;
  guint retry = 0;
  LmdLicenseTicket *ticket;

  g_task_set_source_tag (task, default_admit_async);
  ticket = LMD_LICENSE_GET_IFACE (self)->admit (self, api_key, feature, request_id, &retry, &error);
  g_task_set_task_data (task, GUINT_TO_POINTER (retry), NULL);
  if (ticket == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, ticket, NULL);
}

void
lmd_license_admit_async (LmdLicense *self, const char *api_key, const char *feature,
                         const char *request_id, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  LmdLicenseInterface *iface;

  g_return_if_fail (LMD_IS_LICENSE (self));
  iface = LMD_LICENSE_GET_IFACE (self);
  if (iface->admit_async != NULL && iface->admit_finish != NULL)
    iface->admit_async (self, api_key, feature, request_id, cancellable, callback, user_data);
  else
    default_admit_async (self, api_key, feature, request_id, cancellable, callback, user_data);
}

LmdLicenseTicket *
lmd_license_admit_finish (LmdLicense *self, GAsyncResult *result, guint *retry_after_s,
                          GError **error)
{
  LmdLicenseInterface *iface;
  LmdLicenseTicket *ticket;
  guint retry = 0;

  g_return_val_if_fail (LMD_IS_LICENSE (self), NULL);
  iface = LMD_LICENSE_GET_IFACE (self);
  if (g_async_result_is_tagged (result, default_admit_async))
    {
      retry = GPOINTER_TO_UINT (g_task_get_task_data (G_TASK (result)));
      ticket = g_task_propagate_pointer (G_TASK (result), error);
    }
  else
    ticket = iface->admit_finish (self, result, &retry, error);
  if (retry_after_s != NULL)
    *retry_after_s = ticket == NULL ? retry : 0;
  return ticket;
}

gboolean
lmd_license_record_usage (LmdLicense *self, const guint8 *key_sha256, const char *feature,
                          const char *request_id, double audio_seconds, guint status,
                          GError **error)
{
  LmdLicenseInterface *iface;

  g_return_val_if_fail (LMD_IS_LICENSE (self), FALSE);
  iface = LMD_LICENSE_GET_IFACE (self);
  if (iface->record_usage == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "this license implementation does not record usage by key hash");
      return FALSE;
    }
  return iface->record_usage (self, key_sha256, feature, request_id, audio_seconds, status, error);
}

gboolean
lmd_license_allows (LmdLicense *self, LmdLicenseTicket *ticket, const char *feature)
{
  LmdLicenseInterface *iface;

  if (self == NULL || ticket == NULL)
    return TRUE;
  g_return_val_if_fail (LMD_IS_LICENSE (self), FALSE);
  iface = LMD_LICENSE_GET_IFACE (self);
  return iface->allows == NULL || iface->allows (self, ticket, feature);
}

gboolean
lmd_license_set_limit_store (LmdLicense *self, LmdLimitStore *store)
{
  LmdLicenseInterface *iface;

  g_return_val_if_fail (LMD_IS_LICENSE (self), FALSE);
  g_return_val_if_fail (LMD_IS_LIMIT_STORE (store), FALSE);
  iface = LMD_LICENSE_GET_IFACE (self);
  if (iface->set_limit_store == NULL)
    return FALSE;
  iface->set_limit_store (self, store);
  return TRUE;
}
