/* SPDX-License-Identifier: MIT */
/*
 * lmd-license-service.c — the "license" plugin (configuration and behaviour in the header).
 *
 * State of the license, decided afresh by every admit() from the license clock:
 *   development mode                  → admit (only configured API keys, if any)
 *   key past its expiry               → 403 LICENSE_EXPIRED
 *   no upstream                       → admit within the key's limits
 *   upstream refused (revoked/invalid)→ 403 LICENSE_EXPIRED
 *   never validated (no cache either) → 503 SERVICE_UNAVAILABLE
 *   now < last good validation + grace→ admit; "grace_period_active" while the last attempt
 *                                       failed, with a warning counting down on each retry
 *   otherwise                         → 403 LICENSE_EXPIRED (grace period over)
 * The last good validation is cached in state_dir/validation.json, so a restart while the
 * upstream is down keeps the grace period it had, not a fresh one.
 *
 * Usage: complete() appends one record to the journal (lmd-license-journal.h); a timer uploads
 * pending records every flush_interval_s, retrying with exponential backoff (10 s doubling,
 * capped at flush_interval_s).  A record holds only metadata: record id, time, key id, which
 * key (the license or "api:" + 8 hex digits of the API key's hash), request id, feature,
 * audio seconds and HTTP status.  Never audio, text or keys.
 *
 * Authentication hashes the presented key (SHA-256) and compares the hash with every
 * configured hash with sodium_memcmp, without stopping at the first match.
 */
#define G_LOG_DOMAIN "lmd-license"

#include "lmd-license-service.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sodium.h>
#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-json.h"
#include "lmd-license-clock.h"
#include "lmd-license-journal.h"
#include "lmd-license-key.h"
#include "lmd-license-keyring.h"
#include "lmd-license-limiter.h"
#include "lmd-license-upstream.h"
#include "lmd-license.h"
#include "lmd-limit-store.h"
#include "lmd-log.h"
#include "lmd-plugin.h"

#define HASH_BYTES crypto_hash_sha256_BYTES
#define USAGE_BATCH 500
#define USAGE_BATCHES_PER_FLUSH 20
#define FLUSH_BACKOFF_BASE_S 10
#define VALIDATE_RETRY_BASE_S 30
#define VALIDATE_RETRY_MAX_S 300
#define UNVALIDATED_RETRY_AFTER_S 30
#define LICENSE_CLIENT "license"
#define DEVELOPMENT_CLIENT "development"

struct _LmdLicenseTicket {
  char *client_id;    /* owned */
  char *feature;      /* owned */
  char *request_id;   /* owned, nullable */
  gboolean limited;   /* holds a slot in the process-local limiter */
  char *store_ticket; /* owned, nullable: holds a slot in the shared limit store instead */
};

struct _LmdLicenseService {
  GObject parent_instance;

  gboolean set_up;
  gboolean development_mode;
  LmdLicenseKey *key;              /* owned, NULL in development mode */
  guint8 license_hash[HASH_BYTES];
  GArray *api_key_hashes;          /* owned: guint8[HASH_BYTES] each */
  LmdLicenseKeyring *keyring;      /* owned */
  LmdLicenseLimiter *limiter;      /* owned */
  LmdLimitStore *limit_store;      /* owned, nullable: limits shared with other processes */
  gboolean store_down;             /* the store was unreachable at the last admission (logged) */
  guint64 local_admissions;        /* admitted by @limiter because the store was unreachable */
  LmdLicenseJournal *journal;      /* owned, NULL without upstream */
  LmdLicenseUpstream *upstream;    /* owned, NULL without upstream */
  GMainContext *context;           /* owned: where timers and task callbacks run */
  char *state_dir;                 /* owned */
  char *status_licensee;           /* owned: what get_status lends */
  guint flush_interval_s;
  guint grace_period_s;
  guint validate_interval_s;

  /* what the upstream said; main context only */
  gint64 last_good_at;             /* unix s of the last good validation; 0 = never */
  gboolean attempted;              /* an attempt finished since start */
  gboolean reachable;              /* the last attempt got an answer */
  gboolean refused;                /* the last answer was "revoked" or "not valid" */
  gint64 upstream_expires_at;      /* 0 = the key's own expiry */
  gboolean has_upstream_limits;
  LmdLicenseLimits upstream_limits;
  gboolean grace_over_logged;

  gboolean validating;
  gboolean flushing;
  guint validate_failures;
  guint flush_failures;
  GSource *validate_timer;         /* owned */
  GSource *flush_timer;            /* owned */
};

static void lmd_license_service_iface_init (LmdLicenseInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdLicenseService, lmd_license_service, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_LICENSE,
                                                      lmd_license_service_iface_init))

static void schedule_validation (LmdLicenseService *self, guint delay_s);
static void schedule_flush (LmdLicenseService *self, guint delay_s);

/* ---- small helpers ---------------------------------------------------------------------- */

static char *
format_time (gint64 unix_s)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (unix_s);

  return t != NULL ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : g_strdup ("?");
}

static void
hash_key (const char *key, guint8 out[HASH_BYTES])
{
  crypto_hash_sha256 (out, (const guint8 *) key, strlen (key));
}

static void
clear_timer (GSource **timer)
{
  if (*timer != NULL)
    {
      g_source_destroy (*timer);
      g_clear_pointer (timer, g_source_unref);
    }
}

static gint64
effective_expiry (LmdLicenseService *self)
{
  if (self->key == NULL)
    return 0;
  return self->upstream_expires_at > 0 ? self->upstream_expires_at : self->key->expires_at;
}

static const LmdLicenseLimits *
effective_limits (LmdLicenseService *self)
{
  static const LmdLicenseLimits unlimited = { 0 };

  if (self->key == NULL)
    return &unlimited;
  return self->has_upstream_limits ? &self->upstream_limits : &self->key->limits;
}

