/* SPDX-License-Identifier: MIT */
/*
 * lmd-live-session.h — the live-transcription driver: raw audio in, typed events out.
 *
 * One LmdLiveSession is one live stream: it converts the caller's raw PCM (any of
 * LmdPcmEncoding, 8 to 48 kHz) to the engine's rate, feeds an LmdEngineSession opened in
 * streaming mode in 20 ms slices, and after each slice asks the engine's voice-activity
 * detector where the speech is.  From that it emits, in order:
 *
 *   SPEECH_STARTED  an utterance opened (start = onset of the speech)
 *   INTERIM         the utterance's best hypothesis changed (text, start = utterance start);
 *                   only with interim_results, at most every 100 ms of audio once the
 *                   utterance has its first interim (the first one goes out as soon as the
 *                   decoder has a word); none is asked of the engine while more than
 *                   INTERIM_MAX_BACKLOG_S of audio waits in the queue (the stream fell
 *                   behind: interims are skipped, never finals, so it catches up)
 *   SPEECH_ENDED    the utterance is over (start = end of the speech)
 *   FINAL           the utterance's words (transcript; start/end: its first and last word,
 *                   else the utterance's bounds).  An utterance ends after eou_timeout_ms of
 *                   silence, after max_utterance_s, on lmd_live_session_finalize() (which
 *                   emits a FINAL even with no words) and at the end of the input.
 *   ERROR           the engine failed (error; LMD_ERROR domain or the engine's); nothing
 *                   follows, not even END
 *   END             after lmd_live_session_close(): the input is drained and the last
 *                   utterance finalised; duration = seconds of audio decoded.  Nothing follows.
 *
 * All times are seconds of session audio: 0 is the first sample pushed.
 *
 * Threads and contexts.  lmd_live_session_new() records the calling thread's
 * g_main_context_get_thread_default() (the owning context; never the global default unless
 * that is the caller's): every event callback runs there, in order.  push_audio, finalize,
 * close and cancel are called on the owning context's thread; they only queue work (audio
 * is copied or referenced, never decoded there).  Decoding runs:
 *   - with a pool: on its threads, in turns of at most 0.5 s of audio (one thread at a time
 *     per session);
 *   - without (pool NULL): wherever the caller calls lmd_live_session_run_queued() — for an
 *     element, its own streaming task.  When that thread owns the owning context (e.g. it
 *     pushed a private context as thread-default and acquired it before creating the session),
 *     the callback runs synchronously inside run_queued().
 * The engine session is opened by the first decoding turn, so creating a session is cheap.
 *
 * Back-pressure: the queue is bounded by the audio it holds (max_queue_seconds): push_audio
 * beyond it fails with LMD_ERROR_RATE_LIMIT_EXCEEDED and queues nothing (the caller decides:
 * the WebSocket handler reports it and closes, after close() drains what was queued).
 *
 * Lifetime: the session holds the engine and the pool; the callback's @user_data is
 * borrowed — call lmd_live_session_cancel() before it goes away.  After cancel (on the
 * owning context) no callback runs; queued audio is dropped, a turn in the middle of a slice
 * finishes it, and the last reference (a pool thread's or the caller's) frees the engine
 * session.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-engine.h"
#include "lmd-live-pool.h"
#include "lmd-pcm-converter.h"

G_BEGIN_DECLS

/* End-of-utterance silence by default.  The engine's own detector (sphinx: pocketsphinx's
 * noise tracker) places the end of speech coarsely and calls pauses inside a sentence
 * silence, so a short timeout splits sentences (bench-gst-asr: WER 38.0% at 800 ms, 43.7% at
 * 300 ms).  Silero finds the end of speech within a 32 ms window and after its own 100 ms
 * min_silence: 200 ms more keeps the sentences whole (36.6%) and the final comes about
 * 0.25 s after the end of the last word (docs/benchmarks.md). */
#define LMD_LIVE_EOU_TIMEOUT_MS 800
#define LMD_LIVE_EOU_TIMEOUT_SILERO_MS 200

