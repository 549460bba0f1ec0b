/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-json.c — JSON documents the request-body tests send.
 */
#include "lmd-test-json.h"

GBytes *
lmd_test_json_nested_arrays (guint depth)
{
  GString *s = g_string_sized_new (depth * 2);

  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, ']');
  return g_string_free_to_bytes (s);
}
