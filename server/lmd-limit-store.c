/* SPDX-License-Identifier: MIT */
#include "lmd-limit-store.h"

G_DEFINE_INTERFACE (LmdLimitStore, lmd_limit_store, G_TYPE_OBJECT)

static void
lmd_limit_store_default_init (LmdLimitStoreInterface *iface)
{
}

gboolean
lmd_limit_store_setup (LmdLimitStore *self, GKeyFile *config, GError **error)
{
  LmdLimitStoreInterface *iface;

  g_return_val_if_fail (LMD_IS_LIMIT_STORE (self), FALSE);
  iface = LMD_LIMIT_STORE_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

void
lmd_limit_store_start (LmdLimitStore *self)
{
  g_return_if_fail (LMD_IS_LIMIT_STORE (self));
  if (LMD_LIMIT_STORE_GET_IFACE (self)->start != NULL)
    LMD_LIMIT_STORE_GET_IFACE (self)->start (self);
}

gboolean
lmd_limit_store_is_available (LmdLimitStore *self)
{
  g_return_val_if_fail (LMD_IS_LIMIT_STORE (self), FALSE);
  return LMD_LIMIT_STORE_GET_IFACE (self)->is_available (self);
}

void
lmd_limit_store_acquire_async (LmdLimitStore *self, const char *client_id, const char *quota_id,
                               const LmdLimitStoreLimits *limits, const char *ticket_id,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
  g_return_if_fail (LMD_IS_LIMIT_STORE (self));
  g_return_if_fail (client_id != NULL && limits != NULL && ticket_id != NULL);
  LMD_LIMIT_STORE_GET_IFACE (self)->acquire_async (self, client_id, quota_id, limits, ticket_id,
                                                   cancellable, callback, user_data);
}

gboolean
lmd_limit_store_acquire_finish (LmdLimitStore *self, GAsyncResult *result, guint *retry_after_s,
                                double *audio_seconds_today, GError **error)
{
  guint retry = 0;
  double today = -1;
  gboolean ok;

  g_return_val_if_fail (LMD_IS_LIMIT_STORE (self), FALSE);
  ok = LMD_LIMIT_STORE_GET_IFACE (self)->acquire_finish (self, result, &retry, &today, error);
  if (retry_after_s != NULL)
    *retry_after_s = ok ? 0 : retry;
  if (audio_seconds_today != NULL)
    *audio_seconds_today = today;
  return ok;
}

void
lmd_limit_store_release (LmdLimitStore *self, const char *client_id, const char *quota_id,
                         const char *ticket_id, double audio_seconds)
{
  g_return_if_fail (LMD_IS_LIMIT_STORE (self));
  LMD_LIMIT_STORE_GET_IFACE (self)->release (self, client_id, quota_id, ticket_id, audio_seconds);
}

const char *
lmd_limit_store_get_name (LmdLimitStore *self)
{
  g_return_val_if_fail (LMD_IS_LIMIT_STORE (self), NULL);
  if (LMD_LIMIT_STORE_GET_IFACE (self)->get_name == NULL)
    return "shared";
  return LMD_LIMIT_STORE_GET_IFACE (self)->get_name (self);
}
