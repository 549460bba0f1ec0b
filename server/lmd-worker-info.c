/* SPDX-License-Identifier: MIT */
#include "lmd-worker-info.h"

#include <json-glib/json-glib.h>

#include "lmd-json.h"
#include "lmd-json-writer.h"

LmdWorkerInfo *
lmd_worker_info_new (const char *url)
{
  LmdWorkerInfo *self = g_new0 (LmdWorkerInfo, 1);

  self->url = g_strdup (url);
  self->models = g_new0 (char *, 1);
  self->device = g_strdup ("cpu");
  self->capacity = 1;
  return self;
}

LmdWorkerInfo *
lmd_worker_info_copy (const LmdWorkerInfo *self)
{
  LmdWorkerInfo *copy = g_new0 (LmdWorkerInfo, 1);

  *copy = *self;
  copy->url = g_strdup (self->url);
  copy->models = g_strdupv (self->models);
  copy->device = g_strdup (self->device);
  return copy;
}

void
lmd_worker_info_free (LmdWorkerInfo *self)
{
  if (self == NULL)
    return;
  g_free (self->url);
  g_strfreev (self->models);
  g_free (self->device);
  g_free (self);
}

gboolean
lmd_worker_info_has_model (const LmdWorkerInfo *self, const char *model)
{
  /* a worker that lists no models (a static URL) is assumed to serve any */
  return model == NULL || model[0] == '\0' || self->models == NULL || self->models[0] == NULL ||
         g_strv_contains ((const char *const *) self->models, model);
}

double
lmd_worker_info_get_load (const LmdWorkerInfo *self)
{
  return (double) (self->active_requests + self->queued_requests + self->active_streams) /
         MAX (self->capacity, 1u);
}

char *
lmd_worker_info_to_json (const LmdWorkerInfo *self)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "url");
  lmd_json_writer_string (w, self->url);
  lmd_json_writer_key (w, "models");
  lmd_json_writer_begin_array (w);
  for (guint i = 0; self->models != NULL && self->models[i] != NULL; i++)
    lmd_json_writer_string (w, self->models[i]);
  lmd_json_writer_end_array (w);
  lmd_json_writer_key (w, "device");
  lmd_json_writer_string (w, self->device);
  lmd_json_writer_key (w, "pid");
  lmd_json_writer_int (w, self->pid);
  lmd_json_writer_key (w, "active_requests");
  lmd_json_writer_int (w, self->active_requests);
  lmd_json_writer_key (w, "queued_requests");
  lmd_json_writer_int (w, self->queued_requests);
  lmd_json_writer_key (w, "active_streams");
  lmd_json_writer_int (w, self->active_streams);
  lmd_json_writer_key (w, "capacity");
  lmd_json_writer_int (w, self->capacity);
  lmd_json_writer_key (w, "draining");
  lmd_json_writer_boolean (w, self->draining);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static guint
member_uint (JsonObject *o, const char *name)
{
  gint64 v = json_object_get_int_member_with_default (o, name, 0);
  return (guint) CLAMP (v, 0, G_MAXUINT);
}

LmdWorkerInfo *
lmd_worker_info_from_json (const char *json, gssize length, GError **error)
{
  g_autoptr (GPtrArray) models = g_ptr_array_new ();
  g_autoptr (JsonNode) root = NULL;
  JsonObject *o;
  JsonArray *array;
  const char *url;
  LmdWorkerInfo *self;

  root = lmd_json_parse (json, length, LMD_JSON_MAX_RECORD_BYTES, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root) ||
      (url = json_object_get_string_member_with_default (json_node_get_object (root), "url", NULL)) == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "worker record without a url");
      return NULL;
    }
  o = json_node_get_object (root);
  self = lmd_worker_info_new (url);
  array = json_object_has_member (o, "models") &&
                  JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "models"))
              ? json_object_get_array_member (o, "models")
              : NULL;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      const char *m = json_node_get_string (json_array_get_element (array, i));
      if (m != NULL)
        g_ptr_array_add (models, g_strdup (m));
    }
  g_ptr_array_add (models, NULL);
  g_strfreev (self->models);
  self->models = (GStrv) g_ptr_array_steal (models, NULL);
  g_free (self->device);
  self->device = g_strdup (json_object_get_string_member_with_default (o, "device", "cpu"));
  self->pid = json_object_get_int_member_with_default (o, "pid", 0);
  self->active_requests = member_uint (o, "active_requests");
  self->queued_requests = member_uint (o, "queued_requests");
  self->active_streams = member_uint (o, "active_streams");
  self->capacity = MAX (member_uint (o, "capacity"), 1u);
  self->draining = json_object_get_boolean_member_with_default (o, "draining", FALSE);
  return self;
}
