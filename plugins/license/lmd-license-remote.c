/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-remote.c — the "license-remote" plugin (behaviour and configuration in the
 * header).  Everything runs on the main context.
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-remote.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <sodium.h>
#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-json.h"
#include "lmd-json-writer.h"
#include "lmd-license.h"
#include "lmd-log.h"
#include "lmd-plugin.h"

#define HASH_BYTES LMD_LICENSE_KEY_HASH_BYTES
#define DOWN_HOLD_US (2 * G_USEC_PER_SEC)
#define UNREACHABLE_RETRY_AFTER_S 5
#define FLUSH_BACKOFF_MAX_S 15
#define MAX_CACHE_ENTRIES 10000

struct _LmdLicenseTicket {
  char *ticket_id;           /* owned; NULL when admitted locally */
  guint8 hash[HASH_BYTES];
  char *feature;             /* owned */
  GStrv features;            /* owned: what the license allows (NULL = unknown: all) */
  char *request_id;          /* owned, nullable */
};

typedef struct {
  guint8 hash[HASH_BYTES];
  char *feature;             /* owned */
  GStrv features;            /* owned, nullable: as LmdLicenseTicket */
  gint64 admitted_at;        /* monotonic µs of the service's last "yes" */
} CacheEntry;

struct _LmdLicenseRemote {
  GObject parent_instance;

  char *service_url;         /* owned, without a trailing '/' */
  char *auth_header;         /* owned, nullable: "Bearer <token>" */
  guint cache_ttl_s;
  guint timeout_s;
  guint health_interval_s;
  SoupSession *session;      /* owned */
  GCancellable *cancellable; /* owned: cancelled at dispose */

  GPtrArray *cache;          /* CacheEntry */
  gboolean reachable;        /* the last exchange with the service got an answer */
  gint64 down_until;         /* monotonic µs: do not ask before */

  /* the service's last /health */
  gboolean status_known;
  gboolean license_valid;
  gboolean development_mode;
  gboolean grace_active;
  gint64 valid_until;
  gint64 grace_ends_at;
  char *licensee;            /* owned */
  gboolean health_in_flight;
  guint health_id;

  GQueue pending;            /* char * JSON completions, oldest first */
  gboolean flushing;
  guint flush_failures;
  guint flush_id;            /* retry timer */
  guint64 local_admissions;
  GPtrArray *jobs;           /* BackgroundJob in flight (not owned) */
};

static void lmd_license_remote_iface_init (LmdLicenseInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdLicenseRemote, lmd_license_remote, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_LICENSE,
                                                      lmd_license_remote_iface_init))

static void flush (LmdLicenseRemote *self);

/* ---- helpers ---------------------------------------------------------------------------- */

static void
hash_key (const char *key, guint8 out[HASH_BYTES])
{
  crypto_hash_sha256 (out, (const guint8 *) (key != NULL ? key : ""), key != NULL ? strlen (key) : 0);
}

/* 8 hex digits of the key's hash, for log lines */
static void
short_hash (const guint8 hash[HASH_BYTES], char out[9])
{
  sodium_bin2hex (out, 9, hash, 4);
}

static void
ticket_free (LmdLicenseTicket *t)
{
  g_free (t->ticket_id);
  g_strfreev (t->features);
  g_free (t->feature);
  g_free (t->request_id);
  g_free (t);
}

static void
cache_entry_free (CacheEntry *e)
{
  g_free (e->feature);
  g_strfreev (e->features);
  g_free (e);
}

/* The entry of @hash and @feature, comparing every entry in constant time per entry. */
static CacheEntry *
cache_find (LmdLicenseRemote *self, const guint8 hash[HASH_BYTES], const char *feature)
{
  CacheEntry *found = NULL;

  for (guint i = 0; i < self->cache->len; i++)
    {
      CacheEntry *e = self->cache->pdata[i];
      int same = sodium_memcmp (e->hash, hash, HASH_BYTES);
      if (same == 0 && found == NULL && g_str_equal (e->feature, feature))
        found = e;
    }
  return found;
}

