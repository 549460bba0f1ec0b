/* SPDX-License-Identifier: MIT */
/*
 * test-wyoming.c — the Wyoming transport end to end: the real daemon with the http and
 * wyoming transports, the GStreamer decoder and sphinx, on loopback ports; a Wyoming client
 * written from the protocol's description (lmd-test-wyoming-client.c); real speech (the
 * five LibriVox recordings of pocketsphinx-testdata).
 *
 * Covers: describe → info with the loaded model; every recording in 1,024-byte chunks as
 * fast as possible and at real-time pace (the five sent at once, each at the pace of a
 * microphone, so the pass takes as long as the longest recording), at 16 kHz mono and
 * 44.1 kHz stereo, each transcript equal to /v1/listen's text for the same audio; every bad
 * input answered with an error event, a log line with its request id and the connection
 * closed while another client's transcriptions succeed; admission by the license with
 * [wyoming] api_key; transcript streaming (start, a chunk
 * per utterance, transcript, stop); 50 connections at once; the port
 * closed when the plugin is not loaded, and HTTP served when it is.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-wav.h"
#include "lmd-test-wyoming-client.h"

#define LIBRIVOX_FILES 5
#define CHUNK_BYTES 1024
#define IO_TIMEOUT_S 300
#define IDLE_TIMEOUT_S 4
#define CONCURRENT 50

static LmdTestServer *server;
static guint wyoming_port;
static SoupSession *session;
static char *librivox_ids[LIBRIVOX_FILES];

/* One recording in a format: its PCM and the text /v1/listen gives for the same PCM. */
typedef struct {
  GBytes *pcm;        /* owned: interleaved signed 16-bit little-endian */
  guint rate;
  guint channels;
  char *reference;    /* owned: /v1/listen's text */
} Clip;

static Clip clips16[LIBRIVOX_FILES];  /* 16 kHz mono */
static guint find_wyoming_port (LmdTestServer *s);
static Clip clips44[LIBRIVOX_FILES];  /* 44.1 kHz stereo */

/* ---- audio -------------------------------------------------------------------------------- */

static void
put_le (guint8 *p, guint32 v, guint bytes)
{
  for (guint i = 0; i < bytes; i++)
    p[i] = (v >> (8 * i)) & 0xff;
}

/* (transfer full) a 16-bit PCM WAV file image of @pcm. */
static GBytes *
wav_image (GBytes *pcm, guint rate, guint channels)
{
  gsize len = g_bytes_get_size (pcm);
  guint8 *image = g_malloc (44 + len);

  memcpy (image, "RIFF", 4);
  put_le (image + 4, (guint32) (36 + len), 4);
  memcpy (image + 8, "WAVEfmt ", 8);
  put_le (image + 16, 16, 4);
  put_le (image + 20, 1, 2);
  put_le (image + 22, channels, 2);
  put_le (image + 24, rate, 4);
  put_le (image + 28, rate * channels * 2, 4);
  put_le (image + 32, channels * 2, 2);
  put_le (image + 34, 16, 2);
  memcpy (image + 36, "data", 4);
  put_le (image + 40, (guint32) len, 4);
  memcpy (image + 44, g_bytes_get_data (pcm, NULL), len);
  return g_bytes_new_take (image, 44 + len);
}

static gint16
to_s16 (float x)
{
  return (gint16) CLAMP (x * 32768.0f, -32768.0f, 32767.0f);
}

/* (transfer full) @samples (mono, @in_rate) as s16 PCM at @out_rate with @channels: linear
 * interpolation, the second channel at 80 % of the first so a down-mix has work to do. */
static GBytes *
make_pcm (const float *samples, gsize n, guint in_rate, guint out_rate, guint channels)
{
  gsize out_n = (gsize) ((double) n * out_rate / in_rate);
  gint16 *out = g_new (gint16, out_n * channels);

  for (gsize i = 0; i < out_n; i++)
    {
      double t = (double) i * in_rate / out_rate;
      gsize k = (gsize) t;
      double frac = t - k;
      float x = k + 1 < n ? (float) (samples[k] * (1 - frac) + samples[k + 1] * frac) : samples[MIN (k, n - 1)];
      for (guint c = 0; c < channels; c++)
        out[i * channels + c] = GINT16_TO_LE (to_s16 (c == 0 ? x : 0.8f * x));
    }
  return g_bytes_new_take (out, out_n * channels * sizeof (gint16));
}

/* (transfer full) /v1/listen's text for @pcm. */
static char *
listen_text (GBytes *pcm, guint rate, guint channels)
{
  g_autoptr (GBytes) wav = wav_image (pcm, rate, channels);
  g_autofree char *url = lmd_test_server_url (server, "/v1/listen");
  g_autoptr (LmdTestResponse) r = lmd_test_http (session, "POST", url, "audio/wav", wav, NULL);
  JsonObject *o;

  g_assert_no_error (r->error);
  if (r->status != 200)
    g_error ("/v1/listen: %u %.*s", r->status, (int) g_bytes_get_size (r->body),
             (const char *) g_bytes_get_data (r->body, NULL));
  o = lmd_test_response_json (r);
  return g_strdup (json_object_get_string_member (o, "text"));
}

