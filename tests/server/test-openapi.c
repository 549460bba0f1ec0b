/* SPDX-License-Identifier: MIT */
/*
 * test-openapi.c — GET /openapi.json against the running daemon: the document is OpenAPI 3.1,
 * every path and method it documents answers with one of the statuses it documents for
 * them (never an undocumented 404), and every route the server registers is documented.
 *
 * The server's routes are read from the HTTP plugin's sources (the route tables of
 * plugins/http/, entries { "/path", handler }) and its static files from the GResource
 * manifest (lmd-http-web.gresource.xml), so a route added without documenting it fails here.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-server.h"

static LmdTestServer *server;
static SoupSession *session;
static JsonParser *document_parser;
static JsonObject *document;

static JsonObject *
paths (void)
{
  return json_object_get_object_member (document, "paths");
}

static void
test_document (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/openapi.json");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  const char *type;

  g_assert_cmpuint (r->status, ==, 200);
  type = soup_message_headers_get_content_type (r->headers, NULL);
  g_assert_cmpstr (type, ==, "application/json");
  g_assert_nonnull (soup_message_headers_get_one (r->headers, "ETag"));
  document_parser = json_parser_new ();
  json_parser_load_from_data (document_parser, g_bytes_get_data (r->body, NULL), (gssize) g_bytes_get_size (r->body), &error);
  g_assert_no_error (error);
  document = json_node_get_object (json_parser_get_root (document_parser));
  g_assert_cmpstr (json_object_get_string_member (document, "openapi"), ==, "3.1.0");
  g_assert_nonnull (json_object_get_object_member (document, "info"));
  g_assert_cmpuint (json_object_get_size (paths ()), >=, 15);
}

/* @path with its templates filled: {job_id} an id that does not exist, {model} a loaded one */
static char *
concrete_path (const char *path)
{
  g_autoptr (GString) out = g_string_new (path);

  g_string_replace (out, "{job_id}", "job_0123456789abcdef0123456789abcdef", 0);
  g_string_replace (out, "{model}", "sphinx-en-us", 0);
  g_assert_null (strchr (out->str, '{'));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* A JSON object's member by "#/components/..." reference, or @o itself. */
static JsonObject *
deref (JsonObject *o)
{
  const char *ref = json_object_has_member (o, "$ref") ? json_object_get_string_member (o, "$ref") : NULL;
  g_auto (GStrv) parts = NULL;
  JsonObject *at = document;

  if (ref == NULL)
    return o;
  g_assert_true (g_str_has_prefix (ref, "#/"));
  parts = g_strsplit (ref + 2, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_assert_true (json_object_has_member (at, parts[i]));
      at = json_object_get_object_member (at, parts[i]);
    }
  return at;
}

static void
test_every_documented_path_answers (void)
{
  g_autoptr (GList) names = json_object_get_members (paths ());
  guint checked = 0;

  g_assert_nonnull (document);
  for (GList *l = names; l != NULL; l = l->next)
    {
      const char *path = l->data;
      JsonObject *item = json_object_get_object_member (paths (), path);
      g_autoptr (GList) methods = json_object_get_members (item);

      for (GList *m = methods; m != NULL; m = m->next)
        {
          const char *method = m->data;
          JsonObject *op, *responses;
          g_autofree char *concrete = NULL, *url = NULL, *upper = NULL, *status_text = NULL;
          g_autoptr (LmdTestResponse) r = NULL;
          g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);

          if (g_str_equal (method, "parameters") || g_str_equal (method, "summary") || g_str_equal (method, "description"))
            continue;
          op = json_object_get_object_member (item, method);
          responses = json_object_get_object_member (op, "responses");
          g_assert_nonnull (responses);
          {
            g_autoptr (GList) codes = json_object_get_members (responses);
            /* every response has a description (after $ref) */
            for (GList *k = codes; k != NULL; k = k->next)
              g_assert_true (json_object_has_member (deref (json_object_get_object_member (responses, k->data)), "description"));
          }
          concrete = concrete_path (path);
          url = lmd_test_server_url (server, concrete);
          upper = g_ascii_strup (method, -1);
          r = lmd_test_http (session, upper, url, g_str_equal (upper, "POST") ? "application/octet-stream" : NULL,
                             g_str_equal (upper, "POST") ? empty : NULL, NULL);
          g_assert_no_error (r->error);
          status_text = g_strdup_printf ("%u", r->status);
          g_printerr ("# %s %s → %u\n", upper, concrete, r->status);
          if (!json_object_has_member (responses, status_text))
            g_error ("%s %s answered %u, which the document does not list for it", upper, path, r->status);
          checked++;
        }
    }
  g_assert_cmpuint (checked, >=, 18);
}

