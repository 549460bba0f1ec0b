/* SPDX-License-Identifier: MIT */
/*
 * lmd-sphinx-engine.c — LmdEngine on CMU PocketSphinx (0.8+5prealpha API).
 *
 * Config group [sphinx]:
 *   hmm                  acoustic model directory (default: the pocketsphinx-en-us package's)
 *   lm                   binary or ARPA language model
 *   dict                 pronunciation dictionary
 *   decoders             size of the decoder pool (default: number of processors)
 *   max_segment_seconds  longest utterance decoded in one piece (default 30, 5 to 600)
 *   extra_args           more pocketsphinx arguments, shell-quoted: "-beam 1e-60 -pbeam 1e-50"
 *   vad_threshold        streaming: speech/noise log-ratio of the voice-activity detector (2.0)
 *
 * Config group [vad] (lmd-vad-config.h): the Silero model and settings that a stream opened
 * with vad=silero uses to find its utterances instead of the detector above.
 *
 *   stream_decoders      decoders for live streams (default: [streaming] max_streams, 16)
 *   stream_args          more pocketsphinx arguments for the live-stream decoders only, after
 *                        extra_args (default: SPHINX_STREAM_DEFAULT_ARGS below)
 *   stream_prewarm       live-stream decoders kept created and idle ahead of demand (default 2,
 *                        0 to stream_decoders)
 *   stream_idle_release_s  a live-stream decoder idle this long beyond the stream_prewarm ones
 *                        is freed (default 60, 0 = kept until exit)
 *
 * Creating a decoder loads the model: about 0.5 s of CPU, more than the whole latency budget
 * of a first interim.  So a background thread keeps stream_prewarm stream decoders created
 * and idle: it starts right after setup and runs again whenever a borrow leaves fewer idle
 * than that, never creating more than stream_decoders in all.  A stream that finds none idle
 * creates its own, as before.  Each stream decoder is a full copy of the model (about 90 MiB):
 * after a burst of streams, the same thread frees the decoders beyond stream_prewarm that have
 * been idle for stream_idle_release_s, oldest first, so the memory follows the streams open
 * rather than the most there ever were.
 *
 * Live streams have a pool of their own, because they hold a decoder for as long as an
 * utterance is open, and because their decoders run without the second (flat lexicon) pass:
 * -fwdflat no.  That pass runs when the utterance ends and costs 100 to 500 ms on a 5 s
 * utterance on this hardware, all of it added to the latency of the final; the tree pass and
 * the lattice (bestpath) keep word confidences and cost 20 to 150 ms.
 *
 * Settings the session relies on are fixed: -samprate 16000; -bestpath yes (word confidences
 * are posteriors of the lattice); -remove_silence no (pocketsphinx's VAD drops silent frames
 * without counting them, which shifts every later word; the session finds pauses itself).
 *
 * Setup checks every model file before pocketsphinx sees it (pocketsphinx calls exit() on
 * some missing files), then creates the first decoder so a bad model fails at start-up.
 * Further decoders are created on demand, up to the pool size.  sphinxbase's own log lines
 * go through g_debug() so they never reach stderr unasked.
 */
#include "lmd-sphinx-engine.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>

#include "lmd-config.h"
#include "lmd-error.h"
#include "lmd-sphinx-session.h"

#define SPHINX_GROUP "sphinx"
#define SPHINX_MODEL_NAME "sphinx-en-us"
#define SPHINX_SAMPLE_RATE 16000
#define SPHINX_DEFAULT_MODEL_DIR "/usr/share/pocketsphinx/model/en-us"
#define SPHINX_MAX_DECODERS 64
/* Live-stream decoders (bench/stream/bench-stream-cost; docs/benchmarks.md "Live streams"):
 * at most 2500 HMMs searched per frame instead of 30000, and acoustic scores computed on
 * every other frame.  Together about a third of the CPU time of pocketsphinx's defaults per
 * stream, the same WER on tests/stream (38.0%) and one more error in 71 words on the
 * bench's set; narrower beams or -topn 2 cost more WER for less gain. */