static void
cache_expire (LmdLicenseRemote *self, gint64 now)
{
  for (guint i = self->cache->len; i > 0; i--)
    {
      CacheEntry *e = self->cache->pdata[i - 1];
      if (now - e->admitted_at > (gint64) self->cache_ttl_s * G_USEC_PER_SEC)
        g_ptr_array_remove_index_fast (self->cache, i - 1);
    }
}

static void
cache_put (LmdLicenseRemote *self, const guint8 hash[HASH_BYTES], const char *feature,
           const char *const *features)
{
  gint64 now = g_get_monotonic_time ();
  CacheEntry *e;

  cache_expire (self, now);
  e = cache_find (self, hash, feature);
  if (e == NULL)
    {
      if (self->cache->len >= MAX_CACHE_ENTRIES)
        return;
      e = g_new0 (CacheEntry, 1);
      memcpy (e->hash, hash, HASH_BYTES);
      e->feature = g_strdup (feature);
      g_ptr_array_add (self->cache, e);
    }
  e->admitted_at = now;
  g_strfreev (e->features);
  e->features = g_strdupv ((char **) features);
}

static void
cache_forget (LmdLicenseRemote *self, const guint8 hash[HASH_BYTES])
{
  for (guint i = self->cache->len; i > 0; i--)
    {
      CacheEntry *e = self->cache->pdata[i - 1];
      if (sodium_memcmp (e->hash, hash, HASH_BYTES) == 0)
        g_ptr_array_remove_index_fast (self->cache, i - 1);
    }
}

static void
mark_unreachable (LmdLicenseRemote *self, const char *why)
{
  if (self->reachable || !self->status_known)
    g_warning ("the license service at %s is unreachable (%s); admitting only keys it admitted "
               "in the last %u s", self->service_url, why, self->cache_ttl_s);
  self->reachable = FALSE;
  self->status_known = TRUE;
  self->down_until = g_get_monotonic_time () + DOWN_HOLD_US;
}

static void
mark_reachable (LmdLicenseRemote *self)
{
  if (!self->reachable && self->status_known)
    g_message ("the license service at %s answers again%s", self->service_url,
               g_queue_is_empty (&self->pending) ? "" : "; delivering the queued usage");
  self->reachable = TRUE;
  self->down_until = 0;
}

static SoupMessage *
new_message (LmdLicenseRemote *self, const char *method, const char *path, char *json_body,
             const char *request_id)
{
  g_autofree char *url = g_strconcat (self->service_url, path, NULL);
  SoupMessage *msg = soup_message_new (method, url);
  SoupMessageHeaders *headers = soup_message_get_request_headers (msg);

  if (self->auth_header != NULL)
    soup_message_headers_replace (headers, "Authorization", self->auth_header);
  if (request_id != NULL)
    soup_message_headers_replace (headers, "X-Request-ID", request_id);
  if (json_body != NULL)
    {
      g_autoptr (GBytes) body = g_bytes_new_take (json_body, strlen (json_body));
      soup_message_set_request_body_from_bytes (msg, "application/json", body);
    }
  return msg;
}

/* The service's own JSON error in @body: its code (LMD_ERROR) and retry_after; FALSE when
 * the body is not one (a proxy's page, garbage). */
static gboolean
parse_service_error (GBytes *body, LmdErrorCode *code, char **code_name, char **message,
                     guint *retry_after_s)
{
  g_autoptr (JsonNode) root = NULL;
  JsonObject *obj;
  const char *name;

  if (body == NULL
      || (root = lmd_json_parse (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body),
                                 LMD_JSON_MAX_RECORD_BYTES, NULL)) == NULL
      || !JSON_NODE_HOLDS_OBJECT (root))
    return FALSE;
  obj = json_node_get_object (root);
  name = json_object_get_string_member_with_default (obj, "code", NULL);
  if (name == NULL)
    return FALSE;
  *code_name = g_strdup (name);
  *code = LMD_ERROR_INTERNAL;
  for (guint c = 0; c <= LMD_ERROR_FEATURE_NOT_LICENSED; c++)
    if (g_str_equal (lmd_error_code_name ((LmdErrorCode) c), name))
      *code = (LmdErrorCode) c;
  *message = g_strdup (json_object_get_string_member_with_default (obj, "error", name));
  *retry_after_s = (guint) CLAMP (json_object_get_int_member_with_default (obj, "retry_after", 0),
                                  0, 86400);
  return TRUE;
}

