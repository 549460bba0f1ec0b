/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-wyoming-client.h — a Wyoming protocol client for tests, written from the
 * protocol's description (a JSON header line with "type" and optional "data",
 * "data_length", "payload_length"; then data_length bytes of JSON merged into the data; then
 * payload_length bytes of payload).
 *
 * Blocking I/O on the calling thread with a socket timeout, so a test thread can never hang;
 * each client is used by one thread.  Loopback only.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  char *type;          /* owned */
  JsonObject *data;    /* owned ref; never NULL */
  GBytes *payload;     /* owned; nullable */
} LmdTestWyomingEvent;

void lmd_test_wyoming_event_free (LmdTestWyomingEvent *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTestWyomingEvent, lmd_test_wyoming_event_free)

typedef struct _LmdTestWyomingClient LmdTestWyomingClient;

/* (transfer full) connected to 127.0.0.1:@port, or NULL with @error; reads and writes time
 * out after @timeout_s. */
LmdTestWyomingClient *lmd_test_wyoming_client_connect (guint port, guint timeout_s, GError **error);
void lmd_test_wyoming_client_free (LmdTestWyomingClient *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTestWyomingClient, lmd_test_wyoming_client_free)

/* Sends an event; @data_json (nullable) is a JSON object's text sent as additional data;
 * @payload (nullable) of @len bytes. */
gboolean lmd_test_wyoming_client_send (LmdTestWyomingClient *self, const char *type,
                                       const char *data_json, const void *payload, gsize len,
                                       GError **error);
/* Sends raw bytes (malformed input). */
gboolean lmd_test_wyoming_client_send_raw (LmdTestWyomingClient *self, const void *bytes, gsize len,
                                           GError **error);
/* (transfer full) (nullable) the next event; NULL without @error at end of stream. */
LmdTestWyomingEvent *lmd_test_wyoming_client_receive (LmdTestWyomingClient *self, GError **error);

/* Sends transcribe (when @language is not NULL), audio-start, the PCM @pcm in audio-chunks
 * of @chunk_bytes and audio-stop.  @realtime: each chunk is sent when its audio time has
 * come, as a microphone would. */
gboolean lmd_test_wyoming_client_send_audio (LmdTestWyomingClient *self, const char *language,
                                             const guint8 *pcm, gsize len, guint rate, guint width,
                                             guint channels, gsize chunk_bytes, gboolean realtime,
                                             GError **error);

G_END_DECLS
