/* SPDX-License-Identifier: MIT */
/*
 * lightning-mediad — self-hosted speech-to-text server.  See lmd-daemon.h and docs/.
 */
#include "lmd-daemon.h"

int
main (int argc, char **argv)
{
  return lmd_daemon_main (argc, argv);
}
