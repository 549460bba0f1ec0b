/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-jobs"

#include "lmd-job-store.h"

#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"

G_DEFINE_QUARK (lmd-job-store-error-quark, lmd_job_store_error)

G_DEFINE_INTERFACE (LmdJobStore, lmd_job_store, G_TYPE_OBJECT)

static void
lmd_job_store_default_init (LmdJobStoreInterface *iface)
{
}

static gboolean
get_bounded (GKeyFile *config, const char *key, gint64 fallback, gint64 min, gint64 max,
             guint64 *out, GError **error)
{
  gint64 value;

  if (!lmd_config_get_int (config, "jobs", key, fallback, &value, error))
    return FALSE;
  if (value < min || value > max)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [jobs] %s: must be %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, key, min, max);
      return FALSE;
    }
  *out = (guint64) value;
  return TRUE;
}

gboolean
lmd_job_config_load (LmdJobConfig *out, GKeyFile *config, GError **error)
{
  guint64 max_pending, max_mb, ttl, claim, attempts, backoff, backoff_max, timeout, poll;

  memset (out, 0, sizeof *out);
  if (!get_bounded (config, "max_pending", 1000, 1, 10000000, &max_pending, error) ||
      !get_bounded (config, "max_mb", 1024, 1, 1024 * 1024, &max_mb, error) ||
      !get_bounded (config, "result_ttl_s", 86400, 1, 365 * 86400, &ttl, error) ||
      !get_bounded (config, "claim_timeout_s", 60, 1, 86400, &claim, error) ||
      !get_bounded (config, "callback_attempts", 8, 1, 100, &attempts, error) ||
      !get_bounded (config, "callback_backoff_s", 1, 0, 3600, &backoff, error) ||
      !get_bounded (config, "callback_backoff_max_s", 300, 0, 86400, &backoff_max, error) ||
      !get_bounded (config, "callback_timeout_s", 10, 1, 600, &timeout, error) ||
      !get_bounded (config, "poll_ms", 250, 10, 60000, &poll, error))
    return FALSE;
  out->dir = lmd_config_get_string (config, "jobs", "dir", NULL); /* NULL: the store's default */
  out->max_pending = (guint) max_pending;
  out->max_bytes = max_mb * 1024 * 1024;
  out->result_ttl_s = (guint) ttl;
  out->claim_timeout_s = (guint) claim;
  out->callback_attempts = (guint) attempts;
  out->callback_backoff_s = (guint) backoff;
  out->callback_backoff_max_s = (guint) backoff_max;
  out->callback_timeout_s = (guint) timeout;
  out->poll_ms = (guint) poll;
  return TRUE;
}

void
lmd_job_config_clear (LmdJobConfig *self)
{
  g_clear_pointer (&self->dir, g_free);
}

gboolean
lmd_job_store_setup (LmdJobStore *self, GKeyFile *config, GError **error)
{
  LmdJobStoreInterface *iface;

  g_return_val_if_fail (LMD_IS_JOB_STORE (self), FALSE);
  iface = LMD_JOB_STORE_GET_IFACE (self);
  return iface->setup == NULL || iface->setup (self, config, error);
}

gboolean
lmd_job_store_submit (LmdJobStore *self, const LmdJob *job, GError **error)
{
  g_return_val_if_fail (LMD_IS_JOB_STORE (self), FALSE);
  return LMD_JOB_STORE_GET_IFACE (self)->submit (self, job, error);
}

LmdJob *
lmd_job_store_take (LmdJobStore *self, GError **error)
{
  g_return_val_if_fail (LMD_IS_JOB_STORE (self), NULL);
  return LMD_JOB_STORE_GET_IFACE (self)->take (self, error);
}

gboolean
lmd_job_store_touch (LmdJobStore *self, const char *job_id, GError **error)
{
  LmdJobStoreInterface *iface;

  g_return_val_if_fail (LMD_IS_JOB_STORE (self), FALSE);
  iface = LMD_JOB_STORE_GET_IFACE (self);
  return iface->touch == NULL || iface->touch (self, job_id, error);
}

gboolean
lmd_job_store_complete (LmdJobStore *self, const char *job_id, const char *document, GError **error)
{
  g_return_val_if_fail (LMD_IS_JOB_STORE (self), FALSE);
  return LMD_JOB_STORE_GET_IFACE (self)->complete (self, job_id, document, error);
}

gboolean
lmd_job_store_release (LmdJobStore *self, const char *job_id, GError **error)
{
  g_return_val_if_fail (LMD_IS_JOB_STORE (self), FALSE);
  return LMD_JOB_STORE_GET_IFACE (self)->release (self, job_id, error);
}

