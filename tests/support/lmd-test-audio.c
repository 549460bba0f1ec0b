/* SPDX-License-Identifier: MIT */
/*
 * lmd-test-audio.c — re-encodes a WAV file with the real GStreamer encoders, at test time:
 *
 *   filesrc ! decodebin ! audioconvert ! audioresample ! ENCODER [! MUXER] ! filesink
 *
 * The output goes to a temporary file rather than an appsink because muxers such as mp4mux
 * rewrite their header when they finish, which needs a seekable sink.  audioresample lets an
 * encoder with a fixed set of rates (opusenc: 8, 12, 16, 24 or 48 kHz) take any input.
 */
#include "lmd-test-audio.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "lmd-test-wav.h"

#define ENCODE_TIMEOUT (120 * GST_SECOND)

typedef struct {
  const char *format;
  const char *encoders[4]; /* alternatives, the first installed one is used */
  const char *muxer;       /* nullable */
} EncoderChain;

static const EncoderChain chains[] = {
  { "wav", { "wavenc" }, NULL },
  { "flac", { "flacenc" }, NULL },
  { "mp3", { "lamemp3enc" }, NULL },
  { "vorbis", { "vorbisenc" }, "oggmux" },
  { "opus", { "opusenc" }, "oggmux" },
  { "m4a", { "voaacenc", "avenc_aac", "fdkaacenc" }, "mp4mux" },
  { "webm", { "opusenc" }, "webmmux" },
};

static gboolean
have_element (const char *name)
{
  g_autoptr (GstElementFactory) factory = gst_element_factory_find (name);
  return factory != NULL;
}

/* (transfer full) "ENCODER [! MUXER]" for @format, or NULL with @error set */
static char *
encoder_description (const char *format, GError **error)
{
  for (gsize i = 0; i < G_N_ELEMENTS (chains); i++)
    {
      const EncoderChain *chain = &chains[i];
      const char *encoder = NULL;

      if (!g_str_equal (chain->format, format))
        continue;
      for (guint j = 0; j < G_N_ELEMENTS (chain->encoders) && chain->encoders[j] != NULL; j++)
        if (have_element (chain->encoders[j]))
          {
            encoder = chain->encoders[j];
            break;
          }
      if (encoder == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "no GStreamer encoder for %s is installed (tried %s%s%s)", format,
                       chain->encoders[0], chain->encoders[1] != NULL ? ", " : "",
                       chain->encoders[1] != NULL ? chain->encoders[1] : "");
          return NULL;
        }
      if (chain->muxer != NULL && !have_element (chain->muxer))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                       "the GStreamer muxer %s (for %s) is not installed", chain->muxer, format);
          return NULL;
        }
      return chain->muxer != NULL ? g_strdup_printf ("%s ! %s", encoder, chain->muxer)
                                  : g_strdup (encoder);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unknown test format '%s'", format);
  return NULL;
}

/* Runs @pipeline to EOS; FALSE with @error on a GStreamer error or a timeout. */
static gboolean
run_to_eos (GstElement *pipeline, GError **error)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr (GstMessage) message = NULL;
  gboolean ok = FALSE;

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      if (message == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the encoding pipeline does not start");
    }
  else
    {
      message = gst_bus_timed_pop_filtered (bus, ENCODE_TIMEOUT,
                                            GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
      if (message == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "encoding did not finish in time");
      else
        ok = GST_MESSAGE_TYPE (message) == GST_MESSAGE_EOS;
    }
  if (message != NULL && GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) gst_error = NULL;
      g_autofree char *debug = NULL;

      gst_message_parse_error (message, &gst_error, &debug);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s (%s)",
                   GST_MESSAGE_SRC_NAME (message), gst_error->message, debug != NULL ? debug : "");
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return ok;
}

GBytes *
lmd_test_audio_encode (const char *wav_path, const char *format, GError **error)
{
  g_autofree char *encoder = NULL;
  g_autofree char *description = NULL;
  g_autofree char *out_path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GstElement) pipeline = NULL;
  g_autoptr (GstElement) in = NULL;
  g_autoptr (GstElement) out = NULL;
  gsize length = 0;
  gboolean ok;
  int fd;

  g_return_val_if_fail (wav_path != NULL && format != NULL, NULL);

  if (!gst_init_check (NULL, NULL, error))
    return NULL;
  if (!g_file_test (wav_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no such file", wav_path);
      return NULL;
    }
  encoder = encoder_description (format, error);
  if (encoder == NULL)
    return NULL;
  description = g_strdup_printf ("filesrc name=in ! decodebin ! audioconvert ! audioresample ! "
                                 "%s ! filesink name=out",
                                 encoder);
  pipeline = gst_parse_launch_full (description, NULL, GST_PARSE_FLAG_FATAL_ERRORS, error);
  if (pipeline == NULL)
    return NULL;
  gst_object_ref_sink (pipeline);

  fd = g_file_open_tmp ("lmd-test-audio-XXXXXX", &out_path, error);
  if (fd < 0)
    return NULL;
  g_close (fd, NULL);

  in = gst_bin_get_by_name (GST_BIN (pipeline), "in");
  out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  g_object_set (in, "location", wav_path, NULL);
  g_object_set (out, "location", out_path, NULL);

  ok = run_to_eos (pipeline, error) && g_file_get_contents (out_path, &contents, &length, error);
  g_unlink (out_path);
  if (!ok)
    {
      g_prefix_error (error, "encoding %s as %s: ", wav_path, format);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&contents), length);
}

const char *
lmd_test_librivox_dir (void)
{
  static const char *const dir = "/usr/share/pocketsphinx/test/data/librivox";

  return g_file_test (dir, G_FILE_TEST_IS_DIR) ? dir : NULL;
}

float *
lmd_test_librivox_read (const char *name, gsize *n_samples)
{
  const char *dir = lmd_test_librivox_dir ();
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  float *samples;
  guint rate = 0;

  *n_samples = 0;
  if (dir == NULL)
    return NULL;
  path = g_strdup_printf ("%s/%s.wav", dir, name);
  samples = lmd_test_wav_read (path, &rate, n_samples, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rate, ==, LMD_TEST_LIBRIVOX_RATE);
  return samples;
}

GStrv
lmd_test_librivox_ids (void)
{
  const char *dir = lmd_test_librivox_dir ();
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  GStrv ids;

  if (dir == NULL)
    return NULL;
  path = g_build_filename (dir, "fileids", NULL);
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  ids = g_strsplit (g_strstrip (text), "\n", -1);
  for (guint i = 0; ids[i] != NULL; i++)
    g_strstrip (ids[i]);
  return ids;
}

GBytes *
lmd_test_librivox_file (const char *name)
{
  const char *dir = lmd_test_librivox_dir ();
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  if (dir == NULL)
    return NULL;
  path = g_strdup_printf ("%s/%s.wav", dir, name);
  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
lmd_test_librivox_paths (void)
{
  const char *dir = lmd_test_librivox_dir ();
  g_autoptr (GDir) handle = NULL;
  GPtrArray *paths;
  const char *name;

  if (dir == NULL || (handle = g_dir_open (dir, 0, NULL)) == NULL)
    return NULL;
  paths = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (handle)) != NULL)
    if (g_str_has_suffix (name, ".wav"))
      g_ptr_array_add (paths, g_build_filename (dir, name, NULL));
  g_ptr_array_sort (paths, compare_paths);
  return paths;
}