static gboolean
grace_active (LmdLicenseService *self, gint64 now)
{
  return self->upstream != NULL && self->attempted && !self->reachable && !self->refused
         && self->last_good_at > 0 && now < self->last_good_at + self->grace_period_s;
}

/* Whether requests may be served now; the reason in @error when not. */
static gboolean
check_license (LmdLicenseService *self, gint64 now, guint *retry_after_s, GError **error)
{
  if (self->development_mode)
    return TRUE;
  if (now >= effective_expiry (self))
    {
      g_autofree char *when = format_time (effective_expiry (self));
      g_set_error (error, LMD_ERROR, LMD_ERROR_LICENSE_EXPIRED, "the license expired at %s", when);
      return FALSE;
    }
  if (self->upstream == NULL)
    return TRUE;
  if (self->refused)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_LICENSE_EXPIRED,
                   "the license server does not accept this license (revoked or not valid)");
      return FALSE;
    }
  if (self->last_good_at == 0)
    {
      *retry_after_s = UNVALIDATED_RETRY_AFTER_S;
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                   "the license has not been validated with the license server yet");
      return FALSE;
    }
  if (now >= self->last_good_at + self->grace_period_s)
    {
      if (!self->grace_over_logged)
        {
          g_warning ("the grace period is over (license server unreachable since the "
                      "last good validation); refusing requests until it answers");
          self->grace_over_logged = TRUE;
        }
      g_set_error (error, LMD_ERROR, LMD_ERROR_LICENSE_EXPIRED,
                   "the license could not be validated with the license server and the grace "
                   "period is over");
      return FALSE;
    }
  return TRUE;
}

/* ---- validation cache ------------------------------------------------------------------- */

static char *
cache_path (LmdLicenseService *self)
{
  return g_build_filename (self->state_dir, "validation.json", NULL);
}

static void
load_cache (LmdLicenseService *self)
{
  g_autofree char *path = cache_path (self);
  g_autoptr (JsonNode) root = lmd_json_parse_file (path, LMD_JSON_MAX_RECORD_BYTES, NULL);
  JsonObject *obj;
  JsonNode *n;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  obj = json_node_get_object (root);
  if (g_strcmp0 (json_object_get_string_member_with_default (obj, "key_id", ""),
                 self->key->key_id) != 0)
    return; /* a cache of another license */
  self->last_good_at = json_object_get_int_member_with_default (obj, "validated_at", 0);
  self->refused = json_object_get_boolean_member_with_default (obj, "refused", FALSE);
  self->upstream_expires_at = json_object_get_int_member_with_default (obj, "expires_at", 0);
  n = json_object_get_member (obj, "limits");
  if (n != NULL && JSON_NODE_HOLDS_OBJECT (n))
    {
      JsonObject *l = json_node_get_object (n);
      self->has_upstream_limits = TRUE;
      self->upstream_limits.rpm = json_object_get_int_member_with_default (l, "rpm", 0);
      self->upstream_limits.concurrency =
        json_object_get_int_member_with_default (l, "concurrency", 0);
      self->upstream_limits.audio_hours_per_day =
        json_object_get_double_member_with_default (l, "audio_hours_per_day", 0);
    }
  if (self->last_good_at > lmd_license_clock_now () + LMD_LICENSE_KEY_CLOCK_SKEW_S)
    self->last_good_at = 0; /* from the future: not to be trusted */
  g_message ("cached validation from %" G_GINT64_FORMAT " loaded", self->last_good_at);
}

/* Writes the cache; called on the main context with the state just updated. */
static void
save_cache (LmdLicenseService *self)
{
  g_autofree char *path = cache_path (self);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "key_id");
  json_builder_add_string_value (b, self->key->key_id);
  json_builder_set_member_name (b, "validated_at");
  json_builder_add_int_value (b, self->last_good_at);
  json_builder_set_member_name (b, "refused");
  json_builder_add_boolean_value (b, self->refused);
  json_builder_set_member_name (b, "expires_at");
  json_builder_add_int_value (b, self->upstream_expires_at);
  if (self->has_upstream_limits)
    {
      json_builder_set_member_name (b, "limits");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "rpm");
      json_builder_add_int_value (b, self->upstream_limits.rpm);
      json_builder_set_member_name (b, "concurrency");
      json_builder_add_int_value (b, self->upstream_limits.concurrency);
      json_builder_set_member_name (b, "audio_hours_per_day");
      json_builder_add_double_value (b, self->upstream_limits.audio_hours_per_day);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  if (!g_file_set_contents_full (path, text, -1,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &error))
    g_warning ("could not save the validation cache: %s", error->message);
}

/* ---- daily quota across restarts -------------------------------------------------------- */

static void
save_quota (LmdLicenseService *self)
{
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  char number[G_ASCII_DTOSTR_BUF_SIZE];

  if (self->key == NULL || self->state_dir == NULL || self->journal == NULL)
    return;
  path = g_build_filename (self->state_dir, "quota.json", NULL);
  g_ascii_dtostr (number, sizeof number,
                  lmd_license_limiter_get_audio_seconds (self->limiter, LICENSE_CLIENT));
  text = g_strdup_printf ("{\"day\":%" G_GINT64_FORMAT ",\"audio_seconds\":%s}\n",
                          lmd_license_clock_now () / 86400, number);
  g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
}

static void
load_quota (LmdLicenseService *self)
{
  g_autofree char *path = g_build_filename (self->state_dir, "quota.json", NULL);
  g_autoptr (JsonNode) root = lmd_json_parse_file (path, LMD_JSON_MAX_RECORD_BYTES, NULL);
  JsonObject *obj;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  obj = json_node_get_object (root);
  lmd_license_limiter_restore_audio_seconds (
    self->limiter, LICENSE_CLIENT, json_object_get_int_member_with_default (obj, "day", 0),
    json_object_get_double_member_with_default (obj, "audio_seconds", 0));
}

