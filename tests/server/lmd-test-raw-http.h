/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-raw-http.h — an HTTP/1.1 client on a plain socket, for what libsoup's client
 * cannot do: send only the headers of a request (or part of its body) and wait for the
 * answer, keep an upload half-sent, see whether the server closed the connection.
 * Loopback only (127.0.0.1), blocking, every wait bounded.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Connects to 127.0.0.1:@port; fails the test when it cannot. */
GSocketConnection *lmd_test_raw_connect (guint port);
/* Writes @len bytes; FALSE when the server has closed (the error is not a test failure). */
gboolean lmd_test_raw_send (GSocketConnection *conn, const void *data, gsize len);
/* Reads one response: headers, then Content-Length bytes of body, or until the server closes;
 * at most @timeout_s.  (transfer full) what was read, NULL when nothing came in time.
 * *closed (nullable) tells whether the server closed the connection after it. */
char *lmd_test_raw_read_response (GSocketConnection *conn, double timeout_s, gboolean *closed);
/* The status code of a response read above, 0 when it has none. */
guint lmd_test_raw_status (const char *response);
/* (transfer none) the body of a response read above (after the blank line), or "". */
const char *lmd_test_raw_body (const char *response);
/* The value of header @name (case-insensitive) in a response, (transfer full) or NULL. */
char *lmd_test_raw_header (const char *response, const char *name);

G_END_DECLS
