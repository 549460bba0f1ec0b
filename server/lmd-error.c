/* SPDX-License-Identifier: MIT */
#include "lmd-error.h"

#include <gio/gio.h>
#include <string.h>

G_DEFINE_QUARK (lmd-error-quark, lmd_error)

static const struct {
  const char *name;
  guint status;
} error_table[] = {
  [LMD_ERROR_INTERNAL] = { "INTERNAL", 500 },
  [LMD_ERROR_MISSING_PARAMETER] = { "MISSING_PARAMETER", 400 },
  [LMD_ERROR_INVALID_PARAMETER] = { "INVALID_PARAMETER", 400 },
  [LMD_ERROR_INVALID_LICENSE] = { "INVALID_LICENSE", 401 },
  [LMD_ERROR_LICENSE_EXPIRED] = { "LICENSE_EXPIRED", 403 },
  [LMD_ERROR_QUOTA_EXCEEDED] = { "QUOTA_EXCEEDED", 403 },
  [LMD_ERROR_NOT_FOUND] = { "NOT_FOUND", 404 },
  [LMD_ERROR_FILE_TOO_LARGE] = { "FILE_TOO_LARGE", 413 },
  [LMD_ERROR_UNSUPPORTED_FORMAT] = { "UNSUPPORTED_FORMAT", 415 },
  [LMD_ERROR_UNPROCESSABLE_AUDIO] = { "UNPROCESSABLE_AUDIO", 422 },
  [LMD_ERROR_RATE_LIMIT_EXCEEDED] = { "RATE_LIMIT_EXCEEDED", 429 },
  [LMD_ERROR_SERVICE_UNAVAILABLE] = { "SERVICE_UNAVAILABLE", 503 },
  [LMD_ERROR_TIMEOUT] = { "TIMEOUT", 504 },
  [LMD_ERROR_FEATURE_NOT_LICENSED] = { "FEATURE_NOT_LICENSED", 403 },
  [LMD_ERROR_BAD_GATEWAY] = { "BAD_GATEWAY", 502 },
};

const char *
lmd_error_code_name (LmdErrorCode code)
{
  if ((guint) code >= G_N_ELEMENTS (error_table))
    return error_table[LMD_ERROR_INTERNAL].name;
  return error_table[code].name;
}

guint
lmd_error_http_status (LmdErrorCode code)
{
  if ((guint) code >= G_N_ELEMENTS (error_table))
    return 500;
  return error_table[code].status;
}

LmdErrorCode
lmd_error_classify (const GError *error)
{
  if (error == NULL)
    return LMD_ERROR_INTERNAL;
  if (error->domain == LMD_ERROR && (guint) error->code < G_N_ELEMENTS (error_table))
    return (LmdErrorCode) error->code;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return LMD_ERROR_TIMEOUT;
  return LMD_ERROR_INTERNAL;
}

static gboolean
error_has_param (const GError *error)
{
  return error != NULL && error->domain == LMD_ERROR &&
         (error->code == LMD_ERROR_MISSING_PARAMETER || error->code == LMD_ERROR_INVALID_PARAMETER) &&
         strstr (error->message, LMD_ERROR_PARAM_SEPARATOR) != NULL;
}

char *
lmd_error_get_param (const GError *error)
{
  if (!error_has_param (error))
    return NULL;
  return g_strndup (error->message, strstr (error->message, LMD_ERROR_PARAM_SEPARATOR) - error->message);
}

char *
lmd_error_get_sentence (const GError *error)
{
  if (error == NULL)
    return g_strdup ("unknown error");
  if (!error_has_param (error))
    return g_strdup (error->message);
  return g_strdup (strstr (error->message, LMD_ERROR_PARAM_SEPARATOR) + strlen (LMD_ERROR_PARAM_SEPARATOR));
}