/* ---- admission -------------------------------------------------------------------------- */

typedef struct {
  SoupMessage *msg;          /* owned */
  guint8 hash[HASH_BYTES];
  gboolean has_key;
  char *feature;             /* owned */
  char *request_id;          /* owned, nullable */
  guint retry_after_s;
} AdmitJob;

static void
admit_job_free (AdmitJob *job)
{
  g_clear_object (&job->msg);
  sodium_memzero (job->hash, sizeof job->hash);
  g_free (job->feature);
  g_free (job->request_id);
  g_free (job);
}

static LmdLicenseTicket *
new_ticket (const guint8 hash[HASH_BYTES], const char *feature, const char *request_id,
            const char *ticket_id, const char *const *features)
{
  LmdLicenseTicket *t = g_new0 (LmdLicenseTicket, 1);

  memcpy (t->hash, hash, HASH_BYTES);
  t->feature = g_strdup (feature);
  t->request_id = g_strdup (request_id);
  t->ticket_id = g_strdup (ticket_id);
  t->features = g_strdupv ((char **) features);
  return t;
}

/* The answer while the service cannot be asked: a recent "yes" for the same key and feature. */
static LmdLicenseTicket *
admit_locally (LmdLicenseRemote *self, const guint8 hash[HASH_BYTES], gboolean has_key,
               const char *feature, const char *request_id, guint *retry_after_s, GError **error)
{
  gint64 now = g_get_monotonic_time ();
  CacheEntry *e;
  char hex[9];

  cache_expire (self, now);
  e = has_key ? cache_find (self, hash, feature) : NULL;
  short_hash (hash, hex);
  if (e == NULL)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id,
                       "service unreachable and key %s… not admitted recently; refusing",
                       hex);
      *retry_after_s = UNREACHABLE_RETRY_AFTER_S;
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                   "the license service is unreachable; retry shortly");
      return NULL;
    }
  self->local_admissions++;
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id,
                   "service unreachable; key %s… admitted from its answer %.0f s ago "
                   "(%" G_GUINT64_FORMAT " admitted this way so far)",
                   hex, (now - e->admitted_at) / 1e6, self->local_admissions);
  return new_ticket (hash, feature, request_id, NULL, (const char *const *) e->features);
}

