/* SPDX-License-Identifier: MIT */
/*
 * lmd-sphinx-session.c — LmdEngineSession of the sphinx engine: splits the input into
 * utterances and decodes each one with a pooled pocketsphinx decoder.
 *
 * Segmentation.  The session keeps only the current segment (at most max_segment_seconds of
 * 16-bit samples).  Input shorter than that is decoded as one utterance at finish(), exactly
 * as pocketsphinx_batch decodes a file.  When the segment is full, it is cut at a pause: the
 * longest run of quiet 10 ms frames (energy below a threshold set from the segment's own
 * noise floor and speech level, with hysteresis) in its second half, cut in the middle; when
 * there is no pause of at least 200 ms, at the quietest point of the last 5 seconds.  The part
 * before the cut is decoded; the rest starts the next segment.  Memory is bounded by the
 * segment size whatever the length of the input.
 *
 * Words come from the decoder's segmentation (ps_seg_iter) after the lattice (bestpath)
 * pass: sentence markers, silences and fillers are dropped, alternate pronunciations
 * "word(2)" become "word", times are frames (10 ms) plus the utterance's offset, and a word's
 * confidence is its lattice posterior probability.
 *
 * A decoder is borrowed only for the time one utterance is decoded, so a session waiting for
 * input never holds one.  Every utterance is decoded as a new stream, whole (full_utt: the
 * model's cepstral mean is computed over the utterance, as pocketsphinx_batch does), so the
 * noise estimate of the front end starts afresh and the result does not depend on which
 * decoder of the pool decoded it, nor on what that decoder decoded before.
 *
 * Live streams find their utterances with pocketsphinx's front-end voice-activity detector
 * (a noise tracker), or, when the stream asks for vad=silero, with the Silero model of
 * [vad] (liblmw-vad: the same detector and endpointing as whisper streams), which then
 * decides alone: the settling gate below is the noise tracker's.
 */
#include "lmd-sphinx-session.h"

#include <math.h>
#include <string.h>

#include <sphinxbase/fe.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/logmath.h>

#include "lmd-error.h"
#include "lmd-log.h"
#include "lmd-vad-stats.h"
#include "lmw-vad-tracker.h"

#define SAMPLE_RATE 16000
#define FRAME_SAMPLES 160        /* 10 ms */
#define MIN_PAUSE_FRAMES 20      /* 200 ms */
#define FALLBACK_SEARCH_FRAMES 500 /* 5 s */
#define SMOOTH_FRAMES 10         /* 100 ms */
#define SILENT_FRAME_POWER 9.0   /* mean square below (3 LSB)^2, about -80 dBFS: nothing to decode */
#define HISTORY_SAMPLES (SAMPLE_RATE * 3 / 2) /* streaming: the last 1.5 s of input */
#define PREROLL_SAMPLES 4000       /* 250 ms fed to the decoder before the detected onset */
#define VAD_MAX_FRAMES 64          /* front-end output per call (prespeech flush included) */
/* The detector has no noise estimate when a stream starts: it calls the first 0.3-0.8 s of
 * even faint noise speech.  Without a check, such a false start stays open into speech that
 * follows within the end-of-utterance timeout, and its noise is decoded as words.  So during
 * the first VAD_SETTLE_SAMPLES, an utterance opens only on a block louder than
 * SETTLE_MIN_POWER (RMS 30, about -61 dBFS), and not before the last fainter block: speech
 * from the first sample still opens at once, faint noise opens nothing.  A detector run of
 * "speech" that began while settling stays gated the same way until it ends or turns loud.
 * After that the detector decides alone (speech quieter than the gate opens then, from its
 * start). */
#define VAD_SETTLE_SAMPLES SAMPLE_RATE
#define SETTLE_MIN_POWER 900.0

