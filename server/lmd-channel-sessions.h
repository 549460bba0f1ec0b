/* SPDX-License-Identifier: MIT */
/*
 * lmd-channel-sessions.h — one engine session per channel of a multichannel input
 * (a request with LmdTranscribeOptions.multichannel): each channel is transcribed on its own,
 * as a separate speaker's recording would be, instead of the channels being mixed to mono.
 *
 * The decoder hands the channels interleaved (LmdChannelsPcmFunc, lmd-audio-decoder.h);
 * lmd_channel_sessions_feed() opens the sessions at the first chunk, when the channel count is
 * known, and feeds each its own samples.  lmd_channel_sessions_finish() returns the transcript
 * of channel 0 with every channel's transcript in LmdTranscript.channels.
 *
 * Used on one thread at a time (a router's inference thread).
 */
#pragma once

#include "lmd-engine.h"
#include "lmd-transcript.h"

G_BEGIN_DECLS

typedef struct _LmdChannelSessions LmdChannelSessions;

/* @engine and @options are borrowed until lmd_channel_sessions_free(); @max_samples bounds
 * the frames fed (FILE_TOO_LARGE beyond, @max_seconds named in the message). */
LmdChannelSessions *lmd_channel_sessions_new (LmdEngine *engine, const LmdSessionOptions *options,
                                              guint64 max_samples, double max_seconds);
void lmd_channel_sessions_free (LmdChannelSessions *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdChannelSessions, lmd_channel_sessions_free)

/* An LmdChannelsPcmFunc; @user_data is the LmdChannelSessions. */
gboolean lmd_channel_sessions_feed (const float *interleaved, guint n_channels, gsize n_frames,
                                    gpointer user_data, GError **error);

/* Frames fed to each session so far. */
guint64 lmd_channel_sessions_get_frames (LmdChannelSessions *self);

/* (transfer full) channel 0's transcript, with .channels holding every channel's (durations
 * set from @sample_rate); NULL with @error when a session fails or nothing was fed. */
LmdTranscript *lmd_channel_sessions_finish (LmdChannelSessions *self, guint sample_rate,
                                            GError **error);

G_END_DECLS
