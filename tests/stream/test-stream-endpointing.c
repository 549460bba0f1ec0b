/* SPDX-License-Identifier: MIT */
/*
 * test-stream-endpointing — the default end-of-utterance timeout of a live stream follows its
 * detector, against the real daemon ([vad] model = the Silero fixture, [streaming]
 * eou_timeout_ms unset):
 *   - /stream-endpointing/silero-default: a sphinx stream opened with vad=silero and no
 *     eou_timeout_ms gets a LibriVox recording, 400 ms of silence, then {"type":"finalize"}
 *     and close_stream: the utterance ended by itself within that silence (the default is
 *     200 ms with Silero), so its final (with the recording's words) comes before the
 *     finalize's own, empty one: two finals before is_last;
 *   - /stream-endpointing/engine-default: the same with the engine's own detector (no vad):
 *     400 ms of silence do not end the utterance (its default stays 800 ms): the finalize
 *     ends it, one final (with the words) before is_last.
 * The server handles a stream's audio and control messages in order, so no clock is
 * involved.
 */
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

#include "lmd-test-audio.h"
#include "lmd-test-server.h"
#include "lmd-test-stream.h"

#define RATE 16000
#define REC "sense_and_sensibility_01_austen_64kb-0880"
#define WAIT_S 30.0

static LmdTestServer *server;
static SoupSession *session;

static char *
ws_url (const char *path_and_query)
{
  return g_strdup_printf ("ws://127.0.0.1:%u%s", lmd_test_server_get_port (server), path_and_query);
}

static void
send_pcm (LmdTestStream *s, const float *pcm, gsize n)
{
  g_autoptr (GBytes) bytes = lmd_test_encode_linear16 (pcm, n);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  gsize frame = 2 * RATE / 10;

  for (gsize off = 0; off < len; off += frame)
    lmd_test_stream_send (s, data + off, MIN (frame, len - off));
}

/* Sends the recording and @silence_ms of silence on a stream opened with @query. */
static LmdTestStream *
run (const char *query, guint silence_ms)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *url = ws_url (query);
  g_autofree float *pcm = NULL;
  g_autofree float *silence = g_new0 (float, RATE * silence_ms / 1000);
  LmdTestStream *s;

  gsize n;

  pcm = lmd_test_librivox_read (REC, &n);
  g_assert_nonnull (pcm);
  s = lmd_test_stream_connect (session, url, &error);
  g_assert_no_error (error);
  send_pcm (s, pcm, n);
  send_pcm (s, silence, RATE * silence_ms / 1000);
  return s;
}

/* Finals before is_last, and the first one's text (transfer full). */
static guint
finish (LmdTestStream *s, char **first_text)
{
  guint finals = 0;

  lmd_test_stream_send_text (s, "{\"type\":\"finalize\"}");
  lmd_test_stream_send_text (s, "{\"type\":\"close_stream\"}");
  g_assert_true (lmd_test_stream_wait_closed (s, WAIT_S));
  g_assert_cmpuint (s->n_last, ==, 1);
  *first_text = NULL;
  for (guint i = 0; i < s->messages->len; i++)
    {
      JsonObject *m = g_ptr_array_index (s->messages, i);

      if (json_object_get_boolean_member_with_default (m, "is_final", FALSE) &&
          !json_object_get_boolean_member_with_default (m, "is_last", FALSE))
        {
          if (finals++ == 0)
            *first_text = g_strdup (json_object_get_string_member_with_default (m, "transcript", ""));
        }
    }
  return finals;
}

/* One case: a stream opened with @query, 400 ms of silence after the recording, then finalize. */
typedef struct {
  const char *query;
  const char *detector; /* for the printed line */
  guint finals;         /* finals expected before is_last */
} EndpointingCase;

static const EndpointingCase silero_default = {
  "/v1/listen/stream?vad=silero&interim_results=false", "vad=silero", 2,
};
static const EndpointingCase engine_default = {
  "/v1/listen/stream?interim_results=false", "engine detector", 1,
};

static void
test_default_timeout (gconstpointer data)
{
  const EndpointingCase *c = data;
  g_autoptr (LmdTestStream) s = NULL;
  g_autofree char *text = NULL;
  guint finals;

  if (lmd_test_librivox_dir () == NULL)
    {
      g_test_skip ("pocketsphinx-testdata is not installed");
      return;
    }
  s = run (c->query, 400);
  finals = finish (s, &text);
  printf ("# %s, no eou_timeout_ms, 400 ms of silence then finalize: %u finals, the first \"%s\"\n",
          c->detector, finals, text);
  g_assert_cmpuint (finals, ==, c->finals);
  g_assert_nonnull (strstr (text, "young man"));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *vad = NULL;
  g_autofree char *config = NULL;
  const char *fixtures = g_getenv ("LMD_FIXTURES_DIR") != NULL ? g_getenv ("LMD_FIXTURES_DIR")
                                                                : "tests/fixtures";
  int rc;

  g_test_init (&argc, &argv, NULL);
  vad = g_build_filename (fixtures, "vad", "silero-v6.2.0-ggml.bin", NULL);
  if (!g_file_test (vad, G_FILE_TEST_IS_REGULAR))
    {
      printf ("1..0 # SKIP the VAD fixture is not there\n");
      return 0;
    }
  session = soup_session_new_with_options ("timeout", 120, NULL);
  config = g_strdup_printf ("[plugins]\nload=http;gst-decoder;sphinx\n[vad]\nmodel=%s\n", vad);
  server = lmd_test_server_start (config, NULL, &error);
  g_assert_no_error (error);
  g_test_add_data_func ("/stream-endpointing/silero-default", &silero_default, test_default_timeout);
  g_test_add_data_func ("/stream-endpointing/engine-default", &engine_default, test_default_timeout);
  rc = g_test_run ();
  g_assert_cmpint (lmd_test_server_stop (server), ==, 0);
  g_object_unref (session);
  return rc;
}
