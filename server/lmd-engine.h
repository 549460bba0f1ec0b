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

G_BEGIN_DECLS

typedef struct {
  const char *language;     /* ISO 639-1, or "auto"; NULL = engine default */
  gboolean word_timestamps; /* the caller wants words (engines may always produce them) */
  gboolean punctuate;
  const char *request_id;   /* for log lines; nullable */
} LmdSessionOptions;

#define LMD_TYPE_ENGINE_SESSION (lmd_engine_session_get_type ())
G_DECLARE_INTERFACE (LmdEngineSession, lmd_engine_session, LMD, ENGINE_SESSION, GObject)

struct _LmdEngineSessionInterface {
  GTypeInterface parent_iface;

  /* Feeds mono float samples at the engine's sample rate. */
  gboolean (*feed) (LmdEngineSession *self, const float *samples, gsize n_samples, GError **error);
  /* Ends the input and returns the whole transcript; word times are absolute. */
  LmdTranscript *(*finish) (LmdEngineSession *self, GError **error);
};

gboolean lmd_engine_session_feed (LmdEngineSession *self, const float *samples, gsize n_samples,
                                  GError **error);
/* (transfer full) */
LmdTranscript *lmd_engine_session_finish (LmdEngineSession *self, GError **error);

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
};

gboolean lmd_engine_setup (LmdEngine *self, GKeyFile *config, GError **error);
guint lmd_engine_get_sample_rate (LmdEngine *self);
const char *lmd_engine_get_model_name (LmdEngine *self);
gboolean lmd_engine_supports_language (LmdEngine *self, const char *language);
LmdEngineSession *lmd_engine_open_session (LmdEngine *self, const LmdSessionOptions *options,
                                           GError **error);

G_END_DECLS
