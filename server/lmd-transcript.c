/* SPDX-License-Identifier: MIT */
#include "lmd-transcript.h"

G_DEFINE_BOXED_TYPE (LmdTranscript, lmd_transcript, lmd_transcript_copy, lmd_transcript_free)

static void
word_clear (gpointer data)
{
  LmdWord *w = data;
  g_clear_pointer (&w->word, g_free);
}

LmdTranscript *
lmd_transcript_new (const char *language)
{
  LmdTranscript *self = g_new0 (LmdTranscript, 1);

  self->text = g_strdup ("");
  self->confidence = 1.0;
  self->language = g_strdup (language != NULL ? language : "en");
  self->words = g_array_new (FALSE, TRUE, sizeof (LmdWord));
  g_array_set_clear_func (self->words, word_clear);
  return self;
}

LmdTranscript *
lmd_transcript_copy (const LmdTranscript *self)
{
  LmdTranscript *copy;

  g_return_val_if_fail (self != NULL, NULL);
  copy = lmd_transcript_new (self->language);
  g_free (copy->text);
  copy->text = g_strdup (self->text);
  copy->confidence = self->confidence;
  copy->duration = self->duration;
  copy->audio_sha256 = g_strdup (self->audio_sha256);
  if (self->channels != NULL)
    {
      copy->channels = g_ptr_array_new_with_free_func ((GDestroyNotify) lmd_transcript_free);
      for (guint i = 0; i < self->channels->len; i++)
        g_ptr_array_add (copy->channels, lmd_transcript_copy (g_ptr_array_index (self->channels, i)));
    }
  for (guint i = 0; i < self->words->len; i++)
    {
      const LmdWord *w = &g_array_index (self->words, LmdWord, i);
      lmd_transcript_add_word (copy, w->word, w->start, w->end, w->confidence);
    }
  if (self->segments != NULL)
    {
      copy->segments = lmd_segment_array_new ();
      g_array_set_size (copy->segments, self->segments->len);
      for (guint i = 0; i < self->segments->len; i++)
        lmd_segment_copy (&g_array_index (copy->segments, LmdSegment, i),
                          &g_array_index (self->segments, LmdSegment, i));
    }
  return copy;
}

void
lmd_transcript_free (LmdTranscript *self)
{
  if (self == NULL)
    return;
  g_free (self->text);
  g_free (self->language);
  g_free (self->audio_sha256);
  g_clear_pointer (&self->channels, g_ptr_array_unref);
  g_array_unref (self->words);
  g_clear_pointer (&self->segments, g_array_unref);
  g_free (self);
}

LmdWord *
lmd_transcript_add_word (LmdTranscript *self, const char *word, double start, double end,
                         double confidence)
{
  LmdWord w = { g_strdup (word), start, MAX (start, end), CLAMP (confidence, 0.0, 1.0) };

  g_array_append_val (self->words, w);
  return &g_array_index (self->words, LmdWord, self->words->len - 1);
}

void
lmd_transcript_update_text_from_words (LmdTranscript *self)
{
  GString *text = g_string_new (NULL);
  double sum = 0.0;

  for (guint i = 0; i < self->words->len; i++)
    {
      const LmdWord *w = &g_array_index (self->words, LmdWord, i);
      if (text->len > 0)
        g_string_append_c (text, ' ');
      g_string_append (text, w->word);
      sum += w->confidence;
    }
  g_free (self->text);
  self->text = g_string_free (text, FALSE);
  self->confidence = self->words->len > 0 ? sum / self->words->len : 1.0;
}

void
lmd_transcript_append (LmdTranscript *self, const LmdTranscript *other, double offset)
{
  for (guint i = 0; i < other->words->len; i++)
    {
      const LmdWord *w = &g_array_index (other->words, LmdWord, i);
      lmd_transcript_add_word (self, w->word, w->start + offset, w->end + offset, w->confidence);
    }
  lmd_transcript_update_text_from_words (self);
}

void
lmd_transcript_write_words (const LmdTranscript *self, LmdJsonWriter *w, guint decimals)
{
  lmd_json_writer_key (w, "words");
  lmd_json_writer_begin_array (w);
  for (guint i = 0; i < self->words->len; i++)
    {
      const LmdWord *word = &g_array_index (self->words, LmdWord, i);
      lmd_json_writer_begin_object (w);
      lmd_json_writer_key (w, "word");
      lmd_json_writer_string (w, word->word);
      lmd_json_writer_key (w, "start");
      lmd_json_writer_double (w, word->start, decimals);
      lmd_json_writer_key (w, "end");
      lmd_json_writer_double (w, word->end, decimals);
      lmd_json_writer_key (w, "confidence");
      lmd_json_writer_double (w, word->confidence, decimals);
      lmd_json_writer_end_object (w);
    }
  lmd_json_writer_end_array (w);
}

char *
lmd_transcript_to_listen_json (const LmdTranscript *self, const LmdTranscribeOptions *options,
                               const char *request_id)
{
  LmdJsonWriter *w = lmd_json_writer_new ();

  lmd_json_writer_begin_object (w);
  lmd_json_writer_key (w, "request_id");
  lmd_json_writer_string (w, request_id);
  lmd_json_writer_key (w, "text");
  lmd_json_writer_string (w, self->text);
  lmd_json_writer_key (w, "confidence");
  lmd_json_writer_double (w, self->confidence, 3);
  lmd_json_writer_key (w, "duration");
  lmd_json_writer_double (w, self->duration, 3);
  lmd_json_writer_key (w, "language");
  lmd_json_writer_string (w, self->language);
  if (options->word_timestamps)
    lmd_transcript_write_words (self, w, 3);
  if (options->diarize)
    {
      lmd_json_writer_key (w, "speakers");
      lmd_json_writer_begin_array (w);
      lmd_json_writer_end_array (w);
    }
  lmd_json_writer_end_object (w);
  return lmd_json_writer_finish (w);
}
