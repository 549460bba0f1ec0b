/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-connection.h — one client of the Wyoming transport.
 *
 * Events handled (everything else is ignored, as the protocol asks):
 *   describe      → info (the ASR program, every loaded model with its languages)
 *   ping          → pong
 *   transcribe    {name?, language?}: model and language of the next utterance
 *   audio-start   {rate, width, channels}: a new utterance
 *   audio-chunk   {rate, width, channels} + PCM payload (audio without audio-start or
 *                 transcribe starts an utterance with the chunk's format and the defaults)
 *   audio-stop    → transcript {text, language}: the utterance is transcribed through the
 *                 router (license admission, worker pool, limits) like a file posted to
 *                 /v1/listen.  With streaming on and a model that can stream, the words come
 *                 as they are decoded: transcript-start, transcript-chunk per utterance the
 *                 engine ends, then (after audio-stop) transcript and transcript-stop.
 * The connection stays open for the next utterance.
 *
 * Bad input gets an error event {text, code} (code: the API's error code name), a log line
 * with the request id, and the connection is closed; other connections are not affected.
 *
 * Main context only.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-router.h"
#include "lmd-wyoming-config.h"

G_BEGIN_DECLS

#define LMD_TYPE_WYOMING_CONNECTION (lmd_wyoming_connection_get_type ())
G_DECLARE_FINAL_TYPE (LmdWyomingConnection, lmd_wyoming_connection, LMD, WYOMING_CONNECTION, GObject)

/* (transfer full) a connection for @socket_connection (a reference is taken); @config is
 * copied; @router is borrowed and must outlive the connection's work; @live_pool (borrowed,
 * nullable: no transcript streaming) runs LmdWyomingLive work.  Emits "closed" once the
 * connection is over. */
LmdWyomingConnection *lmd_wyoming_connection_new (GSocketConnection *socket_connection,
                                                  const LmdWyomingConfig *config,
                                                  LmdRouter *router, GThreadPool *live_pool);
/* Starts reading events. */
void lmd_wyoming_connection_start (LmdWyomingConnection *self);
/* Answers SERVICE_UNAVAILABLE with @reason and closes (too many connections, draining). */
void lmd_wyoming_connection_refuse (LmdWyomingConnection *self, const char *reason);
/* Closes at once, dropping any work in flight (server exit). */
void lmd_wyoming_connection_abort (LmdWyomingConnection *self);
/* Whether an utterance is being transcribed now. */
gboolean lmd_wyoming_connection_is_busy (LmdWyomingConnection *self);

G_END_DECLS
