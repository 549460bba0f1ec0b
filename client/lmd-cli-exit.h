/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-exit.h — lightning-transcribe's exit statuses, so that a script can tell what went
 * wrong (docs/cli.md lists them).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  LMD_CLI_EXIT_OK = 0,
  LMD_CLI_EXIT_FAILURE = 1,     /* anything else: the output could not be written */
  LMD_CLI_EXIT_USAGE = 2,       /* a bad command line */
  LMD_CLI_EXIT_INPUT = 3,       /* bad input: the audio cannot be read here, or the server
                                 * refused it (400, 413, 415, 422) */
  LMD_CLI_EXIT_AUTH = 4,        /* the key was refused (401, 403) */
  LMD_CLI_EXIT_SERVER = 5,      /* the server failed or is busy (429, 5xx, an answer that is
                                 * not the API's, a stream that ended without its last message) */
  LMD_CLI_EXIT_UNREACHABLE = 6, /* no connection: refused, name not resolved, timed out */
} LmdCliExit;

/* The exit status for an HTTP error status of the server. */
LmdCliExit lmd_cli_exit_from_status (guint status);
/* The exit status for an error "code" of the API's error table (nullable: unknown). */
LmdCliExit lmd_cli_exit_from_code (const char *code);

/* Prints the server's error answer (@status, @body: the API's {"error","code","request_id"}
 * or anything else) on standard error and returns the exit status it means. */
LmdCliExit lmd_cli_exit_report_http (guint status, GBytes *body);
/* Prints why @url could not be used (@error: libsoup's or GIO's) and returns its status:
 * unreachable when no connection was made, a server failure when one broke. */
LmdCliExit lmd_cli_exit_report_transport (const char *url, const GError *error);
/* Prints a stream's error message ({"type":"error","code","error"}) and returns its status. */
LmdCliExit lmd_cli_exit_report_stream (const char *code, const char *message);

G_END_DECLS
