/* SPDX-License-Identifier: MIT */
/*
 * test-license-service.c — the "license" plugin through the LmdLicense interface, against a
 * real HTTP license server on 127.0.0.1, with a fake clock instead of sleeps.
 *
 * Asserts:
 *   - start-up: development mode only on loopback without a key; an expired, tampered,
 *     wrong-signer or unverifiable key stops start-up with the matching error;
 *   - admit(): 401 INVALID_LICENSE for a missing or wrong key, hashed API keys accepted,
 *     403 for an unlicensed feature, 429 + retry_after for rate and concurrency (and recovery),
 *     403 QUOTA_EXCEEDED for the daily audio quota, 403 LICENSE_EXPIRED once the key expires;
 *   - grace: upstream down with a cached validation → serving, grace_period_active, a log line
 *     counting down; grace over → 403; upstream back → grace cleared; a revoked license → 403;
 *     never validated and unreachable → 503;
 *   - metering: the upstream receives every record exactly once with the right totals and
 *     only metadata, keeps them across failed uploads, and nothing is lost when the service
 *     is dropped or killed (SIGKILL) before a flush;
 *   - the license key never appears in a log line.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gmodule.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-license-clock.h"
#include "lmd-license-service.h"
#include "lmd-license.h"
#include "lmd-plugin.h"
#include "lmd-test-license-support.h"

#define START (G_GINT64_CONSTANT (1800000000) / 86400 * 86400 + 3600)
#define HOUR 3600

/* ---- captured log ------------------------------------------------------------------------- */

static GMutex log_lock;
static GString *log_text;

static GLogWriterOutput
capture_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  g_mutex_lock (&log_lock);
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE"))
      {
        g_string_append_len (log_text, fields[i].value,
                             fields[i].length < 0 ? (gssize) strlen (fields[i].value) : fields[i].length);
        g_string_append_c (log_text, '\n');
      }
  g_mutex_unlock (&log_lock);
  return g_log_writer_standard_streams (level, fields, n_fields, data);
}

static gboolean
log_contains (const char *needle)
{
  gboolean found;

  g_mutex_lock (&log_lock);
  found = strstr (log_text->str, needle) != NULL;
  g_mutex_unlock (&log_lock);
  return found;
}

static void
log_reset (void)
{
  g_mutex_lock (&log_lock);
  g_string_truncate (log_text, 0);
  g_mutex_unlock (&log_lock);
}

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct {
  char *dir;                    /* owned: temporary directory */
  char *state_dir;              /* owned */
  char *pub_path;               /* owned */
  LmdLicenseSigningKey *vendor; /* owned */
  LmdTestUpstream *upstream;    /* owned */
  char *upstream_url;           /* owned */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  lmd_test_clock_install (START);
  f->dir = g_dir_make_tmp ("lmd-license-svc-XXXXXX", NULL);
  f->state_dir = g_build_filename (f->dir, "state", NULL);
  f->vendor = lmd_license_signing_key_generate ();
  f->pub_path = lmd_test_write_public_key (f->vendor, f->dir);
  f->upstream = lmd_test_upstream_start ();
  f->upstream_url = lmd_test_upstream_url (f->upstream);
  log_reset ();
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          remove_tree (child);
        }
      g_dir_close (dir);
      g_rmdir (path);
    }
  else
    g_remove (path);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  lmd_test_upstream_stop (f->upstream);
  lmd_license_signing_key_free (f->vendor);
  remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->state_dir);
  g_free (f->pub_path);
  g_free (f->upstream_url);
  lmd_test_clock_uninstall ();
}

/* [license] with @key (nullable), the fixture's public key and state dir, and @extra lines */
static GKeyFile *
make_config (Fixture *f, const char *host, const char *key, const char *extra)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *text = g_strdup_printf ("[server]\nhost=%s\n[license]\npublic_keys=%s\n"
                                           "state_dir=%s\n%s%s%s\n%s\n",
                                           host, f->pub_path, f->state_dir,
                                           key != NULL ? "key=" : "", key != NULL ? key : "",
                                           key != NULL ? "\n" : "", extra != NULL ? extra : "");
  g_autoptr (GError) error = NULL;

  g_key_file_load_from_data (kf, text, -1, G_KEY_FILE_NONE, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&kf);
}