static void
clip_init (Clip *clip, const float *samples, gsize n, guint rate, guint channels)
{
  clip->pcm = make_pcm (samples, n, LMD_TEST_LIBRIVOX_RATE, rate, channels);
  clip->rate = rate;
  clip->channels = channels;
  clip->reference = listen_text (clip->pcm, rate, channels);
}

static gboolean
need_testdata (void)
{
  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return FALSE;
    }
  if (clips16[0].pcm == NULL)
    {
      for (guint i = 0; i < LIBRIVOX_FILES; i++)
        {
          gsize n = 0;
          g_autofree float *samples = lmd_test_librivox_read (librivox_ids[i], &n);
          clip_init (&clips16[i], samples, n, 16000, 1);
          clip_init (&clips44[i], samples, n, 44100, 2);
          g_test_message ("%s: %s", librivox_ids[i], clips16[i].reference);
        }
    }
  return TRUE;
}

/* ---- one utterance --------------------------------------------------------------------------- */

static LmdTestWyomingClient *
connect_client (void)
{
  g_autoptr (GError) error = NULL;
  LmdTestWyomingClient *client = lmd_test_wyoming_client_connect (wyoming_port, IO_TIMEOUT_S, &error);

  g_assert_no_error (error);
  return client;
}

static LmdTestWyomingEvent *
receive (LmdTestWyomingClient *client)
{
  g_autoptr (GError) error = NULL;
  LmdTestWyomingEvent *event = lmd_test_wyoming_client_receive (client, &error);

  g_assert_no_error (error);
  g_assert_nonnull (event);
  return event;
}

/* (transfer full) the text of the transcript of @clip sent on @client. */
static char *
transcribe (LmdTestWyomingClient *client, const Clip *clip, gboolean realtime)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestWyomingEvent) event = NULL;

  lmd_test_wyoming_client_send_audio (client, "en", g_bytes_get_data (clip->pcm, NULL),
                                      g_bytes_get_size (clip->pcm), clip->rate, 2, clip->channels,
                                      CHUNK_BYTES, realtime, &error);
  g_assert_no_error (error);
  event = receive (client);
  if (!g_str_equal (event->type, "transcript"))
    g_error ("expected a transcript, got %s: %s", event->type,
             json_object_get_string_member_with_default (event->data, "text", ""));
  g_assert_cmpstr (json_object_get_string_member (event->data, "language"), ==, "en");
  return g_strdup (json_object_get_string_member (event->data, "text"));
}

/* ---- describe ------------------------------------------------------------------------------ */

static void
test_describe (void)
{
  g_autoptr (LmdTestWyomingClient) client = connect_client ();
  g_autoptr (LmdTestWyomingEvent) info = NULL;
  g_autoptr (GError) error = NULL;
  JsonArray *asr, *models, *languages;
  JsonObject *program, *model;

  lmd_test_wyoming_client_send (client, "describe", NULL, NULL, 0, &error);
  g_assert_no_error (error);
  info = receive (client);
  g_assert_cmpstr (info->type, ==, "info");
  asr = json_object_get_array_member (info->data, "asr");
  g_assert_cmpuint (json_array_get_length (asr), ==, 1);
  program = json_array_get_object_element (asr, 0);
  g_assert_cmpstr (json_object_get_string_member (program, "name"), ==, "lightning-mediad");
  g_assert_true (json_object_get_boolean_member (program, "installed"));
  g_assert_nonnull (json_object_get_string_member (program, "version"));
  g_assert_nonnull (json_object_get_string_member (json_object_get_object_member (program, "attribution"), "name"));
  g_assert_false (json_object_get_boolean_member (program, "supports_transcript_streaming"));
  models = json_object_get_array_member (program, "models");
  g_assert_cmpuint (json_array_get_length (models), ==, 1);
  model = json_array_get_object_element (models, 0);
  g_assert_cmpstr (json_object_get_string_member (model, "name"), ==, "sphinx-en-us");
  languages = json_object_get_array_member (model, "languages");
  g_assert_cmpuint (json_array_get_length (languages), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (languages, 0), ==, "en");
  g_assert_true (json_object_has_member (info->data, "tts"));
}

/* ---- the recordings --------------------------------------------------------------------------- */

typedef struct {
  const Clip *clip;
  gboolean realtime;
  char *text;          /* owned: the transcript */
  double seconds;      /* wall time from the first chunk to the transcript */
} Utterance;

static gpointer
utterance_thread (gpointer data)
{
  Utterance *u = data;
  g_autoptr (LmdTestWyomingClient) client = connect_client ();
  gint64 start = g_get_monotonic_time ();

  u->text = transcribe (client, u->clip, u->realtime);
  u->seconds = (g_get_monotonic_time () - start) / 1e6;
  return NULL;
}

