/* SPDX-License-Identifier: MIT */
/*
 * test-gst-decoder.c — the gst-decoder plugin, loaded through LmdPluginLoader, treated as a
 * black box: encoded bytes in, mono float PCM chunks out.
 *
 *   /gst-decoder/formats               the supported formats include the common ones
 *   /gst-decoder/librivox              each LibriVox WAV decodes to its samples (same count
 *                                      ±1%, values within one 16-bit step), in chunks of 1 s
 *   /gst-decoder/encoded/FORMAT        the first LibriVox file re-encoded at test time (wav, flac,
 *                                      mp3, vorbis, opus, m4a, webm) decodes to nearly the same
 *                                      duration, correlates > 0.9 with the original after
 *                                      alignment, and keeps its RMS energy within 10%
 *   /gst-decoder/resample              44.1 kHz stereo (WAV, FLAC, MP3) → 16 kHz mono: duration,
 *                                      pitch (zero crossings) and level are kept
 *   /gst-decoder/video                 the audio of a WebM with video decodes; a video-only
 *                                      WebM is UNPROCESSABLE_AUDIO "no audio stream"
 *   /gst-decoder/error/empty           MISSING_PARAMETER, param "audio"
 *   /gst-decoder/error/unrecognised    random bytes, JSON, plain text → UNSUPPORTED_FORMAT
 *   /gst-decoder/error/broken-header   WAV cut inside its header, RIFF header without data,
 *                                      header whose data is all missing → UNPROCESSABLE_AUDIO
 *   /gst-decoder/truncated-data        WAV cut in the middle of its data → exactly the samples
 *                                      present, and a warning in the log
 *   /gst-decoder/limit/rate            WAVs declaring 1 Hz, 2000 Hz and 384 kHz are
 *                                      UNPROCESSABLE_AUDIO before a sample is delivered;
 *                                      4 kHz and 192 kHz decode
 *   /gst-decoder/limit/duration        with max_seconds below the recording's length, every
 *                                      format is FILE_TOO_LARGE, never delivering more than
 *                                      max_seconds of samples (WAV and FLAC declare their
 *                                      duration: none at all); at the exact length it decodes
 *   /gst-decoder/callback-error        the callback's error stops decoding and comes back as is
 *   /gst-decoder/cancel                cancelled before and during decoding → G_IO_ERROR_CANCELLED
 *   /gst-decoder/concurrent            8 decodes on 8 threads give the sequential results
 *   /gst-decoder/config                chunk_ms, pipeline_file (override, invalid), bad values
 *   /gst-decoder/stall                 a pipeline that never produces output fails after
 *                                      stall_timeout_s, and a cancel ends it sooner
 */
#include <math.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "lmd-audio-decoder.h"
#include "lmd-build-config.h"
#include "lmd-error.h"
#include "lmd-plugin-loader.h"
#include "lmd-test-audio.h"
#include "lmd-test-wav.h"

#define RATE 16000
#define DECODER_DOMAIN "lmd-gst-decoder"
#define N_THREADS 8

static LmdAudioDecoder *decoder; /* owned; set up with an empty config */
static GError *load_error;        /* owned; why the plugin could not be loaded */
static GPtrArray *librivox;       /* owned; element-type char*, paths of the WAV files */
static gint n_decoder_warnings;   /* atomic; warnings the plugin logged */

G_DEFINE_QUARK (test-gst-decoder-error-quark, test_error)

/* ---- log: count the plugin's warnings instead of aborting on them ---- */

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && fields[i].length < 0 &&
        g_strcmp0 (fields[i].value, DECODER_DOMAIN) == 0 && (level & G_LOG_LEVEL_WARNING))
      {
        g_autofree char *line = g_log_writer_format_fields (level, fields, n_fields, FALSE);

        g_atomic_int_inc (&n_decoder_warnings);
        g_test_message ("decoder warning: %s", line);
        return G_LOG_WRITER_HANDLED;
      }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* ---- collecting the decoder's output ---- */

typedef struct {
  GArray *samples;          /* owned; element-type float */
  guint n_chunks;
  gsize max_chunk;
  guint fail_at_chunk;      /* 0: never; else return an error on this chunk (1-based) */
  GCancellable *cancel_at;  /* nullable; cancelled on chunk cancel_at_chunk */
  guint cancel_at_chunk;
} Collector;

static void
collector_init (Collector *c)
{
  memset (c, 0, sizeof (*c));
  c->samples = g_array_new (FALSE, FALSE, sizeof (float));
}

static void
collector_clear (Collector *c)
{
  g_clear_pointer (&c->samples, g_array_unref);
}

