/* SPDX-License-Identifier: MIT */
/*
 * lmw-agreement.c — local agreement between consecutive hypotheses (see lmw-agreement.h).
 *
 * State: the committed words and the previous hypothesis, both owned copies.  A push compares
 * the new hypothesis with the previous one: when both begin with the committed words, the
 * words after them on which the two agree (their common prefix) are appended to the committed
 * ones.  Then the new hypothesis becomes the previous one.
 */
#include "lmw-agreement.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char **words; /* owned, each owned */
  size_t n, cap;
} word_list;

struct lmw_agreement {
  word_list committed;
  word_list previous;
  bool have_previous;
  size_t n_hypotheses;
};

static void
word_list_clear (word_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->words[i]);
  l->n = 0;
}

static void
word_list_free (word_list *l)
{
  word_list_clear (l);
  free (l->words);
  l->words = NULL;
  l->cap = 0;
}

static bool
word_list_reserve (word_list *l, size_t n)
{
  char **w;
  size_t cap;

  if (n <= l->cap)
    return true;
  cap = l->cap < 16 ? 16 : l->cap;
  while (cap < n)
    cap *= 2;
  w = realloc (l->words, cap * sizeof *w);
  if (w == NULL)
    return false;
  l->words = w;
  l->cap = cap;
  return true;
}

/* Appends a copy of word (len bytes); false when out of memory (l unchanged). */
static bool
word_list_append (word_list *l, const char *word, size_t len)
{
  char *copy;

  if (!word_list_reserve (l, l->n + 1))
    return false;
  copy = malloc (len + 1);
  if (copy == NULL)
    return false;
  memcpy (copy, word, len);
  copy[len] = '\0';
  l->words[l->n++] = copy;
  return true;
}

/* Whether l begins with the n words of prefix. */
static bool
starts_with (const word_list *l, const word_list *prefix)
{
  if (l->n < prefix->n)
    return false;
  for (size_t i = 0; i < prefix->n; i++)
    if (strcmp (l->words[i], prefix->words[i]) != 0)
      return false;
  return true;
}

lmw_agreement *
lmw_agreement_new (void)
{
  return calloc (1, sizeof (lmw_agreement));
}

void
lmw_agreement_free (lmw_agreement *a)
{
  if (a == NULL)
    return;
  word_list_free (&a->committed);
  word_list_free (&a->previous);
  free (a);
}

void
lmw_agreement_reset (lmw_agreement *a)
{
  word_list_clear (&a->committed);
  word_list_clear (&a->previous);
  a->have_previous = false;
  a->n_hypotheses = 0;
}

/* Takes ownership of h's words (h is left empty). */
static int
push_list (lmw_agreement *a, word_list *h)
{
  size_t before = a->committed.n;

  if (a->have_previous && starts_with (&a->previous, &a->committed) &&
      starts_with (h, &a->committed))
    {
      size_t agreed = before;

      while (agreed < a->previous.n && agreed < h->n &&
             strcmp (a->previous.words[agreed], h->words[agreed]) == 0)
        agreed++;
      for (size_t i = before; i < agreed; i++)
        if (!word_list_append (&a->committed, h->words[i], strlen (h->words[i])))
          {
            while (a->committed.n > before)
              free (a->committed.words[--a->committed.n]);
            return -1;
          }
    }
  word_list_free (&a->previous);
  a->previous = *h;
  memset (h, 0, sizeof *h);
  a->have_previous = true;
  a->n_hypotheses++;
  return (int) (a->committed.n - before);
}

int
lmw_agreement_push (lmw_agreement *a, const char *const *words, size_t n_words)
{
  word_list h = { 0 };
  int r;

  for (size_t i = 0; i < n_words; i++)
    if (!word_list_append (&h, words[i], strlen (words[i])))
      {
        word_list_free (&h);
        return -1;
      }
  r = push_list (a, &h);
  word_list_free (&h);
  return r;
}

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int
lmw_agreement_push_text (lmw_agreement *a, const char *text)
{
  word_list h = { 0 };
  const char *p = text != NULL ? text : "";
  int r;

  while (*p != '\0')
    {
      const char *start;

      while (is_space (*p))
        p++;
      if (*p == '\0')
        break;
      start = p;
      while (*p != '\0' && !is_space (*p))
        p++;
      if (!word_list_append (&h, start, (size_t) (p - start)))
        {
          word_list_free (&h);
          return -1;
        }
    }
  r = push_list (a, &h);
  word_list_free (&h);
  return r;
}

const char *const *
lmw_agreement_committed (const lmw_agreement *a, size_t *n_words)
{
  if (n_words != NULL)
    *n_words = a->committed.n;
  return (const char *const *) a->committed.words;
}

char *
lmw_agreement_text (const lmw_agreement *a)
{
  size_t len = 0, at = 0;
  char *out;

  for (size_t i = 0; i < a->committed.n; i++)
    len += strlen (a->committed.words[i]) + 1;
  out = malloc (len + 1);
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < a->committed.n; i++)
    {
      size_t n = strlen (a->committed.words[i]);

      if (i > 0)
        out[at++] = ' ';
      memcpy (out + at, a->committed.words[i], n);
      at += n;
    }
  out[at] = '\0';
  return out;
}

size_t
lmw_agreement_hypotheses (const lmw_agreement *a)
{
  return a->n_hypotheses;
}