/* Streaming state; present only in a streaming session. */
typedef struct {
  fe_t *vad;                 /* owned */
  mfcc_t **vad_cep;          /* owned; VAD_MAX_FRAMES rows of the front end's output */
  guint vad_start_frames;
  guint vad_end_frames;
  gboolean in_speech;        /* the detector's state after the last block */
  guint64 faint_until;       /* end of the last block under SETTLE_MIN_POWER while settling,
                              * or in a detector run that began while settling */
  guint64 since;             /* sample where that state began */
  gint16 *history;           /* owned; ring of the last HISTORY_SAMPLES samples (more than
                              * VAD_SETTLE_SAMPLES) */
  guint64 utt_floor;         /* an utterance never starts before this sample (last end) */
  ps_decoder_t *decoder;     /* borrowed from the engine while an utterance is open */
  guint64 utt_start;         /* first sample of the open utterance */
  GArray *pending;           /* owned; gint16 not yet given to the decoder */
  mfcc_t *cmn;               /* owned; this session's live cepstral mean */
  guint cmn_len;
  gint16 block[FRAME_SAMPLES];
  guint block_len;
  lmw_vad_state *silero;     /* owned, nullable: vad=silero; then vad is NULL */
  lmw_vad_tracker tracker;   /* Silero's speech and silence, with vad=silero */
  guint64 utterance_samples; /* audio of the ended utterances (the rest was left out as silence) */
} StreamState;

struct _LmdSphinxSession {
  GObject parent_instance;

  LmdSphinxEngine *engine;   /* owned */
  char *request_id;          /* owned; nullable */
  gint16 *segment;           /* owned; the samples not decoded yet */
  gsize segment_len;
  gsize segment_cap;         /* the engine's max segment size */
  guint64 segment_offset;    /* samples fed before segment[0] */
  guint64 n_fed;
  LmdTranscript *transcript; /* owned; words of the utterances decoded so far */
  gboolean finished;
  StreamState *stream;       /* owned; NULL in batch mode */
};

static void lmd_sphinx_session_iface_init (LmdEngineSessionInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdSphinxSession, lmd_sphinx_session, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_ENGINE_SESSION,
                                                      lmd_sphinx_session_iface_init))