static gboolean
collect (const float *samples, gsize n_samples, gpointer user_data, GError **error)
{
  Collector *c = user_data;

  g_assert_nonnull (samples);
  g_assert_cmpuint (n_samples, >, 0);
  c->n_chunks++;
  c->max_chunk = MAX (c->max_chunk, n_samples);
  g_array_append_vals (c->samples, samples, n_samples);
  if (c->fail_at_chunk != 0 && c->n_chunks == c->fail_at_chunk)
    {
      g_set_error (error, test_error_quark (), 42, "consumer refuses chunk %u", c->n_chunks);
      return FALSE;
    }
  if (c->cancel_at != NULL && c->n_chunks == c->cancel_at_chunk)
    g_cancellable_cancel (c->cancel_at);
  return TRUE;
}

/* Decodes @input with @dec; (transfer full) the samples, or NULL with @error set. */
static GArray *
decode_with (LmdAudioDecoder *dec, GBytes *input, guint rate, GError **error)
{
  Collector c;

  collector_init (&c);
  if (!lmd_audio_decoder_decode (dec, input, rate, 0, collect, &c, NULL, error))
    {
      collector_clear (&c);
      return NULL;
    }
  return g_steal_pointer (&c.samples);
}

static gboolean
have_decoder (void)
{
  g_assert_no_error (load_error);
  g_assert_nonnull (decoder);
  return TRUE;
}

static gboolean
have_librivox (void)
{
  if (!have_decoder ())
    return FALSE;
  if (librivox == NULL || librivox->len == 0)
    {
      g_test_skip ("pocketsphinx-testdata (LibriVox recordings) is not installed");
      return FALSE;
    }
  return TRUE;
}

static GBytes *
read_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *contents = NULL;
  gsize length = 0;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, length);
}

