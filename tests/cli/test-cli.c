/* SPDX-License-Identifier: MIT */
/*
 * test-cli.c — lightning-transcribe against the real daemon on a loopback port, with the
 * LibriVox recordings of pocketsphinx-testdata.
 *
 * Covers: batch in every format (text and json against the server's own answer for the same
 * file; srt and vtt through the strict parser: ordered, non-overlapping, inside the audio,
 * same words), standard input, --stream from a WAV file and from raw PCM on standard input
 * (interims before the final, interims rewritten in place on a terminal, real-time pacing,
 * one last message, srt/vtt of the finals),
 * and the exit statuses: bad command line, bad input (here and refused by the server),
 * refused key, unreachable server.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-subtitles.h"
#include "lmd-wer.h"

#define RECORDING "sense_and_sensibility_01_austen_64kb-0870"

static LmdTestServer *server;          /* development mode (no key) */
static LmdTestServer *keyed_server;    /* with a license key */
static char *license_key;
static char *tmp_dir;
static SoupSession *session;
static char *wav_path;
static char *listen_text;              /* the server's own transcript of the recording */
static double listen_duration;

typedef struct {
  int status;   /* exit status */
  char *out;    /* standard output */
  char *err;    /* standard error */
  double seconds;
} CliRun;

static void
cli_run_free (CliRun *self)
{
  g_free (self->out);
  g_free (self->err);
  g_free (self);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (CliRun, cli_run_free)

static const char *
cli_path (void)
{
  static char *path;
  if (path == NULL)
    path = g_build_filename (g_getenv ("LMD_BUILD_DIR"), "client", "lightning-transcribe", NULL);
  return path;
}

/* Runs lightning-transcribe with @args (NULL-terminated), standard input from @stdin_path
 * (nullable: none). */
static CliRun *
run_cli (const char *stdin_path, const char *const *args)
{
  g_autoptr (GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  CliRun *run = g_new0 (CliRun, 1);
  gint64 t0 = g_get_monotonic_time ();

  g_subprocess_launcher_unsetenv (launcher, "LIGHTNING_URL");
  g_subprocess_launcher_unsetenv (launcher, "LIGHTNING_API_KEY");
  if (stdin_path != NULL)
    g_subprocess_launcher_set_stdin_file_path (launcher, stdin_path);
  g_ptr_array_add (argv, (gpointer) cli_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  p = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, NULL, NULL, &run->out, &run->err, &error);
  g_assert_no_error (error);
  run->status = g_subprocess_get_if_exited (p) ? g_subprocess_get_exit_status (p) : -1;
  run->seconds = (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC;
  g_printerr ("# lightning-transcribe exited %d after %.2f s; stderr: %s\n", run->status, run->seconds,
              run->err);
  return run;
}

static gboolean
need_testdata (void)
{
  if (wav_path == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  return TRUE;
}

static char *
reference_text (void)
{
  g_autofree char *path = g_build_filename (lmd_test_librivox_dir (), "transcription", NULL);
  g_autofree char *all = NULL;
  g_auto (GStrv) lines = NULL;

  g_assert_true (g_file_get_contents (path, &all, NULL, NULL));
  lines = g_strsplit (all, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "(" RECORDING ")") != NULL)
      {
        char *open = strrchr (lines[i], '(');
        *open = '\0';
        return g_ascii_strdown (g_strstrip (lines[i]), -1);
      }
  g_assert_not_reached ();
}

static double
wer_against_reference (const char *hypothesis)
{
  g_autofree char *reference = reference_text ();
  LmdWerCounts counts = { 0 };

  lmd_wer_accumulate (&counts, reference, hypothesis);
  return lmd_wer_rate (&counts);
}

/* ---- batch ------------------------------------------------------------------------------ */

static void
test_batch_text (void)
{
  g_autofree char *url = NULL;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  {
    const char *args[] = { "--url", url, wav_path, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_assert_cmpint (r->status, ==, 0);
    g_assert_cmpstr (g_strchomp (r->out), ==, listen_text);
  }
}

static void
test_batch_json (void)
{
  g_autofree char *url = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *o;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  {
    const char *args[] = { "--url", url, "--format", "json", "--language", "en", "--model", "sphinx-en-us",
                           wav_path, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_assert_cmpint (r->status, ==, 0);
    json_parser_load_from_data (parser, r->out, -1, &error);
    g_assert_no_error (error);
    o = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpstr (json_object_get_string_member (o, "text"), ==, listen_text);
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "words")), >, 10);
    g_assert_true (g_str_has_prefix (json_object_get_string_member (o, "request_id"), "req_"));
  }
}

static void
check_subtitles (const char *text, gboolean vtt, const char *expected_words)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) cues = lmd_test_subtitles_parse (text, vtt, listen_duration, &error);
  g_autofree char *joined = NULL;

  g_assert_no_error (error);
  joined = lmd_test_subtitles_join (cues);
  if (expected_words != NULL)
    g_assert_cmpstr (joined, ==, expected_words);
  else
    g_assert_cmpfloat (wer_against_reference (joined), <, 0.5);
}

