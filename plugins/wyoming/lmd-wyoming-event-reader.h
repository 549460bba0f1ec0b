/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-event-reader.h — turns the bytes of a Wyoming connection into events, within
 * bounds.
 *
 * Bytes arrive in pieces of any size (push()); next() returns each complete event in order.
 * Nothing unbounded is ever buffered: a header line longer than max_header_bytes (counted
 * before its '\n' arrives), a data_length over max_data_bytes or a payload_length over
 * max_payload_bytes is an error as soon as it is seen.  Errors (LMD_ERROR) are final: the
 * connection is to be closed.
 *   FILE_TOO_LARGE     header line, data_length or payload_length over its bound
 *   INVALID_PARAMETER  a header that is not a JSON object with a string "type", a
 *                      data_length/payload_length that is not an integer >= 0, additional
 *                      data that is not a JSON object
 */
#pragma once

#include <glib.h>

#include "lmd-wyoming-event.h"

G_BEGIN_DECLS

typedef struct {
  gsize max_header_bytes;
  gsize max_data_bytes;
  gsize max_payload_bytes;
} LmdWyomingBounds;

typedef struct _LmdWyomingEventReader LmdWyomingEventReader;

LmdWyomingEventReader *lmd_wyoming_event_reader_new (const LmdWyomingBounds *bounds);
void lmd_wyoming_event_reader_free (LmdWyomingEventReader *self);

/* Appends @len bytes received. */
void lmd_wyoming_event_reader_push (LmdWyomingEventReader *self, const guint8 *data, gsize len);
/* (transfer full) (nullable) the next complete event; NULL without @error when more bytes
 * are needed, NULL with @error when the input breaks a rule (see above). */
LmdWyomingEvent *lmd_wyoming_event_reader_next (LmdWyomingEventReader *self, GError **error);
/* Bytes received and not yet returned as events. */
gsize lmd_wyoming_event_reader_get_pending (LmdWyomingEventReader *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdWyomingEventReader, lmd_wyoming_event_reader_free)

G_END_DECLS