static float *
read_reference (const char *path, gsize *n_samples)
{
  g_autoptr (GError) error = NULL;
  guint rate = 0;
  float *samples = lmd_test_wav_read (path, &rate, n_samples, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (rate, ==, RATE);
  return samples;
}

static double
rms (const float *x, gsize n)
{
  double sum = 0;

  for (gsize i = 0; i < n; i++)
    sum += (double) x[i] * x[i];
  return n > 0 ? sqrt (sum / n) : 0;
}

/* The highest normalised cross-correlation between a window of @ref (length @window, starting
 * at @start) and @dec shifted by up to ±@max_lag samples; the best shift goes to @best_lag. */
static double
best_correlation (const float *ref, gsize n_ref, const float *dec, gsize n_dec, gsize start,
                  gsize window, int max_lag, int *best_lag)
{
  double best = -1, ref_energy = 0;

  g_assert_cmpuint (start + window, <=, n_ref);
  for (gsize i = 0; i < window; i++)
    ref_energy += (double) ref[start + i] * ref[start + i];
  for (int lag = -max_lag; lag <= max_lag; lag++)
    {
      double dot = 0, dec_energy = 0, r;
      gssize from = (gssize) start + lag;

      if (from < 0 || (gsize) from + window > n_dec)
        continue;
      for (gsize i = 0; i < window; i++)
        {
          double y = dec[from + i];
          dot += (double) ref[start + i] * y;
          dec_energy += y * y;
        }
      r = ref_energy > 0 && dec_energy > 0 ? dot / sqrt (ref_energy * dec_energy) : 0;
      if (r > best)
        {
          best = r;
          *best_lag = lag;
        }
    }
  return best;
}

/* ---- tests ---- */

static void
test_formats (void)
{
  const char *const *formats;
  const char *expected[] = { "wav", "flac", "mp3", "ogg", "opus", "m4a", "aac", "webm" };

  if (!have_decoder ())
    return;
  formats = lmd_audio_decoder_get_supported_formats (decoder);
  g_assert_nonnull (formats);
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_true (g_strv_contains (formats, expected[i]));
}

static void
test_librivox (void)
{
  if (!have_librivox ())
    return;
  for (guint f = 0; f < librivox->len; f++)
    {
      const char *path = librivox->pdata[f];
      g_autoptr (GBytes) input = read_file (path);
      g_autofree float *ref = NULL;
      gsize n_ref = 0, n;
      Collector c;
      g_autoptr (GError) error = NULL;
      float worst = 0;

      ref = read_reference (path, &n_ref);
      collector_init (&c);
      lmd_audio_decoder_decode (decoder, input, RATE, 0, collect, &c, NULL, &error);
      g_assert_no_error (error);
      n = c.samples->len;
      g_test_message ("%s: %" G_GSIZE_FORMAT " samples (reference %" G_GSIZE_FORMAT "), %u chunks",
                      path, n, n_ref, c.n_chunks);
      g_assert_cmpfloat (fabs ((double) n - (double) n_ref), <=, n_ref / 100.0);
      /* Same rate, so no resampling: the samples themselves come through. */
      for (gsize i = 0; i < MIN (n, n_ref); i++)
        worst = MAX (worst, fabsf (g_array_index (c.samples, float, i) - ref[i]));
      g_assert_cmpfloat (worst, <=, 1.0 / 32768);
      /* Delivered in chunks of one second (the default chunk_ms), never all at once. */
      g_assert_cmpuint (c.max_chunk, ==, MIN (n, (gsize) RATE));
      g_assert_cmpuint (c.n_chunks, ==, (n + RATE - 1) / RATE);
      collector_clear (&c);
    }
}

static void
test_encoded (gconstpointer data)
{
  const char *format = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) encoded = NULL;
  g_autoptr (GArray) decoded = NULL;
  g_autofree float *ref = NULL;
  gsize n_ref = 0, n, window = RATE, start, from, to;
  double r, ref_rms, dec_rms;
  const float *dec;
  int lag = 0;

  if (!have_librivox ())
    return;
  encoded = lmd_test_audio_encode (librivox->pdata[0], format, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    {
      g_test_skip (error->message);
      return;
    }
  g_assert_no_error (error);
  ref = read_reference (librivox->pdata[0], &n_ref);

  decoded = decode_with (decoder, encoded, RATE, &error);
  g_assert_no_error (error);
  n = decoded->len;
  dec = (const float *) decoded->data;

  /* Duration: lossy codecs add encoder delay and padding of a few frames (< 0.1 s). */
  g_test_message ("%s: %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " samples (reference %"
                  G_GSIZE_FORMAT ")", format, g_bytes_get_size (encoded), n, n_ref);
  g_assert_cmpfloat (fabs ((double) n - (double) n_ref), <=, n_ref * 0.01 + 0.1 * RATE);

  /* Shape: a one-second window from the middle of the speech, aligned within ±0.25 s. */
  start = n_ref / 2 - window / 2;
  r = best_correlation (ref, n_ref, dec, n, start, window, RATE / 4, &lag);
  g_test_message ("%s: correlation %.4f at lag %d samples", format, r, lag);
  g_assert_cmpfloat (r, >, 0.9);

  /* Level: RMS over the whole aligned overlap (ref[i] ↔ dec[i + lag]) within 10%. */
  from = lag < 0 ? (gsize) -lag : 0;
  to = MIN (n_ref, (gsize) ((gssize) n - lag));
  g_assert_cmpuint (to, >, from);
  ref_rms = rms (ref + from, to - from);
  dec_rms = rms (dec + from + lag, to - from);
  g_test_message ("%s: RMS %.5f, reference %.5f", format, dec_rms, ref_rms);
  g_assert_cmpfloat (fabs (dec_rms / ref_rms - 1.0), <, 0.10);
}

/* A 16-bit stereo WAV image of @seconds of a 440 Hz sine at amplitude 0.5 in both channels. */
static GBytes *
stereo_sine_wav (guint rate, double seconds)
{
  gsize frames = (gsize) (rate * seconds), data_size = frames * 4;
  guint8 *image = g_malloc (44 + data_size);

  memcpy (image, "RIFF", 4);
  GST_WRITE_UINT32_LE (image + 4, (guint32) (36 + data_size));
  memcpy (image + 8, "WAVEfmt ", 8);
  GST_WRITE_UINT32_LE (image + 16, 16);
  GST_WRITE_UINT16_LE (image + 20, 1);
  GST_WRITE_UINT16_LE (image + 22, 2);
  GST_WRITE_UINT32_LE (image + 24, rate);
  GST_WRITE_UINT32_LE (image + 28, rate * 4);
  GST_WRITE_UINT16_LE (image + 32, 4);
  GST_WRITE_UINT16_LE (image + 34, 16);
  memcpy (image + 36, "data", 4);
  GST_WRITE_UINT32_LE (image + 40, (guint32) data_size);
  for (gsize i = 0; i < frames; i++)
    {
      gint16 s = (gint16) lrint (0.5 * 32767 * sin (2 * G_PI * 440.0 * i / rate));
      GST_WRITE_UINT16_LE (image + 44 + 4 * i, (guint16) s);
      GST_WRITE_UINT16_LE (image + 44 + 4 * i + 2, (guint16) s);
    }
  return g_bytes_new_take (image, 44 + data_size);
}

static void
check_sine (const char *what, GArray *decoded, double seconds)
{
  const float *x = (const float *) decoded->data;
  gsize n = decoded->len, crossings = 0, from = n / 10, to = n - n / 10;
  double freq, level;

  g_test_message ("%s: %" G_GSIZE_FORMAT " samples for %.1f s", what, n, seconds);
  g_assert_cmpfloat (fabs (n - seconds * RATE), <=, seconds * RATE * 0.01 + 0.1 * RATE);
  /* Pitch and level, away from the edges (codec delay, fades). */
  for (gsize i = from + 1; i < to; i++)
    if ((x[i - 1] < 0) != (x[i] < 0))
      crossings++;
  freq = crossings / 2.0 / ((double) (to - from) / RATE);
  level = rms (x + from, to - from);
  g_test_message ("%s: %.1f Hz, RMS %.4f", what, freq, level);
  g_assert_cmpfloat (fabs (freq - 440.0), <, 440.0 * 0.02);
  g_assert_cmpfloat (fabs (level - 0.5 / G_SQRT2), <, 0.5 / G_SQRT2 * 0.10);
}

static void
test_resample (void)
{
  const double seconds = 3.0;
  g_autoptr (GBytes) wav = stereo_sine_wav (44100, seconds);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) decoded = NULL;
  g_autofree char *path = NULL;
  const char *formats[] = { "flac", "mp3" };
  int fd;

  if (!have_decoder ())
    return;
  decoded = decode_with (decoder, wav, RATE, &error);
  g_assert_no_error (error);
  check_sine ("wav 44.1 kHz stereo", decoded, seconds);

  fd = g_file_open_tmp ("lmd-test-stereo-XXXXXX.wav", &path, &error);
  g_assert_no_error (error);
  g_close (fd, NULL);
  g_file_set_contents (path, g_bytes_get_data (wav, NULL), g_bytes_get_size (wav), &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autoptr (GBytes) encoded = lmd_test_audio_encode (path, formats[i], &error);
      g_autoptr (GArray) out = NULL;
      g_autofree char *what = g_strdup_printf ("%s 44.1 kHz stereo", formats[i]);

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        {
          g_test_message ("%s: skipped: %s", formats[i], error->message);
          g_clear_error (&error);
          continue;
        }
      g_assert_no_error (error);
      out = decode_with (decoder, encoded, RATE, &error);
      g_assert_no_error (error);
      check_sine (what, out, seconds);
    }
  g_unlink (path);
}

/* (transfer full) the file a gst-launch description ending in "filesink name=out" writes, or
 * NULL when an element is missing */
static GBytes *
render (const char *description)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) pipeline = NULL;
  g_autoptr (GstElement) out = NULL;
  g_autoptr (GstBus) bus = NULL;
  g_autoptr (GstMessage) message = NULL;
  g_autofree char *path = NULL;
  char *contents = NULL;
  gsize length = 0;
  int fd;

  pipeline = gst_parse_launch_full (description, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &error);
  if (pipeline == NULL)
    {
      g_test_message ("cannot build '%s': %s", description, error->message);
      return NULL;
    }
  gst_object_ref_sink (pipeline);
  fd = g_file_open_tmp ("lmd-test-render-XXXXXX", &path, &error);
  g_assert_no_error (error);
  g_close (fd, NULL);
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  g_object_set (out, "location", path, NULL);
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  g_unlink (path);
  return g_bytes_new_take (contents, length);
}