static void
admit_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  LmdLicenseRemote *self = g_task_get_source_object (task);
  AdmitJob *job = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  guint status = soup_message_get_status (job->msg);
  LmdErrorCode code;
  g_autofree char *code_name = NULL;
  g_autofree char *message = NULL;
  guint retry = 0;

  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (error == NULL && status == SOUP_STATUS_OK)
    {
      g_autoptr (JsonNode) root = lmd_json_parse (g_bytes_get_data (body, NULL),
                                                  (gssize) g_bytes_get_size (body),
                                                  LMD_JSON_MAX_RECORD_BYTES, NULL);
      g_autoptr (GStrvBuilder) allowed = g_strv_builder_new ();
      g_auto (GStrv) features = NULL;
      const char *id = NULL;
      JsonArray *list = NULL;

      if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
        {
          JsonObject *o = json_node_get_object (root);
          JsonNode *n = json_object_get_member (o, "features");
          id = json_object_get_string_member_with_default (o, "ticket", NULL);
          if (n != NULL && JSON_NODE_HOLDS_ARRAY (n))
            list = json_node_get_array (n);
        }
      for (guint i = 0; list != NULL && i < json_array_get_length (list) && i < 64; i++)
        {
          JsonNode *item = json_array_get_element (list, i);
          if (JSON_NODE_HOLDS_VALUE (item) && json_node_get_value_type (item) == G_TYPE_STRING)
            g_strv_builder_add (allowed, json_node_get_string (item));
        }
      features = list != NULL ? g_strv_builder_end (allowed) : NULL;
      if (id != NULL && id[0] != '\0')
        {
          mark_reachable (self);
          if (job->has_key)
            cache_put (self, job->hash, job->feature, (const char *const *) features);
          g_task_return_pointer (task, new_ticket (job->hash, job->feature, job->request_id, id,
                                                   (const char *const *) features),
                                 NULL);
          return;
        }
    }
  else if (error == NULL && status >= 400 && status < 600
           && parse_service_error (body, &code, &code_name, &message, &retry)
           && status != SOUP_STATUS_NOT_FOUND && status != SOUP_STATUS_METHOD_NOT_ALLOWED)
    {
      mark_reachable (self);
      if (g_str_equal (code_name, "INVALID_SERVICE_TOKEN") || code == LMD_ERROR_INTERNAL
          || g_str_equal (code_name, "INVALID_PARAMETER"))
        {
          /* our configuration or our request, not the client's key */
          LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, job->request_id,
                           "the service refused our request (%u %s: %s)", status,
                           code_name, message);
          job->retry_after_s = UNREACHABLE_RETRY_AFTER_S;
          g_task_return_new_error (task, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                                   "the license service could not be asked; retry shortly");
          return;
        }
      if (code == LMD_ERROR_INVALID_LICENSE && job->has_key)
        cache_forget (self, job->hash);
      job->retry_after_s = retry;
      g_task_return_new_error (task, LMD_ERROR, code, "%s", message);
      return;
    }

  /* no usable answer: the service is down, stalled or not what we think it is */
  {
    g_autofree char *why = error != NULL ? g_strdup (error->message)
                                         : g_strdup_printf ("HTTP %u", status);
    GError *local_error = NULL;
    LmdLicenseTicket *ticket;

    mark_unreachable (self, why);
    ticket = admit_locally (self, job->hash, job->has_key, job->feature, job->request_id,
                            &job->retry_after_s, &local_error);
    if (ticket != NULL)
      g_task_return_pointer (task, ticket, NULL);
    else
      g_task_return_error (task, local_error);
  }
}

static void
lmd_license_remote_admit_async (LmdLicense *license, const char *api_key, const char *feature,
                                const char *request_id, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (license);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  AdmitJob *job = g_new0 (AdmitJob, 1);
  LmdJsonWriter *w;

  g_task_set_source_tag (task, lmd_license_remote_admit_async);
  g_task_set_check_cancellable (task, FALSE);
  job->has_key = api_key != NULL && api_key[0] != '\0';
  hash_key (api_key, job->hash);
  job->feature = g_strdup (feature != NULL ? feature : "batch");
  job->request_id = g_strdup (request_id);
  g_task_set_task_data (task, job, (GDestroyNotify) admit_job_free);

  if (g_get_monotonic_time () < self->down_until)
    {
      GError *error = NULL;
      LmdLicenseTicket *ticket = admit_locally (self, job->hash, job->has_key, job->feature,
                                                request_id, &job->retry_after_s, &error);
      if (ticket != NULL)
        g_task_return_pointer (task, ticket, NULL);
      else
        g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  w = lmd_json_writer_new ();
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "api_key");
  lmd_json_writer_string (w, job->has_key ? api_key : NULL);
  lmd_json_writer_key (w, "feature");
  lmd_json_writer_string (w, job->feature);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request_id);
  lmd_json_writer_end_object (w);
  job->msg = new_message (self, SOUP_METHOD_POST, "/v1/license/admit", lmd_json_writer_finish (w),
                          request_id);
  soup_session_send_and_read_async (self->session, job->msg, G_PRIORITY_DEFAULT, cancellable,
                                    admit_done, task);
}

