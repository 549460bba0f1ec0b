/* SPDX-License-Identifier: MIT */
/*
 * lmd-vad-options.h — a request's voice-activity detection options: in batch (whisper engine)
 * whether the recording is cut into speech segments before decoding; in a live stream whether
 * the Silero detector finds the utterances (sphinx: instead of its noise tracker; whisper:
 * always); and the segment settings, each either given by the request or left to the
 * engine's [vad] configuration.
 *
 * Request parameters (query, form field or JSON member):
 *   vad                 true | silero | false (default: batch: on when [vad] model is
 *                       configured; streams: the engine's own endpointing); silero = true
 *   vad_threshold       0.01 .. 1: a window at or above it is speech
 *   vad_min_speech_ms   0 .. 60000: shorter speech is dropped
 *   vad_min_silence_ms  0 .. 60000: a pause this long ends a segment
 *   vad_speech_pad_ms   0 .. 2000: audio kept on both sides of a segment
 *   vad_max_speech_s    0 .. 3600: longer segments are cut (0: unlimited)
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "lmd-json-writer.h"

G_BEGIN_DECLS

typedef struct {
  gint enabled;        /* -1: the engine's default; 0 off; 1 on */
  double threshold;    /* < 0: the configured value */
  gint min_speech_ms;  /* < 0: the configured value */
  gint min_silence_ms; /* < 0: the configured value */
  gint speech_pad_ms;  /* < 0: the configured value */
  double max_speech_s; /* < 0: the configured value */
} LmdVadOptions;

/* Everything left to the configuration. */
void lmd_vad_options_init (LmdVadOptions *self);

/* Whether @key is one of the request parameters above. */
gboolean lmd_vad_options_handles (const char *key);
/* Applies one request parameter given as text; a bad value is LMD_ERROR_INVALID_PARAMETER
 * ("key: reason"). */
gboolean lmd_vad_options_set (LmdVadOptions *self, const char *key, const char *value,
                              GError **error);

/* The options that differ from the defaults, as members of the JSON object being written
 * (for stored jobs), and back from such an object's members (missing ones stay default). */
void lmd_vad_options_write (const LmdVadOptions *self, LmdJsonWriter *w);
void lmd_vad_options_read (LmdVadOptions *self, JsonObject *object);

G_END_DECLS
