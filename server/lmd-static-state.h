/* SPDX-License-Identifier: MIT */
/*
 * lmd-static-state.h — LmdState over a fixed list of worker URLs, without a shared store.
 *
 * The list comes from [api] asr_base_url (env LIGHTNING_ASR_BASE_URL, comma-separated).
 * Each worker is probed in the background every [api] probe_interval_ms (default 2000) by
 * opening a TCP connection to it; one that refuses is left out of list_workers() until a
 * probe succeeds again.  Load is unknown here: every worker is listed idle, with capacity 1,
 * and the api balances on the requests it has in flight itself.  publish_worker() does
 * nothing, so workers need no configuration for it.
 */
#pragma once

#include "lmd-state.h"

G_BEGIN_DECLS

#define LMD_TYPE_STATIC_STATE (lmd_static_state_get_type ())
G_DECLARE_FINAL_TYPE (LmdStaticState, lmd_static_state, LMD, STATIC_STATE, GObject)

LmdStaticState *lmd_static_state_new (void);

G_END_DECLS
