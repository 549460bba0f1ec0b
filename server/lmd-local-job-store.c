/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-jobs"

#include "lmd-local-job-store.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lmd-error.h"
#include "lmd-job-format.h"
#include "lmd-log.h"

struct _LmdLocalJobStore {
  GObject parent_instance;

  LmdJobConfig config;
  gboolean temporary;  /* the spool is a private temporary directory (ephemeral port) */
  char *pending_dir;   /* owned */
  char *done_dir;      /* owned */
  int lock_fd;

  GMutex lock;
  GQueue waiting;      /* char* job ids not taken, oldest first */
  GHashTable *pending; /* job id → guint64* audio bytes (0 once completed): every pending job */
  guint64 pending_bytes;
  gint64 last_expiry;  /* monotonic µs of the last sweep of done/ */
};

static void lmd_local_job_store_iface_init (LmdJobStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdLocalJobStore, lmd_local_job_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_JOB_STORE, lmd_local_job_store_iface_init))

static char *
path_of (const char *dir, const char *job_id, const char *suffix)
{
  g_autofree char *name = g_strconcat (job_id, suffix, NULL);
  return g_build_filename (dir, name, NULL);
}

typedef struct {
  char *id;
  gint64 created_at;
} Found;

static gint
found_compare (gconstpointer a, gconstpointer b)
{
  const Found *x = a, *y = b;

  if (x->created_at != y->created_at)
    return x->created_at < y->created_at ? -1 : 1;
  return strcmp (x->id, y->id);
}

/* Deletes documents older than the TTL.  Called with the lock held. */
static void
expire_documents (LmdLocalJobStore *self)
{
  g_autoptr (GDir) dir = g_dir_open (self->done_dir, 0, NULL);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const char *name;

  self->last_expiry = g_get_monotonic_time ();
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (self->done_dir, name, NULL);
      GStatBuf st;
      g_autofree char *id = g_strndup (name, strlen (name) - (g_str_has_suffix (name, ".json") ? 5 : 0));

      if (g_stat (path, &st) != 0 || now - (gint64) st.st_mtime < (gint64) self->config.result_ttl_s)
        continue;
      if (g_hash_table_contains (self->pending, id))
        continue; /* still being delivered */
      g_unlink (path);
    }
}

/* Removes @path and everything under it (a private temporary spool). */
static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static gboolean
local_setup (LmdJobStore *store, GKeyFile *config, GError **error)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (store);
  g_autofree char *lock_path = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GArray) found = g_array_new (FALSE, FALSE, sizeof (Found));
  const char *name;

  lmd_job_config_clear (&self->config);
  if (!lmd_job_config_load (&self->config, config, error))
    return FALSE;
  if (self->config.dir == NULL)
    {
      /* The default spool is per port, so that two servers on one machine (each on its own
       * port) both keep jobs.  A server on an ephemeral port (0) has no identity a restart
       * could find again: its spool is a private temporary directory, removed when it stops. */
      gint64 port = g_key_file_get_int64 (config, "server", "port", NULL);

      if (port > 0)
        {
          g_autofree char *leaf = g_strdup_printf ("jobs-%" G_GINT64_FORMAT, port);
          self->config.dir = g_build_filename (g_get_user_state_dir (), "lightning-mediad", leaf, NULL);
        }
      else
        {
          self->config.dir = g_dir_make_tmp ("lightning-mediad-jobs-XXXXXX", error);
          if (self->config.dir == NULL)
            return FALSE;
          self->temporary = TRUE;
        }
    }
  self->pending_dir = g_build_filename (self->config.dir, "pending", NULL);
  self->done_dir = g_build_filename (self->config.dir, "done", NULL);
  if (g_mkdir_with_parents (self->pending_dir, 0700) != 0 || g_mkdir_with_parents (self->done_dir, 0700) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "config [jobs] dir: cannot create %s: %s", self->config.dir, g_strerror (saved));
      return FALSE;
    }
  lock_path = g_build_filename (self->config.dir, "lock", NULL);
  self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (self->lock_fd < 0 || flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "config [jobs] dir: %s is in use by another process (%s)", self->config.dir,
                   g_strerror (saved));
      return FALSE;
    }

  /* resume what a previous process left */
  dir = g_dir_open (self->pending_dir, 0, error);
  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (self->pending_dir, name, NULL);
      g_autofree char *text = NULL;
      g_autoptr (LmdJob) job = NULL;
      g_autoptr (GError) local_error = NULL;
      g_autofree char *audio_path = NULL;
      g_autofree char *done_path = NULL;
      GStatBuf st;
      guint64 *bytes;
      Found f;

      if (!g_str_has_suffix (name, ".json"))
        {
          /* audio of a job whose description never got written, or a temporary file */
          g_autofree char *id = g_strndup (name, strcspn (name, "."));
          g_autofree char *meta = path_of (self->pending_dir, id, ".json");
          if (!g_file_test (meta, G_FILE_TEST_EXISTS))
            g_unlink (path);
          continue;
        }
      if (!g_file_get_contents (path, &text, NULL, &local_error) ||
          (job = lmd_job_from_meta_json (text, &local_error)) == NULL)
        {
          g_warning ("dropping unreadable %s: %s", path, local_error->message);
          g_unlink (path);
          continue;
        }
      audio_path = path_of (self->pending_dir, job->id, ".audio");
      done_path = path_of (self->done_dir, job->id, ".json");
      bytes = g_new0 (guint64, 1);
      if (!g_file_test (done_path, G_FILE_TEST_EXISTS) && g_stat (audio_path, &st) == 0)
        *bytes = (guint64) st.st_size;
      self->pending_bytes += *bytes;
      g_hash_table_insert (self->pending, g_strdup (job->id), bytes);
      f.id = g_strdup (job->id);
      f.created_at = job->created_at;
      g_array_append_val (found, f);
    }
  g_array_sort (found, found_compare);
  for (guint i = 0; i < found->len; i++)
    g_queue_push_tail (&self->waiting, g_array_index (found, Found, i).id);
  if (found->len > 0)
    g_info ("resuming %u unfinished jobs from %s", found->len, self->config.dir);
  g_info ("asynchronous jobs are spooled in %s%s", self->config.dir,
          self->temporary ? " (ephemeral port: a private directory, removed at exit)" : "");
  expire_documents (self);
  return TRUE;
}