static void
test_batch_subtitles (void)
{
  g_autofree char *url = NULL;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  for (guint vtt = 0; vtt <= 1; vtt++)
    {
      const char *args[] = { "--url", url, "-f", vtt ? "vtt" : "srt", wav_path, NULL };
      g_autoptr (CliRun) r = run_cli (NULL, args);
      g_assert_cmpint (r->status, ==, 0);
      check_subtitles (r->out, vtt, listen_text);
    }
}

static void
test_batch_stdin (void)
{
  g_autofree char *url = NULL;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  {
    const char *args[] = { "--url", url, "-", NULL };
    g_autoptr (CliRun) r = run_cli (wav_path, args);
    g_assert_cmpint (r->status, ==, 0);
    g_assert_cmpstr (g_strchomp (r->out), ==, listen_text);
  }
}

/* ---- stream ----------------------------------------------------------------------------- */

static void
test_stream_wav_json (void)
{
  g_autofree char *url = NULL;
  g_auto (GStrv) lines = NULL;
  guint interims = 0, finals = 0, lasts = 0, first_final = 0;
  g_autoptr (GString) final_text = g_string_new (NULL);

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  {
    const char *args[] = { "--url", url, "--stream", "--format", "json", "--speed", "2", wav_path, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_assert_cmpint (r->status, ==, 0);
    /* at twice real time the audio takes half its duration to send */
    g_assert_cmpfloat (r->seconds, >=, listen_duration / 2 * 0.9);
    lines = g_strsplit (g_strchomp (r->out), "\n", -1);
  }
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      JsonObject *o;

      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      o = json_node_get_object (json_parser_get_root (parser));
      if (json_object_has_member (o, "type"))
        continue;
      if (json_object_get_boolean_member (o, "is_last"))
        lasts++;
      else if (json_object_get_boolean_member (o, "is_final"))
        {
          if (finals++ == 0)
            first_final = i;
          if (final_text->len > 0)
            g_string_append_c (final_text, ' ');
          g_string_append (final_text, json_object_get_string_member (o, "transcript"));
        }
      else
        interims++;
      g_assert_true (lasts == 0 || lines[i + 1] == NULL); /* the last message is the last line */
    }
  g_assert_cmpuint (lasts, ==, 1);
  g_assert_cmpuint (finals, >=, 1);
  g_assert_cmpuint (interims, >=, 1);
  g_assert_cmpuint (first_final, >, 0); /* an interim came before the first final */
  g_assert_cmpfloat (wer_against_reference (final_text->str), <, 0.5);
}

/* Raw s16le PCM on standard input (what arecord -f S16_LE -r 16000 writes), text output:
 * one line per final and nothing else when standard output is not a terminal. */
