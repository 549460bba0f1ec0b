/* SPDX-License-Identifier: MIT */
/*
 * lightning-transcribe — the command-line client of lightning-mediad.
 *
 *   lightning-transcribe [--url URL] [--key KEY] [--format text|json|srt|vtt] [--model M]
 *                        [--language L] [--stream [--sample-rate HZ] [--speed X]] [--quiet]
 *                        FILE|-
 *
 * Batch by default (lmd-cli-batch.c): the file is uploaded and the transcript printed.
 * --stream (lmd-cli-stream.c) sends a WAV or raw PCM over the WebSocket at real-time pace and
 * prints finals as they come.  Exit statuses: lmd-cli-exit.h, docs/cli.md.
 */
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <locale.h>
#include <stdio.h>
#include <unistd.h>

#include "lmd-build-config.h"

#include "lmd-cli-batch.h"
#include "lmd-cli-exit.h"
#include "lmd-cli-options.h"
#include "lmd-cli-stream.h"

gboolean
lmd_cli_format_from_string (const char *name, LmdCliFormat *out)
{
  static const char *const names[] = { "text", "json", "srt", "vtt" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (name, names[i]) == 0)
      {
        *out = (LmdCliFormat) i;
        return TRUE;
      }
  return FALSE;
}

/* (transfer full) all of standard input */
static GBytes *
read_stdin (GError **error)
{
  g_autoptr (GInputStream) in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
  g_autoptr (GByteArray) all = g_byte_array_new ();
  guint8 buffer[65536];

  for (;;)
    {
      gssize n = g_input_stream_read (in, buffer, sizeof buffer, NULL, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
      g_byte_array_append (all, buffer, (guint) n);
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&all));
}

