/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-event.h — one event of the Wyoming protocol, and its encoding on the wire.
 *
 * On the wire an event is a header line (a JSON object ended by '\n': "type", and optionally
 * "data", "data_length", "payload_length", "version"), then data_length bytes of a JSON
 * object merged over the header's "data", then payload_length bytes of binary payload
 * (PCM audio for "audio-chunk").
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The protocol version written in every header this server sends. */
#define LMD_WYOMING_PROTOCOL_VERSION "1.5.2"

typedef struct {
  char *type;        /* owned */
  JsonObject *data;  /* owned ref; never NULL (empty when the event has none) */
  GBytes *payload;   /* owned; nullable */
} LmdWyomingEvent;

/* (transfer full) an event of @type with empty data; @data (nullable) is taken over. */
LmdWyomingEvent *lmd_wyoming_event_new (const char *type, JsonObject *data);
void lmd_wyoming_event_free (LmdWyomingEvent *self);

/* (transfer full) the event as written on the wire: header line, data, payload. */
GBytes *lmd_wyoming_event_encode (const LmdWyomingEvent *self);

/* Reads the integer member @name of @data into *@out; FALSE when it is absent or not an
 * integer (a JSON number with no fraction). */
gboolean lmd_wyoming_event_get_int (const LmdWyomingEvent *self, const char *name, gint64 *out);
/* (transfer none) (nullable) the string member @name of the data, NULL when absent or not a
 * string. */
const char *lmd_wyoming_event_get_string (const LmdWyomingEvent *self, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdWyomingEvent, lmd_wyoming_event_free)

G_END_DECLS