static void
test_stream_raw_stdin_text (void)
{
  g_autofree char *url = NULL;
  g_autofree char *raw_path = NULL;
  gsize n = 0;
  g_autofree float *samples = NULL;
  g_autofree gint16 *pcm = NULL;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  samples = lmd_test_librivox_read (RECORDING, &n);
  pcm = g_new (gint16, n);
  for (gsize i = 0; i < n; i++)
    pcm[i] = GINT16_TO_LE ((gint16) CLAMP (samples[i] * 32767.0f, -32768.0f, 32767.0f));
  raw_path = g_build_filename (tmp_dir, "speech.s16le", NULL);
  g_assert_true (g_file_set_contents (raw_path, (const char *) pcm, (gssize) (n * 2), NULL));
  {
    const char *args[] = { "--url", url, "--stream", "--speed", "2", "-", NULL };
    g_autoptr (CliRun) r = run_cli (raw_path, args);
    g_autofree char *joined = NULL;
    g_auto (GStrv) lines = NULL;

    g_assert_cmpint (r->status, ==, 0);
    g_assert_null (strchr (r->out, '\r')); /* no in-place interims on a pipe */
    lines = g_strsplit (g_strchomp (r->out), "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), >=, 1);
    joined = g_strjoinv (" ", lines);
    g_assert_cmpfloat (wer_against_reference (joined), <, 0.5);
  }
}

static void
test_stream_subtitles (void)
{
  g_autofree char *url = NULL;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (server, "");
  for (guint vtt = 0; vtt <= 1; vtt++)
    {
      const char *args[] = { "--url", url, "--stream", "--speed", "4", "-f", vtt ? "vtt" : "srt", wav_path, NULL };
      g_autoptr (CliRun) r = run_cli (NULL, args);
      g_assert_cmpint (r->status, ==, 0);
      check_subtitles (r->out, vtt, NULL);
    }
}

/* On a terminal (a pseudo-terminal made by script(1)), interims are rewritten in place: a
 * carriage return and an erase-line before each, and the final on a line of its own. */
static void
test_stream_terminal_interims (void)
{
  g_autofree char *url = NULL;
  g_autofree char *command = NULL;
  g_autofree char *script = g_find_program_in_path ("script");

  if (!need_testdata ())
    return;
  if (script == NULL)
    {
      g_test_skip ("script(1) (util-linux) is not installed");
      return;
    }
  url = lmd_test_server_url (server, "");
  command = g_strdup_printf ("'%s' --url '%s' --stream --speed 2 '%s'", cli_path (), url, wav_path);
  {
    const char *args[] = { "-q", "-e", "-c", command, "/dev/null", NULL };
    g_autoptr (GSubprocess) p = NULL;
    g_autoptr (GError) error = NULL;
    g_autofree char *out = NULL;
    g_autoptr (GPtrArray) argv = g_ptr_array_new ();
    const char *erase;

    g_ptr_array_add (argv, script);
    for (guint i = 0; args[i] != NULL; i++)
      g_ptr_array_add (argv, (gpointer) args[i]);
    g_ptr_array_add (argv, NULL);
    p = g_subprocess_newv ((const char *const *) argv->pdata,
                           G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_PIPE, &error);
    g_assert_no_error (error);
    g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 0);
    /* at least one interim shown in place, then erased for the final */
    erase = strstr (out, "\r\033[K");
    g_assert_nonnull (erase);
    g_assert_true (g_ascii_isalpha (erase[4]) || erase[4] == '\xe2' /* "…" */);
    g_assert_nonnull (strstr (erase + 4, "\r\033[K"));
    /* the final is a whole line: the text, then the end of the line */
    g_assert_cmpfloat (wer_against_reference (strrchr (g_strchomp (out), '\033') + 3), <, 0.5);
  }
}

