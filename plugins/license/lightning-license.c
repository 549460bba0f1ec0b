/* SPDX-License-Identifier: MIT */
/*
 * lightning-license.c — the vendor's tool for license keys.
 *
 *   lightning-license keygen --out PREFIX
 *       writes a new Ed25519 key pair: PREFIX.key (secret, 0600) and PREFIX.pub
 *   lightning-license issue --signing-key PREFIX.key --licensee NAME --days N
 *                           [--key-id ID] [--features a,b,...] [--rpm N] [--concurrency N]
 *                           [--audio-hours H] [--not-before UNIX_SECONDS]
 *       prints a new license key on stdout
 *   lightning-license inspect KEY|-
 *       prints the terms of a key as JSON, without checking its signature
 *   lightning-license verify --public-key PREFIX.pub [--public-key ...] KEY|-
 *       checks signer, signature and validity now; prints "valid" and the terms
 *
 * KEY "-" reads the key from stdin (keeps it out of the process list).  Exit status: 0 done /
 * valid, 1 invalid key or failure, 2 bad usage.
 */
#include <glib.h>
#include <locale.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lmd-license-clock.h"
#include "lmd-license-key.h"
#include "lmd-license-keyring.h"
#include "lmd-license-signing-key.h"

#define EXIT_INVALID 1
#define EXIT_USAGE 2

static int
usage (const char *message)
{
  if (message != NULL)
    g_printerr ("lightning-license: %s\n", message);
  g_printerr ("usage: lightning-license keygen --out PREFIX\n"
              "       lightning-license issue --signing-key PREFIX.key --licensee NAME --days N\n"
              "                               [--key-id ID] [--features a,b] [--rpm N]\n"
              "                               [--concurrency N] [--audio-hours H]\n"
              "                               [--not-before UNIX_SECONDS]\n"
              "       lightning-license inspect KEY|-\n"
              "       lightning-license verify --public-key PREFIX.pub [...] KEY|-\n");
  return EXIT_USAGE;
}

/* Parses @argv with @entries; the remaining positional arguments stay in @argv. */
static gboolean
parse_options (const char *command, GOptionEntry *entries, int *argc, char ***argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;

  g_option_context_set_help_enabled (ctx, TRUE);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &error))
    {
      g_printerr ("lightning-license %s: %s\n", command, error->message);
      return FALSE;
    }
  return TRUE;
}

/* (transfer full) the key given as @arg, or read from stdin for "-" */
static char *
read_key_argument (const char *arg)
{
  GString *text;
  char buf[1024];

  if (!g_str_equal (arg, "-"))
    return g_strstrip (g_strdup (arg));
  text = g_string_new (NULL);
  while (text->len <= LMD_LICENSE_KEY_MAX_LENGTH + 2 && fgets (buf, sizeof buf, stdin) != NULL)
    g_string_append (text, buf);
  return g_strstrip (g_string_free (text, FALSE));
}

static int
cmd_keygen (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_autoptr (LmdLicenseSigningKey) key = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *signer = NULL;
  GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out, "write PREFIX.key and PREFIX.pub", "PREFIX" },
    { NULL }
  };

  if (!parse_options ("keygen", entries, &argc, &argv))
    return EXIT_USAGE;
  if (out == NULL || argc != 1)
    return usage ("keygen needs --out PREFIX and nothing else");
  key = lmd_license_signing_key_generate ();
  if (!lmd_license_signing_key_save (key, out, &error))
    {
      g_printerr ("lightning-license keygen: %s\n", error->message);
      return EXIT_INVALID;
    }
  signer = lmd_license_signer_id (lmd_license_signing_key_get_public_key (key));
  g_print ("wrote %s.key (keep it secret) and %s.pub; signer id %s\n", out, out, signer);
  return 0;
}