static double
frame_power (const gint16 *samples, gsize n)
{
  double sum = 0.0;

  for (gsize i = 0; i < n; i++)
    sum += (double) samples[i] * (double) samples[i];
  return n > 0 ? sum / (double) n : 0.0;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Where to end the utterance in a full segment of @n samples: a sample index in
 * [@min_cut, @n], on a frame boundary. */
static gsize
find_cut (const gint16 *samples, gsize n, gsize min_cut)
{
  gsize n_frames = n / FRAME_SAMPLES;
  gsize first = MIN (min_cut / FRAME_SAMPLES, n_frames);
  g_autofree double *level = NULL;
  g_autofree double *sorted = NULL;
  double floor_db, speech_db, range, enter_quiet, leave_quiet;
  gsize best_start = 0, best_len = 0, run_start = 0, from, best_frame;
  gboolean quiet = FALSE;
  double best_sum = G_MAXDOUBLE;

  if (n_frames < 2 * SMOOTH_FRAMES)
    return n;
  level = g_new (double, n_frames);
  for (gsize f = 0; f < n_frames; f++)
    level[f] = 10.0 * log10 (frame_power (samples + f * FRAME_SAMPLES, FRAME_SAMPLES) + 1.0);
  sorted = g_memdup2 (level, n_frames * sizeof (double));
  qsort (sorted, n_frames, sizeof (double), compare_doubles);
  floor_db = sorted[n_frames / 10];
  speech_db = sorted[n_frames * 9 / 10];
  range = MAX (speech_db - floor_db, 1.0);
  enter_quiet = floor_db + 0.25 * range;
  leave_quiet = floor_db + 0.45 * range;

  /* Pauses: runs of quiet frames, with hysteresis so a click does not split one. */
  for (gsize f = first; f <= n_frames; f++)
    {
      gboolean now_quiet = f < n_frames && (quiet ? level[f] < leave_quiet : level[f] < enter_quiet);

      if (now_quiet && !quiet)
        run_start = f;
      else if (!now_quiet && quiet && f - run_start >= best_len)
        {
          best_start = run_start;
          best_len = f - run_start;
        }
      quiet = now_quiet;
    }
  if (best_len >= MIN_PAUSE_FRAMES)
    return (best_start + best_len / 2) * FRAME_SAMPLES;

  /* No pause: the quietest 100 ms near the end. */
  from = MAX (first, n_frames > FALLBACK_SEARCH_FRAMES ? n_frames - FALLBACK_SEARCH_FRAMES : 0);
  best_frame = n_frames;
  for (gsize f = from; f + SMOOTH_FRAMES <= n_frames; f++)
    {
      double sum = 0.0;
      for (gsize k = 0; k < SMOOTH_FRAMES; k++)
        sum += level[f + k];
      if (sum <= best_sum)
        {
          best_sum = sum;
          best_frame = f + SMOOTH_FRAMES / 2;
        }
    }
  return MAX (best_frame * FRAME_SAMPLES, FRAME_SAMPLES);
}

static gboolean
is_silent (const gint16 *samples, gsize n)
{
  for (gsize i = 0; i < n; i += FRAME_SAMPLES)
    if (frame_power (samples + i, MIN (FRAME_SAMPLES, n - i)) >= SILENT_FRAME_POWER)
      return FALSE;
  return TRUE;
}

/* Fillers, silences and sentence markers: <s>, </s>, <sil>, [NOISE], ++BREATH++ */
static gboolean
is_filler (const char *word)
{
  return word == NULL || word[0] == '\0' || word[0] == '<' || word[0] == '[' ||
         g_str_has_prefix (word, "++");
}

/* (transfer full) @word without an alternate pronunciation marker: "read(2)" → "read" */
static char *
strip_pronunciation (const char *word)
{
  gsize len = strlen (word);
  const char *open = strrchr (word, '(');

  if (open != NULL && open != word && len > 0 && word[len - 1] == ')')
    {
      const char *p = open + 1;
      while (g_ascii_isdigit (*p))
        p++;
      if (p == word + len - 1 && p > open + 1)
        return g_strndup (word, open - word);
    }
  return g_strdup (word);
}

static void
collect_words (LmdSphinxSession *self, ps_decoder_t *decoder, guint64 offset, gsize n_samples)
{
  logmath_t *lmath = ps_get_logmath (decoder);
  double frame_rate = lmd_sphinx_engine_get_frame_rate (self->engine);
  double base = (double) offset / SAMPLE_RATE;
  double limit = (double) (offset + n_samples) / SAMPLE_RATE;
  double previous_end = base;
  GArray *words = self->transcript->words;

  if (words->len > 0)
    previous_end = MAX (previous_end, g_array_index (words, LmdWord, words->len - 1).end);

  for (ps_seg_t *seg = ps_seg_iter (decoder); seg != NULL; seg = ps_seg_next (seg))
    {
      const char *raw = ps_seg_word (seg);
      g_autofree char *word = NULL;
      int sf = 0, ef = 0;
      int32 ascr = 0, lscr = 0, lback = 0;
      int32 posterior;
      double start, end;

      if (is_filler (raw))
        continue;
      word = strip_pronunciation (raw);
      ps_seg_frames (seg, &sf, &ef);
      posterior = ps_seg_prob (seg, &ascr, &lscr, &lback);
      start = CLAMP (base + sf / frame_rate, previous_end, limit);
      end = CLAMP (base + (ef + 1) / frame_rate, start, limit);
      lmd_transcript_add_word (self->transcript, word, start, end,
                               logmath_exp (lmath, posterior));
      previous_end = end;
    }
}

/* Decodes @n samples as one utterance starting @offset samples into the input. */
static gboolean
decode_utterance (LmdSphinxSession *self, const gint16 *samples, gsize n, guint64 offset,
                  GError **error)
{
  ps_decoder_t *decoder;
  gint64 t0;
  int rv;

  if (n == 0 || is_silent (samples, n))
    return TRUE;
  decoder = lmd_sphinx_engine_borrow_decoder (self->engine, error);
  if (decoder == NULL)
    return FALSE;

  t0 = g_get_monotonic_time ();
  /* A new stream forgets the noise level the previous utterance left in the front end. */
  rv = ps_start_stream (decoder);
  if (rv >= 0)
    rv = ps_start_utt (decoder);
  if (rv >= 0)
    rv = ps_process_raw (decoder, samples, n, FALSE, TRUE);
  if (rv >= 0)
    rv = ps_end_utt (decoder);
  else
    ps_end_utt (decoder);
  if (rv < 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL,
                   "sphinx: decoding the audio at %.2f s failed", (double) offset / SAMPLE_RATE);
      lmd_sphinx_engine_return_decoder (self->engine, decoder);
      return FALSE;
    }
  collect_words (self, decoder, offset, n);
  lmd_sphinx_engine_return_decoder (self->engine, decoder);
  g_debug ("sphinx%s%s: decoded %.2f s at %.2f s in %.2f s", self->request_id ? " " : "",
           self->request_id ? self->request_id : "", (double) n / SAMPLE_RATE,
           (double) offset / SAMPLE_RATE, (g_get_monotonic_time () - t0) / 1e6);
  return TRUE;
}

