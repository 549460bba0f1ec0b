/* SPDX-License-Identifier: MIT */
/*
 * test-license-key.c — license keys: parsing, verification, the fuzzed parser, key files and
 * the lightning-license tool end to end.
 *
 * Asserts that valid keys verify; expired, not-yet-valid, tampered (payload or signature),
 * wrong-signer and malformed keys are each refused with their own error code; that 20000
 * random mutations of a valid key never crash the parser and never verify; and that
 * keygen → issue → inspect / verify through the real binary round-trips the terms.
 */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/wait.h>
#include <string.h>

#include "lmd-license-clock.h"
#include "lmd-license-key.h"
#include "lmd-license-keyring.h"
#include "lmd-license-signing-key.h"
#include "lmd-test-license-support.h"

#define NOW G_GINT64_CONSTANT (1800000000)

typedef struct {
  LmdLicenseSigningKey *vendor;  /* owned */
  LmdLicenseSigningKey *other;   /* owned */
  LmdLicenseKeyring *keyring;    /* owned: trusts only vendor */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  lmd_test_clock_install (NOW);
  f->vendor = lmd_license_signing_key_generate ();
  f->other = lmd_license_signing_key_generate ();
  f->keyring = lmd_license_keyring_new ();
  lmd_license_keyring_add (f->keyring, lmd_license_signing_key_get_public_key (f->vendor));
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  lmd_license_signing_key_free (f->vendor);
  lmd_license_signing_key_free (f->other);
  lmd_license_keyring_free (f->keyring);
  lmd_test_clock_uninstall ();
}

/* Parses and verifies @text at NOW; returns the error code, or -1 when it verified. */
static int
check (Fixture *f, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicenseKey) key = lmd_license_key_parse (text, &error);

  if (key == NULL)
    {
      g_assert_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_MALFORMED);
      return error->code;
    }
  g_assert_no_error (error);
  if (!lmd_license_key_verify (key, f->keyring, NOW, &error))
    {
      g_assert_true (error->domain == LMD_LICENSE_KEY_ERROR);
      return error->code;
    }
  return -1;
}

