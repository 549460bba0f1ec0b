/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-static.c — the web page's files with ETags (see the header).
 */
#include "lmd-http-static.h"

#include <string.h>

#include "lmd-http-response.h"
#include "lmd-http-web-resources.h"

#define RESOURCE_PREFIX "/org/lightning-mediad/web/"

/* Lets the page use only its own origin: scripts, styles, fetch and WebSocket to this server,
 * audio from the file the user chose (blob:). */
#define CONTENT_SECURITY_POLICY \
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " \
  "media-src 'self' blob:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; " \
  "frame-ancestors 'none'"

typedef struct {
  GBytes *body;          /* owned */
  char *etag;            /* owned: "\"<32 hex>\"" */
  const char *type;      /* the Content-Type */
} StaticFile;

struct _LmdHttpStatic {
  GHashTable *files;     /* owned: path ("/", "/app.js") → StaticFile (owned) */
  GPtrArray *paths;      /* owned: the keys, "/" first, NULL-terminated */
};

static void
static_file_free (StaticFile *file)
{
  g_bytes_unref (file->body);
  g_free (file->etag);
  g_free (file);
}

static const char *
content_type (const char *name)
{
  static const struct {
    const char *suffix;
    const char *type;
  } types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".json", "application/json" },
    { ".svg", "image/svg+xml" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_has_suffix (name, types[i].suffix))
      return types[i].type;
  return "application/octet-stream";
}

LmdHttpStatic *
lmd_http_static_new (void)
{
  LmdHttpStatic *self = g_new0 (LmdHttpStatic, 1);
  g_auto (GStrv) names = NULL;

  self->files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) static_file_free);
  self->paths = g_ptr_array_new ();
  g_resources_register (lmd_http_web_get_resource ());
  names = g_resources_enumerate_children (RESOURCE_PREFIX, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    {
      g_autofree char *resource = g_strconcat (RESOURCE_PREFIX, names[i], NULL);
      StaticFile *file = g_new0 (StaticFile, 1);
      g_autofree char *sum = NULL;
      char *path;

      file->body = g_resources_lookup_data (resource, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
      if (file->body == NULL)
        {
          g_free (file);
          continue;
        }
      sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, file->body);
      file->etag = g_strdup_printf ("\"%.32s\"", sum);
      file->type = content_type (names[i]);
      path = g_str_equal (names[i], "index.html") ? g_strdup ("/") : g_strconcat ("/", names[i], NULL);
      if (g_str_equal (path, "/"))
        g_ptr_array_insert (self->paths, 0, path);
      else
        g_ptr_array_add (self->paths, path);
      g_hash_table_insert (self->files, path, file);
    }
  g_ptr_array_add (self->paths, NULL);
  return self;
}

void
lmd_http_static_free (LmdHttpStatic *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->paths);
  g_hash_table_unref (self->files);
  g_free (self);
}

LmdHttpStatic *
lmd_http_static_get (void)
{
  static gsize once = 0;
  static LmdHttpStatic *files;

  if (g_once_init_enter (&once))
    {
      files = lmd_http_static_new ();
      g_once_init_leave (&once, 1);
    }
  return files;
}

gboolean
lmd_http_static_has (LmdHttpStatic *self, const char *path)
{
  return path != NULL && g_hash_table_contains (self->files, path);
}

const char *const *
lmd_http_static_list (LmdHttpStatic *self)
{
  return (const char *const *) self->paths->pdata;
}

/* Whether the If-None-Match header @value lists @etag (or is "*"). */
static gboolean
etag_matches (const char *value, const char *etag)
{
  g_auto (GStrv) tags = NULL;

  if (value == NULL)
    return FALSE;
  tags = g_strsplit (value, ",", -1);
  for (guint i = 0; tags[i] != NULL; i++)
    {
      const char *tag = g_strstrip (tags[i]);
      if (g_str_has_prefix (tag, "W/"))
        tag += 2; /* If-None-Match compares weakly (RFC 9110 §13.1.2) */
      if (g_str_equal (tag, "*") || g_str_equal (tag, etag))
        return TRUE;
    }
  return FALSE;
}

void
lmd_http_static_respond (LmdHttpStatic *self, SoupServerMessage *msg, const char *path)
{
  const char *method = soup_server_message_get_method (msg);
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  StaticFile *file = g_hash_table_lookup (self->files, path);

  g_return_if_fail (file != NULL);
  if (!g_str_equal (method, SOUP_METHOD_GET) && !g_str_equal (method, SOUP_METHOD_HEAD))
    {
      soup_message_headers_replace (headers, "Allow", "GET, HEAD");
      lmd_http_respond_json (msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                             g_strdup ("{\"error\":\"use GET for this path\",\"code\":\"METHOD_NOT_ALLOWED\"}"));
      return;
    }
  soup_message_headers_replace (headers, "ETag", file->etag);
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  if (g_str_has_prefix (file->type, "text/html"))
    soup_message_headers_replace (headers, "Content-Security-Policy", CONTENT_SECURITY_POLICY);
  if (etag_matches (soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "If-None-Match"),
                    file->etag))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_MODIFIED, NULL);
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (headers, file->type, NULL);
  soup_message_body_append_bytes (soup_server_message_get_response_body (msg), file->body);
}
