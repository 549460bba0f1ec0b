/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-keyring.h — the vendor public keys a verifier trusts.
 *
 * A public key file holds one line: "lmd-ed25519-pub:" followed by the 32-byte Ed25519 public
 * key in unpadded base64url.  Each key is known by its signer id: the first 8 bytes of the
 * BLAKE2b hash (crypto_generichash) of the public key, as 16 lower-case hex digits.  A license
 * key names its signer, so a verifier picks the right public key without trying them all and
 * can tell "signed by someone we do not trust" from "tampered with".
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LMD_LICENSE_PUBLIC_KEY_BYTES 32
#define LMD_LICENSE_SIGNER_ID_LENGTH 16
#define LMD_LICENSE_PUBLIC_KEY_PREFIX "lmd-ed25519-pub:"

typedef struct _LmdLicenseKeyring LmdLicenseKeyring;

LmdLicenseKeyring *lmd_license_keyring_new (void);
void lmd_license_keyring_free (LmdLicenseKeyring *self);

/* Adds a raw 32-byte public key; adding one twice is harmless. */
void lmd_license_keyring_add (LmdLicenseKeyring *self, const guint8 *public_key);
/* Adds the key in the public key file @path (G_FILE_ERROR or G_IO_ERROR_INVALID_DATA). */
gboolean lmd_license_keyring_add_file (LmdLicenseKeyring *self, const char *path, GError **error);
/* Adds the key written as in a public key file (one line, surrounding whitespace ignored). */
gboolean lmd_license_keyring_add_text (LmdLicenseKeyring *self, const char *text, GError **error);
guint lmd_license_keyring_get_size (LmdLicenseKeyring *self);
/* (transfer none) (nullable) the 32-byte public key of @signer_id */
const guint8 *lmd_license_keyring_lookup (LmdLicenseKeyring *self, const char *signer_id);

/* (transfer full) the signer id of @public_key */
char *lmd_license_signer_id (const guint8 *public_key);
/* (transfer full) @public_key as the one line of a public key file, without newline */
char *lmd_license_public_key_to_text (const guint8 *public_key);

/* Unpadded base64url, the only encoding license material uses. (transfer full) */
char *lmd_license_base64url_encode (const guint8 *data, gsize len);
/* Strict decoding: no padding, no whitespace, nothing after the data; at most @max_len bytes.
 * Returns NULL on any error. (transfer full) */
guint8 *lmd_license_base64url_decode (const char *text, gsize text_len, gsize max_len,
                                      gsize *out_len);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLicenseKeyring, lmd_license_keyring_free)

G_END_DECLS
