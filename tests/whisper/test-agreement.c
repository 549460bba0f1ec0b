/* SPDX-License-Identifier: MIT */
/*
 * test-agreement.c — the local-agreement policy of live transcription (lmw-agreement.h) with
 * scripted hypotheses: a word is committed once two consecutive hypotheses agree on it and
 * on everything before it, committed words are never taken back (a hypothesis that
 * contradicts them commits nothing), and every word is committed once.  Also the endpointing
 * tracker (lmw-vad-tracker.h) on scripted probabilities: onset after min_speech, hysteresis,
 * end after min_silence where the silence began, and where the probability began to fall
 * into it (speech_fall, at most min_silence earlier).
 */
#include "lmw-agreement.h"
#include "lmw-test.h"
#include "lmw-vad-tracker.h"

/* pushes text, returns the words committed; checks the committed text afterwards */
static int
push (lmw_agreement *a, const char *hypothesis, const char *expect_committed)
{
  int n = lmw_agreement_push_text (a, hypothesis);
  char *text = lmw_agreement_text (a);

  TEST_OK (text != NULL && strcmp (text, expect_committed) == 0,
           "after \"%s\": committed \"%s\" (want \"%s\")", hypothesis, text ? text : "(null)",
           expect_committed);
  free (text);
  return n;
}

static void
test_scripted (void)
{
  lmw_agreement *a = lmw_agreement_new ();
  int n;

  TEST_OK (a != NULL, "created");
  /* one hypothesis alone commits nothing */
  n = push (a, "the cat", "");
  TEST_OK (n == 0, "first hypothesis commits 0 words (%d)", n);
  /* two agree on "the cat" */
  n = push (a, "the cat sat on", "the cat");
  TEST_OK (n == 2, "agreement commits 2 words (%d)", n);
  /* "sat" agreed next; "on" vs "in" not */
  n = push (a, "the cat sat in the", "the cat sat");
  TEST_OK (n == 1, "one more word (%d)", n);
  /* a hypothesis contradicting the committed words commits nothing and retracts nothing */
  n = push (a, "a cat sat in the hat", "the cat sat");
  TEST_OK (n == 0, "a contradicting hypothesis commits 0 (%d)", n);
  /* nor does the next, compared with the contradicting one */
  n = push (a, "the cat sat in the hat", "the cat sat");
  TEST_OK (n == 0, "after a contradiction, nothing until two agree again (%d)", n);
  /* punctuation is part of a word: "hat" and "hat." differ */
  n = push (a, "the cat sat in the hat.", "the cat sat in the");
  TEST_OK (n == 2, "two more (%d)", n);
  /* a shorter hypothesis (the model dropped words) keeps what was committed */
  n = push (a, "the cat", "the cat sat in the");
  TEST_OK (n == 0, "a shorter hypothesis commits 0 (%d)", n);
  n = push (a, "the cat sat in the hat.", "the cat sat in the");
  TEST_OK (n == 0, "compared with the shorter one: nothing new (%d)", n);
  n = push (a, "the cat sat in the hat. ", "the cat sat in the hat.");
  TEST_OK (n == 1, "whitespace does not matter (%d)", n);
  TEST_OK (lmw_agreement_hypotheses (a) == 9, "9 hypotheses counted (%zu)",
           lmw_agreement_hypotheses (a));

  /* the committed words as a list */
  {
    size_t nw = 0;
    const char *const *w = lmw_agreement_committed (a, &nw);

    TEST_OK (nw == 6 && strcmp (w[0], "the") == 0 && strcmp (w[5], "hat.") == 0,
             "committed list: %zu words", nw);
  }

  /* reset: a new utterance starts from nothing */
  lmw_agreement_reset (a);
  n = push (a, "hello", "");
  n = push (a, "hello world", "hello");
  TEST_OK (n == 1 && lmw_agreement_hypotheses (a) == 2, "after reset: a fresh start");
  n = push (a, "", "hello");
  TEST_OK (n == 0, "an empty hypothesis commits nothing (%d)", n);
  lmw_agreement_free (a);
}

/* Every word committed once over a long random script: the committed list only grows, each
 * push's count is the growth, and the committed words are a prefix of the last agreement. */
static void
test_monotonic (void)
{
  static const char *const vocab[] = { "a", "b", "c", "d" };
  const char *hyp[40];
  char *before = NULL;
  uint32_t r = 7;
  size_t total = 0;
  bool grows = true, counts = true;
  lmw_agreement *a = lmw_agreement_new ();

  for (int round = 0; round < 500; round++)
    {
      size_t n_before = 0, n_after = 0;
      int len, added;

      lmw_agreement_committed (a, &n_before);
      r = r * 1664525u + 1013904223u;
      len = (int) ((r >> 16) % 40);
      for (int i = 0; i < len; i++)
        {
          r = r * 1664525u + 1013904223u;
          /* mostly "a": hypotheses often agree */
          hyp[i] = (r >> 16) % 8 == 0 ? vocab[(r >> 20) % 4] : "a";
        }
      free (before);
      before = lmw_agreement_text (a);
      added = lmw_agreement_push (a, hyp, (size_t) len);
      lmw_agreement_committed (a, &n_after);
      if (added < 0 || n_after != n_before + (size_t) added)
        counts = false;
      {
        char *after = lmw_agreement_text (a);

        if (strncmp (after, before, strlen (before)) != 0)
          grows = false;
        free (after);
      }
      total += (size_t) (added > 0 ? added : 0);
    }
  TEST_OK (grows, "500 random hypotheses: the committed text only ever grows");
  TEST_OK (counts, "each push returns exactly the words it committed (total %zu)", total);
  TEST_OK (total > 0, "some words were committed");
  free (before);
  lmw_agreement_free (a);
}

