/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-server.h — starts the real lightning-mediad binary for integration tests.
 *
 * The daemon runs as a child process on an ephemeral loopback port (--port 0 --port-file),
 * with its log captured to a file the test can read.  Requests go through real HTTP clients
 * (libsoup).
 */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

typedef struct _LmdTestServer LmdTestServer;

/* Starts the daemon with @config_text as its key file (nullable: the project's default
 * config) and @extra_args (nullable, NULL-terminated).  Waits until it listens. */
LmdTestServer *lmd_test_server_start (const char *config_text, const char *const *extra_args,
                                      GError **error);
/* Sends SIGTERM and waits; returns the exit status (or -signal), frees @self. */
int lmd_test_server_stop (LmdTestServer *self);
void lmd_test_server_signal (LmdTestServer *self, int signum);
/* Waits for the process to exit (up to @timeout_s) and returns its status, or G_MININT. */
int lmd_test_server_wait (LmdTestServer *self, guint timeout_s);

guint lmd_test_server_get_port (LmdTestServer *self);
/* The daemon's process id. */
GPid lmd_test_server_get_pid (LmdTestServer *self);
/* (transfer full) "http://127.0.0.1:PORT@path" */
char *lmd_test_server_url (LmdTestServer *self, const char *path);
/* (transfer full) everything the daemon logged so far */
char *lmd_test_server_read_log (LmdTestServer *self);

/* Whether this build is instrumented (AddressSanitizer) or the daemons run under a wrapper
 * (LMD_TEST_DAEMON_WRAPPER, e.g. valgrind): several times slower, so real-time expectations
 * are relaxed. */
gboolean lmd_test_slow_build (void);
/* Whether the daemons run under valgrind (make valgrind): tens of times slower. */
gboolean lmd_test_under_valgrind (void);
/* @seconds, a client's wait for the daemon, scaled for a daemon under valgrind (×10). */
guint lmd_test_timeout_s (guint seconds);
/* Under valgrind: marks the test skipped, saying @why it cannot run there in reasonable time,
 * and returns TRUE (the test returns); otherwise FALSE. */
gboolean lmd_test_skip_under_valgrind (const char *why);

/* Path of the built daemon binary. */
const char *lmd_test_daemon_path (void);

/* Runs the daemon to completion with @argv (after the binary) and returns its exit status
 * and output (stdout + stderr); a daemon still running after @timeout_s is killed and
 * G_MININT returned. */
int lmd_test_daemon_run (const char *const *argv, char **output, guint timeout_s);
/* lmd_test_daemon_run with "--config FILE --port=0", FILE a temporary file holding @config
 * (removed after the run). */
int lmd_test_daemon_run_config (const char *config, char **output, guint timeout_s);

/* GET /metrics of @self: (transfer full) the text; fails the test unless the answer is 200. */
char *lmd_test_server_get_metrics (LmdTestServer *self, SoupSession *session);
/* The value of sample @name in @self's /metrics; fails the test when it is not there. */
double lmd_test_server_metric (LmdTestServer *self, SoupSession *session, const char *name);
/* The value of the sample @name (with its labels, e.g. asr_requests_total{code="200"}) in the
 * Prometheus text @text, or @absent when there is none. */
double lmd_test_metric_value (const char *text, const char *name, double absent);

/* A finished HTTP exchange. */
typedef struct {
  guint status;
  GBytes *body;             /* owned */
  SoupMessageHeaders *headers; /* owned ref: response headers */
  GError *error;            /* owned; transport error, status 0 */
} LmdTestResponse;

void lmd_test_response_free (LmdTestResponse *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTestResponse, lmd_test_response_free)

/* Sends @method @url with @body (nullable) of @content_type (nullable) and extra headers
 * (nullable, "Name", "value", ..., NULL). */
LmdTestResponse *lmd_test_http (SoupSession *session, const char *method, const char *url,
                                const char *content_type, GBytes *body, ...) G_GNUC_NULL_TERMINATED;
/* Parses the response body as a JSON object; fails the test when it is not one. */
struct _JsonObject *lmd_test_response_json (LmdTestResponse *self);

G_END_DECLS