#define SPHINX_STREAM_DEFAULT_ARGS "-maxhmmpf 2500 -ds 2"
#define SPHINX_VAD_START_FRAMES 10 /* 100 ms of speech to enter speech */
#define SPHINX_VAD_END_FRAMES 15   /* 150 ms of silence to leave it; the stream's own
                                    * end-of-utterance timeout comes on top */

struct _LmdSphinxEngine {
  GObject parent_instance;

  GStrv argv;               /* owned; pocketsphinx arguments, argv[0] is a program name */
  gsize max_segment_samples;
  guint frame_rate;
  guint pool_size;
  gboolean ready;           /* setup() succeeded */

  GStrv stream_argv;        /* owned; argv + -fwdflat no */
  guint stream_pool_size;
  GPtrArray *stream_idle;   /* owned; under lock; the most recently returned last */
  GArray *stream_idle_since; /* owned; under lock: gint64, when each of stream_idle became idle */
  gint64 stream_release_us; /* 0: idle stream decoders are kept */
  guint stream_created;     /* under lock */
  guint stream_prewarm;
  GThread *refill_thread;   /* owned; keeps stream_prewarm stream decoders idle */
  GCond refill_wanted;      /* signalled when the refill thread may have work */
  gboolean refilling;       /* under lock: the refill thread is creating a decoder */
  gboolean stopping;        /* under lock: the refill thread must end */
  GStrv vad_argv;           /* owned; front-end arguments of the streaming VAD */
  mfcc_t *initial_cmn;      /* owned; live CMN of a fresh decoder */
  guint initial_cmn_len;
  LmdVadConfig vad;         /* [vad]: the Silero detector for vad=silero streams */

  GMutex lock;
  GCond returned;           /* signalled when a decoder comes back to the pool */
  GPtrArray *idle;          /* owned; ps_decoder_t * free for borrowing; under lock */
  guint n_created;          /* decoders created or being created; under lock */
};

static void lmd_sphinx_engine_iface_init (LmdEngineInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LmdSphinxEngine, lmd_sphinx_engine, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (LMD_TYPE_ENGINE, lmd_sphinx_engine_iface_init))

/* The last error line sphinxbase logged on this thread, to explain a failed ps_init(). */
static GPrivate last_sphinx_error = G_PRIVATE_INIT (g_free);

/* ps_init() touches process-wide state in sphinxbase (logging, command-line tables):
 * decoders are created one at a time. */
static GMutex decoder_init_lock;

static void
sphinx_log_cb (void *user_data, err_lvl_t level, const char *format, ...)
{
  g_autofree char *line = NULL;
  va_list args;

  va_start (args, format);
  line = g_strdup_vprintf (format, args);
  va_end (args);
  g_strchomp (line);
  if (line[0] == '\0')
    return;
  if (level >= ERR_ERROR)
    g_private_replace (&last_sphinx_error, g_strdup (line));
  g_debug ("pocketsphinx: %s", line);
}

static void
sphinx_log_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done))
    {
      err_set_logfp (NULL);
      err_set_callback (sphinx_log_cb, NULL);
      g_once_init_leave (&done, 1);
    }
}

/* Resident set size of this process in bytes, or 0 when unknown. */
static guint64
resident_bytes (void)
{
  g_autofree char *statm = NULL;
  unsigned long long size = 0, resident = 0;

  if (!g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL) ||
      sscanf (statm, "%llu %llu", &size, &resident) != 2)
    return 0;
  return (guint64) resident * (guint64) sysconf (_SC_PAGESIZE);
}