static LmdLicenseTicket *
lmd_license_remote_admit_finish (LmdLicense *license, GAsyncResult *result, guint *retry_after_s,
                                 GError **error)
{
  AdmitJob *job = g_task_get_task_data (G_TASK (result));

  *retry_after_s = job->retry_after_s;
  return g_task_propagate_pointer (G_TASK (result), error);
}

static LmdLicenseTicket *
lmd_license_remote_admit (LmdLicense *license, const char *api_key, const char *feature,
                          const char *request_id, guint *retry_after_s, GError **error)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (license);
  guint8 hash[HASH_BYTES];
  LmdLicenseTicket *ticket;

  hash_key (api_key, hash);
  ticket = admit_locally (self, hash, api_key != NULL && api_key[0] != '\0',
                          feature != NULL ? feature : "batch", request_id, retry_after_s, error);
  sodium_memzero (hash, sizeof hash);
  return ticket;
}

/* ---- usage ------------------------------------------------------------------------------ */

static gboolean
flush_timer_cb (gpointer data)
{
  LmdLicenseRemote *self = data;

  self->flush_id = 0;
  flush (self);
  return G_SOURCE_REMOVE;
}

/* A background exchange (usage delivery, health poll).  It holds no reference to the plugin:
 * dispose cancels it, waits a little for its callback, and detaches it (self = NULL) if it
 * has still not run. */
typedef struct {
  LmdLicenseRemote *self;    /* borrowed; NULL once detached */
  SoupMessage *msg;          /* owned */
} BackgroundJob;

static BackgroundJob *
background_job_new (LmdLicenseRemote *self, SoupMessage *msg)
{
  BackgroundJob *job = g_new0 (BackgroundJob, 1);

  job->self = self;
  job->msg = msg;
  g_ptr_array_add (self->jobs, job);
  return job;
}

/* Frees @job; FALSE when the plugin is gone or going (do not touch it then). */
static gboolean
background_job_end (BackgroundJob *job, const GError *error)
{
  LmdLicenseRemote *self = job->self;
  gboolean alive = self != NULL;

  if (self != NULL)
    g_ptr_array_remove_fast (self->jobs, job);
  g_object_unref (job->msg);
  g_free (job);
  return alive && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
flush_job_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BackgroundJob *job = user_data;
  LmdLicenseRemote *self = job->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  guint status = soup_message_get_status (job->msg);
  gboolean delivered = error == NULL && status == SOUP_STATUS_OK;
  gboolean hopeless = error == NULL && (status == SOUP_STATUS_BAD_REQUEST
                                        || status == SOUP_STATUS_NOT_FOUND);

  if (!background_job_end (job, error))
    return; /* shutting down: the queue is tried once more at finalize */
  self->flushing = FALSE;
  if (delivered || hopeless)
    {
      char *record = g_queue_pop_head (&self->pending);
      if (hopeless)
        g_warning ("the license service refused a usage record (HTTP %u); dropping it", status);
      g_free (record);
      if (self->flush_failures > 0)
        g_message ("usage delivered to the license service again (%u still queued)",
                   g_queue_get_length (&self->pending));
      self->flush_failures = 0;
      mark_reachable (self);
      flush (self);
    }
  else
    {
      guint delay;
      g_autofree char *why = error != NULL ? g_strdup (error->message)
                                           : g_strdup_printf ("HTTP %u", status);
      if (error != NULL || status >= 500)
        mark_unreachable (self, why);
      self->flush_failures++;
      delay = MIN (FLUSH_BACKOFF_MAX_S, 1u << MIN (self->flush_failures - 1, 8u));
      if (self->flush_failures == 1)
        g_warning ("could not deliver usage to the license service (%s); %u record(s) queued, "
                   "retrying", why, g_queue_get_length (&self->pending));
      if (self->flush_id == 0)
        self->flush_id = g_timeout_add_seconds (delay, flush_timer_cb, self);
    }
}

