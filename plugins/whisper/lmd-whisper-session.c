/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-whisper-session.h"

#include <math.h>
#include <string.h>

#include "lmd-error.h"
#include "lmd-log.h"
#include "lmd-pcm-spool.h"
#include "lmd-vad-cut.h"
#include "lmd-vad-stats.h"
#include "lmd-whisper-stream.h"

struct _LmdWhisperSession {
  GObject parent_instance;

  LmdWhisperEngine *engine; /* owned ref */
  lmw_state *state;         /* owned */
  LmdPcmSpool *pcm;         /* owned: float samples fed so far (SESSION_MEMORY_SAMPLES of them
                             * in memory, the rest in the engine's spool directory) */
  char *language;           /* owned: requested language or "auto" */
  int beam_size;            /* 0: the engine's default */
  char *prompt;             /* owned, nullable */
  int condition;            /* condition_on_previous_text: 0 = the engine's default, > 0 on, < 0 off */
  gboolean translate;       /* the translate task: English text */
  gboolean finished;
  LmdVadOptions vad;        /* the request's voice-activity detection options */
  char *request_id;         /* owned, nullable: for log lines */
  LmdVadCut *cut;           /* owned, nullable: during finish, the speech to decode when the VAD
                             * is on (its audio is read from pcm) */
  GCancellable *cancellable; /* owned ref, nullable: the request's, which ends a slot's wait */
  gboolean word_timestamps; /* live sessions: the client wants word times (aligned) */
  LmdWhisperStream *stream; /* owned, nullable: a live session's decoding (lmd-whisper-stream.c);
                             * pcm is then unused */
};

/* Samples a session keeps in memory: one 30-second window, what the core reads at a time. */
#define SESSION_MEMORY_SAMPLES LMW_CHUNK_SAMPLES

static void lmd_whisper_session_iface_init (LmdEngineSessionInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdWhisperSession, lmd_whisper_session, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_ENGINE_SESSION, lmd_whisper_session_iface_init))

static gboolean
whisper_session_feed (LmdEngineSession *session, const float *samples, gsize n_samples, GError **error)
{
  LmdWhisperSession *self = LMD_WHISPER_SESSION (session);

  if (self->finished)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper session: feed after finish");
      return FALSE;
    }
  if (self->stream != NULL)
    return lmd_whisper_stream_feed (self->stream, samples, n_samples, error);
  if (!lmd_pcm_spool_append (self->pcm, samples, n_samples, error))
    {
      g_prefix_error (error, "whisper: ");
      /* a full or unwritable spool directory is the server's problem, not the request's */
      if (error != NULL && *error != NULL && (*error)->domain != LMD_ERROR)
        {
          GError *io = *error;

          *error = g_error_new (LMD_ERROR, LMD_ERROR_INTERNAL, "%s", io->message);
          g_error_free (io);
        }
      return FALSE;
    }
  return TRUE;
}

/* lmw_pcm_reader over the session's spool */
static int
read_spool (void *user_data, size_t offset, float *out, size_t n, lmw_error *err)
{
  LmdWhisperSession *self = user_data;
  g_autoptr (GError) error = NULL;

  if (lmd_pcm_spool_read (self->pcm, offset, out, n, &error))
    return 0;
  err->code = LMW_ERR_IO;
  g_strlcpy (err->message, error->message, sizeof err->message);
  return -1;
}

/* LmdVadCutReader over the session's spool */
static gboolean
read_recording (gpointer user_data, guint64 offset, float *out, gsize n, GError **error)
{
  LmdWhisperSession *self = user_data;

  return lmd_pcm_spool_read (self->pcm, offset, out, n, error);
}

/* lmw_pcm_reader over the speech the VAD kept: the cut audio, read from the spool */
static int
read_cut (void *user_data, size_t offset, float *out, size_t n, lmw_error *err)
{
  LmdWhisperSession *self = user_data;
  g_autoptr (GError) error = NULL;

  if (lmd_vad_cut_read (self->cut, read_recording, self, offset, out, n, &error))
    return 0;
  err->code = LMW_ERR_IO;
  g_strlcpy (err->message, error->message, sizeof err->message);
  return -1;
}

