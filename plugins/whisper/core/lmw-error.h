/* SPDX-License-Identifier: MIT */
/*
 * lmw-error.h — filling an lmw_error (lmw-context.h), shared by the whisper core and the
 * Silero voice-activity library (liblmw-vad), which builds without the rest of the core.
 */
#ifndef LMW_ERROR_H
#define LMW_ERROR_H

#include "lmw-context.h"

/* Sets err's code and message (printf-style); does nothing when err is NULL. */
void lmw_set_error (lmw_error *err, lmw_status code, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

#endif /* LMW_ERROR_H */
