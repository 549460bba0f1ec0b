/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-config.h — the [wyoming] group of the configuration.
 *
 *   host              address to listen on (default 127.0.0.1; an IP address, no name lookup)
 *   port              TCP port (default 10300; 0 picks a free one)
 *   max_connections   connections open at once; one more gets an error event (default 100)
 *   idle_timeout_s    a connection that sends nothing this long while the server waits for
 *                     it gets an error event and is closed (default 30)
 *   max_header_bytes  longest header line (default 65536)
 *   max_data_bytes    largest data_length (default 65536)
 *   max_payload_bytes largest payload_length, i.e. audio chunk (default 1048576)
 *   api_key           the key requests are admitted with when a license is loaded (the
 *                     protocol has no authentication of its own); default none
 *   streaming         announce transcript streaming and send transcript-start/-chunk/-stop
 *                     when the model can stream (default false)
 *   zeroconf          announce the service on the local network (DNS-SD _wyoming._tcp,
 *                     Avahi) so Home Assistant discovers it (default false)
 *   zeroconf_name     the name announced (default "lightning-mediad")
 * The audio of one utterance is bounded by [limits] max_body_mb and max_audio_seconds.
 */
#pragma once

#include <glib.h>

#include "lmd-wyoming-event-reader.h"

G_BEGIN_DECLS

typedef struct {
  char *host;                /* owned */
  guint port;
  guint max_connections;
  guint idle_timeout_s;
  LmdWyomingBounds bounds;
  char *api_key;             /* owned, nullable */
  gboolean streaming;
  gboolean zeroconf;
  char *zeroconf_name;       /* owned */
} LmdWyomingConfig;

/* Fills @self from [wyoming] of @key_file (defaults for absent keys); FALSE with @error
 * (G_KEY_FILE_ERROR) for a malformed or out-of-range value.  Clear with _clear(). */
gboolean lmd_wyoming_config_load (LmdWyomingConfig *self, GKeyFile *key_file, GError **error);
void lmd_wyoming_config_copy (LmdWyomingConfig *dest, const LmdWyomingConfig *src);
void lmd_wyoming_config_clear (LmdWyomingConfig *self);

G_END_DECLS
