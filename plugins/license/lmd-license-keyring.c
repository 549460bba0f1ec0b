/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-keyring.c — trusted vendor public keys, indexed by signer id (see the header).
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-keyring.h"

#include <gio/gio.h>
#include <sodium.h>
#include <string.h>

struct _LmdLicenseKeyring {
  GHashTable *keys; /* owned: signer id (owned) → 32-byte public key (owned) */
};

/* a public key file is one short line; anything longer is not one */
#define PUBLIC_KEY_FILE_MAX 1024

LmdLicenseKeyring *
lmd_license_keyring_new (void)
{
  LmdLicenseKeyring *self = g_new0 (LmdLicenseKeyring, 1);

  if (sodium_init () < 0)
    g_warning ("libsodium failed to initialise");
  self->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

void
lmd_license_keyring_free (LmdLicenseKeyring *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->keys);
  g_free (self);
}

char *
lmd_license_base64url_encode (const guint8 *data, gsize len)
{
  gsize size = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  char *out = g_malloc (size);

  sodium_bin2base64 (out, size, data, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return out;
}

guint8 *
lmd_license_base64url_decode (const char *text, gsize text_len, gsize max_len, gsize *out_len)
{
  g_autofree guint8 *out = NULL;
  const char *end = NULL;
  size_t bin_len = 0;

  /* every 4 characters carry 3 bytes: reject over-long input before allocating for it */
  if (text_len == 0 || text_len / 4 * 3 > max_len + 3)
    return NULL;
  out = g_malloc (max_len + 3);
  if (sodium_base642bin (out, max_len + 3, text, text_len, NULL, &bin_len, &end,
                         sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return NULL;
  if (end != text + text_len || bin_len > max_len)
    return NULL;
  *out_len = bin_len;
  return g_steal_pointer (&out);
}

char *
lmd_license_signer_id (const guint8 *public_key)
{
  guint8 hash[crypto_generichash_BYTES];
  char hex[LMD_LICENSE_SIGNER_ID_LENGTH + 1];

  crypto_generichash (hash, sizeof hash, public_key, LMD_LICENSE_PUBLIC_KEY_BYTES, NULL, 0);
  sodium_bin2hex (hex, sizeof hex, hash, LMD_LICENSE_SIGNER_ID_LENGTH / 2);
  return g_strdup (hex);
}

char *
lmd_license_public_key_to_text (const guint8 *public_key)
{
  g_autofree char *b64 = lmd_license_base64url_encode (public_key, LMD_LICENSE_PUBLIC_KEY_BYTES);

  return g_strconcat (LMD_LICENSE_PUBLIC_KEY_PREFIX, b64, NULL);
}

void
lmd_license_keyring_add (LmdLicenseKeyring *self, const guint8 *public_key)
{
  g_return_if_fail (self != NULL && public_key != NULL);
  g_hash_table_replace (self->keys, lmd_license_signer_id (public_key),
                        g_memdup2 (public_key, LMD_LICENSE_PUBLIC_KEY_BYTES));
}

gboolean
lmd_license_keyring_add_text (LmdLicenseKeyring *self, const char *text, GError **error)
{
  g_autofree char *line = g_strstrip (g_strdup (text));
  g_autofree guint8 *key = NULL;
  gsize len = 0;
  const char *b64;

  if (!g_str_has_prefix (line, LMD_LICENSE_PUBLIC_KEY_PREFIX))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "not a public key: it does not start with '%s'", LMD_LICENSE_PUBLIC_KEY_PREFIX);
      return FALSE;
    }
  b64 = line + strlen (LMD_LICENSE_PUBLIC_KEY_PREFIX);
  key = lmd_license_base64url_decode (b64, strlen (b64), LMD_LICENSE_PUBLIC_KEY_BYTES, &len);
  if (key == NULL || len != LMD_LICENSE_PUBLIC_KEY_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "not a public key: expected %d bytes of base64url", LMD_LICENSE_PUBLIC_KEY_BYTES);
      return FALSE;
    }
  lmd_license_keyring_add (self, key);
  return TRUE;
}

gboolean
lmd_license_keyring_add_file (LmdLicenseKeyring *self, const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &text, &len, error))
    return FALSE;
  if (len > PUBLIC_KEY_FILE_MAX || strlen (text) != len)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a public key file", path);
      return FALSE;
    }
  if (!lmd_license_keyring_add_text (self, text, error))
    {
      g_prefix_error (error, "%s: ", path);
      return FALSE;
    }
  return TRUE;
}

guint
lmd_license_keyring_get_size (LmdLicenseKeyring *self)
{
  return g_hash_table_size (self->keys);
}

const guint8 *
lmd_license_keyring_lookup (LmdLicenseKeyring *self, const char *signer_id)
{
  if (signer_id == NULL)
    return NULL;
  return g_hash_table_lookup (self->keys, signer_id);
}
