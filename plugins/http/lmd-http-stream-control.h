/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-stream-control.h — what a live stream's text frame asks for.
 *
 * A text frame of a WebSocket stream is a control message: at most LMD_JSON_MAX_CONTROL_BYTES
 * of JSON, an object, read by the stream's dialect (lmd-http-stream-dialect.h) or, without one,
 * as the project's own messages ({"type":"finalize"}, {"type":"close_stream"} or
 * {"type":"end"}; docs/api.md).  lmd-http-stream.c acts on the answer; the bytes are read here
 * alone, with no connection, so that fuzz/fuzz-stream-control.c reads them the same way.
 */
#pragma once

#include "lmd-http-stream-dialect.h"

G_BEGIN_DECLS

/* Reads the text frame @data (@len bytes, not NUL-terminated) of a stream in @dialect
 * (nullable: the project's own messages) whose dialect state is @state.  Returns what the
 * stream does; LMD_HTTP_STREAM_REJECT sets @error (LMD_ERROR: FILE_TOO_LARGE for a frame over
 * the limit, else INVALID_PARAMETER; lmd_error_get_sentence() gives the sentence), @param
 * (transfer full, nullable: the parameter the answer names, "message" for a frame that is
 * not a JSON object within the bounds, "type" for an unknown type) and @close_code (the
 * WebSocket close that follows: 1009 for a frame too large, 1008 otherwise).  Never
 * KEEP_ALIVE without a dialect. */
LmdHttpStreamControl lmd_http_stream_control_read (const LmdHttpStreamDialect *dialect, gpointer state,
                                                   const char *data, gsize len, gushort *close_code,
                                                   char **param, GError **error);

G_END_DECLS