static gboolean
local_submit (LmdJobStore *store, const LmdJob *job, GError **error)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (store);
  guint64 size = job->audio != NULL ? g_bytes_get_size (job->audio) : 0;
  g_autofree char *meta = lmd_job_to_meta_json (job);
  g_autofree char *meta_path = path_of (self->pending_dir, job->id, ".json");
  g_autofree char *audio_path = path_of (self->pending_dir, job->id, ".audio");
  guint64 *bytes;

  if (size > self->config.max_bytes)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is larger than the job spool's limit of %" G_GUINT64_FORMAT " MB",
                   self->config.max_bytes / (1024 * 1024));
      return FALSE;
    }
  g_mutex_lock (&self->lock);
  if (g_hash_table_size (self->pending) >= self->config.max_pending)
    {
      g_mutex_unlock (&self->lock);
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                   "%u jobs are waiting already; try again later", self->config.max_pending);
      return FALSE;
    }
  if (self->pending_bytes + size > self->config.max_bytes)
    {
      g_mutex_unlock (&self->lock);
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                   "the audio of waiting jobs would pass the limit of %" G_GUINT64_FORMAT " MB; try again later",
                   self->config.max_bytes / (1024 * 1024));
      return FALSE;
    }
  /* reserved while writing */
  bytes = g_new (guint64, 1);
  *bytes = size;
  self->pending_bytes += size;
  g_hash_table_insert (self->pending, g_strdup (job->id), bytes);
  g_mutex_unlock (&self->lock);

  /* the audio first: a description always has its audio */
  if ((job->audio != NULL &&
       !g_file_set_contents_full (audio_path, g_bytes_get_data (job->audio, NULL), (gssize) size,
                                  G_FILE_SET_CONTENTS_CONSISTENT, 0600, error)) ||
      !g_file_set_contents_full (meta_path, meta, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    {
      g_unlink (audio_path);
      g_mutex_lock (&self->lock);
      self->pending_bytes -= size;
      g_hash_table_remove (self->pending, job->id);
      g_mutex_unlock (&self->lock);
      g_prefix_error (error, "cannot spool the job: ");
      return FALSE;
    }
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->waiting, g_strdup (job->id));
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static LmdJob *
local_take (LmdJobStore *store, GError **error)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (store);

  for (;;)
    {
      g_autofree char *id = NULL;
      g_autofree char *meta_path = NULL;
      g_autofree char *audio_path = NULL;
      g_autofree char *done_path = NULL;
      g_autofree char *text = NULL;
      g_autoptr (GError) local_error = NULL;
      LmdJob *job;

      g_mutex_lock (&self->lock);
      if (g_get_monotonic_time () - self->last_expiry > 60 * G_USEC_PER_SEC)
        expire_documents (self);
      id = g_queue_pop_head (&self->waiting);
      g_mutex_unlock (&self->lock);
      if (id == NULL)
        return NULL;

      meta_path = path_of (self->pending_dir, id, ".json");
      audio_path = path_of (self->pending_dir, id, ".audio");
      done_path = path_of (self->done_dir, id, ".json");
      if (!g_file_get_contents (meta_path, &text, NULL, &local_error) ||
          (job = lmd_job_from_meta_json (text, &local_error)) == NULL)
        {
          g_warning ("dropping job %s: %s", id, local_error->message);
          lmd_job_store_release (store, id, NULL);
          continue;
        }
      if (g_file_test (done_path, G_FILE_TEST_EXISTS))
        g_file_get_contents (done_path, &job->document, NULL, NULL);
      if (job->document == NULL && job->url == NULL)
        {
          char *data = NULL;
          gsize len = 0;
          if (!g_file_get_contents (audio_path, &data, &len, &local_error))
            {
              g_autoptr (GError) lost = g_error_new (LMD_ERROR, LMD_ERROR_INTERNAL,
                                                     "the job's audio was lost: %s", local_error->message);
              LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, job->request_id, "%s: %s", id, lost->message);
              job->document = lmd_job_format_write (job, NULL, lost); /* in the job's shape */
            }
          else
            job->audio = g_bytes_new_take (data, len);
        }
      return job;
    }
}