static void
test_valid (Fixture *f, gconstpointer data)
{
  const char *features[] = { "batch", "streaming", "gpu", NULL };
  g_autofree char *text = lmd_test_issue_key (f->vendor, "lic_valid", 0, 86400 * 30, 600, 8, 2.5,
                                              features);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicenseKey) key = lmd_license_key_parse (text, &error);
  g_autofree char *signer = lmd_license_signer_id (lmd_license_signing_key_get_public_key (f->vendor));

  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (text, "lmd1."));
  g_assert_true (lmd_license_key_verify (key, f->keyring, NOW, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (key->version, ==, 1);
  g_assert_cmpstr (key->key_id, ==, "lic_valid");
  g_assert_cmpstr (key->licensee, ==, "Test Licensee GmbH");
  g_assert_cmpstr (key->signer_id, ==, signer);
  g_assert_cmpint (key->issued_at, ==, NOW);
  g_assert_cmpint (key->not_before, ==, NOW);
  g_assert_cmpint (key->expires_at, ==, NOW + 86400 * 30);
  g_assert_cmpint (key->limits.rpm, ==, 600);
  g_assert_cmpint (key->limits.concurrency, ==, 8);
  g_assert_cmpfloat_with_epsilon (key->limits.audio_hours_per_day, 2.5, 1e-9);
  g_assert_cmpuint (g_strv_length (key->features), ==, 3);
  g_assert_true (lmd_license_key_has_feature (key, "streaming"));
  g_assert_true (lmd_license_key_has_feature (key, "batch"));
  g_assert_false (lmd_license_key_has_feature (key, "whisper"));
  /* the last second of validity, and the first after */
  g_assert_true (lmd_license_key_check_time (key, NOW + 86400 * 30 - 1, NULL));
  g_assert_false (lmd_license_key_check_time (key, NOW + 86400 * 30, NULL));
}

static void
test_time_window (Fixture *f, gconstpointer data)
{
  g_autofree char *expired = lmd_test_issue_key (f->vendor, "lic_old", -86400 * 10, -1, 0, 0, 0, NULL);
  g_autofree char *future = lmd_test_issue_key (f->vendor, "lic_new", 86400, 86400 * 10, 0, 0, 0, NULL);
  g_autofree char *skewed = lmd_test_issue_key (f->vendor, "lic_skew", 60, 86400, 0, 0, 0, NULL);

  g_assert_cmpint (check (f, expired), ==, LMD_LICENSE_KEY_ERROR_EXPIRED);
  g_assert_cmpint (check (f, future), ==, LMD_LICENSE_KEY_ERROR_NOT_YET_VALID);
  /* a minute of clock skew is tolerated */
  g_assert_cmpint (check (f, skewed), ==, -1);
}

static void
test_tampered (Fixture *f, gconstpointer data)
{
  g_autofree char *text = lmd_test_issue_key (f->vendor, "lic_t", 0, 86400, 10, 1, 0, NULL);
  g_autofree char *other = lmd_test_issue_key (f->vendor, "lic_t", 0, 86400, 1000, 100, 0, NULL);
  const char *dot1 = strchr (text, '.') + 1;
  const char *dot2 = strchr (dot1, '.');
  const char *odot1 = strchr (other, '.') + 1;
  const char *odot2 = strchr (odot1, '.');
  g_autofree char *swapped = NULL;
  g_autofree char *flipped = g_strdup (text);
  g_autofree char *sig_flipped = g_strdup (text);
  gsize last = strlen (sig_flipped) - 2;

  /* the payload of a richer key with the signature of a poorer one */
  swapped = g_strdup_printf ("lmd1.%.*s%s", (int) (odot2 - odot1), odot1, dot2);
  g_assert_cmpint (check (f, swapped), ==, LMD_LICENSE_KEY_ERROR_BAD_SIGNATURE);
  /* one character of the payload changed, still valid base64url and JSON-decodable or not */
  for (gsize i = 5; i < (gsize) (dot2 - text); i += 7)
    {
      int code;
      flipped[i] = flipped[i] == 'A' ? 'B' : 'A';
      code = check (f, flipped);
      g_assert_true (code == LMD_LICENSE_KEY_ERROR_BAD_SIGNATURE
                     || code == LMD_LICENSE_KEY_ERROR_MALFORMED
                     || code == LMD_LICENSE_KEY_ERROR_UNKNOWN_SIGNER);
      flipped[i] = text[i];
    }
  /* the signature changed */
  sig_flipped[last] = sig_flipped[last] == 'A' ? 'B' : 'A';
  g_assert_cmpint (check (f, sig_flipped), ==, LMD_LICENSE_KEY_ERROR_BAD_SIGNATURE);
  g_assert_cmpint (check (f, text), ==, -1);
}

static void
test_wrong_signer (Fixture *f, gconstpointer data)
{
  g_autofree char *text = lmd_test_issue_key (f->other, "lic_w", 0, 86400, 0, 0, 0, NULL);
  g_autoptr (LmdLicenseKeyring) both = lmd_license_keyring_new ();
  g_autoptr (LmdLicenseKey) key = lmd_license_key_parse (text, NULL);

  g_assert_cmpint (check (f, text), ==, LMD_LICENSE_KEY_ERROR_UNKNOWN_SIGNER);
  /* trusting both vendor keys accepts it */
  lmd_license_keyring_add (both, lmd_license_signing_key_get_public_key (f->vendor));
  lmd_license_keyring_add (both, lmd_license_signing_key_get_public_key (f->other));
  g_assert_cmpuint (lmd_license_keyring_get_size (both), ==, 2);
  g_assert_true (lmd_license_key_verify (key, both, NOW, NULL));
}

static void
test_malformed (Fixture *f, gconstpointer data)
{
  g_autofree char *good = lmd_test_issue_key (f->vendor, "lic_m", 0, 86400, 0, 0, 0, NULL);
  g_autofree char *sig = g_strdup (strrchr (good, '.'));
  g_autofree char *too_long = g_strnfill (LMD_LICENSE_KEY_MAX_LENGTH + 1, 'A');
  g_autofree char *deep = NULL;
  g_autofree char *deep_b64 = NULL;
  const char *cases[] = {
    "", "lmd1", "lmd1.", "lmd1..", "lmd2.e30.AAAA", "lmd1.e30", "lmd1.e30.AAAA.AAAA",
    "lmd1.e30.AAAA", "lmd1.e30=.AAAA", "lmd1.!!!.AAAA", "lmd1.e30 .AAAA", " lmd1.e30.AAAA",
    "Token lmd1.e30.AAAA", "lmd1.\xc3\xa9.AAAA",
  };
  const char *payloads[] = {
    "{}", "[]", "null", "1", "{\"v\":1}", "{\"v\":2,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000}",
    "{\"v\":1,\"kid\":\"a b\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"xyz\",\"iat\":1800000000,\"exp\":1900000000}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":\"1800000000\",\"exp\":1900000000}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1700000000}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000,\"features\":\"gpu\"}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000,\"features\":[\"GPU!\"]}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000,\"limits\":{\"rpm\":-1}}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000,\"limits\":{\"audio_hours_per_day\":\"x\"}}",
    "{\"v\":1,\"kid\":\"a\",\"sub\":\"b\\u0001\",\"iss\":\"0123456789abcdef\",\"iat\":1800000000,\"exp\":1900000000}",
    "{\"v\":1,\"kid\":\"a\",",
  };
  GString *nested = g_string_new ("{\"v\":1,\"x\":");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (check (f, cases[i]), ==, LMD_LICENSE_KEY_ERROR_MALFORMED);
  g_assert_cmpint (check (f, too_long), ==, LMD_LICENSE_KEY_ERROR_MALFORMED);
  /* well-formed base64 around payloads that are not valid terms */
  for (guint i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      g_autofree char *b64 = lmd_license_base64url_encode ((const guint8 *) payloads[i],
                                                           strlen (payloads[i]));
      g_autofree char *text = g_strconcat ("lmd1.", b64, sig, NULL);
      g_test_message ("payload %u: %s", i, payloads[i]);
      g_assert_cmpint (check (f, text), ==, LMD_LICENSE_KEY_ERROR_MALFORMED);
    }
  /* nesting past the bound is refused before JSON parsing */
  for (guint i = 0; i < 50; i++)
    g_string_append (nested, "[");
  for (guint i = 0; i < 50; i++)
    g_string_append (nested, "]");
  g_string_append (nested, "}");
  deep_b64 = lmd_license_base64url_encode ((const guint8 *) nested->str, nested->len);
  deep = g_strconcat ("lmd1.", deep_b64, sig, NULL);
  g_assert_cmpint (check (f, deep), ==, LMD_LICENSE_KEY_ERROR_MALFORMED);
  g_string_free (nested, TRUE);
}

/* A deterministic mutation loop: every mutant must be parsed or refused cleanly, and none may
 * verify unless it is the original text. */
static void
test_fuzz (Fixture *f, gconstpointer data)
{
  g_autofree char *good = lmd_test_issue_key (f->vendor, "lic_fuzz", 0, 86400, 5, 2, 1, NULL);
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261124);
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"\\\x01\xff";
  guint iterations = g_test_slow () ? 200000 : 20000;
  guint parsed = 0, verified = 0;

  for (guint i = 0; i < iterations; i++)
    {
      GString *m = g_string_new (good);
      guint n = g_rand_int_range (rand, 1, 6);
      g_autoptr (LmdLicenseKey) key = NULL;
      g_autoptr (GError) error = NULL;

      for (guint k = 0; k < n; k++)
        {
          guint pos = m->len > 0 ? (guint) g_rand_int_range (rand, 0, (gint32) m->len) : 0;
          char c = alphabet[g_rand_int_range (rand, 0, sizeof alphabet - 1)];
          switch (g_rand_int_range (rand, 0, 5))
            {
            case 0: /* replace */
              if (m->len > 0)
                m->str[pos] = c;
              break;
            case 1: /* insert */
              g_string_insert_c (m, pos, c);
              break;
            case 2: /* delete */
              if (m->len > 0)
                g_string_erase (m, pos, 1);
              break;
            case 3: /* truncate */
              g_string_truncate (m, pos);
              break;
            default: /* duplicate a span */
              {
                guint len = MIN (m->len - pos, (guint) g_rand_int_range (rand, 1, 64));
                g_autofree char *span = g_strndup (m->str + pos, len);
                g_string_insert (m, pos, span);
              }
            }
        }
      key = lmd_license_key_parse (m->str, &error);
      if (key != NULL)
        {
          parsed++;
          if (lmd_license_key_verify (key, f->keyring, NOW, NULL))
            {
              /* base64url may decode a changed tail to the same bytes only for the original */
              g_autoptr (LmdLicenseKey) orig = lmd_license_key_parse (good, NULL);
              g_assert_cmpstr (key->key_id, ==, orig->key_id);
              g_assert_cmpint (key->expires_at, ==, orig->expires_at);
              verified++;
            }
        }
      else
        g_assert_error (error, LMD_LICENSE_KEY_ERROR, LMD_LICENSE_KEY_ERROR_MALFORMED);
      g_string_free (m, TRUE);
    }
  g_test_message ("%u mutants: %u parsed, %u verified (identical terms)", iterations, parsed,
                  verified);
}