/* ---- validation with the upstream ------------------------------------------------------- */

typedef struct {
  LmdLicenseUpstream *upstream; /* owned ref */
  char *key_id;                 /* owned */
} ValidateJob;

static void
validate_job_free (ValidateJob *job)
{
  lmd_license_upstream_unref (job->upstream);
  g_free (job->key_id);
  g_free (job);
}

static void
validation_free (LmdLicenseValidation *v)
{
  lmd_license_validation_clear (v);
  g_free (v);
}

static void
validate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ValidateJob *job = task_data;
  LmdLicenseValidation *v = g_new0 (LmdLicenseValidation, 1);
  GError *error = NULL;

  if (!lmd_license_upstream_validate (job->upstream, job->key_id, v, &error))
    {
      validation_free (v);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, v, (GDestroyNotify) validation_free);
}

static void
log_grace (LmdLicenseService *self, const char *why, gint64 now)
{
  gint64 ends = self->last_good_at + self->grace_period_s;
  g_autofree char *when = format_time (ends);

  if (self->refused)
    g_warning ("the license server is unreachable (%s); the license stays refused "
               "as it last answered", why);
  else if (self->last_good_at == 0)
    g_warning ("the license server is unreachable (%s) and this license was never "
               "validated; requests get 503 until it answers", why);
  else if (now < ends)
    g_warning ("the license server is unreachable (%s); grace period active, "
               "%" G_GINT64_FORMAT " h %02" G_GINT64_FORMAT " min left (ends %s)",
               why, (ends - now) / 3600, (ends - now) % 3600 / 60, when);
  else
    g_warning ("the license server is unreachable (%s) and the grace period ended at "
                "%s; refusing requests", why, when);
}

static void
validate_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (source);
  g_autoptr (GError) error = NULL;
  LmdLicenseValidation *v = g_task_propagate_pointer (G_TASK (result), &error);
  gint64 now = lmd_license_clock_now ();
  gboolean was_unreachable = self->attempted && !self->reachable && self->last_good_at > 0;

  self->validating = FALSE;
  self->attempted = TRUE;
  if (v == NULL)
    {
      self->reachable = FALSE;
      self->validate_failures++;
      log_grace (self, error->message, now);
      schedule_validation (self, lmd_license_backoff_delay (self->validate_failures,
                                                            VALIDATE_RETRY_BASE_S,
                                                            MIN (VALIDATE_RETRY_MAX_S,
                                                                 self->validate_interval_s)));
      return;
    }
  self->reachable = TRUE;
  self->validate_failures = 0;
  if (v->valid && !v->revoked)
    {
      self->refused = FALSE;
      self->last_good_at = now;
      self->grace_over_logged = FALSE;
      self->upstream_expires_at = v->expires_at;
      self->has_upstream_limits = v->has_limits;
      self->upstream_limits = v->limits;
      if (was_unreachable)
        g_message ("the license server is reachable again; grace period cleared");
      else
        g_info ("validated with the license server");
    }
  else
    {
      self->refused = TRUE;
      g_warning ("the license server %s license %s%s%s; refusing requests",
                  v->revoked ? "revoked" : "does not accept", self->key->key_id,
                  v->message != NULL ? ": " : "", v->message != NULL ? v->message : "");
    }
  save_cache (self);
  validation_free (v);
  schedule_validation (self, self->validate_interval_s);
}

void
lmd_license_service_revalidate (LmdLicenseService *self)
{
  g_autoptr (GTask) task = NULL;
  ValidateJob *job;

  g_return_if_fail (LMD_IS_LICENSE_SERVICE (self));
  if (self->upstream == NULL || self->key == NULL || self->validating)
    return;
  clear_timer (&self->validate_timer);
  self->validating = TRUE;
  job = g_new0 (ValidateJob, 1);
  job->upstream = lmd_license_upstream_ref (self->upstream);
  job->key_id = g_strdup (self->key->key_id);
  task = g_task_new (self, NULL, validate_done, NULL);
  g_task_set_source_tag (task, lmd_license_service_revalidate);
  g_task_set_task_data (task, job, (GDestroyNotify) validate_job_free);
  g_task_run_in_thread (task, validate_thread);
}

