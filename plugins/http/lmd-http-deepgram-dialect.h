/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-deepgram-dialect.h — the Deepgram-compatible dialect of POST /v1/listen
 * (docs/api.md, "Deepgram compatibility"): lmd_http_deepgram_dialect.
 *
 * Which POST /v1/listen is Deepgram's ([deepgram] listen_dialect):
 *   "auto" (default): a request that carries any of
 *     - the headers of a Deepgram SDK (X-Fern-SDK-Name or User-Agent naming "deepgram"),
 *     - Content-Type deepgram/audio+video,
 *     - a model that is a Deepgram model name (nova*, enhanced*, base*, general*, or a name
 *       of [deepgram] models),
 *     - a query option only Deepgram has (smart_format, utterances, paragraphs, keyterm,
 *       keywords, detect_language, multichannel, callback, tier, version, filler_words, ...);
 *     every other request is the project's own;
 *   "deepgram": every POST /v1/listen;  "own": none.
 *
 * Models: a Deepgram model name, or any model the server has not loaded, is served by the
 * model [deepgram] models maps it to ("nova-3:ggml-base.en, nova-2:sphinx-en-us"), else by
 * [deepgram] default_model, else by the server's default model.
 */
#pragma once

#include <glib.h>

#include "lmd-http-dialect.h"
#include "lmd-json-writer.h"

G_BEGIN_DECLS

/* Reads [deepgram] of @config (listen_dialect, default_model, models); the dialect's
 * settings are process-wide (one HTTP transport per process).  FALSE with @error
 * (G_KEY_FILE_ERROR) on a bad value. */
gboolean lmd_http_deepgram_dialect_configure (GKeyFile *config, GError **error);

/* The engine model to use for @requested (nullable: the request named none) when
 * @requested is a Deepgram model name or not a model @router (nullable: every other name is
 * taken as it is) has loaded: the mapped name, [deepgram] default_model, or NULL (the
 * server's default). */
const char *lmd_http_deepgram_map_model (LmdRouter *router, const char *requested);

/* Writes "words": the words [@first, @last) of @t as Deepgram lists them (word: lower case
 * without the punctuation around it; punctuated_word: as the engine gave it), in the
 * prerecorded answer and in live Results alike. */
void lmd_http_deepgram_write_words (LmdJsonWriter *w, const LmdTranscript *t, guint first,
                                    guint last);

/* (transfer full) a UUID naming @model_name in "models" and "model_info" (stable: derived
 * from the name). */
char *lmd_http_deepgram_model_uuid (const char *model_name);

/* Whether @model is a Deepgram model name (nova-3, nova-2-general, base, enhanced, ...). */
gboolean lmd_http_deepgram_is_model_name (const char *model);

G_END_DECLS
