/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-json.h — JSON documents the request-body tests send.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* (transfer full) "[[…]]": @depth arrays nested one in the other (2 × @depth bytes). */
GBytes *lmd_test_json_nested_arrays (guint depth);

G_END_DECLS
