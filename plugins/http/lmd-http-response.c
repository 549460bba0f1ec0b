/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-http"

#include "lmd-http-response.h"

#include <math.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-json-writer.h"

char *
lmd_http_stream_error_json (const char *code, const char *param, const char *message)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "type");
  lmd_json_writer_string (w, "error");
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, code);
  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, message);
  if (param != NULL)
    {
      lmd_json_writer_key (w, "param");
      lmd_json_writer_string (w, param);
    }
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}

void
lmd_http_respond_json (SoupServerMessage *msg, guint status, char *json)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, json, strlen (json));
}

gboolean
lmd_http_require_method (SoupServerMessage *msg, const char *method)
{
  if (g_str_equal (soup_server_message_get_method (msg), method))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", method);
  lmd_http_respond_json (msg, SOUP_STATUS_METHOD_NOT_ALLOWED,
                         g_strdup_printf ("{\"error\":\"use %s for this path\",\"code\":\"METHOD_NOT_ALLOWED\"}", method));
  return FALSE;
}

void
lmd_http_write_words (LmdJsonWriter *w, const LmdTranscript *transcript, guint decimals)
{
  lmd_transcript_write_words (transcript, w, decimals);
}

void
lmd_http_respond_error (SoupServerMessage *msg, LmdRouter *router, const GError *error,
                        const char *request_id, guint retry_after_s, gint64 expires_at)
{
  LmdErrorCode code = lmd_error_classify (error);
  guint status = lmd_error_http_status (code);
  g_autofree char *param = lmd_error_get_param (error);
  g_autofree char *sentence = lmd_error_get_sentence (error);
  const LmdLimits *limits = router != NULL ? lmd_router_get_limits (router) : NULL;
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "error");
  lmd_json_writer_string (w, code == LMD_ERROR_INTERNAL ? "internal error; the server log has details" : sentence);
  lmd_json_writer_key (w, "code");
  lmd_json_writer_string (w, lmd_error_code_name (code));
  if (param != NULL)
    {
      lmd_json_writer_key (w, "param");
      lmd_json_writer_string (w, param);
    }
  if (code == LMD_ERROR_FILE_TOO_LARGE && limits != NULL)
    {
      lmd_json_writer_key (w, "max_size_mb");
      lmd_json_writer_int (w, (gint64) (limits->max_body_bytes / (1024 * 1024)));
      lmd_json_writer_key (w, "max_duration_s");
      lmd_json_writer_double (w, limits->max_audio_seconds, 0);
    }
  if (code == LMD_ERROR_UNSUPPORTED_FORMAT && router != NULL && lmd_router_get_decoder (router) != NULL)
    {
      const char *const *formats = lmd_audio_decoder_get_supported_formats (lmd_router_get_decoder (router));
      lmd_json_writer_key (w, "supported_formats");
      lmd_json_writer_begin_array (w);
      for (guint i = 0; formats[i] != NULL; i++)
        lmd_json_writer_string (w, formats[i]);
      lmd_json_writer_end_array (w);
    }
  if ((code == LMD_ERROR_LICENSE_EXPIRED || code == LMD_ERROR_QUOTA_EXCEEDED) && expires_at > 0)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (expires_at);
      g_autofree char *iso = t != NULL ? g_date_time_format_iso8601 (t) : NULL;
      lmd_json_writer_key (w, "expires_at");
      lmd_json_writer_string (w, iso);
    }
  if (code == LMD_ERROR_SERVICE_UNAVAILABLE || code == LMD_ERROR_RATE_LIMIT_EXCEEDED ||
      (code == LMD_ERROR_QUOTA_EXCEEDED && retry_after_s > 0))
    {
      guint retry = retry_after_s > 0 ? retry_after_s : limits != NULL ? limits->retry_after_s : 2;
      g_autofree char *header = g_strdup_printf ("%u", retry);
      lmd_json_writer_key (w, "retry_after");
      lmd_json_writer_int (w, retry);
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", header);
    }
  if (request_id != NULL)
    {
      lmd_json_writer_key (w, "request_id");
      lmd_json_writer_string (w, request_id);
    }
  lmd_json_writer_end_object (w);
  lmd_http_respond_json (msg, status, lmd_json_writer_finish (w));
}