static char *
upstream_extra (Fixture *f, const char *url)
{
  return g_strdup_printf ("upstream_url=%s\nallow_insecure_upstream=true\n",
                          url != NULL ? url : f->upstream_url);
}

static LmdLicense *
start_service (GKeyFile *config, GError **error)
{
  LmdLicense *license = g_object_new (LMD_TYPE_LICENSE_SERVICE, NULL);

  if (!lmd_license_setup (license, config, error))
    {
      g_object_unref (license);
      return NULL;
    }
  return license;
}

static gboolean
service_idle (gpointer data)
{
  return !lmd_license_service_is_busy (LMD_LICENSE_SERVICE (data));
}

static void
wait_idle (LmdLicense *license)
{
  g_assert_true (lmd_test_wait_until (service_idle, license, 60));
}

/* Admits and completes one request; returns the error code, or -1 when admitted. */
static int
one_request (LmdLicense *license, const char *key, const char *feature, double audio_s,
             guint status, guint *retry_after)
{
  g_autoptr (GError) error = NULL;
  guint retry = 0;
  LmdLicenseTicket *t = lmd_license_admit (license, key, feature, "req_test", &retry, &error);

  if (retry_after != NULL)
    *retry_after = retry;
  if (t == NULL)
    {
      g_assert_true (error != NULL && error->domain == LMD_ERROR);
      return error->code;
    }
  lmd_license_complete (license, t, audio_s, status);
  return -1;
}

static char *
sha256_hex (const char *text)
{
  guint8 hash[crypto_hash_sha256_BYTES];
  char hex[crypto_hash_sha256_BYTES * 2 + 1];

  crypto_hash_sha256 (hash, (const guint8 *) text, strlen (text));
  sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
  return g_strdup (hex);
}

/* ---- start-up ----------------------------------------------------------------------------- */

static void
test_setup (Fixture *f, gconstpointer data)
{
  g_autofree char *good = lmd_test_issue_key (f->vendor, "lic_ok", 0, 30 * 86400, 0, 0, 0, NULL);
  g_autofree char *expired = lmd_test_issue_key (f->vendor, "lic_old", -90 * 86400, -86400, 0, 0, 0, NULL);
  g_autofree char *future = lmd_test_issue_key (f->vendor, "lic_new", 86400, 30 * 86400, 0, 0, 0, NULL);
  g_autoptr (LmdLicenseSigningKey) stranger = lmd_license_signing_key_generate ();
  g_autofree char *foreign = lmd_test_issue_key (stranger, "lic_x", 0, 86400, 0, 0, 0, NULL);
  g_autofree char *tampered = g_strdup (good);
  g_autoptr (GError) error = NULL;
  LmdLicenseStatus status;
  LmdLicense *license;

  tampered[12] = tampered[12] == 'A' ? 'B' : 'A';

  /* no key on a public address: refused */
  {
    g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", NULL, NULL);
    g_assert_null (start_service (c, &error));
    g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE);
    g_clear_error (&error);
  }
  /* no key on loopback: development mode, loudly */
  {
    g_autoptr (GKeyFile) c = make_config (f, "127.0.0.1", NULL, NULL);
    license = start_service (c, &error);
    g_assert_no_error (error);
    g_assert_true (log_contains ("DEVELOPMENT MODE"));
    lmd_license_get_status (license, &status);
    g_assert_true (status.development_mode);
    g_assert_false (status.license_valid);
    g_assert_cmpint (one_request (license, NULL, "streaming", 1, 200, NULL), ==, -1);
    g_object_unref (license);
  }
  /* each bad key stops start-up, even on loopback */
  {
    struct { const char *key; int code; } cases[] = {
      { expired, LMD_ERROR_LICENSE_EXPIRED }, { future, LMD_ERROR_INVALID_LICENSE },
      { tampered, LMD_ERROR_INVALID_LICENSE }, { foreign, LMD_ERROR_INVALID_LICENSE },
      { "lmd1.garbage.garbage", LMD_ERROR_INVALID_LICENSE },
    };
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr (GKeyFile) c = make_config (f, "127.0.0.1", cases[i].key, NULL);
        g_assert_null (start_service (c, &error));
        g_assert_error (error, LMD_ERROR, cases[i].code);
        g_test_message ("refused: %s", error->message);
        g_clear_error (&error);
      }
  }
  /* no trusted public key at all */
  {
    g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", good, NULL);
    g_key_file_set_string (c, "license", "public_keys", "");
    g_assert_null (start_service (c, &error));
    g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE);
    g_clear_error (&error);
    /* ... unless LICENSE_PUBLIC_KEYS names one */
    g_setenv ("LICENSE_PUBLIC_KEYS", f->pub_path, TRUE);
    license = start_service (c, &error);
    g_unsetenv ("LICENSE_PUBLIC_KEYS");
    g_assert_no_error (error);
    lmd_license_get_status (license, &status);
    g_assert_true (status.license_valid);
    g_assert_false (status.development_mode);
    g_assert_cmpint (status.valid_until, ==, START + 30 * 86400);
    g_assert_cmpstr (status.licensee, ==, "Test Licensee GmbH");
    g_object_unref (license);
  }
  /* an http upstream needs allow_insecure_upstream */
  {
    g_autofree char *extra = g_strdup_printf ("upstream_url=%s\n", f->upstream_url);
    g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", good, extra);
    g_assert_null (start_service (c, &error));
    g_assert_nonnull (strstr (error->message, "https"));
    g_clear_error (&error);
  }
  g_assert_false (log_contains (good));
}

