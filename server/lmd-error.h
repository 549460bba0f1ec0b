/* SPDX-License-Identifier: MIT */
/*
 * lmd-error.h — the one error domain of the server's public contract.
 *
 * Each code maps to one row of the error table in docs/api.md: an HTTP status and the
 * machine-readable "code" string clients see.  Plugins report runtime failures with these
 * codes so that every transport renders them the same way.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LMD_ERROR (lmd_error_quark ())
GQuark lmd_error_quark (void);

typedef enum {
  LMD_ERROR_INTERNAL,            /* 500 INTERNAL */
  LMD_ERROR_MISSING_PARAMETER,   /* 400 */
  LMD_ERROR_INVALID_PARAMETER,   /* 400 */
  LMD_ERROR_INVALID_LICENSE,     /* 401 */
  LMD_ERROR_LICENSE_EXPIRED,     /* 403 */
  LMD_ERROR_QUOTA_EXCEEDED,      /* 403 */
  LMD_ERROR_NOT_FOUND,           /* 404 */
  LMD_ERROR_FILE_TOO_LARGE,      /* 413 */
  LMD_ERROR_UNSUPPORTED_FORMAT,  /* 415 */
  LMD_ERROR_UNPROCESSABLE_AUDIO, /* 422 */
  LMD_ERROR_RATE_LIMIT_EXCEEDED, /* 429 */
  LMD_ERROR_SERVICE_UNAVAILABLE, /* 503 */
  LMD_ERROR_TIMEOUT,             /* 504 TIMEOUT: the request ran past its time limit */
  LMD_ERROR_FEATURE_NOT_LICENSED,/* 403: the key's license does not include the feature asked
                                  * for ("streaming", "whisper", "gpu") */
  LMD_ERROR_BAD_GATEWAY,         /* 502: role api, the worker that had the whole request closed
                                  * its connection without answering */
} LmdErrorCode;

/* Errors about one parameter (MISSING_PARAMETER, INVALID_PARAMETER) carry its name at the
 * start of the message, "param: human sentence", so every transport can report "param". */
#define LMD_ERROR_PARAM_SEPARATOR ": "
/* (transfer full) the parameter an error is about, or NULL */
char *lmd_error_get_param (const GError *error);
/* (transfer full) the human sentence of an error, without the parameter prefix */
char *lmd_error_get_sentence (const GError *error);

/* "FILE_TOO_LARGE" etc. (static string) */
const char *lmd_error_code_name (LmdErrorCode code);
/* the HTTP status for @code */
guint lmd_error_http_status (LmdErrorCode code);
/* Maps any GError to an LmdErrorCode: LMD_ERROR codes pass through, G_IO_ERROR_CANCELLED and
 * G_IO_ERROR_TIMED_OUT become TIMEOUT, anything else INTERNAL. */
LmdErrorCode lmd_error_classify (const GError *error);

G_END_DECLS
