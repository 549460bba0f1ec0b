/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-transport.h — the "wyoming" transport plugin: speech-to-text over the Wyoming
 * protocol (Home Assistant, Rhasspy) on TCP, [wyoming] host:port (default 127.0.0.1:10300).
 *
 * A GSocketService on the main loop accepts any number of connections (max_connections open
 * at once); each is an LmdWyomingConnection.  Transcription goes through the router like
 * every other request: license admission, the bounded worker pool, the limits, the
 * router's counters.  See docs/wyoming.md.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define LMD_TYPE_WYOMING_TRANSPORT (lmd_wyoming_transport_get_type ())
G_DECLARE_FINAL_TYPE (LmdWyomingTransport, lmd_wyoming_transport, LMD, WYOMING_TRANSPORT, GObject)

G_END_DECLS
