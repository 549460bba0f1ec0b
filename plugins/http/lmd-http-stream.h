/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-stream.h — live transcription over WebSocket (/v1/listen/stream and its aliases).
 *
 * LmdHttpStreams is the per-transport hub: the [streaming] settings, the worker threads that
 * decode every stream, and the gauges /metrics reports.  LmdHttpStream is one connection.
 *
 * Threads.  Frames arrive on the main context; each goes to the stream's LmdLiveSession
 * (server/lmd-live-session.h), whose queue is bounded by the audio it holds.  Decoding runs
 * on the hub's LmdLivePool ([streaming] workers threads), one thread at a time per stream;
 * the session's events come back on the main context, where they become messages.  A closed
 * connection cancels the live session: queued audio is dropped, a thread in the middle of a
 * slice finishes it and the last reference frees the engine session.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-http-stream-dialect.h"
#include "lmd-router.h"

G_BEGIN_DECLS

typedef struct {
  guint max_streams;          /* streams open at once; beyond that: error + close 1013 */
  guint idle_timeout_s;       /* no audio for this long: error + close 1008 */
  guint max_frame_bytes;      /* larger binary frames: error + close 1009 */
  double max_queue_seconds;   /* audio received and not yet decoded, per stream */
  guint workers;              /* decoding threads shared by all streams */
  guint eou_timeout_ms;       /* default of the query parameter; 0: the live session's */
  gboolean interim_results;   /* default */
  gboolean vad_events;        /* default */
  double max_utterance_s;     /* an utterance longer than this is finalised anyway */
} LmdStreamConfig;

/* Reads [streaming] of @config (defaults for absent keys). */
gboolean lmd_stream_config_load (LmdStreamConfig *config, GKeyFile *key_file, GError **error);

typedef struct _LmdHttpStreams LmdHttpStreams;

/* @router is borrowed and must outlive the hub. */
LmdHttpStreams *lmd_http_streams_new (const LmdStreamConfig *config, LmdRouter *router);
LmdHttpStreams *lmd_http_streams_ref (LmdHttpStreams *self);
void lmd_http_streams_unref (LmdHttpStreams *self);

/* Takes over the upgraded connection @conn (a reference is taken) of @msg; @dialect
 * (nullable: the project's own messages) shapes what is sent and read. */
void lmd_http_streams_accept (LmdHttpStreams *self, SoupServerMessage *msg,
                              SoupWebsocketConnection *conn, const char *request_id,
                              const LmdHttpStreamDialect *dialect);

guint lmd_http_streams_get_active (LmdHttpStreams *self);
/* Audio frames received and not yet decoded, over all streams. */
guint lmd_http_streams_get_queue_depth (LmdHttpStreams *self);

#define LMD_TYPE_HTTP_STREAM (lmd_http_stream_get_type ())
G_DECLARE_FINAL_TYPE (LmdHttpStream, lmd_http_stream, LMD, HTTP_STREAM, GObject)

/* (transfer none) (nullable) the API key the client presented ("Authorization: Token|Bearer"
 * or ?token=), for the license check. */
const char *lmd_http_stream_get_api_key (LmdHttpStream *self);

G_END_DECLS
