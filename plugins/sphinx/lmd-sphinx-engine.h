/* SPDX-License-Identifier: MIT */
/*
 * lmd-sphinx-engine.h — the CMU PocketSphinx engine (model "sphinx-en-us").
 *
 * The engine owns a pool of pocketsphinx decoders.  A decoder is not thread-safe and costs
 * tens of megabytes (each one loads its own copy of the acoustic model), so the pool is
 * bounded by [sphinx] decoders; sessions borrow a decoder only while they decode one
 * utterance and give it back at once, so an idle session (waiting for network input) never
 * holds one.
 */
#pragma once

#include <pocketsphinx.h>

#include "lmd-engine.h"
#include "lmd-vad-config.h"

G_BEGIN_DECLS

#define LMD_TYPE_SPHINX_ENGINE (lmd_sphinx_engine_get_type ())
G_DECLARE_FINAL_TYPE (LmdSphinxEngine, lmd_sphinx_engine, LMD, SPHINX_ENGINE, GObject)

/* Takes a decoder from the pool, creating one when fewer than the pool size exist, or waits
 * until another session returns one.  (transfer none: give it back with
 * lmd_sphinx_engine_return_decoder()), or NULL with @error set. */
ps_decoder_t *lmd_sphinx_engine_borrow_decoder (LmdSphinxEngine *self, GError **error);
void lmd_sphinx_engine_return_decoder (LmdSphinxEngine *self, ps_decoder_t *decoder);

/* Longest utterance a session decodes in one piece, in samples. */
gsize lmd_sphinx_engine_get_max_segment_samples (LmdSphinxEngine *self);
/* Decoder frames per second (-frate, 100 for the shipped models). */
guint lmd_sphinx_engine_get_frame_rate (LmdSphinxEngine *self);
/* Number of decoders created so far (never more than the pool size). */
guint lmd_sphinx_engine_get_n_decoders (LmdSphinxEngine *self);

/* The same for live streams, from their own pool ([sphinx] stream_decoders): decoders
 * without the flat-lexicon second pass, so that ending an utterance is quick. */
ps_decoder_t *lmd_sphinx_engine_borrow_stream_decoder (LmdSphinxEngine *self, GError **error);
void lmd_sphinx_engine_return_stream_decoder (LmdSphinxEngine *self, ps_decoder_t *decoder);
/* The live-stream pool: decoders created (never more than stream_decoders), idle ones, and
 * whether the pre-warming thread has nothing left to do ([sphinx] stream_prewarm idle, or
 * stream_decoders reached).  Any argument may be NULL. */
void lmd_sphinx_engine_get_stream_pool (LmdSphinxEngine *self, guint *created, guint *idle,
                                        gboolean *settled);

/* Streaming sessions.  The voice-activity detector is pocketsphinx's own front end (the
 * noise-tracking detector of pocketsphinx_continuous), one small fe_t per session that only
 * decides speech / no speech: (transfer full: fe_free()), or NULL with @error set. */
fe_t *lmd_sphinx_engine_create_vad (LmdSphinxEngine *self, GError **error);
/* The detector's hangovers, in frames: speech frames needed to enter speech, and silence
 * frames needed to leave it. */
void lmd_sphinx_engine_get_vad_frames (LmdSphinxEngine *self, guint *start_frames,
                                       guint *end_frames);
/* The live cepstral mean a fresh decoder starts from (transfer none), @len values. */
const mfcc_t *lmd_sphinx_engine_get_initial_cmn (LmdSphinxEngine *self, guint *len);

/* (transfer none) the [vad] configuration: the Silero detector of vad=silero streams */
const LmdVadConfig *lmd_sphinx_engine_get_vad_config (LmdSphinxEngine *self);

G_END_DECLS