/* Decodes the full segment up to a pause and keeps the rest. */
static gboolean
cut_segment (LmdSphinxSession *self, GError **error)
{
  gsize cut = find_cut (self->segment, self->segment_len, self->segment_len / 2);

  if (!decode_utterance (self, self->segment, cut, self->segment_offset, error))
    return FALSE;
  memmove (self->segment, self->segment + cut, (self->segment_len - cut) * sizeof (gint16));
  self->segment_len -= cut;
  self->segment_offset += cut;
  return TRUE;
}

/* ---- streaming ------------------------------------------------------------------------ */

static void
stream_state_free (LmdSphinxSession *self, StreamState *st)
{
  if (st->decoder != NULL)
    {
      ps_end_utt (st->decoder);
      lmd_sphinx_engine_return_stream_decoder (self->engine, st->decoder);
      st->utterance_samples += self->n_fed - st->utt_start;
    }
  if (st->vad != NULL)
    fe_free (st->vad);
  if (st->silero != NULL)
    {
      /* /metrics: the detector's time, and the audio no utterance held */
      lmd_vad_stats_add ((double) lmw_vad_state_time_us (st->silero) / 1e6,
                         (double) (self->n_fed - MIN (st->utterance_samples, self->n_fed)) / SAMPLE_RATE);
      lmw_vad_state_free (st->silero);
    }
  if (st->vad_cep != NULL)
    for (guint i = 0; i < VAD_MAX_FRAMES; i++)
      g_free (st->vad_cep[i]);
  g_free (st->vad_cep);
  g_free (st->history);
  g_free (st->cmn);
  if (st->pending != NULL)
    g_array_unref (st->pending);
  g_free (st);
}

static gboolean
stream_flush (LmdSphinxSession *self, GError **error)
{
  StreamState *st = self->stream;

  if (st->decoder == NULL || st->pending->len == 0)
    return TRUE;
  if (ps_process_raw (st->decoder, (const gint16 *) st->pending->data, st->pending->len, FALSE,
                      FALSE) < 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL,
                   "sphinx: decoding the stream at %.2f s failed",
                   (double) (self->n_fed - st->pending->len) / SAMPLE_RATE);
      g_array_set_size (st->pending, 0);
      return FALSE;
    }
  g_array_set_size (st->pending, 0);
  return TRUE;
}

