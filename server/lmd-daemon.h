/* SPDX-License-Identifier: MIT */
/*
 * lmd-daemon.h — the lightning-mediad process: configuration, plugins, router, main loop.
 *
 * Configuration precedence, lowest to highest: built-in defaults < key file (--config, default
 * data/lightning-mediad.conf) < environment variables < command-line flags.  The daemon writes
 * the environment and flags into the key file, so plugins read one GKeyFile.
 *
 * Shutdown: the first SIGINT/SIGTERM stops accepting connections and drains — requests
 * already admitted finish, for at most [server] shutdown_grace_s (30 s) — then the process
 * exits 0.  A second signal exits at once.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs the daemon with the process's arguments; returns the exit status. */
int lmd_daemon_main (int argc, char **argv);

G_END_DECLS
