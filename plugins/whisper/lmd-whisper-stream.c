/* SPDX-License-Identifier: MIT */
/*
 * lmd-whisper-stream.c — live transcription with a Whisper model (see lmd-whisper-stream.h).
 *
 * Samples are counted from the session's first one ("absolute"); the stream keeps the audio
 * of the open utterance, or, while none is open, the last HISTORY samples (enough to start an
 * utterance speech_pad_ms before an onset the tracker confirms min_speech_ms later).
 */
#define G_LOG_DOMAIN "lmd-whisper"

#include "lmd-whisper-stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-log.h"
#include "lmd-vad-stats.h"
#include "lmw-agreement.h"
#include "lmw-vad-tracker.h"

#define RATE LMW_SAMPLE_RATE
#define MAX_TOKENS_BASE 16    /* tokens a stream's decode may produce, plus ... */
#define MAX_TOKENS_PER_S 12.0 /* ... this many per second of audio (speech is 3 to 5) */
#define CATCH_UP_WINDOW_S 10.0 /* wall time over which the pace of the input is measured */
#define CATCH_UP_SURPLUS_S 3.0 /* audio fed beyond the wall time of the window: a backlog */

struct _LmdWhisperStream {
  lmw_state *state;           /* borrowed */
  lmw_params params;          /* strings borrowed */
  LmdWhisperStreamConfig config;
  char *request_id;           /* owned, nullable */

  lmw_vad_state *vad;         /* owned */
  lmw_vad_tracker tracker;
  gint64 pad;                 /* speech_pad_ms in samples */
  gint64 history;             /* samples kept while no utterance is open */
  GArray *probs;              /* owned: float, lmw_vad_feed's output */

  GArray *audio;              /* owned: float, samples audio_start .. fed - 1 */
  gint64 audio_start;         /* absolute sample of audio[0] */
  gint64 fed;                 /* samples fed so far */

  gboolean open;              /* an utterance is open */
  gint64 start;               /* its first sample (absolute) */
  lmw_agreement *agreement;   /* owned: the open utterance's interim words */
  gint64 decoded;             /* samples of the utterance the last decode covered; 0: none */
  lmw_result result;          /* owned: that decode's result */
  char *language;             /* owned, nullable: the language the last decode found */
  gint64 next_interim;        /* utterance length before which no interim decode runs */

  /* pace: the audio fed since pace_wall (monotonic µs), to tell a stream catching up */
  gint64 pace_wall;
  gint64 pace_fed;            /* fed at pace_wall */

  /* counters */
  guint interim_decodes, final_decodes, skipped;
  gint64 utterance_samples;   /* audio inside ended utterances, for the skipped-audio metric */
};

/* ---- configuration ----------------------------------------------------------------------- */

gboolean
lmd_whisper_stream_config_load (LmdWhisperStreamConfig *config, GKeyFile *key_file,
                                GError **error)
{
  gint64 interval;
  double budget, min_tokens;

  if (!lmd_config_get_int (key_file, "whisper", "stream_interval_ms", 1000, &interval, error) ||
      !lmd_config_get_double (key_file, "whisper", "stream_interim_budget", 0.5, &budget, error) ||
      !lmd_config_get_double (key_file, "whisper", "stream_bench_tokens_per_s", 0.0, &min_tokens, error))
    return FALSE;
  if (interval < 100 || interval > 30000 || !(budget >= 0.0 && budget <= 1.0) ||
      !(min_tokens >= 0.0 && min_tokens <= MAX_TOKENS_PER_S))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [whisper]: stream_interval_ms must be 100..30000, "
                   "stream_interim_budget 0..1 and stream_bench_tokens_per_s 0..12");
      return FALSE;
    }
  config->interval_ms = (guint) interval;
  config->interim_budget = budget;
  config->bench_tokens_per_s = min_tokens;
  return TRUE;
}

/* ---- life cycle -------------------------------------------------------------------------- */

LmdWhisperStream *
lmd_whisper_stream_new (lmw_state *state, const lmw_params *params, const lmw_vad_model *model,
                        const lmw_vad_params *vad_params, const LmdWhisperStreamConfig *config,
                        const char *request_id, GError **error)
{
  LmdWhisperStream *self;
  lmw_error err = { 0 };
  lmw_vad_state *vad = lmw_vad_state_new (model, &err);

  if (vad == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "VAD: %s", err.message);
      return NULL;
    }
  self = g_new0 (LmdWhisperStream, 1);
  self->state = state;
  self->params = *params;
  /* bounded cost: one greedy pass per decode, no retries at higher temperatures; one
   * utterance is one window, nothing to condition on */
  self->params.beam_size = 1;
  self->params.best_of = 1;
  self->params.temperature_inc = 0.0f;
  self->params.condition_on_previous_text = false;
  self->params.timestamps = true;
  self->config = *config;
  self->request_id = g_strdup (request_id);
  self->vad = vad;
  lmw_vad_tracker_init (&self->tracker, vad_params, lmw_vad_model_window (model));
  self->pad = (gint64) vad_params->speech_pad_ms * RATE / 1000;
  self->history = self->tracker.min_speech + self->pad + 2 * self->tracker.window;
  self->probs = g_array_new (FALSE, FALSE, sizeof (float));
  self->audio = g_array_new (FALSE, FALSE, sizeof (float));
  self->agreement = lmw_agreement_new ();
  if (self->agreement == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper stream: out of memory");
      lmd_whisper_stream_free (self);
      return NULL;
    }
  return self;
}

