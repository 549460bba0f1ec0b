/* SPDX-License-Identifier: MIT */
/*
 * lmd-router.h — takes requests from transports and runs them on engines.
 *
 * The router owns the audio decoder, the engines (by model name) and a bounded pool of
 * worker threads.  Inference never runs on the main loop: transcribe_async() queues the work
 * and its callback fires on the caller's main context.  Admission is bounded: at most
 * `workers` requests run and `queue_size` wait; beyond that the request fails at once with
 * SERVICE_UNAVAILABLE.  Each request has a time limit (request_timeout_s) after which it is
 * cancelled and fails with TIMEOUT.  While draining (shutdown), new requests are refused.
 *
 * A request by URL is fetched first on a pool of its own (`fetch_workers` threads): it takes
 * an inference thread only once its bytes are in, so a slow or silent host delays that request
 * alone.  While it is fetched it counts as queued.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-audio-decoder.h"
#include "lmd-engine.h"
#include "lmd-job-store.h"
#include "lmd-license.h"
#include "lmd-state.h"
#include "lmd-transcribe-request.h"
#include "lmd-transcript.h"

G_BEGIN_DECLS

/* the largest [limits] max_body_mb accepted (2 GiB) */
#define LMD_LIMITS_MAX_BODY_MB 2048

typedef struct {
  guint workers;              /* inference threads; default: number of cores */
  guint queue_size;           /* waiting requests beyond the running ones; default 64 */
  guint64 max_body_bytes;     /* default 100 MB, at most LMD_LIMITS_MAX_BODY_MB */
  double max_audio_seconds;   /* default 7200 */
  guint request_timeout_s;    /* default 300 */
  guint fetch_timeout_s;      /* URL fetches; default 60 */
  guint fetch_workers;        /* URL fetches at once, outside the inference threads; default 8 */
  gboolean allow_private_urls;/* default false */
  guint retry_after_s;        /* suggested wait in 503/429 answers; default 2 */
} LmdLimits;

/* Reads [limits] of @config into @limits (defaults for absent keys). */
gboolean lmd_limits_load (LmdLimits *limits, GKeyFile *config, GError **error);

#define LMD_TYPE_ROUTER (lmd_router_get_type ())
G_DECLARE_FINAL_TYPE (LmdRouter, lmd_router, LMD, ROUTER, GObject)

LmdRouter *lmd_router_new (const LmdLimits *limits);
const LmdLimits *lmd_router_get_limits (LmdRouter *self);

void lmd_router_set_decoder (LmdRouter *self, LmdAudioDecoder *decoder);
LmdAudioDecoder *lmd_router_get_decoder (LmdRouter *self);
/* The license service transports consult before admitting a request (nullable: none loaded,
 * every request is admitted). */
void lmd_router_set_license (LmdRouter *self, LmdLicense *license);
LmdLicense *lmd_router_get_license (LmdRouter *self);
/* The worker registry (nullable): an api process picks workers from it, a worker publishes
 * itself in it. */
void lmd_router_set_state (LmdRouter *self, LmdState *state);
LmdState *lmd_router_get_state (LmdRouter *self);
/* Where asynchronous jobs (callback_url) are stored (nullable: none, they are refused). */
void lmd_router_set_job_store (LmdRouter *self, LmdJobStore *store);
LmdJobStore *lmd_router_get_job_store (LmdRouter *self);
/* Registers @engine under its model name and under @alias (nullable, e.g. the plugin name).
 * The first engine added is the default unless lmd_router_set_default_model() says otherwise. */
void lmd_router_add_engine (LmdRouter *self, LmdEngine *engine, const char *alias);
gboolean lmd_router_set_default_model (LmdRouter *self, const char *model, GError **error);
/* (transfer none) (nullable) the engine for @model, NULL model = the default */
LmdEngine *lmd_router_find_engine (LmdRouter *self, const char *model);
/* (transfer container) model names, default first */
GPtrArray *lmd_router_list_models (LmdRouter *self);

/* Takes ownership of @request. */
void lmd_router_transcribe_async (LmdRouter *self, LmdTranscribeRequest *request,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
/* (transfer full) */
LmdTranscript *lmd_router_transcribe_finish (LmdRouter *self, GAsyncResult *result, GError **error);

/* Stops admitting new requests; those already admitted run to completion. */
void lmd_router_drain (LmdRouter *self);
gboolean lmd_router_is_draining (LmdRouter *self);
/* The least ready state of the engines (LOADING while one loads its model in the background,
 * FAILED when one could not); @message (nullable) gets (transfer full) which and why. */
LmdEngineState lmd_router_get_engines_state (LmdRouter *self, char **message);
/* At exit: cancels every admitted request and waits for the workers to stop.  The requests'
 * callbacks are still to be dispatched on the main context (they report cancellation). */
void lmd_router_shutdown (LmdRouter *self);
guint lmd_router_get_active (LmdRouter *self);  /* running now */
guint lmd_router_get_queued (LmdRouter *self);  /* admitted, waiting for a worker */
guint64 lmd_router_get_completed (LmdRouter *self);
double lmd_router_get_audio_seconds_total (LmdRouter *self);

G_END_DECLS
