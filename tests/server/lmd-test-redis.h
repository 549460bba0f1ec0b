/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-redis.h — a real redis-server on a loopback port, owned by one test or benchmark.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
guint lmd_test_free_port (void);

/* (transfer full) (nullable) redis-server on 127.0.0.1:@port, without persistence, killed
 * with the calling process; returns once it accepts connections.  NULL when redis-server is
 * not installed; aborts the program when it does not come up within 30 s.  @log_dir
 * (nullable): its working directory and where it writes redis.log; without it the server runs
 * in the temporary directory and its output is dropped. */
GSubprocess *lmd_test_redis_start (guint port, const char *log_dir);

/* Kills @redis (SIGKILL) and reaps it; drops the reference. */
void lmd_test_redis_stop (GSubprocess *redis);

G_END_DECLS
