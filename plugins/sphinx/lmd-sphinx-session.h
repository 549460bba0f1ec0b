/* SPDX-License-Identifier: MIT */
/*
 * lmd-sphinx-session.h — one transcription on the sphinx engine (LmdEngineSession).
 */
#pragma once

#include "lmd-engine.h"
#include "lmd-sphinx-engine.h"

G_BEGIN_DECLS

#define LMD_TYPE_SPHINX_SESSION (lmd_sphinx_session_get_type ())
G_DECLARE_FINAL_TYPE (LmdSphinxSession, lmd_sphinx_session, LMD, SPHINX_SESSION, GObject)

/* (transfer full) a session that keeps a reference to @engine, or NULL with @error set */
LmdSphinxSession *lmd_sphinx_session_new (LmdSphinxEngine *engine,
                                          const LmdSessionOptions *options, GError **error);

G_END_DECLS
