/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-stream.h — a WebSocket client of the live transcription endpoint, for tests and
 * benchmarks: connects with libsoup, records every message with its arrival time, and
 * encodes test audio in the stream encodings.
 */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct {
  SoupWebsocketConnection *conn; /* owned */
  GPtrArray *messages;           /* JsonObject (owned refs), in arrival order */
  GArray *arrivals;              /* gint64 monotonic µs of each message */
  gboolean closed;
  gushort close_code;
  guint n_finals, n_interims, n_last;
} LmdTestStream;

/* Connects to @url (ws://...) on the thread-default main context, iterating it (as does
 * lmd_test_stream_wait_closed(), so a stream may live on another thread); NULL with
 * @error set when the handshake fails. */
LmdTestStream *lmd_test_stream_connect (SoupSession *session, const char *url, GError **error);
void lmd_test_stream_free (LmdTestStream *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTestStream, lmd_test_stream_free)

void lmd_test_stream_send (LmdTestStream *self, const void *data, gsize len);
void lmd_test_stream_send_text (LmdTestStream *self, const char *text);
/* Iterates the main context until the connection is closed or @timeout_s passes (ten times
 * that for a daemon under valgrind, as lmd_test_timeout_s). */
gboolean lmd_test_stream_wait_closed (LmdTestStream *self, double timeout_s);
/* The concatenated transcripts of the final messages. (transfer full) */
char *lmd_test_stream_finals_text (LmdTestStream *self);
/* The first message whose "type" is @type (or, @type NULL, that is an error), or NULL. */
JsonObject *lmd_test_stream_find_type (LmdTestStream *self, const char *type);

/* Audio helpers: @samples are floats in [-1, 1] at 16 kHz. (transfer full) */
GBytes *lmd_test_encode_linear16 (const float *samples, gsize n);
GBytes *lmd_test_encode_linear32 (const float *samples, gsize n);
GBytes *lmd_test_encode_mulaw (const float *samples, gsize n);
/* Resamples 16 kHz to @rate (8000 or a multiple of 16000) with a plain FIR/interpolation. */
float *lmd_test_resample (const float *samples, gsize n, guint rate, gsize *out_n);

G_END_DECLS
