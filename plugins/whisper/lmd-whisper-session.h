/* SPDX-License-Identifier: MIT */
/*
 * lmd-whisper-session.h — one request on the whisper engine.
 *
 * Whisper decodes 30-second windows whose boundaries follow the predicted timestamps, so the
 * session keeps the request's audio (as float samples; the router bounds its length) and
 * decodes it all in finish().  Word times are spread over each segment's time span in
 * proportion to the words' lengths: segment boundaries are the model's, word boundaries an
 * estimate.  A word's confidence is the segment's mean token probability.
 */
#pragma once

#include <glib-object.h>

#include "lmd-engine.h"
#include "lmd-whisper-engine.h"

G_BEGIN_DECLS

#define LMD_TYPE_WHISPER_SESSION (lmd_whisper_session_get_type ())
G_DECLARE_FINAL_TYPE (LmdWhisperSession, lmd_whisper_session, LMD, WHISPER_SESSION, GObject)

/* (transfer full) or NULL with @error set */
LmdWhisperSession *lmd_whisper_session_new (LmdWhisperEngine *engine, const LmdSessionOptions *options,
                                            GError **error);

G_END_DECLS
