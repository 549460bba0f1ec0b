/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-quant.c — `lightning-whisper quantize` on one fixture (argv[1]: the
 * lightning-whisper program, argv[2]: tiny-en-random or tiny-v3-random), and the quantised
 * models run by the engine with its integer products.
 *
 * Asserts (TAP), for each of q8_0, q5_0, q5_1, q4_0, q4_1:
 *   - the command exits 0; an independent walk of the output (lmw-ggml-layout.h) ends exactly
 *     at the end of the file with the same tensors in the same order, the weight matrices (2-D,
 *     ".weight") of the type, everything else byte for byte the input's, and the header's
 *     ftype ggml's code for the type (2000 + 7 / 8 / 9 / 2 / 3);
 *   - the model loads; encoder output (from the reference mel) and teacher-forced logits
 *     against encoder_out.f32 and logits.f32, relative L2 (|a - ref| / |ref|): q8_0 <= 1e-2;
 *     the 4- and 5-bit types are printed and bounded by LIMIT_* below (what was measured on
 *     both fixtures, with a margin);
 *   - the greedy continuation, teacher-forced with greedy.tokens (the f16 model's): the argmax
 *     equals the reference token on every step whose top-1/top-2 margin in reference.json is
 *     larger than 1.0 (q8_0; the others at most LIMIT_WRONG_STEPS such steps wrong);
 *   - on the CPU backend a state of the quantised model keeps the decoder's cross K/V as f16
 *     (cross_kh / cross_vh, no f32 V) and reads conv2 (and conv1 when n_mels * 3 is a multiple
 *     of 32) as q8_0 copies; a state of the f16 input keeps f32 cross K/V and the f16 convs;
 * and that the command refuses, with exit status 1, a message naming the problem and no
 * output file: a missing input, the input cut inside the magic, the hyper-parameters, the
 * vocabulary, a tensor header and a tensor's data, a bad magic, an unknown tensor type, a
 * shape that contradicts the hyper-parameters, and an input that is already quantised; an
 * unknown TYPE exits 2.
 */
#include "lmw-context.h"
#include "lmw-ggml-layout.h"
#include "lmw-state.h"
#include "lmw-test.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* relative L2 bounds of the 4- and 5-bit types, encoder output and logits: the worst measured
 * on tiny-en-random and tiny-v3-random (q5_0 / q5_1: 0.0264 and 0.0736; q4_0 / q4_1: 0.0548
 * and 0.166) times about 1.5; and the greedy steps with margin > 1.0 they may get wrong
 * (measured: none) */
#define LIMIT_ENC_Q5 4e-2
#define LIMIT_LOG_Q5 1.1e-1
#define LIMIT_ENC_Q4 8e-2
#define LIMIT_LOG_Q4 2.5e-1
#define LIMIT_WRONG_STEPS 2

static const char *prog;
static char tmpdir[256];

/* runs the command with its output (stdout and stderr) into out; returns the exit status */
static int
run_quantize (const char *in, const char *out_path, const char *type, char *out, size_t out_len)
{
  char cmd[8192];
  snprintf (cmd, sizeof cmd, "'%s' quantize '%s' '%s' '%s' 2>&1", prog, in, out_path, type);
  FILE *p = popen (cmd, "r");
  if (p == NULL)
    return -1;
  size_t n = fread (out, 1, out_len - 1, p);
  out[n] = '\0';
  int st = pclose (p);
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* the float array after "key": [ ... ] searched from `after` */
static int
json_float_array (const char *json, const char *after, const char *key, double *out, int max)
{
  const char *p = json_array_items (json, after, key);
  if (p == NULL)
    return 0;
  int n = 0;
  while (*p && *p != ']' && n < max) {
    char *end;
    double v = strtod (p, &end);
    if (end == p) {
      p++;
      continue;
    }
    out[n++] = v;
    p = end;
  }
  return n;
}

static bool
is_weight_matrix (const uint8_t *b, const ggml_layout *l, int t)
{
  size_t h = l->tensor_hdr[t];
  int nd = layout_i32 (b, h), nl = layout_i32 (b, h + 4);
  const char *name = (const char *) b + h + 12 + 4 * (size_t) nd;
  return nd == 2 && nl > 7 && memcmp (name + nl - 7, ".weight", 7) == 0;
}

/* the output's layout against the input's */
static void
check_layout (const char *type_name, int type, int ftype, const uint8_t *in, size_t in_len,
              const char *out_path)
{
  size_t len;
  uint8_t *out = read_file (NULL, out_path, &len);
  ggml_layout li, lo;
  bool parsed = out != NULL && layout_parse (&li, in, in_len) == 0 && layout_parse (&lo, out, len) == 0;
  TEST_OK (parsed, "[%s] the output walks as a ggml file to its last byte (%zu bytes, input %zu)",
           type_name, len, in_len);
  if (!parsed) {
    free (out);
    return;
  }
  bool same_head = li.tensors == lo.tensors && memcmp (in, out, 4 + 40) == 0 &&
                   layout_i32 (out, 4 + 40) == ftype &&
                   memcmp (in + li.filters, out + lo.filters, li.tensors - li.filters) == 0;
  TEST_OK (same_head, "[%s] magic, hyper-parameters, filterbank and vocabulary copied, ftype %d",
           type_name, layout_i32 (out, 4 + 40));
  int bad = -1, n_q = 0;
  for (int t = 0; t < li.n_tensors && bad < 0; t++) {
    if (t >= lo.n_tensors) {
      bad = t;
      break;
    }
    size_t hi = li.tensor_hdr[t], ho = lo.tensor_hdr[t];
    int nd = layout_i32 (in, hi);
    size_t hl = 12 + 4 * (size_t) nd + (size_t) layout_i32 (in, hi + 4);
    bool names = memcmp (in + hi, out + ho, 8) == 0 && memcmp (in + hi + 12, out + ho + 12, hl - 12) == 0;
    if (is_weight_matrix (in, &li, t)) {
      n_q++;
      if (!names || layout_i32 (out, ho + 8) != type)
        bad = t;
    } else if (!names || layout_i32 (out, ho + 8) != layout_i32 (in, hi + 8) ||
               li.tensor_end[t] - li.tensor_data[t] != lo.tensor_end[t] - lo.tensor_data[t] ||
               memcmp (in + li.tensor_data[t], out + lo.tensor_data[t],
                       li.tensor_end[t] - li.tensor_data[t]) != 0) {
      bad = t;
    }
  }
  TEST_OK (bad < 0 && li.n_tensors == lo.n_tensors,
           "[%s] %d tensors in the input's order: %d weight matrices of the type, the others unchanged%s",
           type_name, lo.n_tensors, n_q, bad >= 0 ? " (first difference below)" : "");
  if (bad >= 0)
    TEST_DIAG ("  tensor %d differs", bad);
  layout_free (&li);
  layout_free (&lo);
  free (out);
}

typedef struct {
  const char *name;
  int type, ftype;
  double lim_enc, lim_log;
  bool tokens_exact;
} qcase;

static void
refusals (const char *model_path, const uint8_t *in, size_t in_len)
{
  ggml_layout l;
  if (layout_parse (&l, in, in_len) != 0) {
    TEST_OK (false, "the fixture walks as a ggml file");
    return;
  }
  char bad_path[512], out_path[512], msg[4096];
  snprintf (bad_path, sizeof bad_path, "%s/bad.bin", tmpdir);
  snprintf (out_path, sizeof out_path, "%s/never.bin", tmpdir);
  int big = -1; /* the largest weight matrix: its data is the last to cut */
  for (int t = 0; t < l.n_tensors; t++)
    if (is_weight_matrix (in, &l, t) && (big < 0 || l.tensor_end[t] - l.tensor_data[t] >
                                                   l.tensor_end[big] - l.tensor_data[big]))
      big = t;
  struct {
    const char *what;
    size_t cut;      /* bytes kept, or 0: the whole file with a change */
    size_t at;       /* change: offset of an i32 */
    int32_t value;   /* its new value */
    const char *say; /* in the message */
  } cases[] = {
    { "cut inside the magic", 2, 0, 0, "truncated" },
    { "cut inside the hyper-parameters", 4 + 20, 0, 0, "truncated" },
    { "cut inside the vocabulary", l.token_off[l.n_tokens / 2] + 2, 0, 0, "truncated" },
    { "cut inside a tensor header", l.tensor_hdr[l.n_tensors / 2] + 6, 0, 0, "truncated" },
    { "cut inside a weight matrix's data", (l.tensor_data[big] + l.tensor_end[big]) / 2, 0, 0, "truncated" },
    { "bad magic", 0, 0, 0x12345678, "magic" },
    { "unknown tensor type", 0, l.tensor_hdr[big] + 8, 5, "type" },
    { "shape against the hyper-parameters", 0, l.tensor_hdr[big] + 12, 96, "shape" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = cases[i].cut ? cases[i].cut : in_len;
    uint8_t *b = malloc (n);
    memcpy (b, in, n);
    if (cases[i].cut == 0)
      layout_put_i32 (b, cases[i].at, cases[i].value);
    FILE *f = fopen (bad_path, "wb");
    fwrite (b, 1, n, f);
    fclose (f);
    free (b);
    unlink (out_path);
    int rc = run_quantize (bad_path, out_path, "q8_0", msg, sizeof msg);
    bool named = strstr (msg, cases[i].say) != NULL;
    TEST_OK (rc == 1 && named && access (out_path, F_OK) != 0,
             "refused, %s: exit %d, no output, message: %.*s", cases[i].what, rc,
             (int) strcspn (msg, "\n"), msg);
  }
  unlink (bad_path);
  layout_free (&l);

  char missing[512];
  snprintf (missing, sizeof missing, "%s/no-such-model.bin", tmpdir);
  int rc = run_quantize (missing, out_path, "q8_0", msg, sizeof msg);
  TEST_OK (rc == 1 && access (out_path, F_OK) != 0, "refused, a missing input: exit %d: %.*s", rc,
           (int) strcspn (msg, "\n"), msg);
  rc = run_quantize (model_path, out_path, "q3_k", msg, sizeof msg);
  TEST_OK (rc == 2 && strstr (msg, "q3_k") != NULL && access (out_path, F_OK) != 0,
           "refused, an unknown type: exit %d: %.*s", rc, (int) strcspn (msg, "\n"), msg);
  char q8[512];
  snprintf (q8, sizeof q8, "%s/model-q8_0.bin", tmpdir);
  rc = run_quantize (q8, out_path, "q4_0", msg, sizeof msg);
  TEST_OK (rc == 1 && strstr (msg, "already q8_0") != NULL && access (out_path, F_OK) != 0,
           "refused, an input already quantised: exit %d: %.*s", rc, (int) strcspn (msg, "\n"), msg);
}

int
main (int argc, char **argv)
{
  if (argc < 3) {
    fprintf (stderr, "usage: test-whisper-quant LIGHTNING-WHISPER FIXTURE\n");
    return 2;
  }
  prog = argv[1];
  const char *fixture = argv[2];
  const char *dir = fixture_dir (fixture);
  char *json = read_file (dir, "reference.json", NULL);
  TEST_OK (json != NULL, "reference.json of %s readable", fixture);
  if (json == NULL)
    return test_done ();
  snprintf (tmpdir, sizeof tmpdir, "%s/lmw-quant-XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  if (mkdtemp (tmpdir) == NULL) {
    TEST_OK (false, "temporary folder created");
    return test_done ();
  }
  char model_path[4300];
  snprintf (model_path, sizeof model_path, "%s/model.ggml.bin", dir);
  size_t in_len, len;
  uint8_t *in = read_file (NULL, model_path, &in_len);
  float *ref_mel = read_file (dir, "mel.f32", &len);
  float *ref_enc = read_file (dir, "encoder_out.f32", NULL);
  float *ref_logits = read_file (dir, "logits.f32", NULL);
  int tokens[64], prompt[16], want[64];
  double margin[64];
  int nt = json_int_array (json, NULL, "tokens", tokens, 64);
  int np = json_int_array (json, "\"greedy\"", "prompt", prompt, 16);
  int ng = json_int_array (json, "\"greedy\"", "tokens", want, 64);
  int nm = json_float_array (json, "\"greedy\"", "top1_minus_top2", margin, 64);
  TEST_OK (in && ref_mel && ref_enc && ref_logits && nt > 0 && np > 0 && ng > 0 && nm == ng,
           "fixture read: %d tokens, greedy prompt %d, %d greedy steps with margins", nt, np, ng);

  static const qcase cases[] = {
    { "q8_0", 8, 2007, 1e-2, 1e-2, true },
    { "q5_0", 6, 2008, LIMIT_ENC_Q5, LIMIT_LOG_Q5, false },
    { "q5_1", 7, 2009, LIMIT_ENC_Q5, LIMIT_LOG_Q5, false },
    { "q4_0", 2, 2002, LIMIT_ENC_Q4, LIMIT_LOG_Q4, false },
    { "q4_1", 3, 2003, LIMIT_ENC_Q4, LIMIT_LOG_Q4, false },
  };
  if (in != NULL) { /* the f16 input stays on the f32 path (the tests whisper-parity-*) */
    lmw_error err = { 0 };
    lmw_model *model = lmw_model_load_file (model_path, &err);
    lmw_state *st = model ? lmw_state_new (model, 2, &err) : NULL;
    TEST_OK (st != NULL && st->cross_vh == NULL && st->cross_v != NULL &&
                 st->dm->conv1.type == LMW_TYPE_F16 && st->dm->conv2.type == LMW_TYPE_F16,
             "[f16] the state of the input keeps f32 cross K/V and the f16 convs%s%s",
             st ? "" : ": ", st ? "" : err.message);
    lmw_state_free (st);
    lmw_model_free (model);
  }
  for (size_t c = 0; c < sizeof cases / sizeof cases[0] && in != NULL; c++) {
    const qcase *q = &cases[c];
    char out_path[512], msg[4096];
    snprintf (out_path, sizeof out_path, "%s/model-%s.bin", tmpdir, q->name);
    int rc = run_quantize (model_path, out_path, q->name, msg, sizeof msg);
    TEST_OK (rc == 0, "[%s] quantize exits 0%s%s", q->name, *msg ? ": " : "", msg);
    if (rc != 0)
      continue;
    check_layout (q->name, q->type, q->ftype, in, in_len, out_path);

    lmw_error err = { 0 };
    lmw_model *model = lmw_model_load_file (out_path, &err);
    TEST_OK (model != NULL, "[%s] the engine loads it%s%s", q->name, model ? "" : ": ", model ? "" : err.message);
    if (model == NULL)
      continue;
    const lmw_hparams *hp = lmw_model_hparams (model);
    int T = hp->n_audio_ctx, C = hp->n_audio_state, nv = hp->n_vocab;
    lmw_state *st = lmw_state_new (model, 2, &err);
    bool conv1_q8 = (3 * hp->n_mels) % 32 == 0;
    TEST_OK (st != NULL && st->cross_kh != NULL && st->cross_vh != NULL && st->cross_v == NULL &&
                 st->dm->conv2.type == LMW_TYPE_Q8_0 &&
                 st->dm->conv1.type == (conv1_q8 ? LMW_TYPE_Q8_0 : LMW_TYPE_F16),
             "[%s] the state reads f16 cross K/V and a q8_0 conv2%s", q->name,
             conv1_q8 ? " and conv1" : " (conv1 f16: n_mels * 3 no multiple of 32)");
    float *logits = malloc (sizeof (float) * (size_t) nt * nv);
    bool ran = st != NULL && lmw_encode (st, ref_mel, 2 * T, 0, &err) == 0;
    double e_enc = ran ? rel_l2 (lmw_state_encoder_output (st), ref_enc, (size_t) T * C) : INFINITY;
    ran = ran && lmw_decode (st, tokens, nt, 0, logits, true, &err) == 0;
    double e_log = ran ? rel_l2 (logits, ref_logits, (size_t) nt * nv) : INFINITY;
    TEST_OK (ran && e_enc <= q->lim_enc, "[%s] encoder output vs reference: relative L2 %.4g (bound %.3g)%s%s",
             q->name, e_enc, q->lim_enc, ran ? "" : ": ", ran ? "" : err.message);
    TEST_OK (ran && e_log <= q->lim_log, "[%s] logits vs reference: relative L2 %.4g (bound %.3g)",
             q->name, e_log, q->lim_log);

    /* greedy, teacher-forced with the f16 model's tokens */
    float *last = malloc (sizeof (float) * nv);
    bool ok = ran && lmw_decode (st, prompt, np, 0, last, false, &err) == 0;
    int checked = 0, wrong = 0, wrong_any = 0;
    for (int i = 0; i < ng && ok; i++) {
      int best = 0;
      for (int v = 1; v < nv; v++)
        if (last[v] > last[best])
          best = v;
      if (best != want[i])
        wrong_any++;
      if (margin[i] > 1.0) {
        checked++;
        if (best != want[i]) {
          wrong++;
          TEST_DIAG ("  [%s] step %d: argmax %d, reference %d (margin %.3f)", q->name, i, best,
                     want[i], margin[i]);
        }
      }
      if (i + 1 < ng)
        ok = lmw_decode (st, &want[i], 1, np + i, last, false, &err) == 0;
    }
    if (q->tokens_exact)
      TEST_OK (ok && checked > 0 && wrong == 0,
               "[%s] greedy argmax equals the f16 model's token on all %d steps with margin > 1.0 "
               "(%d of %d steps differ in all)", q->name, checked, wrong_any, ng);
    else
      TEST_OK (ok && checked > 0 && wrong <= LIMIT_WRONG_STEPS,
               "[%s] greedy argmax differs from the f16 model's on %d of %d steps with margin > 1.0 "
               "(bound %d), %d of %d in all", q->name, wrong, checked, LIMIT_WRONG_STEPS, wrong_any, ng);
    free (last);
    free (logits);
    lmw_state_free (st);
    lmw_model_free (model);
  }
  if (in != NULL)
    refusals (model_path, in, in_len);

  /* clean up */
  static const char *names[] = { "q8_0", "q5_0", "q5_1", "q4_0", "q4_1" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char p[512];
    snprintf (p, sizeof p, "%s/model-%s.bin", tmpdir, names[i]);
    unlink (p);
  }
  rmdir (tmpdir);
  free (in);
  free (ref_mel);
  free (ref_enc);
  free (ref_logits);
  free (json);
  return test_done ();
}