static void
test_video (void)
{
  g_autoptr (GBytes) with_audio = NULL;
  g_autoptr (GBytes) video_only = NULL;
  g_autoptr (GArray) decoded = NULL;
  g_autoptr (GError) error = NULL;

  if (!have_decoder ())
    return;
  with_audio = render ("webmmux name=mux ! filesink name=out "
                       "videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120,framerate=25/1"
                       " ! vp8enc deadline=1 ! mux. "
                       "audiotestsrc num-buffers=100 samplesperbuffer=960 freq=440 volume=0.5 "
                       "! audio/x-raw,rate=48000,channels=1 ! opusenc ! mux.");
  video_only = render ("videotestsrc num-buffers=50 ! video/x-raw,width=160,height=120,"
                       "framerate=25/1 ! vp8enc deadline=1 ! webmmux ! filesink name=out");
  if (with_audio == NULL || video_only == NULL)
    {
      g_test_skip ("vp8enc, opusenc or webmmux is not installed");
      return;
    }

  decoded = decode_with (decoder, with_audio, RATE, &error);
  g_assert_no_error (error);
  check_sine ("webm with video", decoded, 2.0);

  g_clear_pointer (&decoded, g_array_unref);
  decoded = decode_with (decoder, video_only, RATE, &error);
  g_assert_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO);
  g_test_message ("video only: %s", error->message);
  g_assert_nonnull (strstr (error->message, "no audio stream"));
  g_assert_null (decoded);
}

static void
test_error_empty (void)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (GError) error = NULL;
  g_autofree char *param = NULL;
  Collector c;

  if (!have_decoder ())
    return;
  collector_init (&c);
  g_assert_false (lmd_audio_decoder_decode (decoder, empty, RATE, 0, collect, &c, NULL, &error));
  g_assert_error (error, LMD_ERROR, LMD_ERROR_MISSING_PARAMETER);
  param = lmd_error_get_param (error);
  g_assert_cmpstr (param, ==, "audio");
  g_assert_cmpuint (c.n_chunks, ==, 0);
  collector_clear (&c);
}

static void
expect_error (GBytes *input, int code, const char *what)
{
  g_autoptr (GError) error = NULL;
  Collector c;

  collector_init (&c);
  g_assert_false (lmd_audio_decoder_decode (decoder, input, RATE, 0, collect, &c, NULL, &error));
  g_assert_nonnull (error);
  g_test_message ("%s: %s", what, error->message);
  g_assert_error (error, LMD_ERROR, code);
  g_assert_cmpuint (c.n_chunks, ==, 0);
  collector_clear (&c);
}

