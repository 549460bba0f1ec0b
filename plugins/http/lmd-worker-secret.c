/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-worker-secret.h"

#include <string.h>

#include "lmd-config.h"

#define DIGEST_BYTES 32 /* SHA-256 */

struct _LmdWorkerSecret {
  char *secret;                /* owned, wiped on free */
  guint8 digest[DIGEST_BYTES]; /* SHA-256 of the secret */
};

static void
digest (const char *text, guint8 out[DIGEST_BYTES])
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len = DIGEST_BYTES;

  g_checksum_update (sum, (const guchar *) text, (gssize) strlen (text));
  g_checksum_get_digest (sum, out, &len);
}

LmdWorkerSecret *
lmd_worker_secret_new_from_config (GKeyFile *config)
{
  g_autofree char *value = lmd_config_get_string (config, "server", "worker_secret", NULL);
  LmdWorkerSecret *self;

  if (value == NULL || g_strstrip (value)[0] == '\0')
    return NULL;
  self = g_new0 (LmdWorkerSecret, 1);
  self->secret = g_strdup (value);
  digest (self->secret, self->digest);
  memset (value, 0, strlen (value));
  return self;
}

void
lmd_worker_secret_free (LmdWorkerSecret *self)
{
  if (self == NULL)
    return;
  memset (self->secret, 0, strlen (self->secret));
  g_free (self->secret);
  g_free (self);
}

gboolean
lmd_worker_secret_check (const LmdWorkerSecret *self, SoupMessageHeaders *headers)
{
  const char *presented = soup_message_headers_get_one (headers, LMD_WORKER_SECRET_HEADER);
  guint8 other[DIGEST_BYTES];
  guint8 diff = 0;

  if (presented == NULL)
    return FALSE;
  /* digests of equal length, compared without an early exit: the time taken says nothing
   * about how much of the secret a guess got right */
  digest (presented, other);
  for (guint i = 0; i < DIGEST_BYTES; i++)
    diff |= other[i] ^ self->digest[i];
  return diff == 0;
}

static void
on_request_queued (SoupSession *session, SoupMessage *msg, gpointer user_data)
{
  LmdWorkerSecret *self = user_data;
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);

  if (self != NULL)
    soup_message_headers_replace (headers, LMD_WORKER_SECRET_HEADER, self->secret);
  else
    soup_message_headers_remove (headers, LMD_WORKER_SECRET_HEADER);
}

void
lmd_worker_secret_attach (LmdWorkerSecret *self, SoupSession *session)
{
  g_signal_connect (session, "request-queued", G_CALLBACK (on_request_queued), self);
}