static ps_decoder_t *
create_decoder (LmdSphinxEngine *self, GStrv argv, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&decoder_init_lock);
  cmd_ln_t *config;
  ps_decoder_t *decoder;
  guint64 rss_before = resident_bytes ();
  gint64 t0 = g_get_monotonic_time ();

  g_private_replace (&last_sphinx_error, NULL);
  config = cmd_ln_parse_r (NULL, ps_args (), (int) g_strv_length (argv), argv, TRUE);
  if (config == NULL)
    {
      const char *why = g_private_get (&last_sphinx_error);
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: invalid pocketsphinx arguments%s%s",
                   why != NULL ? ": " : "", why != NULL ? why : "");
      return NULL;
    }
  decoder = ps_init (config);
  cmd_ln_free_r (config); /* the decoder keeps its own reference */
  if (decoder == NULL)
    {
      const char *why = g_private_get (&last_sphinx_error);
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: cannot create a decoder%s%s",
                   why != NULL ? ": " : "", why != NULL ? why : "");
      return NULL;
    }
  g_debug ("sphinx: decoder created in %.2f s, resident memory +%.1f MiB",
           (g_get_monotonic_time () - t0) / 1e6,
           ((double) resident_bytes () - (double) rss_before) / (1024.0 * 1024.0));
  return decoder;
}

static ps_decoder_t *
borrow_from (LmdSphinxEngine *self, GPtrArray *idle, guint *n_created, guint size, GStrv argv,
             GError **error)
{
  ps_decoder_t *decoder = NULL;

  g_mutex_lock (&self->lock);
  /* a decoder being pre-warmed comes sooner than a new one (creation is serialised) */
  while (idle->len == 0 && (*n_created >= size || (idle == self->stream_idle && self->refilling)))
    g_cond_wait (&self->returned, &self->lock);
  if (idle->len > 0)
    {
      decoder = g_ptr_array_steal_index (idle, idle->len - 1);
      if (idle == self->stream_idle)
        g_array_set_size (self->stream_idle_since, idle->len);
    }
  else
    (*n_created)++;
  g_mutex_unlock (&self->lock);
  if (decoder != NULL)
    return decoder;

  /* Created outside the pool lock: loading a model takes a while. */
  decoder = create_decoder (self, argv, error);
  if (decoder == NULL)
    {
      g_mutex_lock (&self->lock);
      (*n_created)--;
      g_cond_broadcast (&self->returned);
      g_mutex_unlock (&self->lock);
    }
  return decoder;
}

ps_decoder_t *
lmd_sphinx_engine_borrow_decoder (LmdSphinxEngine *self, GError **error)
{
  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), NULL);
  g_return_val_if_fail (self->ready, NULL);
  return borrow_from (self, self->idle, &self->n_created, self->pool_size, self->argv, error);
}

void
lmd_sphinx_engine_return_decoder (LmdSphinxEngine *self, ps_decoder_t *decoder)
{
  g_return_if_fail (LMD_IS_SPHINX_ENGINE (self));
  g_return_if_fail (decoder != NULL);

  g_mutex_lock (&self->lock);
  g_ptr_array_add (self->idle, decoder);
  g_cond_broadcast (&self->returned);
  g_mutex_unlock (&self->lock);
}

/* Under lock: adds @decoder to the idle stream decoders. */
static void
stream_idle_add (LmdSphinxEngine *self, ps_decoder_t *decoder)
{
  gint64 now = g_get_monotonic_time ();

  g_ptr_array_add (self->stream_idle, decoder);
  g_array_append_val (self->stream_idle_since, now);
}

/* Under lock: when the oldest idle stream decoder beyond stream_prewarm is due to be freed,
 * or -1 when none is. */
static gint64
stream_release_due (LmdSphinxEngine *self)
{
  if (self->stream_release_us <= 0 || self->stream_idle->len <= self->stream_prewarm)
    return -1;
  return g_array_index (self->stream_idle_since, gint64, 0) + self->stream_release_us;
}

/* Under lock (dropped while freeing): frees the idle stream decoders beyond stream_prewarm
 * that are due. */
static void
stream_release_idle (LmdSphinxEngine *self)
{
  gint64 due;

  while ((due = stream_release_due (self)) >= 0 && due <= g_get_monotonic_time ())
    {
      ps_decoder_t *decoder = g_ptr_array_steal_index (self->stream_idle, 0);

      g_array_remove_index (self->stream_idle_since, 0);
      self->stream_created--;
      g_cond_broadcast (&self->returned);
      g_mutex_unlock (&self->lock);
      ps_free (decoder);
      g_debug ("sphinx: freed a live-stream decoder idle for %.0f s",
               self->stream_release_us / 1e6);
      g_mutex_lock (&self->lock);
    }
}