void
lmd_whisper_stream_free (LmdWhisperStream *self)
{
  double vad_s, skipped_s;

  if (self == NULL)
    return;
  if (self->agreement == NULL) /* lmd_whisper_stream_new failed */
    {
      lmw_vad_state_free (self->vad);
      g_array_unref (self->probs);
      g_array_unref (self->audio);
      g_free (self->request_id);
      g_free (self);
      return;
    }
  vad_s = (double) lmw_vad_state_time_us (self->vad) / 1e6;
  skipped_s = (double) MAX (self->fed - self->utterance_samples, 0) / RATE;
  lmd_vad_stats_add (vad_s, skipped_s);
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id,
                   "whisper stream: %.2f s of audio, VAD %.3f s, %u interim and %u final decodes, "
                   "%u interims skipped", (double) self->fed / RATE, vad_s, self->interim_decodes,
                   self->final_decodes, self->skipped);
  lmw_vad_state_free (self->vad);
  g_array_unref (self->probs);
  g_array_unref (self->audio);
  lmw_agreement_free (self->agreement);
  lmw_result_clear (&self->result);
  g_free (self->language);
  g_free (self->request_id);
  g_free (self);
}

/* ---- audio ------------------------------------------------------------------------------- */

/* Drops the audio before absolute sample @keep_from. */
static void
trim_audio (LmdWhisperStream *self, gint64 keep_from)
{
  gint64 drop = keep_from - self->audio_start;

  if (drop <= 0)
    return;
  drop = MIN (drop, (gint64) self->audio->len);
  g_array_remove_range (self->audio, 0, (guint) drop);
  self->audio_start += drop;
}

/* The samples of the open utterance that a decode covers now: to the present while the
 * speech goes on, else to the end of the speech plus padding. */
static gint64
utterance_length (LmdWhisperStream *self)
{
  gint64 end = self->fed;

  if (!self->tracker.speech && self->tracker.speech_end >= self->start)
    end = MIN (end, self->tracker.speech_end + self->pad);
  return MAX (end - self->start, 0);
}

static void
open_utterance (LmdWhisperStream *self, gint64 start)
{
  self->open = TRUE;
  self->start = MAX (start, self->audio_start);
  self->decoded = 0;
  lmw_result_clear (&self->result);
  lmw_agreement_reset (self->agreement);
  self->next_interim = (gint64) self->config.interval_ms * RATE / 1000;
  trim_audio (self, self->start);
}

/* Decodes the first @length samples of the open utterance into self->result; pushes the
 * text to the agreement.  Returns the wall time it took (s), or -1 with @error set. */
static double
decode (LmdWhisperStream *self, gint64 length, GError **error)
{
  lmw_params params = self->params;
  lmw_result result = { 0 };
  lmw_error err = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  GString *text = g_string_new (NULL);
  double seconds = (double) length / RATE;

  params.max_tokens = MAX_TOKENS_BASE + (int) ceil (MAX_TOKENS_PER_S * seconds);
  if (self->config.bench_tokens_per_s > 0.0)
    {
      /* benchmarks with random weights: exactly this many tokens, as speech would write;
       * random weights rank the timestamp tokens above any text, so timestamps are off */
      params.min_tokens = MAX ((int) ceil (self->config.bench_tokens_per_s * seconds), 1);
      params.max_tokens = params.min_tokens;
      params.timestamps = false;
    }
  if (params.max_tokens > 224)
    params.max_tokens = 0; /* the model's own bound */
  /* the previous decode of this utterance covered a prefix of this audio: its tokens are
   * the likely beginning, checked in multi-row decoder steps (the tokens do not change) */
  if (self->decoded > 0 && self->result.n_window_tokens > 0)
    {
      params.draft_tokens = self->result.window_tokens;
      params.n_draft_tokens = self->result.n_window_tokens;
    }
  if (lmw_transcribe (self->state, &params,
                      (const float *) self->audio->data + (self->start - self->audio_start),
                      (size_t) length, &result, &err) != 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "whisper: %s", err.message);
      g_string_free (text, TRUE);
      return -1.0;
    }
  lmw_result_clear (&self->result);
  self->result = result;
  self->decoded = length;
  if (result.language[0] != '\0')
    {
      g_free (self->language);
      self->language = g_strdup (result.language);
    }
  for (int i = 0; i < result.n_segments; i++)
    if (result.segments[i].text != NULL)
      {
        g_string_append (text, result.segments[i].text);
        g_string_append_c (text, ' ');
      }
  /* out of memory: this hypothesis is left out of the agreement (fewer interims) */
  (void) lmw_agreement_push_text (self->agreement, text->str);
  g_string_free (text, TRUE);
  return (double) (g_get_monotonic_time () - t0) / 1e6;
}