static gboolean
validate_tick (gpointer user_data)
{
  LmdLicenseService *self = user_data;

  g_clear_pointer (&self->validate_timer, g_source_unref);
  lmd_license_service_revalidate (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_validation (LmdLicenseService *self, guint delay_s)
{
  clear_timer (&self->validate_timer);
  self->validate_timer = g_timeout_source_new_seconds (MAX (delay_s, 1u));
  g_source_set_callback (self->validate_timer, validate_tick, self, NULL);
  g_source_attach (self->validate_timer, self->context);
}

/* ---- usage upload ----------------------------------------------------------------------- */

typedef struct {
  LmdLicenseJournal *journal;   /* borrowed: the task holds the service, which owns it */
  LmdLicenseUpstream *upstream; /* owned ref */
  char *key_id;                 /* owned */
} FlushJob;

static void
flush_job_free (FlushJob *job)
{
  lmd_license_upstream_unref (job->upstream);
  g_free (job->key_id);
  g_free (job);
}

/* {"key_id":"...","records":[<line>,<line>...]}; lines that are not JSON objects are skipped */
static char *
build_usage_body (const char *key_id, GPtrArray *lines, guint *n_records)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  *n_records = 0;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "key_id");
  json_builder_add_string_value (b, key_id);
  json_builder_set_member_name (b, "records");
  json_builder_begin_array (b);
  for (guint i = 0; i < lines->len; i++)
    {
      JsonNode *record = lmd_json_parse (lines->pdata[i], -1, LMD_JSON_MAX_RECORD_BYTES, NULL);
      if (record == NULL || !JSON_NODE_HOLDS_OBJECT (record))
        {
          g_warning ("usage journal: skipping a record that is not a JSON object");
          g_clear_pointer (&record, json_node_unref);
          continue;
        }
      json_builder_add_value (b, record);
      (*n_records)++;
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

static void
flush_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  FlushJob *job = task_data;
  gssize sent = 0;

  for (guint batch = 0; batch < USAGE_BATCHES_PER_FLUSH; batch++)
    {
      g_autoptr (GPtrArray) lines = NULL;
      g_autofree char *body = NULL;
      GError *error = NULL;
      guint64 end = 0;
      guint n = 0;

      lines = lmd_license_journal_read_pending (job->journal, USAGE_BATCH, &end, &error);
      if (lines == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      if (lines->len == 0)
        break;
      body = build_usage_body (job->key_id, lines, &n);
      if (n > 0 && !lmd_license_upstream_post_usage (job->upstream, body, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      if (!lmd_license_journal_acknowledge (job->journal, end, &error))
        {
          g_task_return_error (task, error);
          return;
        }
      sent += n;
    }
  g_task_return_int (task, sent);
}

static void
flush_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (source);
  g_autoptr (GError) error = NULL;
  gssize sent = g_task_propagate_int (G_TASK (result), &error);

  self->flushing = FALSE;
  if (error != NULL)
    {
      guint delay;
      self->flush_failures++;
      delay = lmd_license_backoff_delay (self->flush_failures, FLUSH_BACKOFF_BASE_S,
                                         MAX (self->flush_interval_s, FLUSH_BACKOFF_BASE_S));
      g_warning ("usage upload failed (%s); %" G_GUINT64_FORMAT
                 " bytes kept on disk, next try in %u s", error->message,
                 lmd_license_journal_get_pending_bytes (self->journal), delay);
      schedule_flush (self, delay);
      return;
    }
  if (sent > 0)
    g_debug ("%" G_GSSIZE_FORMAT " usage records delivered", sent);
  self->flush_failures = 0;
  schedule_flush (self, self->flush_interval_s);
}

void
lmd_license_service_flush_usage (LmdLicenseService *self)
{
  g_autoptr (GTask) task = NULL;
  FlushJob *job;

  g_return_if_fail (LMD_IS_LICENSE_SERVICE (self));
  save_quota (self);
  if (self->journal == NULL || self->upstream == NULL || self->flushing)
    return;
  clear_timer (&self->flush_timer);
  if (lmd_license_journal_get_pending_bytes (self->journal) == 0)
    {
      schedule_flush (self, self->flush_interval_s);
      return;
    }
  self->flushing = TRUE;
  job = g_new0 (FlushJob, 1);
  job->journal = self->journal;
  job->upstream = lmd_license_upstream_ref (self->upstream);
  job->key_id = g_strdup (self->key->key_id);
  task = g_task_new (self, NULL, flush_done, NULL);
  g_task_set_source_tag (task, lmd_license_service_flush_usage);
  g_task_set_task_data (task, job, (GDestroyNotify) flush_job_free);
  g_task_run_in_thread (task, flush_thread);
}

static gboolean
flush_tick (gpointer user_data)
{
  LmdLicenseService *self = user_data;

  g_clear_pointer (&self->flush_timer, g_source_unref);
  lmd_license_service_flush_usage (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_flush (LmdLicenseService *self, guint delay_s)
{
  clear_timer (&self->flush_timer);
  self->flush_timer = g_timeout_source_new_seconds (MAX (delay_s, 1u));
  g_source_set_callback (self->flush_timer, flush_tick, self, NULL);
  g_source_attach (self->flush_timer, self->context);
}

gboolean
lmd_license_service_is_busy (LmdLicenseService *self)
{
  return self->validating || self->flushing;
}

guint
lmd_license_service_get_flush_failures (LmdLicenseService *self)
{
  return self->flush_failures;
}

/* ---- LmdLicense ------------------------------------------------------------------------- */

static gboolean
read_config_uint (GKeyFile *config, const char *key, gint64 fallback, gint64 min, guint *out,
                  GError **error)
{
  gint64 v;

  if (!lmd_config_get_int (config, "license", key, fallback, &v, error))
    return FALSE;
  if (v < min || v > G_MAXINT32)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [license] %s: must be between %" G_GINT64_FORMAT " and %d", key, min,
                   G_MAXINT32);
      return FALSE;
    }
  *out = (guint) v;
  return TRUE;
}

static gboolean
load_public_keys (LmdLicenseService *self, GKeyFile *config, GError **error)
{
  g_auto (GStrv) files = lmd_config_get_list (config, "license", "public_keys");
  const char *env = g_getenv ("LICENSE_PUBLIC_KEYS");
  g_auto (GStrv) env_files = env != NULL ? g_strsplit (env, ",", -1) : NULL;

  for (guint i = 0; files[i] != NULL; i++)
    if (files[i][0] != '\0' && !lmd_license_keyring_add_file (self->keyring, files[i], error))
      return FALSE;
  for (guint i = 0; env_files != NULL && env_files[i] != NULL; i++)
    {
      g_strstrip (env_files[i]);
      if (env_files[i][0] != '\0'
          && !lmd_license_keyring_add_file (self->keyring, env_files[i], error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
load_api_keys (LmdLicenseService *self, GKeyFile *config, GError **error)
{
  g_auto (GStrv) hashes = lmd_config_get_list (config, "license", "api_keys_sha256");

  for (guint i = 0; hashes[i] != NULL; i++)
    {
      guint8 hash[HASH_BYTES];
      size_t len = 0;
      const char *end = NULL;
      const char *hex = g_strstrip (hashes[i]);

      if (hex[0] == '\0')
        continue;
      if (strlen (hex) != HASH_BYTES * 2
          || sodium_hex2bin (hash, sizeof hash, hex, strlen (hex), NULL, &len, &end) != 0
          || len != HASH_BYTES || *end != '\0')
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [license] api_keys_sha256: entry %u is not 64 hex digits", i + 1);
          return FALSE;
        }
      g_array_append_vals (self->api_key_hashes, hash, 1);
    }
  return TRUE;
}

static gboolean
lmd_license_service_setup (LmdLicense *license, GKeyFile *config, GError **error)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);
  g_autofree char *key_text = lmd_config_get_string (config, "license", "key", NULL);
  g_autofree char *host = lmd_config_get_string (config, "server", "host", "127.0.0.1");
  g_autofree char *upstream_url = lmd_config_get_string (config, "license", "upstream_url", NULL);
  g_autofree char *default_state = g_build_filename (g_get_user_state_dir (), "lightning-mediad",
                                                     "license", NULL);
  g_autoptr (GError) key_error = NULL;
  gboolean allow_insecure = FALSE;
  gint64 now = lmd_license_clock_now ();

  g_return_val_if_fail (!self->set_up, FALSE);
  self->set_up = TRUE;
  self->context = g_main_context_ref_thread_default ();
  self->state_dir = lmd_config_get_string (config, "license", "state_dir", default_state);
  if (!read_config_uint (config, "flush_interval_s", 300, 1, &self->flush_interval_s, error)
      || !read_config_uint (config, "grace_period_s", 86400, 0, &self->grace_period_s, error)
      || !read_config_uint (config, "validate_interval_s", 3600, 1, &self->validate_interval_s,
                            error)
      || !lmd_config_get_boolean (config, "license", "allow_insecure_upstream", FALSE,
                                  &allow_insecure, error)
      || !load_public_keys (self, config, error) || !load_api_keys (self, config, error))
    return FALSE;
  /* re-validate well within the grace period, so that one missed answer never ends it */
  self->validate_interval_s = MAX (1u, MIN (self->validate_interval_s, self->grace_period_s / 2));

  if (key_text != NULL)
    g_strstrip (key_text);
  if (key_text == NULL || key_text[0] == '\0')
    {
      if (!lmd_config_host_is_loopback (host))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE,
                       "license: no license key configured (LICENSE_KEY or [license] key), and "
                       "the server is bound to '%s', not loopback", host);
          return FALSE;
        }
      self->development_mode = TRUE;
      g_warning ("************************************************************");
      g_warning ("DEVELOPMENT MODE: no license key; serving loopback (%s) only, %s",
                 host, self->api_key_hashes->len > 0 ? "configured API keys only"
                                                     : "without authentication or limits");
      g_warning ("************************************************************");
      return TRUE;
    }

  if (lmd_license_keyring_get_size (self->keyring) == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE,
                   "license: no trusted public key ([license] public_keys or "
                   "LICENSE_PUBLIC_KEYS) to verify the license key with");
      return FALSE;
    }
  self->key = lmd_license_key_parse (key_text, &key_error);
  if (self->key == NULL || !lmd_license_key_verify (self->key, self->keyring, now, &key_error))
    {
      gboolean expired = g_error_matches (key_error, LMD_LICENSE_KEY_ERROR,
                                          LMD_LICENSE_KEY_ERROR_EXPIRED);
      g_set_error (error, LMD_ERROR,
                   expired ? LMD_ERROR_LICENSE_EXPIRED : LMD_ERROR_INVALID_LICENSE,
                   "license: %s", key_error->message);
      return FALSE;
    }
  hash_key (key_text, self->license_hash);
  g_free (self->status_licensee);
  self->status_licensee = g_strdup (self->key->licensee);

  if (upstream_url != NULL && upstream_url[0] != '\0')
    {
      self->upstream = lmd_license_upstream_new (upstream_url, allow_insecure, key_text, error);
      if (self->upstream == NULL)
        {
          g_prefix_error (error, "license: [license] upstream_url: ");
          return FALSE;
        }
      self->journal = lmd_license_journal_open (self->state_dir, error);
      if (self->journal == NULL)
        {
          g_prefix_error (error, "license: ");
          return FALSE;
        }
      load_cache (self);
      load_quota (self);
    }
  {
    g_autofree char *until = format_time (self->key->expires_at);
    g_message ("key %s for \"%s\" valid until %s%s", self->key->key_id,
               self->key->licensee, until,
               self->upstream != NULL ? "; checking with the license server" : "");
  }
  if (self->upstream != NULL)
    {
      lmd_license_service_revalidate (self);
      schedule_flush (self, self->flush_interval_s);
    }
  return TRUE;
}

static void
ticket_free (LmdLicenseTicket *t)
{
  g_free (t->client_id);
  g_free (t->feature);
  g_free (t->request_id);
  g_free (t->store_ticket);
  g_free (t);
}

static LmdLicenseTicket *
ticket_new (char *client_id /* taken */, const char *feature, const char *request_id)
{
  LmdLicenseTicket *ticket = g_new0 (LmdLicenseTicket, 1);

  ticket->client_id = client_id;
  ticket->feature = g_strdup (feature != NULL ? feature : "batch");
  ticket->request_id = g_strdup (request_id);
  return ticket;
}

/* The client id of @api_key, or NULL when it is not a configured key.  Every configured hash
 * is compared, whether or not an earlier one matched. */
static char *
authenticate_hash (LmdLicenseService *self, const guint8 hash[HASH_BYTES])
{
  int found = -1; /* -2 = the license key, >= 0 = that API key */

  if (self->key != NULL && sodium_memcmp (hash, self->license_hash, HASH_BYTES) == 0)
    found = -2;
  for (guint i = 0; i < self->api_key_hashes->len; i++)
    {
      const guint8 *h = &g_array_index (self->api_key_hashes, guint8, i * HASH_BYTES);
      if (sodium_memcmp (hash, h, HASH_BYTES) == 0 && found == -1)
        found = (int) i;
    }
  if (found == -1)
    return NULL;
  if (found == -2)
    return g_strdup (LICENSE_CLIENT);
  {
    char hex[9];
    sodium_bin2hex (hex, sizeof hex, &g_array_index (self->api_key_hashes, guint8,
                                                     (guint) found * HASH_BYTES), 4);
    return g_strconcat ("api:", hex, NULL);
  }
}

static char *
authenticate (LmdLicenseService *self, const char *api_key)
{
  guint8 hash[HASH_BYTES];
  char *client_id;

  hash_key (api_key, hash);
  client_id = authenticate_hash (self, hash);
  sodium_memzero (hash, sizeof hash);
  return client_id;
}

/* Names in the shared store: one Redis may serve deployments of several licenses, so the
 * license's key id qualifies the client (API key) and is the quota's id. */
static char *
store_client_id (LmdLicenseService *self, const char *client_id)
{
  return g_strconcat (self->key != NULL ? self->key->key_id : DEVELOPMENT_CLIENT, "/", client_id,
                      NULL);
}

static const char *
store_quota_id (LmdLicenseService *self)
{
  return self->key != NULL ? self->key->key_id : DEVELOPMENT_CLIENT;
}

/* Everything an admission checks but the per-key limits: (transfer full) the client id,
 * or NULL with @error. */
static char *
admit_check (LmdLicenseService *self, const char *api_key, const char *feature,
             const char *request_id, guint *retry_after_s, GError **error)
{
  g_autofree char *client_id = NULL;
  gboolean open_door = self->development_mode && self->api_key_hashes->len == 0;

  *retry_after_s = 0;
  if (!self->set_up)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE, "the license is not set up");
      return NULL;
    }
  if (open_door)
    client_id = g_strdup (DEVELOPMENT_CLIENT);
  else if (api_key == NULL || api_key[0] == '\0')
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE,
                   "a key is required: Authorization: Token <key>");
      return NULL;
    }
  else if ((client_id = authenticate (self, api_key)) == NULL)
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id, "license: refused an unknown key");
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE, "unknown key");
      return NULL;
    }
  if (!check_license (self, lmd_license_clock_now (), retry_after_s, error))
    return NULL;
  if (self->key != NULL && !lmd_license_key_has_feature (self->key, feature))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FEATURE_NOT_LICENSED,
                   "the license does not include the feature '%s'", feature);
      return NULL;
    }
  return g_steal_pointer (&client_id);
}