static void
test_librivox (gconstpointer data)
{
  const char *mode = data; /* "16k-fast", "16k-realtime", "44k-fast", "44k-realtime" */
  Clip *clips = g_str_has_prefix (mode, "16k") ? clips16 : clips44;
  gboolean realtime = g_str_has_suffix (mode, "realtime");
  Utterance utterances[LIBRIVOX_FILES] = { 0 };
  GThread *threads[LIBRIVOX_FILES] = { 0 };

  if (!need_testdata ())
    return;
  for (guint i = 0; i < LIBRIVOX_FILES; i++)
    {
      utterances[i].clip = &clips[i];
      utterances[i].realtime = realtime;
      if (realtime)
        threads[i] = g_thread_new ("utterance", utterance_thread, &utterances[i]);
      else
        utterance_thread (&utterances[i]); /* one after the other, as fast as possible */
    }
  for (guint i = 0; i < LIBRIVOX_FILES; i++)
    {
      double audio_s = (double) g_bytes_get_size (clips[i].pcm) / (clips[i].rate * clips[i].channels * 2);
      if (threads[i] != NULL)
        g_thread_join (threads[i]);
      g_test_message ("%s %s: %.2f s of audio, transcript after %.2f s: %s", mode, librivox_ids[i],
                      audio_s, utterances[i].seconds, utterances[i].text);
      if (realtime)
        g_assert_cmpfloat (utterances[i].seconds, >=, audio_s * 0.95); /* it was paced */
      g_assert_cmpstr (utterances[i].text, ==, clips[i].reference);
      g_assert_cmpuint (strlen (utterances[i].text), >, 0);
      g_free (utterances[i].text);
    }
}

/* Two utterances on one connection, and audio without transcribe or audio-start. */
static void
test_two_utterances (void)
{
  g_autoptr (LmdTestWyomingClient) client = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestWyomingEvent) event = NULL;
  g_autofree char *first = NULL;
  const Clip *clip;

  if (!need_testdata ())
    return;
  client = connect_client ();
  clip = &clips16[1];
  first = transcribe (client, clip, FALSE);
  g_assert_cmpstr (first, ==, clip->reference);
  /* a bare audio stream: the chunks' format, the default model and language */
  for (gsize offset = 0; offset < g_bytes_get_size (clip->pcm); offset += CHUNK_BYTES)
    {
      gsize n = MIN (CHUNK_BYTES, g_bytes_get_size (clip->pcm) - offset);
      lmd_test_wyoming_client_send (client, "audio-chunk", "{\"rate\":16000,\"width\":2,\"channels\":1}",
                                    (const guint8 *) g_bytes_get_data (clip->pcm, NULL) + offset, n, &error);
      g_assert_no_error (error);
    }
  lmd_test_wyoming_client_send (client, "audio-stop", NULL, NULL, 0, &error);
  g_assert_no_error (error);
  event = receive (client);
  g_assert_cmpstr (event->type, ==, "transcript");
  g_assert_cmpstr (json_object_get_string_member (event->data, "text"), ==, clip->reference);
}

/* ---- bad input ---------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *raw;           /* sent as it is (nullable) */
  gsize raw_len;             /* 0 = strlen */
  const char *code;          /* the error expected; NULL = no error: describe still answers */
} BadInput;

/* A client transcribing again and again while the bad inputs are sent. */
typedef struct {
  gint stop;
  guint done;
  guint wrong;
} Background;

static gpointer
background_thread (gpointer data)
{
  Background *bg = data;

  do
    {
      g_autoptr (LmdTestWyomingClient) client = connect_client ();
      g_autofree char *text = transcribe (client, &clips16[1], FALSE);
      if (g_strcmp0 (text, clips16[1].reference) != 0)
        bg->wrong++;
      bg->done++;
    }
  while (!g_atomic_int_get (&bg->stop));
  return NULL;
}

/* Sends @bad on a new connection and checks the answer: an error event with @code and a
 * request id the daemon logged, then the end of the stream. */
static void
check_bad_input (const BadInput *bad)
{
  g_autoptr (LmdTestWyomingClient) client = connect_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestWyomingEvent) event = NULL;
  g_autoptr (LmdTestWyomingEvent) end = NULL;
  const char *request_id;
  gint64 start = g_get_monotonic_time ();

  if (bad->raw != NULL)
    lmd_test_wyoming_client_send_raw (client, bad->raw, bad->raw_len > 0 ? bad->raw_len : strlen (bad->raw), &error);
  g_assert_no_error (error);
  if (bad->code == NULL)
    {
      /* ignored: the connection still answers */
      lmd_test_wyoming_client_send (client, "describe", NULL, NULL, 0, &error);
      g_assert_no_error (error);
      event = receive (client);
      g_assert_cmpstr (event->type, ==, "info");
      return;
    }
  event = receive (client);
  g_test_message ("%s: %s %s (%s) after %.2f s", bad->name, event->type,
                  json_object_get_string_member_with_default (event->data, "code", ""),
                  json_object_get_string_member_with_default (event->data, "text", ""),
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpstr (event->type, ==, "error");
  g_assert_cmpstr (json_object_get_string_member (event->data, "code"), ==, bad->code);
  g_assert_cmpuint (strlen (json_object_get_string_member (event->data, "text")), >, 0);
  request_id = json_object_get_string_member (event->data, "request_id");
  g_assert_nonnull (request_id);
  /* the connection is closed after the error */
  end = lmd_test_wyoming_client_receive (client, &error);
  g_assert_no_error (error);
  g_assert_null (end);
  {
    g_autofree char *log = lmd_test_server_read_log (server);
    g_autofree char *needle = g_strdup_printf ("[%s] wyoming: %s", request_id, bad->code);
    g_assert_nonnull (strstr (log, needle));
  }
}