/* Under lock: whether the refill thread has a stream decoder to create. */
static gboolean
refill_needed (LmdSphinxEngine *self)
{
  return self->stream_idle->len < self->stream_prewarm &&
         self->stream_created < self->stream_pool_size;
}

static gpointer
refill_thread (gpointer data)
{
  LmdSphinxEngine *self = data;

  g_mutex_lock (&self->lock);
  for (;;)
    {
      ps_decoder_t *decoder;
      g_autoptr (GError) error = NULL;

      while (!self->stopping && !refill_needed (self))
        {
          gint64 due = stream_release_due (self);

          if (due < 0)
            g_cond_wait (&self->refill_wanted, &self->lock);
          else if (!g_cond_wait_until (&self->refill_wanted, &self->lock, due))
            stream_release_idle (self);
        }
      if (self->stopping)
        break;
      self->stream_created++;
      self->refilling = TRUE;
      g_mutex_unlock (&self->lock);

      decoder = create_decoder (self, self->stream_argv, &error);

      g_mutex_lock (&self->lock);
      self->refilling = FALSE;
      if (decoder != NULL)
        stream_idle_add (self, decoder);
      else
        {
          /* a borrow will report it; do not retry in a loop */
          self->stream_created--;
          g_warning ("sphinx: pre-warming a stream decoder failed: %s", error->message);
          g_cond_broadcast (&self->returned);
          break;
        }
      g_cond_broadcast (&self->returned);
    }
  g_mutex_unlock (&self->lock);
  return NULL;
}

ps_decoder_t *
lmd_sphinx_engine_borrow_stream_decoder (LmdSphinxEngine *self, GError **error)
{
  ps_decoder_t *decoder;

  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), NULL);
  g_return_val_if_fail (self->ready, NULL);
  decoder = borrow_from (self, self->stream_idle, &self->stream_created, self->stream_pool_size,
                         self->stream_argv, error);
  g_mutex_lock (&self->lock);
  if (refill_needed (self))
    g_cond_signal (&self->refill_wanted);
  g_mutex_unlock (&self->lock);
  return decoder;
}

void
lmd_sphinx_engine_get_stream_pool (LmdSphinxEngine *self, guint *created, guint *idle,
                                   gboolean *settled)
{
  g_return_if_fail (LMD_IS_SPHINX_ENGINE (self));
  g_mutex_lock (&self->lock);
  if (created != NULL)
    *created = self->stream_created;
  if (idle != NULL)
    *idle = self->stream_idle->len;
  if (settled != NULL)
    *settled = !self->refilling && (self->refill_thread == NULL || !refill_needed (self));
  g_mutex_unlock (&self->lock);
}

void
lmd_sphinx_engine_return_stream_decoder (LmdSphinxEngine *self, ps_decoder_t *decoder)
{
  g_return_if_fail (LMD_IS_SPHINX_ENGINE (self));
  g_return_if_fail (decoder != NULL);

  g_mutex_lock (&self->lock);
  stream_idle_add (self, decoder);
  g_cond_broadcast (&self->returned);
  /* the refill thread times the release of decoders beyond stream_prewarm */
  if (self->refill_thread != NULL && stream_release_due (self) >= 0)
    g_cond_signal (&self->refill_wanted);
  g_mutex_unlock (&self->lock);
}

gsize
lmd_sphinx_engine_get_max_segment_samples (LmdSphinxEngine *self)
{
  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), 0);
  return self->max_segment_samples;
}

guint
lmd_sphinx_engine_get_frame_rate (LmdSphinxEngine *self)
{
  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), 100);
  return self->frame_rate;
}

guint
lmd_sphinx_engine_get_n_decoders (LmdSphinxEngine *self)
{
  guint n;

  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), 0);
  g_mutex_lock (&self->lock);
  n = self->n_created;
  g_mutex_unlock (&self->lock);
  return n;
}