/* Opens an utterance at the detected onset: borrows a decoder and queues the history from
 * the onset minus the pre-roll. */
static gboolean
stream_open_utterance (LmdSphinxSession *self, GError **error)
{
  StreamState *st = self->stream;
  guint64 speech = MAX (st->since, st->faint_until);
  guint64 onset = speech > PREROLL_SAMPLES ? speech - PREROLL_SAMPLES : 0;
  guint64 oldest = self->n_fed > HISTORY_SAMPLES ? self->n_fed - HISTORY_SAMPLES : 0;
  guint64 start = MAX (MAX (onset, oldest), st->utt_floor);

  st->decoder = lmd_sphinx_engine_borrow_stream_decoder (self->engine, error);
  if (st->decoder == NULL)
    return FALSE;
  if (ps_start_stream (st->decoder) < 0 || ps_start_utt (st->decoder) < 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: cannot start an utterance");
      lmd_sphinx_engine_return_stream_decoder (self->engine, st->decoder);
      st->decoder = NULL;
      return FALSE;
    }
  if (st->cmn_len > 0 && ps_get_feat (st->decoder)->cmn_struct != NULL)
    cmn_live_set (ps_get_feat (st->decoder)->cmn_struct, st->cmn);
  st->utt_start = start;
  g_array_set_size (st->pending, 0);
  for (guint64 i = start; i < self->n_fed; i++)
    g_array_append_val (st->pending, st->history[i % HISTORY_SAMPLES]);
  return TRUE;
}

/* vad=silero: runs one 10 ms block through the Silero detector and its tracker (a decision
 * per 32 ms window); the speech state and its start come from the tracker. */
static void
stream_block_silero (LmdSphinxSession *self, const gint16 *block, guint n)
{
  StreamState *st = self->stream;
  float x[FRAME_SAMPLES];
  float probs[2]; /* a block is shorter than a window: at most one */
  size_t n_probs;

  g_assert (n <= FRAME_SAMPLES && lmw_vad_feed_max (st->silero, n) <= G_N_ELEMENTS (probs));
  for (guint i = 0; i < n; i++)
    x[i] = (float) block[i] / 32768.0f;
  n_probs = lmw_vad_feed (st->silero, x, n, probs);
  for (size_t i = 0; i < n_probs; i++)
    lmw_vad_tracker_push (&st->tracker, probs[i]);
  if (st->tracker.speech != st->in_speech)
    {
      st->in_speech = st->tracker.speech;
      st->since = (guint64) MAX (st->in_speech ? st->tracker.speech_start : st->tracker.speech_fall, 0);
    }
}

/* Runs one 10 ms block (already counted in n_fed and in the history) through the detector. */
static gboolean
stream_block (LmdSphinxSession *self, const gint16 *block, guint n, GError **error)
{
  StreamState *st = self->stream;
  const gint16 *p = block;
  size_t left = n;
  gboolean speech;

  if (st->silero != NULL)
    {
      stream_block_silero (self, block, n);
      left = 0;
    }
  while (left > 0)
    {
      int32 n_frames = VAD_MAX_FRAMES;
      size_t before = left;
      if (fe_process_frames (st->vad, &p, &left, st->vad_cep, &n_frames, NULL) < 0)
        {
          g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: voice-activity detection failed");
          return FALSE;
        }
      if (left == before)
        break;
    }
  speech = st->silero != NULL ? st->in_speech : fe_get_vad_state (st->vad) != 0;
  if (speech != st->in_speech)
    {
      /* The detector decides after a run of frames: the state began that run earlier. */
      guint64 lag = (guint64) (speech ? st->vad_start_frames : st->vad_end_frames) * FRAME_SAMPLES;
      st->in_speech = speech;
      st->since = self->n_fed > lag ? self->n_fed - lag : 0;
    }
  if (st->decoder != NULL)
    g_array_append_vals (st->pending, block, n);
  else if (st->in_speech)
    {
      /* a run of "speech" that began while the detector was settling stays gated after the
       * settling period too, until it ends or turns loud: it is the same false start */
      gboolean gated = st->silero == NULL &&
                       (self->n_fed <= VAD_SETTLE_SAMPLES || st->since <= st->faint_until);
      if (gated && frame_power (block, n) < SETTLE_MIN_POWER)
        st->faint_until = self->n_fed;
      else if (!stream_open_utterance (self, error))
        return FALSE;
    }
  else if (st->silero == NULL && self->n_fed <= VAD_SETTLE_SAMPLES &&
           frame_power (block, n) < SETTLE_MIN_POWER)
    st->faint_until = self->n_fed;
  /* Speech is decoded in 100 ms batches; once the detector hears silence, every block at
   * once, so that when the silence ends the utterance the decoder has already taken all of
   * its audio and the final costs only the end of the search. */
  if (st->pending->len >= SAMPLE_RATE / 10 || (st->decoder != NULL && !st->in_speech))
    return stream_flush (self, error);
  return TRUE;
}