/* With voice-activity detection on for this request, finds the speech in the audio fed
 * (self->cut: the segments and the map back to recording times, its audio read from the
 * spool, so that memory stays bounded); else leaves self->cut NULL. */
static gboolean
whisper_session_cut_speech (LmdWhisperSession *self, GError **error)
{
  lmw_vad_params params;
  lmw_vad_state *state;
  lmw_error err = { 0 };

  if (!lmd_whisper_engine_get_vad_params (self->engine, &self->vad, &params))
    return TRUE;
  state = lmw_vad_state_new (lmd_whisper_engine_get_vad_model (self->engine), &err);
  if (state == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "VAD: %s", err.message);
      return FALSE;
    }
  self->cut = lmd_vad_cut_new (state, read_recording, self,
                               lmd_pcm_spool_get_length (self->pcm), &params, error);
  lmw_vad_state_free (state);
  if (self->cut == NULL)
    return FALSE;
  lmd_vad_stats_add (self->cut->vad_seconds, self->cut->skipped_seconds);
  LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                   "VAD: %u speech segments, %.2f s of %.2f s kept, %.3f s to find them",
                   self->cut->pieces->len, self->cut->recording_seconds - self->cut->skipped_seconds,
                   self->cut->recording_seconds, self->cut->vad_seconds);
  return TRUE;
}

/* Adds the words of @text, spread over [t0, t1] in proportion to their lengths (used when
 * the engine gave no words of its own). */
static void
add_segment_words (LmdTranscript *transcript, const char *text, double t0, double t1, double confidence)
{
  g_auto (GStrv) words = g_strsplit_set (text, " \t\n", -1);
  gsize total = 0;
  double t = t0;

  for (guint i = 0; words[i] != NULL; i++)
    total += g_utf8_strlen (words[i], -1);
  if (total == 0)
    return;
  for (guint i = 0; words[i] != NULL; i++)
    {
      glong len = g_utf8_strlen (words[i], -1);
      double end;

      if (len == 0)
        continue;
      end = t + (t1 - t0) * (double) len / (double) total;
      lmd_transcript_add_word (transcript, words[i], t, MIN (end, t1), confidence);
      t = end;
    }
}