static void
test_bad_input (void)
{
  static char long_header[3000];
  static char big_payload[200];
  static const BadInput cases[] = {
    { "header line over max_header_bytes", long_header, 0, "FILE_TOO_LARGE" },
    { "data_length over max_data_bytes", "{\"type\":\"transcribe\",\"data_length\":999999}\n", 0, "FILE_TOO_LARGE" },
    { "negative data_length", "{\"type\":\"transcribe\",\"data_length\":-5}\n", 0, "INVALID_PARAMETER" },
    { "payload_length over max_payload_bytes", "{\"type\":\"audio-chunk\",\"data\":{\"rate\":16000,\"width\":2,\"channels\":1},\"payload_length\":10000000}\n", 0, "FILE_TOO_LARGE" },
    { "negative payload_length", "{\"type\":\"audio-chunk\",\"payload_length\":-1}\n", 0, "INVALID_PARAMETER" },
    { "fractional payload_length", "{\"type\":\"audio-chunk\",\"payload_length\":1.5}\n", 0, "INVALID_PARAMETER" },
    { "header that is not JSON", "{\"type\": \"describe\",,}\n", 0, "INVALID_PARAMETER" },
    { "header that is not an object", "[1,2,3]\n", 0, "INVALID_PARAMETER" },
    { "header without a type", "{\"data\":{}}\n", 0, "INVALID_PARAMETER" },
    { "additional data that is not JSON", "{\"type\":\"transcribe\",\"data_length\":4}\nnope", 0, "INVALID_PARAMETER" },
    { "unknown event type (ignored)", "{\"type\":\"frobnicate\",\"data\":{\"x\":1}}\n", 0, NULL },
    { "rate out of range", "{\"type\":\"audio-start\",\"data\":{\"rate\":1000,\"width\":2,\"channels\":1}}\n", 0, "UNSUPPORTED_FORMAT" },
    { "width out of range", "{\"type\":\"audio-start\",\"data\":{\"rate\":16000,\"width\":5,\"channels\":1}}\n", 0, "UNSUPPORTED_FORMAT" },
    { "channels out of range", "{\"type\":\"audio-start\",\"data\":{\"rate\":16000,\"width\":2,\"channels\":0}}\n", 0, "UNSUPPORTED_FORMAT" },
    { "format missing", "{\"type\":\"audio-start\",\"data\":{\"rate\":16000}}\n", 0, "INVALID_PARAMETER" },
    { "chunk in another format", "{\"type\":\"audio-start\",\"data\":{\"rate\":16000,\"width\":2,\"channels\":1}}\n"
                                 "{\"type\":\"audio-chunk\",\"data\":{\"rate\":22050,\"width\":2,\"channels\":1},\"payload_length\":4}\nabcd", 0, "UNSUPPORTED_FORMAT" },
    { "unknown model", "{\"type\":\"transcribe\",\"data\":{\"name\":\"no-such-model\"}}\n", 0, "INVALID_PARAMETER" },
    { "unsupported language", "{\"type\":\"transcribe\",\"data\":{\"language\":\"fr\"}}\n", 0, "INVALID_PARAMETER" },
    { "a connection that sends nothing", NULL, 0, "TIMEOUT" },
    { "a connection that stops inside an event", "{\"type\":\"audio-chunk\",\"data\":{\"rate\":16000,\"width\":2,\"channels\":1},\"payload_length\":100}\nab", 0, "TIMEOUT" },
  };
  Background bg = { 0 };
  GThread *thread;

  if (!need_testdata ())
    return;
  memset (long_header, ' ', sizeof long_header - 1);
  memcpy (long_header, "{\"type\":\"describe\"", 18);
  (void) big_payload;
  thread = g_thread_new ("background", background_thread, &bg);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_bad_input (&cases[i]);
  g_atomic_int_set (&bg.stop, 1);
  g_thread_join (thread);
  g_test_message ("background client: %u transcriptions while the bad inputs were sent, %u wrong",
                  bg.done, bg.wrong);
  g_assert_cmpuint (bg.done, >=, 1);
  g_assert_cmpuint (bg.wrong, ==, 0);
}

