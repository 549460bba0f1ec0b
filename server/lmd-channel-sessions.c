/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lmd-router"

#include "lmd-channel-sessions.h"

#include "lmd-audio-decoder.h"
#include "lmd-error.h"

struct _LmdChannelSessions {
  LmdEngine *engine;                 /* borrowed */
  const LmdSessionOptions *options;  /* borrowed */
  guint64 max_samples;
  double max_seconds;
  GPtrArray *sessions;               /* owned: LmdEngineSession (owned refs), one per channel */
  float *plane;                      /* owned: one channel's samples of the current chunk */
  gsize plane_size;
  guint64 frames;
};

LmdChannelSessions *
lmd_channel_sessions_new (LmdEngine *engine, const LmdSessionOptions *options, guint64 max_samples,
                          double max_seconds)
{
  LmdChannelSessions *self = g_new0 (LmdChannelSessions, 1);

  self->engine = engine;
  self->options = options;
  self->max_samples = max_samples;
  self->max_seconds = max_seconds;
  self->sessions = g_ptr_array_new_with_free_func (g_object_unref);
  return self;
}

void
lmd_channel_sessions_free (LmdChannelSessions *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->sessions);
  g_free (self->plane);
  g_free (self);
}

gboolean
lmd_channel_sessions_feed (const float *interleaved, guint n_channels, gsize n_frames,
                           gpointer user_data, GError **error)
{
  LmdChannelSessions *self = user_data;

  g_return_val_if_fail (n_channels >= 1 && n_channels <= LMD_AUDIO_DECODER_MAX_CHANNELS, FALSE);

  if (self->sessions->len == 0)
    for (guint c = 0; c < n_channels; c++)
      {
        LmdEngineSession *session = lmd_engine_open_session (self->engine, self->options, error);
        if (session == NULL)
          return FALSE;
        g_ptr_array_add (self->sessions, session);
      }
  if (n_channels != self->sessions->len)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO,
                   "the input changes from %u to %u channels", self->sessions->len, n_channels);
      return FALSE;
    }
  self->frames += n_frames;
  if (self->frames > self->max_samples)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_FILE_TOO_LARGE,
                   "the audio is longer than the limit of %.0f s", self->max_seconds);
      return FALSE;
    }
  if (self->plane_size < n_frames)
    {
      g_free (self->plane);
      self->plane = g_new (float, n_frames);
      self->plane_size = n_frames;
    }
  for (guint c = 0; c < n_channels; c++)
    {
      for (gsize i = 0; i < n_frames; i++)
        self->plane[i] = interleaved[i * n_channels + c];
      if (!lmd_engine_session_feed (g_ptr_array_index (self->sessions, c), self->plane, n_frames, error))
        return FALSE;
    }
  return TRUE;
}

guint64
lmd_channel_sessions_get_frames (LmdChannelSessions *self)
{
  return self->frames;
}

LmdTranscript *
lmd_channel_sessions_finish (LmdChannelSessions *self, guint sample_rate, GError **error)
{
  g_autoptr (GPtrArray) channels = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_transcript_free);
  LmdTranscript *first;

  if (self->sessions->len == 0)
    {
      g_set_error (error, LMD_ERROR, LMD_ERROR_UNPROCESSABLE_AUDIO, "the input contains no audio samples");
      return NULL;
    }
  for (guint c = 0; c < self->sessions->len; c++)
    {
      LmdTranscript *t = lmd_engine_session_finish (g_ptr_array_index (self->sessions, c), error);
      if (t == NULL)
        return NULL;
      t->duration = (double) self->frames / sample_rate;
      g_ptr_array_add (channels, t);
    }
  first = lmd_transcript_copy (g_ptr_array_index (channels, 0));
  first->channels = g_steal_pointer (&channels);
  return first;
}
