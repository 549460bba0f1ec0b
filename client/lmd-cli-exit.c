/* SPDX-License-Identifier: MIT */
/*
 * lmd-cli-exit.c — maps the server's answers to lightning-transcribe's exit statuses.
 */
#include "lmd-cli-exit.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>

LmdCliExit
lmd_cli_exit_from_status (guint status)
{
  if (status >= 200 && status < 300)
    return LMD_CLI_EXIT_OK;
  if (status == 401 || status == 403)
    return LMD_CLI_EXIT_AUTH;
  if (status == 400 || status == 413 || status == 415 || status == 422)
    return LMD_CLI_EXIT_INPUT;
  /* 404, 405: the URL is not this server's API; 408, 429, 5xx: the server's side */
  return LMD_CLI_EXIT_SERVER;
}

LmdCliExit
lmd_cli_exit_from_code (const char *code)
{
  static const struct {
    const char *code;
    LmdCliExit exit;
  } table[] = {
    { "MISSING_PARAMETER", LMD_CLI_EXIT_INPUT },
    { "INVALID_PARAMETER", LMD_CLI_EXIT_INPUT },
    { "FILE_TOO_LARGE", LMD_CLI_EXIT_INPUT },
    { "UNSUPPORTED_FORMAT", LMD_CLI_EXIT_INPUT },
    { "UNPROCESSABLE_AUDIO", LMD_CLI_EXIT_INPUT },
    { "INVALID_LICENSE", LMD_CLI_EXIT_AUTH },
    { "LICENSE_EXPIRED", LMD_CLI_EXIT_AUTH },
    { "FEATURE_NOT_LICENSED", LMD_CLI_EXIT_AUTH },
    { "QUOTA_EXCEEDED", LMD_CLI_EXIT_AUTH },
  };

  for (guint i = 0; code != NULL && i < G_N_ELEMENTS (table); i++)
    if (g_str_equal (code, table[i].code))
      return table[i].exit;
  /* RATE_LIMIT_EXCEEDED, SERVICE_UNAVAILABLE, TIMEOUT, INTERNAL, BAD_GATEWAY, unknown */
  return LMD_CLI_EXIT_SERVER;
}


LmdCliExit
lmd_cli_exit_report_http (guint status, GBytes *body)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = body != NULL ? g_bytes_get_data (body, &len) : NULL;
  JsonNode *root;

  if (data != NULL && len > 0 && json_parser_load_from_data (parser, data, (gssize) len, NULL) &&
      (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonObject *o = json_node_get_object (root);
      const char *sentence = json_object_get_string_member_with_default (o, "error", NULL);
      const char *code = json_object_get_string_member_with_default (o, "code", "");
      const char *request_id = json_object_get_string_member_with_default (o, "request_id", NULL);

      if (sentence != NULL)
        {
          fprintf (stderr, "lightning-transcribe: the server answered %u %s: %s", status, code, sentence);
          if (request_id != NULL)
            fprintf (stderr, " (request %s)", request_id);
          fputc ('\n', stderr);
          return status >= 200 && status < 300 ? LMD_CLI_EXIT_SERVER : lmd_cli_exit_from_status (status);
        }
    }
  fprintf (stderr, "lightning-transcribe: the server answered %u %s, not the API's answer "
           "(is --url the address of lightning-mediad?)\n", status,
           soup_status_get_phrase (status));
  return LMD_CLI_EXIT_SERVER;
}

LmdCliExit
lmd_cli_exit_report_stream (const char *code, const char *message)
{
  fprintf (stderr, "lightning-transcribe: the stream ended with %s: %s\n",
           code != NULL ? code : "an error", message != NULL ? message : "(no message)");
  return lmd_cli_exit_from_code (code);
}

LmdCliExit
lmd_cli_exit_report_transport (const char *url, const GError *error)
{
  gboolean no_connection =
    error->domain == G_RESOLVER_ERROR ||
    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED) ||
    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE) ||
    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE) ||
    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_HOST_NOT_FOUND) ||
    g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);

  if (no_connection)
    {
      fprintf (stderr, "lightning-transcribe: cannot reach %s: %s\n", url, error->message);
      return LMD_CLI_EXIT_UNREACHABLE;
    }
  fprintf (stderr, "lightning-transcribe: the connection to %s failed: %s\n", url, error->message);
  return LMD_CLI_EXIT_SERVER;
}
