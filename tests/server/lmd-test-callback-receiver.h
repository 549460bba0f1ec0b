/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-callback-receiver.h — a small real HTTP server for tests that receives job
 * callbacks: on 127.0.0.1 and its own thread, it records the body of every POST and answers
 * 200, or 500 for the first @fail_first requests (to exercise retries).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdTestCallbackReceiver LmdTestCallbackReceiver;

LmdTestCallbackReceiver *lmd_test_callback_receiver_start (guint fail_first);
/* (transfer full) "http://127.0.0.1:PORT@path" */
char *lmd_test_callback_receiver_url (LmdTestCallbackReceiver *self, const char *path);
/* POSTs answered so far, the failed ones included. */
guint lmd_test_callback_receiver_get_requests (LmdTestCallbackReceiver *self);
/* Bodies of the POSTs answered 200, in order of arrival. */
guint lmd_test_callback_receiver_get_delivered (LmdTestCallbackReceiver *self);
/* (transfer full) the body of delivery @i */
char *lmd_test_callback_receiver_get_body (LmdTestCallbackReceiver *self, guint i);
/* Waits until @count deliveries arrived or @timeout_s passed; returns the count then. */
guint lmd_test_callback_receiver_wait (LmdTestCallbackReceiver *self, guint count, guint timeout_s);
void lmd_test_callback_receiver_stop (LmdTestCallbackReceiver *self);

G_END_DECLS