static LmdTranscript *
whisper_session_finish (LmdEngineSession *session, GError **error)
{
  LmdWhisperSession *self = LMD_WHISPER_SESSION (session);
  lmw_params params = lmd_whisper_engine_get_params (self->engine, self->language);
  lmw_result result = { 0 };
  lmw_error err = { 0 };
  guint64 n_samples = lmd_pcm_spool_get_length (self->pcm);
  lmw_pcm_reader reader = read_spool;
  double duration;
  LmdTranscript *transcript;
  GString *text;

  if (self->beam_size > 0)
    params.beam_size = self->beam_size;
  if (self->condition != 0)
    params.condition_on_previous_text = self->condition > 0;
  params.initial_prompt = self->prompt;
  params.translate = self->translate;
  self->finished = TRUE;
  if (self->stream != NULL)
    return lmd_whisper_stream_end_utterance (self->stream, error);
  if (n_samples > 0 && !whisper_session_cut_speech (self, error))
    return NULL;
  if (self->cut != NULL)
    {
      /* only the speech is decoded; lmd_vad_cut_map_transcript () restores the times */
      reader = read_cut;
      n_samples = self->cut->n_samples;
    }
  duration = (double) n_samples / LMW_SAMPLE_RATE;
  text = g_string_new (NULL);
  if (n_samples == 0)
    {
      g_string_free (text, TRUE);
      transcript = lmd_transcript_new (g_str_equal (self->language, "auto") ? "en" : self->language);
      if (self->cut != NULL)
        lmd_vad_cut_map_transcript (self->cut, transcript);
      return transcript;
    }
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id, "task %s, language %s, %.2f s",
                   params.translate ? "translate" : "transcribe",
                   params.language != NULL ? params.language : "auto", duration);
  if (lmw_transcribe_reader (self->state, &params, reader, self, (size_t) n_samples, &result,
                             &err) != 0)
    {
      if (g_cancellable_set_error_if_cancelled (self->cancellable, error))
        {
          g_string_free (text, TRUE);
          return NULL;
        }
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper: %s", err.message);
      g_string_free (text, TRUE);
      return NULL;
    }
  transcript = lmd_transcript_new (result.language[0] != '\0' ? result.language : self->language);
  transcript->segments = lmd_segment_array_new ();
  for (int i = 0; i < result.n_segments; i++)
    {
      const lmw_segment *seg = &result.segments[i];
      double t0 = CLAMP (seg->t0_ms / 1000.0, 0.0, duration);
      double t1 = CLAMP (seg->t1_ms / 1000.0, t0, duration);
      double confidence = CLAMP (exp (seg->avg_logprob), 0.0, 1.0);
      g_autofree char *stripped = g_strstrip (g_strdup (seg->text != NULL ? seg->text : ""));

      if (stripped[0] == '\0')
        continue;
      if (seg->n_words > 0)
        for (int w = 0; w < seg->n_words; w++)
          {
            const lmw_word *word = &seg->words[w];
            g_autofree char *wt = g_strstrip (g_strdup (word->text));
            double ws = CLAMP (word->t0_ms / 1000.0, t0, t1);
            double we = CLAMP (word->t1_ms / 1000.0, ws, t1);

            if (wt[0] != '\0')
              lmd_transcript_add_word (transcript, wt, ws, we, CLAMP (word->probability, 0.0, 1.0));
          }
      else
        add_segment_words (transcript, stripped, t0, t1, confidence);
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, stripped);
      {
        LmdSegment segment;

        lmd_segment_init (&segment, t0, t1, stripped);
        g_array_append_vals (segment.tokens, seg->tokens, (guint) seg->n_tokens);
        segment.seek = seg->window_ms / 10;
        segment.temperature = seg->temperature;
        segment.avg_logprob = seg->avg_logprob;
        segment.compression_ratio = seg->compression_ratio;
        segment.no_speech_prob = seg->no_speech_prob;
        g_array_append_val (transcript->segments, segment);
      }
    }
  lmw_result_clear (&result);
  /* Keep the model's own text (punctuation, casing); confidence is the words' mean. */
  lmd_transcript_update_text_from_words (transcript);
  g_free (transcript->text);
  transcript->text = g_string_free (text, FALSE);
  transcript->duration = duration;
  if (self->cut != NULL)
    lmd_vad_cut_map_transcript (self->cut, transcript);
  return transcript;
}

/* the streaming methods: live sessions hand them to their LmdWhisperStream */
static char *
whisper_session_get_partial (LmdEngineSession *session)
{
  LmdWhisperSession *self = LMD_WHISPER_SESSION (session);

  return self->stream != NULL ? lmd_whisper_stream_get_partial (self->stream) : NULL;
}

static LmdTranscript *
whisper_session_end_utterance (LmdEngineSession *session, GError **error)
{
  LmdWhisperSession *self = LMD_WHISPER_SESSION (session);

  if (self->stream == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper session: not a live session");
      return NULL;
    }
  return lmd_whisper_stream_end_utterance (self->stream, error);
}

static gboolean
whisper_session_get_speech_state (LmdEngineSession *session, double *since, double *utterance_start)
{
  LmdWhisperSession *self = LMD_WHISPER_SESSION (session);

  if (self->stream != NULL)
    return lmd_whisper_stream_get_speech_state (self->stream, since, utterance_start);
  if (since != NULL)
    *since = 0.0;
  if (utterance_start != NULL)
    *utterance_start = -1.0;
  return FALSE;
}

static gboolean
whisper_session_can_stream (LmdEngineSession *session)
{
  return LMD_WHISPER_SESSION (session)->stream != NULL;
}

static void
lmd_whisper_session_iface_init (LmdEngineSessionInterface *iface)
{
  iface->feed = whisper_session_feed;
  iface->finish = whisper_session_finish;
  iface->get_partial = whisper_session_get_partial;
  iface->end_utterance = whisper_session_end_utterance;
  iface->get_speech_state = whisper_session_get_speech_state;
  iface->can_stream = whisper_session_can_stream;
}

/* A live session: its utterances are found by the Silero VAD, which must be configured and
 * not turned off by the request. */