fe_t *
lmd_sphinx_engine_create_vad (LmdSphinxEngine *self, GError **error)
{
  g_autoptr (GMutexLocker) locker = NULL;
  cmd_ln_t *config;
  fe_t *fe;

  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), NULL);
  g_return_val_if_fail (self->ready, NULL);

  locker = g_mutex_locker_new (&decoder_init_lock);
  config = cmd_ln_parse_r (NULL, fe_get_args (), (int) g_strv_length (self->vad_argv),
                           self->vad_argv, FALSE);
  if (config == NULL)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: invalid front-end arguments");
      return NULL;
    }
  fe = fe_init_auto_r (config);
  cmd_ln_free_r (config);
  if (fe == NULL)
    g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL,
                 "sphinx: cannot create the voice-activity detector");
  return fe;
}

void
lmd_sphinx_engine_get_vad_frames (LmdSphinxEngine *self, guint *start_frames, guint *end_frames)
{
  if (start_frames != NULL)
    *start_frames = SPHINX_VAD_START_FRAMES;
  if (end_frames != NULL)
    *end_frames = SPHINX_VAD_END_FRAMES;
}

const mfcc_t *
lmd_sphinx_engine_get_initial_cmn (LmdSphinxEngine *self, guint *len)
{
  g_return_val_if_fail (LMD_IS_SPHINX_ENGINE (self), NULL);
  *len = self->initial_cmn_len;
  return self->initial_cmn;
}

/* Sets @error naming @path unless it is a regular file (or a directory, with @want_dir). */
static gboolean
check_model_path (const char *path, const char *what, const char *key, gboolean want_dir,
                  GError **error)
{
  GFileTest test = want_dir ? G_FILE_TEST_IS_DIR : G_FILE_TEST_IS_REGULAR;

  if (g_file_test (path, test))
    return TRUE;
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 "sphinx: %s '%s' is not a %s (config [" SPHINX_GROUP "] %s)", what, path,
                 want_dir ? "directory" : "regular file", key);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                 "sphinx: %s '%s' does not exist (config [" SPHINX_GROUP "] %s)", what, path, key);
  return FALSE;
}

static gboolean
check_acoustic_model (const char *hmm, GError **error)
{
  static const char *const required[] = { "mdef", "means", "variances", "transition_matrices" };
  g_autofree char *mixw = g_build_filename (hmm, "mixture_weights", NULL);
  g_autofree char *sendump = g_build_filename (hmm, "sendump", NULL);

  if (!check_model_path (hmm, "acoustic model directory", "hmm", TRUE, error))
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
    {
      g_autofree char *path = g_build_filename (hmm, required[i], NULL);
      if (!check_model_path (path, "acoustic model file", "hmm", FALSE, error))
        return FALSE;
    }
  if (!g_file_test (mixw, G_FILE_TEST_IS_REGULAR) && !g_file_test (sendump, G_FILE_TEST_IS_REGULAR))
    return check_model_path (mixw, "acoustic model file", "hmm", FALSE, error);
  return TRUE;
}

