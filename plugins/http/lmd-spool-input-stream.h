/* SPDX-License-Identifier: MIT */
/*
 * lmd-spool-input-stream.h — reads a request body from its LmdBodySpool while it is still
 * arriving.
 *
 * Each attempt to forward a request gets its own stream, reading from the start of the
 * spool.  A read past what has arrived waits (asynchronously) for the client's next bytes;
 * the end of the stream is the end of the client's body; an aborted spool fails the read
 * with the spool's error.  The stream is seekable back to any offset already received
 * (libsoup rewinds a request body it sends again).  Asynchronous reads only: a blocking read
 * that would have to wait fails with G_IO_ERROR_WOULD_BLOCK.
 */
#pragma once

#include <gio/gio.h>

#include "lmd-body-spool.h"

G_BEGIN_DECLS

#define LMD_TYPE_SPOOL_INPUT_STREAM (lmd_spool_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (LmdSpoolInputStream, lmd_spool_input_stream, LMD, SPOOL_INPUT_STREAM, GInputStream)

/* @spool: a reference is taken. */
GInputStream *lmd_spool_input_stream_new (LmdBodySpool *spool);

G_END_DECLS
