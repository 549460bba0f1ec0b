/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-worker-picker.h"

struct _LmdWorkerPicker {
  LmdState *state;        /* borrowed */
  guint quarantine_ms;
  GHashTable *in_flight;  /* owned: url → guint (requests sent, not answered) */
  GHashTable *failed;     /* owned: url → gint64* monotonic µs until which it is skipped */
  guint rotation;         /* round-robin among equal scores */
};

LmdWorkerPicker *
lmd_worker_picker_new (LmdState *state, guint quarantine_ms)
{
  LmdWorkerPicker *self = g_new0 (LmdWorkerPicker, 1);

  self->state = state;
  self->quarantine_ms = quarantine_ms;
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->failed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return self;
}

void
lmd_worker_picker_free (LmdWorkerPicker *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->in_flight);
  g_hash_table_unref (self->failed);
  g_free (self);
}

static gboolean
in_quarantine (LmdWorkerPicker *self, const char *url)
{
  gint64 *until = g_hash_table_lookup (self->failed, url);

  if (until == NULL)
    return FALSE;
  if (g_get_monotonic_time () < *until)
    return TRUE;
  g_hash_table_remove (self->failed, url);
  return FALSE;
}

static guint
local_in_flight (LmdWorkerPicker *self, const char *url)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (self->in_flight, url));
}

char *
lmd_worker_picker_choose (LmdWorkerPicker *self, const char *model, const char *exclude_url)
{
  g_autoptr (GPtrArray) workers = lmd_state_list_workers (self->state);
  g_autoptr (GPtrArray) usable = g_ptr_array_new ();
  gboolean any_has_model = FALSE;
  const LmdWorkerInfo *best = NULL;
  double best_score = G_MAXDOUBLE;

  for (guint i = 0; i < workers->len; i++)
    {
      LmdWorkerInfo *w = workers->pdata[i];
      if ((exclude_url != NULL && g_str_equal (w->url, exclude_url)) || in_quarantine (self, w->url))
        continue;
      g_ptr_array_add (usable, w);
      if (lmd_worker_info_has_model (w, model))
        any_has_model = TRUE;
    }
  if (usable->len == 0)
    return NULL;
  self->rotation++;
  for (guint k = 0; k < usable->len; k++)
    {
      const LmdWorkerInfo *w = usable->pdata[(k + self->rotation) % usable->len];
      double score;

      if (any_has_model && !lmd_worker_info_has_model (w, model))
        continue;
      score = lmd_worker_info_get_load (w) + (double) local_in_flight (self, w->url) / MAX (w->capacity, 1u);
      if (score < best_score)
        {
          best = w;
          best_score = score;
        }
    }
  return best != NULL ? g_strdup (best->url) : NULL;
}

void
lmd_worker_picker_begin (LmdWorkerPicker *self, const char *url)
{
  g_hash_table_replace (self->in_flight, g_strdup (url),
                        GUINT_TO_POINTER (local_in_flight (self, url) + 1));
}

void
lmd_worker_picker_end (LmdWorkerPicker *self, const char *url)
{
  guint n = local_in_flight (self, url);

  if (n <= 1)
    g_hash_table_remove (self->in_flight, url);
  else
    g_hash_table_replace (self->in_flight, g_strdup (url), GUINT_TO_POINTER (n - 1));
}

void
lmd_worker_picker_report_failure (LmdWorkerPicker *self, const char *url)
{
  gint64 *until = g_new (gint64, 1);

  *until = g_get_monotonic_time () + (gint64) self->quarantine_ms * 1000;
  g_hash_table_replace (self->failed, g_strdup (url), until);
}

guint
lmd_worker_picker_count_live (LmdWorkerPicker *self)
{
  g_autoptr (GPtrArray) workers = lmd_state_list_workers (self->state);
  guint n = 0;

  for (guint i = 0; i < workers->len; i++)
    if (!in_quarantine (self, ((LmdWorkerInfo *) workers->pdata[i])->url))
      n++;
  return n;
}
