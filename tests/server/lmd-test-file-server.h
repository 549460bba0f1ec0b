/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-file-server.h — a small real HTTP server for tests, on 127.0.0.1 and its own
 * thread: serves fixed bodies by path (404 for anything else), honours Range requests, and
 * counts the requests it answered.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdTestFileServer LmdTestFileServer;

LmdTestFileServer *lmd_test_file_server_start (void);
/* Serves @body at @path from now on (the bytes are referenced). */
void lmd_test_file_server_add (LmdTestFileServer *self, const char *path, GBytes *body);
/* Requests for @path wait (paused, not answered) until lmd_test_file_server_release(): a
 * download that takes as long as the test wants. */
void lmd_test_file_server_hold (LmdTestFileServer *self, const char *path);
void lmd_test_file_server_release (LmdTestFileServer *self, const char *path);
/* How many requests for @path are waiting. */
guint lmd_test_file_server_get_held (LmdTestFileServer *self, const char *path);
guint lmd_test_file_server_get_port (LmdTestFileServer *self);
/* (transfer full) "http://127.0.0.1:PORT@path" */
char *lmd_test_file_server_url (LmdTestFileServer *self, const char *path);
/* Requests answered with 200 or 206 for @path so far. */
guint lmd_test_file_server_get_hits (LmdTestFileServer *self, const char *path);
void lmd_test_file_server_stop (LmdTestFileServer *self);

G_END_DECLS
