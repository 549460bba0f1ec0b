/* SPDX-License-Identifier: MIT */
/*
 * lmd-wyoming-zeroconf.h — announces the Wyoming service on the local network
 * (DNS-SD "_wyoming._tcp", through avahi-daemon with Avahi's client library on the GLib main
 * loop), so Home Assistant discovers it.
 *
 * Built only where libavahi-client and libavahi-glib are installed (LMD_HAVE_AVAHI).
 * Discovery is a convenience and never stops the server: without the system D-Bus, new()
 * fails and the transport logs a warning; with D-Bus but no avahi-daemon yet, the client
 * waits for the daemon and announces once it runs.  A name taken by another service gets
 * Avahi's alternative name ("lightning-mediad #2").  Main context only.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdWyomingZeroconf LmdWyomingZeroconf;

/* (transfer full) starts announcing @name on @port; NULL with @error when Avahi's client
 * cannot be created at all. */
LmdWyomingZeroconf *lmd_wyoming_zeroconf_new (const char *name, guint port, GError **error);
/* Withdraws the announcement. */
void lmd_wyoming_zeroconf_free (LmdWyomingZeroconf *self);

G_END_DECLS
