/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-auth.h"

#include <string.h>

#include "lmd-error.h"

char *
lmd_http_auth_extract_key (SoupServerMessage *msg, GHashTable *query)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  const char *token;

  if (header != NULL)
    {
      const char *schemes[] = { "Token ", "Bearer " };
      for (guint i = 0; i < G_N_ELEMENTS (schemes); i++)
        if (g_ascii_strncasecmp (header, schemes[i], strlen (schemes[i])) == 0)
          {
            g_autofree char *key = g_strstrip (g_strdup (header + strlen (schemes[i])));
            return key[0] != '\0' ? g_steal_pointer (&key) : NULL;
          }
      return NULL; /* another scheme: no key we know */
    }
  if ((header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                              "Sec-WebSocket-Protocol")) != NULL)
    {
      /* browsers cannot set headers on a WebSocket: the subprotocol pair "token, <key>" */
      g_auto (GStrv) protocols = g_strsplit (header, ",", -1);
      for (guint i = 0; protocols[i] != NULL && protocols[i + 1] != NULL; i++)
        if (g_ascii_strcasecmp (g_strstrip (protocols[i]), "token") == 0)
          {
            g_autofree char *key = g_strdup (g_strstrip (protocols[i + 1]));
            if (key[0] != '\0')
              return g_steal_pointer (&key);
          }
    }
  token = query != NULL ? g_hash_table_lookup (query, "token") : NULL;
  return token != NULL && token[0] != '\0' ? g_strdup (token) : NULL;
}

void
lmd_http_auth_admit_async (LmdLicense *license, SoupServerMessage *msg, GHashTable *query,
                           const char *feature, const char *request_id, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autofree char *key = NULL;

  if (license != NULL && !g_str_equal (feature, "streaming") && query != NULL &&
      g_hash_table_contains (query, "token"))
    {
      /* a key in a REST URL ends up in proxy and access logs: refused, never checked */
      g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
      g_task_set_source_tag (task, lmd_http_auth_admit_async);
      g_task_return_new_error (task, LMD_ERROR, LMD_ERROR_INVALID_LICENSE,
                               "the key goes in the Authorization header (Token or Bearer): the "
                               "token query parameter is accepted on WebSocket URLs only, since "
                               "query strings end up in proxy and access logs");
      return;
    }
  if (license == NULL)
    {
      /* no license service: everything is admitted, on the next main-loop iteration */
      g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
      g_task_set_source_tag (task, lmd_http_auth_admit_async);
      g_task_return_boolean (task, TRUE);
      return;
    }
  key = lmd_http_auth_extract_key (msg, query);
  lmd_license_admit_async (license, key, feature, request_id, cancellable, callback, user_data);
  if (key != NULL)
    memset (key, 0, strlen (key));
}

gboolean
lmd_http_auth_admit_finish (LmdLicense *license, GAsyncResult *result, LmdLicenseTicket **ticket,
                            guint *retry_after_s, GError **error)
{
  *ticket = NULL;
  *retry_after_s = 0;
  if (g_async_result_is_tagged (result, lmd_http_auth_admit_async))
    return g_task_propagate_boolean (G_TASK (result), error);
  *ticket = lmd_license_admit_finish (license, result, retry_after_s, error);
  return *ticket != NULL;
}

gboolean
lmd_http_auth_allows_engine (LmdLicense *license, LmdLicenseTicket *ticket, LmdRouter *router,
                             LmdEngine *engine, GError **error)
{
  /* the router knows each engine under its plugin name too */
  if (engine == NULL || engine != lmd_router_find_engine (router, "whisper")
      || lmd_license_allows (license, ticket, "whisper"))
    return TRUE;
  g_set_error (error, LMD_ERROR, LMD_ERROR_FEATURE_NOT_LICENSED,
               "the license does not include the feature 'whisper' (model %s)",
               lmd_engine_get_model_name (engine));
  return FALSE;
}