static gboolean
stream_feed (LmdSphinxSession *self, const float *samples, gsize n_samples, GError **error)
{
  StreamState *st = self->stream;

  for (gsize i = 0; i < n_samples; i++)
    {
      float v = samples[i] * 32768.0f;
      gint16 s = v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : v == v ? (gint16) lrintf (v) : 0;

      st->history[self->n_fed % HISTORY_SAMPLES] = s;
      self->n_fed++;
      st->block[st->block_len++] = s;
      if (st->block_len == FRAME_SAMPLES)
        {
          st->block_len = 0;
          if (!stream_block (self, st->block, FRAME_SAMPLES, error))
            return FALSE;
        }
    }
  return TRUE;
}

/* (transfer full) @hyp without fillers and pronunciation markers */
static char *
clean_hypothesis (const char *hyp)
{
  g_auto (GStrv) tokens = g_strsplit (hyp != NULL ? hyp : "", " ", -1);
  GString *out = g_string_new (NULL);

  for (guint i = 0; tokens[i] != NULL; i++)
    {
      g_autofree char *word = NULL;
      if (tokens[i][0] == '\0' || is_filler (tokens[i]))
        continue;
      word = strip_pronunciation (tokens[i]);
      if (out->len > 0)
        g_string_append_c (out, ' ');
      g_string_append (out, word);
    }
  return g_string_free (out, FALSE);
}

static char *
lmd_sphinx_session_get_partial (LmdEngineSession *session)
{
  LmdSphinxSession *self = LMD_SPHINX_SESSION (session);
  StreamState *st = self->stream;
  int32 score = 0;

  if (st == NULL || st->decoder == NULL || !stream_flush (self, NULL))
    return NULL;
  return clean_hypothesis (ps_get_hyp (st->decoder, &score));
}

