/* SPDX-License-Identifier: MIT */
/*
 * lmd-wav-header.h — what the server reads itself of a RIFF/WAVE image before GStreamer's
 * wavparse decodes it: whether its data chunk declares more bytes than the image holds (the
 * decoder then warns and decodes what is there).  fuzz/fuzz-wav-header.c reads any bytes
 * through it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Whether @data (@size bytes, any alignment) is a RIFF/WAVE image whose data chunk declares
 * more bytes than follow it.  When a data chunk is found, its declared size goes to @declared
 * and the bytes after its header to @present (both untouched otherwise).  A size left unset by
 * a streaming writer (0 or 0xFFFFFFFF) is not a truncation. */
gboolean lmd_wav_header_is_truncated (const guint8 *data, gsize size, guint64 *declared, guint64 *present);

G_END_DECLS
