/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-key.h — license keys that can be verified offline.
 *
 * A key is three dot-separated parts:
 *
 *   lmd1.<base64url(payload)>.<base64url(signature)>
 *
 * The signature is Ed25519 (libsodium, detached, 64 bytes) over the ASCII bytes of
 * "lmd1.<base64url(payload)>", so the version prefix is signed too.  The payload is a JSON
 * object:
 *
 *   {"v":1, "kid":"lic_...", "sub":"Licensee Ltd", "iss":"<signer id>",
 *    "iat":1700000000, "nbf":1700000000, "exp":1731536000,
 *    "features":["batch","streaming"],
 *    "limits":{"rpm":600, "concurrency":8, "audio_hours_per_day":24}}
 *
 * "iss" is the signer id of the vendor key that signed it (lmd-license-keyring.h).  Limits of
 * 0, or absent, mean unlimited; "features" absent or empty means every feature.  Unknown
 * members are ignored so that later versions can add terms.
 *
 * Parsing is strict and bounded: at most LMD_LICENSE_KEY_MAX_LENGTH characters, only the
 * base64url alphabet and two dots, a payload of at most 3 KiB of UTF-8 JSON nested at most
 * LMD_LICENSE_KEY_MAX_DEPTH deep, every member of the right type and range.
 * Verification checks, in this order: the signer is trusted, the signature is good, the key is
 * already valid (not before nbf - LMD_LICENSE_KEY_CLOCK_SKEW_S), and not expired (before exp).
 */
#pragma once

#include <glib.h>

#include "lmd-license-keyring.h"
#include "lmd-license-signing-key.h"

G_BEGIN_DECLS

#define LMD_LICENSE_KEY_PREFIX "lmd1."
#define LMD_LICENSE_KEY_MAX_LENGTH 4096
#define LMD_LICENSE_KEY_MAX_PAYLOAD 3072
#define LMD_LICENSE_KEY_MAX_DEPTH 3
#define LMD_LICENSE_KEY_MAX_FEATURES 32
/* a customer's clock may run a little behind the vendor's */
#define LMD_LICENSE_KEY_CLOCK_SKEW_S 300

#define LMD_LICENSE_KEY_ERROR (lmd_license_key_error_quark ())
GQuark lmd_license_key_error_quark (void);

typedef enum {
  LMD_LICENSE_KEY_ERROR_MALFORMED,     /* not a key of this format */
  LMD_LICENSE_KEY_ERROR_BAD_SIGNATURE, /* signed by a trusted key, but altered since */
  LMD_LICENSE_KEY_ERROR_UNKNOWN_SIGNER,/* signed by a key we do not trust */
  LMD_LICENSE_KEY_ERROR_NOT_YET_VALID,
  LMD_LICENSE_KEY_ERROR_EXPIRED,
} LmdLicenseKeyError;

typedef struct {
  gint64 rpm;                  /* requests per minute per API key; 0 = unlimited */
  gint64 concurrency;          /* concurrent requests per API key; 0 = unlimited */
  double audio_hours_per_day;  /* per license, per UTC day; 0 = unlimited */
} LmdLicenseLimits;

typedef struct {
  guint version;
  char *key_id;        /* owned */
  char *licensee;      /* owned */
  char *signer_id;     /* owned */
  gint64 issued_at;    /* unix seconds */
  gint64 not_before;
  gint64 expires_at;
  GStrv features;      /* owned, never NULL; empty = all features */
  LmdLicenseLimits limits;

  /*< private >*/
  char *signed_part;   /* owned: "lmd1.<payload>", NULL until parsed or signed */
  guint8 signature[64];
} LmdLicenseKey;

/* An empty key with version 1, ready to be filled in and signed. (transfer full) */
LmdLicenseKey *lmd_license_key_new (void);
LmdLicenseKey *lmd_license_key_ref (LmdLicenseKey *self);
void lmd_license_key_unref (LmdLicenseKey *self);

/* Parses @text (no surrounding whitespace) without checking signature or times.
 * Errors: LMD_LICENSE_KEY_ERROR_MALFORMED. (transfer full) */
LmdLicenseKey *lmd_license_key_parse (const char *text, GError **error);
/* Checks signer, signature and validity at @now (unix seconds). */
gboolean lmd_license_key_verify (LmdLicenseKey *self, LmdLicenseKeyring *keyring, gint64 now,
                                 GError **error);
/* Only the time window: NOT_YET_VALID or EXPIRED. */
gboolean lmd_license_key_check_time (LmdLicenseKey *self, gint64 now, GError **error);

/* Fills in signer id, signs, and returns the key text. key_id, licensee and the times must be
 * set; exp must be after nbf. (transfer full) */
char *lmd_license_key_sign (LmdLicenseKey *self, LmdLicenseSigningKey *signing_key,
                            GError **error);

/* Whether the key grants @feature ("batch" is granted by every key). */
gboolean lmd_license_key_has_feature (LmdLicenseKey *self, const char *feature);
/* (transfer full) the payload as pretty JSON, for `lightning-license inspect` */
char *lmd_license_key_to_json (LmdLicenseKey *self);
/* Whether @name is a valid feature name: 1-32 characters of [a-z0-9_-]. */
gboolean lmd_license_feature_name_is_valid (const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdLicenseKey, lmd_license_key_unref)

G_END_DECLS