static LmdTranscript *
lmd_sphinx_session_end_utterance (LmdEngineSession *session, GError **error)
{
  LmdSphinxSession *self = LMD_SPHINX_SESSION (session);
  StreamState *st = self->stream;
  g_autoptr (LmdTranscript) utterance = lmd_transcript_new ("en");
  ps_decoder_t *decoder;
  gboolean ok;
  gint64 t0, t1, t2;

  if (st == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: not a streaming session");
      return NULL;
    }
  utterance->duration = (double) self->n_fed / SAMPLE_RATE;
  if (st->decoder == NULL)
    return g_steal_pointer (&utterance);

  t0 = g_get_monotonic_time ();
  ok = stream_flush (self, error);
  t1 = g_get_monotonic_time ();
  decoder = g_steal_pointer (&st->decoder);
  st->utterance_samples += self->n_fed - st->utt_start;
  if (ps_end_utt (decoder) < 0 && ok)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: ending the utterance failed");
      ok = FALSE;
    }
  t2 = g_get_monotonic_time ();
  if (ok)
    {
      LmdTranscript *saved = self->transcript;
      self->transcript = utterance;
      collect_words (self, decoder, st->utt_start, self->n_fed - st->utt_start);
      self->transcript = saved;
      if (st->cmn_len > 0 && ps_get_feat (decoder)->cmn_struct != NULL)
        cmn_live_get (ps_get_feat (decoder)->cmn_struct, st->cmn);
    }
  /* the parts of the cost of a final (the live session logs the whole) */
  LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, self->request_id,
                   "sphinx stream: utterance of %.2f s ended: last audio %.0f ms, search end "
                   "%.0f ms, words and posteriors %.0f ms",
                   (double) (self->n_fed - st->utt_start) / SAMPLE_RATE, (t1 - t0) / 1e3,
                   (t2 - t1) / 1e3, (g_get_monotonic_time () - t2) / 1e3);
  lmd_sphinx_engine_return_stream_decoder (self->engine, decoder);
  st->utt_floor = self->n_fed;
  /* speech that goes on opens the next utterance at once */
  st->since = MAX (st->since, self->n_fed);
  if (!ok)
    return NULL;
  lmd_transcript_update_text_from_words (utterance);
  return g_steal_pointer (&utterance);
}

static gboolean
lmd_sphinx_session_get_speech_state (LmdEngineSession *session, double *since,
                                     double *utterance_start)
{
  LmdSphinxSession *self = LMD_SPHINX_SESSION (session);
  StreamState *st = self->stream;

  if (since != NULL)
    *since = st != NULL ? (double) st->since / SAMPLE_RATE : 0.0;
  if (utterance_start != NULL)
    *utterance_start = st != NULL && st->decoder != NULL ? (double) st->utt_start / SAMPLE_RATE : -1.0;
  return st != NULL && st->in_speech;
}

static gboolean
lmd_sphinx_session_feed (LmdEngineSession *session, const float *samples, gsize n_samples,
                         GError **error)
{
  LmdSphinxSession *self = LMD_SPHINX_SESSION (session);
  gsize done = 0;

  if (self->finished)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: audio fed after finish");
      return FALSE;
    }
  if (self->stream != NULL)
    return stream_feed (self, samples, n_samples, error);
  while (done < n_samples)
    {
      gsize take = MIN (n_samples - done, self->segment_cap - self->segment_len);
      gint16 *out = self->segment + self->segment_len;

      for (gsize i = 0; i < take; i++)
        {
          float v = samples[done + i] * 32768.0f;
          /* NaN compares false both ways and becomes 0 */
          out[i] = v >= 32767.0f ? 32767 : v <= -32768.0f ? -32768 : v == v ? (gint16) lrintf (v) : 0;
        }
      self->segment_len += take;
      self->n_fed += take;
      done += take;
      if (self->segment_len == self->segment_cap && !cut_segment (self, error))
        return FALSE;
    }
  return TRUE;
}

static LmdTranscript *
lmd_sphinx_session_finish (LmdEngineSession *session, GError **error)
{
  LmdSphinxSession *self = LMD_SPHINX_SESSION (session);
  LmdTranscript *result;

  if (self->finished)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: session already finished");
      return NULL;
    }
  if (self->stream != NULL)
    {
      result = lmd_sphinx_session_end_utterance (session, error);
      self->finished = TRUE;
      return result;
    }
  self->finished = TRUE;
  if (!decode_utterance (self, self->segment, self->segment_len, self->segment_offset, error))
    return NULL;
  self->segment_offset += self->segment_len;
  self->segment_len = 0;
  g_clear_pointer (&self->segment, g_free);

  result = g_steal_pointer (&self->transcript);
  result->duration = (double) self->n_fed / SAMPLE_RATE;
  lmd_transcript_update_text_from_words (result);
  return result;
}

