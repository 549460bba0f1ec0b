/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-upstream.c — blocking libcurl calls to the license server (protocol in header).
 *
 * Every call uses its own easy handle, so calls from several threads never share state.  The
 * license key is only ever put in the Authorization header, never in a URL or a log line.
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-upstream.h"

#include <curl/curl.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-json.h"

#define CONNECT_TIMEOUT_S 5
#define REQUEST_TIMEOUT_S 20
#define MAX_RESPONSE (256 * 1024)

struct _LmdLicenseUpstream {
  char *base_url;      /* owned, no trailing '/' */
  char *auth_header;   /* owned: "Authorization: Bearer <key>" */
  gboolean allow_insecure;
};

static void
upstream_clear (LmdLicenseUpstream *self)
{
  g_free (self->base_url);
  if (self->auth_header != NULL)
    {
      memset (self->auth_header, 0, strlen (self->auth_header));
      g_free (self->auth_header);
    }
}

void
lmd_license_validation_clear (LmdLicenseValidation *v)
{
  g_clear_pointer (&v->message, g_free);
}

LmdLicenseUpstream *
lmd_license_upstream_new (const char *base_url, gboolean allow_insecure, const char *license_key,
                          GError **error)
{
  static gsize curl_ready = 0;
  LmdLicenseUpstream *self;
  g_autoptr (GUri) uri = NULL;
  const char *scheme;

  uri = g_uri_parse (base_url, G_URI_FLAGS_NONE, error);
  if (uri == NULL)
    return NULL;
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "https") != 0
      && !(allow_insecure && g_ascii_strcasecmp (scheme, "http") == 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the license server URL must be https (http only with allow_insecure_upstream)");
      return NULL;
    }
  if (g_uri_get_host (uri) == NULL || g_uri_get_userinfo (uri) != NULL
      || g_uri_get_query (uri) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the license server URL needs a host and no user or query part");
      return NULL;
    }
  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  self = g_atomic_rc_box_new0 (LmdLicenseUpstream);
  self->base_url = g_strdup (base_url);
  while (g_str_has_suffix (self->base_url, "/"))
    self->base_url[strlen (self->base_url) - 1] = '\0';
  self->auth_header = license_key != NULL
    ? g_strconcat ("Authorization: Bearer ", license_key, NULL) : NULL;
  self->allow_insecure = allow_insecure;
  return self;
}

LmdLicenseUpstream *
lmd_license_upstream_ref (LmdLicenseUpstream *self)
{
  return g_atomic_rc_box_acquire (self);
}

void
lmd_license_upstream_unref (LmdLicenseUpstream *self)
{
  g_atomic_rc_box_release_full (self, (GDestroyNotify) upstream_clear);
}

const char *
lmd_license_upstream_get_url (LmdLicenseUpstream *self)
{
  return self->base_url;
}

static size_t
collect_body (char *data, size_t size, size_t nmemb, void *user_data)
{
  GByteArray *body = user_data;
  size_t len = size * nmemb;

  if (body->len + len > MAX_RESPONSE)
    return 0; /* aborts the transfer */
  g_byte_array_append (body, (const guint8 *) data, (guint) len);
  return len;
}

/* POSTs @json to @path; returns the HTTP status (0 and @error on a transport failure). */
static long
post_json (LmdLicenseUpstream *self, const char *path, const char *json, GByteArray *response,
           GError **error)
{
  g_autofree char *url = g_strconcat (self->base_url, path, NULL);
  const char *protocols = self->allow_insecure ? "http,https" : "https";
  struct curl_slist *headers = NULL;
  char curl_error[CURL_ERROR_SIZE] = "";
  CURL *curl = curl_easy_init ();
  CURLcode rc;
  long status = 0;

  if (curl == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "libcurl could not start a request");
      return 0;
    }
  headers = curl_slist_append (headers, "Content-Type: application/json");
  headers = curl_slist_append (headers, "Accept: application/json");
  if (self->auth_header != NULL)
    headers = curl_slist_append (headers, self->auth_header);
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_PROTOCOLS_STR, protocols);
  curl_easy_setopt (curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, (long) CONNECT_TIMEOUT_S);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long) REQUEST_TIMEOUT_S);
  curl_easy_setopt (curl, CURLOPT_USERAGENT, "lightning-mediad-license/1");
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDS, json);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (json));
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, response);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
  rc = curl_easy_perform (curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE, "%s%s: %s", self->base_url,
                 path, curl_error[0] != '\0' ? curl_error : curl_easy_strerror (rc));
  curl_slist_free_all (headers);
  curl_easy_cleanup (curl);
  return status;
}