/* Whether @route (a path the server registers a handler on: that path and all below it) is
 * documented: as a path, or as the prefix of templated paths. */
static gboolean
documented (const char *route)
{
  g_autoptr (GList) names = json_object_get_members (paths ());
  g_autofree char *below = g_strconcat (route, "/", NULL);

  for (GList *l = names; l != NULL; l = l->next)
    if (g_str_equal (l->data, route) || g_str_has_prefix (l->data, below))
      return TRUE;
  return FALSE;
}

static void
test_every_route_is_documented (void)
{
  g_autofree char *dir = g_build_filename (g_getenv ("LMD_SOURCE_DIR"), "plugins", "http", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GRegex) entry = g_regex_new ("\\{\\s*\"(/[^\"]*)\"\\s*,\\s*[a-z_]+\\s*\\}", 0, 0, NULL);
  g_autoptr (GRegex) websocket = g_regex_new ("^\\s*\"(/[^\"]*)\"\\s*,", G_REGEX_MULTILINE, 0, NULL);
  g_autoptr (GRegex) file = g_regex_new ("<file>([^<]+)</file>", 0, 0, NULL);
  g_autoptr (GPtrArray) routes = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (document);
  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *text = NULL;
      g_autoptr (GMatchInfo) match = NULL;

      if (!g_str_has_suffix (name, ".c") && !g_str_has_suffix (name, ".xml"))
        continue;
      g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
      if (g_str_has_suffix (name, ".xml"))
        {
          for (g_regex_match (file, text, 0, &match); g_match_info_matches (match); g_match_info_next (match, NULL))
            {
              g_autofree char *f = g_match_info_fetch (match, 1);
              g_ptr_array_add (routes, g_str_equal (f, "index.html") ? g_strdup ("/") : g_strconcat ("/", f, NULL));
            }
          continue;
        }
      for (g_regex_match (entry, text, 0, &match); g_match_info_matches (match); g_match_info_next (match, NULL))
        g_ptr_array_add (routes, g_match_info_fetch (match, 1));
      g_clear_pointer (&match, g_match_info_unref);
      /* the WebSocket paths' table: one quoted path per line */
      {
        const char *table = strstr (text, "websocket_paths[] = {");
        if (table != NULL)
          {
            g_autofree char *block = g_strndup (table, strchr (table, '}') - table);
            for (g_regex_match (websocket, block, 0, &match); g_match_info_matches (match); g_match_info_next (match, NULL))
              g_ptr_array_add (routes, g_match_info_fetch (match, 1));
            g_clear_pointer (&match, g_match_info_unref);
            {
              /* several paths on one line */
              g_autoptr (GRegex) quoted = g_regex_new ("\"(/[^\"]*)\"", 0, 0, NULL);
              for (g_regex_match (quoted, block, 0, &match); g_match_info_matches (match); g_match_info_next (match, NULL))
                g_ptr_array_add (routes, g_match_info_fetch (match, 1));
            }
          }
      }
    }
  g_assert_cmpuint (routes->len, >=, 12);
  for (guint i = 0; i < routes->len; i++)
    {
      g_printerr ("# route %s\n", (const char *) routes->pdata[i]);
      if (!documented (routes->pdata[i]))
        g_error ("the server has a route %s that /openapi.json does not document", (const char *) routes->pdata[i]);
    }
}

/* What the document does not list is not there: an unknown path is a 404 in the API's shape. */
static void
test_unknown_path (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/no-such-endpoint");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "GET", url, NULL, NULL, NULL);

  g_assert_cmpuint (r->status, ==, 404);
  g_assert_cmpstr (json_object_get_string_member (lmd_test_response_json (r), "code"), ==, "NOT_FOUND");
  g_assert_false (json_object_has_member (paths (), "/v1/no-such-endpoint"));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  server = lmd_test_server_start ("[plugins]\nload=http;gst-decoder;sphinx\n", NULL, &error);
  g_assert_no_error (error);
  session = soup_session_new_with_options ("timeout", 120, NULL);

  g_test_add_func ("/openapi/document", test_document);
  g_test_add_func ("/openapi/every-documented-path-answers", test_every_documented_path_answers);
  g_test_add_func ("/openapi/every-route-is-documented", test_every_route_is_documented);
  g_test_add_func ("/openapi/unknown-path", test_unknown_path);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  g_clear_object (&document_parser);
  return status;
}
