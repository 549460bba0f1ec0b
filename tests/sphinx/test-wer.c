/* SPDX-License-Identifier: MIT */
/*
 * test-wer.c — the WER scorer of the test support library: normalisation, S/D/I counts
 * of known alignments, accumulation over a set, transcription files.
 */
#include <unistd.h>

#include <glib/gstdio.h>

#include "lmd-wer.h"

static void
assert_words (const char *text, const char *expected)
{
  g_auto (GStrv) words = lmd_wer_normalise (text);
  g_autofree char *joined = g_strjoinv ("|", words);

  g_assert_cmpstr (joined, ==, expected);
}

static void
test_normalise (void)
{
  assert_words ("<s> Hello, World! </s> (utt-01)", "hello|world");
  assert_words ("  Don't   STOP\tme now.  ", "don't|stop|me|now");
  assert_words ("'quoted' words", "quoted|words");
  assert_words ("cold-hearted", "cold|hearted");
  assert_words ("It’s ÉTÉ", "it's|été");
  assert_words ("a (not an id) b", "a|not|an|id|b");
  assert_words ("", "");
  assert_words ("<s> </s>", "");
  assert_words ("... ,,, !", "");
  assert_words (NULL, "");
}

static LmdWerCounts
score (const char *reference, const char *hypothesis)
{
  LmdWerCounts counts = { 0 };

  lmd_wer_accumulate (&counts, reference, hypothesis);
  g_assert_cmpuint (counts.errors, ==, counts.substitutions + counts.deletions + counts.insertions);
  return counts;
}

static void
assert_counts (const char *reference, const char *hypothesis, guint s, guint d, guint i, guint n)
{
  LmdWerCounts c = score (reference, hypothesis);

  g_assert_cmpuint (c.substitutions, ==, s);
  g_assert_cmpuint (c.deletions, ==, d);
  g_assert_cmpuint (c.insertions, ==, i);
  g_assert_cmpuint (c.reference_words, ==, n);
}

static void
test_counts (void)
{
  assert_counts ("the cat sat on the mat", "the cat sat on the mat", 0, 0, 0, 6);
  assert_counts ("the cat sat on the mat", "The cat, sat on the mat.", 0, 0, 0, 6);
  assert_counts ("the cat sat on the mat", "the dog sat on the mat", 1, 0, 0, 6);
  assert_counts ("the cat sat on the mat", "the cat on the mat", 0, 1, 0, 6);
  assert_counts ("the cat sat on the mat", "the cat sat down on the mat", 0, 0, 1, 6);
  assert_counts ("one two three four five six", "uno two four five extra six", 1, 1, 1, 6);
  assert_counts ("a b c", "", 0, 3, 0, 3);
  assert_counts ("", "x y", 0, 0, 2, 0);
  assert_counts ("one two three four", "two three four five", 0, 1, 1, 4);
  assert_counts ("<s> he was not an ill disposed young man </s> (s-0880)",
                 "he was not an ill disposed young man", 0, 0, 0, 8);
}

static void
test_rate (void)
{
  LmdWerCounts c = { 0 };

  g_assert_cmpfloat (lmd_wer_rate (&c), ==, 0.0);
  lmd_wer_accumulate (&c, "a b c d", "a x c d");         /* 1 of 4 */
  lmd_wer_accumulate (&c, "e f g h i j", "e f g h i j k"); /* 1 of 6 */
  g_assert_cmpuint (c.errors, ==, 2);
  g_assert_cmpuint (c.substitutions, ==, 1);
  g_assert_cmpuint (c.insertions, ==, 1);
  g_assert_cmpuint (c.reference_words, ==, 10);
  g_assert_cmpfloat_with_epsilon (lmd_wer_rate (&c), 0.2, 1e-12);
}

static void
test_transcription (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GHashTable) table = NULL;
  int fd = g_file_open_tmp ("lmd-wer-XXXXXX.txt", &path, &error);
  const char *contents = "<s> Hello there </s> (utt-1)\n"
                         "\n"
                         "<s> GOOD-BYE, then </s> (utt-2)\n"
                         "no id here\n";

  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  table = lmd_wer_load_transcription (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (table), ==, 3);
  g_assert_cmpstr (g_hash_table_lookup (table, "utt-1"), ==, "hello there");
  g_assert_cmpstr (g_hash_table_lookup (table, "utt-2"), ==, "good bye then");
  g_assert_cmpstr (g_hash_table_lookup (table, "4"), ==, "no id here");
  g_unlink (path);

  g_assert_null (lmd_wer_load_transcription ("/nonexistent/transcription", &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sphinx/wer/normalise", test_normalise);
  g_test_add_func ("/sphinx/wer/counts", test_counts);
  g_test_add_func ("/sphinx/wer/rate", test_rate);
  g_test_add_func ("/sphinx/wer/transcription", test_transcription);
  return g_test_run ();
}
