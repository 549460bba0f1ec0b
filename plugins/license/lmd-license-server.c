/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-server.c — the "license-server" plugin (what it serves is in the header).
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-server.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sodium.h>
#include <string.h>

#include "lmd-build-config.h"
#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-http-listener.h"
#include "lmd-json.h"
#include "lmd-json-writer.h"
#include "lmd-license.h"
#include "lmd-log.h"
#include "lmd-plugin.h"
#include "lmd-router.h"
#include "lmd-transport.h"

#define MAX_BODY_BYTES (64 * 1024)
#define MAX_SEEN_COMPLETIONS 65536
#define SWEEP_INTERVAL_S 30

typedef struct {
  LmdLicenseTicket *ticket; /* owned until completed */
  char *request_id;         /* owned, nullable */
  gint64 expires_at;        /* monotonic µs */
} OpenTicket;

struct _LmdLicenseServer {
  GObject parent_instance;

  char *host;                /* owned */
  guint port;
  guint bound_port;
  gboolean has_token;
  guint8 token_hash[crypto_hash_sha256_BYTES];
  guint ticket_ttl_s;
  LmdHttpConnectionLimits connection_limits;
  SoupServer *server;        /* owned */
  LmdLicense *license;       /* borrowed from the router */
  GHashTable *tickets;       /* ticket id → OpenTicket */
  GHashTable *seen;          /* completion ids already recorded */
  GQueue seen_order;         /* the same ids, oldest first (owned by seen) */
  guint sweep_id;
  gint64 started_at;

  /* counters for /metrics */
  GHashTable *admissions;    /* code name (static) → guint64 * */
  guint64 completions;
  guint64 completions_without_ticket;
  guint64 completions_duplicate;
  guint64 tickets_expired;
};

static void lmd_license_server_iface_init (LmdTransportInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdLicenseServer, lmd_license_server, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_TRANSPORT,
                                                      lmd_license_server_iface_init))

static void
open_ticket_free (OpenTicket *t)
{
  g_free (t->request_id);
  g_free (t);
}

static void
count_admission (LmdLicenseServer *self, const char *code)
{
  guint64 *n = g_hash_table_lookup (self->admissions, code);

  if (n == NULL)
    {
      n = g_new0 (guint64, 1);
      g_hash_table_insert (self->admissions, (gpointer) code, n);
    }
  (*n)++;
}

static char *
format_time (gint64 unix_s)
{
  g_autoptr (GDateTime) t = unix_s > 0 ? g_date_time_new_from_unix_utc (unix_s) : NULL;

  return t != NULL ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : NULL;
}

/* ---- responses -------------------------------------------------------------------------- */

static void
respond (SoupServerMessage *msg, guint status, char *json)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, json, strlen (json));
}

static void
respond_error (SoupServerMessage *msg, const char *request_id, guint status, const char *code,
               const char *message, guint retry_after_s, gint64 expires_at)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, message);
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, code);
  if (retry_after_s > 0)
    {
      g_autofree char *text = g_strdup_printf ("%u", retry_after_s);
      lmd_json_writer_key (w, "retry_after");
      lmd_json_writer_int (w, retry_after_s);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After",
                                    text);
    }
  if (expires_at > 0)
    {
      g_autofree char *when = format_time (expires_at);
      lmd_json_writer_key (w, "expires_at");
      lmd_json_writer_string (w, when);
    }
  lmd_json_writer_end_object (w);
  LMD_LOG_REQUEST (status >= 500 ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_INFO, request_id,
                   "%s %s → %u %s: %s", soup_server_message_get_method (msg),
                   g_uri_get_path (soup_server_message_get_uri (msg)), status, code, message);
  respond (msg, status, lmd_json_writer_finish (w));
}

/* ---- health and metrics ----------------------------------------------------------------- */