/* The per-key limits counted in this process's memory. */
static LmdLicenseTicket *
admit_locally (LmdLicenseService *self, char *client_id /* taken */, const char *feature,
               const char *request_id, guint *retry_after_s, GError **error)
{
  LmdLicenseTicket *ticket;

  if (!self->development_mode
      && !lmd_license_limiter_acquire (self->limiter, client_id, LICENSE_CLIENT,
                                       effective_limits (self), retry_after_s, error))
    {
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id, "license: %s refused: %s", client_id,
                       (*error)->message);
      g_free (client_id);
      return NULL;
    }
  ticket = ticket_new (client_id, feature, request_id);
  ticket->limited = !self->development_mode;
  return ticket;
}

/* The synchronous admission counts in this process only, limit store or not (its callers
 * cannot wait for another process); transports use the asynchronous one. */
static LmdLicenseTicket *
lmd_license_service_admit (LmdLicense *license, const char *api_key, const char *feature,
                           const char *request_id, guint *retry_after_s, GError **error)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);
  char *client_id = admit_check (self, api_key, feature, request_id, retry_after_s, error);

  if (client_id == NULL)
    return NULL;
  return admit_locally (self, client_id, feature, request_id, retry_after_s, error);
}

/* ---- admission through the shared limit store ------------------------------------------ */