static void
test_error_unrecognised (void)
{
  static const char json[] =
    "{\"model\": \"sphinx-en-us\", \"language\": \"en\", \"text\": \"hello world\", "
    "\"words\": [{\"word\": \"hello\", \"start\": 0.1, \"end\": 0.4}]}\n";
  static const char text[] = "This is not audio.  It is a plain text file with a few lines.\n"
                             "Line two.\nLine three.\n";
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261124);
  guint8 *noise = g_malloc (256 * 1024);
  g_autoptr (GBytes) random_bytes = NULL;
  g_autoptr (GBytes) json_bytes = g_bytes_new_static (json, sizeof json - 1);
  g_autoptr (GBytes) text_bytes = g_bytes_new_static (text, sizeof text - 1);

  if (!have_decoder ())
    {
      g_free (noise);
      return;
    }
  for (gsize i = 0; i < 256 * 1024; i += 4)
    GST_WRITE_UINT32_LE (noise + i, g_rand_int (rand));
  random_bytes = g_bytes_new_take (noise, 256 * 1024);
  expect_error (random_bytes, LMD_ERROR_UNSUPPORTED_FORMAT, "random bytes");
  expect_error (json_bytes, LMD_ERROR_UNSUPPORTED_FORMAT, "JSON");
  expect_error (text_bytes, LMD_ERROR_UNSUPPORTED_FORMAT, "text");
}

static void
test_error_broken_header (void)
{
  float tone[RATE / 2];
  g_autoptr (GBytes) wav = NULL;
  g_autoptr (GBytes) cut_in_header = NULL;
  g_autoptr (GBytes) no_data = NULL;
  g_autoptr (GBytes) header_only = NULL;
  const guint8 *image;
  guint8 riff[36];
  gint warnings;

  if (!have_decoder ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (tone); i++)
    tone[i] = 0.3f * sinf (2 * G_PI * 300 * i / RATE);
  wav = lmd_test_wav_encode (tone, G_N_ELEMENTS (tone), RATE);
  image = g_bytes_get_data (wav, NULL);

  /* "RIFF", size, "WAVE", "fmt ", and half of the format chunk. */
  cut_in_header = g_bytes_new (image, 28);
  expect_error (cut_in_header, LMD_ERROR_UNPROCESSABLE_AUDIO, "WAV cut in its header");

  /* A complete RIFF header and format chunk, and no data chunk at all. */
  memcpy (riff, image, sizeof riff);
  GST_WRITE_UINT32_LE (riff + 4, sizeof riff - 8);
  no_data = g_bytes_new (riff, sizeof riff);
  expect_error (no_data, LMD_ERROR_UNPROCESSABLE_AUDIO, "RIFF header without data");

  /* The 44-byte header of a file whose samples are all missing. */
  warnings = g_atomic_int_get (&n_decoder_warnings);
  header_only = g_bytes_new (image, 44);
  expect_error (header_only, LMD_ERROR_UNPROCESSABLE_AUDIO, "WAV header without samples");
  g_assert_cmpint (g_atomic_int_get (&n_decoder_warnings), ==, warnings + 1);
}

static void
test_truncated_data (void)
{
  const char *path;
  g_autoptr (GBytes) input = NULL;
  g_autoptr (GBytes) cut = NULL;
  g_autoptr (GArray) decoded = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *ref = NULL;
  gsize n_ref = 0, keep;
  gint warnings;
  float worst = 0;

  if (!have_librivox ())
    return;
  path = librivox->pdata[0];
  input = read_file (path);
  ref = read_reference (path, &n_ref);
  /* The LibriVox files have a plain 44-byte header; keep an odd byte count so the last sample
   * is incomplete too. */
  keep = n_ref / 2;
  cut = g_bytes_new_from_bytes (input, 0, 44 + 2 * keep + 1);

  warnings = g_atomic_int_get (&n_decoder_warnings);
  decoded = decode_with (decoder, cut, RATE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_atomic_int_get (&n_decoder_warnings), ==, warnings + 1);
  g_test_message ("kept %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " samples, decoded %u", keep,
                  n_ref, decoded->len);
  g_assert_cmpuint (decoded->len, ==, keep);
  for (gsize i = 0; i < keep; i++)
    worst = MAX (worst, fabsf (g_array_index (decoded, float, i) - ref[i]));
  g_assert_cmpfloat (worst, <=, 1.0 / 32768);
}

/* A 16-bit mono WAV image of @n_frames frames of a quiet 300 Hz tone that declares @rate. */
static GBytes *
mono_wav_declaring (guint rate, gsize n_frames)
{
  g_autofree float *tone = g_new (float, n_frames);

  for (gsize i = 0; i < n_frames; i++)
    tone[i] = 0.3f * sinf (2 * G_PI * 300 * i / MAX (rate, 1000u));
  return lmd_test_wav_encode (tone, n_frames, rate);
}

