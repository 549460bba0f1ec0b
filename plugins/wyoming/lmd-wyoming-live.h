/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-live.h — the transcript streaming of one Wyoming utterance: a streaming engine
 * session fed as the audio arrives, on a worker thread.
 *
 * The client's PCM (any rate, width and channel count the transport accepts) is down-mixed
 * and resampled to the engine's rate (LmdPcmConverter) and fed in 20 ms slices; the engine's
 * voice-activity detector opens an utterance when speech starts, and once it reports
 * silence for LMD_WYOMING_LIVE_EOU_SECONDS (or an utterance runs for
 * LMD_WYOMING_LIVE_MAX_UTTERANCE_SECONDS) the utterance is ended and its text reported as a
 * chunk.  stop() ends the last one and reports the whole text.
 *
 * Reports arrive on the main context through @func, in order: any number of
 * LMD_WYOMING_LIVE_CHUNK (non-empty text), then one LMD_WYOMING_LIVE_DONE (the chunks' texts
 * joined by spaces) — or LMD_WYOMING_LIVE_UNAVAILABLE (the model cannot stream: nothing else
 * comes, the caller transcribes the utterance as a whole instead) or LMD_WYOMING_LIVE_FAILED
 * (@error set).  Nothing is reported after cancel().
 *
 * The work runs on the transport's pool (lmd_wyoming_live_run is its function): one job at a
 * time per utterance, utterances in parallel up to the pool's size.
 */
#pragma once

#include <glib-object.h>

#include "lmd-engine.h"
#include "lmd-wyoming-audio.h"

G_BEGIN_DECLS

#define LMD_WYOMING_LIVE_EOU_SECONDS 0.8
#define LMD_WYOMING_LIVE_MAX_UTTERANCE_SECONDS 30.0

typedef enum {
  LMD_WYOMING_LIVE_CHUNK,
  LMD_WYOMING_LIVE_DONE,
  LMD_WYOMING_LIVE_UNAVAILABLE,
  LMD_WYOMING_LIVE_FAILED,
} LmdWyomingLiveReport;

typedef void (*LmdWyomingLiveFunc) (LmdWyomingLiveReport report, const char *text,
                                    const GError *error, gpointer user_data);

#define LMD_TYPE_WYOMING_LIVE (lmd_wyoming_live_get_type ())
G_DECLARE_FINAL_TYPE (LmdWyomingLive, lmd_wyoming_live, LMD, WYOMING_LIVE, GObject)

/* (transfer full) main context.  @pool (borrowed; its function is lmd_wyoming_live_run)
 * runs the work; @engine is referenced; @func gets the reports with @user_data (borrowed:
 * call cancel() before it goes away). */
LmdWyomingLive *lmd_wyoming_live_new (GThreadPool *pool, LmdEngine *engine, const char *language,
                                      const char *request_id, const LmdWyomingFormat *format,
                                      LmdWyomingLiveFunc func, gpointer user_data);
/* Main context: @len bytes of PCM in the format given to new(). */
void lmd_wyoming_live_push (LmdWyomingLive *self, const guint8 *pcm, gsize len);
/* Main context: the end of the audio. */
void lmd_wyoming_live_stop (LmdWyomingLive *self);
/* Main context: drops the work still queued; no report comes after this. */
void lmd_wyoming_live_cancel (LmdWyomingLive *self);

/* The pool's function: @data is an LmdWyomingLive (a reference, taken over). */
void lmd_wyoming_live_run (gpointer data, gpointer user_data);

G_END_DECLS