/* An admission waiting for the shared store: the ticket it will be if the store admits it
 * (store_ticket set, the name of its slot there), and the retry hint of a refusal. */
typedef struct {
  LmdLicenseTicket *ticket; /* owned until handed to the caller; NULL once handed */
  guint retry_after_s;
} StoreAdmission;

static void
store_admission_free (StoreAdmission *a)
{
  g_clear_pointer (&a->ticket, ticket_free);
  g_free (a);
}

static void
note_store_down (LmdLicenseService *self, const char *request_id, const char *why)
{
  self->local_admissions++;
  if (self->store_down)
    return;
  self->store_down = TRUE;
  LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, request_id,
                   "license: %s; counting per-key limits in this process until the %s store "
                   "answers again (each process then allows the whole limit)",
                   why, lmd_limit_store_get_name (self->limit_store));
}

static void
note_store_up (LmdLicenseService *self)
{
  if (!self->store_down)
    return;
  self->store_down = FALSE;
  g_message ("per-key limits counted in the shared %s store again",
             lmd_limit_store_get_name (self->limit_store));
}

/* The store's count of today's audio seconds, so that this process's own count (what it
 * falls back to, and what quota.json keeps) never lags behind it. */
static void
follow_store_quota (LmdLicenseService *self, double audio_seconds_today)
{
  if (audio_seconds_today > lmd_license_limiter_get_audio_seconds (self->limiter, LICENSE_CLIENT))
    lmd_license_limiter_restore_audio_seconds (self->limiter, LICENSE_CLIENT,
                                               lmd_license_clock_now () / 86400,
                                               audio_seconds_today);
}

static void
store_acquire_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  LmdLicenseService *self = g_task_get_source_object (task);
  StoreAdmission *a = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  double today = -1;
  LmdLicenseTicket *ticket;

  if (lmd_limit_store_acquire_finish (LMD_LIMIT_STORE (source), result, &a->retry_after_s, &today,
                                      &error))
    {
      note_store_up (self);
      follow_store_quota (self, today);
      g_task_return_pointer (task, g_steal_pointer (&a->ticket), NULL);
      return;
    }
  if (g_error_matches (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE))
    {
      /* fail open: the store is down, not the license: count here until it is back */
      GError *local_error = NULL;
      note_store_down (self, a->ticket->request_id, error->message);
      ticket = admit_locally (self, g_steal_pointer (&a->ticket->client_id), a->ticket->feature,
                              a->ticket->request_id, &a->retry_after_s, &local_error);
      if (ticket == NULL)
        g_task_return_error (task, local_error);
      else
        g_task_return_pointer (task, ticket, NULL);
      return;
    }
  note_store_up (self);
  follow_store_quota (self, today);
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, a->ticket->request_id, "license: %s refused: %s",
                   a->ticket->client_id, error->message);
  g_task_return_error (task, g_steal_pointer (&error));
}

