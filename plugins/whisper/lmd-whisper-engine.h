/* SPDX-License-Identifier: MIT */
/*
 * lmd-whisper-engine.h — the "whisper" engine: Whisper-architecture models in the ggml file
 * format, run by the plain-C core in core/ (lmw_*).
 *
 * Config group [whisper]:
 *   model       local path of a ggml model file, or
 *   model_url   (env MODEL_URL) a URL downloaded once into cache_dir (env MODEL_CACHE_DIR,
 *               default $XDG_CACHE_HOME/lightning-mediad/models), resumable, verified against
 *               sha256 when given
 *   name        the model name clients pass in model= (default: the file name without
 *               ".bin"/".ggml"), the plugin name "whisper" works too
 *   threads     compute threads per request (default 1: requests run in parallel already)
 *   beam_size   1 = greedy (default), up to 8
 *   condition_on_previous_text  true (default): each 30 s window is decoded after the text of
 *               the ones before it (requests may turn it off)
 *   spool_dir   where a session keeps the audio beyond its first 30 s, in an unlinked file
 *               (default: $TMPDIR or /tmp); 4 bytes per sample, 230 MB per hour of audio
 *   language    default language when a request says "auto" on an English-only model: "en"
 *   backend     compute backend: auto (default: cuda where a driver and a device are present,
 *               else cpu, with one log line saying why), cpu, cuda, cuda-emu
 *   gpu_device  (env GPU_DEVICE_ID) the GPU's number for cuda (default 0)
 *   scheduler   auto (default: on for cuda and cuda-emu), on, off: sessions share the device
 *               through one lmw_scheduler (batched encoder windows and decoder steps)
 *   slots, beam_caches, encoder_batch, max_batch_rows, batch_wait_ms  its budget and batches
 *               (docs/configuration.md)
 *   cuda_graphs true (default), false: one-token decoder steps captured and replayed as CUDA
 *               graphs
 *   cuda_cross_kv  f16 (default), int8: how the scheduler's slots keep a window's
 *               cross-attention K/V (int8: a scale per block of 32 values, about half the bytes)
 *   stream_interval_ms, stream_interim_budget  live transcription (lmd-whisper-stream.h)
 *
 * Config group [vad] (voice-activity detection before batch decoding, and the endpointing of
 * live streams): see lmd-vad-config.h
 *
 * The model is loaded once and shared; each session owns its own decoding state.
 */
#pragma once

#include <glib-object.h>

#include "lmd-vad-config.h"
#include "lmd-vad-options.h"
#include "lmd-whisper-stream.h"
#include "lmw-context.h"
#include "lmw-vad.h"

G_BEGIN_DECLS

#define LMD_TYPE_WHISPER_ENGINE (lmd_whisper_engine_get_type ())
G_DECLARE_FINAL_TYPE (LmdWhisperEngine, lmd_whisper_engine, LMD, WHISPER_ENGINE, GObject)

/* (transfer none) the loaded model (valid after setup) */
const lmw_model *lmd_whisper_engine_get_model (LmdWhisperEngine *self);
/* decoding parameters for a request in @language (nullable) */
lmw_params lmd_whisper_engine_get_params (LmdWhisperEngine *self, const char *language);
int lmd_whisper_engine_get_threads (LmdWhisperEngine *self);
/* (transfer none) the directory where sessions keep audio beyond one window */
const char *lmd_whisper_engine_get_spool_dir (LmdWhisperEngine *self);
/* (transfer none) the compute backend sessions use; *device (nullable) its device number */
const char *lmd_whisper_engine_get_backend (LmdWhisperEngine *self, int *device);
/* A decoding state for one request with beams of @n_beams: a slot of the device's scheduler
 * (waiting, FIFO, while every slot is taken; @cancellable ends the wait and, between decoder
 * steps, the decoding), or without a scheduler a new stream.  (transfer full: give it back
 * with lmd_whisper_engine_release_state) (nullable: NULL with @error set) */
lmw_state *lmd_whisper_engine_acquire_state (LmdWhisperEngine *self, int n_beams,
                                            GCancellable *cancellable, const char *request_id,
                                            GError **error);
void lmd_whisper_engine_release_state (LmdWhisperEngine *self, lmw_state *state);
/* adds a finished session's decoder steps by rows (LMW_MAX_BEAM + 1 counts) */
void lmd_whisper_engine_add_batches (LmdWhisperEngine *self, const guint64 *counts);
/* (transfer none) (nullable) the [vad] model, loaded at setup */
const lmw_vad_model *lmd_whisper_engine_get_vad_model (LmdWhisperEngine *self);
/* The segment settings for a request with @options (nullable) in *@params; TRUE when its
 * audio is to be cut by the VAD (a model is configured and the request did not say vad=false). */
gboolean lmd_whisper_engine_get_vad_params (LmdWhisperEngine *self, const LmdVadOptions *options,
                                            lmw_vad_params *params);

/* (transfer none) the [whisper] stream_* settings */
const LmdWhisperStreamConfig *lmd_whisper_engine_get_stream_config (LmdWhisperEngine *self);

G_END_DECLS
