/* SPDX-License-Identifier: MIT */
#include "lmd-transcribe-request.h"

LmdTranscribeRequest *
lmd_transcribe_request_new (const char *request_id)
{
  LmdTranscribeRequest *self = g_new0 (LmdTranscribeRequest, 1);

  self->request_id = g_strdup (request_id);
  lmd_transcribe_options_init (&self->options);
  return self;
}

void
lmd_transcribe_request_free (LmdTranscribeRequest *self)
{
  if (self == NULL)
    return;
  g_free (self->request_id);
  g_clear_pointer (&self->audio, g_bytes_unref);
  g_free (self->url);
  lmd_transcribe_options_clear (&self->options);
  g_free (self);
}
