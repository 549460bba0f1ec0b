/* SPDX-License-Identifier: MIT */
/*
 * lmd-http-dialect.h — a request dialect of the HTTP API: how one family of clients asks
 * for a batch transcription and how it expects the answer.
 *
 * A dialect is a constant method table, one per file (lmd-http-<name>-dialect.c):
 *
 *   - parse_request: the message (query, headers, body) → the router's LmdTranscribeRequest;
 *     most dialects call lmd_http_request_parse() and then adjust what their clients send
 *     differently (OpenAI model names, for instance);
 *   - write_transcript: the router's LmdTranscript → status, body and content type;
 *   - write_error (optional): a GError (LMD_ERROR) → the dialect's error document; NULL
 *     writes the project's own {"error","code",...} document (lmd_http_respond_error());
 *   - write_job_accepted (optional): the answer to a request that became an asynchronous job
 *     (callback): NULL means the dialect does not take callbacks (the option is ignored);
 *   - prepare_job (optional): completes the job before it is stored, where the dialect's
 *     callback is not the project's job document (its result format, lmd-job-format.h).
 *
 * The transport owns everything around a dialect (admission, the body, pausing the message,
 * the router, the job store, metrics): it finds the dialect of a request from its method
 * and path (lmd_http_dialect_find()) in the early handler, before the body is read, keeps it
 * with the request, and calls it to parse once the body is in and to write the answer.
 * Dialects that share a path are told apart by their optional claims() method, asked in the
 * registry's order (lmd-http-dialect.c); the first dialect of a path without claims() takes
 * what no other claims.
 *
 * All methods run on the main context and must not block.
 */
#pragma once

#include <libsoup/soup.h>

#include "lmd-job.h"
#include "lmd-router.h"
#include "lmd-transcribe-request.h"
#include "lmd-transcript.h"

G_BEGIN_DECLS

/* The version of the method table below; a table with another version is not used. */
#define LMD_HTTP_DIALECT_VERSION 1

typedef struct _LmdHttpDialect LmdHttpDialect;

struct _LmdHttpDialect {
  guint version;     /* LMD_HTTP_DIALECT_VERSION */
  const char *name;  /* for logs: "listen", "get_text", "openai", ... */
  const char *path;  /* the path its clients POST to */

  /* (optional) Whether a request to @path, from its headers and query alone (the body is not
   * read yet), is this dialect's, where several dialects share the path. */
  gboolean (*claims) (SoupMessageHeaders *headers, GHashTable *query);

  /* Fills @request (already holding the request id and default options) from the message;
   * @router tells which models exist.  Errors: LMD_ERROR with the parameter named first. */
  gboolean (*parse_request) (LmdTranscribeRequest *request, SoupServerMessage *msg,
                             GHashTable *query, GBytes *body, LmdRouter *router, GError **error);

  /* Sets status, body and content type of @msg for a transcript.  @request is the parsed
   * request (options, id); @file_size is the size of the uploaded audio (0 for a URL). */
  void (*write_transcript) (SoupServerMessage *msg, const LmdTranscript *transcript,
                            const LmdTranscribeRequest *request, gsize file_size);

  /* (optional) Sets the error answer; same arguments as lmd_http_respond_error(). */
  void (*write_error) (SoupServerMessage *msg, LmdRouter *router, const GError *error,
                       const char *request_id, guint retry_after_s, gint64 expires_at);

  /* (optional) Sets the answer (202 or 200) to a request accepted as asynchronous job
   * @job_id; NULL: the dialect takes no callbacks. */
  void (*write_job_accepted) (SoupServerMessage *msg, const char *job_id, const char *request_id);

  /* (optional) Completes @job, made from @request (the message @msg), before it is stored:
   * its result_format and result_args (lmd-job-format.h), its callback_method. */
  void (*prepare_job) (LmdJob *job, SoupServerMessage *msg, const LmdTranscribeRequest *request);

  /* The request id is a UUID: the client's X-Request-ID when it is one, else a new one
   * (FALSE: the project's "req_<hex>", or the client's id when acceptable). */
  gboolean uuid_request_ids;
};

/* The dialects of this server, each defined in its own file. */
extern const LmdHttpDialect lmd_http_deepgram_dialect; /* POST /v1/listen, Deepgram's (claims) */
extern const LmdHttpDialect lmd_http_listen_dialect;   /* POST /v1/listen */
extern const LmdHttpDialect lmd_http_get_text_dialect; /* POST /api/v1/lightning/get_text */
extern const LmdHttpDialect lmd_http_openai_dialect;   /* POST /v1/audio/transcriptions */
extern const LmdHttpDialect lmd_http_openai_translation_dialect; /* POST /v1/audio/translations */

/* (nullable) The dialect of a transcription request: a POST to one of the dialects' paths
 * (claims() decides between dialects of one path).  NULL for anything else. */
const LmdHttpDialect *lmd_http_dialect_find (const char *method, const char *path,
                                             SoupMessageHeaders *headers, GHashTable *query);

/* Whether @path is the path of some dialect (whatever the method). */
gboolean lmd_http_dialect_path_is_known (const char *path);

/* Writes @error in @dialect's shape (nullable dialect: the project's own document). */
void lmd_http_dialect_write_error (const LmdHttpDialect *dialect, SoupServerMessage *msg,
                                   LmdRouter *router, const GError *error, const char *request_id,
                                   guint retry_after_s, gint64 expires_at);

G_END_DECLS
