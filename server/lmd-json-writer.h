/* SPDX-License-Identifier: MIT */
/*
 * lmd-json-writer.h — compact JSON output with controlled number formatting.
 *
 * Times and confidences are written with a fixed number of decimals ("0.48", not
 * "0.47999999999999998"), which json-glib's generator cannot do.  Commas are inserted
 * automatically; the caller only nests begin/end calls correctly.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _LmdJsonWriter LmdJsonWriter;

LmdJsonWriter *lmd_json_writer_new (void);
void lmd_json_writer_free (LmdJsonWriter *self);
/* (transfer full) the document; frees the writer */
char *lmd_json_writer_finish (LmdJsonWriter *self);

void lmd_json_writer_begin_object (LmdJsonWriter *self);
void lmd_json_writer_end_object (LmdJsonWriter *self);
void lmd_json_writer_begin_array (LmdJsonWriter *self);
void lmd_json_writer_end_array (LmdJsonWriter *self);
/* Writes a member name; the next value call is its value. */
void lmd_json_writer_key (LmdJsonWriter *self, const char *key);
void lmd_json_writer_string (LmdJsonWriter *self, const char *value); /* NULL → null */
void lmd_json_writer_double (LmdJsonWriter *self, double value, guint decimals);
void lmd_json_writer_int (LmdJsonWriter *self, gint64 value);
void lmd_json_writer_boolean (LmdJsonWriter *self, gboolean value);
void lmd_json_writer_null (LmdJsonWriter *self);

/* Appends @text to @out as a JSON string literal, quotes included. */
void lmd_json_escape (GString *out, const char *text);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LmdJsonWriter, lmd_json_writer_free)

G_END_DECLS
