/* SPDX-License-Identifier: MIT */
/*
 * lmd-engine.h — interfaces: a speech-recognition engine (one loaded model family) and the
 * sessions it opens.
 *
 * An engine holds the shared, read-only model; each session holds its own decoding state, so
 * many sessions of one engine run at once on different threads.  Batch transcription is one
 * session fed the whole file, then finished.
 *
 * Threading: setup() runs once at start-up (may be slow: loads the model).  open_session()
 * and every session method run on worker threads; a session is used by one thread at a time.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-transcript.h"
#include "lmd-vad-options.h"

G_BEGIN_DECLS

/* Largest decoder batch an engine reports (rows of one decoder step). */
#define LMD_ENGINE_MAX_BATCH 16
/* Buckets of LmdEngineDevice.steps: rows <= 1, 2, 4, ... 256, and more. */
#define LMD_ENGINE_STEP_BUCKETS 10

/* What an engine computes on, for /health and /metrics. */
typedef struct {
  char *name;           /* owned: "cpu", or "cuda: NVIDIA H100 80GB HBM3 (device 0, ...)" */
  gboolean gpu;         /* name is a GPU's */
  guint64 memory_bytes; /* device memory the engine holds now (weights and buffers) */
  guint64 batches[LMD_ENGINE_MAX_BATCH + 1]; /* decoder steps run with b rows, b = 1 .. 16 */
  /* an engine that batches requests on its device (0 / empty otherwise) */
  guint slots;          /* request slots budgeted at start */
  guint slots_in_use;
  guint slots_waiting;  /* requests waiting for a slot */
  guint64 slot_waits;   /* slots handed out, and the seconds they were waited for in all */
  double slot_wait_seconds;
  guint64 steps[LMD_ENGINE_STEP_BUCKETS]; /* batched decoder steps of <= 1, 2, 4 .. 256, more rows */
  guint64 step_rows;
  guint64 encoder_batches, encoder_windows; /* encoder passes and the windows they ran */
  /* one-token decoder steps run from a row table: [0] directly, [1] recorded as a CUDA graph,
   * [2] replayed; rows whose next token was picked on the device; rows served by another
   * row's read of their cross K/V (a request's beams) */
  guint64 table_steps[3];
  guint64 rows_picked;
  guint64 rows_cross_shared;
} LmdEngineDevice;

typedef struct {
  const char *language;     /* ISO 639-1, or "auto"; NULL = engine default */
  gboolean word_timestamps; /* the caller wants words (engines may always produce them) */
  gboolean punctuate;
  const char *request_id;   /* for log lines; nullable */
  gint beam_size;           /* 0 = the engine's default; engines without beam search ignore it */
  const char *prompt;       /* nullable: text that precedes the audio; engines without
                             * prompting ignore it */
  gint condition_on_previous_text; /* 0 = the engine's default, > 0 on, < 0 off */
  gboolean streaming;       /* live input: utterances are decoded as the audio arrives and
                             * ended by the caller (end_utterance); needs the optional
                             * streaming methods below */
  const LmdVadOptions *vad; /* nullable (= all defaults): voice-activity detection before
                             * batch decoding; engines without it ignore it */
  GCancellable *cancellable; /* nullable: cancelled when the request is (time limit, client
                              * gone); an engine may stop waiting or decoding then */
  gboolean translate;       /* English text of speech in any language; only asked of an engine
                             * whose can_translate() says yes */
} LmdSessionOptions;

#define LMD_TYPE_ENGINE_SESSION (lmd_engine_session_get_type ())
G_DECLARE_INTERFACE (LmdEngineSession, lmd_engine_session, LMD, ENGINE_SESSION, GObject)

struct _LmdEngineSessionInterface {
  GTypeInterface parent_iface;

  /* Feeds mono float samples at the engine's sample rate. */
  gboolean (*feed) (LmdEngineSession *self, const float *samples, gsize n_samples, GError **error);
  /* Ends the input and returns the whole transcript; word times are absolute. */
  LmdTranscript *(*finish) (LmdEngineSession *self, GError **error);

  /* Optional: streaming sessions (LmdSessionOptions.streaming).  An engine implements all
   * three or none; lmd_engine_session_can_stream() tells.  In a streaming session feed()
   * runs the engine's voice-activity detector on every sample: an utterance opens when
   * speech starts and stays open, decoded incrementally, until end_utterance(). */

