/* SPDX-License-Identifier: MIT */
/*
 * lmw-error.c — lmw_set_error (see lmw-error.h).
 */
#include "lmw-error.h"

#include <stdarg.h>
#include <stdio.h>

void
lmw_set_error (lmw_error *err, lmw_status code, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return;
  err->code = code;
  va_start (ap, fmt);
  vsnprintf (err->message, sizeof err->message, fmt, ap);
  va_end (ap);
}
