/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-jobs"

#include "lmd-job.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-json.h"
#include "lmd-json-writer.h"

LmdJob *
lmd_job_new (const char *request_id, const char *callback_url)
{
  LmdJob *self = g_new0 (LmdJob, 1);
  g_autofree char *uuid = g_uuid_string_random ();
  GString *id = g_string_new ("job_");

  for (const char *p = uuid; *p != '\0'; p++)
    if (*p != '-')
      g_string_append_c (id, g_ascii_tolower (*p));
  self->id = g_string_free (id, FALSE);
  self->request_id = g_strdup (request_id);
  self->callback_url = g_strdup (callback_url);
  self->created_at = g_get_real_time ();
  lmd_transcribe_options_init (&self->options);
  return self;
}

void
lmd_job_free (LmdJob *self)
{
  if (self == NULL)
    return;
  g_free (self->id);
  g_free (self->request_id);
  g_free (self->callback_url);
  g_free (self->url);
  g_clear_pointer (&self->audio, g_bytes_unref);
  lmd_transcribe_options_clear (&self->options);
  g_free (self->document);
  g_free (self->callback_method);
  g_free (self->result_format);
  g_free (self->result_args);
  g_free (self);
}

gboolean
lmd_job_id_is_valid (const char *id)
{
  if (id == NULL || !g_str_has_prefix (id, "job_") || strlen (id) != 4 + 32)
    return FALSE;
  for (const char *p = id + 4; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

char *
lmd_job_to_meta_json (const LmdJob *self)
{
  const LmdTranscribeOptions *o = &self->options;
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "id");
  lmd_json_writer_string (w, self->id);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, self->request_id);
  lmd_json_writer_key (w, "callback_url");
  lmd_json_writer_string (w, self->callback_url);
  lmd_json_writer_key (w, "url");
  lmd_json_writer_string (w, self->url);
  lmd_json_writer_key (w, "created_us");
  lmd_json_writer_int (w, self->created_at);
  if (self->callback_method != NULL)
    {
      lmd_json_writer_key (w, "callback_method");
      lmd_json_writer_string (w, self->callback_method);
    }
  if (self->result_format != NULL)
    {
      lmd_json_writer_key (w, "result_format");
      lmd_json_writer_string (w, self->result_format);
      lmd_json_writer_key (w, "result_args");
      lmd_json_writer_string (w, self->result_args);
    }
  lmd_json_writer_key (w, "options");
  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "language");
  lmd_json_writer_string (w, o->language);
  lmd_json_writer_key (w, "model");
  lmd_json_writer_string (w, o->model);
  lmd_json_writer_key (w, "word_timestamps");
  lmd_json_writer_boolean (w, o->word_timestamps);
  lmd_json_writer_key (w, "punctuate");
  lmd_json_writer_boolean (w, o->punctuate);
  lmd_json_writer_key (w, "diarize");
  lmd_json_writer_boolean (w, o->diarize);
  lmd_json_writer_key (w, "num_speakers");
  lmd_json_writer_int (w, o->num_speakers);
  lmd_json_writer_key (w, "beam_size");
  lmd_json_writer_int (w, o->beam_size);
  lmd_json_writer_key (w, "prompt");
  lmd_json_writer_string (w, o->prompt);
  lmd_json_writer_key (w, "condition_on_previous_text");
  lmd_json_writer_int (w, o->condition_on_previous_text);
  if (o->multichannel)
    {
      lmd_json_writer_key (w, "multichannel");
      lmd_json_writer_boolean (w, TRUE);
    }
  if (o->hash_audio)
    {
      lmd_json_writer_key (w, "hash_audio");
      lmd_json_writer_boolean (w, TRUE);
    }
  lmd_vad_options_write (&o->vad, w);
  lmd_json_writer_end_object (w);
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