static gboolean
lmd_sphinx_engine_setup (LmdEngine *engine, GKeyFile *config, GError **error)
{
  LmdSphinxEngine *self = LMD_SPHINX_ENGINE (engine);
  g_autofree char *hmm = NULL;
  g_autofree char *lm = NULL;
  g_autofree char *dict = NULL;
  g_autofree char *extra = NULL;
  g_auto (GStrv) extra_argv = NULL;
  g_autofree char *stream_extra = NULL;
  g_auto (GStrv) stream_extra_argv = NULL;
  g_autoptr (GStrvBuilder) builder = NULL;
  gint64 decoders = 0, max_streams = 0, stream_decoders = 0, stream_prewarm = 0, release_s = 0;
  double max_segment_seconds = 0.0, vad_threshold = 0.0;
  g_autofree char *vad_threshold_text = NULL;
  ps_decoder_t *first;
  cmd_ln_t *decoder_config;

  if (self->ready)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INTERNAL, "sphinx: engine is already set up");
      return FALSE;
    }
  sphinx_log_init ();
  if (!lmd_vad_config_load (&self->vad, config, error))
    return FALSE;

  hmm = lmd_config_get_string (config, SPHINX_GROUP, "hmm", SPHINX_DEFAULT_MODEL_DIR "/en-us");
  lm = lmd_config_get_string (config, SPHINX_GROUP, "lm", SPHINX_DEFAULT_MODEL_DIR "/en-us.lm.bin");
  dict = lmd_config_get_string (config, SPHINX_GROUP, "dict",
                                SPHINX_DEFAULT_MODEL_DIR "/cmudict-en-us.dict");
  extra = lmd_config_get_string (config, SPHINX_GROUP, "extra_args", NULL);
  stream_extra = lmd_config_get_string (config, SPHINX_GROUP, "stream_args",
                                        SPHINX_STREAM_DEFAULT_ARGS);
  if (!lmd_config_get_int (config, "streaming", "max_streams", 16, &max_streams, error) ||
      !lmd_config_get_double (config, SPHINX_GROUP, "vad_threshold", 2.0, &vad_threshold, error) ||
      !lmd_config_get_int (config, SPHINX_GROUP, "stream_decoders",
                           CLAMP (max_streams, 1, SPHINX_MAX_DECODERS), &stream_decoders, error) ||
      !lmd_config_get_int (config, SPHINX_GROUP, "stream_prewarm", 2, &stream_prewarm, error) ||
      !lmd_config_get_int (config, SPHINX_GROUP, "stream_idle_release_s", 60, &release_s, error) ||
      !lmd_config_get_int (config, SPHINX_GROUP, "decoders", g_get_num_processors (), &decoders,
                           error) ||
      !lmd_config_get_double (config, SPHINX_GROUP, "max_segment_seconds", 30.0,
                              &max_segment_seconds, error))
    return FALSE;
  if (decoders < 1 || decoders > SPHINX_MAX_DECODERS)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] decoders: %" G_GINT64_FORMAT
                   " is out of range (1 to %d)", decoders, SPHINX_MAX_DECODERS);
      return FALSE;
    }
  if (!(max_segment_seconds >= 5.0 && max_segment_seconds <= 600.0))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] max_segment_seconds: %g is out of range (5 to 600)",
                   max_segment_seconds);
      return FALSE;
    }
  if (stream_decoders < 1 || stream_decoders > SPHINX_MAX_DECODERS)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] stream_decoders: %" G_GINT64_FORMAT
                   " is out of range (1 to %d)", stream_decoders, SPHINX_MAX_DECODERS);
      return FALSE;
    }
  if (release_s < 0 || release_s > 86400)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] stream_idle_release_s: %" G_GINT64_FORMAT
                   " is out of range (0 to 86400)", release_s);
      return FALSE;
    }
  if (stream_prewarm < 0 || stream_prewarm > stream_decoders)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] stream_prewarm: %" G_GINT64_FORMAT
                   " is out of range (0 to stream_decoders, %" G_GINT64_FORMAT ")",
                   stream_prewarm, stream_decoders);
      return FALSE;
    }
  if (!(vad_threshold >= 0.0 && vad_threshold <= 20.0))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] vad_threshold: %g is out of range (0 to 20)",
                   vad_threshold);
      return FALSE;
    }
  if (extra != NULL && extra[0] != '\0')
    {
      g_autoptr (GError) parse_error = NULL;
      if (!g_shell_parse_argv (extra, NULL, &extra_argv, &parse_error))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [" SPHINX_GROUP "] extra_args: %s", parse_error->message);
          return FALSE;
        }
    }
  if (stream_extra != NULL && stream_extra[0] != '\0')
    {
      g_autoptr (GError) parse_error = NULL;
      if (!g_shell_parse_argv (stream_extra, NULL, &stream_extra_argv, &parse_error))
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "config [" SPHINX_GROUP "] stream_args: %s", parse_error->message);
          return FALSE;
        }
      /* the settings checked on the first decoder below must hold for stream decoders too */
      for (guint i = 0; stream_extra_argv[i] != NULL; i++)
        if (g_str_equal (stream_extra_argv[i], "-samprate") ||
            g_str_equal (stream_extra_argv[i], "-bestpath") ||
            g_str_equal (stream_extra_argv[i], "-remove_silence") ||
            g_str_equal (stream_extra_argv[i], "-fwdflat"))
          {
            g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                         "config [" SPHINX_GROUP "] stream_args: %s is fixed for live streams",
                         stream_extra_argv[i]);
            return FALSE;
          }
    }

  if (!check_acoustic_model (hmm, error) ||
      !check_model_path (lm, "language model", "lm", FALSE, error) ||
      !check_model_path (dict, "dictionary", "dict", FALSE, error))
    return FALSE;

  builder = g_strv_builder_new ();
  g_strv_builder_add_many (builder, "lightning-mediad", "-hmm", hmm, "-lm", lm, "-dict", dict,
                           "-samprate", "16000", "-bestpath", "yes", "-remove_silence", "no",
                           NULL);
  if (extra_argv != NULL)
    g_strv_builder_addv (builder, (const char **) extra_argv);
  self->argv = g_strv_builder_end (builder);
  self->pool_size = (guint) decoders;
  self->stream_pool_size = (guint) stream_decoders;
  self->stream_prewarm = (guint) stream_prewarm;
  self->stream_release_us = release_s * G_USEC_PER_SEC;
  {
    g_autoptr (GStrvBuilder) stream_builder = g_strv_builder_new ();
    g_strv_builder_addv (stream_builder, (const char **) self->argv);
    g_strv_builder_add_many (stream_builder, "-fwdflat", "no", NULL);
    if (stream_extra_argv != NULL)
      g_strv_builder_addv (stream_builder, (const char **) stream_extra_argv);
    self->stream_argv = g_strv_builder_end (stream_builder);
  }
  self->max_segment_samples = (gsize) (max_segment_seconds * SPHINX_SAMPLE_RATE);

  /* The first decoder proves the model loads, and tells the effective settings. */
  first = create_decoder (self, self->argv, error);
  if (first == NULL)
    {
      g_clear_pointer (&self->argv, g_strfreev);
      return FALSE;
    }
  decoder_config = ps_get_config (first);
  if ((int) cmd_ln_float32_r (decoder_config, "-samprate") != SPHINX_SAMPLE_RATE ||
      !cmd_ln_boolean_r (decoder_config, "-bestpath") ||
      cmd_ln_boolean_r (decoder_config, "-remove_silence"))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "config [" SPHINX_GROUP "] extra_args: -samprate must stay 16000, -bestpath "
                   "yes (word confidences are lattice posteriors) and -remove_silence no (the "
                   "decoder's VAD drops frames, which would shift word times)");
      ps_free (first);
      g_clear_pointer (&self->argv, g_strfreev);
      return FALSE;
    }
  self->frame_rate = (guint) MAX (1, cmd_ln_int32_r (decoder_config, "-frate"));
  {
    cmn_t *cmn = ps_get_feat (first)->cmn_struct;
    self->initial_cmn_len = cmn != NULL ? (guint) cmn->veclen : 0;
    self->initial_cmn = g_new0 (mfcc_t, MAX (self->initial_cmn_len, 1));
    if (cmn != NULL)
      cmn_live_get (cmn, self->initial_cmn);
  }
  vad_threshold_text = g_strdup_printf ("%g", vad_threshold);
  self->vad_argv = g_strdupv ((char *[]) {
      "lightning-mediad", "-samprate", "16000", "-remove_silence", "yes",
      "-vad_startspeech", G_STRINGIFY (SPHINX_VAD_START_FRAMES),
      "-vad_postspeech", G_STRINGIFY (SPHINX_VAD_END_FRAMES),
      "-vad_threshold", vad_threshold_text, NULL });
  self->n_created = 1;
  g_ptr_array_add (self->idle, first);
  self->ready = TRUE;
  if (self->stream_prewarm > 0 || self->stream_release_us > 0)
    self->refill_thread = g_thread_new ("lmd-sphinx-prewarm", refill_thread, self);
  g_debug ("sphinx: model %s ready (hmm %s, lm %s, dict %s, pool of %u decoders, "
           "segments up to %.0f s)",
           SPHINX_MODEL_NAME, hmm, lm, dict, self->pool_size, max_segment_seconds);
  return TRUE;
}

