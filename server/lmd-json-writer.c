/* SPDX-License-Identifier: MIT */
#include "lmd-json-writer.h"

#include <math.h>
#include <string.h>

struct _LmdJsonWriter {
  GString *out;
  gboolean need_comma; /* a value was written at the current nesting level */
  gboolean after_key;
};

LmdJsonWriter *
lmd_json_writer_new (void)
{
  LmdJsonWriter *self = g_new0 (LmdJsonWriter, 1);
  self->out = g_string_new (NULL);
  return self;
}

void
lmd_json_writer_free (LmdJsonWriter *self)
{
  if (self == NULL)
    return;
  g_string_free (self->out, TRUE);
  g_free (self);
}

char *
lmd_json_writer_finish (LmdJsonWriter *self)
{
  char *text = g_string_free (self->out, FALSE);
  g_free (self);
  return text;
}

static void
before_value (LmdJsonWriter *self)
{
  if (!self->after_key && self->need_comma)
    g_string_append_c (self->out, ',');
  self->after_key = FALSE;
  self->need_comma = TRUE;
}

void
lmd_json_escape (GString *out, const char *text)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      switch (*p)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (*p < 0x20)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char) *p);
        }
    }
  g_string_append_c (out, '"');
}

void
lmd_json_writer_begin_object (LmdJsonWriter *self)
{
  before_value (self);
  g_string_append_c (self->out, '{');
  self->need_comma = FALSE;
}

void
lmd_json_writer_end_object (LmdJsonWriter *self)
{
  g_string_append_c (self->out, '}');
  self->need_comma = TRUE;
}

void
lmd_json_writer_begin_array (LmdJsonWriter *self)
{
  before_value (self);
  g_string_append_c (self->out, '[');
  self->need_comma = FALSE;
}

void
lmd_json_writer_end_array (LmdJsonWriter *self)
{
  g_string_append_c (self->out, ']');
  self->need_comma = TRUE;
}

void
lmd_json_writer_key (LmdJsonWriter *self, const char *key)
{
  if (self->need_comma)
    g_string_append_c (self->out, ',');
  lmd_json_escape (self->out, key);
  g_string_append_c (self->out, ':');
  self->after_key = TRUE;
}

void
lmd_json_writer_string (LmdJsonWriter *self, const char *value)
{
  if (value == NULL)
    {
      lmd_json_writer_null (self);
      return;
    }
  before_value (self);
  /* Invalid UTF-8 never reaches a client: replace it. */
  if (!g_utf8_validate (value, -1, NULL))
    {
      g_autofree char *valid = g_utf8_make_valid (value, -1);
      lmd_json_escape (self->out, valid);
    }
  else
    lmd_json_escape (self->out, value);
}

void
lmd_json_writer_double (LmdJsonWriter *self, double value, guint decimals)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  char format[8];

  before_value (self);
  if (!isfinite (value))
    {
      g_string_append (self->out, "null");
      return;
    }
  g_snprintf (format, sizeof format, "%%.%uf", MIN (decimals, 9u));
  g_ascii_formatd (buf, sizeof buf, format, value);
  /* trim trailing zeros: 0.480 → 0.48, 2.000 → 2 */
  if (strchr (buf, '.') != NULL)
    {
      char *end = buf + strlen (buf) - 1;
      while (*end == '0')
        *end-- = '\0';
      if (*end == '.')
        *end = '\0';
    }
  if (g_str_equal (buf, "-0"))
    g_strlcpy (buf, "0", sizeof buf);
  g_string_append (self->out, buf);
}

void
lmd_json_writer_int (LmdJsonWriter *self, gint64 value)
{
  before_value (self);
  g_string_append_printf (self->out, "%" G_GINT64_FORMAT, value);
}

void
lmd_json_writer_boolean (LmdJsonWriter *self, gboolean value)
{
  before_value (self);
  g_string_append (self->out, value ? "true" : "false");
}

void
lmd_json_writer_null (LmdJsonWriter *self)
{
  before_value (self);
  g_string_append (self->out, "null");
}