static char *
dup_member (JsonObject *obj, const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

LmdJob *
lmd_job_from_meta_json (const char *json, GError **error)
{
  g_autoptr (LmdJob) job = NULL;
  g_autoptr (JsonNode) root = NULL;
  JsonObject *obj, *opts;

  root = lmd_json_parse (json, -1, LMD_JSON_MAX_RECORD_BYTES, error);
  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    goto bad;
  obj = json_node_get_object (root);
  job = g_new0 (LmdJob, 1);
  lmd_transcribe_options_init (&job->options);
  job->id = dup_member (obj, "id");
  job->request_id = dup_member (obj, "request_id");
  job->callback_url = dup_member (obj, "callback_url");
  job->url = dup_member (obj, "url");
  job->created_at = lmd_json_object_get_int (obj, "created_us", 0);
  job->callback_method = dup_member (obj, "callback_method");
  job->result_format = dup_member (obj, "result_format");
  job->result_args = dup_member (obj, "result_args");
  if (!lmd_job_id_is_valid (job->id) || job->callback_url == NULL)
    goto bad;
  opts = lmd_json_object_get_object (obj, "options");
  if (opts != NULL)
    {
      char *language = dup_member (opts, "language");
      if (language != NULL)
        {
          g_free (job->options.language);
          job->options.language = language;
        }
      job->options.model = dup_member (opts, "model");
      job->options.word_timestamps = lmd_json_object_get_boolean (opts, "word_timestamps", FALSE);
      job->options.punctuate = lmd_json_object_get_boolean (opts, "punctuate", TRUE);
      job->options.diarize = lmd_json_object_get_boolean (opts, "diarize", FALSE);
      job->options.num_speakers = (gint) lmd_json_object_get_int (opts, "num_speakers", 0);
      job->options.beam_size = (gint) CLAMP (lmd_json_object_get_int (opts, "beam_size", 0), 0, 8);
      job->options.prompt = dup_member (opts, "prompt");
      job->options.condition_on_previous_text =
        (gint) CLAMP (lmd_json_object_get_int (opts, "condition_on_previous_text", -1), -1, 1);
      job->options.multichannel = lmd_json_object_get_boolean (opts, "multichannel", FALSE);
      job->options.hash_audio = lmd_json_object_get_boolean (opts, "hash_audio", FALSE);
      lmd_vad_options_read (&job->options.vad, opts);
    }
  job->options.callback_url = g_strdup (job->callback_url);
  return g_steal_pointer (&job);

bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a job description");
  return NULL;
}

static LmdJsonWriter *
begin_document (const char *job_id, const char *status)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "job_id");
  lmd_json_writer_string (w, job_id);
  lmd_json_writer_key (w, "status");
  lmd_json_writer_string (w, status);
  return w;
}

char *
lmd_job_document_processing (const char *job_id)
{
  LmdJsonWriter *w = begin_document (job_id, "processing");

  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

char *
lmd_job_document_completed (const char *job_id, const char *result_json)
{
  g_autoptr (GString) out = g_string_new (NULL);
  LmdJsonWriter *w = begin_document (job_id, "completed");
  g_autofree char *head = NULL;

  lmd_json_writer_end_object (w);
  head = lmd_json_writer_finish (w);
  /* {"job_id":...,"status":"completed"} + ,"result":{...}} */
  g_string_append_len (out, head, (gssize) strlen (head) - 1);
  g_string_append (out, ",\"result\":");
  g_string_append (out, result_json);
  g_string_append_c (out, '}');
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
lmd_job_document_failed (const char *job_id, const GError *error)
{
  LmdErrorCode code = lmd_error_classify (error);
  g_autofree char *sentence = lmd_error_get_sentence (error);
  g_autofree char *param = lmd_error_get_param (error);
  LmdJsonWriter *w = begin_document (job_id, "failed");

  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, code == LMD_ERROR_INTERNAL ? "internal error; the server log has details" : sentence);
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, lmd_error_code_name (code));
  if (param != NULL)
    {
      lmd_json_writer_key (w, "param");
      lmd_json_writer_string (w, param);
    }
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}
