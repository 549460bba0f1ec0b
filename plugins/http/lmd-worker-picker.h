/* SPDX-License-Identifier: MIT */
/*
 * lmd-worker-picker.h — chooses the asr worker for each request of an api process.
 *
 * The candidates are the live workers of the state store (LmdState) that serve the requested
 * model (all live workers when none lists it: the worker then answers the error itself).
 * Each is scored by the load it last published plus the requests this process has sent it
 * and not yet seen answered, both divided by its capacity; the lowest score wins, and ties go
 * round-robin so that equal workers share the work.  A worker that failed a connection is
 * left out for [api] failure_quarantine_ms (default 5000), so a dead worker whose registry
 * entry has not expired yet is not chosen again and again.
 */
#pragma once

#include "lmd-state.h"

G_BEGIN_DECLS

typedef struct _LmdWorkerPicker LmdWorkerPicker;

/* @state: borrowed, must outlive the picker. */
LmdWorkerPicker *lmd_worker_picker_new (LmdState *state, guint quarantine_ms);
void lmd_worker_picker_free (LmdWorkerPicker *self);

/* (transfer full) (nullable) the URL of the worker to use for @model (nullable), never
 * @exclude_url (nullable); NULL when no worker is live. */
char *lmd_worker_picker_choose (LmdWorkerPicker *self, const char *model, const char *exclude_url);
/* A request was sent to / answered by @url (local in-flight count). */
void lmd_worker_picker_begin (LmdWorkerPicker *self, const char *url);
void lmd_worker_picker_end (LmdWorkerPicker *self, const char *url);
/* @url failed to connect or died mid-request. */
void lmd_worker_picker_report_failure (LmdWorkerPicker *self, const char *url);
/* Workers live and not in quarantine. */
guint lmd_worker_picker_count_live (LmdWorkerPicker *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdWorkerPicker, lmd_worker_picker_free)

G_END_DECLS
