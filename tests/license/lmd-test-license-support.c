/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-license-support.c — fake clock, key helpers and the test license server (header).
 */
#include "lmd-test-license-support.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-license-clock.h"
#include "lmd-license-keyring.h"

/* ---- clock ---------------------------------------------------------------------------------- */

static GMutex fake_lock;   /* upload threads ask the clock too */
static gint64 fake_now_us;

static gint64
fake_clock (gpointer user_data)
{
  gint64 now;

  g_mutex_lock (&fake_lock);
  now = fake_now_us;
  g_mutex_unlock (&fake_lock);
  return now;
}

void
lmd_test_clock_install (gint64 start_s)
{
  g_mutex_lock (&fake_lock);
  fake_now_us = start_s * G_USEC_PER_SEC;
  g_mutex_unlock (&fake_lock);
  lmd_license_clock_override (fake_clock, fake_clock, NULL);
}

void
lmd_test_clock_advance (gint64 seconds)
{
  g_mutex_lock (&fake_lock);
  fake_now_us += seconds * G_USEC_PER_SEC;
  g_mutex_unlock (&fake_lock);
}

void
lmd_test_clock_uninstall (void)
{
  lmd_license_clock_override (NULL, NULL, NULL);
}

/* ---- keys ----------------------------------------------------------------------------------- */

char *
lmd_test_issue_key (LmdLicenseSigningKey *signing_key, const char *key_id, gint64 nbf_offset_s,
                    gint64 exp_offset_s, gint64 rpm, gint64 concurrency, double audio_hours,
                    const char *const *features)
{
  g_autoptr (LmdLicenseKey) key = lmd_license_key_new ();
  g_autoptr (GError) error = NULL;
  gint64 now = lmd_license_clock_now ();
  char *text;

  key->key_id = g_strdup (key_id);
  key->licensee = g_strdup ("Test Licensee GmbH");
  key->issued_at = now;
  key->not_before = now + nbf_offset_s;
  key->expires_at = now + exp_offset_s;
  key->limits.rpm = rpm;
  key->limits.concurrency = concurrency;
  key->limits.audio_hours_per_day = audio_hours;
  if (features != NULL)
    {
      g_strfreev (key->features);
      key->features = g_strdupv ((GStrv) features);
    }
  text = lmd_license_key_sign (key, signing_key, &error);
  g_assert_no_error (error);
  return text;
}

char *
lmd_test_write_public_key (LmdLicenseSigningKey *signing_key, const char *dir)
{
  g_autofree char *text = lmd_license_public_key_to_text (
    lmd_license_signing_key_get_public_key (signing_key));
  g_autofree char *line = g_strconcat (text, "\n", NULL);
  char *path = g_build_filename (dir, "vendor.pub", NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, line, -1, &error);
  g_assert_no_error (error);
  return path;
}

/* ---- upstream ------------------------------------------------------------------------------- */

struct _LmdTestUpstream {
  GThread *thread;
  GMainContext *context;    /* owned */
  GMainLoop *loop;          /* owned */
  GMutex lock;
  GCond cond;
  guint port;               /* 0 until listening */
  gboolean down, revoked;
  char *expected_auth;      /* owned, nullable */
  guint validations, batches, duplicates, violations;
  double audio_seconds;
  GHashTable *record_ids;   /* owned: id → status (GUINT_TO_POINTER) */
};

static const char *const metadata_members[] = {
  "id", "ts", "key_id", "client", "request_id", "feature", "audio_seconds", "status", NULL
};

static void
reply (SoupServerMessage *msg, guint status, const char *json)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_COPY, json, strlen (json));
}

static void
count_usage (LmdTestUpstream *self, SoupMessageBody *body)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GBytes) bytes = soup_message_body_flatten (body);
  JsonObject *root;
  JsonArray *records;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (bytes, NULL),
                                             (gssize) g_bytes_get_size (bytes), NULL));
  root = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_object_has_member (root, "key_id"));
  records = json_object_get_array_member (root, "records");
  self->batches++;
  for (guint i = 0; i < json_array_get_length (records); i++)
    {
      JsonObject *r = json_array_get_object_element (records, i);
      const char *id = json_object_get_string_member (r, "id");
      g_autoptr (GList) members = json_object_get_members (r);

      for (GList *m = members; m != NULL; m = m->next)
        if (!g_strv_contains (metadata_members, m->data))
          self->violations++;
      if (g_hash_table_contains (self->record_ids, id))
        {
          self->duplicates++;
          continue;
        }
      g_hash_table_insert (self->record_ids, g_strdup (id),
                           GUINT_TO_POINTER ((guint) json_object_get_int_member (r, "status")));
      self->audio_seconds += json_object_get_double_member (r, "audio_seconds");
    }
}