/* Whether the stream is working through a backlog: over the pace window, more audio was fed
 * than wall time passed, by more than CATCH_UP_SURPLUS_S (more than the largest client frame
 * of linear16 at 16 kHz holds, 2 s, so one frame arriving at once is not a backlog).  Its
 * interims would describe audio long past: they are skipped until it has caught up.  (A
 * client sending faster than it records looks the same, and gets no interims either.) */
static gboolean
catching_up (LmdWhisperStream *self)
{
  double audio_s = (double) (self->fed - self->pace_fed) / RATE;
  double wall_s = (double) (g_get_monotonic_time () - self->pace_wall) / 1e6;

  return audio_s - wall_s > CATCH_UP_SURPLUS_S;
}

/* Starts a new pace window every CATCH_UP_WINDOW_S of wall time, so that a pause in the
 * input long ago (wall time without audio) does not hide a backlog now. */
static void
update_pace (LmdWhisperStream *self)
{
  gint64 now = g_get_monotonic_time ();

  if (self->pace_wall == 0 || now - self->pace_wall > (gint64) (CATCH_UP_WINDOW_S * G_USEC_PER_SEC))
    {
      self->pace_wall = now;
      self->pace_fed = self->fed;
    }
}

gboolean
lmd_whisper_stream_feed (LmdWhisperStream *self, const float *samples, gsize n, GError **error)
{
  gsize n_probs;

  update_pace (self);

  g_array_append_vals (self->audio, samples, (guint) n);
  self->fed += (gint64) n;
  g_array_set_size (self->probs, (guint) lmw_vad_feed_max (self->vad, n));
  n_probs = lmw_vad_feed (self->vad, samples, n, (float *) self->probs->data);
  for (gsize i = 0; i < n_probs; i++)
    switch (lmw_vad_tracker_push (&self->tracker, g_array_index (self->probs, float, i)))
      {
      case LMW_VAD_SPEECH_STARTED:
        if (!self->open)
          open_utterance (self, self->tracker.speech_start - self->pad);
        break;
      case LMW_VAD_SPEECH_ENDED:
        /* the utterance's audio is complete unless speech resumes: decode it now, so that
         * its final is ready when the caller ends the utterance (the final's own decode,
         * never skipped) */
        if (self->open)
          {
            gint64 length = utterance_length (self);

            if (length > 0 && length != self->decoded)
              {
                /* padding longer than min_silence_ms reaches past the audio so far: the
                 * final decodes then */
                if (self->tracker.speech_end + self->pad > self->fed)
                  break;
                if (decode (self, length, error) < 0.0)
                  return FALSE;
                self->final_decodes++;
              }
          }
        break;
      case LMW_VAD_NONE:
        break;
      }
  if (!self->open)
    trim_audio (self, self->fed - self->history);
  return TRUE;
}

char *
lmd_whisper_stream_get_partial (LmdWhisperStream *self)
{
  gint64 length;
  g_autoptr (GError) error = NULL;

  if (!self->open)
    return NULL;
  length = utterance_length (self);
  if (length >= self->next_interim && length > self->decoded && length <= LMW_CHUNK_SAMPLES)
    {
      if (self->config.interim_budget <= 0.0 || catching_up (self))
        {
          self->skipped++;
          /* try again after another interval of audio */
          self->next_interim = length + (gint64) self->config.interval_ms * RATE / 1000;
        }
      else
        {
          double took = decode (self, length, &error);

          if (took < 0.0)
            {
              /* an interim is not worth failing the stream for: the final will try again */
              LMD_LOG_REQUEST (G_LOG_LEVEL_WARNING, self->request_id, "interim decode: %s",
                               error->message);
              self->decoded = 0;
            }
          else
            {
              gint64 interval = (gint64) self->config.interval_ms * RATE / 1000;
              gint64 wait = (gint64) ceil (took / self->config.interim_budget * RATE);

              self->interim_decodes++;
              if (wait > interval)
                self->skipped += (guint) ((wait - interval) / MAX (interval, 1));
              self->next_interim = length + MAX (interval, wait);
            }
        }
    }
  {
    char *text = lmw_agreement_text (self->agreement); /* malloc ()ed, nullable */
    char *copy = g_strdup (text != NULL ? text : "");  /* callers g_free () it */

    free (text);
    return copy;
  }
}

