/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-stream.h — lightning-transcribe --stream: live transcription over the WebSocket.
 *
 * The audio (a WAV, or raw s16le mono PCM) is read from a file or standard input and sent in
 * frames of 100 ms at --speed times real time (a live recorder on standard input paces
 * itself), then {"type":"close_stream"}; the stream ends with the server's last message.
 * Output by --format: text prints each final as a line (and the interim hypothesis rewritten
 * in place on a terminal), json every server message as one line, srt/vtt the finals as
 * cues at the end.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-cli-exit.h"
#include "lmd-cli-options.h"

G_BEGIN_DECLS

/* Streams @input (@input_size bytes when known, else 0, for the progress bar).  Runs its own
 * main loop. */
LmdCliExit lmd_cli_stream_run (const LmdCliOptions *options, GInputStream *input, guint64 input_size);

G_END_DECLS
