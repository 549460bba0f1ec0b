/* SPDX-License-Identifier: MIT */
/*
 * lmd-wer.c — word error rate: text normalisation, word-level Levenshtein alignment with
 * substitution/deletion/insertion counts, and Sphinx transcription files.
 *
 * Normalisation: sentence markers (<s>, </s>, <sil>) and a trailing "(utterance-id)" are
 * dropped, the text is lower-cased, and every character that is neither a letter nor a digit
 * separates words, except an apostrophe (' or ’) between two letters/digits ("don't").  So
 * "Cold-hearted, isn't it?" scores as "cold hearted isn't it".
 */
#include "lmd-wer.h"

#include <string.h>

static gboolean
is_marker (const char *token)
{
  return g_str_equal (token, "<s>") || g_str_equal (token, "</s>") ||
         g_str_equal (token, "<sil>");
}

/* Length of @text without a trailing "(utterance-id)" token and surrounding blanks. */
static gsize
length_without_utterance_id (const char *text, char **out_id)
{
  gsize len = strlen (text);
  gsize open;

  while (len > 0 && g_ascii_isspace (text[len - 1]))
    len--;
  if (out_id != NULL)
    *out_id = NULL;
  if (len < 2 || text[len - 1] != ')')
    return len;
  open = len - 1;
  while (open > 0 && text[open - 1] != '(' && !g_ascii_isspace (text[open - 1]))
    open--;
  if (open == 0 || text[open - 1] != '(' || (open >= 2 && !g_ascii_isspace (text[open - 2])))
    return len;
  if (out_id != NULL)
    *out_id = g_strndup (text + open, len - 1 - open);
  return open - 1;
}

static gboolean
is_apostrophe (gunichar c)
{
  return c == '\'' || c == 0x2019;
}

GStrv
lmd_wer_normalise (const char *text)
{
  g_autoptr (GStrvBuilder) words = g_strv_builder_new ();
  g_autofree char *valid = NULL;
  g_autofree char *body = NULL;
  g_autofree char *lower = NULL;
  g_auto (GStrv) tokens = NULL;

  if (text == NULL)
    return g_strv_builder_end (words);
  valid = g_utf8_make_valid (text, -1);
  body = g_strndup (valid, length_without_utterance_id (valid, NULL));
  lower = g_utf8_strdown (body, -1);
  tokens = g_strsplit_set (lower, " \t\r\n\f\v", -1);

  for (guint i = 0; tokens[i] != NULL; i++)
    {
      GString *word = g_string_new (NULL);
      gunichar previous = 0;

      if (is_marker (tokens[i]))
        {
          g_string_free (word, TRUE);
          continue;
        }
      for (const char *p = tokens[i]; *p != '\0'; p = g_utf8_next_char (p))
        {
          gunichar c = g_utf8_get_char (p);
          gunichar next = g_utf8_get_char (g_utf8_next_char (p));

          if (g_unichar_isalnum (c) || g_unichar_ismark (c))
            g_string_append_unichar (word, c);
          else if (is_apostrophe (c) && g_unichar_isalnum (previous) && g_unichar_isalnum (next))
            g_string_append_c (word, '\'');
          else if (word->len > 0)
            {
              g_strv_builder_add (words, word->str);
              g_string_truncate (word, 0);
            }
          previous = c;
        }
      if (word->len > 0)
        g_strv_builder_add (words, word->str);
      g_string_free (word, TRUE);
    }
  return g_strv_builder_end (words);
}

void
lmd_wer_accumulate (LmdWerCounts *counts, const char *reference, const char *hypothesis)
{
  g_auto (GStrv) ref = NULL;
  g_auto (GStrv) hyp = NULL;
  g_autofree guint *cost = NULL;
  gsize n, m, cols, i, j;

  g_return_if_fail (counts != NULL);

  ref = lmd_wer_normalise (reference);
  hyp = lmd_wer_normalise (hypothesis);
  n = g_strv_length (ref);
  m = g_strv_length (hyp);
  cols = m + 1;
  cost = g_new (guint, (n + 1) * (m + 1));

  /* cost[i][j]: edits turning the first i reference words into the first j hypothesis words */
  for (i = 0; i <= n; i++)
    cost[i * cols] = i;
  for (j = 0; j <= m; j++)
    cost[j] = j;
  for (i = 1; i <= n; i++)
    for (j = 1; j <= m; j++)
      {
        guint diagonal = cost[(i - 1) * cols + j - 1] + (g_str_equal (ref[i - 1], hyp[j - 1]) ? 0 : 1);
        guint deletion = cost[(i - 1) * cols + j] + 1;
        guint insertion = cost[i * cols + j - 1] + 1;
        cost[i * cols + j] = MIN (diagonal, MIN (deletion, insertion));
      }

  /* Walk back along one optimal path, preferring matches and substitutions. */
  i = n;
  j = m;
  while (i > 0 || j > 0)
    {
      guint here = cost[i * cols + j];

      if (i > 0 && j > 0 &&
          here == cost[(i - 1) * cols + j - 1] + (g_str_equal (ref[i - 1], hyp[j - 1]) ? 0 : 1))
        {
          if (!g_str_equal (ref[i - 1], hyp[j - 1]))
            counts->substitutions++;
          i--;
          j--;
        }
      else if (i > 0 && here == cost[(i - 1) * cols + j] + 1)
        {
          counts->deletions++;
          i--;
        }
      else
        {
          counts->insertions++;
          j--;
        }
    }
  counts->reference_words += n;
  counts->errors = counts->substitutions + counts->deletions + counts->insertions;
}

double
lmd_wer_rate (const LmdWerCounts *counts)
{
  g_return_val_if_fail (counts != NULL, 0.0);
  return counts->reference_words > 0 ? (double) counts->errors / counts->reference_words : 0.0;
}

GHashTable *
lmd_wer_load_transcription (const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GHashTable) table = NULL;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return NULL;
  table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *id = NULL;
      g_autofree char *body = NULL;
      g_auto (GStrv) words = NULL;
      gsize len;

      if (g_strstrip (lines[i])[0] == '\0')
        continue;
      len = length_without_utterance_id (lines[i], &id);
      if (id == NULL)
        id = g_strdup_printf ("%u", i + 1);
      body = g_strndup (lines[i], len);
      words = lmd_wer_normalise (body);
      g_hash_table_replace (table, g_steal_pointer (&id), g_strjoinv (" ", words));
    }
  return g_steal_pointer (&table);
}
