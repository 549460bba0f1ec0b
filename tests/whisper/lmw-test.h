/* SPDX-License-Identifier: MIT */
/*
 * lmw-test.h — a tiny TAP harness for the whisper engine's tests (plain C, no GLib), and
 * helpers to read the reference fixtures: raw f32 files, integer arrays out of reference.json,
 * and error statistics.
 *
 * Fixtures come from $LMD_FIXTURES_DIR/whisper/<name>/ (default: the repository's
 * tests/fixtures); when the folder is missing a test reports a TAP skip ("1..0 # SKIP why") and
 * exits 0, which meson counts as skipped.
 */
#ifndef LMW_TEST_H
#define LMW_TEST_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lmw_test_n;
static int lmw_test_failed;

#define TEST_OK(cond, ...)                                                                    \
  do {                                                                                        \
    lmw_test_n++;                                                                             \
    bool ok_ = (cond);                                                                        \
    if (!ok_)                                                                                 \
      lmw_test_failed++;                                                                      \
    printf ("%s %d - ", ok_ ? "ok" : "not ok", lmw_test_n);                                   \
    printf (__VA_ARGS__);                                                                     \
    printf ("\n");                                                                            \
    if (!ok_)                                                                                 \
      printf ("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
    fflush (stdout);                                                                          \
  } while (0)

#define TEST_DIAG(...)                                                                        \
  do {                                                                                        \
    printf ("# ");                                                                            \
    printf (__VA_ARGS__);                                                                     \
    printf ("\n");                                                                            \
  } while (0)

static inline int
test_done (void)
{
  printf ("1..%d\n", lmw_test_n);
  return lmw_test_failed ? 1 : 0;
}

#ifndef LMD_TEST_FIXTURES_DIR
#define LMD_TEST_FIXTURES_DIR "tests/fixtures"
#endif

/* Reports the whole program as skipped, with its reason, and exits. */
static inline void
test_skip_all (const char *why)
{
  printf ("1..0 # SKIP %s\n", why);
  fflush (stdout);
  exit (0);
}

/* $LMD_FIXTURES_DIR/whisper/<name>, or skips the whole program with a message */
static inline const char *
fixture_dir (const char *name)
{
  static char path[4096];
  const char *root = getenv ("LMD_FIXTURES_DIR");
  if (root == NULL)
    root = LMD_TEST_FIXTURES_DIR;
  snprintf (path, sizeof path, "%s/whisper/%s", root, name);
  FILE *f;
  char probe[4200];
  snprintf (probe, sizeof probe, "%s/model.ggml.bin", path);
  if ((f = fopen (probe, "rb")) == NULL) {
    char why[4300];
    snprintf (why, sizeof why, "fixture folder %s missing (set LMD_FIXTURES_DIR)", path);
    test_skip_all (why);
  }
  fclose (f);
  return path;
}

/* whole file; NULL if missing */
static inline void *
read_file (const char *dir, const char *name, size_t *len)
{
  char path[4200];
  if (dir)
    snprintf (path, sizeof path, "%s/%s", dir, name);
  else
    snprintf (path, sizeof path, "%s", name);
  FILE *f = fopen (path, "rb");
  if (f == NULL)
    return NULL;
  fseek (f, 0, SEEK_END);
  long n = ftell (f);
  fseek (f, 0, SEEK_SET);
  void *buf = malloc (n > 0 ? (size_t) n : 1);
  if (buf && fread (buf, 1, (size_t) n, f) != (size_t) n) {
    free (buf);
    buf = NULL;
  }
  fclose (f);
  if (buf && len)
    *len = (size_t) n;
  return buf;
}

/* the text inside the array after "key": [ searched from the first occurrence of `after`
 * (NULL: start of text), just after its '['; NULL when there is none */
static inline const char *
json_array_items (const char *json, const char *after, const char *key)
{
  const char *p = json;
  if (after && (p = strstr (json, after)) == NULL)
    return NULL;
  char k[128];
  snprintf (k, sizeof k, "\"%s\"", key);
  if ((p = strstr (p, k)) == NULL || (p = strchr (p, '[')) == NULL)
    return NULL;
  return p + 1;
}

/* the integer array after "key": [ ... ] searched from the first occurrence of `after`
 * (NULL: start of text); returns the count, at most max */
static inline int
json_int_array (const char *json, const char *after, const char *key, int *out, int max)
{
  const char *p = json_array_items (json, after, key);
  if (p == NULL)
    return 0;
  int n = 0;
  while (*p && *p != ']' && n < max) {
    char *end;
    long v = strtol (p, &end, 10);
    if (end == p) {
      p++;
      continue;
    }
    out[n++] = (int) v;
    p = end;
  }
  return n;
}

/* the integer after "key": inside the object that starts at `after` */
static inline int
json_int (const char *json, const char *after, const char *key, int fallback)
{
  const char *p = json;
  if (after && (p = strstr (json, after)) == NULL)
    return fallback;
  char k[128];
  snprintf (k, sizeof k, "\"%s\"", key);
  if ((p = strstr (p, k)) == NULL || (p = strchr (p, ':')) == NULL)
    return fallback;
  return (int) strtol (p + 1, NULL, 10);
}

typedef struct {
  double max_abs;     /* max |a - b| */
  double ref_max;     /* max |b| */
  double rel;         /* max_abs / ref_max */
  double max_rel_elem;/* max |a - b| / max (|b|, 1e-3 * ref_max) */
  size_t worst;
} err_stats;

static inline err_stats
compare (const float *a, const float *b, size_t n)
{
  err_stats s = { 0 };
  for (size_t i = 0; i < n; i++)
    if (fabs (b[i]) > s.ref_max)
      s.ref_max = fabs (b[i]);
  for (size_t i = 0; i < n; i++) {
    double d = fabs ((double) a[i] - b[i]);
    if (!(d <= s.max_abs)) { /* NaN counts as worst */
      s.max_abs = isnan (d) ? INFINITY : d;
      s.worst = i;
    }
    double den = fabs (b[i]) > 1e-3 * s.ref_max ? fabs (b[i]) : 1e-3 * s.ref_max;
    if (den > 0 && d / den > s.max_rel_elem)
      s.max_rel_elem = d / den;
  }
  s.rel = s.ref_max > 0 ? s.max_abs / s.ref_max : s.max_abs;
  return s;
}

/* the relative L2 distance ||a - ref|| / ||ref|| of n values (||a - ref|| when ref is all
 * zeros) */
static inline double
rel_l2 (const float *a, const float *ref, size_t n)
{
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; i++) {
    double d = (double) a[i] - ref[i];
    num += d * d;
    den += (double) ref[i] * ref[i];
  }
  return den > 0 ? sqrt (num / den) : sqrt (num);
}

static inline void
print_mismatches (const float *a, const float *b, size_t n, double tol, int max_print)
{
  int printed = 0;
  for (size_t i = 0; i < n && printed < max_print; i++)
    if (fabs ((double) a[i] - b[i]) > tol) {
      TEST_DIAG ("  [%zu] got %.7g want %.7g", i, a[i], b[i]);
      printed++;
    }
}

#endif /* LMW_TEST_H */
