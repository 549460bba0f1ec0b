/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-stream-dialect.h — the message shapes of a live-transcription dialect over
 * WebSocket.
 *
 * lmd-http-stream.c runs the connection whatever the dialect: admission, frames held while
 * admitting, the frame and queue limits, the LmdLiveSession (server/lmd-live-session.h) and
 * the idle check.  A dialect says what its clients send and what they receive:
 *
 *   - parse: the query → the stream's settings, and the dialect's own state (freed with
 *     free_state);
 *   - write_event: a live event → zero or more text messages, sent with the @send function
 *     (END: the last messages; the stream then closes with 1000 or the close code of the
 *     error that ended it);
 *   - control: a text message (parsed JSON object) → what the stream does;
 *   - write_error: an error caused by the client or the server → a text message (nullable:
 *     the dialect sends none, the close frame says it all).
 *
 * The project's own dialect (/v1/listen/stream and its aliases) is built into
 * lmd-http-stream.c; Deepgram's (/v1/listen with an upgrade) is lmd_http_deepgram_stream_dialect.
 * All methods run on the main context.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "lmd-live-session.h"
#include "lmd-pcm-converter.h"

G_BEGIN_DECLS

#define LMD_HTTP_STREAM_DIALECT_VERSION 1

/* What the stream knows about itself, for the messages (borrowed). */
typedef struct {
  const char *session_id;
  const char *request_id;
  const char *model_name;
  const char *language;
  double audio_seconds;   /* received so far */
  const char *audio_sha256; /* nullable: SHA-256 (hex) of the audio bytes received, given
                             * with the END event */
} LmdHttpStreamInfo;

/* The stream's settings, filled by parse (defaults from [streaming] already in). */
typedef struct {
  guint sample_rate;
  LmdPcmEncoding encoding;
  gboolean container;      /* the bytes are a container (WebM, Ogg, WAV, ...): decoded by the
                            * server's decoder while they arrive; encoding and rate unused */
  char *language;          /* owned */
  char *model;             /* owned, nullable: the server's default */
  gboolean word_timestamps;
  gboolean interim_results;
  gboolean vad_events;
  guint eou_timeout_ms;
} LmdHttpStreamParams;

typedef enum {
  LMD_HTTP_STREAM_KEEP_ALIVE, /* nothing but the idle clock */
  LMD_HTTP_STREAM_FINALIZE,   /* end the open utterance now */
  LMD_HTTP_STREAM_CLOSE,      /* flush, last messages, close 1000 */
  LMD_HTTP_STREAM_REJECT,     /* error set: the message is not one of the dialect's */
} LmdHttpStreamControl;

/* Sends @text (taken). */
typedef void (*LmdHttpStreamSendFunc) (char *text, gpointer user_data);

typedef struct {
  guint version;             /* LMD_HTTP_STREAM_DIALECT_VERSION */
  const char *name;
  guint idle_timeout_s;      /* 0: [streaming] idle_timeout_s */
  gushort idle_close_code;   /* the close after idle_timeout_s without audio */
  gboolean keep_alive_is_activity; /* a KEEP_ALIVE control resets the idle clock */

  gboolean (*parse) (GHashTable *query, const char *raw_query, LmdHttpStreamParams *params,
                     gpointer *state, GError **error);
  void (*free_state) (gpointer state);
  void (*write_event) (gpointer state, const LmdHttpStreamInfo *info, const LmdLiveEvent *event,
                       LmdHttpStreamSendFunc send, gpointer send_data);
  LmdHttpStreamControl (*control) (gpointer state, JsonObject *message, GError **error);
  /* (transfer full) (nullable) */
  char *(*write_error) (gpointer state, const LmdHttpStreamInfo *info, const char *code,
                        const char *param, const char *message);
} LmdHttpStreamDialect;

/* Deepgram's live /v1/listen (lmd-http-deepgram-stream-dialect.c). */
extern const LmdHttpStreamDialect lmd_http_deepgram_stream_dialect;

G_END_DECLS