/* ---- admission ---------------------------------------------------------------------------- */

static void
test_admit (Fixture *f, gconstpointer data)
{
  const char *features[] = { "batch", "streaming", NULL };
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_admit", 0, 2 * 86400, 3, 2, 0.01,
                                             features);
  g_autofree char *api_hash = sha256_hex ("team-a-secret");
  g_autofree char *extra = g_strdup_printf ("api_keys_sha256=%s", api_hash);
  g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", key, extra);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicense) license = start_service (c, &error);
  LmdLicenseTicket *held[2];
  LmdLicenseStatus status;
  guint retry = 0;

  g_assert_no_error (error);
  /* 401 */
  g_assert_cmpint (one_request (license, NULL, "batch", 0, 200, NULL), ==, LMD_ERROR_INVALID_LICENSE);
  g_assert_cmpint (one_request (license, "", "batch", 0, 200, NULL), ==, LMD_ERROR_INVALID_LICENSE);
  g_assert_cmpint (one_request (license, "wrong", "batch", 0, 200, NULL), ==, LMD_ERROR_INVALID_LICENSE);
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_INVALID_LICENSE), ==, 401);
  /* 403 for a feature the license lacks */
  g_assert_cmpint (one_request (license, key, "gpu", 0, 200, NULL), ==,
                   LMD_ERROR_FEATURE_NOT_LICENSED);
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_FEATURE_NOT_LICENSED), ==, 403);

  /* rate: 3 per minute for the license key; the API key has a bucket of its own */
  for (guint i = 0; i < 3; i++)
    g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, -1);
  g_assert_cmpint (one_request (license, key, "streaming", 1, 200, &retry), ==,
                   LMD_ERROR_RATE_LIMIT_EXCEEDED);
  g_assert_cmpuint (retry, ==, 20);
  g_assert_cmpint (one_request (license, "team-a-secret", "batch", 1, 200, NULL), ==, -1);
  lmd_test_clock_advance (20);
  g_assert_cmpint (one_request (license, key, "streaming", 1, 200, NULL), ==, -1);

  /* concurrency: 2 at once for the API key */
  lmd_test_clock_advance (60);
  held[0] = lmd_license_admit (license, "team-a-secret", "batch", "r1", &retry, NULL);
  held[1] = lmd_license_admit (license, "team-a-secret", "batch", "r2", &retry, NULL);
  g_assert_nonnull (held[0]);
  g_assert_nonnull (held[1]);
  g_assert_cmpint (one_request (license, "team-a-secret", "batch", 0, 200, &retry), ==,
                   LMD_ERROR_RATE_LIMIT_EXCEEDED);
  g_assert_cmpuint (retry, ==, 1);
  lmd_license_complete (license, held[0], 10, 200);
  g_assert_cmpint (one_request (license, "team-a-secret", "batch", 0, 200, NULL), ==, -1);
  lmd_license_complete (license, held[1], 10, 200);

  /* the day's 36 s of audio are used up now (6 + 20 + 10 s would be 36 s) */
  lmd_test_clock_advance (60);
  g_assert_cmpint (one_request (license, key, "batch", 30, 200, NULL), ==, -1);
  g_assert_cmpint (one_request (license, key, "batch", 0, 200, &retry), ==, LMD_ERROR_QUOTA_EXCEEDED);
  g_assert_cmpuint (retry, >, 0);
  g_assert_cmpuint (lmd_error_http_status (LMD_ERROR_QUOTA_EXCEEDED), ==, 403);
  /* the next UTC day it is back */
  lmd_test_clock_advance (retry);
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, -1);

  /* the key expires while the service runs */
  lmd_test_clock_advance (2 * 86400);
  g_assert_cmpint (one_request (license, key, "batch", 0, 200, NULL), ==, LMD_ERROR_LICENSE_EXPIRED);
  lmd_license_get_status (license, &status);
  g_assert_false (status.license_valid);
  g_assert_false (log_contains (key));
  g_assert_false (log_contains ("team-a-secret"));
}