static void
health_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                gpointer user_data)
{
  LmdLicenseServer *self = user_data;
  LmdLicenseStatus status;
  LmdJsonWriter *w;
  g_autofree char *until = NULL;
  g_autofree char *grace_end = NULL;
  gboolean healthy;

  if (!g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_GET))
    {
      respond_error (msg, NULL, SOUP_STATUS_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                     "use GET for this path", 0, 0);
      return;
    }
  lmd_license_get_status (self->license, &status);
  healthy = status.license_valid || status.development_mode;
  until = format_time (status.valid_until);
  grace_end = format_time (status.grace_ends_at);
  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "status");
  lmd_json_writer_string (w, healthy ? "healthy" : "unhealthy");
  lmd_json_writer_key (w, "license_valid");
  lmd_json_writer_boolean (w, status.license_valid);
  lmd_json_writer_key (w, "valid_until");
  lmd_json_writer_string (w, until);
  lmd_json_writer_key (w, "grace_period_active");
  lmd_json_writer_boolean (w, status.grace_period_active);
  if (status.grace_period_active)
    {
      lmd_json_writer_key (w, "grace_ends_at");
      lmd_json_writer_string (w, grace_end);
    }
  if (status.development_mode)
    {
      lmd_json_writer_key (w, "development_mode");
      lmd_json_writer_boolean (w, TRUE);
    }
  if (status.licensee != NULL)
    {
      lmd_json_writer_key (w, "licensee");
      lmd_json_writer_string (w, status.licensee);
    }
  lmd_json_writer_key (w, "limits");
  lmd_json_writer_string (w, status.limits_store == NULL ? "local"
                             : status.limits_shared      ? status.limits_store
                                                         : "local_fallback");
  lmd_json_writer_key (w, "version");
  lmd_json_writer_string (w, LMD_VERSION);
  lmd_json_writer_end_object (w);
  respond (msg, healthy ? SOUP_STATUS_OK : SOUP_STATUS_SERVICE_UNAVAILABLE,
           lmd_json_writer_finish (w));
}

static void
metrics_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  LmdLicenseServer *self = user_data;
  LmdLicenseStatus status;
  GString *out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  gint64 grace_left = 0;
  gsize len;

  lmd_license_get_status (self->license, &status);
  if (status.grace_period_active && status.grace_ends_at > 0)
    grace_left = MAX (0, status.grace_ends_at - g_get_real_time () / G_USEC_PER_SEC);
  g_string_append_printf (out,
                          "# HELP license_valid Whether requests are admitted now (1) or not (0).\n"
                          "# TYPE license_valid gauge\nlicense_valid %d\n"
                          "# HELP license_grace_period_active The license server is unreachable and the grace period runs.\n"
                          "# TYPE license_grace_period_active gauge\nlicense_grace_period_active %d\n"
                          "# HELP license_grace_seconds_left Seconds of the grace period left (0 outside it).\n"
                          "# TYPE license_grace_seconds_left gauge\nlicense_grace_seconds_left %" G_GINT64_FORMAT "\n"
                          "# HELP license_usage_pending_bytes Usage journal not yet delivered to the license server.\n"
                          "# TYPE license_usage_pending_bytes gauge\nlicense_usage_pending_bytes %" G_GUINT64_FORMAT "\n"
                          "# HELP license_tickets_open Admitted requests not completed yet.\n"
                          "# TYPE license_tickets_open gauge\nlicense_tickets_open %u\n"
                          "# HELP license_admissions_total Admission answers, by code (OK = admitted).\n"
                          "# TYPE license_admissions_total counter\n",
                          status.license_valid ? 1 : 0, status.grace_period_active ? 1 : 0,
                          grace_left, status.usage_pending_bytes,
                          g_hash_table_size (self->tickets));
  g_hash_table_iter_init (&iter, self->admissions);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_string_append_printf (out, "license_admissions_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            (const char *) key, *(guint64 *) value);
  g_string_append_printf (out,
                          "# HELP license_completions_total Completions recorded (usage of answered requests).\n"
                          "# TYPE license_completions_total counter\nlicense_completions_total %" G_GUINT64_FORMAT "\n"
                          "# HELP license_completions_without_ticket_total Usage of requests admitted by an api process on its own.\n"
                          "# TYPE license_completions_without_ticket_total counter\nlicense_completions_without_ticket_total %" G_GUINT64_FORMAT "\n"
                          "# HELP license_completions_duplicate_total Completions delivered again and ignored.\n"
                          "# TYPE license_completions_duplicate_total counter\nlicense_completions_duplicate_total %" G_GUINT64_FORMAT "\n"
                          "# HELP license_tickets_expired_total Tickets never completed, released after ticket_ttl_s.\n"
                          "# TYPE license_tickets_expired_total counter\nlicense_tickets_expired_total %" G_GUINT64_FORMAT "\n",
                          self->completions, self->completions_without_ticket,
                          self->completions_duplicate, self->tickets_expired);
  if (status.limits_store != NULL)
    g_string_append_printf (out,
                            "# HELP license_limits_shared Per-key limits counted in the shared store (1) or, while it is unreachable, in this process (0).\n"
                            "# TYPE license_limits_shared gauge\nlicense_limits_shared %d\n"
                            "# HELP license_limits_local_admissions_total Admissions decided by this process alone because the shared limit store was unreachable.\n"
                            "# TYPE license_limits_local_admissions_total counter\nlicense_limits_local_admissions_total %" G_GUINT64_FORMAT "\n",
                            status.limits_shared ? 1 : 0, status.limits_local_admissions);
  if (lmd_http_listener_get_connections (self->server) != NULL)
    lmd_http_connection_tracker_render_metrics (lmd_http_listener_get_connections (self->server), out);
  len = out->len;
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}

