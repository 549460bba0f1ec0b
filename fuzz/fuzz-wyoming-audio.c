/* SPDX-License-Identifier: MIT */
/*
 * fuzz-wyoming-audio.c — the audio of Wyoming utterances: events read from the input (with
 * the default bounds), and for audio-start / audio-chunk / audio-stop what the connection
 * does with them (plugins/wyoming/lmd-wyoming-connection.c): the format read from the
 * event's integers and checked, the chunks' payloads of any size collected within the
 * limits, a chunk in another format refused, and at audio-stop the RIFF/WAVE
 * image the router would decode.  Checked: a refused format or chunk carries a message;
 * the WAV header agrees with the format and holds whole frames only, and what it holds is
 * what was appended (8-bit samples turned unsigned).
 *
 * The limits are small (3,000 bytes, 0.1 s) so that inputs of a few KiB (make fuzz gives this
 * target -max_len=4096) reach both: 0.1 s is 800 bytes of 8 kHz 8-bit mono, and 3,000 bytes
 * is under 0.1 s of 16 kHz 16-bit stereo.
 */
#include "lmd-wyoming-audio.h"
#include "lmd-wyoming-event-reader.h"
#include "lmd-error.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_BYTES 3000
#define MAX_SECONDS 0.1

/* as read_format() in lmd-wyoming-connection.c */
static gboolean
read_format (LmdWyomingEvent *event, LmdWyomingFormat *format, GError **error)
{
  static const char *const names[] = { "rate", "width", "channels" };
  guint *fields[] = { &format->rate, &format->width, &format->channels };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      gint64 value;
      if (!lmd_wyoming_event_get_int (event, names[i], &value))
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER, "%s: needs an integer", names[i]);
          return FALSE;
        }
      *fields[i] = value < 0 || value > G_MAXUINT32 ? 0 : (guint) value;
    }
  return lmd_wyoming_format_check (format, error);
}

static guint32
get_u32 (const guint8 *p)
{
  return (guint32) p[0] | (guint32) p[1] << 8 | (guint32) p[2] << 16 | (guint32) p[3] << 24;
}

static guint16
get_u16 (const guint8 *p)
{
  return (guint16) (p[0] | p[1] << 8);
}

/* @collected: every byte appended since audio-start */
static void
check_wav (LmdWyomingAudio *audio, GByteArray *collected)
{
  const LmdWyomingFormat *f = lmd_wyoming_audio_get_format (audio);
  guint frame = f->width * f->channels;
  guint64 frames = lmd_wyoming_audio_get_frames (audio);
  g_autoptr (GBytes) wav = lmd_wyoming_audio_to_wav (audio);
  gsize len = 0;
  const guint8 *h = g_bytes_get_data (wav, &len);
  guint32 data_bytes;

  g_assert_cmpuint (frames, ==, collected->len / frame);
  g_assert_cmpuint (len, >=, 44);
  data_bytes = get_u32 (h + 40);
  g_assert_cmpmem (h, 4, "RIFF", 4);
  g_assert_cmpmem (h + 8, 8, "WAVEfmt ", 8);
  g_assert_cmpuint (get_u32 (h + 4), ==, 36 + data_bytes);
  g_assert_cmpuint (len, ==, 44 + (gsize) data_bytes);
  g_assert_cmpuint (data_bytes, ==, frames * frame);
  g_assert_cmpuint (get_u16 (h + 22), ==, f->channels);
  g_assert_cmpuint (get_u32 (h + 24), ==, f->rate);
  g_assert_cmpuint (get_u32 (h + 28), ==, f->rate * frame);
  g_assert_cmpuint (get_u16 (h + 32), ==, frame);
  g_assert_cmpuint (get_u16 (h + 34), ==, f->width * 8);
  for (guint32 i = 0; i < data_bytes; i++)
    g_assert_cmpuint (h[44 + i], ==, f->width == 1 ? collected->data[i] ^ 0x80 : collected->data[i]);
  /* the object is empty again and still usable */
  g_assert_cmpuint (lmd_wyoming_audio_get_frames (audio), ==, 0);
  g_byte_array_set_size (collected, 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const LmdWyomingBounds bounds = {
    .max_header_bytes = 65536, .max_data_bytes = 65536, .max_payload_bytes = 1048576,
  };
  g_autoptr (LmdWyomingEventReader) reader = lmd_wyoming_event_reader_new (&bounds);
  g_autoptr (LmdWyomingAudio) audio = NULL;
  g_autoptr (GByteArray) collected = g_byte_array_new ();

  lmd_wyoming_event_reader_push (reader, data, size);
  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (LmdWyomingEvent) event = lmd_wyoming_event_reader_next (reader, &error);
      LmdWyomingFormat format = { 0 };

      if (event == NULL)
        break;
      if (g_str_equal (event->type, "audio-start") || g_str_equal (event->type, "audio-chunk"))
        {
          if (!read_format (event, &format, &error))
            {
              g_assert_nonnull (error);
              g_assert_nonnull (error->message);
              continue;
            }
          if (g_str_equal (event->type, "audio-start") || audio == NULL)
            {
              g_clear_pointer (&audio, lmd_wyoming_audio_free);
              audio = lmd_wyoming_audio_new (&format, MAX_BYTES, MAX_SECONDS);
              g_byte_array_set_size (collected, 0);
            }
          if (g_str_equal (event->type, "audio-chunk"))
            {
              if (!lmd_wyoming_format_equal (&format, lmd_wyoming_audio_get_format (audio)))
                continue; /* refused by the connection */
              if (event->payload == NULL)
                continue;
              if (lmd_wyoming_audio_append (audio, g_bytes_get_data (event->payload, NULL),
                                            g_bytes_get_size (event->payload), &error))
                g_byte_array_append (collected, g_bytes_get_data (event->payload, NULL),
                                     (guint) g_bytes_get_size (event->payload));
              else
                {
                  g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
                  g_assert_cmpuint (collected->len, <=, MAX_BYTES);
                }
              g_assert_cmpfloat (lmd_wyoming_audio_get_seconds (audio), <=, MAX_SECONDS);
            }
        }
      else if (g_str_equal (event->type, "audio-stop") && audio != NULL)
        check_wav (audio, collected);
    }
  if (audio != NULL)
    check_wav (audio, collected);
  return 0;
}