/* ---- grace period ------------------------------------------------------------------------- */

static void
test_grace (Fixture *f, gconstpointer data)
{
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_grace", 0, 60 * 86400, 0, 0, 0, NULL);
  g_autofree char *extra = upstream_extra (f, NULL);
  g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", key, extra);
  g_autoptr (GError) error = NULL;
  LmdLicense *license;
  LmdLicenseStatus status;

  lmd_test_upstream_set_expected_key (f->upstream, key);
  /* first start, upstream up: validated, cached */
  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  g_assert_cmpuint (lmd_test_upstream_get_validations (f->upstream), ==, 1);
  lmd_license_get_status (license, &status);
  g_assert_true (status.license_valid);
  g_assert_false (status.grace_period_active);
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, -1);
  g_object_unref (license);

  /* restart an hour later with the upstream down: serves from the cache, grace active */
  lmd_test_upstream_set_down (f->upstream, TRUE);
  lmd_test_clock_advance (HOUR);
  log_reset ();
  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  lmd_license_get_status (license, &status);
  g_assert_true (status.license_valid);
  g_assert_true (status.grace_period_active);
  g_assert_cmpint (status.grace_ends_at, ==, START + 86400);
  g_assert_true (log_contains ("grace period active, 23 h 00 min left"));
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, -1);

  /* 22 h later, still down: still serving, the countdown goes on */
  lmd_test_clock_advance (22 * HOUR);
  lmd_license_service_revalidate (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_true (log_contains ("1 h 00 min left"));
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, -1);

  /* the grace period ends: refused */
  lmd_test_clock_advance (HOUR);
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, LMD_ERROR_LICENSE_EXPIRED);
  lmd_license_get_status (license, &status);
  g_assert_false (status.license_valid);
  g_assert_false (status.grace_period_active);

  /* the upstream comes back: grace cleared, serving again */
  lmd_test_upstream_set_down (f->upstream, FALSE);
  lmd_license_service_revalidate (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  lmd_license_get_status (license, &status);
  g_assert_true (status.license_valid);
  g_assert_false (status.grace_period_active);
  g_assert_cmpint (status.grace_ends_at, ==, 0);
  g_assert_true (log_contains ("grace period cleared"));
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, -1);

  /* the vendor revokes the license */
  lmd_test_upstream_set_revoked (f->upstream, TRUE);
  lmd_license_service_revalidate (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, LMD_ERROR_LICENSE_EXPIRED);
  g_object_unref (license);

  /* ... which a restart remembers, even with the upstream unreachable */
  lmd_test_upstream_set_down (f->upstream, TRUE);
  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, LMD_ERROR_LICENSE_EXPIRED);
  g_object_unref (license);
  g_assert_cmpuint (lmd_test_upstream_get_violations (f->upstream), ==, 0);
  g_assert_false (log_contains (key));
}

