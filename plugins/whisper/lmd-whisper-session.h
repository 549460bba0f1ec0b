/* SPDX-License-Identifier: MIT */
/*
 * lmd-whisper-session.h — one request on the whisper engine.
 *
 * Whisper decodes 30-second windows whose boundaries follow the predicted timestamps, and the
 * spectrogram of every window is normalised by the loudest frame of the whole audio, so
 * nothing can be decoded before the audio ends: the session keeps the request's samples in an
 * LmdPcmSpool (one window in memory, the rest in an unlinked file of [whisper] spool_dir) and
 * decodes them window by window in finish(), through lmw_transcribe_reader, which holds one
 * window at a time.  The memory of a session is therefore bounded (about 2 MB of samples and
 * the decoding state) whatever the length of the audio; the disk takes 4 bytes per sample
 * (230 MB per hour of audio) until the request ends.  Word times are spread over each segment's time span in
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

/* Samples the session holds in memory (at most one 30-second window), for tests. */
gsize lmd_whisper_session_get_buffered_samples (LmdWhisperSession *self);

G_END_DECLS
