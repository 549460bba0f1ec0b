/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-server-thread.h — a real SoupServer for tests on 127.0.0.1 (a free port), run by
 * its own thread on its own GMainContext, so that it answers while the test blocks.  The
 * test servers (file server, callback receiver) give it their handler and keep their own
 * state; the handler runs on the server's thread.
 */
#pragma once

#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _LmdTestServerThread LmdTestServerThread;

/* Listens (fails the test if it cannot), installs @handler with @user_data for every path,
 * and starts the thread named @name. */
LmdTestServerThread *lmd_test_server_thread_start (const char *name, SoupServerCallback handler,
                                                   gpointer user_data);
guint lmd_test_server_thread_get_port (LmdTestServerThread *self);
/* (transfer none) the context the server runs on: for g_main_context_invoke(). */
GMainContext *lmd_test_server_thread_get_context (LmdTestServerThread *self);
/* (transfer full) "http://127.0.0.1:PORT@path" */
char *lmd_test_server_thread_url (LmdTestServerThread *self, const char *path);
/* Disconnects the server on its thread, runs what is left on its context, joins the thread
 * and frees @self.  The handler is not called any more afterwards. */
void lmd_test_server_thread_stop (LmdTestServerThread *self);

G_END_DECLS
