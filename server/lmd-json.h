/* SPDX-License-Identifier: MIT */
/*
 * lmd-json.h — the one entry point through which the server parses JSON.
 *
 * json-glib's parser recurses once per level of nesting, so a small document such as
 * "[[[[…]]]]" 100,000 levels deep overflows the stack and kills the process.  Every JSON
 * the server reads (request bodies, WebSocket control messages, job documents from the
 * spool directory or Redis, worker records, license files and license server answers)
 * goes through lmd_json_parse(), which first scans the bytes (linear, no recursion) and
 * refuses a document deeper than LMD_JSON_MAX_DEPTH or longer than the caller's bound
 * before json-glib sees it.
 *
 * The bounds by purpose, in bytes (docs/api.md and docs/configuration.md list them):
 *   LMD_JSON_MAX_REQUEST_BYTES  a REST request's application/json body ({"url": …}),
 *   LMD_JSON_MAX_CONTROL_BYTES  a WebSocket control message ({"type":"finalize"}),
 *   LMD_JSON_MAX_RECORD_BYTES   a worker record, a license file or a license server answer,
 *   LMD_JSON_MAX_DOCUMENT_BYTES a stored job document (a transcript with its words).
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* No document the server reads or writes nests deeper than a few levels (a transcript:
 * object → words array → word object); 64 leaves room and keeps json-glib's recursion far
 * from the stack's end. */
#define LMD_JSON_MAX_DEPTH 64

#define LMD_JSON_MAX_REQUEST_BYTES (64 * 1024)
#define LMD_JSON_MAX_CONTROL_BYTES (16 * 1024)
#define LMD_JSON_MAX_RECORD_BYTES (1024 * 1024)
#define LMD_JSON_MAX_DOCUMENT_BYTES (256 * 1024 * 1024)

#define LMD_JSON_ERROR (lmd_json_error_quark ())
GQuark lmd_json_error_quark (void);

typedef enum {
  LMD_JSON_ERROR_TOO_LARGE, /* longer than the caller's bound */
  LMD_JSON_ERROR_TOO_DEEP,  /* arrays and objects nested deeper than LMD_JSON_MAX_DEPTH */
  LMD_JSON_ERROR_INVALID,   /* not JSON (json-glib's message), or empty */
} LmdJsonError;

/* Checks @length bytes of @data (-1: NUL-terminated) against @max_bytes and
 * LMD_JSON_MAX_DEPTH without parsing them.  Brackets inside strings do not count. */
gboolean lmd_json_check (const char *data, gssize length, gsize max_bytes, GError **error);

/* (transfer full) the root of the document in @data, after lmd_json_check(); NULL with
 * @error (LMD_JSON_ERROR) when it is too large, too deep, empty or not JSON. */
JsonNode *lmd_json_parse (const char *data, gssize length, gsize max_bytes, GError **error);
/* As lmd_json_parse() for a document whose format allows less nesting: refused
 * (LMD_JSON_ERROR_TOO_DEEP) deeper than @max_depth (at most LMD_JSON_MAX_DEPTH). */
JsonNode *lmd_json_parse_bounded (const char *data, gssize length, gsize max_bytes,
                                  guint max_depth, GError **error);

/* (transfer full) the root of the document in the file at @path, read whole when it is at
 * most @max_bytes long; NULL with @error (G_FILE_ERROR or LMD_JSON_ERROR). */
JsonNode *lmd_json_parse_file (const char *path, gsize max_bytes, GError **error);

/* Members of an object read from outside, without json-glib's criticals on a member of another
 * kind: the member's value when it has the type asked for (an integer is also a double), else
 * @default_value (missing, null, another type, an array or an object).  The object getter
 * returns (transfer none) (nullable) the member when it is an object. */
gboolean lmd_json_object_get_boolean (JsonObject *object, const char *name, gboolean default_value);
gint64 lmd_json_object_get_int (JsonObject *object, const char *name, gint64 default_value);
double lmd_json_object_get_double (JsonObject *object, const char *name, double default_value);
JsonObject *lmd_json_object_get_object (JsonObject *object, const char *name);

G_END_DECLS
