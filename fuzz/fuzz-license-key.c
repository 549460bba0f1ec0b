/* SPDX-License-Identifier: MIT */
/*
 * fuzz-license-key.c — license keys as customers paste them (lmd_license_key_parse()), then
 * verified against a keyring that holds the seeds' signer, and written back as JSON.
 */
#include "lmd-license-key.h"
#include "lmd-license-keyring.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* the public half of the key that signed the seeds in corpus/license-key/ (made with
   * lightning-license keygen), so that mutated seeds reach the signature check */
  static const guint8 public_key[32] = {
    0x43, 0x96, 0x4f, 0xdf, 0xb1, 0xc5, 0x82, 0x64, 0x81, 0x3e, 0x98, 0xa8, 0x34, 0x6b, 0x34, 0x8f,
    0x59, 0x76, 0x0e, 0xc2, 0x1d, 0x1a, 0x20, 0xb8, 0xfa, 0x08, 0x07, 0xd0, 0x15, 0x7b, 0xce, 0x9f,
  };
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdLicenseKey) key = lmd_license_key_parse (text, &error);
  g_autoptr (LmdLicenseKeyring) keyring = NULL;

  if (key == NULL)
    {
      g_assert (error != NULL && error->message[0] != '\0');
      return 0;
    }
  keyring = lmd_license_keyring_new ();
  lmd_license_keyring_add (keyring, public_key);
  if (!lmd_license_key_verify (key, keyring, 1700000000, &error))
    g_assert (error != NULL);
  g_clear_error (&error);
  (void) lmd_license_key_check_time (key, 1700000000, NULL);
  (void) lmd_license_key_has_feature (key, "streaming");
  g_autofree char *json = lmd_license_key_to_json (key);
  g_assert (json != NULL);
  return 0;
}