char *
lmd_job_store_lookup (LmdJobStore *self, const char *job_id, GError **error)
{
  g_return_val_if_fail (LMD_IS_JOB_STORE (self), NULL);
  return LMD_JOB_STORE_GET_IFACE (self)->lookup (self, job_id, error);
}

const char *
lmd_job_store_get_name (LmdJobStore *self)
{
  LmdJobStoreInterface *iface;

  g_return_val_if_fail (LMD_IS_JOB_STORE (self), NULL);
  iface = LMD_JOB_STORE_GET_IFACE (self);
  return iface->get_name != NULL ? iface->get_name (self) : G_OBJECT_TYPE_NAME (self);
}

/* ---- on a thread ----------------------------------------------------------------------- */

typedef enum { OP_SUBMIT, OP_TAKE, OP_TOUCH, OP_COMPLETE, OP_RELEASE, OP_LOOKUP } OpKind;

typedef struct {
  OpKind kind;
  LmdJob *job;     /* owned: submit */
  char *job_id;    /* owned */
  char *document;  /* owned: complete */
} Op;

static void
op_free (Op *op)
{
  g_clear_pointer (&op->job, lmd_job_free);
  g_free (op->job_id);
  g_free (op->document);
  g_free (op);
}

static void
op_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  LmdJobStore *self = source;
  Op *op = data;
  GError *error = NULL;

  switch (op->kind)
    {
    case OP_SUBMIT:
    case OP_TOUCH:
    case OP_COMPLETE:
    case OP_RELEASE:
      {
        gboolean ok = op->kind == OP_SUBMIT  ? lmd_job_store_submit (self, op->job, &error)
                      : op->kind == OP_TOUCH ? lmd_job_store_touch (self, op->job_id, &error)
                      : op->kind == OP_COMPLETE
                          ? lmd_job_store_complete (self, op->job_id, op->document, &error)
                          : lmd_job_store_release (self, op->job_id, &error);
        if (ok)
          g_task_return_boolean (task, TRUE);
        else
          g_task_return_error (task, error);
        break;
      }
    case OP_TAKE:
      {
        LmdJob *job = lmd_job_store_take (self, &error);
        if (error != NULL)
          g_task_return_error (task, error);
        else
          g_task_return_pointer (task, job, (GDestroyNotify) lmd_job_free);
        break;
      }
    case OP_LOOKUP:
      {
        char *document = lmd_job_store_lookup (self, op->job_id, &error);
        if (error != NULL)
          g_task_return_error (task, error);
        else
          g_task_return_pointer (task, document, g_free);
        break;
      }
    }
}

static void
run_op (LmdJobStore *self, Op *op, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, run_op);
  g_task_set_task_data (task, op, (GDestroyNotify) op_free);
  g_task_run_in_thread (task, op_thread);
}

static Op *
op_new (OpKind kind, const char *job_id)
{
  Op *op = g_new0 (Op, 1);

  op->kind = kind;
  op->job_id = g_strdup (job_id);
  return op;
}

void
lmd_job_store_submit_async (LmdJobStore *self, LmdJob *job, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  Op *op = op_new (OP_SUBMIT, job->id);

  op->job = job;
  run_op (self, op, callback, user_data);
}

gboolean
lmd_job_store_submit_finish (LmdJobStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
lmd_job_store_take_async (LmdJobStore *self, GAsyncReadyCallback callback, gpointer user_data)
{
  run_op (self, op_new (OP_TAKE, NULL), callback, user_data);
}

LmdJob *
lmd_job_store_take_finish (LmdJobStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
lmd_job_store_touch_async (LmdJobStore *self, const char *job_id, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  run_op (self, op_new (OP_TOUCH, job_id), callback, user_data);
}

void
lmd_job_store_complete_async (LmdJobStore *self, const char *job_id, const char *document,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  Op *op = op_new (OP_COMPLETE, job_id);

  op->document = g_strdup (document);
  run_op (self, op, callback, user_data);
}

void
lmd_job_store_release_async (LmdJobStore *self, const char *job_id, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  run_op (self, op_new (OP_RELEASE, job_id), callback, user_data);
}

gboolean
lmd_job_store_op_finish (LmdJobStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
lmd_job_store_lookup_async (LmdJobStore *self, const char *job_id, GAsyncReadyCallback callback,
                            gpointer user_data)
{
  run_op (self, op_new (OP_LOOKUP, job_id), callback, user_data);
}

char *
lmd_job_store_lookup_finish (LmdJobStore *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