static void
lmd_license_service_admit_async (LmdLicense *license, const char *api_key, const char *feature,
                                 const char *request_id, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  StoreAdmission *a = g_new0 (StoreAdmission, 1);
  const LmdLicenseLimits *limits;
  LmdLimitStoreLimits shared;
  GError *error = NULL;
  LmdLicenseTicket *ticket;
  char *client_id;

  g_task_set_source_tag (task, lmd_license_service_admit_async);
  /* a ticket granted after the caller gave up is still returned: the caller completes it */
  g_task_set_check_cancellable (task, FALSE);
  g_task_set_task_data (task, a, (GDestroyNotify) store_admission_free);
  client_id = admit_check (self, api_key, feature, request_id, &a->retry_after_s, &error);
  if (client_id == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (self->limit_store == NULL || self->development_mode)
    {
      ticket = admit_locally (self, client_id, feature, request_id, &a->retry_after_s, &error);
      if (ticket == NULL)
        g_task_return_error (task, error);
      else
        g_task_return_pointer (task, ticket, NULL);
      return;
    }
  if (!lmd_limit_store_is_available (self->limit_store))
    {
      note_store_down (self, request_id, "the shared limit store is unreachable");
      ticket = admit_locally (self, client_id, feature, request_id, &a->retry_after_s, &error);
      if (ticket == NULL)
        g_task_return_error (task, error);
      else
        g_task_return_pointer (task, ticket, NULL);
      return;
    }
  limits = effective_limits (self);
  shared.rpm = limits->rpm;
  shared.concurrency = limits->concurrency;
  shared.audio_hours_per_day = limits->audio_hours_per_day;
  a->ticket = ticket_new (client_id, feature, request_id);
  a->ticket->store_ticket = g_uuid_string_random ();
  {
    g_autofree char *store_client = store_client_id (self, a->ticket->client_id);
    lmd_limit_store_acquire_async (self->limit_store, store_client, store_quota_id (self),
                                   &shared, a->ticket->store_ticket, NULL, store_acquire_done,
                                   g_steal_pointer (&task));
  }
}

static LmdLicenseTicket *
lmd_license_service_admit_finish (LmdLicense *license, GAsyncResult *result,
                                  guint *retry_after_s, GError **error)
{
  StoreAdmission *a;

  g_return_val_if_fail (g_task_is_valid (result, license), NULL);
  a = g_task_get_task_data (G_TASK (result));
  *retry_after_s = a->retry_after_s;
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
lmd_license_service_set_limit_store (LmdLicense *license, LmdLimitStore *store)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);

  g_set_object (&self->limit_store, store);
  if (!self->development_mode)
    g_message ("per-key limits (rate, concurrency, daily audio) shared through %s; this "
               "process counts them itself while it is unreachable",
               lmd_limit_store_get_name (store));
}

static char *
usage_record (LmdLicenseService *self, LmdLicenseTicket *t, double audio_seconds, guint status)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *id = g_uuid_string_random ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, id);
  json_builder_set_member_name (b, "ts");
  json_builder_add_int_value (b, lmd_license_clock_now ());
  json_builder_set_member_name (b, "key_id");
  json_builder_add_string_value (b, self->key->key_id);
  json_builder_set_member_name (b, "client");
  json_builder_add_string_value (b, t->client_id);
  json_builder_set_member_name (b, "request_id");
  json_builder_add_string_value (b, t->request_id != NULL ? t->request_id : "");
  json_builder_set_member_name (b, "feature");
  json_builder_add_string_value (b, t->feature);
  json_builder_set_member_name (b, "audio_seconds");
  json_builder_add_double_value (b, audio_seconds);
  json_builder_set_member_name (b, "status");
  json_builder_add_int_value (b, status);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

static void
lmd_license_service_complete (LmdLicense *license, LmdLicenseTicket *ticket, double audio_seconds,
                              guint status)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);

  if (!(audio_seconds >= 0) || audio_seconds > 1e9)
    audio_seconds = 0;
  if (ticket->limited)
    lmd_license_limiter_release (self->limiter, ticket->client_id, LICENSE_CLIENT, audio_seconds);
  else if (ticket->store_ticket != NULL)
    {
      g_autofree char *store_client = store_client_id (self, ticket->client_id);
      lmd_license_limiter_restore_audio_seconds (
        self->limiter, LICENSE_CLIENT, lmd_license_clock_now () / 86400,
        lmd_license_limiter_get_audio_seconds (self->limiter, LICENSE_CLIENT) + audio_seconds);
      lmd_limit_store_release (self->limit_store, store_client, store_quota_id (self),
                               ticket->store_ticket, audio_seconds);
    }
  if (ticket->limited && self->limit_store != NULL && audio_seconds > 0)
    {
      /* admitted while the store was unreachable: its audio still counts for everyone (the
       * store keeps it until it is reachable again) */
      g_autofree char *store_client = store_client_id (self, ticket->client_id);
      lmd_limit_store_release (self->limit_store, store_client, store_quota_id (self), NULL,
                               audio_seconds);
    }
  if (self->journal != NULL && self->key != NULL)
    {
      g_autofree char *record = usage_record (self, ticket, audio_seconds, status);
      g_autoptr (GError) error = NULL;
      if (!lmd_license_journal_append (self->journal, record, &error))
        LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, ticket->request_id,
                         "license: usage record lost: %s", error->message);
    }
  ticket_free (ticket);
}

