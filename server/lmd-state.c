/* SPDX-License-Identifier: MIT */
#include "lmd-state.h"

G_DEFINE_INTERFACE (LmdState, lmd_state, G_TYPE_OBJECT)

static void
lmd_state_default_init (LmdStateInterface *iface)
{
}

gboolean
lmd_state_setup (LmdState *self, GKeyFile *config, GError **error)
{
  LmdStateInterface *iface;

  g_return_val_if_fail (LMD_IS_STATE (self), FALSE);
  iface = LMD_STATE_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

void
lmd_state_start (LmdState *self)
{
  g_return_if_fail (LMD_IS_STATE (self));
  if (LMD_STATE_GET_IFACE (self)->start != NULL)
    LMD_STATE_GET_IFACE (self)->start (self);
}

void
lmd_state_publish_worker (LmdState *self, const LmdWorkerInfo *info)
{
  g_return_if_fail (LMD_IS_STATE (self));
  if (LMD_STATE_GET_IFACE (self)->publish_worker != NULL)
    LMD_STATE_GET_IFACE (self)->publish_worker (self, info);
}

void
lmd_state_withdraw_worker (LmdState *self, const char *url, guint timeout_ms)
{
  g_return_if_fail (LMD_IS_STATE (self));
  if (LMD_STATE_GET_IFACE (self)->withdraw_worker != NULL)
    LMD_STATE_GET_IFACE (self)->withdraw_worker (self, url, timeout_ms);
}

GPtrArray *
lmd_state_list_workers (LmdState *self)
{
  g_return_val_if_fail (LMD_IS_STATE (self), NULL);
  return LMD_STATE_GET_IFACE (self)->list_workers (self);
}

const char *
lmd_state_get_store_health (LmdState *self)
{
  const char *health = NULL;

  g_return_val_if_fail (LMD_IS_STATE (self), "disabled");
  if (LMD_STATE_GET_IFACE (self)->get_store_health != NULL)
    health = LMD_STATE_GET_IFACE (self)->get_store_health (self);
  return health != NULL ? health : "disabled";
}