static gboolean
whisper_session_open_stream (LmdWhisperSession *self, LmdWhisperEngine *engine, GError **error)
{
  lmw_vad_params vad_params;
  lmw_params params = lmd_whisper_engine_get_params (engine, self->language);

  if (self->vad.enabled == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "vad" LMD_ERROR_PARAM_SEPARATOR "live streams of whisper models need the "
                   "voice-activity detector: leave vad on");
      return FALSE;
    }
  if (!lmd_whisper_engine_get_vad_params (engine, &self->vad, &vad_params))
    {
      /* a batch session: lmd_engine_session_can_stream () says it cannot stream, and the
       * caller decides (refuse the stream, or transcribe each utterance whole) */
      LMD_LOG_REQUEST (G_LOG_LEVEL_INFO, self->request_id,
                       "whisper: no live transcription without a voice-activity model ([vad] model)");
      return TRUE;
    }
  params.initial_prompt = self->prompt;
  params.word_timestamps = self->word_timestamps;
  self->stream = lmd_whisper_stream_new (self->state, &params,
                                         lmd_whisper_engine_get_vad_model (engine), &vad_params,
                                         lmd_whisper_engine_get_stream_config (engine),
                                         self->request_id, error);
  return self->stream != NULL;
}

LmdWhisperSession *
lmd_whisper_session_new (LmdWhisperEngine *engine, const LmdSessionOptions *options, GError **error)
{
  g_autoptr (LmdWhisperSession) self = g_object_new (LMD_TYPE_WHISPER_SESSION, NULL);

  self->engine = g_object_ref (engine);
  self->language = g_strdup (options->language != NULL ? options->language : "auto");
  self->beam_size = options->beam_size;
  self->prompt = g_strdup (options->prompt);
  self->condition = options->condition_on_previous_text;
  self->request_id = g_strdup (options->request_id);
  self->translate = options->translate;
  self->word_timestamps = options->word_timestamps;
  if (options->vad != NULL)
    self->vad = *options->vad;
  if (self->vad.enabled > 0 && lmd_whisper_engine_get_vad_model (engine) == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "vad" LMD_ERROR_PARAM_SEPARATOR "no voice-activity model is configured on this server");
      return NULL;
    }
  self->pcm = lmd_pcm_spool_new (SESSION_MEMORY_SAMPLES, lmd_whisper_engine_get_spool_dir (engine));
  /* a slot of the device's scheduler (waiting for one while all are taken) or a stream */
  self->cancellable = options->cancellable != NULL ? g_object_ref (options->cancellable) : NULL;
  self->state = lmd_whisper_engine_acquire_state (engine,
                                                  self->beam_size > 0 ? self->beam_size
                                                  : lmd_whisper_engine_get_params (engine, NULL).beam_size,
                                                  self->cancellable, self->request_id, error);
  if (self->state == NULL)
    return NULL;
  if (options->streaming && !whisper_session_open_stream (self, engine, error))
    return NULL;
  return g_steal_pointer (&self);
}

static void
lmd_whisper_session_finalize (GObject *object)
{
  LmdWhisperSession *self = LMD_WHISPER_SESSION (object);

  if (self->state != NULL)
    {
      guint64 counts[LMW_MAX_BEAM + 1];

      G_STATIC_ASSERT (sizeof (guint64) == sizeof (uint64_t));
      lmw_state_decoder_batches (self->state, (uint64_t *) counts);
      lmd_whisper_engine_add_batches (self->engine, counts);
    }
  g_clear_pointer (&self->stream, lmd_whisper_stream_free); /* borrows state */
  lmd_whisper_engine_release_state (self->engine, g_steal_pointer (&self->state));
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->pcm, lmd_pcm_spool_free);
  g_free (self->language);
  g_free (self->prompt);
  g_free (self->request_id);
  g_clear_pointer (&self->cut, lmd_vad_cut_free);
  g_clear_object (&self->engine);
  G_OBJECT_CLASS (lmd_whisper_session_parent_class)->finalize (object);
}

static void
lmd_whisper_session_class_init (LmdWhisperSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_whisper_session_finalize;
}

static void
lmd_whisper_session_init (LmdWhisperSession *self)
{
  lmd_vad_options_init (&self->vad);
}

gsize
lmd_whisper_session_get_buffered_samples (LmdWhisperSession *self)
{
  g_return_val_if_fail (LMD_IS_WHISPER_SESSION (self), 0);
  return lmd_pcm_spool_get_buffered (self->pcm);
}
