/* SPDX-License-Identifier: MIT */
/*
 * lmd-worker-info.h — what an asr worker tells the others about itself.
 *
 * Workers publish one of these through the state store (LmdState) at every heartbeat; api
 * processes read them to choose where to send each request.  On the wire (Redis) it is one
 * JSON object:
 *   {"url":"http://10.0.0.5:2233","models":["sphinx-en-us"],"device":"cpu","pid":123,
 *    "active_requests":1,"queued_requests":0,"active_streams":2,"capacity":4,"draining":false}
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *url;              /* owned: base URL of the worker, no trailing slash */
  GStrv models;           /* owned: model names (and engine aliases) it serves */
  char *device;           /* owned: "cpu" or a GPU name */
  gint64 pid;
  guint active_requests;  /* batch requests transcribing now */
  guint queued_requests;  /* batch requests admitted and waiting */
  guint active_streams;   /* live streams open */
  guint capacity;         /* requests it runs at once (inference threads) */
  gboolean draining;      /* shutting down: send it nothing new */
} LmdWorkerInfo;

LmdWorkerInfo *lmd_worker_info_new (const char *url);
LmdWorkerInfo *lmd_worker_info_copy (const LmdWorkerInfo *self);
void lmd_worker_info_free (LmdWorkerInfo *self);

/* Whether the worker serves @model (NULL = any model; a worker listing none serves any). */
gboolean lmd_worker_info_has_model (const LmdWorkerInfo *self, const char *model);
/* Load as a fraction of capacity: (active + queued + streams) / capacity. */
double lmd_worker_info_get_load (const LmdWorkerInfo *self);

/* (transfer full) the JSON text above. */
char *lmd_worker_info_to_json (const LmdWorkerInfo *self);
/* (transfer full) (nullable) parsed from @json, or NULL with @error set. */
LmdWorkerInfo *lmd_worker_info_from_json (const char *json, gssize length, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdWorkerInfo, lmd_worker_info_free)

G_END_DECLS