/* Audio over [limits] max_audio_seconds: FILE_TOO_LARGE as soon as it is over. */
static void
test_audio_too_long (void)
{
  g_autoptr (LmdTestWyomingClient) client = connect_client ();
  g_autoptr (GError) error = NULL;
  g_autoptr (LmdTestWyomingEvent) event = NULL;
  g_autofree guint8 *silence = g_malloc0 (32000); /* 1 s at 16 kHz */
  const char *format = "{\"rate\":16000,\"width\":2,\"channels\":1}";

  lmd_test_wyoming_client_send (client, "audio-start", format, NULL, 0, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 61 && error == NULL; i++) /* the test server allows 60 s */
    lmd_test_wyoming_client_send (client, "audio-chunk", format, silence, 32000, &error);
  event = receive (client);
  g_assert_cmpstr (event->type, ==, "error");
  g_assert_cmpstr (json_object_get_string_member (event->data, "code"), ==, "FILE_TOO_LARGE");
}

/* A client that goes away while its utterance is transcribed: the work is stopped, the server
 * logs it and goes on serving. */
static void
test_client_goes_away (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *again = NULL;
  g_autofree char *log = NULL;

  if (!need_testdata ())
    return;
  {
    g_autoptr (LmdTestWyomingClient) leaving = connect_client ();
    lmd_test_wyoming_client_send_audio (leaving, "en", g_bytes_get_data (clips16[0].pcm, NULL),
                                        g_bytes_get_size (clips16[0].pcm), 16000, 2, 1, CHUNK_BYTES,
                                        FALSE, &error);
    g_assert_no_error (error);
  } /* closed right after audio-stop */
  {
    g_autoptr (LmdTestWyomingClient) client = connect_client ();
    again = transcribe (client, &clips16[1], FALSE);
  }
  g_assert_cmpstr (again, ==, clips16[1].reference);
  log = lmd_test_server_read_log (server);
  g_assert_nonnull (strstr (log, "went away before the transcript"));
}

/* ---- concurrency ---------------------------------------------------------------------------- */

typedef struct {
  GMutex lock;
  GCond cond;
  guint connected;
  const Clip *clip;
  gint failures;
} Crowd;

static gpointer
crowd_thread (gpointer data)
{
  Crowd *crowd = data;
  g_autoptr (LmdTestWyomingClient) client = connect_client ();
  g_autoptr (LmdTestWyomingEvent) info = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;

  lmd_test_wyoming_client_send (client, "describe", NULL, NULL, 0, &error);
  g_assert_no_error (error);
  info = receive (client);
  if (!g_str_equal (info->type, "info"))
    g_atomic_int_inc (&crowd->failures);
  /* every connection is open before any audio is sent */
  g_mutex_lock (&crowd->lock);
  crowd->connected++;
  g_cond_broadcast (&crowd->cond);
  while (crowd->connected < CONCURRENT)
    g_cond_wait (&crowd->cond, &crowd->lock);
  g_mutex_unlock (&crowd->lock);
  text = transcribe (client, crowd->clip, FALSE);
  if (g_strcmp0 (text, crowd->clip->reference) != 0)
    g_atomic_int_inc (&crowd->failures);
  return NULL;
}

static void
test_concurrent (void)
{
  Crowd crowd = { 0 };
  GThread *threads[CONCURRENT];
  Clip one_second = { 0 };
  gsize n = 0;
  g_autofree float *samples = NULL;
  gint64 start = g_get_monotonic_time ();

  if (!need_testdata ())
    return;
  /* the first second of a recording, so that 50 utterances stay quick on two workers */
  samples = lmd_test_librivox_read (librivox_ids[1], &n);
  clip_init (&one_second, samples, MIN (n, LMD_TEST_LIBRIVOX_RATE), 16000, 1);
  g_mutex_init (&crowd.lock);
  g_cond_init (&crowd.cond);
  crowd.clip = &one_second;
  for (guint i = 0; i < CONCURRENT; i++)
    threads[i] = g_thread_new ("crowd", crowd_thread, &crowd);
  for (guint i = 0; i < CONCURRENT; i++)
    g_thread_join (threads[i]);
  g_test_message ("%u connections at once: %u described, all transcribed in %.1f s (\"%s\")",
                  CONCURRENT, crowd.connected, (g_get_monotonic_time () - start) / 1e6, one_second.reference);
  g_assert_cmpuint (crowd.connected, ==, CONCURRENT);
  g_assert_cmpint (crowd.failures, ==, 0);
  g_mutex_clear (&crowd.lock);
  g_cond_clear (&crowd.cond);
  g_bytes_unref (one_second.pcm);
  g_free (one_second.reference);
}

/* ---- transcript streaming ------------------------------------------------------------------- */

/* [wyoming] streaming=true: transcript-start, a transcript-chunk per utterance the engine ends
 * (two recordings with 1.5 s of silence between them: two chunks at least), the transcript
 * (the chunks joined), transcript-stop, in that order. */