static int
cmd_issue (int argc, char **argv)
{
  g_autofree char *signing_key_path = NULL;
  g_autofree char *licensee = NULL;
  g_autofree char *key_id = NULL;
  g_autofree char *features = NULL;
  gint64 days = 0, rpm = 0, concurrency = 0, not_before = 0;
  double audio_hours = 0;
  g_autoptr (LmdLicenseSigningKey) signing_key = NULL;
  g_autoptr (LmdLicenseKey) key = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  gint64 now = lmd_license_clock_now ();
  GOptionEntry entries[] = {
    { "signing-key", 'k', 0, G_OPTION_ARG_FILENAME, &signing_key_path, "vendor secret key", "PREFIX.key" },
    { "licensee", 'l', 0, G_OPTION_ARG_STRING, &licensee, "who the license is for", "NAME" },
    { "days", 'd', 0, G_OPTION_ARG_INT64, &days, "valid for N days from now (or from --not-before)", "N" },
    { "key-id", 0, 0, G_OPTION_ARG_STRING, &key_id, "key id (default: lic_ + random hex)", "ID" },
    { "features", 'f', 0, G_OPTION_ARG_STRING, &features, "comma-separated features (default: all)", "LIST" },
    { "rpm", 0, 0, G_OPTION_ARG_INT64, &rpm, "requests per minute per key (0 = unlimited)", "N" },
    { "concurrency", 0, 0, G_OPTION_ARG_INT64, &concurrency, "concurrent requests per key (0 = unlimited)", "N" },
    { "audio-hours", 0, 0, G_OPTION_ARG_DOUBLE, &audio_hours, "audio hours per UTC day (0 = unlimited)", "H" },
    { "not-before", 0, 0, G_OPTION_ARG_INT64, &not_before, "valid from (unix seconds; default now)", "T" },
    { NULL }
  };

  if (!parse_options ("issue", entries, &argc, &argv))
    return EXIT_USAGE;
  if (signing_key_path == NULL || licensee == NULL || days <= 0 || argc != 1)
    return usage ("issue needs --signing-key, --licensee and --days N (N > 0)");
  if (days > 36500 || rpm < 0 || concurrency < 0 || audio_hours < 0)
    return usage ("--days must be at most 36500 and the limits at least 0");
  signing_key = lmd_license_signing_key_load (signing_key_path, &error);
  if (signing_key == NULL)
    {
      g_printerr ("lightning-license issue: %s\n", error->message);
      return EXIT_INVALID;
    }
  key = lmd_license_key_new ();
  if (key_id != NULL)
    key->key_id = g_strdup (key_id);
  else
    {
      guint8 random[8];
      char hex[17];
      randombytes_buf (random, sizeof random);
      sodium_bin2hex (hex, sizeof hex, random, sizeof random);
      key->key_id = g_strconcat ("lic_", hex, NULL);
    }
  key->licensee = g_strdup (licensee);
  key->issued_at = now;
  key->not_before = not_before > 0 ? not_before : now;
  key->expires_at = key->not_before + days * 86400;
  key->limits.rpm = rpm;
  key->limits.concurrency = concurrency;
  key->limits.audio_hours_per_day = audio_hours;
  if (features != NULL)
    {
      g_auto (GStrv) list = g_strsplit (features, ",", -1);
      GPtrArray *clean = g_ptr_array_new ();
      for (guint i = 0; list[i] != NULL; i++)
        if (g_strstrip (list[i])[0] != '\0')
          g_ptr_array_add (clean, g_strdup (list[i]));
      g_ptr_array_add (clean, NULL);
      g_strfreev (key->features);
      key->features = (GStrv) g_ptr_array_free (clean, FALSE);
    }
  text = lmd_license_key_sign (key, signing_key, &error);
  if (text == NULL)
    {
      g_printerr ("lightning-license issue: %s\n", error->message);
      return EXIT_INVALID;
    }
  g_print ("%s\n", text);
  return 0;
}

static int
cmd_inspect (int argc, char **argv)
{
  g_autofree char *text = NULL;
  g_autoptr (LmdLicenseKey) key = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;

  if (argc != 2)
    return usage ("inspect needs exactly one KEY (or - for stdin)");
  text = read_key_argument (argv[1]);
  key = lmd_license_key_parse (text, &error);
  if (key == NULL)
    {
      g_printerr ("lightning-license inspect: %s\n", error->message);
      return EXIT_INVALID;
    }
  json = lmd_license_key_to_json (key);
  g_print ("%s\n", json);
  return 0;
}

static int
cmd_verify (int argc, char **argv)
{
  g_auto (GStrv) public_keys = NULL;
  g_autoptr (LmdLicenseKeyring) keyring = lmd_license_keyring_new ();
  g_autofree char *text = NULL;
  g_autoptr (LmdLicenseKey) key = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *json = NULL;
  GOptionEntry entries[] = {
    { "public-key", 'p', 0, G_OPTION_ARG_FILENAME_ARRAY, &public_keys, "trusted public key (repeatable)", "PREFIX.pub" },
    { NULL }
  };

  if (!parse_options ("verify", entries, &argc, &argv))
    return EXIT_USAGE;
  if (public_keys == NULL || argc != 2)
    return usage ("verify needs --public-key FILE and one KEY (or - for stdin)");
  for (guint i = 0; public_keys[i] != NULL; i++)
    if (!lmd_license_keyring_add_file (keyring, public_keys[i], &error))
      {
        g_printerr ("lightning-license verify: %s\n", error->message);
        return EXIT_USAGE;
      }
  text = read_key_argument (argv[1]);
  key = lmd_license_key_parse (text, &error);
  if (key == NULL || !lmd_license_key_verify (key, keyring, lmd_license_clock_now (), &error))
    {
      g_printerr ("lightning-license verify: invalid: %s\n", error->message);
      return EXIT_INVALID;
    }
  json = lmd_license_key_to_json (key);
  g_print ("valid\n%s\n", json);
  return 0;
}

int
main (int argc, char **argv)
{
  const char *command;

  setlocale (LC_ALL, "");
  if (sodium_init () < 0)
    {
      g_printerr ("lightning-license: libsodium could not be initialised\n");
      return EXIT_INVALID;
    }
  if (argc < 2)
    return usage (NULL);
  command = argv[1];
  /* the sub-command's own options start after it */
  argv[1] = argv[0];
  argc--;
  argv++;
  if (g_str_equal (command, "keygen"))
    return cmd_keygen (argc, argv);
  if (g_str_equal (command, "issue"))
    return cmd_issue (argc, argv);
  if (g_str_equal (command, "inspect"))
    return cmd_inspect (argc, argv);
  if (g_str_equal (command, "verify"))
    return cmd_verify (argc, argv);
  if (g_str_equal (command, "--help") || g_str_equal (command, "-h") || g_str_equal (command, "help"))
    {
      usage (NULL);
      return 0;
    }
  return usage ("unknown command");
}
