/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-call.h — the state of one HTTP request of the transport, attached to its
 * SoupServerMessage from the early handler (headers in) until the message is finalized.
 *
 * It holds the request id (the client's X-Request-ID when acceptable, else a new one), the
 * request's dialect (nullable: not a transcription request), its body as it arrives, its
 * license ticket and its cancellable.  While the message is paused for work
 * (lmd_http_call_hold()), the client's socket is watched, since libsoup does no I/O on it
 * then: a client that goes away cancels the work.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-body-spool.h"
#include "lmd-http-body.h"
#include "lmd-http-dialect.h"
#include "lmd-http-transport.h"
#include "lmd-license.h"

G_BEGIN_DECLS

/* Where the exchange of a call stands.  It only moves forward:
 *
 *   OPEN ──hold──▶ HELD ──resume──▶ ANSWERED
 *     └──respond_error, resume─────▲
 *   any of them ──libsoup's "finished"──▶ FINISHED
 *
 * OPEN: no answer yet, libsoup reads the request (its body may still be arriving).
 * HELD: paused while the request is worked on (admission, router, worker, job store); libsoup
 *       does no I/O on it and the client's socket is watched.
 * ANSWERED: the answer is set; libsoup sends it (after reading and dropping the rest of the
 *       body when it came before the body's end).  No other answer may replace it.
 * FINISHED: the exchange has ended (libsoup's "finished": sent, or the connection is gone);
 *       the message cannot be answered or unpaused any more.
 *
 * Work that completes after its call is ANSWERED or FINISHED (a worker's answer, an
 * admission that comes back late) drops its result and gives back what it holds. */
typedef enum {
  LMD_HTTP_CALL_OPEN,
  LMD_HTTP_CALL_HELD,
  LMD_HTTP_CALL_ANSWERED,
  LMD_HTTP_CALL_FINISHED,
} LmdHttpCallState;

typedef struct {
  LmdHttpTransport *self;   /* borrowed: the transport owns the server that owns the message */
  char *request_id;         /* owned */
  const LmdHttpDialect *dialect; /* nullable: the dialect of a transcription request */
  gint64 started_at;
  guint64 body_bytes;
  gboolean too_large;
  LmdHttpBody *body;         /* owned, nullable: an admitted transcription request's body,
                              * collected chunk by chunk (in memory or a file) */
  gboolean uploading;        /* counted in the upload budget until its body is in */
  gboolean body_failed;      /* the body could not be stored (disk full) */
  LmdBodySpool *spool;       /* owned, role api: the body on its way to a worker, instead of body */
  LmdHttpCallState state;    /* see above */
  LmdLicenseTicket *ticket;  /* owned: admission by the license service, until answered */
  gboolean admitted;         /* admitted from the headers, before its body was read */
  double audio_seconds;      /* transcribed, for usage metering */
  gboolean counted;         /* a transcription endpoint: counts in metrics */
  gboolean disconnected;
  GCancellable *cancellable; /* owned */
  gint64 processing_started; /* monotonic µs, 0 = not started */
  GSource *watch;            /* owned, nullable: the client's socket, while the message is paused */
} LmdHttpCall;

/* (transfer none) A new call attached to @msg (which owns it), with its request id from
 * @client_id (the X-Request-ID header, nullable) when acceptable, else a new one. */
LmdHttpCall *lmd_http_call_attach (LmdHttpTransport *self, SoupServerMessage *msg,
                                   const char *client_id);

/* (transfer none) (nullable) the call of @msg */
LmdHttpCall *lmd_http_call_get (SoupServerMessage *msg);

/* Drops the body (in memory, in a file or in the spool) once nothing reads it any more. */
void lmd_http_call_release_body (LmdHttpCall *call);

/* Pauses @msg while its request is worked on, watching its client (OPEN → HELD).  Nothing
 * for a call that is answered already. */
void lmd_http_call_hold (SoupServerMessage *msg);

/* The answer is set: libsoup sends it (→ ANSWERED; unpaused when HELD).  Nothing for a call
 * whose exchange has ended. */
void lmd_http_call_resume (SoupServerMessage *msg);

/* TRUE once @call's answer is set or its exchange has ended: nothing may answer it again. */
gboolean lmd_http_call_is_answered (const LmdHttpCall *call);

/* The client went away (the message's "disconnected" signal, or the watch): cancels the work. */
void lmd_http_call_disconnected (SoupServerMessage *msg);

/* Sets the error answer of @msg in its call's dialect's shape (lmd-http-dialect.h), with a
 * log line that names the request id.  @retry_after_s: for 429/503 (0: the default). */
void lmd_http_call_respond_error (SoupServerMessage *msg, const GError *error, guint retry_after_s);

G_END_DECLS