  /* (transfer full) (nullable) the best hypothesis of the open utterance so far; NULL when
   * no utterance is open. */
  char *(*get_partial) (LmdEngineSession *self);
  /* Ends the open utterance and returns its words (absolute session times; duration = the
   * session's audio so far); an empty transcript when none is open.  The session goes on:
   * the next speech opens the next utterance. */
  LmdTranscript *(*end_utterance) (LmdEngineSession *self, GError **error);
  /* Whether the detector hears speech at the end of the audio fed so far.  @since (nullable)
   * gets the session time (s) at which that state began: the onset of the speech, or the
   * end of the last speech.  @utterance_start (nullable) gets the start of the open
   * utterance, or -1 when none is open. */
  gboolean (*get_speech_state) (LmdEngineSession *self, double *since, double *utterance_start);
  /* Optional (NULL: every session with the three methods streams): whether this session
   * streams.  An engine whose live sessions need something the server lacks (whisper: a
   * voice-activity model) opens a batch session instead, and says so here. */
  gboolean (*can_stream) (LmdEngineSession *self);
};

gboolean lmd_engine_session_feed (LmdEngineSession *self, const float *samples, gsize n_samples,
                                  GError **error);
/* (transfer full) */
LmdTranscript *lmd_engine_session_finish (LmdEngineSession *self, GError **error);
/* Whether @self implements the streaming methods. */
gboolean lmd_engine_session_can_stream (LmdEngineSession *self);
/* (transfer full) (nullable) */
char *lmd_engine_session_get_partial (LmdEngineSession *self);
/* (transfer full) */
LmdTranscript *lmd_engine_session_end_utterance (LmdEngineSession *self, GError **error);
gboolean lmd_engine_session_get_speech_state (LmdEngineSession *self, double *since,
                                              double *utterance_start);

/* Whether an engine's model can serve requests yet (engines that load it in the background). */
typedef enum {
  LMD_ENGINE_READY,
  LMD_ENGINE_LOADING,
  LMD_ENGINE_FAILED,
} LmdEngineState;

#define LMD_TYPE_ENGINE (lmd_engine_get_type ())
G_DECLARE_INTERFACE (LmdEngine, lmd_engine, LMD, ENGINE, GObject)

struct _LmdEngineInterface {
  GTypeInterface parent_iface;

  /* Reads the engine's config group and loads the model. */
  gboolean (*setup) (LmdEngine *self, GKeyFile *config, GError **error);
  /* The sample rate sessions expect (16000 for both engines shipped). */
  guint (*get_sample_rate) (LmdEngine *self);
  /* (transfer none) the model's name as clients pass it in model=, e.g. "sphinx-en-us" */
  const char *(*get_model_name) (LmdEngine *self);
  /* Whether @language (ISO 639-1 or "auto") can be served. */
  gboolean (*supports_language) (LmdEngine *self, const char *language);
  /* (transfer full) a new session, or NULL with @error set. */
  LmdEngineSession *(*open_session) (LmdEngine *self, const LmdSessionOptions *options,
                                     GError **error);
  /* Optional (NULL: always ready): the model's state; thread-safe.  @message (nullable) gets
   * (transfer full) why it is not ready ("downloading ...", the load error). */
  LmdEngineState (*get_state) (LmdEngine *self, char **message);
  /* Optional (NULL: the CPU, nothing to report): what the engine computes on; thread-safe.
   * Fills @device; its name is (transfer full). */
  void (*get_device) (LmdEngine *self, LmdEngineDevice *device);
  /* Optional (NULL: no): whether sessions can translate (LmdSessionOptions.translate). */
  gboolean (*can_translate) (LmdEngine *self);
};

gboolean lmd_engine_setup (LmdEngine *self, GKeyFile *config, GError **error);
guint lmd_engine_get_sample_rate (LmdEngine *self);
const char *lmd_engine_get_model_name (LmdEngine *self);
gboolean lmd_engine_supports_language (LmdEngine *self, const char *language);
LmdEngineSession *lmd_engine_open_session (LmdEngine *self, const LmdSessionOptions *options,
                                           GError **error);
LmdEngineState lmd_engine_get_state (LmdEngine *self, char **message);
/* Fills @device (zeroed first; name "cpu" when the engine reports nothing); free its name. */
void lmd_engine_get_device (LmdEngine *self, LmdEngineDevice *device);
gboolean lmd_engine_can_translate (LmdEngine *self);

G_END_DECLS