static void
test_limit_rate (void)
{
  /* Out of range: refused from the caps, before any resampling or delivery. */
  static const guint refused[] = { 1, 2000, 384000 };
  static const guint accepted[] = { LMD_AUDIO_DECODER_MIN_RATE, LMD_AUDIO_DECODER_MAX_RATE };

  if (!have_decoder ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr (GBytes) input = mono_wav_declaring (refused[i], 1000);
      g_autoptr (GError) error = NULL;
      g_autofree char *rate = g_strdup_printf ("%u Hz", refused[i]);
      Collector c;

      collector_init (&c);
      g_assert_false (lmd_audio_decoder_decode (decoder, input, RATE, 7200, collect, &c, NULL, &error));
      g_assert_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO);
      g_assert_nonnull (strstr (error->message, rate));
      g_assert_cmpuint (c.samples->len, ==, 0);
      collector_clear (&c);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (accepted); i++)
    {
      g_autoptr (GBytes) input = mono_wav_declaring (accepted[i], accepted[i] / 2);
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) decoded = decode_with (decoder, input, RATE, &error);

      g_assert_no_error (error);
      g_assert_cmpfloat (fabs ((double) decoded->len - RATE / 2.0), <=, RATE / 100.0);
    }
}

static void
test_limit_duration (void)
{
  static const char *const formats[] = { "wav", "flac", "mp3", "vorbis", "opus", "m4a", "webm" };
  g_autofree float *ref = NULL;
  gsize n_ref = 0;
  double seconds, limit;

  if (!have_librivox ())
    return;
  ref = read_reference (librivox->pdata[0], &n_ref);
  seconds = (double) n_ref / RATE;
  limit = floor (seconds / 2);
  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) input = lmd_test_audio_encode (librivox->pdata[0], formats[i], &error);
      Collector c;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        {
          g_test_message ("%s: %s", formats[i], error->message);
          continue;
        }
      g_assert_no_error (error);
      collector_init (&c);
      g_assert_false (lmd_audio_decoder_decode (decoder, input, RATE, limit, collect, &c, NULL,
                                                &error));
      g_test_message ("%s: %.2f s over a limit of %.0f s: %s after %u samples", formats[i],
                      seconds, limit, error->message, c.samples->len);
      g_assert_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE);
      g_assert_cmpuint (c.samples->len, <=, (guint) (limit * RATE));
      if (g_str_equal (formats[i], "wav") || g_str_equal (formats[i], "flac"))
        {
          g_assert_nonnull (strstr (error->message, "declares"));
          g_assert_cmpuint (c.samples->len, ==, 0);
        }
      collector_clear (&c);
    }
  /* A limit the recording fits exactly is no refusal. */
  {
    g_autoptr (GBytes) input = read_file (librivox->pdata[0]);
    g_autoptr (GError) error = NULL;
    Collector c;

    collector_init (&c);
    g_assert_true (lmd_audio_decoder_decode (decoder, input, RATE, seconds, collect, &c, NULL,
                                             &error));
    g_assert_no_error (error);
    g_assert_cmpuint (c.samples->len, ==, n_ref);
    collector_clear (&c);
  }
}

static void
test_callback_error (void)
{
  g_autoptr (GBytes) input = NULL;
  g_autoptr (GError) error = NULL;
  Collector c;

  if (!have_librivox ())
    return;
  input = read_file (librivox->pdata[0]);
  collector_init (&c);
  c.fail_at_chunk = 2;
  g_assert_false (lmd_audio_decoder_decode (decoder, input, RATE, 0, collect, &c, NULL, &error));
  g_assert_error (error, test_error_quark (), 42);
  g_assert_cmpstr (error->message, ==, "consumer refuses chunk 2");
  g_assert_cmpuint (c.n_chunks, ==, 2);
  collector_clear (&c);
}