int
main (int argc, char **argv)
{
  g_autofree char *url = NULL, *key = NULL, *model = NULL, *language = NULL, *format = NULL;
  gboolean stream = FALSE, quiet = FALSE, version = FALSE;
  gint sample_rate = 16000;
  double speed = 1.0;
  const GOptionEntry entries[] = {
    { "url", 'u', 0, G_OPTION_ARG_STRING, &url, "The server (default $LIGHTNING_URL, else http://127.0.0.1:7100)", "URL" },
    { "key", 'k', 0, G_OPTION_ARG_STRING, &key, "The API key (default $LIGHTNING_API_KEY)", "KEY" },
    { "format", 'f', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json, srt or vtt", "FORMAT" },
    { "model", 'm', 0, G_OPTION_ARG_STRING, &model, "A loaded model (default: the server's)", "MODEL" },
    { "language", 'l', 0, G_OPTION_ARG_STRING, &language, "ISO 639-1 code or auto (default: the server's)", "LANG" },
    { "stream", 's', 0, G_OPTION_ARG_NONE, &stream, "Live transcription over the WebSocket, at real-time pace", NULL },
    { "sample-rate", 'r', 0, G_OPTION_ARG_INT, &sample_rate, "--stream: the rate of raw PCM input (default 16000)", "HZ" },
    { "speed", 0, 0, G_OPTION_ARG_DOUBLE, &speed, "--stream: audio seconds sent per second (default 1: real time)", "X" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress bar", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("FILE|-");
  g_autoptr (GError) error = NULL;
  LmdCliOptions options = { 0 };
  const char *input;

  setlocale (LC_ALL, "");
  g_option_context_set_summary (context,
    "Transcribes FILE (or standard input, -) with a lightning-mediad server.\n"
    "Batch by default; --stream sends a WAV or raw s16le mono PCM over the WebSocket.\n\n"
    "Exit status: 0 done, 1 output not written, 2 bad command line, 3 bad input (unreadable,\n"
    "or refused by the server), 4 key refused, 5 server error or busy, 6 server unreachable.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "lightning-transcribe: %s (see --help)\n", error->message);
      return LMD_CLI_EXIT_USAGE;
    }
  if (version)
    {
      printf ("lightning-transcribe %s\n", LMD_VERSION);
      return LMD_CLI_EXIT_OK;
    }
  if (argc != 2)
    {
      fprintf (stderr, "lightning-transcribe: give one FILE, or - for standard input (see --help)\n");
      return LMD_CLI_EXIT_USAGE;
    }
  input = argv[1];
  if (format != NULL && !lmd_cli_format_from_string (format, &options.format))
    {
      fprintf (stderr, "lightning-transcribe: --format %s: not one of text, json, srt, vtt\n", format);
      return LMD_CLI_EXIT_USAGE;
    }
  if (!(speed > 0.0 && speed <= 100.0))
    {
      fprintf (stderr, "lightning-transcribe: --speed must be more than 0 and at most 100\n");
      return LMD_CLI_EXIT_USAGE;
    }
  if (sample_rate < 8000 || sample_rate > 48000)
    {
      fprintf (stderr, "lightning-transcribe: --sample-rate must be 8000..48000\n");
      return LMD_CLI_EXIT_USAGE;
    }
  if (url == NULL)
    url = g_strdup (g_getenv ("LIGHTNING_URL") != NULL ? g_getenv ("LIGHTNING_URL") : "http://127.0.0.1:7100");
  if (key == NULL && g_getenv ("LIGHTNING_API_KEY") != NULL && g_getenv ("LIGHTNING_API_KEY")[0] != '\0')
    key = g_strdup (g_getenv ("LIGHTNING_API_KEY"));
  if (!g_str_has_prefix (url, "http://") && !g_str_has_prefix (url, "https://"))
    {
      fprintf (stderr, "lightning-transcribe: --url %s: give an http:// or https:// URL\n", url);
      return LMD_CLI_EXIT_USAGE;
    }
  options.url = url;
  options.key = key;
  options.model = model;
  options.language = language;
  options.stream = stream;
  options.sample_rate = (guint) sample_rate;
  options.speed = speed;
  options.interim_in_place = isatty (STDOUT_FILENO);
  /* in --stream mode on one terminal, the interim line already shows the progress */
  options.progress = !quiet && isatty (STDERR_FILENO) && !(stream && options.interim_in_place);

  if (stream)
    {
      g_autoptr (GInputStream) in = NULL;
      guint64 size = 0;

      if (g_str_equal (input, "-"))
        in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
      else
        {
          g_autoptr (GFile) file = g_file_new_for_commandline_arg (input);
          g_autoptr (GFileInfo) info = NULL;
          in = G_INPUT_STREAM (g_file_read (file, NULL, &error));
          if (in == NULL)
            {
              fprintf (stderr, "lightning-transcribe: cannot open %s: %s\n", input, error->message);
              return LMD_CLI_EXIT_INPUT;
            }
          info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE, NULL, NULL);
          size = info != NULL ? (guint64) g_file_info_get_size (info) : 0;
        }
      return lmd_cli_stream_run (&options, in, size);
    }
  else
    {
      g_autoptr (GBytes) audio = NULL;
      g_autofree char *name = NULL;

      if (g_str_equal (input, "-"))
        {
          audio = read_stdin (&error);
          name = g_strdup ("audio");
        }
      else
        {
          g_autoptr (GMappedFile) mapped = g_mapped_file_new (input, FALSE, &error);
          if (mapped != NULL)
            audio = g_mapped_file_get_bytes (mapped);
          name = g_path_get_basename (input);
        }
      if (audio == NULL)
        {
          fprintf (stderr, "lightning-transcribe: cannot read %s: %s\n", input, error->message);
          return LMD_CLI_EXIT_INPUT;
        }
      if (g_bytes_get_size (audio) == 0)
        {
          fprintf (stderr, "lightning-transcribe: %s is empty\n", input);
          return LMD_CLI_EXIT_INPUT;
        }
      return lmd_cli_batch_run (&options, audio, name);
    }
}
