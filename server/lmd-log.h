/* SPDX-License-Identifier: MIT */
/*
 * lmd-log.h — one log line per event, with the request id on every line about a request.
 *
 *   2026-11-24T16:00:00.123Z INFO  [req_3f2a...] http: POST /v1/listen → 200 (1.42 s)
 *
 * Every value is written with its control characters escaped (a newline as \n, other
 * controls and bytes that are not UTF-8 as \xNN, C1 controls and U+2028/U+2029 as \u{NNNN}),
 * so one event is always one line whatever a client sent.  Lines go to stderr.  The level comes from LOG_LEVEL / --log-level (error, warning, info,
 * debug; default info).  Use LMD_LOG_REQUEST() for anything about a request.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  LMD_LOG_ERROR,
  LMD_LOG_WARNING,
  LMD_LOG_INFO,
  LMD_LOG_DEBUG,
} LmdLogLevel;

/* Installs the log writer; @level_name (nullable) is "error", "warning", "info" or "debug". */
gboolean lmd_log_init (const char *level_name, GError **error);
void lmd_log_set_level (LmdLogLevel level);

/* Logs @format in @domain with the field REQUEST_ID = @request_id (nullable). */
void lmd_log_request (const char *domain, GLogLevelFlags level, const char *request_id,
                      const char *format, ...) G_GNUC_PRINTF (4, 5);

/* Sets the request the calling thread works for (nullable = none): every line logged on this
 * thread without its own REQUEST_ID carries it, so plugins' messages name the request too.
 * The string is copied. */
void lmd_log_set_thread_request_id (const char *request_id);

#define LMD_LOG_REQUEST(level, request_id, ...) \
  lmd_log_request (G_LOG_DOMAIN, (level), (request_id), __VA_ARGS__)

G_END_DECLS
