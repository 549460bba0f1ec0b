/* SPDX-License-Identifier: MIT */
/*
 * test-wyoming-protocol.c — the Wyoming transport's protocol parts on their own: the event
 * reader (events split across reads at every byte, data merged over the header's data,
 * each bound and each malformed header), the encoding of events, and the audio collected
 * into a WAV file (header fields, 8-bit samples made unsigned, partial frames dropped,
 * limits).
 */
#include <string.h>

#include "lmd-error.h"
#include "lmd-wyoming-audio.h"
#include "lmd-wyoming-event-reader.h"
#include "lmd-wyoming-event.h"

static const LmdWyomingBounds bounds = { 256, 128, 4096 };

static const char stream[] =
  "{\"type\":\"transcribe\",\"data\":{\"language\":\"fr\",\"name\":\"m\"},\"data_length\":17}\n"
  "{\"language\":\"en\"}"
  "\r\n"
  "{\"type\":\"audio-chunk\",\"data\":{\"rate\":16000,\"width\":2,\"channels\":1},\"payload_length\":4}\n"
  "\x01\x02\n\x04"
  "{\"type\":\"audio-stop\",\"version\":\"1.5.2\"}\n";

static void
check_stream_events (GPtrArray *events)
{
  LmdWyomingEvent *e;
  gint64 rate = 0;

  g_assert_cmpuint (events->len, ==, 3);
  e = events->pdata[0];
  g_assert_cmpstr (e->type, ==, "transcribe");
  g_assert_cmpstr (lmd_wyoming_event_get_string (e, "language"), ==, "en"); /* merged over "fr" */
  g_assert_cmpstr (lmd_wyoming_event_get_string (e, "name"), ==, "m");
  g_assert_null (e->payload);
  e = events->pdata[1];
  g_assert_cmpstr (e->type, ==, "audio-chunk");
  g_assert_true (lmd_wyoming_event_get_int (e, "rate", &rate));
  g_assert_cmpint (rate, ==, 16000);
  g_assert_cmpuint (g_bytes_get_size (e->payload), ==, 4);
  g_assert_cmpmem (g_bytes_get_data (e->payload, NULL), 4, "\x01\x02\n\x04", 4);
  e = events->pdata[2];
  g_assert_cmpstr (e->type, ==, "audio-stop");
}

/* The same stream pushed whole, and split at every byte. */
static void
test_reader_split (void)
{
  gsize len = sizeof stream - 1;

  for (gsize piece = 1; piece <= len; piece = piece < 8 ? piece + 1 : piece * 2)
    {
      g_autoptr (LmdWyomingEventReader) reader = lmd_wyoming_event_reader_new (&bounds);
      g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_wyoming_event_free);

      for (gsize offset = 0; offset < len; offset += piece)
        {
          LmdWyomingEvent *e;
          g_autoptr (GError) error = NULL;

          lmd_wyoming_event_reader_push (reader, (const guint8 *) stream + offset, MIN (piece, len - offset));
          while ((e = lmd_wyoming_event_reader_next (reader, &error)) != NULL)
            g_ptr_array_add (events, e);
          g_assert_no_error (error);
        }
      check_stream_events (events);
      g_assert_cmpuint (lmd_wyoming_event_reader_get_pending (reader), ==, 0);
    }
}

static void
check_error (const char *input, gsize len, gint code)
{
  g_autoptr (LmdWyomingEventReader) reader = lmd_wyoming_event_reader_new (&bounds);
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdWyomingEvent) e = NULL;

  lmd_wyoming_event_reader_push (reader, (const guint8 *) input, len > 0 ? len : strlen (input));
  e = lmd_wyoming_event_reader_next (reader, &error);
  g_assert_null (e);
  g_assert_error (error, LMD_ERROR, code);
}

