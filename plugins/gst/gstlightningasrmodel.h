/* SPDX-License-Identifier: MIT */
/*
 * gstlightningasrmodel.h — the engines of the lightningasr element, loaded once per process.
 *
 * An engine is the project's engine plugin (liblmd-sphinx.so, liblmd-whisper.so) opened with
 * LmdPluginLoader and set up from a small key file: [sphinx] hmm = MODEL, or [whisper] model
 * = MODEL, and [vad] model = VAD_MODEL (the Silero detector) when one is given.  Engines are
 * kept, by (engine, model, voice-activity model), until the process exits: a pipeline probed
 * NULL→READY→NULL and then started loads its model once.  Thread-safe.
 *
 * Where the engine plugins are looked for: $LMD_PLUGIN_PATH, the directory above this
 * GStreamer plugin's file (the build tree: build/plugins/), then the project's installed
 * plugin directory.
 */
#pragma once

#include <gst/gst.h>

#include "lmd-engine.h"

G_BEGIN_DECLS

/* Remembers where the GStreamer plugin was loaded from (plugin_init). */
void gst_lightning_asr_model_set_plugin_file (const char *filename);

/* (transfer full) the engine @engine_name ("sphinx" or "whisper") with @model (nullable:
 * the engine's default) and the Silero model @vad_model (nullable: none), loaded now unless already loaded; while it loads, PROGRESS
 * messages (START, then COMPLETE or ERROR) are posted on @element's bus.  NULL with
 * @error set (GST_RESOURCE_ERROR_NOT_FOUND for a missing model,
 * GST_RESOURCE_ERROR_OPEN_READ for one that does not load, GST_CORE_ERROR_MISSING_PLUGIN
 * for an engine plugin that is not found). */
LmdEngine *gst_lightning_asr_model_get (GstElement *element, const char *engine_name,
                                        const char *model, const char *vad_model,
                                        GError **error);

/* (transfer full) (nullable) [vad] model of the server's default configuration file
 * (lmd_config_find_default), or NULL when there is none. */
char *gst_lightning_asr_model_default_vad_model (void);

G_END_DECLS