/* A WAV of 8-bit samples cannot be streamed as it is: bad input, said before connecting. */
static void
test_stream_unsupported_wav (void)
{
  static const guint8 header[44] = {
    'R', 'I', 'F', 'F', 36 + 8, 0, 0, 0, 'W', 'A', 'V', 'E',
    'f', 'm', 't', ' ', 16, 0, 0, 0, 1, 0, 1, 0, 0x80, 0x3e, 0, 0, 0x80, 0x3e, 0, 0, 1, 0, 8, 0,
    'd', 'a', 't', 'a', 8, 0, 0, 0,
  };
  g_autofree char *path = g_build_filename (tmp_dir, "u8.wav", NULL);
  g_autofree char *url = lmd_test_server_url (server, "");
  g_autoptr (GByteArray) wav = g_byte_array_new ();
  const guint8 silence[8] = { 128, 128, 128, 128, 128, 128, 128, 128 };

  g_byte_array_append (wav, header, sizeof header);
  g_byte_array_append (wav, silence, sizeof silence);
  g_assert_true (g_file_set_contents (path, (const char *) wav->data, wav->len, NULL));
  {
    const char *args[] = { "--url", url, "--stream", path, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_assert_cmpint (r->status, ==, 3);
    g_assert_nonnull (strstr (r->err, "8-bit"));
  }
}

/* ---- exit statuses ---------------------------------------------------------------------- */

static void
test_exit_usage (void)
{
  const char *bad_format[] = { "--format", "docx", "x.wav", NULL };
  const char *no_file[] = { NULL };
  const char *bad_url[] = { "--url", "ftp://127.0.0.1/", "x.wav", NULL };
  g_autoptr (CliRun) a = run_cli (NULL, bad_format);
  g_autoptr (CliRun) b = run_cli (NULL, no_file);
  g_autoptr (CliRun) c = run_cli (NULL, bad_url);

  g_assert_cmpint (a->status, ==, 2);
  g_assert_nonnull (strstr (a->err, "--format"));
  g_assert_cmpint (b->status, ==, 2);
  g_assert_cmpint (c->status, ==, 2);
}

static void
test_exit_bad_input (void)
{
  g_autofree char *url = lmd_test_server_url (server, "");
  g_autofree char *text_path = g_build_filename (tmp_dir, "notes.txt", NULL);
  g_autofree char *missing = g_build_filename (tmp_dir, "missing.wav", NULL);

  g_assert_true (g_file_set_contents (text_path, "these are not sounds\n", -1, NULL));
  {
    /* refused by the server: 415 UNSUPPORTED_FORMAT, with its sentence and request id */
    const char *args[] = { "--url", url, text_path, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_assert_cmpint (r->status, ==, 3);
    g_assert_nonnull (strstr (r->err, "UNSUPPORTED_FORMAT"));
    g_assert_nonnull (strstr (r->err, "(request req_"));
    g_assert_cmpstr (r->out, ==, "");
  }
  {
    const char *args[] = { "--url", url, missing, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_assert_cmpint (r->status, ==, 3);
  }
  {
    /* an unknown model: 400 INVALID_PARAMETER, in stream mode too */
    const char *args[] = { "--url", url, "--model", "no-such-model", wav_path != NULL ? wav_path : text_path, NULL };
    const char *stream_args[] = { "--url", url, "--stream", "--model", "no-such-model",
                                  wav_path != NULL ? wav_path : text_path, NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_autoptr (CliRun) s = run_cli (NULL, stream_args);
    g_assert_cmpint (r->status, ==, 3);
    g_assert_nonnull (strstr (r->err, "INVALID_PARAMETER"));
    g_assert_cmpint (s->status, ==, 3);
    g_assert_nonnull (strstr (s->err, "INVALID_PARAMETER"));
  }
}

static void
test_exit_unreachable (void)
{
  /* a loopback port that was free a moment ago: nothing listens there */
  g_autoptr (GSocketListener) probe = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = NULL;
  guint port;

  g_socket_listener_add_address (probe, addr, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_listener_close (probe);
  url = g_strdup_printf ("http://127.0.0.1:%u", port);
  {
    const char *args[] = { "--url", url, cli_path (), NULL };
    const char *stream_args[] = { "--url", url, "--stream", cli_path (), NULL };
    g_autoptr (CliRun) r = run_cli (NULL, args);
    g_autoptr (CliRun) s = run_cli (NULL, stream_args);
    g_assert_cmpint (r->status, ==, 6);
    g_assert_nonnull (strstr (r->err, "cannot reach"));
    g_assert_cmpint (s->status, ==, 6);
  }
}

static void
test_exit_auth (void)
{
  g_autofree char *url = NULL;

  if (!need_testdata ())
    return;
  url = lmd_test_server_url (keyed_server, "");
  {
    const char *none[] = { "--url", url, wav_path, NULL };
    const char *wrong[] = { "--url", url, "--key", "not-the-key", wav_path, NULL };
    const char *wrong_stream[] = { "--url", url, "--key", "not-the-key", "--stream", "--speed", "4", wav_path, NULL };
    const char *right[] = { "--url", url, "--key", license_key, wav_path, NULL };
    const char *right_stream[] = { "--url", url, "--stream", "--speed", "4", wav_path, NULL };
    g_autoptr (CliRun) a = run_cli (NULL, none);
    g_autoptr (CliRun) b = run_cli (NULL, wrong);
    g_autoptr (CliRun) c = run_cli (NULL, wrong_stream);
    g_autoptr (CliRun) d = run_cli (NULL, right);
    g_autoptr (GSubprocessLauncher) launcher = NULL;

    g_assert_cmpint (a->status, ==, 4);
    g_assert_nonnull (strstr (a->err, "INVALID_LICENSE"));
    g_assert_cmpint (b->status, ==, 4);
    g_assert_cmpint (c->status, ==, 4);
    g_assert_nonnull (strstr (c->err, "INVALID_LICENSE"));
    g_assert_cmpint (d->status, ==, 0);
    g_assert_cmpstr (g_strchomp (d->out), ==, listen_text);
    /* the key from the environment */
    {
      g_autoptr (GSubprocess) p = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *out = NULL;
      GPtrArray *argv = g_ptr_array_new ();

      launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
      g_subprocess_launcher_setenv (launcher, "LIGHTNING_API_KEY", license_key, TRUE);
      g_subprocess_launcher_setenv (launcher, "LIGHTNING_URL", url, TRUE);
      g_ptr_array_add (argv, (gpointer) cli_path ());
      for (guint i = 2; right_stream[i] != NULL; i++)
        g_ptr_array_add (argv, (gpointer) right_stream[i]);
      g_ptr_array_add (argv, NULL);
      p = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
      g_ptr_array_unref (argv);
      g_assert_no_error (error);
      g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 0);
      g_assert_cmpfloat (wer_against_reference (g_strchomp (out)), <, 0.5);
    }
  }
}

/* ---- the subtitle parser refuses what it must ------------------------------------------- */

static void
test_parser_is_strict (void)
{
  static const struct {
    const char *text;
    gboolean vtt;
  } bad[] = {
    { "1\n00:00:01,000 --> 00:00:02,000\na\n\n2\n00:00:01,500 --> 00:00:03,000\nb\n\n", FALSE }, /* overlap */
    { "1\n00:00:02,000 --> 00:00:01,000\na\n\n", FALSE },                                       /* end < start */
    { "2\n00:00:01,000 --> 00:00:02,000\na\n\n", FALSE },                                       /* numbering */
    { "1\n00:00:01.000 --> 00:00:02.000\na\n\n", FALSE },                                       /* separator */
    { "1\n00:00:01,000 --> 00:00:09,000\na\n\n", FALSE },                                       /* past the audio */
    { "1\n00:00:01,000 --> 00:00:02,000\n\n", FALSE },                                          /* no text */
    { "00:00:01.000 --> 00:00:02.000\na\n\n", TRUE },                                           /* no header */
    { "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na\n", TRUE },                                  /* no blank line */
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) good = lmd_test_subtitles_parse ("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na b\n\n"
                                                      "c\n00:00:02.000 --> 00:00:03.500\nc\n\n", TRUE, 4.0, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (good->len, ==, 2);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_autoptr (GArray) cues = lmd_test_subtitles_parse (bad[i].text, bad[i].vtt, 5.0, &e);
      g_assert_null (cues);
      g_assert_error (e, G_MARKUP_ERROR, G_MARKUP_ERROR_PARSE);
    }
}

/* ---- set-up ----------------------------------------------------------------------------- */

static char *
run_license_tool (const char *const *args)
{
  g_autofree char *tool = g_build_filename (g_getenv ("LMD_BUILD_DIR"), "plugins", "license",
                                            "lightning-license", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  char *out = NULL;

  g_ptr_array_add (argv, tool);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  p = g_subprocess_newv ((const char *const *) argv->pdata, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (p, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (p));
  return g_strstrip (out);
}

static void
fetch_listen_reference (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen?timestamps=true");
  g_autoptr (GBytes) audio = NULL;
  char *data;
  gsize len;
  g_autoptr (LmdTestResponse) r = NULL;
  JsonObject *o;

  g_assert_true (g_file_get_contents (wav_path, &data, &len, NULL));
  audio = g_bytes_new_take (data, len);
  r = lmd_test_http (session, "POST", url, "audio/wav", audio, NULL);
  g_assert_cmpuint (r->status, ==, 200);
  o = lmd_test_response_json (r);
  listen_text = g_strdup (json_object_get_string_member (o, "text"));
  listen_duration = json_object_get_double_member (o, "duration");
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp ("lmd-cli-XXXXXX", &error);
  g_assert_no_error (error);
  server = lmd_test_server_start ("[plugins]\nload=http;gst-decoder;sphinx\n[limits]\nworkers=2\n", NULL, &error);
  g_assert_no_error (error);
  {
    g_autofree char *prefix = g_build_filename (tmp_dir, "vendor", NULL);
    g_autofree char *pub = g_strconcat (prefix, ".pub", NULL);
    g_autofree char *signing = g_strconcat (prefix, ".key", NULL);
    g_autofree char *state = g_build_filename (tmp_dir, "state", NULL);
    g_autofree char *config = NULL;
    const char *keygen[] = { "keygen", "--out", prefix, NULL };
    const char *issue[] = { "issue", "--signing-key", signing, "--licensee", "Test Ltd", "--days", "30",
                            "--features", "batch,streaming", NULL };

    g_free (run_license_tool (keygen));
    license_key = run_license_tool (issue);
    config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx;license\n[limits]\nworkers=1\n"
                              "[license]\nkey=%s\npublic_keys=%s\nstate_dir=%s\n", license_key, pub, state);
    keyed_server = lmd_test_server_start (config, NULL, &error);
    g_assert_no_error (error);
  }
  session = soup_session_new_with_options ("timeout", 300, NULL);
  if (lmd_test_librivox_dir () != NULL)
    {
      wav_path = g_build_filename (lmd_test_librivox_dir (), RECORDING ".wav", NULL);
      fetch_listen_reference ();
    }

  g_test_add_func ("/cli/subtitle-parser-is-strict", test_parser_is_strict);
  g_test_add_func ("/cli/batch/text", test_batch_text);
  g_test_add_func ("/cli/batch/json", test_batch_json);
  g_test_add_func ("/cli/batch/srt-vtt", test_batch_subtitles);
  g_test_add_func ("/cli/batch/stdin", test_batch_stdin);
  g_test_add_func ("/cli/stream/wav-json", test_stream_wav_json);
  g_test_add_func ("/cli/stream/raw-stdin-text", test_stream_raw_stdin_text);
  g_test_add_func ("/cli/stream/srt-vtt", test_stream_subtitles);
  g_test_add_func ("/cli/stream/terminal-interims", test_stream_terminal_interims);
  g_test_add_func ("/cli/stream/unsupported-wav", test_stream_unsupported_wav);
  g_test_add_func ("/cli/exit/usage", test_exit_usage);
  g_test_add_func ("/cli/exit/bad-input", test_exit_bad_input);
  g_test_add_func ("/cli/exit/unreachable", test_exit_unreachable);
  g_test_add_func ("/cli/exit/auth", test_exit_auth);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_assert_cmpint (lmd_test_server_stop (keyed_server), ==, 0);
  g_object_unref (session);
  {
    const char *rm[] = { "rm", "-rf", tmp_dir, NULL };
    g_autoptr (GSubprocess) p = g_subprocess_newv (rm, G_SUBPROCESS_FLAGS_NONE, NULL);
    if (p != NULL)
      g_subprocess_wait (p, NULL, NULL);
  }
  g_free (tmp_dir);
  g_free (wav_path);
  g_free (listen_text);
  g_free (license_key);
  return status;
}