static void
test_never_validated (Fixture *f, gconstpointer data)
{
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_nv", 0, 60 * 86400, 0, 0, 0, NULL);
  /* a port nobody listens on: the upstream is really unreachable */
  LmdTestUpstream *gone = lmd_test_upstream_start ();
  g_autofree char *gone_url = lmd_test_upstream_url (gone);
  g_autofree char *extra = upstream_extra (f, gone_url);
  g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", key, extra);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicense) license = NULL;
  LmdLicenseStatus status;
  guint retry = 0;

  lmd_test_upstream_stop (gone);
  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, &retry), ==,
                   LMD_ERROR_SERVICE_UNAVAILABLE);
  g_assert_cmpuint (retry, >, 0);
  lmd_license_get_status (license, &status);
  g_assert_false (status.license_valid);
  g_assert_true (log_contains ("never validated"));
}

/* ---- usage metering ----------------------------------------------------------------------- */

static void
test_usage (Fixture *f, gconstpointer data)
{
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_usage", 0, 60 * 86400, 0, 0, 0, NULL);
  g_autofree char *extra = upstream_extra (f, NULL);
  g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", key, extra);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicense) license = start_service (c, &error);

  g_assert_no_error (error);
  wait_idle (license);
  for (guint i = 0; i < 10; i++)
    g_assert_cmpint (one_request (license, key, i % 2 ? "streaming" : "batch", 1.5,
                                  i < 8 ? 200 : 422, NULL), ==, -1);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 10);
  g_assert_cmpfloat_with_epsilon (lmd_test_upstream_get_audio_seconds (f->upstream), 15.0, 1e-9);
  g_assert_cmpuint (lmd_test_upstream_get_status_count (f->upstream, 200), ==, 8);
  g_assert_cmpuint (lmd_test_upstream_get_status_count (f->upstream, 422), ==, 2);

  /* upstream down: the upload fails, the records wait on disk */
  lmd_test_upstream_set_down (f->upstream, TRUE);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpint (one_request (license, key, "batch", 2.0, 200, NULL), ==, -1);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_cmpuint (lmd_license_service_get_flush_failures (LMD_LICENSE_SERVICE (license)), ==, 1);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_cmpuint (lmd_license_service_get_flush_failures (LMD_LICENSE_SERVICE (license)), ==, 2);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 10);

  /* back up: delivered once, and a further flush sends nothing */
  lmd_test_upstream_set_down (f->upstream, FALSE);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_cmpuint (lmd_license_service_get_flush_failures (LMD_LICENSE_SERVICE (license)), ==, 0);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 15);
  g_assert_cmpuint (lmd_test_upstream_get_duplicates (f->upstream), ==, 0);
  g_assert_cmpfloat_with_epsilon (lmd_test_upstream_get_audio_seconds (f->upstream), 25.0, 1e-9);
  g_assert_cmpuint (lmd_test_upstream_get_violations (f->upstream), ==, 0);
}

static void
test_restart_drop (Fixture *f, gconstpointer data)
{
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_drop", 0, 60 * 86400, 0, 0, 0, NULL);
  g_autofree char *extra = upstream_extra (f, NULL);
  g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", key, extra);
  g_autoptr (GError) error = NULL;
  LmdLicense *license = start_service (c, &error);

  g_assert_no_error (error);
  wait_idle (license);
  for (guint i = 0; i < 7; i++)
    g_assert_cmpint (one_request (license, key, "batch", 0.25, 200, NULL), ==, -1);
  /* gone before any flush */
  g_object_unref (license);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 0);

  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_object_unref (license);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 7);
  g_assert_cmpfloat_with_epsilon (lmd_test_upstream_get_audio_seconds (f->upstream), 1.75, 1e-9);

  /* and a third life resends nothing */
  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_object_unref (license);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 7);
  g_assert_cmpuint (lmd_test_upstream_get_duplicates (f->upstream), ==, 0);
}