static guint
lmd_sphinx_engine_get_sample_rate (LmdEngine *engine)
{
  return SPHINX_SAMPLE_RATE;
}

static const char *
lmd_sphinx_engine_get_model_name (LmdEngine *engine)
{
  return SPHINX_MODEL_NAME;
}

static gboolean
lmd_sphinx_engine_supports_language (LmdEngine *engine, const char *language)
{
  return language == NULL || g_ascii_strcasecmp (language, "en") == 0 ||
         g_ascii_strcasecmp (language, "auto") == 0;
}

static LmdEngineSession *
lmd_sphinx_engine_open_session (LmdEngine *engine, const LmdSessionOptions *options,
                                GError **error)
{
  LmdSphinxEngine *self = LMD_SPHINX_ENGINE (engine);

  if (!self->ready)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_SERVICE_UNAVAILABLE,
                   "sphinx: the engine is not set up");
      return NULL;
    }
  if (!lmd_sphinx_engine_supports_language (engine, options->language))
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_INVALID_PARAMETER,
                   "language" LMD_ERROR_PARAM_SEPARATOR "model %s only transcribes English (en), "
                   "not '%s'", SPHINX_MODEL_NAME, options->language);
      return NULL;
    }
  return LMD_ENGINE_SESSION (lmd_sphinx_session_new (self, options, error));
}

