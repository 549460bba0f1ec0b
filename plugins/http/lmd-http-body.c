/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-body.h"

#include "lmd-body-spool.h"

/* a chunked body reserves memory in steps of this much */
#define GROWTH_STEP (1024 * 1024)

struct _LmdHttpBody {
  LmdHttpUploadBudget *budget; /* owned ref */
  char *spool_dir;             /* owned, nullable */
  GByteArray *memory;          /* owned, nullable: the body while it fits the budget */
  guint64 reserved;            /* bytes of the budget held for memory */
  LmdBodySpool *file;          /* owned, nullable: the body once it did not fit */
  guint64 length;
  gboolean discarded;
};

/* What a body handed over in memory keeps until its bytes are freed. */
typedef struct {
  GByteArray *memory;          /* owned */
  LmdHttpUploadBudget *budget; /* owned ref */
  guint64 reserved;
} HeldMemory;

static void
held_memory_free (gpointer data)
{
  HeldMemory *held = data;

  g_byte_array_unref (held->memory);
  lmd_http_upload_budget_release (held->budget, held->reserved);
  lmd_http_upload_budget_unref (held->budget);
  g_free (held);
}

LmdHttpBody *
lmd_http_body_new (LmdHttpUploadBudget *budget, goffset declared_length, const char *spool_dir)
{
  LmdHttpBody *self = g_new0 (LmdHttpBody, 1);

  self->budget = lmd_http_upload_budget_ref (budget);
  self->spool_dir = g_strdup (spool_dir);
  if (declared_length > 0 && (guint64) declared_length <= G_MAXUINT &&
      lmd_http_upload_budget_reserve (budget, (guint64) declared_length))
    {
      self->reserved = (guint64) declared_length;
      self->memory = g_byte_array_sized_new ((guint) declared_length);
    }
  else if (declared_length <= 0)
    self->memory = g_byte_array_new ();
  /* else: a declared body the budget cannot hold goes to a file from its first byte */
  return self;
}

static void
release_memory (LmdHttpBody *self)
{
  g_clear_pointer (&self->memory, g_byte_array_unref);
  lmd_http_upload_budget_release (self->budget, self->reserved);
  self->reserved = 0;
}

void
lmd_http_body_free (LmdHttpBody *self)
{
  if (self == NULL)
    return;
  release_memory (self);
  g_clear_pointer (&self->file, lmd_body_spool_unref);
  lmd_http_upload_budget_unref (self->budget);
  g_free (self->spool_dir);
  g_free (self);
}

/* Moves the body to a file: the memory could not grow within the budget. */
static gboolean
move_to_file (LmdHttpBody *self, GError **error)
{
  self->file = lmd_body_spool_new (self->spool_dir, error);
  if (self->file == NULL)
    return FALSE;
  lmd_http_upload_budget_count_spooled (self->budget);
  if (self->memory != NULL && self->memory->len > 0 &&
      !lmd_body_spool_append (self->file, self->memory->data, self->memory->len, error))
    return FALSE;
  release_memory (self);
  return TRUE;
}

gboolean
lmd_http_body_append (LmdHttpBody *self, const void *data, gsize len, GError **error)
{
  if (self->discarded || len == 0)
    return TRUE;
  if (self->memory != NULL && self->memory->len + (guint64) len > self->reserved)
    {
      guint64 need = self->memory->len + (guint64) len - self->reserved;
      guint64 step = MAX (need, GROWTH_STEP);
      if (self->memory->len + (guint64) len > G_MAXUINT ||
          !lmd_http_upload_budget_reserve (self->budget, step))
        {
          if (!move_to_file (self, error))
            return FALSE;
        }
      else
        self->reserved += step;
    }
  if (self->memory == NULL && self->file == NULL && !move_to_file (self, error))
    return FALSE;
  if (self->memory != NULL)
    g_byte_array_append (self->memory, data, (guint) len);
  else if (!lmd_body_spool_append (self->file, data, len, error))
    return FALSE;
  self->length += len;
  return TRUE;
}

void
lmd_http_body_discard (LmdHttpBody *self)
{
  self->discarded = TRUE;
  release_memory (self);
  g_clear_pointer (&self->file, lmd_body_spool_unref);
}

guint64
lmd_http_body_get_length (LmdHttpBody *self)
{
  return self->length;
}

gboolean
lmd_http_body_is_spooled (LmdHttpBody *self)
{
  return self->file != NULL;
}

GBytes *
lmd_http_body_finish (LmdHttpBody *self, GError **error)
{
  if (self->file != NULL)
    {
      GBytes *bytes = lmd_body_spool_map (self->file, error);
      g_clear_pointer (&self->file, lmd_body_spool_unref);
      return bytes;
    }
  if (self->memory == NULL)
    return g_bytes_new (NULL, 0);
  {
    HeldMemory *held = g_new0 (HeldMemory, 1);
    GByteArray *memory = g_steal_pointer (&self->memory);

    held->memory = memory;
    held->budget = lmd_http_upload_budget_ref (self->budget);
    held->reserved = self->reserved;
    self->reserved = 0;
    return g_bytes_new_with_free_func (memory->data, memory->len, held_memory_free, held);
  }
}