/* Usage of a request that a client of the license role admitted itself while it could not
 * reach this service: counted against the day's quota and journalled like any other. */
static gboolean
lmd_license_service_record_usage (LmdLicense *license, const guint8 *key_sha256,
                                  const char *feature, const char *request_id,
                                  double audio_seconds, guint status, GError **error)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);
  LmdLicenseTicket ticket = { 0 };
  g_autofree char *client_id = NULL;

  if (self->development_mode && self->api_key_hashes->len == 0)
    client_id = g_strdup (DEVELOPMENT_CLIENT);
  else if ((client_id = authenticate_hash (self, key_sha256)) == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_LICENSE, "unknown key hash");
      return FALSE;
    }
  if (!(audio_seconds >= 0) || audio_seconds > 1e9)
    audio_seconds = 0;
  if (!self->development_mode)
    {
      gint64 today = lmd_license_clock_now () / 86400;
      double used = lmd_license_limiter_get_audio_seconds (self->limiter, LICENSE_CLIENT);
      lmd_license_limiter_restore_audio_seconds (self->limiter, LICENSE_CLIENT, today,
                                                 used + audio_seconds);
      if (self->limit_store != NULL && audio_seconds > 0)
        {
          g_autofree char *store_client = store_client_id (self, client_id);
          lmd_limit_store_release (self->limit_store, store_client, store_quota_id (self), NULL,
                                   audio_seconds);
        }
    }
  if (self->journal != NULL && self->key != NULL)
    {
      g_autofree char *record = NULL;
      ticket.client_id = client_id;
      ticket.feature = (char *) (feature != NULL ? feature : "batch");
      ticket.request_id = (char *) request_id;
      record = usage_record (self, &ticket, audio_seconds, status);
      if (!lmd_license_journal_append (self->journal, record, error))
        return FALSE;
    }
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, request_id,
                   "license: usage of %s admitted by a client while this service was "
                   "unreachable: %.1f s of audio", client_id, audio_seconds);
  return TRUE;
}

static gboolean
lmd_license_service_allows (LmdLicense *license, LmdLicenseTicket *ticket, const char *feature)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);

  return self->key == NULL || lmd_license_key_has_feature (self->key, feature);
}

static void
lmd_license_service_get_status (LmdLicense *license, LmdLicenseStatus *status)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (license);
  gint64 now = lmd_license_clock_now ();
  guint retry = 0;

  status->development_mode = self->development_mode;
  status->service_reachable = TRUE;
  if (self->journal != NULL)
    status->usage_pending_bytes = lmd_license_journal_get_pending_bytes (self->journal);
  if (self->development_mode || self->key == NULL)
    return;
  status->license_valid = check_license (self, now, &retry, NULL);
  status->valid_until = effective_expiry (self);
  status->grace_period_active = grace_active (self, now);
  status->grace_ends_at = status->grace_period_active ? self->last_good_at + self->grace_period_s : 0;
  status->licensee = self->status_licensee;
  if (self->limit_store != NULL)
    {
      status->limits_store = lmd_limit_store_get_name (self->limit_store);
      status->limits_shared = lmd_limit_store_is_available (self->limit_store);
      status->limits_local_admissions = self->local_admissions;
    }
}

static void
lmd_license_service_iface_init (LmdLicenseInterface *iface)
{
  iface->setup = lmd_license_service_setup;
  iface->admit = lmd_license_service_admit;
  iface->complete = lmd_license_service_complete;
  iface->get_status = lmd_license_service_get_status;
  iface->record_usage = lmd_license_service_record_usage;
  iface->allows = lmd_license_service_allows;
  iface->admit_async = lmd_license_service_admit_async;
  iface->admit_finish = lmd_license_service_admit_finish;
  iface->set_limit_store = lmd_license_service_set_limit_store;
}

/* ---- GObject ---------------------------------------------------------------------------- */

static void
lmd_license_service_dispose (GObject *object)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (object);

  clear_timer (&self->validate_timer);
  clear_timer (&self->flush_timer);
  G_OBJECT_CLASS (lmd_license_service_parent_class)->dispose (object);
}

static void
lmd_license_service_finalize (GObject *object)
{
  LmdLicenseService *self = LMD_LICENSE_SERVICE (object);

  save_quota (self);
  g_clear_pointer (&self->key, lmd_license_key_unref);
  sodium_memzero (self->license_hash, sizeof self->license_hash);
  g_array_unref (self->api_key_hashes);
  lmd_license_keyring_free (self->keyring);
  lmd_license_limiter_free (self->limiter);
  g_clear_object (&self->limit_store);
  g_clear_pointer (&self->journal, lmd_license_journal_close);
  g_clear_pointer (&self->upstream, lmd_license_upstream_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self->state_dir);
  g_free (self->status_licensee);
  G_OBJECT_CLASS (lmd_license_service_parent_class)->finalize (object);
}

static void
lmd_license_service_class_init (LmdLicenseServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lmd_license_service_dispose;
  object_class->finalize = lmd_license_service_finalize;
}

static void
lmd_license_service_init (LmdLicenseService *self)
{
  if (sodium_init () < 0)
    g_warning ("libsodium failed to initialise");
  self->api_key_hashes = g_array_new (FALSE, TRUE, HASH_BYTES);
  self->keyring = lmd_license_keyring_new ();
  self->limiter = lmd_license_limiter_new ();
}

G_MODULE_EXPORT const LmdPluginInfo *lmd_plugin_describe (void);

G_MODULE_EXPORT const LmdPluginInfo *
lmd_plugin_describe (void)
{
  static const LmdPluginInfo info = {
    LMD_PLUGIN_API_VERSION, "license",
    "Licensing: offline-verifiable keys, upstream validation, usage metering and limits",
    lmd_license_service_get_type,
  };
  return &info;
}
