/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-refusal.h — answering a request from its headers, without reading its body.
 *
 * libsoup reads a request's whole body before it writes any response (unless the client sent
 * "Expect: 100-continue"), so a refusal decided from the headers (401/403 without a valid key,
 * 413 for a declared Content-Length over the limit, 429, 503 at the upload cap) would still
 * cost the transfer of the body, and a client that sends only headers and waits would wait
 * until client_timeout_s.  lmd_http_refuse_now() instead takes the connection from libsoup
 * and writes the response already set on the message itself, with "Connection: close".
 *
 * Lingering close (RFC 9112 §9.6): a client still sending its body when the server closes
 * would get a reset, which can destroy the response before the client reads it.  So the
 * sending side is shut down first, and what the client still sends is read and dropped
 * (64 KiB at a time into one scratch buffer: nothing is kept) until the client closes its
 * side, for at most LMD_HTTP_REFUSAL_LINGER_MS from the refusal; then the socket is closed.
 * Clients that read a response while sending (curl) stop sending at once; clients that
 * only read after sending everything (libsoup) still get the answer when they can send the
 * rest within that time.
 *
 * Main context only.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

#define LMD_HTTP_REFUSAL_LINGER_MS 5000

/* Sends the response set on @msg (status, headers, body) now and closes the connection,
 * without reading the rest of the request.  @msg is paused at once (libsoup reads no more of
 * it); its connection is taken on the next main-loop iteration.  Neither "request-finished"
 * nor "request-aborted" is emitted for @msg afterwards.  For a request whose body is still to
 * come: one fully read is answered the ordinary way. */
void lmd_http_refuse_now (SoupServerMessage *msg);

G_END_DECLS