/* ---- the internal API ------------------------------------------------------------------- */

static gboolean
check_token (LmdLicenseServer *self, SoupServerMessage *msg)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  guint8 hash[crypto_hash_sha256_BYTES];
  gboolean ok;

  if (!self->has_token)
    return TRUE;
  if (header == NULL || g_ascii_strncasecmp (header, "Bearer ", 7) != 0)
    return FALSE;
  crypto_hash_sha256 (hash, (const guint8 *) header + 7, strlen (header + 7));
  ok = sodium_memcmp (hash, self->token_hash, sizeof hash) == 0;
  sodium_memzero (hash, sizeof hash);
  return ok;
}

/* The request's JSON object, or NULL after answering 400/401/405/413. */
static JsonObject *
read_request (LmdLicenseServer *self, SoupServerMessage *msg, JsonNode **root,
              const char *request_id)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_POST))
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "POST");
      respond_error (msg, request_id, SOUP_STATUS_METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED",
                     "use POST for this path", 0, 0);
      return NULL;
    }
  if (!check_token (self, msg))
    {
      respond_error (msg, request_id, SOUP_STATUS_UNAUTHORIZED, "INVALID_SERVICE_TOKEN",
                     "this internal API needs \"Authorization: Bearer <service token>\"", 0, 0);
      return NULL;
    }
  if (body->length > MAX_BODY_BYTES)
    {
      respond_error (msg, request_id, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "FILE_TOO_LARGE",
                     "the body is larger than 64 KiB", 0, 0);
      return NULL;
    }
  bytes = soup_message_body_flatten (body);
  *root = lmd_json_parse (g_bytes_get_data (bytes, NULL), (gssize) g_bytes_get_size (bytes),
                          MAX_BODY_BYTES, &error);
  if (*root == NULL || !JSON_NODE_HOLDS_OBJECT (*root))
    {
      respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                     "the body must be a JSON object", 0, 0);
      return NULL;
    }
  return json_node_get_object (*root);
}

/* A string member, "" when absent or null; FALSE after answering 400 when it is something else. */
static gboolean
get_string (SoupServerMessage *msg, JsonObject *obj, const char *name, const char **out,
            const char *request_id)
{
  JsonNode *n = json_object_get_member (obj, name);

  *out = "";
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    {
      *out = json_node_get_string (n);
      return TRUE;
    }
  {
    g_autofree char *text = g_strdup_printf ("%s: must be a string", name);
    respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER", text, 0, 0);
  }
  return FALSE;
}

