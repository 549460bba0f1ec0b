/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-license-support.h — what the license tests share: a fake clock, keys made on the
 * fly, and a real HTTP license server (libsoup) standing in for the vendor's.
 *
 * The upstream runs its own thread and GMainContext on 127.0.0.1, an ephemeral port, plain
 * http.  It answers POST /v1/license/validate ({"valid":true} unless revoked; 503 while
 * "down") and POST /v1/usage (counts records by their "id", sums "audio_seconds", notes any
 * record member that is not metadata; 503 while "down").
 */
#pragma once

#include <glib.h>

#include "lmd-license-key.h"
#include "lmd-license-signing-key.h"

G_BEGIN_DECLS

/* The license clock reads a fake time (wall = monotonic) starting at @start_s. */
void lmd_test_clock_install (gint64 start_s);
void lmd_test_clock_advance (gint64 seconds);
void lmd_test_clock_uninstall (void);

/* (transfer full) a key signed by @signing_key: times relative to the license clock's now */
char *lmd_test_issue_key (LmdLicenseSigningKey *signing_key, const char *key_id,
                          gint64 nbf_offset_s, gint64 exp_offset_s, gint64 rpm,
                          gint64 concurrency, double audio_hours, const char *const *features);
/* Writes @signing_key's public key to @dir/vendor.pub; (transfer full) the path */
char *lmd_test_write_public_key (LmdLicenseSigningKey *signing_key, const char *dir);

typedef struct _LmdTestUpstream LmdTestUpstream;

LmdTestUpstream *lmd_test_upstream_start (void);
void lmd_test_upstream_stop (LmdTestUpstream *self);
/* (transfer full) "http://127.0.0.1:PORT" */
char *lmd_test_upstream_url (LmdTestUpstream *self);
void lmd_test_upstream_set_down (LmdTestUpstream *self, gboolean down);
void lmd_test_upstream_set_revoked (LmdTestUpstream *self, gboolean revoked);
guint lmd_test_upstream_get_validations (LmdTestUpstream *self);
/* distinct records received, records received more than once, batches, audio seconds */
guint lmd_test_upstream_get_records (LmdTestUpstream *self);
guint lmd_test_upstream_get_duplicates (LmdTestUpstream *self);
guint lmd_test_upstream_get_batches (LmdTestUpstream *self);
double lmd_test_upstream_get_audio_seconds (LmdTestUpstream *self);
/* records whose "status" was @status */
guint lmd_test_upstream_get_status_count (LmdTestUpstream *self, guint status);
/* record members that are not metadata, and requests without the expected bearer key */
guint lmd_test_upstream_get_violations (LmdTestUpstream *self);
/* The bearer credential the upstream expects (nullable: accept any). */
void lmd_test_upstream_set_expected_key (LmdTestUpstream *self, const char *key);

/* Iterates the default main context until @done (@data) or @timeout_s of real time. */
gboolean lmd_test_wait_until (gboolean (*done) (gpointer data), gpointer data, guint timeout_s);

G_END_DECLS