/* The child writes 5 usage records and dies by SIGKILL, with no chance to flush or clean up. */
static void
killed_child (void)
{
  const char *dir = g_getenv ("LMD_TEST_KILL_DIR");
  g_autofree char *key_path = g_build_filename (dir, "license.key-text", NULL);
  g_autofree char *config_path = g_build_filename (dir, "child.conf", NULL);
  g_autofree char *key = NULL;
  g_autoptr (GKeyFile) c = g_key_file_new ();
  LmdLicense *license;

  if (!g_test_subprocess ())
    {
      g_test_skip ("only run inside /license/service/restart-kill");
      return;
    }
  lmd_test_clock_install (START);
  g_assert_true (g_file_get_contents (key_path, &key, NULL, NULL));
  g_assert_true (g_key_file_load_from_file (c, config_path, G_KEY_FILE_NONE, NULL));
  license = start_service (c, NULL);
  g_assert_nonnull (license);
  for (guint i = 0; i < 5; i++)
    g_assert_cmpint (one_request (license, key, "batch", 3.0, 200, NULL), ==, -1);
  raise (SIGKILL);
}

static void
test_restart_kill (Fixture *f, gconstpointer data)
{
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_kill", 0, 60 * 86400, 0, 0, 0, NULL);
  g_autofree char *extra = upstream_extra (f, NULL);
  g_autoptr (GKeyFile) c = make_config (f, "0.0.0.0", key, extra);
  g_autofree char *key_path = g_build_filename (f->dir, "license.key-text", NULL);
  g_autofree char *config_path = g_build_filename (f->dir, "child.conf", NULL);
  g_autoptr (GError) error = NULL;
  LmdLicense *license;

  /* a first life validates with the upstream, so the child starts from a cached validation */
  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  g_object_unref (license);

  g_assert_true (g_file_set_contents (key_path, key, -1, NULL));
  g_assert_true (g_key_file_save_to_file (c, config_path, NULL));
  g_setenv ("LMD_TEST_KILL_DIR", f->dir, TRUE);
  g_test_trap_subprocess ("/license/service/restart-kill/child", 60 * G_USEC_PER_SEC,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv ("LMD_TEST_KILL_DIR");
  g_test_trap_assert_failed ();
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 0);

  license = start_service (c, &error);
  g_assert_no_error (error);
  wait_idle (license);
  lmd_license_service_flush_usage (LMD_LICENSE_SERVICE (license));
  wait_idle (license);
  g_object_unref (license);
  g_assert_cmpuint (lmd_test_upstream_get_records (f->upstream), ==, 5);
  g_assert_cmpuint (lmd_test_upstream_get_duplicates (f->upstream), ==, 0);
  g_assert_cmpfloat_with_epsilon (lmd_test_upstream_get_audio_seconds (f->upstream), 15.0, 1e-9);
}

/* ---- the module --------------------------------------------------------------------------- */

static void
test_plugin_module (void)
{
  g_autofree char *path = g_build_filename (g_getenv ("LMD_BUILD_DIR"), "plugins", "license",
                                            "liblmd-license.so", NULL);
  GModule *module = g_module_open (path, G_MODULE_BIND_LOCAL);
  LmdPluginDescribeFunc describe = NULL;
  const LmdPluginInfo *info;

  g_assert_nonnull (module);
  g_assert_true (g_module_symbol (module, LMD_PLUGIN_ENTRY, (gpointer *) &describe));
  info = describe ();
  g_assert_cmpuint (info->api_version, ==, LMD_PLUGIN_API_VERSION);
  g_assert_cmpstr (info->name, ==, "license");
  /* the module's own copy of the type is not registered here: that is the loader's job */
  g_module_make_resident (module);
}

/* The asynchronous admission every transport uses (the interface's fallback for this
 * synchronous implementation), features of an admitted request, and usage recorded by key
 * hash for requests a license-remote client admitted on its own. */
typedef struct {
  LmdLicenseTicket *ticket;
  GError *error;
  guint retry;
  gboolean done;
} AsyncAnswer;

static void
admit_async_done (GObject *source, GAsyncResult *result, gpointer data)
{
  AsyncAnswer *a = data;

  a->ticket = lmd_license_admit_finish (LMD_LICENSE (source), result, &a->retry, &a->error);
  a->done = TRUE;
}