static gboolean
local_complete (LmdJobStore *store, const char *job_id, const char *document, GError **error)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (store);
  g_autofree char *done_path = path_of (self->done_dir, job_id, ".json");
  g_autofree char *audio_path = path_of (self->pending_dir, job_id, ".audio");
  guint64 *bytes;

  if (!g_file_set_contents_full (done_path, document, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
    return FALSE;
  g_unlink (audio_path);
  g_mutex_lock (&self->lock);
  bytes = g_hash_table_lookup (self->pending, job_id);
  if (bytes != NULL)
    {
      self->pending_bytes -= *bytes;
      *bytes = 0;
    }
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
local_release (LmdJobStore *store, const char *job_id, GError **error)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (store);
  g_autofree char *meta_path = path_of (self->pending_dir, job_id, ".json");
  g_autofree char *audio_path = path_of (self->pending_dir, job_id, ".audio");
  guint64 *bytes;

  g_unlink (audio_path);
  g_unlink (meta_path);
  g_mutex_lock (&self->lock);
  bytes = g_hash_table_lookup (self->pending, job_id);
  if (bytes != NULL)
    {
      self->pending_bytes -= *bytes;
      g_hash_table_remove (self->pending, job_id);
    }
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static char *
local_lookup (LmdJobStore *store, const char *job_id, GError **error)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (store);
  g_autofree char *done_path = NULL;
  char *document = NULL;
  gboolean pending;

  if (!lmd_job_id_is_valid (job_id))
    return NULL;
  done_path = path_of (self->done_dir, job_id, ".json");
  if (g_file_get_contents (done_path, &document, NULL, NULL))
    return document;
  g_mutex_lock (&self->lock);
  pending = g_hash_table_contains (self->pending, job_id);
  g_mutex_unlock (&self->lock);
  return pending ? lmd_job_document_processing (job_id) : NULL;
}

static const char *
local_get_name (LmdJobStore *store)
{
  return "local";
}

static void
lmd_local_job_store_iface_init (LmdJobStoreInterface *iface)
{
  iface->setup = local_setup;
  iface->submit = local_submit;
  iface->take = local_take;
  iface->complete = local_complete;
  iface->release = local_release;
  iface->lookup = local_lookup;
  iface->get_name = local_get_name;
}

static void
lmd_local_job_store_finalize (GObject *object)
{
  LmdLocalJobStore *self = LMD_LOCAL_JOB_STORE (object);

  if (self->lock_fd >= 0)
    close (self->lock_fd);
  if (self->temporary && self->config.dir != NULL)
    remove_tree (self->config.dir);
  lmd_job_config_clear (&self->config);
  g_free (self->pending_dir);
  g_free (self->done_dir);
  g_queue_clear_full (&self->waiting, g_free);
  g_hash_table_unref (self->pending);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (lmd_local_job_store_parent_class)->finalize (object);
}

static void
lmd_local_job_store_class_init (LmdLocalJobStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_local_job_store_finalize;
}

static void
lmd_local_job_store_init (LmdLocalJobStore *self)
{
  self->lock_fd = -1;
  g_mutex_init (&self->lock);
  g_queue_init (&self->waiting);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

LmdLocalJobStore *
lmd_local_job_store_new (void)
{
  return g_object_new (LMD_TYPE_LOCAL_JOB_STORE, NULL);
}
