/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-dialect.h"

#include "lmd-http-response.h"

/* Every dialect, in the order claims() is asked: on a shared path, dialects with claims()
 * come before the one that takes the rest. */
static const LmdHttpDialect *const dialects[] = {
  &lmd_http_deepgram_dialect, /* before the project's own dialect of the same path */
  &lmd_http_listen_dialect,
  &lmd_http_get_text_dialect,
  &lmd_http_openai_dialect,
  &lmd_http_openai_translation_dialect,
};

const LmdHttpDialect *
lmd_http_dialect_find (const char *method, const char *path, SoupMessageHeaders *headers,
                       GHashTable *query)
{
  g_return_val_if_fail (method != NULL, NULL);

  if (path == NULL || !g_str_equal (method, SOUP_METHOD_POST))
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (dialects); i++)
    {
      const LmdHttpDialect *d = dialects[i];

      if (d->version != LMD_HTTP_DIALECT_VERSION || !g_str_equal (d->path, path))
        continue;
      if (d->claims == NULL || d->claims (headers, query))
        return d;
    }
  return NULL;
}

gboolean
lmd_http_dialect_path_is_known (const char *path)
{
  for (guint i = 0; path != NULL && i < G_N_ELEMENTS (dialects); i++)
    if (g_str_equal (dialects[i]->path, path))
      return TRUE;
  return FALSE;
}

void
lmd_http_dialect_write_error (const LmdHttpDialect *dialect, SoupServerMessage *msg,
                              LmdRouter *router, const GError *error, const char *request_id,
                              guint retry_after_s, gint64 expires_at)
{
  if (dialect != NULL && dialect->write_error != NULL)
    dialect->write_error (msg, router, error, request_id, retry_after_s, expires_at);
  else
    lmd_http_respond_error (msg, router, error, request_id, retry_after_s, expires_at);
}
