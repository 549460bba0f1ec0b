/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-signing-key.c — generating, storing and using the vendor key pair (see header).
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-signing-key.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "lmd-license-keyring.h"

struct _LmdLicenseSigningKey {
  guint8 *secret;                                   /* owned: sodium_malloc'd, 64 bytes */
  guint8 public_key[LMD_LICENSE_PUBLIC_KEY_BYTES];
};

static LmdLicenseSigningKey *
signing_key_alloc (void)
{
  LmdLicenseSigningKey *self;

  if (sodium_init () < 0)
    return NULL;
  self = g_new0 (LmdLicenseSigningKey, 1);
  self->secret = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  if (self->secret == NULL)
    {
      g_free (self);
      return NULL;
    }
  return self;
}

LmdLicenseSigningKey *
lmd_license_signing_key_generate (void)
{
  LmdLicenseSigningKey *self = signing_key_alloc ();

  g_return_val_if_fail (self != NULL, NULL);
  crypto_sign_keypair (self->public_key, self->secret);
  return self;
}

void
lmd_license_signing_key_free (LmdLicenseSigningKey *self)
{
  if (self == NULL)
    return;
  sodium_free (self->secret); /* wipes the memory */
  g_free (self);
}

LmdLicenseSigningKey *
lmd_license_signing_key_load (const char *path, GError **error)
{
  g_autoptr (LmdLicenseSigningKey) self = NULL;
  char *text = NULL;
  gsize len = 0;
  char *line;
  const char *b64;
  size_t bin_len = 0;
  const char *end = NULL;
  gboolean ok;

  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  self = signing_key_alloc ();
  if (self == NULL)
    {
      sodium_memzero (text, len);
      g_free (text);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "libsodium could not be initialised");
      return NULL;
    }
  line = g_strstrip (text);
  b64 = line + strlen (LMD_LICENSE_SECRET_KEY_PREFIX);
  ok = len < 1024 && g_str_has_prefix (line, LMD_LICENSE_SECRET_KEY_PREFIX)
       && sodium_base642bin (self->secret, crypto_sign_SECRETKEYBYTES, b64, strlen (b64), NULL,
                             &bin_len, &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0
       && *end == '\0' && bin_len == crypto_sign_SECRETKEYBYTES;
  sodium_memzero (text, len);
  g_free (text);
  if (!ok)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a signing key file", path);
      return NULL;
    }
  crypto_sign_ed25519_sk_to_pk (self->public_key, self->secret);
  return g_steal_pointer (&self);
}

static gboolean
write_new_file (const char *path, const char *text, int mode, GError **error)
{
  gsize len = strlen (text);
  gsize done = 0;
  int fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  while (done < len)
    {
      ssize_t n = write (fd, text + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      done += (gsize) n;
    }
  if (fsync (fd) != 0 || close (fd) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

gboolean
lmd_license_signing_key_save (LmdLicenseSigningKey *self, const char *prefix, GError **error)
{
  g_autofree char *key_path = g_strconcat (prefix, ".key", NULL);
  g_autofree char *pub_path = g_strconcat (prefix, ".pub", NULL);
  g_autofree char *pub_line = NULL;
  g_autofree char *pub_text = NULL;
  gsize size = sodium_base64_ENCODED_LEN (crypto_sign_SECRETKEYBYTES,
                                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  gsize text_size = strlen (LMD_LICENSE_SECRET_KEY_PREFIX) + size + 1;
  char *key_text;
  gboolean ok;

  g_return_val_if_fail (self != NULL && prefix != NULL, FALSE);
  if (g_file_test (pub_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s already exists", pub_path);
      return FALSE;
    }
  key_text = sodium_malloc (text_size);
  if (key_text == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of memory");
      return FALSE;
    }
  strcpy (key_text, LMD_LICENSE_SECRET_KEY_PREFIX);
  sodium_bin2base64 (key_text + strlen (LMD_LICENSE_SECRET_KEY_PREFIX), size, self->secret,
                     crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  key_text[text_size - 2] = '\n';
  key_text[text_size - 1] = '\0';
  ok = write_new_file (key_path, key_text, 0600, error);
  sodium_free (key_text);
  if (!ok)
    return FALSE;
  pub_line = lmd_license_public_key_to_text (self->public_key);
  pub_text = g_strconcat (pub_line, "\n", NULL);
  return write_new_file (pub_path, pub_text, 0644, error);
}

const guint8 *
lmd_license_signing_key_get_public_key (LmdLicenseSigningKey *self)
{
  return self->public_key;
}

void
lmd_license_signing_key_sign (LmdLicenseSigningKey *self, const guint8 *message, gsize len,
                              guint8 signature[LMD_LICENSE_SIGNATURE_BYTES])
{
  crypto_sign_detached (signature, NULL, message, len, self->secret);
}
