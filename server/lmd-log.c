/* SPDX-License-Identifier: MIT */
#include "lmd-log.h"

#include <stdio.h>
#include <string.h>

static LmdLogLevel max_level = LMD_LOG_INFO;
static GPrivate thread_request_id = G_PRIVATE_INIT (g_free);

void
lmd_log_set_thread_request_id (const char *request_id)
{
  g_private_replace (&thread_request_id, g_strdup (request_id));
}

void
lmd_log_set_level (LmdLogLevel level)
{
  max_level = level;
}

static LmdLogLevel
level_from_flags (GLogLevelFlags flags)
{
  if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    return LMD_LOG_ERROR;
  if (flags & G_LOG_LEVEL_WARNING)
    return LMD_LOG_WARNING;
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return LMD_LOG_INFO;
  return LMD_LOG_DEBUG;
}

static const char *
level_label (GLogLevelFlags flags)
{
  if (flags & G_LOG_LEVEL_ERROR)
    return "FATAL";
  if (flags & G_LOG_LEVEL_CRITICAL)
    return "CRIT ";
  if (flags & G_LOG_LEVEL_WARNING)
    return "WARN ";
  if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return "INFO ";
  return "DEBUG";
}

/* Appends @text to @line with every control character escaped, so that no value (a client's
 * option, a file name, a library's message) can end a line or forge another: C0 controls and
 * DEL as \n, \r, \t or \xNN, the Unicode line breaks (NEL, U+2028, U+2029) and the other C1
 * controls as \u{NNNN}, and bytes that are not UTF-8 as \xNN. */
static void
append_escaped (GString *line, const char *text)
{
  const char *p = text;

  while (*p != '\0')
    {
      gunichar c = g_utf8_get_char_validated (p, -1);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_printf (line, "\\x%02x", (guint8) *p);
          p++;
          continue;
        }
      if (c == '\n')
        g_string_append (line, "\\n");
      else if (c == '\r')
        g_string_append (line, "\\r");
      else if (c == '\t')
        g_string_append (line, "\\t");
      else if (c < 0x20 || c == 0x7f)
        g_string_append_printf (line, "\\x%02x", (guint) c);
      else if ((c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029)
        g_string_append_printf (line, "\\u{%04x}", (guint) c);
      else
        g_string_append_len (line, p, g_utf8_next_char (p) - p);
      p = g_utf8_next_char (p);
    }
}

static GLogWriterOutput
log_writer (GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  const char *message = NULL;
  const char *request_id = NULL;
  const char *domain = NULL;
  g_autoptr (GDateTime) now = NULL;
  g_autofree char *stamp = NULL;
  GString *line;

  if (level_from_flags (flags) > max_level)
    return G_LOG_WRITER_HANDLED;
  for (gsize i = 0; i < n_fields; i++)
    {
      if (g_str_equal (fields[i].key, "MESSAGE"))
        message = fields[i].value;
      else if (g_str_equal (fields[i].key, "REQUEST_ID"))
        request_id = fields[i].value;
      else if (g_str_equal (fields[i].key, "GLIB_DOMAIN"))
        domain = fields[i].value;
    }
  if (request_id == NULL || request_id[0] == '\0')
    request_id = g_private_get (&thread_request_id);
  /* Debug lines of libraries are only wanted when asked for with G_MESSAGES_DEBUG. */
  if (level_from_flags (flags) == LMD_LOG_DEBUG && domain != NULL && !g_str_has_prefix (domain, "lmd"))
    return g_log_writer_default (flags, fields, n_fields, user_data);

  now = g_date_time_new_now_utc ();
  stamp = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");
  line = g_string_new (NULL);
  g_string_append_printf (line, "%s.%03dZ %s ", stamp, g_date_time_get_microsecond (now) / 1000,
                          level_label (flags));
  if (request_id != NULL && request_id[0] != '\0')
    {
      g_string_append_c (line, '[');
      append_escaped (line, request_id);
      g_string_append (line, "] ");
    }
  if (domain != NULL && !g_str_equal (domain, "lmd"))
    {
      append_escaped (line, g_str_has_prefix (domain, "lmd-") ? domain + 4 : domain);
      g_string_append (line, ": ");
    }
  append_escaped (line, message != NULL ? message : "");
  g_string_append_c (line, '\n');
  fputs (line->str, stderr);
  fflush (stderr);
  g_string_free (line, TRUE);
  return G_LOG_WRITER_HANDLED;
}

gboolean
lmd_log_init (const char *level_name, GError **error)
{
  static const char *names[] = { "error", "warning", "info", "debug" };

  if (level_name != NULL && level_name[0] != '\0')
    {
      gboolean found = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        if (g_ascii_strcasecmp (level_name, names[i]) == 0)
          {
            max_level = (LmdLogLevel) i;
            found = TRUE;
          }
      if (!found && g_ascii_strcasecmp (level_name, "warn") == 0)
        {
          max_level = LMD_LOG_WARNING;
          found = TRUE;
        }
      if (!found)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       "log level '%s' is not one of error, warning, info, debug", level_name);
          return FALSE;
        }
    }
  /* libraries' lines that go through GLib's own writer also belong on stderr, not stdout */
  g_log_writer_default_set_use_stderr (TRUE);
  g_log_set_writer_func (log_writer, NULL, NULL);
  return TRUE;
}

void
lmd_log_request (const char *domain, GLogLevelFlags level, const char *request_id,
                 const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;
  GLogField fields[] = {
    { "GLIB_DOMAIN", domain != NULL ? domain : "lmd", -1 },
    { "MESSAGE", NULL, -1 },
    { "REQUEST_ID", request_id != NULL ? request_id : "", -1 },
  };

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  fields[1].value = message;
  g_log_structured_array (level, fields, G_N_ELEMENTS (fields));
}