static void
test_cancel (void)
{
  g_autoptr (GBytes) input = NULL;
  g_autoptr (GCancellable) before = g_cancellable_new ();
  g_autoptr (GCancellable) during = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  Collector c;

  if (!have_librivox ())
    return;
  input = read_file (librivox->pdata[0]);

  collector_init (&c);
  g_cancellable_cancel (before);
  g_assert_false (lmd_audio_decoder_decode (decoder, input, RATE, 0, collect, &c, before, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (c.n_chunks, ==, 0);
  collector_clear (&c);
  g_clear_error (&error);

  collector_init (&c);
  c.cancel_at = during;
  c.cancel_at_chunk = 1;
  g_assert_false (lmd_audio_decoder_decode (decoder, input, RATE, 0, collect, &c, during, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (c.n_chunks, ==, 1);
  collector_clear (&c);
}

typedef struct {
  GBytes *input;    /* owned */
  guint expected;   /* samples of the sequential decode */
  GArray *decoded;  /* owned; set by the thread */
  GError *error;    /* owned; set by the thread */
} Job;

static gpointer
decode_thread (gpointer data)
{
  Job *job = data;

  job->decoded = decode_with (decoder, job->input, RATE, &job->error);
  return NULL;
}

static void
test_concurrent (void)
{
  const char *encodings[] = { "flac", "mp3", "opus", "vorbis", "m4a", "webm", "wav", "flac" };
  Job jobs[N_THREADS];
  GThread *threads[N_THREADS];

  if (!have_librivox ())
    return;
  for (guint i = 0; i < N_THREADS; i++)
    {
      const char *path = librivox->pdata[i % librivox->len];
      g_autoptr (GError) error = NULL;
      g_autoptr (GArray) sequential = NULL;

      memset (&jobs[i], 0, sizeof jobs[i]);
      /* Half the jobs decode the WAV files as they are, half re-encoded. */
      if (i % 2 == 0)
        jobs[i].input = read_file (path);
      else
        jobs[i].input = lmd_test_audio_encode (path, encodings[i], &error);
      if (jobs[i].input == NULL)
        {
          g_test_message ("%s: %s; using the WAV", encodings[i], error->message);
          jobs[i].input = read_file (path);
        }
      sequential = decode_with (decoder, jobs[i].input, RATE, &error);
      g_assert_no_error (error);
      jobs[i].expected = sequential->len;
    }
  for (guint i = 0; i < N_THREADS; i++)
    threads[i] = g_thread_new ("decode", decode_thread, &jobs[i]);
  for (guint i = 0; i < N_THREADS; i++)
    {
      g_thread_join (threads[i]);
      g_assert_no_error (jobs[i].error);
      g_assert_cmpuint (jobs[i].decoded->len, ==, jobs[i].expected);
      g_array_unref (jobs[i].decoded);
      g_bytes_unref (jobs[i].input);
    }
}

/* A new decoder instance set up with @config; NULL with @error on a setup error. */
static LmdAudioDecoder *
load_decoder (GKeyFile *config, GError **error)
{
  const char *build_dir = g_getenv ("LMD_BUILD_DIR");
  g_autofree char *plugin_dir = g_build_filename (build_dir != NULL ? build_dir : LMD_BUILD_DIR,
                                                  "plugins", NULL);
  const char *dirs[] = { plugin_dir, NULL };
  g_autoptr (LmdPluginLoader) loader = lmd_plugin_loader_new (dirs);
  g_autoptr (GObject) object = lmd_plugin_loader_load (loader, "gst-decoder", error);

  if (object == NULL)
    return NULL;
  g_assert_true (LMD_IS_AUDIO_DECODER (object));
  if (!lmd_audio_decoder_setup (LMD_AUDIO_DECODER (object), config, error))
    return NULL;
  return LMD_AUDIO_DECODER (g_steal_pointer (&object));
}

static char *
write_temp (const char *contents)
{
  g_autoptr (GError) error = NULL;
  char *path = NULL;
  int fd = g_file_open_tmp ("lmd-test-pipeline-XXXXXX", &path, &error);

  g_assert_no_error (error);
  g_close (fd, NULL);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static void
test_config (void)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) input = NULL;
  g_autofree char *good = NULL;
  g_autofree char *no_sink = NULL;
  g_autofree char *garbled = NULL;
  LmdAudioDecoder *dec;
  Collector c;

  if (!have_librivox ())
    return;
  input = read_file (librivox->pdata[0]);

  /* chunk_ms, and a pipeline file with a comment and an extra queue */
  good = write_temp ("# test pipeline\n"
                     "appsrc name=src ! decodebin name=decode ! queue max-size-buffers=2 \n"
                     "  ! audioconvert ! audioresample ! appsink name=sink\n");
  g_key_file_set_integer (config, "gst-decoder", "chunk_ms", 250);
  g_key_file_set_string (config, "gst-decoder", "pipeline_file", good);
  dec = load_decoder (config, &error);
  g_assert_no_error (error);
  collector_init (&c);
  lmd_audio_decoder_decode (dec, input, RATE, 0, collect, &c, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (c.max_chunk, ==, RATE / 4);
  g_assert_cmpuint (c.n_chunks, ==, (c.samples->len + RATE / 4 - 1) / (RATE / 4));
  collector_clear (&c);
  g_object_unref (dec);

  /* setup errors */
  no_sink = write_temp ("appsrc name=src ! decodebin ! audioconvert ! fakesink name=sink\n");
  g_key_file_set_string (config, "gst-decoder", "pipeline_file", no_sink);
  g_assert_null (load_decoder (config, &error));
  g_test_message ("no appsink: %s", error->message);
  g_assert_nonnull (strstr (error->message, "appsink"));
  g_clear_error (&error);

  garbled = write_temp ("appsrc name=src ! no-such-element-here ! appsink name=sink\n");
  g_key_file_set_string (config, "gst-decoder", "pipeline_file", garbled);
  g_assert_null (load_decoder (config, &error));
  g_test_message ("unknown element: %s", error->message);
  g_assert_nonnull (error);
  g_clear_error (&error);

  g_key_file_set_string (config, "gst-decoder", "pipeline_file", "/nonexistent/decode.pipeline");
  g_assert_null (load_decoder (config, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  g_key_file_remove_key (config, "gst-decoder", "pipeline_file", NULL);
  g_key_file_set_integer (config, "gst-decoder", "chunk_ms", 0);
  g_assert_null (load_decoder (config, &error));
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);
  g_clear_error (&error);

  g_key_file_set_string (config, "gst-decoder", "chunk_ms", "soon");
  g_assert_null (load_decoder (config, &error));
  g_assert_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE);

  g_unlink (good);
  g_unlink (no_sink);
  g_unlink (garbled);
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (300 * 1000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_stall (void)
{
  g_autoptr (GKeyFile) config = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) input = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *stuck = NULL;
  g_autoptr (GObject) dec = NULL;
  float tone[RATE];
  GThread *canceller;
  gint64 started;
  double elapsed;
  Collector c;

  if (!have_decoder ())
    return;
  for (gsize i = 0; i < G_N_ELEMENTS (tone); i++)
    tone[i] = 0.3f * sinf (2 * G_PI * 300 * i / RATE);
  input = lmd_test_wav_encode (tone, G_N_ELEMENTS (tone), RATE);

  /* The input is swallowed by a fakesink; "sink" is fed by a live source whose every buffer
   * is dropped, so it never sees a sample nor EOS. */
  stuck = write_temp ("appsrc name=src ! fakesink "
                      "audiotestsrc is-live=true ! identity drop-probability=1.0 "
                      "! audioconvert ! audioresample ! appsink name=sink\n");
  g_key_file_set_string (config, "gst-decoder", "pipeline_file", stuck);
  g_key_file_set_integer (config, "gst-decoder", "stall_timeout_s", 1);
  dec = G_OBJECT (load_decoder (config, &error));
  g_assert_no_error (error);

  collector_init (&c);
  started = g_get_monotonic_time ();
  g_assert_false (lmd_audio_decoder_decode (LMD_AUDIO_DECODER (dec), input, RATE, 0, collect, &c,
                                            NULL, &error));
  elapsed = (g_get_monotonic_time () - started) / 1e6;
  g_test_message ("stalled decode: %s after %.2f s", error->message, elapsed);
  g_assert_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO);
  g_assert_cmpfloat (elapsed, >=, 1.0);
  g_assert_cmpfloat (elapsed, <, 10.0);
  g_clear_error (&error);
  collector_clear (&c);
  g_clear_object (&dec);

  /* With a long stall timeout, a cancel ends it. */
  g_key_file_set_integer (config, "gst-decoder", "stall_timeout_s", 600);
  dec = G_OBJECT (load_decoder (config, &error));
  g_assert_no_error (error);
  collector_init (&c);
  canceller = g_thread_new ("cancel", cancel_later, cancellable);
  started = g_get_monotonic_time ();
  g_assert_false (lmd_audio_decoder_decode (LMD_AUDIO_DECODER (dec), input, RATE, 0, collect, &c,
                                            cancellable, &error));
  elapsed = (g_get_monotonic_time () - started) / 1e6;
  g_thread_join (canceller);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpfloat (elapsed, <, 10.0);
  collector_clear (&c);
  g_unlink (stuck);
}

/* ---- main ---- */

int
main (int argc, char **argv)
{
  static const char *const encodings[] = { "wav", "flac", "mp3", "vorbis", "opus", "m4a", "webm" };
  g_autoptr (GKeyFile) config = g_key_file_new ();
  int status;

  g_log_set_writer_func (log_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  decoder = load_decoder (config, &load_error);
  librivox = lmd_test_librivox_paths ();

  g_test_add_func ("/gst-decoder/formats", test_formats);
  g_test_add_func ("/gst-decoder/librivox", test_librivox);
  for (gsize i = 0; i < G_N_ELEMENTS (encodings); i++)
    {
      g_autofree char *name = g_strdup_printf ("/gst-decoder/encoded/%s", encodings[i]);
      g_test_add_data_func (name, encodings[i], test_encoded);
    }
  g_test_add_func ("/gst-decoder/resample", test_resample);
  g_test_add_func ("/gst-decoder/video", test_video);
  g_test_add_func ("/gst-decoder/error/empty", test_error_empty);
  g_test_add_func ("/gst-decoder/error/unrecognised", test_error_unrecognised);
  g_test_add_func ("/gst-decoder/error/broken-header", test_error_broken_header);
  g_test_add_func ("/gst-decoder/truncated-data", test_truncated_data);
  g_test_add_func ("/gst-decoder/limit/rate", test_limit_rate);
  g_test_add_func ("/gst-decoder/limit/duration", test_limit_duration);
  g_test_add_func ("/gst-decoder/callback-error", test_callback_error);
  g_test_add_func ("/gst-decoder/cancel", test_cancel);
  g_test_add_func ("/gst-decoder/concurrent", test_concurrent);
  g_test_add_func ("/gst-decoder/config", test_config);
  g_test_add_func ("/gst-decoder/stall", test_stall);

  status = g_test_run ();

  g_clear_object (&decoder);
  g_clear_error (&load_error);
  g_clear_pointer (&librivox, g_ptr_array_unref);
  gst_deinit ();
  return status;
}