static gboolean
request_id_is_acceptable (const char *id)
{
  gsize len = strlen (id);

  if (len == 0 || len > 128)
    return FALSE;
  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-_.:", *p) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
feature_is_acceptable (const char *feature)
{
  gsize len = strlen (feature);

  if (len == 0 || len > 32)
    return FALSE;
  for (const char *p = feature; *p != '\0'; p++)
    if (!g_ascii_islower (*p) && !g_ascii_isdigit (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

/* An admission waiting for the license's answer; the message is paused meanwhile. */
typedef struct {
  LmdLicenseServer *self; /* owned ref */
  SoupServerMessage *msg; /* owned ref */
  char *request_id;       /* owned, nullable */
} Admission;

static void
admit_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Admission *a = user_data;
  LmdLicenseServer *self = a->self;
  SoupServerMessage *msg = a->msg;
  const char *request_id = a->request_id;
  g_autoptr (GError) error = NULL;
  guint retry = 0;
  LmdLicenseTicket *ticket = lmd_license_admit_finish (LMD_LICENSE (source), result, &retry, &error);

  if (ticket == NULL)
    {
      LmdErrorCode code = lmd_error_classify (error);
      gint64 expires_at = 0;
      if (code == LMD_ERROR_LICENSE_EXPIRED || code == LMD_ERROR_QUOTA_EXCEEDED)
        {
          LmdLicenseStatus status;
          lmd_license_get_status (self->license, &status);
          expires_at = status.valid_until;
        }
      count_admission (self, lmd_error_code_name (code));
      respond_error (msg, request_id, lmd_error_http_status (code), lmd_error_code_name (code),
                     error->message, retry, expires_at);
    }
  else
    {
      g_autofree char *id = g_uuid_string_random ();
      OpenTicket *open = g_new0 (OpenTicket, 1);
      LmdJsonWriter *w = lmd_json_writer_new ();

      open->ticket = ticket;
      open->request_id = g_strdup (request_id);
      open->expires_at = g_get_monotonic_time () + (gint64) self->ticket_ttl_s * G_USEC_PER_SEC;
      g_hash_table_insert (self->tickets, g_strdup (id), open);
      count_admission (self, "OK");
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "ticket");
      lmd_json_writer_string (w, id);
      /* what else the request may use, so the api process can check it once parsed */
      lmd_json_writer_key (w, "features");
      lmd_json_writer_begin_array (w);
      {
        const char *known[] = LMD_LICENSE_KNOWN_FEATURES;
        for (guint i = 0; known[i] != NULL; i++)
          if (lmd_license_allows (self->license, ticket, known[i]))
            lmd_json_writer_string (w, known[i]);
      }
      lmd_json_writer_end_array (w);
      lmd_json_writer_end_object (w);
      LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, request_id, "admitted");
      respond (msg, SOUP_STATUS_OK, lmd_json_writer_finish (w));
    }
  soup_server_message_unpause (msg);
  g_object_unref (a->msg);
  g_object_unref (a->self);
  g_free (a->request_id);
  g_free (a);
}

static void
admit_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
               gpointer user_data)
{
  LmdLicenseServer *self = user_data;
  g_autoptr (JsonNode) root = NULL;
  const char *header_id = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                        "X-Request-ID");
  const char *api_key, *feature, *request_id;
  JsonObject *obj;

  if (header_id != NULL && !request_id_is_acceptable (header_id))
    header_id = NULL;
  if ((obj = read_request (self, msg, &root, header_id)) == NULL
      || !get_string (msg, obj, "request_id", &request_id, header_id)
      || !get_string (msg, obj, "api_key", &api_key, request_id[0] ? request_id : header_id)
      || !get_string (msg, obj, "feature", &feature, request_id[0] ? request_id : header_id))
    return;
  if (request_id[0] != '\0' && !request_id_is_acceptable (request_id))
    {
      respond_error (msg, header_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                     "request_id: must be 1..128 characters of [A-Za-z0-9-_.:]", 0, 0);
      return;
    }
  if (request_id[0] == '\0')
    request_id = header_id;
  if (feature[0] == '\0')
    feature = "batch";
  if (!feature_is_acceptable (feature))
    {
      respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                     "feature: must be a feature name like \"batch\" or \"streaming\"", 0, 0);
      return;
    }
  {
    Admission *a = g_new0 (Admission, 1);
    a->self = g_object_ref (self);
    a->msg = g_object_ref (msg);
    a->request_id = g_strdup (request_id);
    /* the answer may wait for a limit store shared with other replicas (Redis) */
    soup_server_message_pause (msg);
    lmd_license_admit_async (self->license, api_key[0] != '\0' ? api_key : NULL, feature,
                             request_id, NULL, admit_done, a);
  }
}