static gboolean
read_limits (JsonObject *obj, LmdLicenseLimits *limits)
{
  JsonNode *n;

  memset (limits, 0, sizeof *limits);
  if ((n = json_object_get_member (obj, "rpm")) != NULL)
    {
      if (json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) < 0)
        return FALSE;
      limits->rpm = json_node_get_int (n);
    }
  if ((n = json_object_get_member (obj, "concurrency")) != NULL)
    {
      if (json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) < 0)
        return FALSE;
      limits->concurrency = json_node_get_int (n);
    }
  if ((n = json_object_get_member (obj, "audio_hours_per_day")) != NULL)
    {
      GType t = json_node_get_value_type (n);
      if ((t != G_TYPE_INT64 && t != G_TYPE_DOUBLE) || json_node_get_double (n) < 0)
        return FALSE;
      limits->audio_hours_per_day = json_node_get_double (n);
    }
  return TRUE;
}

static gboolean
parse_validation (const GByteArray *body, LmdLicenseValidation *out)
{
  g_autoptr (JsonNode) root = NULL;
  JsonObject *obj;
  JsonNode *n;

  if (body->len == 0
      || (root = lmd_json_parse ((const char *) body->data, body->len, LMD_JSON_MAX_RECORD_BYTES,
                                 NULL)) == NULL
      || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  obj = json_node_get_object (root);
  n = json_object_get_member (obj, "valid");
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return FALSE;
  out->valid = json_node_get_boolean (n);
  n = json_object_get_member (obj, "revoked");
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN)
    out->revoked = json_node_get_boolean (n);
  n = json_object_get_member (obj, "expires_at");
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
    out->expires_at = json_node_get_int (n);
  n = json_object_get_member (obj, "limits");
  if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
    out->has_limits = read_limits (json_node_get_object (n), &out->limits);
  n = json_object_get_member (obj, "message");
  if (n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    {
      /* it ends up in a log line: valid UTF-8, one line, bounded */
      g_autofree char *valid = g_utf8_make_valid (json_node_get_string (n), -1);
      out->message = g_utf8_substring (valid, 0, MIN (g_utf8_strlen (valid, -1), 200));
      for (char *p = out->message; *p != '\0'; p++)
        if ((guchar) *p < 0x20 || *p == 0x7f)
          *p = ' ';
    }
  return TRUE;
}

gboolean
lmd_license_upstream_validate (LmdLicenseUpstream *self, const char *key_id,
                               LmdLicenseValidation *out, GError **error)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;
  long status;

  memset (out, 0, sizeof *out);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "key_id");
  json_builder_add_string_value (b, key_id);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json = json_generator_to_data (gen, NULL);

  status = post_json (self, "/v1/license/validate", json, body, error);
  if (status == 0)
    return FALSE;
  if ((status >= 200 && status < 300) || (status >= 400 && status < 500))
    {
      if (parse_validation (body, out))
        return TRUE;
      lmd_license_validation_clear (out);
      memset (out, 0, sizeof *out);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
               "%s/v1/license/validate: HTTP %ld without a validation answer", self->base_url,
               status);
  return FALSE;
}

gboolean
lmd_license_upstream_post_usage (LmdLicenseUpstream *self, const char *body, GError **error)
{
  g_autoptr (GByteArray) response = g_byte_array_new ();
  long status = post_json (self, "/v1/usage", body, response, error);

  if (status == 0)
    return FALSE;
  if (status < 200 || status >= 300)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s/v1/usage: HTTP %ld",
                   self->base_url, status);
      return FALSE;
    }
  return TRUE;
}

guint
lmd_license_backoff_delay (guint failures, guint base, guint cap)
{
  guint64 delay = MAX (base, 1u);

  for (guint i = 1; i < failures && delay < cap; i++)
    delay *= 2;
  return (guint) MIN (delay, (guint64) MAX (cap, 1u));
}