typedef enum {
  LMD_LIVE_EVENT_SPEECH_STARTED,
  LMD_LIVE_EVENT_SPEECH_ENDED,
  LMD_LIVE_EVENT_INTERIM,
  LMD_LIVE_EVENT_FINAL,
  LMD_LIVE_EVENT_ERROR,
  LMD_LIVE_EVENT_END,
} LmdLiveEventType;

/* One event; everything in it is borrowed for the duration of the callback. */
typedef struct {
  LmdLiveEventType type;
  double start;                    /* SPEECH_*: the timestamp; INTERIM, FINAL: see above */
  double end;                      /* FINAL: >= start; INTERIM: the audio decoded so far */
  const char *text;                /* INTERIM: the hypothesis (not empty) */
  const LmdTranscript *transcript; /* FINAL: text, words (session times), confidence */
  const GError *error;             /* ERROR */
  double duration;                 /* END: seconds of audio decoded */
} LmdLiveEvent;

typedef struct {
  const char *language;     /* ISO 639-1 passed to the engine; NULL = "en" */
  gboolean word_timestamps; /* ask the engine for words */
  gboolean interim_results; /* emit INTERIM events */
  guint eou_timeout_ms;     /* silence that ends an utterance; 0 = the detector's:
                             * LMD_LIVE_EOU_TIMEOUT_SILERO_MS with Silero endpointing
                             * (vad->enabled > 0), else LMD_LIVE_EOU_TIMEOUT_MS */
  double max_utterance_s;   /* an utterance longer than this is finalised anyway; 0 = 30 */
  LmdPcmEncoding encoding;  /* of the bytes pushed */
  guint sample_rate;        /* of the bytes pushed; 0 = the engine's */
  double max_queue_seconds; /* audio queued and not yet decoded; 0 = 30 */
  const char *request_id;   /* nullable: on every log line of the session */
  const LmdVadOptions *vad; /* nullable (= the engine's defaults); copied: the stream's
                             * voice-activity options (vad=silero, the vad_* settings) */
} LmdLiveSettings;

#define LMD_TYPE_LIVE_SESSION (lmd_live_session_get_type ())
G_DECLARE_FINAL_TYPE (LmdLiveSession, lmd_live_session, LMD, LIVE_SESSION, GObject)

/* Runs on the owning context; @self is borrowed. */
typedef void (*LmdLiveEventFunc) (LmdLiveSession *self, const LmdLiveEvent *event,
                                  gpointer user_data);

/* (transfer full) a session of @engine (a reference is taken), decoded on @pool (nullable:
 * see run_queued; a reference is taken).  @settings is copied.  @func (@user_data,
 * borrowed) receives the events on the calling thread's thread-default context. */
LmdLiveSession *lmd_live_session_new (LmdEngine *engine, LmdLivePool *pool,
                                      const LmdLiveSettings *settings, LmdLiveEventFunc func,
                                      gpointer user_data);

/* Queues @audio (a reference is taken; bytes of settings.encoding at settings.sample_rate;
 * a sample may be split across two pushes).  FALSE with LMD_ERROR_RATE_LIMIT_EXCEEDED when
 * more than max_queue_seconds would wait; FALSE without error after close or cancel. */
gboolean lmd_live_session_push_audio (LmdLiveSession *self, GBytes *audio, GError **error);
/* Queues: end the open utterance now (its FINAL, words or not). */
void lmd_live_session_finalize (LmdLiveSession *self);
/* Queues the end of input: what is queued is decoded, the last utterance finalised, END
 * emitted.  Later pushes are refused. */
void lmd_live_session_close (LmdLiveSession *self);
/* Drops everything queued; no callback runs after this returns.  Idempotent. */
void lmd_live_session_cancel (LmdLiveSession *self);

/* Pool NULL only: runs every job queued so far on the calling thread (decoding; events are
 * delivered through the owning context).  One thread at a time. */
void lmd_live_session_run_queued (LmdLiveSession *self);

/* Seconds of audio queued and not yet decoded (any thread). */
double lmd_live_session_get_queued_seconds (LmdLiveSession *self);
/* (transfer none) settings.request_id, or NULL. */
const char *lmd_live_session_get_request_id (LmdLiveSession *self);

G_END_DECLS