static void
lmd_sphinx_engine_finalize (GObject *object)
{
  LmdSphinxEngine *self = LMD_SPHINX_ENGINE (object);

  if (self->refill_thread != NULL)
    {
      g_mutex_lock (&self->lock);
      self->stopping = TRUE;
      g_cond_signal (&self->refill_wanted);
      g_mutex_unlock (&self->lock);
      g_thread_join (g_steal_pointer (&self->refill_thread));
    }
  lmd_vad_config_clear (&self->vad);
  /* Sessions hold a reference to the engine, so every decoder is back in the pool. */
  g_warn_if_fail (self->idle->len == self->n_created);
  g_warn_if_fail (self->stream_idle->len == self->stream_created);
  for (guint i = 0; i < self->stream_idle->len; i++)
    ps_free (g_ptr_array_index (self->stream_idle, i));
  g_ptr_array_unref (self->stream_idle);
  g_array_unref (self->stream_idle_since);
  g_strfreev (self->stream_argv);
  for (guint i = 0; i < self->idle->len; i++)
    ps_free (g_ptr_array_index (self->idle, i));
  g_ptr_array_unref (self->idle);
  g_strfreev (self->argv);
  g_strfreev (self->vad_argv);
  g_free (self->initial_cmn);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->returned);
  g_cond_clear (&self->refill_wanted);

  G_OBJECT_CLASS (lmd_sphinx_engine_parent_class)->finalize (object);
}

static void
lmd_sphinx_engine_class_init (LmdSphinxEngineClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lmd_sphinx_engine_finalize;
}

static void
lmd_sphinx_engine_iface_init (LmdEngineInterface *iface)
{
  iface->setup = lmd_sphinx_engine_setup;
  iface->get_sample_rate = lmd_sphinx_engine_get_sample_rate;
  iface->get_model_name = lmd_sphinx_engine_get_model_name;
  iface->supports_language = lmd_sphinx_engine_supports_language;
  iface->open_session = lmd_sphinx_engine_open_session;
}

static void
lmd_sphinx_engine_init (LmdSphinxEngine *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->returned);
  g_cond_init (&self->refill_wanted);
  self->idle = g_ptr_array_new ();
  self->stream_idle = g_ptr_array_new ();
  self->stream_idle_since = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->frame_rate = 100;
}

const LmdVadConfig *
lmd_sphinx_engine_get_vad_config (LmdSphinxEngine *self)
{
  return &self->vad;
}