static gboolean
parse_hash (const char *hex, guint8 out[LMD_LICENSE_KEY_HASH_BYTES])
{
  size_t len = 0;

  return strlen (hex) == LMD_LICENSE_KEY_HASH_BYTES * 2
         && sodium_hex2bin (out, LMD_LICENSE_KEY_HASH_BYTES, hex, strlen (hex), NULL, &len, NULL) == 0
         && len == LMD_LICENSE_KEY_HASH_BYTES;
}

static void
remember_completion (LmdLicenseServer *self, const char *id)
{
  char *copy;

  if (id[0] == '\0')
    return;
  copy = g_strdup (id);
  g_hash_table_add (self->seen, copy);
  g_queue_push_tail (&self->seen_order, copy);
  while (g_queue_get_length (&self->seen_order) > MAX_SEEN_COMPLETIONS)
    g_hash_table_remove (self->seen, g_queue_pop_head (&self->seen_order));
}

static void
complete_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  LmdLicenseServer *self = user_data;
  g_autoptr (JsonNode) root = NULL;
  const char *header_id = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                        "X-Request-ID");
  const char *id, *ticket_id, *key_hex, *feature, *request_id;
  JsonObject *obj;
  JsonNode *n;
  double audio_seconds = 0;
  gint64 status = 200;
  OpenTicket *open;

  if (header_id != NULL && !request_id_is_acceptable (header_id))
    header_id = NULL;
  if ((obj = read_request (self, msg, &root, header_id)) == NULL
      || !get_string (msg, obj, "id", &id, header_id)
      || !get_string (msg, obj, "ticket", &ticket_id, header_id)
      || !get_string (msg, obj, "key_sha256", &key_hex, header_id)
      || !get_string (msg, obj, "feature", &feature, header_id)
      || !get_string (msg, obj, "request_id", &request_id, header_id))
    return;
  if (request_id[0] == '\0' || !request_id_is_acceptable (request_id))
    request_id = header_id;
  n = json_object_get_member (obj, "audio_seconds");
  if (n != NULL && !JSON_NODE_HOLDS_NULL (n))
    {
      GType t = JSON_NODE_HOLDS_VALUE (n) ? json_node_get_value_type (n) : G_TYPE_INVALID;
      if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
        {
          respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                         "audio_seconds: must be a number", 0, 0);
          return;
        }
      audio_seconds = json_node_get_double (n);
      if (!(audio_seconds >= 0) || audio_seconds > 1e9)
        {
          respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                         "audio_seconds: must be between 0 and 1e9", 0, 0);
          return;
        }
    }
  n = json_object_get_member (obj, "status");
  if (n != NULL && !JSON_NODE_HOLDS_NULL (n))
    {
      if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
          || (status = json_node_get_int (n)) < 0 || status > 999)
        {
          respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                         "status: must be an HTTP status number", 0, 0);
          return;
        }
    }
  if (strlen (id) > 64)
    {
      respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                     "id: at most 64 characters", 0, 0);
      return;
    }
  if (id[0] != '\0' && g_hash_table_contains (self->seen, id))
    {
      self->completions_duplicate++;
      respond (msg, SOUP_STATUS_OK, g_strdup ("{\"recorded\":true,\"duplicate\":true}"));
      return;
    }
  open = ticket_id[0] != '\0' ? g_hash_table_lookup (self->tickets, ticket_id) : NULL;
  if (open != NULL)
    {
      lmd_license_complete (self->license, g_steal_pointer (&open->ticket), audio_seconds,
                            (guint) status);
      g_hash_table_remove (self->tickets, ticket_id);
      self->completions++;
    }
  else
    {
      guint8 hash[LMD_LICENSE_KEY_HASH_BYTES];
      g_autoptr (GError) error = NULL;

      if (key_hex[0] == '\0')
        {
          respond_error (msg, request_id, SOUP_STATUS_NOT_FOUND, "NOT_FOUND",
                         ticket_id[0] != '\0' ? "no such ticket (and no key_sha256 to record by)"
                                              : "ticket or key_sha256: one is required",
                         0, 0);
          return;
        }
      if (!parse_hash (key_hex, hash))
        {
          respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                         "key_sha256: must be 64 hex digits", 0, 0);
          return;
        }
      if (feature[0] == '\0')
        feature = "batch";
      if (!feature_is_acceptable (feature))
        {
          respond_error (msg, request_id, SOUP_STATUS_BAD_REQUEST, "INVALID_PARAMETER",
                         "feature: must be a feature name like \"batch\" or \"streaming\"", 0, 0);
          return;
        }
      if (!lmd_license_record_usage (self->license, hash, feature, request_id, audio_seconds,
                                     (guint) status, &error))
        {
          LmdErrorCode code = lmd_error_classify (error);
          respond_error (msg, request_id, lmd_error_http_status (code), lmd_error_code_name (code),
                         error->message, 0, 0);
          return;
        }
      self->completions_without_ticket++;
    }
  remember_completion (self, id);
  respond (msg, SOUP_STATUS_OK, g_strdup ("{\"recorded\":true}"));
}

