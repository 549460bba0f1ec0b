/* SPDX-License-Identifier: MIT */
/*
 * gstlightningasrmodel.h — the engines of the lightningasr element, loaded once per process.
 *
 * An engine is the project's engine plugin (liblmd-sphinx.so, liblmd-whisper.so) opened with
 * LmdPluginLoader and set up from a small key file: [sphinx] hmm = MODEL, or [whisper] model
 * = MODEL.  Engines are kept, by (engine, model), until the process exits: a pipeline probed
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
 * the engine's default), loaded now unless already loaded; while it loads, PROGRESS
 * messages (START, then COMPLETE or ERROR) are posted on @element's bus.  NULL with
 * @error set (GST_RESOURCE_ERROR_NOT_FOUND for a missing model,
 * GST_RESOURCE_ERROR_OPEN_READ for one that does not load, GST_CORE_ERROR_MISSING_PLUGIN
 * for an engine plugin that is not found). */
LmdEngine *gst_lightning_asr_model_get (GstElement *element, const char *engine_name,
                                        const char *model, GError **error);

G_END_DECLS