static void
handle (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
        gpointer user_data)
{
  LmdTestUpstream *self = user_data;
  const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                   "Authorization");

  g_mutex_lock (&self->lock);
  if (self->expected_auth != NULL && g_strcmp0 (auth, self->expected_auth) != 0)
    self->violations++;
  if (g_strcmp0 (soup_server_message_get_method (msg), "POST") != 0)
    reply (msg, 405, "{}");
  else if (self->down)
    reply (msg, 503, "{\"error\":\"down\"}");
  else if (g_str_equal (path, "/v1/license/validate"))
    {
      self->validations++;
      reply (msg, 200, self->revoked ? "{\"valid\":false,\"revoked\":true,\"message\":\"test\"}"
                                     : "{\"valid\":true,\"revoked\":false}");
    }
  else if (g_str_equal (path, "/v1/usage"))
    {
      count_usage (self, soup_server_message_get_request_body (msg));
      reply (msg, 200, "{\"ok\":true}");
    }
  else
    reply (msg, 404, "{}");
  g_mutex_unlock (&self->lock);
}

static gpointer
upstream_thread (gpointer data)
{
  LmdTestUpstream *self = data;
  g_autoptr (SoupServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  g_main_context_push_thread_default (self->context);
  server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, handle, self, NULL);
  /* our own socket on 127.0.0.1, port 0, so we learn the port without asking the server */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, any_port, TRUE, &error);
  g_assert_no_error (error);
  g_socket_listen (socket, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  soup_server_listen_socket (server, socket, 0, &error);
  g_assert_no_error (error);
  g_mutex_lock (&self->lock);
  self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->lock);

  g_main_loop_run (self->loop);
  soup_server_disconnect (server);
  g_clear_object (&server);
  while (g_main_context_iteration (self->context, FALSE))
    ;
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

LmdTestUpstream *
lmd_test_upstream_start (void)
{
  LmdTestUpstream *self = g_new0 (LmdTestUpstream, 1);

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->record_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->thread = g_thread_new ("test-upstream", upstream_thread, self);
  g_mutex_lock (&self->lock);
  while (self->port == 0)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
  return self;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
lmd_test_upstream_stop (LmdTestUpstream *self)
{
  g_main_context_invoke (self->context, quit_loop, self->loop);
  g_thread_join (self->thread);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_hash_table_unref (self->record_ids);
  g_free (self->expected_auth);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self);
}

char *
lmd_test_upstream_url (LmdTestUpstream *self)
{
  return g_strdup_printf ("http://127.0.0.1:%u", self->port);
}

#define LOCKED_SET(field, value) \
  G_STMT_START { g_mutex_lock (&self->lock); self->field = (value); g_mutex_unlock (&self->lock); } G_STMT_END

void
lmd_test_upstream_set_down (LmdTestUpstream *self, gboolean down)
{
  LOCKED_SET (down, down);
}

void
lmd_test_upstream_set_revoked (LmdTestUpstream *self, gboolean revoked)
{
  LOCKED_SET (revoked, revoked);
}

void
lmd_test_upstream_set_expected_key (LmdTestUpstream *self, const char *key)
{
  g_mutex_lock (&self->lock);
  g_free (self->expected_auth);
  self->expected_auth = key != NULL ? g_strconcat ("Bearer ", key, NULL) : NULL;
  g_mutex_unlock (&self->lock);
}

#define LOCKED_GET(type, expr) \
  type v; g_mutex_lock (&self->lock); v = (expr); g_mutex_unlock (&self->lock); return v

guint
lmd_test_upstream_get_validations (LmdTestUpstream *self)
{
  LOCKED_GET (guint, self->validations);
}

guint
lmd_test_upstream_get_records (LmdTestUpstream *self)
{
  LOCKED_GET (guint, g_hash_table_size (self->record_ids));
}

guint
lmd_test_upstream_get_duplicates (LmdTestUpstream *self)
{
  LOCKED_GET (guint, self->duplicates);
}

guint
lmd_test_upstream_get_batches (LmdTestUpstream *self)
{
  LOCKED_GET (guint, self->batches);
}

double
lmd_test_upstream_get_audio_seconds (LmdTestUpstream *self)
{
  LOCKED_GET (double, self->audio_seconds);
}

guint
lmd_test_upstream_get_violations (LmdTestUpstream *self)
{
  LOCKED_GET (guint, self->violations);
}

guint
lmd_test_upstream_get_status_count (LmdTestUpstream *self, guint status)
{
  GHashTableIter iter;
  gpointer value;
  guint n = 0;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->record_ids);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (GPOINTER_TO_UINT (value) == status)
      n++;
  g_mutex_unlock (&self->lock);
  return n;
}

gboolean
lmd_test_wait_until (gboolean (*done) (gpointer data), gpointer data, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  while (!done (data))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  return TRUE;
}