/* Sends the oldest queued completion; the next goes when it is acknowledged. */
static void
flush (LmdLicenseRemote *self)
{
  BackgroundJob *job;

  if (self->flushing || g_queue_is_empty (&self->pending) || self->flush_id != 0
      || g_cancellable_is_cancelled (self->cancellable))
    return;
  self->flushing = TRUE;
  job = background_job_new (self, new_message (self, SOUP_METHOD_POST, "/v1/license/complete",
                                               g_strdup (g_queue_peek_head (&self->pending)),
                                               NULL));
  soup_session_send_and_read_async (self->session, job->msg, G_PRIORITY_DEFAULT,
                                    self->cancellable, flush_job_done, job);
}

static void
lmd_license_remote_complete (LmdLicense *license, LmdLicenseTicket *ticket, double audio_seconds,
                             guint status)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (license);
  g_autofree char *id = g_uuid_string_random ();
  char hex[HASH_BYTES * 2 + 1];
  LmdJsonWriter *w = lmd_json_writer_new ();

  if (!(audio_seconds >= 0) || audio_seconds > 1e9)
    audio_seconds = 0;
  sodium_bin2hex (hex, sizeof hex, ticket->hash, HASH_BYTES);
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "id");
  lmd_json_writer_string (w, id);
  lmd_json_writer_key (w, "ticket");
  lmd_json_writer_string (w, ticket->ticket_id);
  lmd_json_writer_key (w, "key_sha256");
  lmd_json_writer_string (w, hex);
  lmd_json_writer_key (w, "feature");
  lmd_json_writer_string (w, ticket->feature);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, ticket->request_id);
  lmd_json_writer_key (w, "audio_seconds");
  lmd_json_writer_double (w, audio_seconds, 3);
  lmd_json_writer_key (w, "status");
  lmd_json_writer_int (w, status);
  lmd_json_writer_end_object (w);
  g_queue_push_tail (&self->pending, lmd_json_writer_finish (w));
  ticket_free (ticket);
  flush (self);
}

/* ---- health ----------------------------------------------------------------------------- */

static gint64
parse_time (JsonObject *obj, const char *member)
{
  const char *text = json_object_get_string_member_with_default (obj, member, NULL);
  g_autoptr (GDateTime) t = text != NULL ? g_date_time_new_from_iso8601 (text, NULL) : NULL;

  return t != NULL ? g_date_time_to_unix (t) : 0;
}

static void
health_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BackgroundJob *job = user_data;
  LmdLicenseRemote *self = job->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  g_autoptr (JsonNode) root = NULL;
  guint status = soup_message_get_status (job->msg);

  if (!background_job_end (job, error))
    return;
  self->health_in_flight = FALSE;
  if (error == NULL
      && (root = lmd_json_parse (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body),
                                 LMD_JSON_MAX_RECORD_BYTES, NULL)) != NULL
      && JSON_NODE_HOLDS_OBJECT (root)
      && json_object_has_member (json_node_get_object (root), "license_valid"))
    {
      JsonObject *o = json_node_get_object (root);
      gboolean was_valid = self->license_valid;

      mark_reachable (self);
      self->status_known = TRUE;
      self->license_valid = json_object_get_boolean_member_with_default (o, "license_valid", FALSE);
      self->development_mode = json_object_get_boolean_member_with_default (o, "development_mode",
                                                                            FALSE);
      self->grace_active = json_object_get_boolean_member_with_default (o, "grace_period_active",
                                                                        FALSE);
      self->valid_until = parse_time (o, "valid_until");
      self->grace_ends_at = self->grace_active ? parse_time (o, "grace_ends_at") : 0;
      g_free (self->licensee);
      self->licensee = g_strdup (json_object_get_string_member_with_default (o, "licensee", NULL));
      if (was_valid && !self->license_valid && !self->development_mode)
        g_warning ("the license service reports the license as not valid");
      if (self->flush_id != 0)
        {
          /* the service is back: deliver the queue now rather than at the next retry */
          g_source_remove (self->flush_id);
          self->flush_id = 0;
        }
      flush (self);
    }
  else
    {
      g_autofree char *why = error != NULL ? g_strdup (error->message)
                                           : g_strdup_printf ("HTTP %u from /health", status);
      mark_unreachable (self, why);
    }
}