static void
test_streaming (void)
{
  static const char config[] =
    "[server]\nhost=127.0.0.1\n"
    "[plugins]\nload=http;wyoming;gst-decoder;sphinx\n"
    "[limits]\nworkers=2\n"
    "[wyoming]\nport=0\nstreaming=true\nidle_timeout_s=60\nmax_connections=2\n";
  g_autoptr (GError) error = NULL;
  LmdTestServer *streaming;
  g_autoptr (LmdTestWyomingClient) client = NULL;
  g_autoptr (LmdTestWyomingEvent) info = NULL;
  g_autoptr (GByteArray) pcm = g_byte_array_new ();
  g_autoptr (GPtrArray) chunks = g_ptr_array_new_with_free_func (g_free);
  g_autofree guint8 *silence = g_malloc0 (48000); /* 1.5 s at 16 kHz */
  g_autofree char *joined = NULL;
  gboolean started = FALSE, transcribed = FALSE;
  JsonObject *program;

  if (!need_testdata ())
    return;
  streaming = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  client = lmd_test_wyoming_client_connect (find_wyoming_port (streaming), IO_TIMEOUT_S, &error);
  g_assert_no_error (error);
  lmd_test_wyoming_client_send (client, "describe", NULL, NULL, 0, &error);
  g_assert_no_error (error);
  info = receive (client);
  program = json_array_get_object_element (json_object_get_array_member (info->data, "asr"), 0);
  g_assert_true (json_object_get_boolean_member (program, "supports_transcript_streaming"));

  g_byte_array_append (pcm, g_bytes_get_data (clips16[1].pcm, NULL), (guint) g_bytes_get_size (clips16[1].pcm));
  g_byte_array_append (pcm, silence, 48000);
  g_byte_array_append (pcm, g_bytes_get_data (clips16[4].pcm, NULL), (guint) g_bytes_get_size (clips16[4].pcm));
  lmd_test_wyoming_client_send_audio (client, "en", pcm->data, pcm->len, 16000, 2, 1, CHUNK_BYTES,
                                      FALSE, &error);
  g_assert_no_error (error);
  for (;;)
    {
      g_autoptr (LmdTestWyomingEvent) event = receive (client);

      g_test_message ("streaming: %s %s", event->type,
                      json_object_get_string_member_with_default (event->data, "text", ""));
      if (!started)
        {
          g_assert_cmpstr (event->type, ==, "transcript-start");
          g_assert_cmpstr (json_object_get_string_member (event->data, "language"), ==, "en");
          started = TRUE;
        }
      else if (g_str_equal (event->type, "transcript-chunk"))
        {
          g_assert_false (transcribed);
          g_assert_cmpuint (strlen (json_object_get_string_member (event->data, "text")), >, 0);
          g_ptr_array_add (chunks, g_strdup (json_object_get_string_member (event->data, "text")));
        }
      else if (g_str_equal (event->type, "transcript"))
        {
          g_assert_false (transcribed);
          g_ptr_array_add (chunks, NULL);
          joined = g_strjoinv (" ", (char **) chunks->pdata);
          g_assert_cmpstr (json_object_get_string_member (event->data, "text"), ==, joined);
          transcribed = TRUE;
        }
      else
        {
          g_assert_cmpstr (event->type, ==, "transcript-stop");
          g_assert_true (transcribed);
          break;
        }
    }
  g_assert_cmpuint (chunks->len - 1, >=, 2);

  /* max_connections=2: with this one open, a second is served and a third refused */
  {
    guint port = find_wyoming_port (streaming);
    g_autoptr (LmdTestWyomingClient) second = lmd_test_wyoming_client_connect (port, IO_TIMEOUT_S, &error);
    g_autoptr (LmdTestWyomingClient) third = NULL;
    g_autoptr (LmdTestWyomingEvent) answer = NULL;
    g_autoptr (LmdTestWyomingEvent) refusal = NULL;

    g_assert_no_error (error);
    lmd_test_wyoming_client_send (second, "describe", NULL, NULL, 0, &error);
    g_assert_no_error (error);
    answer = receive (second);
    g_assert_cmpstr (answer->type, ==, "info");
    third = lmd_test_wyoming_client_connect (port, IO_TIMEOUT_S, &error);
    g_assert_no_error (error);
    refusal = receive (third);
    g_assert_cmpstr (refusal->type, ==, "error");
    g_assert_cmpstr (json_object_get_string_member (refusal->data, "code"), ==, "SERVICE_UNAVAILABLE");
  }
  g_assert_cmpint (lmd_test_server_stop (streaming), ==, 0);
}

/* ---- admission ----------------------------------------------------------------------------- */

/* With a license loaded, utterances are admitted with [wyoming] api_key: a configured key is
 * transcribed, another is refused with INVALID_LICENSE (and the log names the request). */