static gboolean
answered (gpointer data)
{
  return ((AsyncAnswer *) data)->done;
}

static void
test_admit_async (Fixture *f, gconstpointer data)
{
  const char *features[] = { "batch", "streaming", NULL };
  g_autofree char *key = lmd_test_issue_key (f->vendor, "lic_async", 0, 30 * 86400, 0, 0, 1,
                                             features);
  g_autofree char *api_hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "team-b", -1);
  g_autofree char *extra = g_strdup_printf ("api_keys_sha256=%s\n", api_hash);
  g_autoptr (GKeyFile) config = make_config (f, "127.0.0.1", key, extra);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicense) license = start_service (config, &error);
  AsyncAnswer good = { 0 }, bad = { 0 };
  guint8 hash[32];
  gsize hash_len = sizeof hash;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

  g_assert_no_error (error);
  lmd_license_admit_async (license, key, "streaming", "req_async", NULL, admit_async_done, &good);
  lmd_license_admit_async (license, "wrong", "batch", "req_async2", NULL, admit_async_done, &bad);
  /* never answered inside the call */
  g_assert_false (good.done);
  g_assert_true (lmd_test_wait_until (answered, &good, 10));
  g_assert_true (lmd_test_wait_until (answered, &bad, 10));
  g_assert_nonnull (good.ticket);
  g_assert_no_error (good.error);
  g_assert_null (bad.ticket);
  g_assert_error (bad.error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE);
  g_clear_error (&bad.error);
  g_assert_true (lmd_license_allows (license, good.ticket, "streaming"));
  g_assert_false (lmd_license_allows (license, good.ticket, "whisper"));
  g_assert_true (lmd_license_allows (license, NULL, "whisper"));
  lmd_license_complete (license, good.ticket, 600, 200);

  /* usage by hash: an API key's hash counts against the license's daily quota (1 h) */
  g_checksum_update (sum, (const guchar *) "team-b", 6);
  g_checksum_get_digest (sum, hash, &hash_len);
  g_assert_true (lmd_license_record_usage (license, hash, "batch", "req_local", 3000, 200, &error));
  g_assert_no_error (error);
  memset (hash, 0x42, sizeof hash);
  g_assert_false (lmd_license_record_usage (license, hash, "batch", "req_x", 10, 200, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE);
  g_clear_error (&error);
  /* 600 + 3000 s of the 3600 s quota used: one more request is over it */
  g_assert_cmpint (one_request (license, key, "batch", 1, 200, NULL), ==, LMD_ERROR_QUOTA_EXCEEDED);
}

int
main (int argc, char **argv)
{
  log_text = g_string_new (NULL);
  /* log lines go to stderr: stdout carries only TAP */
  g_log_writer_default_set_use_stderr (TRUE);
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  /* the upstream going down is expected to be warned about */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_FATAL_MASK);

  g_test_add ("/license/service/setup", Fixture, NULL, fixture_setup, test_setup, fixture_teardown);
  g_test_add ("/license/service/admit", Fixture, NULL, fixture_setup, test_admit, fixture_teardown);
  g_test_add ("/license/service/admit-async", Fixture, NULL, fixture_setup, test_admit_async,
              fixture_teardown);
  g_test_add ("/license/service/grace", Fixture, NULL, fixture_setup, test_grace, fixture_teardown);
  g_test_add ("/license/service/never-validated", Fixture, NULL, fixture_setup,
              test_never_validated, fixture_teardown);
  g_test_add ("/license/service/usage", Fixture, NULL, fixture_setup, test_usage, fixture_teardown);
  g_test_add ("/license/service/restart-drop", Fixture, NULL, fixture_setup, test_restart_drop,
              fixture_teardown);
  g_test_add ("/license/service/restart-kill", Fixture, NULL, fixture_setup, test_restart_kill,
              fixture_teardown);
  g_test_add_func ("/license/service/restart-kill/child", killed_child);
  g_test_add_func ("/license/service/plugin-module", test_plugin_module);
  return g_test_run ();
}
