/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-upload-budget.h"

struct _LmdHttpUploadBudget {
  gint ref_count;
  GMutex lock;            /* guards the counters below */
  guint max_uploads;
  guint uploads;
  guint64 max_memory;
  guint64 reserved;
  guint64 spooled_total;
};

LmdHttpUploadBudget *
lmd_http_upload_budget_new (guint max_uploads, guint64 max_memory_bytes)
{
  LmdHttpUploadBudget *self = g_new0 (LmdHttpUploadBudget, 1);

  self->ref_count = 1;
  g_mutex_init (&self->lock);
  self->max_uploads = max_uploads;
  self->max_memory = max_memory_bytes;
  return self;
}

LmdHttpUploadBudget *
lmd_http_upload_budget_ref (LmdHttpUploadBudget *self)
{
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
lmd_http_upload_budget_unref (LmdHttpUploadBudget *self)
{
  if (self == NULL || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_warn_if_fail (self->reserved == 0);
  g_mutex_clear (&self->lock);
  g_free (self);
}

gboolean
lmd_http_upload_budget_begin_upload (LmdHttpUploadBudget *self)
{
  gboolean ok;

  g_mutex_lock (&self->lock);
  ok = self->uploads < self->max_uploads;
  if (ok)
    self->uploads++;
  g_mutex_unlock (&self->lock);
  return ok;
}

void
lmd_http_upload_budget_end_upload (LmdHttpUploadBudget *self)
{
  g_mutex_lock (&self->lock);
  g_warn_if_fail (self->uploads > 0);
  if (self->uploads > 0)
    self->uploads--;
  g_mutex_unlock (&self->lock);
}

gboolean
lmd_http_upload_budget_reserve (LmdHttpUploadBudget *self, guint64 bytes)
{
  gboolean ok;

  g_mutex_lock (&self->lock);
  ok = bytes <= self->max_memory && self->reserved <= self->max_memory - bytes;
  if (ok)
    self->reserved += bytes;
  g_mutex_unlock (&self->lock);
  return ok;
}

void
lmd_http_upload_budget_release (LmdHttpUploadBudget *self, guint64 bytes)
{
  g_mutex_lock (&self->lock);
  g_warn_if_fail (self->reserved >= bytes);
  self->reserved -= MIN (bytes, self->reserved);
  g_mutex_unlock (&self->lock);
}

void
lmd_http_upload_budget_count_spooled (LmdHttpUploadBudget *self)
{
  g_mutex_lock (&self->lock);
  self->spooled_total++;
  g_mutex_unlock (&self->lock);
}

guint
lmd_http_upload_budget_get_uploads (LmdHttpUploadBudget *self)
{
  guint n;

  g_mutex_lock (&self->lock);
  n = self->uploads;
  g_mutex_unlock (&self->lock);
  return n;
}

guint64
lmd_http_upload_budget_get_reserved (LmdHttpUploadBudget *self)
{
  guint64 n;

  g_mutex_lock (&self->lock);
  n = self->reserved;
  g_mutex_unlock (&self->lock);
  return n;
}

guint64
lmd_http_upload_budget_get_spooled_total (LmdHttpUploadBudget *self)
{
  guint64 n;

  g_mutex_lock (&self->lock);
  n = self->spooled_total;
  g_mutex_unlock (&self->lock);
  return n;
}