static void
test_tracker (void)
{
  lmw_vad_params p = lmw_vad_default_params (); /* 0.5 / 0.35, 250 ms, 100 ms */
  lmw_vad_tracker t;
  lmw_vad_event ev;
  int started = -1, ended = -1;
  /* 10 silent windows, a blip of 3 (96 ms < 250 ms), 5 silent, 20 speech windows with a
   * between-thresholds dip and a 2-window (64 ms < 100 ms) silent gap, then silence */
  float probs[80];
  int n = 0;

  for (int i = 0; i < 10; i++)
    probs[n++] = 0.05f;
  for (int i = 0; i < 3; i++)
    probs[n++] = 0.9f;
  for (int i = 0; i < 5; i++)
    probs[n++] = 0.05f;
  for (int i = 0; i < 20; i++)
    probs[n++] = (i == 8) ? 0.4f : (i == 12 || i == 13) ? 0.1f : 0.9f;
  for (int i = 0; i < 20; i++)
    probs[n++] = 0.05f;

  lmw_vad_tracker_init (&t, &p, 512);
  TEST_OK (t.neg_threshold > 0.349f && t.neg_threshold < 0.351f, "neg threshold 0.35 (%g)",
           t.neg_threshold);
  for (int i = 0; i < n; i++)
    {
      ev = lmw_vad_tracker_push (&t, probs[i]);
      if (ev == LMW_VAD_SPEECH_STARTED)
        {
          TEST_OK (started < 0, "speech starts once (window %d)", i);
          started = i;
        }
      else if (ev == LMW_VAD_SPEECH_ENDED)
        {
          TEST_OK (ended < 0, "speech ends once (window %d)", i);
          ended = i;
        }
    }
  /* 250 ms = 8 windows (7.8): confirmed at the 8th window of the run starting at 18 */
  TEST_OK (started == 25, "the blip is not speech; speech confirmed at window 25 (%d)", started);
  TEST_OK (t.speech_start == 18 * 512, "speech began at window 18 (%lld)",
           (long long) t.speech_start);
  /* 100 ms = 3.1 windows: ended at the 4th silent window after 38, where silence began */
  TEST_OK (ended == 41, "speech ended after 100 ms of silence (window %d)", ended);
  TEST_OK (t.speech_end == 38 * 512, "speech ended where the silence began (%lld)",
           (long long) t.speech_end);
  TEST_OK (!t.speech && t.position == (int64_t) n * 512, "silence at the end, %lld samples",
           (long long) t.position);
  /* the probability dropped at once: the fall began where the silence did */
  TEST_OK (t.speech_fall == t.speech_end, "no fall before the silence (%lld)",
           (long long) t.speech_fall);
}

/* Where the probability began to fall into the silence: speech_fall, at most min_silence
 * before speech_end. */
static void
test_tracker_fall (void)
{
  lmw_vad_params p = lmw_vad_default_params (); /* min_silence 100 ms = 1600 samples */
  static const float short_fall[] = { 0.9f, 0.95f, 0.8f, 0.6f, 0.2f, 0.05f, 0.05f, 0.05f, 0.05f };
  static const float long_fall[] = { 0.99f, 0.98f, 0.97f, 0.96f, 0.9f, 0.7f, 0.3f,
                                     0.05f, 0.05f, 0.05f, 0.05f };
  static const float rise[] = { 0.9f, 0.8f, 0.9f, 0.2f, 0.05f, 0.05f, 0.05f, 0.05f };
  struct { const float *probs; int n; int64_t end, fall; const char *what; } cases[] = {
    /* after 10 speech windows (5120 samples): the fall begins at 0.8 (window 12), the
     * silence at 0.2 (window 14), 1024 samples later */
    { short_fall, (int) (sizeof short_fall / sizeof *short_fall), 14 * 512, 12 * 512,
      "a fall of two windows" },
    /* falling from window 11 on, silence at window 16: bounded to 1600 samples before it */
    { long_fall, (int) (sizeof long_fall / sizeof *long_fall), 16 * 512, 16 * 512 - 1600,
      "a long fall is bounded by min_silence" },
    /* 0.8 then 0.9 again: the fall into the silence begins at 0.2 */
    { rise, (int) (sizeof rise / sizeof *rise), 13 * 512, 13 * 512, "a rise resets the fall" },
  };

  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
    {
      lmw_vad_tracker t;
      int ended = 0;

      lmw_vad_tracker_init (&t, &p, 512);
      for (int i = 0; i < 10; i++)
        lmw_vad_tracker_push (&t, 0.9f);
      TEST_OK (t.speech && t.speech_start == 0, "%s: speech from the start", cases[c].what);
      for (int i = 0; i < cases[c].n; i++)
        if (lmw_vad_tracker_push (&t, cases[c].probs[i]) == LMW_VAD_SPEECH_ENDED)
          ended++;
      TEST_OK (ended == 1 && t.speech_end == cases[c].end, "%s: speech ended at %lld (%lld)",
               cases[c].what, (long long) cases[c].end, (long long) t.speech_end);
      TEST_OK (t.speech_fall == cases[c].fall, "%s: the fall began at %lld (%lld)",
               cases[c].what, (long long) cases[c].fall, (long long) t.speech_fall);
    }
}

int
main (void)
{
  test_scripted ();
  test_monotonic ();
  test_tracker ();
  test_tracker_fall ();
  return test_done ();
}
