/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-signing-key.h — the vendor's Ed25519 key pair, used only to issue license keys.
 *
 * Files: PREFIX.key holds "lmd-ed25519-key:" + the 64-byte libsodium secret key (seed and
 * public key) in unpadded base64url, written with mode 0600 and never overwritten;
 * PREFIX.pub holds the public key as described in lmd-license-keyring.h.  The secret key lives
 * in guarded libsodium memory and is wiped when freed.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LMD_LICENSE_SECRET_KEY_PREFIX "lmd-ed25519-key:"
#define LMD_LICENSE_SIGNATURE_BYTES 64

typedef struct _LmdLicenseSigningKey LmdLicenseSigningKey;

/* A fresh random key pair. */
LmdLicenseSigningKey *lmd_license_signing_key_generate (void);
/* Reads a PREFIX.key file (G_FILE_ERROR, or G_IO_ERROR_INVALID_DATA when it is not one). */
LmdLicenseSigningKey *lmd_license_signing_key_load (const char *path, GError **error);
void lmd_license_signing_key_free (LmdLicenseSigningKey *self);

/* Writes PREFIX.key (0600) and PREFIX.pub; fails with G_IO_ERROR_EXISTS rather than
 * replace an existing key file. */
gboolean lmd_license_signing_key_save (LmdLicenseSigningKey *self, const char *prefix,
                                       GError **error);
/* (transfer none) 32 bytes */
const guint8 *lmd_license_signing_key_get_public_key (LmdLicenseSigningKey *self);
/* Writes the detached Ed25519 signature of @message into @signature. */
void lmd_license_signing_key_sign (LmdLicenseSigningKey *self, const guint8 *message, gsize len,
                                   guint8 signature[LMD_LICENSE_SIGNATURE_BYTES]);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLicenseSigningKey, lmd_license_signing_key_free)

G_END_DECLS
