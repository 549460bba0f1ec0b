/* SPDX-License-Identifier: MIT */
#include "lmd-url-fetcher.h"

#include <curl/curl.h>
#include <string.h>
#include <sys/socket.h>

#include "lmd-error.h"

typedef struct {
  GByteArray *body;
  const LmdFetchLimits *limits;
  GCancellable *cancellable;
  gboolean too_large;
  gboolean refused_address;
  char refused[64];
} FetchState;

static curl_socket_t
open_socket_cb (void *user_data, curlsocktype purpose, struct curl_sockaddr *address)
{
  FetchState *state = user_data;

  if (!state->limits->allow_private)
    {
      g_autoptr (GSocketAddress) sa =
          g_socket_address_new_from_native (&address->addr, address->addrlen);
      if (sa != NULL && G_IS_INET_SOCKET_ADDRESS (sa))
        {
          GInetAddress *ia = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (sa));
          if (lmd_inet_address_is_internal (ia))
            {
              g_autofree char *text = g_inet_address_to_string (ia);
              g_strlcpy (state->refused, text, sizeof state->refused);
              state->refused_address = TRUE;
              return CURL_SOCKET_BAD;
            }
        }
    }
  return socket (address->family, address->socktype, address->protocol);
}

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  FetchState *state = user_data;
  size_t n = size * nmemb;

  if (state->body->len + (guint64) n > state->limits->max_bytes)
    {
      state->too_large = TRUE;
      return 0; /* aborts the transfer */
    }
  g_byte_array_append (state->body, (const guint8 *) data, n);
  return n;
}

static int
progress_cb (void *user_data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
             curl_off_t ulnow)
{
  FetchState *state = user_data;

  if (dltotal > 0 && (guint64) dltotal > state->limits->max_bytes)
    {
      state->too_large = TRUE;
      return 1;
    }
  return g_cancellable_is_cancelled (state->cancellable) ? 1 : 0;
}

static gboolean curl_initialised;

static gpointer
curl_init_once (gpointer data)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
  curl_initialised = TRUE;
  return NULL;
}

void
lmd_url_fetcher_shutdown (void)
{
  if (curl_initialised)
    curl_global_cleanup ();
  curl_initialised = FALSE;
}

GBytes *
lmd_url_fetch (const char *url, const LmdFetchLimits *limits, GCancellable *cancellable,
               GError **error)
{
  static GOnce init = G_ONCE_INIT;
  FetchState state = { 0 };
  CURL *curl;
  CURLcode rc;
  long status = 0;
  char curl_error[CURL_ERROR_SIZE] = "";

  g_once (&init, curl_init_once, NULL);
  /* numeric and localhost forms of internal addresses are refused before any connection;
   * names are checked on every address they resolve to (open_socket_cb) */
  if (!lmd_url_check_destination (url, limits->allow_private, "url", error))
    return NULL;
  state.body = g_byte_array_new ();
  state.limits = limits;
  state.cancellable = cancellable;

  curl = curl_easy_init ();
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) limits->timeout_s);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, (long) MIN (limits->timeout_s, 15u));
  curl_easy_setopt (curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) limits->max_bytes);
  curl_easy_setopt (curl, CURLOPT_USERAGENT, "lightning-mediad/" "1");
  curl_easy_setopt (curl, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
  curl_easy_setopt (curl, CURLOPT_OPENSOCKETDATA, &state);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt (curl, CURLOPT_XFERINFODATA, &state);
  curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);

  rc = curl_easy_perform (curl);
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (curl);

  if (state.too_large || rc == CURLE_FILESIZE_EXCEEDED)
    g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                 "the audio at the URL is larger than the limit of %" G_GUINT64_FORMAT " MB",
                 limits->max_bytes / (1024 * 1024));
  else if (g_cancellable_is_cancelled (cancellable))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "fetching the URL was cancelled");
  else if (state.refused_address)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                 "url" LMD_ERROR_PARAM_SEPARATOR
                 "refusing to fetch from internal address %s (loopback and private ranges are "
                 "not allowed)", state.refused);
  else if (rc == CURLE_OPERATION_TIMEDOUT)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                 "url" LMD_ERROR_PARAM_SEPARATOR "fetching timed out after %u s", limits->timeout_s);
  else if (rc != CURLE_OK)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                 "url" LMD_ERROR_PARAM_SEPARATOR "could not fetch: %s",
                 curl_error[0] != '\0' ? curl_error : curl_easy_strerror (rc));
  else if (status < 200 || status >= 300)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                 "url" LMD_ERROR_PARAM_SEPARATOR "the server answered HTTP %ld", status);
  else
    return g_byte_array_free_to_bytes (state.body);

  g_byte_array_unref (state.body);
  return NULL;
}

static size_t
discard_cb (char *data, size_t size, size_t nmemb, void *user_data)
{
  return size * nmemb;
}

guint
lmd_url_post_json (const char *url, const char *json, const LmdFetchLimits *limits, GError **error)
{
  return lmd_url_send_json (url, "POST", json, limits, error);
}

guint
lmd_url_send_json (const char *url, const char *method, const char *json,
                   const LmdFetchLimits *limits, GError **error)
{
  static GOnce init = G_ONCE_INIT;
  FetchState state = { 0 };
  struct curl_slist *headers = NULL;
  CURL *curl;
  CURLcode rc;
  long status = 0;
  char curl_error[CURL_ERROR_SIZE] = "";

  g_once (&init, curl_init_once, NULL);
  if (!lmd_url_check_destination (url, limits->allow_private, "callback_url", error))
    return 0;
  state.limits = limits;
  headers = curl_slist_append (headers, "Content-Type: application/json");
  curl = curl_easy_init ();
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) limits->timeout_s);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, (long) MIN (limits->timeout_s, 15u));
  curl_easy_setopt (curl, CURLOPT_USERAGENT, "lightning-mediad/" "1");
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (json));
  if (g_ascii_strcasecmp (method, "POST") != 0)
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (curl, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
  curl_easy_setopt (curl, CURLOPT_OPENSOCKETDATA, &state);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, discard_cb);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);

  rc = curl_easy_perform (curl);
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (curl);
  curl_slist_free_all (headers);

  if (state.refused_address)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                 "callback_url" LMD_ERROR_PARAM_SEPARATOR
                 "refusing to post to internal address %s (loopback and private ranges are not "
                 "allowed)", state.refused);
  else if (rc != CURLE_OK)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                 "callback_url" LMD_ERROR_PARAM_SEPARATOR "could not post: %s",
                 curl_error[0] != '\0' ? curl_error : curl_easy_strerror (rc));
  else
    return (guint) status;
  return 0;
}

gboolean
lmd_url_check_destination (const char *url, gboolean allow_private, const char *param, GError **error)
{
  g_autoptr (GUri) uri = url != NULL ? g_uri_parse (url, G_URI_FLAGS_NONE, NULL) : NULL;
  const char *scheme = uri != NULL ? g_uri_get_scheme (uri) : NULL;
  const char *host = uri != NULL ? g_uri_get_host (uri) : NULL;

  if (uri == NULL || scheme == NULL ||
      (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0) ||
      host == NULL || host[0] == '\0')
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "%s" LMD_ERROR_PARAM_SEPARATOR "must be an absolute http:// or https:// URL", param);
      return FALSE;
    }
  if (!allow_private)
    {
      if (lmd_inet_address_host_is_internal (host))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                       "%s" LMD_ERROR_PARAM_SEPARATOR
                       "refusing internal address %s (loopback and private ranges are not allowed)",
                       param, host);
          return FALSE;
        }
    }
  return TRUE;
}