/* Adds the words of @text, spread over [t0, t1] in proportion to their lengths (for segments
 * without word times). */
static void
add_spread_words (LmdTranscript *transcript, const char *text, double t0, double t1,
                  double confidence)
{
  g_auto (GStrv) words = g_strsplit_set (text, " \t\n", -1);
  gsize total = 0;
  double t = t0;

  for (guint i = 0; words[i] != NULL; i++)
    total += g_utf8_strlen (words[i], -1);
  for (guint i = 0; total > 0 && words[i] != NULL; i++)
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

/* The last decode's result as a transcript with absolute times. */
static LmdTranscript *
result_transcript (LmdWhisperStream *self, const char *fallback_language)
{
  double offset = (double) self->start / RATE;
  double duration = (double) self->decoded / RATE;
  LmdTranscript *transcript = lmd_transcript_new (self->language != NULL ? self->language
                                                                         : fallback_language);
  GString *text = g_string_new (NULL);

  for (int i = 0; i < self->result.n_segments; i++)
    {
      const lmw_segment *seg = &self->result.segments[i];
      double t0 = CLAMP (seg->t0_ms / 1000.0, 0.0, duration);
      double t1 = CLAMP (seg->t1_ms / 1000.0, t0, duration);
      g_autofree char *stripped = g_strstrip (g_strdup (seg->text != NULL ? seg->text : ""));

      if (stripped[0] == '\0')
        continue;
      if (seg->n_words > 0)
        for (int w = 0; w < seg->n_words; w++)
          {
            g_autofree char *wt = g_strstrip (g_strdup (seg->words[w].text));
            double ws = CLAMP (seg->words[w].t0_ms / 1000.0, t0, t1);
            double we = CLAMP (seg->words[w].t1_ms / 1000.0, ws, t1);

            if (wt[0] != '\0')
              lmd_transcript_add_word (transcript, wt, offset + ws, offset + we,
                                       CLAMP (seg->words[w].probability, 0.0, 1.0));
          }
      else
        add_spread_words (transcript, stripped, offset + t0, offset + t1,
                          CLAMP (exp (seg->avg_logprob), 0.0, 1.0));
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, stripped);
    }
  /* the model's own text (punctuation, casing); confidence is the words' mean */
  lmd_transcript_update_text_from_words (transcript);
  g_free (transcript->text);
  transcript->text = g_string_free (text, FALSE);
  return transcript;
}

LmdTranscript *
lmd_whisper_stream_end_utterance (LmdWhisperStream *self, GError **error)
{
  const char *fallback = self->params.language != NULL ? self->params.language : "en";
  LmdTranscript *transcript;
  gint64 length;

  if (!self->open)
    {
      transcript = lmd_transcript_new (fallback);
      transcript->duration = (double) self->fed / RATE;
      return transcript;
    }
  length = utterance_length (self);
  if (length > 0 && length != self->decoded)
    {
      if (decode (self, length, error) < 0.0)
        return NULL;
      self->final_decodes++;
    }
  if (length > 0)
    transcript = result_transcript (self, fallback);
  else
    transcript = lmd_transcript_new (fallback);
  transcript->duration = (double) self->fed / RATE;
  self->utterance_samples += length;
  self->open = FALSE;
  lmw_result_clear (&self->result);
  self->decoded = 0;
  lmw_agreement_reset (self->agreement);
  /* cut at the maximum length while the speech goes on: the next utterance starts here */
  if (self->tracker.speech)
    open_utterance (self, self->start + length);
  else
    trim_audio (self, self->fed - self->history);
  return transcript;
}

gboolean
lmd_whisper_stream_get_speech_state (LmdWhisperStream *self, double *since,
                                     double *utterance_start)
{
  const lmw_vad_tracker *t = &self->tracker;

  if (since != NULL)
    {
      /* the silence timeout counts from where the speech most likely ended */
      gint64 at = t->speech ? t->speech_start : MAX (t->speech_fall, 0);

      *since = (double) at / RATE;
    }
  if (utterance_start != NULL)
    *utterance_start = self->open ? (double) self->start / RATE : -1.0;
  return t->speech;
}

void
lmd_whisper_stream_get_decodes (LmdWhisperStream *self, guint *interim, guint *final)
{
  if (interim != NULL)
    *interim = self->interim_decodes;
  if (final != NULL)
    *final = self->final_decodes;
}
