/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-flood.h — many raw HTTP clients at once on one thread, for the flood tests and
 * bench-floods: each client sends the start of its request at once and the rest one byte per
 * interval (or all at once), and records when its answer came and when the server closed its
 * connection.  While they run, /health is asked on a connection of its own at a fixed
 * interval, and every probe's answer and latency is recorded.
 *
 * Loopback only (127.0.0.1), non-blocking sockets driven by poll(), every wait bounded.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  int fd;                 /* -1 once closed */
  GBytes *request;        /* owned: what the client sends */
  gsize head;             /* bytes sent at once */
  guint interval_ms;      /* then one byte per interval; 0: the rest at once */
  gsize sent;
  gint64 started_us;      /* monotonic µs: connect */
  gint64 next_send_us;
  gint64 answered_us;     /* first bytes of the answer, 0 = none */
  gint64 closed_us;       /* the server closed (end of stream or reset), 0 = still open */
  GString *answer;        /* owned: what came back */
} LmdTestFloodClient;

typedef struct {
  guint port;
  GPtrArray *clients;     /* LmdTestFloodClient (owned) */
  guint probes;           /* /health probes sent */
  guint probes_ok;        /* answered 200 */
  double probe_max_s;     /* slowest answered probe */
  gint64 started_us;      /* monotonic µs: the start of lmd_test_flood_run() */
  GArray *probe_failures; /* double: seconds from the start of each probe not answered 200 */
  guint probe_timeout_s;  /* a probe not answered within this fails (5 unless set) */
} LmdTestFlood;

/* (transfer full) a flood of clients of 127.0.0.1:@port */
LmdTestFlood *lmd_test_flood_new (guint port);
void lmd_test_flood_free (LmdTestFlood *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTestFlood, lmd_test_flood_free)

/* Connects a client that will send @request (copied): @head bytes at once, then one byte
 * every @interval_ms (0: everything at once).  (transfer none) */
LmdTestFloodClient *lmd_test_flood_add (LmdTestFlood *self, const void *request, gsize len, gsize head,
                                        guint interval_ms);

/* Drives every client until the server has closed them all, or @timeout_s passes; asks
 * /health every @probe_ms (0: never).  TRUE when every client was closed. */
gboolean lmd_test_flood_run (LmdTestFlood *self, double timeout_s, guint probe_ms);

/* The status of @client's answer, 0 when it has none. */
guint lmd_test_flood_client_status (const LmdTestFloodClient *client);
/* Seconds from @client's connect to the server's close, or -1 when still open. */
double lmd_test_flood_client_closed_after (const LmdTestFloodClient *client);

/* Descriptors open in process @pid (/proc/PID/fd). */
guint lmd_test_count_descriptors (GPid pid);
/* Resident memory of process @pid in bytes (VmRSS of /proc/PID/status), 0 when unknown. */
guint64 lmd_test_resident_bytes (GPid pid);

G_END_DECLS