static void
test_license (void)
{
  g_autofree char *good_hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, "wyoming-good-key", -1);
  const char *keys[] = { "wyoming-good-key", "wyoming-other-key" };

  if (!need_testdata ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *config = g_strdup_printf (
        "[server]\nhost=127.0.0.1\n[plugins]\nload=http;wyoming;gst-decoder;sphinx;license\n"
        "[limits]\nworkers=1\n[license]\napi_keys_sha256=%s\n"
        "[wyoming]\nport=0\napi_key=%s\n", good_hash, keys[i]);
      g_autoptr (GError) error = NULL;
      LmdTestServer *licensed = lmd_test_server_start (config, NULL, &error);
      g_autoptr (LmdTestWyomingClient) client = NULL;
      g_autoptr (LmdTestWyomingEvent) event = NULL;
      const Clip *clip = &clips16[1];

      g_assert_no_error (error);
      client = lmd_test_wyoming_client_connect (find_wyoming_port (licensed), IO_TIMEOUT_S, &error);
      g_assert_no_error (error);
      lmd_test_wyoming_client_send_audio (client, "en", g_bytes_get_data (clip->pcm, NULL),
                                          g_bytes_get_size (clip->pcm), 16000, 2, 1, CHUNK_BYTES,
                                          FALSE, &error);
      g_assert_no_error (error);
      event = receive (client);
      g_test_message ("key %u: %s %s", i, event->type,
                      json_object_get_string_member_with_default (event->data, "text", ""));
      if (i == 0)
        {
          g_assert_cmpstr (event->type, ==, "transcript");
          g_assert_cmpstr (json_object_get_string_member (event->data, "text"), ==, clip->reference);
        }
      else
        {
          g_autofree char *log = NULL;
          g_autofree char *needle = NULL;
          g_assert_cmpstr (event->type, ==, "error");
          g_assert_cmpstr (json_object_get_string_member (event->data, "code"), ==, "INVALID_LICENSE");
          log = lmd_test_server_read_log (licensed);
          needle = g_strdup_printf ("[%s] wyoming: INVALID_LICENSE",
                                    json_object_get_string_member (event->data, "request_id"));
          g_assert_nonnull (strstr (log, needle));
        }
      g_assert_cmpint (lmd_test_server_stop (licensed), ==, 0);
    }
}

/* [wyoming] zeroconf=true never stops the server: it starts, serves, and says in its log what
 * became of the announcement (announced, waiting for avahi-daemon, or not announced).  The
 * announcement itself needs avahi-daemon on the system bus, which the test machine may lack. */
static void
test_zeroconf (void)
{
  static const char config[] =
    "[server]\nhost=127.0.0.1\n[plugins]\nload=http;wyoming;gst-decoder;sphinx\n"
    "[wyoming]\nport=0\nzeroconf=true\nzeroconf_name=lightning-mediad test\n";
  g_autoptr (GError) error = NULL;
  LmdTestServer *announcing = lmd_test_server_start (config, NULL, &error);
  g_autoptr (LmdTestWyomingClient) client = NULL;
  g_autoptr (LmdTestWyomingEvent) info = NULL;
  g_autofree char *log = NULL;

  g_assert_no_error (error);
  client = lmd_test_wyoming_client_connect (find_wyoming_port (announcing), IO_TIMEOUT_S, &error);
  g_assert_no_error (error);
  lmd_test_wyoming_client_send (client, "describe", NULL, NULL, 0, &error);
  g_assert_no_error (error);
  info = receive (client);
  g_assert_cmpstr (info->type, ==, "info");
  log = lmd_test_server_read_log (announcing);
  g_test_message ("%s", strstr (log, "zeroconf") != NULL ? strstr (log, "zeroconf") : "(none)");
  g_assert_nonnull (strstr (log, "wyoming: zeroconf: "));
  g_clear_pointer (&client, lmd_test_wyoming_client_free);
  g_assert_cmpint (lmd_test_server_stop (announcing), ==, 0);
}

/* ---- loading ------------------------------------------------------------------------------- */