static gboolean
health_cb (gpointer data)
{
  LmdLicenseRemote *self = data;
  BackgroundJob *job;

  if (self->health_in_flight)
    return G_SOURCE_CONTINUE;
  self->health_in_flight = TRUE;
  job = background_job_new (self, new_message (self, SOUP_METHOD_GET, "/health", NULL, NULL));
  soup_session_send_and_read_async (self->session, job->msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    health_done, job);
  return G_SOURCE_CONTINUE;
}

static gboolean
lmd_license_remote_allows (LmdLicense *license, LmdLicenseTicket *ticket, const char *feature)
{
  return ticket->features == NULL
         || g_strv_contains ((const char *const *) ticket->features, feature);
}

static void
lmd_license_remote_get_status (LmdLicense *license, LmdLicenseStatus *status)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (license);

  status->service_reachable = self->reachable;
  status->license_valid = self->reachable && self->license_valid;
  status->development_mode = self->reachable && self->development_mode;
  status->valid_until = self->valid_until;
  status->grace_period_active = self->grace_active;
  status->grace_ends_at = self->grace_ends_at;
  status->licensee = self->licensee;
}

/* ---- setup ------------------------------------------------------------------------------ */

static gboolean
read_uint (GKeyFile *config, const char *key, gint64 fallback, gint64 min, gint64 max, guint *out,
           GError **error)
{
  gint64 value;

  if (!lmd_config_get_int (config, "license", key, fallback, &value, error))
    return FALSE;
  if (value < min || value > max)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [license] %s: must be %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                   key, min, max);
      return FALSE;
    }
  *out = (guint) value;
  return TRUE;
}

static gboolean
lmd_license_remote_setup (LmdLicense *license, GKeyFile *config, GError **error)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (license);
  g_autofree char *url = lmd_config_get_string (config, "license", "service_url", NULL);
  g_autofree char *token = lmd_config_get_string (config, "license", "service_token", NULL);
  g_autoptr (GUri) uri = NULL;

  if (!read_uint (config, "cache_ttl_s", 30, 1, 3600, &self->cache_ttl_s, error)
      || !read_uint (config, "service_timeout_s", 2, 1, 60, &self->timeout_s, error)
      || !read_uint (config, "health_interval_s", 5, 1, 3600, &self->health_interval_s, error))
    return FALSE;
  if (url != NULL)
    g_strstrip (url);
  if (url == NULL || url[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                   "license-remote: no license service: set [license] service_url or "
                   "API_BASE_URL (e.g. http://127.0.0.1:6699)");
      return FALSE;
    }
  uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL
      || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0
          && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0)
      || g_uri_get_host (uri) == NULL || g_uri_get_host (uri)[0] == '\0')
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [license] service_url: '%s' is not an http:// or https:// URL", url);
      return FALSE;
    }
  while (g_str_has_suffix (url, "/"))
    url[strlen (url) - 1] = '\0';
  self->service_url = g_steal_pointer (&url);
  if (token != NULL)
    g_strstrip (token);
  if (token != NULL && token[0] != '\0')
    self->auth_header = g_strconcat ("Bearer ", token, NULL);
  self->session = soup_session_new_with_options ("timeout", self->timeout_s,
                                                 "idle-timeout", 60,
                                                 "user-agent", "lightning-mediad-license-remote",
                                                 NULL);
  g_message ("asking the license service at %s (cache %u s)", self->service_url,
             self->cache_ttl_s);
  health_cb (self);
  self->health_id = g_timeout_add_seconds (self->health_interval_s, health_cb, self);
  return TRUE;
}