static void
default_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                 gpointer user_data)
{
  g_autofree char *text = g_strdup_printf ("no such path: %s", path);

  respond_error (msg, NULL, SOUP_STATUS_NOT_FOUND, "NOT_FOUND", text, 0, 0);
}

/* Tickets of api processes that never completed them (the process died). */
static gboolean
sweep_cb (gpointer data)
{
  LmdLicenseServer *self = data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  OpenTicket *open;

  g_hash_table_iter_init (&iter, self->tickets);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &open))
    if (now >= open->expires_at)
      {
        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, open->request_id,
                         "ticket not completed within %u s; releasing it",
                         self->ticket_ttl_s);
        lmd_license_complete (self->license, g_steal_pointer (&open->ticket), 0, 0);
        g_hash_table_iter_remove (&iter);
        self->tickets_expired++;
      }
  return G_SOURCE_CONTINUE;
}

/* ---- LmdTransport ----------------------------------------------------------------------- */

static gboolean
server_setup (LmdTransport *transport, GKeyFile *config, GError **error)
{
  LmdLicenseServer *self = LMD_LICENSE_SERVER (transport);
  g_autofree char *token = lmd_config_get_string (config, "license", "service_token", NULL);
  gint64 port, ttl;

  if (!lmd_config_get_int (config, "server", "port", 6699, &port, error)
      || !lmd_config_get_int (config, "license", "ticket_ttl_s", 3600, &ttl, error)
      || !lmd_http_connection_limits_load (&self->connection_limits, config, "server", error))
    return FALSE;
  if (port < 0 || port > 65535)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [server] port: %" G_GINT64_FORMAT " is not a port number", port);
      return FALSE;
    }
  if (ttl < 10 || ttl > 7 * 86400)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [license] ticket_ttl_s: must be 10..604800");
      return FALSE;
    }
  self->port = (guint) port;
  self->ticket_ttl_s = (guint) ttl;
  g_free (self->host);
  self->host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
  if (token != NULL)
    g_strstrip (token);
  self->has_token = token != NULL && token[0] != '\0';
  if (self->has_token)
    {
      crypto_hash_sha256 (self->token_hash, (const guint8 *) token, strlen (token));
      sodium_memzero (token, strlen (token));
    }
  else if (!lmd_config_host_is_loopback (self->host))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "license-server: bound to '%s', not loopback, without a service token "
                   "([license] service_token or LICENSE_SERVICE_TOKEN)", self->host);
      return FALSE;
    }
  return TRUE;
}