static void
test_reader_errors (void)
{
  char long_line[300];

  /* a header line over the bound is refused before its newline arrives */
  memset (long_line, 'x', sizeof long_line);
  check_error (long_line, sizeof long_line, LMD_ERROR_FILE_TOO_LARGE);
  check_error ("{\"type\":\"a\",\"data_length\":129}\n", 0, LMD_ERROR_FILE_TOO_LARGE);
  check_error ("{\"type\":\"a\",\"payload_length\":4097}\n", 0, LMD_ERROR_FILE_TOO_LARGE);
  check_error ("{\"type\":\"a\",\"data_length\":-1}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"a\",\"payload_length\":\"12\"}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"a\",\"payload_length\":2.5}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("not json\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("\"a string\"\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":7}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"\"}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"a\",\"data\":[1]}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"a\",\"data_length\":3}\n[1]", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"a\",\"data_length\":3}\n{x}", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"\xff\xfe\"}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  /* two values on a line: json-glib 1.6 alone took them as one and leaked the first */
  check_error ("{\"type\":\"a\"}{\"type\":\"b\"}\n", 0, LMD_ERROR_INVALID_PARAMETER);
  check_error ("{\"type\":\"a\",\"data_length\":9}\n{}{\"a\":1}", 0, LMD_ERROR_INVALID_PARAMETER);
  /* nesting past LMD_JSON_MAX_DEPTH is refused before json-glib recurses into it */
  {
    g_autoptr (GString) deep = g_string_new ("{\"type\":\"a\",\"x\":");
    for (guint i = 0; i < 70; i++)
      g_string_append_c (deep, '[');
    for (guint i = 0; i < 70; i++)
      g_string_append_c (deep, ']');
    g_string_append (deep, "}\n");
    check_error (deep->str, deep->len, LMD_ERROR_INVALID_PARAMETER);
  }
}

/* A header line just under the bound, waiting for its newline, is not an error yet. */
static void
test_reader_incomplete (void)
{
  g_autoptr (LmdWyomingEventReader) reader = lmd_wyoming_event_reader_new (&bounds);
  g_autoptr (GError) error = NULL;
  char line[256];

  memset (line, ' ', sizeof line);
  lmd_wyoming_event_reader_push (reader, (const guint8 *) line, sizeof line);
  g_assert_null (lmd_wyoming_event_reader_next (reader, &error));
  g_assert_no_error (error);
  lmd_wyoming_event_reader_push (reader, (const guint8 *) " ", 1);
  g_assert_null (lmd_wyoming_event_reader_next (reader, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
}

/* What the server writes reads back as the same event. */
static void
test_encode_round_trip (void)
{
  JsonObject *data = json_object_new ();
  g_autoptr (LmdWyomingEvent) event = NULL;
  g_autoptr (LmdWyomingEvent) back = NULL;
  g_autoptr (LmdWyomingEventReader) reader = lmd_wyoming_event_reader_new (&bounds);
  g_autoptr (GBytes) wire = NULL;
  g_autoptr (GError) error = NULL;
  const char *text;

  json_object_set_string_member (data, "text", "héllo \"world\"\n");
  event = lmd_wyoming_event_new ("transcript", data);
  event->payload = g_bytes_new ("\n\n\0", 3);
  wire = lmd_wyoming_event_encode (event);
  text = g_bytes_get_data (wire, NULL);
  /* one header line, then the data, then the payload */
  g_assert_nonnull (memchr (text, '\n', g_bytes_get_size (wire)));
  g_assert_true (g_str_has_prefix (text, "{\"type\":\"transcript\""));
  lmd_wyoming_event_reader_push (reader, g_bytes_get_data (wire, NULL), g_bytes_get_size (wire));
  back = lmd_wyoming_event_reader_next (reader, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpstr (back->type, ==, "transcript");
  g_assert_cmpstr (lmd_wyoming_event_get_string (back, "text"), ==, "héllo \"world\"\n");
  g_assert_cmpmem (g_bytes_get_data (back->payload, NULL), g_bytes_get_size (back->payload), "\n\n\0", 3);
}

static guint32
le32 (const guint8 *p)
{
  return p[0] | (p[1] << 8) | (p[2] << 16) | ((guint32) p[3] << 24);
}

static void
test_audio_wav (void)
{
  LmdWyomingFormat format = { 8000, 1, 2 };
  g_autoptr (LmdWyomingAudio) audio = lmd_wyoming_audio_new (&format, 1000, 10.0);
  g_autoptr (GBytes) wav = NULL;
  g_autoptr (GError) error = NULL;
  const guint8 pcm[] = { 0x00, 0x7f, 0x80, 0xff, 0x01 }; /* two frames and half of one */
  const guint8 *w;

  g_assert_true (lmd_wyoming_format_check (&format, NULL));
  g_assert_true (lmd_wyoming_audio_append (audio, pcm, sizeof pcm, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (lmd_wyoming_audio_get_frames (audio), ==, 2);
  wav = lmd_wyoming_audio_to_wav (audio);
  w = g_bytes_get_data (wav, NULL);
  g_assert_cmpuint (g_bytes_get_size (wav), ==, 44 + 4);
  g_assert_cmpmem (w, 4, "RIFF", 4);
  g_assert_cmpuint (le32 (w + 4), ==, 36 + 4);
  g_assert_cmpuint (w[22], ==, 2);                   /* channels */
  g_assert_cmpuint (le32 (w + 24), ==, 8000);        /* rate */
  g_assert_cmpuint (le32 (w + 28), ==, 16000);       /* bytes per second */
  g_assert_cmpuint (w[34], ==, 8);                   /* bits */
  g_assert_cmpuint (le32 (w + 40), ==, 4);
  /* signed 8-bit made unsigned */
  g_assert_cmpuint (w[44], ==, 0x80);
  g_assert_cmpuint (w[45], ==, 0xff);
  g_assert_cmpuint (w[46], ==, 0x00);
  g_assert_cmpuint (w[47], ==, 0x7f);
}

static void
test_audio_limits (void)
{
  LmdWyomingFormat format = { 16000, 2, 1 };
  g_autoptr (LmdWyomingAudio) by_bytes = lmd_wyoming_audio_new (&format, 100, 10.0);
  g_autoptr (LmdWyomingAudio) by_time = lmd_wyoming_audio_new (&format, 1000000, 0.001);
  g_autoptr (GError) error = NULL;
  guint8 zeros[64] = { 0 };

  g_assert_true (lmd_wyoming_audio_append (by_bytes, zeros, 64, NULL));
  g_assert_false (lmd_wyoming_audio_append (by_bytes, zeros, 64, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
  g_clear_error (&error);
  g_assert_true (lmd_wyoming_audio_append (by_time, zeros, 32, NULL)); /* 16 samples = 1 ms */
  g_assert_false (lmd_wyoming_audio_append (by_time, zeros, 2, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
}

static void
test_format_check (void)
{
  const struct { LmdWyomingFormat format; gboolean ok; } cases[] = {
    { { 16000, 2, 1 }, TRUE }, { { 44100, 2, 2 }, TRUE }, { { 8000, 1, 1 }, TRUE },
    { { 96000, 4, 8 }, TRUE }, { { 7999, 2, 1 }, FALSE }, { { 96001, 2, 1 }, FALSE },
    { { 16000, 0, 1 }, FALSE }, { { 16000, 5, 1 }, FALSE }, { { 16000, 2, 0 }, FALSE },
    { { 16000, 2, 9 }, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = lmd_wyoming_format_check (&cases[i].format, &error);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (!ok)
        g_assert_error (error, LMD_ERROR, LMD_ERROR_UNSUPPORTED_FORMAT);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/wyoming-protocol/reader/split", test_reader_split);
  g_test_add_func ("/wyoming-protocol/reader/errors", test_reader_errors);
  g_test_add_func ("/wyoming-protocol/reader/incomplete", test_reader_incomplete);
  g_test_add_func ("/wyoming-protocol/encode/round-trip", test_encode_round_trip);
  g_test_add_func ("/wyoming-protocol/audio/wav", test_audio_wav);
  g_test_add_func ("/wyoming-protocol/audio/limits", test_audio_limits);
  g_test_add_func ("/wyoming-protocol/format-check", test_format_check);
  return g_test_run ();
}
