/* SPDX-License-Identifier: MIT */
/*
 * fuzz-request-body.c — the body of a POST to a transcription endpoint, in every form the
 * request parser reads (plugins/http/lmd-http-request-parser.c): multipart/form-data, JSON,
 * an HTML form, raw audio.  The input's first line is the Content-Type header (a multipart
 * boundary included), the rest is the body.  A request is either filled or refused with an
 * error in LMD_ERROR.
 */
#include "lmd-error.h"
#include "lmd-http-request-parser.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *newline = memchr (data, '\n', size);
  gsize header_len = newline != NULL ? (gsize) (newline - data) : size;
  g_autofree char *content_type = g_strndup ((const char *) data, header_len);
  g_autoptr (GBytes) body = NULL;
  g_autoptr (GError) error = NULL;
  SoupMessageHeaders *headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_REQUEST);
  LmdTranscribeRequest *request = lmd_transcribe_request_new ("req_fuzz");
  gboolean ok;

  /* header values are a line of text: soup refuses others with a critical */
  if (g_utf8_validate (content_type, -1, NULL) && strpbrk (content_type, "\r") == NULL)
    soup_message_headers_replace (headers, "Content-Type", content_type);
  body = newline != NULL ? g_bytes_new (newline + 1, size - header_len - 1) : g_bytes_new (NULL, 0);
  ok = lmd_http_request_parse_headers (request, headers, NULL, body, &error);
  if (ok)
    g_assert (error == NULL && (request->audio != NULL || request->url != NULL));
  else
    g_assert (error != NULL && error->domain == LMD_ERROR && error->message[0] != '\0');
  lmd_transcribe_request_free (request);
  soup_message_headers_unref (headers);
  return 0;
}