static gboolean
server_start (LmdTransport *transport, LmdRouter *router, GError **error)
{
  LmdLicenseServer *self = LMD_LICENSE_SERVER (transport);
  g_autoptr (GInetAddress) address = NULL;

  self->license = lmd_router_get_license (router);
  if (self->license == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "license-server: no license plugin loaded (add \"license\" to the plugins)");
      return FALSE;
    }
  address = lmd_http_listener_parse_host (self->host, error);
  if (address == NULL)
    return FALSE;
  self->server = lmd_http_listener_new_server ();
  soup_server_add_handler (self->server, NULL, default_handler, self, NULL);
  soup_server_add_handler (self->server, "/health", health_handler, self, NULL);
  soup_server_add_handler (self->server, "/healthz", health_handler, self, NULL);
  soup_server_add_handler (self->server, "/metrics", metrics_handler, self, NULL);
  soup_server_add_handler (self->server, "/v1/license/admit", admit_handler, self, NULL);
  soup_server_add_handler (self->server, "/v1/license/complete", complete_handler, self, NULL);
  if (!lmd_http_listener_listen (&self->server, address, self->host, self->port,
                                 &self->connection_limits, &self->bound_port,
                                 error))
    return FALSE;
  self->sweep_id = g_timeout_add_seconds (SWEEP_INTERVAL_S, sweep_cb, self);
  self->started_at = g_get_monotonic_time ();
  g_info ("internal API %s", self->has_token ? "needs the service token"
                                                              : "open to loopback clients");
  return TRUE;
}

static void
server_stop (LmdTransport *transport)
{
  LmdLicenseServer *self = LMD_LICENSE_SERVER (transport);

  lmd_http_listener_close (self->server);
}

static guint
server_get_port (LmdTransport *transport)
{
  return LMD_LICENSE_SERVER (transport)->bound_port;
}

static guint
server_get_in_flight (LmdTransport *transport)
{
  return 0; /* every answer is given at once */
}

static void
lmd_license_server_iface_init (LmdTransportInterface *iface)
{
  iface->setup = server_setup;
  iface->start = server_start;
  iface->stop = server_stop;
  iface->get_port = server_get_port;
  iface->get_in_flight = server_get_in_flight;
}

/* ---- GObject ---------------------------------------------------------------------------- */

static void
lmd_license_server_finalize (GObject *object)
{
  LmdLicenseServer *self = LMD_LICENSE_SERVER (object);
  GHashTableIter iter;
  OpenTicket *open;

  if (self->sweep_id != 0)
    g_source_remove (self->sweep_id);
  lmd_http_listener_clear (&self->server);
  /* tickets still open at exit are released, so that their slots and usage are accounted */
  g_hash_table_iter_init (&iter, self->tickets);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &open))
    if (open->ticket != NULL && self->license != NULL)
      lmd_license_complete (self->license, g_steal_pointer (&open->ticket), 0, 0);
  g_hash_table_unref (self->tickets);
  g_queue_clear (&self->seen_order);
  g_hash_table_unref (self->seen);
  g_hash_table_unref (self->admissions);
  sodium_memzero (self->token_hash, sizeof self->token_hash);
  g_free (self->host);
  G_OBJECT_CLASS (lmd_license_server_parent_class)->finalize (object);
}

static void
lmd_license_server_class_init (LmdLicenseServerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_license_server_finalize;
}

static void
lmd_license_server_init (LmdLicenseServer *self)
{
  if (sodium_init () < 0)
    g_warning ("libsodium failed to initialise");
  self->host = g_strdup ("127.0.0.1");
  self->port = 6699;
  self->ticket_ttl_s = 3600;
  self->tickets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) open_ticket_free);
  self->seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&self->seen_order);
  self->admissions = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
}

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "license-server",
    "License role transport: serves the license plugin to api processes over HTTP",
    lmd_license_server_get_type,
  };
  return &info;
}