static void
test_key_files (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-license-XXXXXX", NULL);
  g_autofree char *prefix = g_build_filename (dir, "vendor", NULL);
  g_autofree char *key_path = g_strconcat (prefix, ".key", NULL);
  g_autofree char *pub_path = g_strconcat (prefix, ".pub", NULL);
  g_autoptr (LmdLicenseSigningKey) loaded = NULL;
  g_autoptr (LmdLicenseKeyring) ring = lmd_license_keyring_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr (LmdLicenseKey) key = NULL;
  GStatBuf st;

  g_assert_true (lmd_license_signing_key_save (f->vendor, prefix, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  /* never overwrites */
  g_assert_false (lmd_license_signing_key_save (f->other, prefix, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);

  loaded = lmd_license_signing_key_load (key_path, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (lmd_license_signing_key_get_public_key (loaded), 32,
                   lmd_license_signing_key_get_public_key (f->vendor), 32);
  g_assert_true (lmd_license_keyring_add_file (ring, pub_path, &error));
  g_assert_no_error (error);
  text = lmd_test_issue_key (loaded, "lic_file", 0, 100, 0, 0, 0, NULL);
  key = lmd_license_key_parse (text, &error);
  g_assert_true (lmd_license_key_verify (key, ring, NOW, &error));
  g_assert_no_error (error);

  /* a public key file is not a signing key, nor the reverse */
  g_assert_null (lmd_license_signing_key_load (pub_path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_false (lmd_license_keyring_add_file (ring, key_path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_false (lmd_license_keyring_add_text (ring, "lmd-ed25519-pub:AAAA", &error));
  g_clear_error (&error);

  g_remove (key_path);
  g_remove (pub_path);
  g_rmdir (dir);
}

/* ---- the command-line tool -------------------------------------------------------------- */

static char *
tool_path (void)
{
  const char *build = g_getenv ("LMD_BUILD_DIR");
  g_assert_nonnull (build);
  return g_build_filename (build, "plugins", "license", "lightning-license", NULL);
}

static int
run_tool (const char *const *args, char **out, char **err)
{
  g_autofree char *tool = tool_path ();
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int status = 0;

  g_ptr_array_add (argv, tool);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                &error);
  g_assert_no_error (error);
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  return -1;
}

static void
test_cli (void)
{
  g_autofree char *dir = g_dir_make_tmp ("lmd-license-cli-XXXXXX", NULL);
  g_autofree char *prefix = g_build_filename (dir, "acme", NULL);
  g_autofree char *other = g_build_filename (dir, "other", NULL);
  g_autofree char *key_path = g_strconcat (prefix, ".key", NULL);
  g_autofree char *pub_path = g_strconcat (prefix, ".pub", NULL);
  g_autofree char *other_key = g_strconcat (other, ".key", NULL);
  g_autofree char *other_pub = g_strconcat (other, ".pub", NULL);
  g_autofree char *out = NULL, *err = NULL, *key = NULL;
  g_autoptr (LmdLicenseKey) parsed = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *tampered = NULL;

  {
    const char *args[] = { "keygen", "--out", prefix, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 0);
    g_assert_true (g_file_test (key_path, G_FILE_TEST_IS_REGULAR));
    g_assert_true (g_file_test (pub_path, G_FILE_TEST_IS_REGULAR));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    /* a second keygen to the same prefix fails instead of destroying the key */
    g_assert_cmpint (run_tool (args, &out, &err), ==, 1);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "keygen", "--out", other, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 0);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "issue", "--signing-key", key_path, "--licensee", "Acme Ltd",
                           "--days", "30", "--features", "batch,streaming,whisper", "--rpm", "120",
                           "--concurrency", "4", "--key-id", "lic_acme", NULL };
    g_assert_cmpint (run_tool (args, &key, &err), ==, 0);
    g_strstrip (key);
    g_clear_pointer (&err, g_free);
  }
  parsed = lmd_license_key_parse (key, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (parsed->key_id, ==, "lic_acme");
  g_assert_cmpstr (parsed->licensee, ==, "Acme Ltd");
  g_assert_cmpint (parsed->limits.rpm, ==, 120);
  g_assert_cmpint (parsed->limits.concurrency, ==, 4);
  g_assert_cmpint (parsed->expires_at - parsed->not_before, ==, 30 * 86400);
  g_assert_true (lmd_license_key_has_feature (parsed, "whisper"));
  g_assert_false (lmd_license_key_has_feature (parsed, "gpu"));
  {
    const char *args[] = { "inspect", key, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 0);
    g_assert_nonnull (strstr (out, "\"lic_acme\""));
    g_assert_nonnull (strstr (out, "\"streaming\""));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "verify", "--public-key", pub_path, key, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 0);
    g_assert_true (g_str_has_prefix (out, "valid"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "verify", "--public-key", other_pub, key, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 1);
    g_assert_nonnull (strstr (err, "does not trust"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  /* several trusted keys: any of them will do */
  {
    const char *args[] = { "verify", "--public-key", other_pub, "--public-key", pub_path, key, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 0);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  tampered = g_strdup (key);
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  {
    const char *args[] = { "verify", "--public-key", pub_path, tampered, NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 1);
    g_assert_nonnull (strstr (err, "invalid"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "inspect", "not-a-key", NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 1);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "issue", "--licensee", "x", NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 2);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  {
    const char *args[] = { "frobnicate", NULL };
    g_assert_cmpint (run_tool (args, &out, &err), ==, 2);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  g_remove (key_path);
  g_remove (pub_path);
  g_remove (other_key);
  g_remove (other_pub);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/license/key/valid", Fixture, NULL, fixture_setup, test_valid, fixture_teardown);
  g_test_add ("/license/key/time-window", Fixture, NULL, fixture_setup, test_time_window,
              fixture_teardown);
  g_test_add ("/license/key/tampered", Fixture, NULL, fixture_setup, test_tampered,
              fixture_teardown);
  g_test_add ("/license/key/wrong-signer", Fixture, NULL, fixture_setup, test_wrong_signer,
              fixture_teardown);
  g_test_add ("/license/key/malformed", Fixture, NULL, fixture_setup, test_malformed,
              fixture_teardown);
  g_test_add ("/license/key/fuzz", Fixture, NULL, fixture_setup, test_fuzz, fixture_teardown);
  g_test_add ("/license/key/files", Fixture, NULL, fixture_setup, test_key_files,
              fixture_teardown);
  g_test_add_func ("/license/cli/round-trip", test_cli);
  return g_test_run ();
}
