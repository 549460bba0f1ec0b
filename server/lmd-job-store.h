/* SPDX-License-Identifier: MIT */
/*
 * lmd-job-store.h — interface: where asynchronous jobs wait, who runs them, and their results.
 *
 * A job store is shared by every process of a deployment that accepts or runs jobs (the
 * built-in LmdLocalJobStore: one process and a spool directory; the redis-jobs plugin: any
 * number of processes and one Redis).  A job's life:
 *
 *   submit()   an accepting process stores the job, audio included, and answers 202;
 *   take()     a process with engines takes the next job; the job is then owned by it;
 *   touch()    the owner says it is still alive (periodically, while it works on the job, and
 *              right before each callback post) and learns whether it still owns the job;
 *   complete() the owner stores the job document (completed or failed) and drops the audio;
 *   release()  the owner is done: the callback was delivered (or given up).
 *
 * A job whose owner died — it was taken and not released, and not touched for
 * [jobs] claim_timeout_s — is handed out again by take(), with its document when complete()
 * had stored one (then only the callback is left to deliver).  Callbacks are therefore
 * delivered at least once.  Documents are kept [jobs] result_ttl_s after complete().
 *
 * An owner that was only stopped (SIGSTOP, a long pause) and runs again after its job was
 * handed to another process is fenced: each take() gives the job a new claim, and touch() and
 * complete() of an older claim fail with LMD_JOB_STORE_ERROR_CLAIM_LOST, checked in the same
 * step as what they write, so the old owner neither stores its result nor posts the callback.
 * (A second post remains possible only when the job is handed over during the old owner's
 * own post, after its last touch(): callbacks are at least once, always under the job's id.)
 *
 * The methods block (disk or network I/O) and are safe to call from any thread; never call
 * them on the main loop: the _async() wrappers run them on a thread and return on the
 * caller's main context.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-job.h"

G_BEGIN_DECLS

#define LMD_JOB_STORE_ERROR (lmd_job_store_error_quark ())
GQuark lmd_job_store_error_quark (void);

typedef enum {
  LMD_JOB_STORE_ERROR_CLAIM_LOST, /* the job was handed to another process since this one took it */
} LmdJobStoreError;

/* [jobs] of the config: shared by the stores and the job runner. */
typedef struct {
  char *dir;                  /* owned, nullable: spool directory of the local store as
                               * configured; NULL = its default (per port) */
  guint max_pending;          /* jobs accepted and not yet completed; default 1000 */
  guint64 max_bytes;          /* their audio, in total (max_mb); default 1024 MB */
  guint result_ttl_s;         /* default 86400 */
  guint claim_timeout_s;      /* default 60 */
  guint callback_attempts;    /* default 8 */
  guint callback_backoff_s;   /* first retry after this; doubles; default 1 */
  guint callback_backoff_max_s; /* cap of the wait between attempts; default 300 */
  guint callback_timeout_s;   /* one attempt; default 10 */
  guint poll_ms;              /* how often an idle runner asks for work; default 250 */
} LmdJobConfig;

/* Reads [jobs] of @config (defaults for absent keys) into @out; clear with lmd_job_config_clear(). */
gboolean lmd_job_config_load (LmdJobConfig *out, GKeyFile *config, GError **error);
void lmd_job_config_clear (LmdJobConfig *self);

#define LMD_TYPE_JOB_STORE (lmd_job_store_get_type ())
G_DECLARE_INTERFACE (LmdJobStore, lmd_job_store, LMD, JOB_STORE, GObject)

struct _LmdJobStoreInterface {
  GTypeInterface parent_iface;

  /* Reads the config and opens the store (connects, resumes a spool); FALSE stops start-up. */
  gboolean (*setup) (LmdJobStore *self, GKeyFile *config, GError **error);
  /* Errors (LMD_ERROR): SERVICE_UNAVAILABLE (max_pending jobs, or max_mb of audio, wait
   * already; or the store is unreachable), FILE_TOO_LARGE (this job's audio alone passes max_mb). */
  gboolean (*submit) (LmdJobStore *self, const LmdJob *job, GError **error);
  /* (transfer full) (nullable) the next job for this process; NULL without error: none. */
  LmdJob *(*take) (LmdJobStore *self, GError **error);
  gboolean (*touch) (LmdJobStore *self, const char *job_id, GError **error);
  gboolean (*complete) (LmdJobStore *self, const char *job_id, const char *document,
                        GError **error);
  gboolean (*release) (LmdJobStore *self, const char *job_id, GError **error);
  /* (transfer full) (nullable) the job document; NULL without error: no such job. */
  char *(*lookup) (LmdJobStore *self, const char *job_id, GError **error);
  /* "local", "redis": for logs and health. */
  const char *(*get_name) (LmdJobStore *self);
};

gboolean lmd_job_store_setup (LmdJobStore *self, GKeyFile *config, GError **error);
gboolean lmd_job_store_submit (LmdJobStore *self, const LmdJob *job, GError **error);
LmdJob *lmd_job_store_take (LmdJobStore *self, GError **error);
gboolean lmd_job_store_touch (LmdJobStore *self, const char *job_id, GError **error);
gboolean lmd_job_store_complete (LmdJobStore *self, const char *job_id, const char *document,
                                 GError **error);
gboolean lmd_job_store_release (LmdJobStore *self, const char *job_id, GError **error);
char *lmd_job_store_lookup (LmdJobStore *self, const char *job_id, GError **error);
const char *lmd_job_store_get_name (LmdJobStore *self);

/* The same on a thread; @callback runs on the caller's thread-default main context. */
void lmd_job_store_submit_async (LmdJobStore *self, LmdJob *job /* taken */,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean lmd_job_store_submit_finish (LmdJobStore *self, GAsyncResult *result, GError **error);
void lmd_job_store_take_async (LmdJobStore *self, GAsyncReadyCallback callback, gpointer user_data);
LmdJob *lmd_job_store_take_finish (LmdJobStore *self, GAsyncResult *result, GError **error);
void lmd_job_store_touch_async (LmdJobStore *self, const char *job_id,
                                GAsyncReadyCallback callback, gpointer user_data);
void lmd_job_store_complete_async (LmdJobStore *self, const char *job_id, const char *document,
                                   GAsyncReadyCallback callback, gpointer user_data);
void lmd_job_store_release_async (LmdJobStore *self, const char *job_id,
                                  GAsyncReadyCallback callback, gpointer user_data);
/* touch, complete and release */
gboolean lmd_job_store_op_finish (LmdJobStore *self, GAsyncResult *result, GError **error);
void lmd_job_store_lookup_async (LmdJobStore *self, const char *job_id,
                                 GAsyncReadyCallback callback, gpointer user_data);
char *lmd_job_store_lookup_finish (LmdJobStore *self, GAsyncResult *result, GError **error);

G_END_DECLS