LmdSphinxSession *
lmd_sphinx_session_new (LmdSphinxEngine *engine, const LmdSessionOptions *options,
                        GError **error)
{
  g_autoptr (LmdSphinxSession) self = NULL;

  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (engine), NULL);
  g_return_val_if_fail (options != NULL, NULL);

  self = g_object_new (LMD_TYPE_SPHINX_SESSION, NULL);
  self->engine = g_object_ref (engine);
  self->request_id = g_strdup (options->request_id);
  if (options->streaming)
    {
      StreamState *st = g_new0 (StreamState, 1);
      const mfcc_t *cmn;

      self->stream = st;
      if (options->vad != NULL && options->vad->enabled > 0)
        {
          const LmdVadConfig *vad = lmd_sphinx_engine_get_vad_config (engine);
          lmw_vad_params params;
          lmw_error err = { 0 };

          if (!lmd_vad_config_get_params (vad, options->vad, &params))
            {
              g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                           "vad" LMD_ERROR_PARAM_SEPARATOR "no voice-activity model is "
                           "configured on this server ([vad] model)");
              return NULL;
            }
          st->silero = lmw_vad_state_new (vad->model, &err);
          if (st->silero == NULL)
            {
              g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "VAD: %s", err.message);
              return NULL;
            }
          lmw_vad_tracker_init (&st->tracker, &params, lmw_vad_model_window (vad->model));
          LMD_LOG_REQUEST (G_LOG_LEVEL_DEBUG, options->request_id,
                           "sphinx stream: endpointing by Silero (threshold %.2f, min silence %d ms)",
                           params.threshold, params.min_silence_ms);
        }
      else
        {
          st->vad = lmd_sphinx_engine_create_vad (engine, error);
          if (st->vad == NULL)
            return NULL;
          st->vad_cep = g_new0 (mfcc_t *, VAD_MAX_FRAMES);
          for (guint i = 0; i < VAD_MAX_FRAMES; i++)
            st->vad_cep[i] = g_new0 (mfcc_t, MAX (fe_get_output_size (st->vad), 1));
          fe_start_utt (st->vad);
          lmd_sphinx_engine_get_vad_frames (engine, &st->vad_start_frames, &st->vad_end_frames);
        }
      st->history = g_new0 (gint16, HISTORY_SAMPLES);
      st->pending = g_array_new (FALSE, FALSE, sizeof (gint16));
      cmn = lmd_sphinx_engine_get_initial_cmn (engine, &st->cmn_len);
      st->cmn = g_memdup2 (cmn, MAX (st->cmn_len, 1) * sizeof (mfcc_t));
      return g_steal_pointer (&self);
    }
  self->segment_cap = MAX (lmd_sphinx_engine_get_max_segment_samples (engine), SAMPLE_RATE);
  self->segment = g_new (gint16, self->segment_cap);
  return g_steal_pointer (&self);
}

static void
lmd_sphinx_session_finalize (GObject *object)
{
  LmdSphinxSession *self = LMD_SPHINX_SESSION (object);

  if (self->stream != NULL)
    stream_state_free (self, g_steal_pointer (&self->stream));
  g_free (self->segment);
  g_free (self->request_id);
  g_clear_pointer (&self->transcript, lmd_transcript_free);
  g_clear_object (&self->engine);

  G_OBJECT_CLASS (lmd_sphinx_session_parent_class)->finalize (object);
}

static void
lmd_sphinx_session_class_init (LmdSphinxSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_sphinx_session_finalize;
}

static void
lmd_sphinx_session_iface_init (LmdEngineSessionInterface *iface)
{
  iface->feed = lmd_sphinx_session_feed;
  iface->finish = lmd_sphinx_session_finish;
  iface->get_partial = lmd_sphinx_session_get_partial;
  iface->end_utterance = lmd_sphinx_session_end_utterance;
  iface->get_speech_state = lmd_sphinx_session_get_speech_state;
}

static void
lmd_sphinx_session_init (LmdSphinxSession *self)
{
  self->transcript = lmd_transcript_new ("en");
}
