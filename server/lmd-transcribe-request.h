/* SPDX-License-Identifier: MIT */
/*
 * lmd-transcribe-request.h — one batch transcription request as the router sees it:
 * the audio (bytes, or a URL to fetch), the options, and the request id for logs.
 */
#pragma once

#include <glib.h>

#include "lmd-transcribe-options.h"

G_BEGIN_DECLS

typedef struct {
  char *request_id;             /* owned */
  GBytes *audio;                /* owned; nullable when url is set */
  char *url;                    /* owned; nullable */
  LmdTranscribeOptions options; /* owned */
} LmdTranscribeRequest;

/* (transfer full) an empty request with default options */
LmdTranscribeRequest *lmd_transcribe_request_new (const char *request_id);
void lmd_transcribe_request_free (LmdTranscribeRequest *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdTranscribeRequest, lmd_transcribe_request_free)

G_END_DECLS