static guint
free_port (void)
{
  g_autoptr (GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  g_socket_bind (socket, any, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* Not in [plugins] load: nothing listens on the configured [wyoming] port. */
static void
test_absent (void)
{
  guint port = free_port ();
  g_autofree char *config = g_strdup_printf ("[server]\nhost=127.0.0.1\n"
                                             "[plugins]\nload=http;gst-decoder;sphinx\n"
                                             "[wyoming]\nport=%u\n", port);
  g_autoptr (GError) error = NULL;
  LmdTestServer *other = lmd_test_server_start (config, NULL, &error);
  g_autoptr (LmdTestWyomingClient) client = NULL;
  g_autofree char *log = NULL;

  g_assert_no_error (error);
  client = lmd_test_wyoming_client_connect (port, 10, &error);
  g_assert_null (client);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  log = lmd_test_server_read_log (other);
  g_assert_null (strstr (log, "tcp://"));
  g_assert_cmpint (lmd_test_server_stop (other), ==, 0);
}

/* Loaded next to http: HTTP still serves. */
static void
test_http_still_serves (void)
{
  g_autofree char *url = lmd_test_server_url (server, "/health");
  /* a new connection: the shared session's kept-alive one may have been idle for minutes */
  g_autoptr (SoupSession) fresh = soup_session_new_with_options ("timeout", lmd_test_timeout_s (60), NULL);
  g_autoptr (LmdTestResponse) r = lmd_test_http (fresh, "GET", url, NULL, NULL, NULL);

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
  g_assert_cmpuint (wyoming_port, !=, lmd_test_server_get_port (server));
}

static double
audio_seconds_total (SoupSession *fresh)
{
  g_autofree char *url = lmd_test_server_url (server, "/metrics");
  g_autoptr (LmdTestResponse) r = lmd_test_http (fresh, "GET", url, NULL, NULL, NULL);
  g_autofree char *text = NULL;
  const char *at;

  g_assert_no_error (r->error);
  g_assert_cmpuint (r->status, ==, 200);
  text = g_strndup (g_bytes_get_data (r->body, NULL), g_bytes_get_size (r->body));
  at = strstr (text, "\nasr_audio_seconds_total ");
  g_assert_nonnull (at);
  return g_ascii_strtod (at + strlen ("\nasr_audio_seconds_total "), NULL);
}

/* Wyoming utterances go through the router: the metrics count their audio. */
static void
test_metrics (void)
{
  g_autoptr (SoupSession) fresh = soup_session_new_with_options ("timeout", lmd_test_timeout_s (60), NULL);
  g_autoptr (LmdTestWyomingClient) client = NULL;
  g_autofree char *text = NULL;
  double before, after, seconds;

  if (!need_testdata ())
    return;
  seconds = (double) g_bytes_get_size (clips16[1].pcm) / (16000 * 2);
  before = audio_seconds_total (fresh);
  client = connect_client ();
  text = transcribe (client, &clips16[1], FALSE);
  after = audio_seconds_total (fresh);
  g_test_message ("asr_audio_seconds_total %.3f → %.3f (%.3f s of audio)", before, after, seconds);
  g_assert_cmpfloat_with_epsilon (after - before, seconds, 0.05);
}

/* ---- main ----------------------------------------------------------------------------------- */

static guint
find_wyoming_port (LmdTestServer *s)
{
  g_autofree char *log = lmd_test_server_read_log (s);
  const char *at = strstr (log, "listening on tcp://127.0.0.1:");

  g_assert_nonnull (at);
  return (guint) g_ascii_strtoull (at + strlen ("listening on tcp://127.0.0.1:"), NULL, 10);
}

int
main (int argc, char **argv)
{
  g_autofree char *config = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* Under valgrind the idle timeout is ten times longer: the first of the 50 connections of
   * /wyoming/concurrent wait, idle, while the daemon answers the describe of the others,
   * which takes longer than 4 s there. */
  config = g_strdup_printf ("[server]\nrole=all\nhost=127.0.0.1\n"
                            "[plugins]\nload=http;wyoming;gst-decoder;sphinx\n"
                            "[limits]\nworkers=2\nqueue_size=64\nmax_audio_seconds=60\n"
                            "[wyoming]\nport=0\nmax_header_bytes=1024\nmax_data_bytes=2048\n"
                            "max_payload_bytes=65536\nidle_timeout_s=%u\nmax_connections=100\n",
                            lmd_test_timeout_s (IDLE_TIMEOUT_S));
  if (lmd_test_librivox_dir () != NULL)
    {
      g_auto (GStrv) ids = lmd_test_librivox_ids ();

      g_assert_cmpuint (g_strv_length (ids), ==, LIBRIVOX_FILES);
      for (guint i = 0; i < LIBRIVOX_FILES; i++)
        librivox_ids[i] = g_strdup (ids[i]);
    }
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  wyoming_port = find_wyoming_port (server);
  session = soup_session_new_with_options ("timeout", lmd_test_timeout_s (IO_TIMEOUT_S), NULL);

  g_test_add_func ("/wyoming/describe", test_describe);
  g_test_add_data_func ("/wyoming/librivox/16k-fast", "16k-fast", test_librivox);
  g_test_add_data_func ("/wyoming/librivox/16k-realtime", "16k-realtime", test_librivox);
  g_test_add_data_func ("/wyoming/librivox/44k-stereo-fast", "44k-fast", test_librivox);
  g_test_add_data_func ("/wyoming/librivox/44k-stereo-realtime", "44k-realtime", test_librivox);
  g_test_add_func ("/wyoming/two-utterances", test_two_utterances);
  g_test_add_func ("/wyoming/bad-input", test_bad_input);
  g_test_add_func ("/wyoming/audio-too-long", test_audio_too_long);
  g_test_add_func ("/wyoming/client-goes-away", test_client_goes_away);
  g_test_add_func ("/wyoming/concurrent-50", test_concurrent);
  g_test_add_func ("/wyoming/streaming", test_streaming);
  g_test_add_func ("/wyoming/license", test_license);
  g_test_add_func ("/wyoming/zeroconf", test_zeroconf);
  g_test_add_func ("/wyoming/http-still-serves", test_http_still_serves);
  g_test_add_func ("/wyoming/metrics", test_metrics);
  g_test_add_func ("/wyoming/absent", test_absent);
  status = g_test_run ();

  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  for (guint i = 0; i < LIBRIVOX_FILES; i++)
    {
      g_free (librivox_ids[i]);
      g_clear_pointer (&clips16[i].pcm, g_bytes_unref);
      g_clear_pointer (&clips44[i].pcm, g_bytes_unref);
      g_free (clips16[i].reference);
      g_free (clips44[i].reference);
    }
  return status;
}