static void
lmd_license_remote_iface_init (LmdLicenseInterface *iface)
{
  iface->setup = lmd_license_remote_setup;
  iface->admit = lmd_license_remote_admit;
  iface->complete = lmd_license_remote_complete;
  iface->get_status = lmd_license_remote_get_status;
  iface->admit_async = lmd_license_remote_admit_async;
  iface->admit_finish = lmd_license_remote_admit_finish;
  iface->allows = lmd_license_remote_allows;
}

/* ---- GObject ---------------------------------------------------------------------------- */

/* At exit: one last, synchronous attempt to deliver the queued usage. */
static void
deliver_before_exit (LmdLicenseRemote *self)
{
  guint lost;

  while (!g_queue_is_empty (&self->pending) && self->reachable)
    {
      g_autoptr (SoupMessage) msg = new_message (self, SOUP_METHOD_POST, "/v1/license/complete",
                                                 g_strdup (g_queue_peek_head (&self->pending)), NULL);
      g_autoptr (GBytes) body = soup_session_send_and_read (self->session, msg, NULL, NULL);
      if (body == NULL || soup_message_get_status (msg) >= 500)
        break;
      g_free (g_queue_pop_head (&self->pending));
    }
  lost = g_queue_get_length (&self->pending);
  if (lost > 0)
    g_warning ("%u usage record(s) could not be delivered to the license service before exit",
               lost);
}

static void
lmd_license_remote_dispose (GObject *object)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (object);

  if (self->health_id != 0)
    g_source_remove (self->health_id);
  self->health_id = 0;
  if (self->flush_id != 0)
    g_source_remove (self->flush_id);
  self->flush_id = 0;
  g_cancellable_cancel (self->cancellable);
  /* let the cancelled exchanges finish (their callbacks free them); detach any that do not */
  {
    gint64 deadline = g_get_monotonic_time () + G_USEC_PER_SEC;
    while (self->jobs->len > 0 && g_get_monotonic_time () < deadline)
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (1000);
    for (guint i = 0; i < self->jobs->len; i++)
      ((BackgroundJob *) self->jobs->pdata[i])->self = NULL;
    g_ptr_array_set_size (self->jobs, 0);
  }
  G_OBJECT_CLASS (lmd_license_remote_parent_class)->dispose (object);
}

static void
lmd_license_remote_finalize (GObject *object)
{
  LmdLicenseRemote *self = LMD_LICENSE_REMOTE (object);

  if (self->session != NULL)
    {
      deliver_before_exit (self);
      soup_session_abort (self->session);
    }
  g_clear_object (&self->session);
  g_clear_object (&self->cancellable);
  g_queue_clear_full (&self->pending, g_free);
  g_ptr_array_unref (self->cache);
  g_ptr_array_unref (self->jobs);
  g_free (self->service_url);
  if (self->auth_header != NULL)
    sodium_memzero (self->auth_header, strlen (self->auth_header));
  g_free (self->auth_header);
  g_free (self->licensee);
  G_OBJECT_CLASS (lmd_license_remote_parent_class)->finalize (object);
}

static void
lmd_license_remote_class_init (LmdLicenseRemoteClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lmd_license_remote_dispose;
  object_class->finalize = lmd_license_remote_finalize;
}

static void
lmd_license_remote_init (LmdLicenseRemote *self)
{
  if (sodium_init () < 0)
    g_warning ("libsodium failed to initialise");
  self->cancellable = g_cancellable_new ();
  self->cache = g_ptr_array_new_with_free_func ((GDestroyNotify) cache_entry_free);
  self->jobs = g_ptr_array_new ();
  g_queue_init (&self->pending);
  self->cache_ttl_s = 30;
  self->timeout_s = 2;
  self->health_interval_s = 5;
}

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "license-remote",
    "Licensing through a separate license role (lightning-mediad --role license) over HTTP",
    lmd_license_remote_get_type,
  };
  return &info;
}
