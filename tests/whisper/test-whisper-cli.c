/* SPDX-License-Identifier: MIT */
/*
 * test-whisper-cli.c — lightning-whisper end to end (argv[1]: the program, argv[2]: fixture).
 *
 * Asserts (TAP):
 *   - `--model M --audio A --tokens T --dump DIR` exits 0 and writes mel.f32, encoder_out.f32
 *     and logits.f32 with the fixture's sizes, each within 1e-3 of the reference relative to
 *     the tensor's max |value|;
 *   - `--model M --audio A --threads 2` exits 0 (prints a transcript), and so does beam search
 *     with word timestamps; out-of-range or non-numeric decoding options exit 2;
 *   - a corrupt model path, a missing audio file and bad arguments exit non-zero;
 *   - --backend cuda-emu dumps tensors within 1e-3 of the reference too; GPU_DEVICE_ID=1 with
 *     --backend cuda-emu (one emulated device, 0) exits 1 naming the device; --backend tpu
 *     exits 2;
 *     where no GPU is, --backend cuda exits 1 naming what is missing, and the default (auto)
 *     with --stats says it computes on the CPU and why.
 */
#include "lmw-test.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int
run (const char *cmd)
{
  int st = system (cmd);
  return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* the file's bytes with a NUL after them (read_file adds none), or NULL */
static char *
read_text (const char *path)
{
  size_t len = 0;
  char *bytes = read_file (NULL, path, &len);
  char *text = bytes ? malloc (len + 1) : NULL;
  if (text) {
    memcpy (text, bytes, len);
    text[len] = '\0';
  }
  free (bytes);
  return text;
}

int
main (int argc, char **argv)
{
  if (argc < 3) {
    test_skip_all ("usage: test-whisper-cli PROGRAM FIXTURE");
  }
  const char *prog = argv[1];
  const char *dir = fixture_dir (argv[2]);
  char *json = read_file (dir, "reference.json", NULL);
  int tokens[64];
  int nt = json ? json_int_array (json, NULL, "tokens", tokens, 64) : 0;
  char tok_list[1024] = "";
  for (int i = 0; i < nt; i++)
    snprintf (tok_list + strlen (tok_list), sizeof tok_list - strlen (tok_list), "%s%d",
              i ? "," : "", tokens[i]);
  char tmp[] = "/tmp/lmw-cli-XXXXXX";
  TEST_OK (mkdtemp (tmp) != NULL, "temporary folder %s", tmp);
  char cmd[16384];
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--threads 2 --tokens %s --dump '%s'", prog, dir, dir, tok_list, tmp);
  TEST_OK (run (cmd) == 0, "dump runs: %s", cmd);
  static const char *const files[] = { "mel.f32", "encoder_out.f32", "logits.f32" };
  for (int i = 0; i < 3; i++) {
    size_t la = 0, lb = 0;
    float *a = read_file (tmp, files[i], &la);
    float *b = read_file (dir, files[i], &lb);
    bool same_size = a && b && la == lb;
    err_stats s = { 0 };
    if (same_size)
      s = compare (a, b, la / sizeof (float));
    TEST_OK (same_size && s.rel <= 1e-3, "%s: %zu bytes, max abs err %.3g, rel (to max |ref|) %.3g",
             files[i], la, s.max_abs, s.rel);
    char p[4200];
    snprintf (p, sizeof p, "%s/%s", tmp, files[i]);
    unlink (p);
    free (a);
    free (b);
  }
  /* the same dump from the CUDA backend's code run on the CPU */
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--backend cuda-emu --tokens %s --dump '%s'", prog, dir, dir, tok_list, tmp);
  TEST_OK (run (cmd) == 0, "dump runs with --backend cuda-emu");
  for (int i = 1; i < 3; i++) {
    size_t la = 0, lb = 0;
    float *a = read_file (tmp, files[i], &la);
    float *b = read_file (dir, files[i], &lb);
    err_stats s = { 0 };
    if (a && b && la == lb)
      s = compare (a, b, la / sizeof (float));
    TEST_OK (a && b && la == lb && s.rel <= 1e-3, "cuda-emu %s: rel (to max |ref|) %.3g", files[i],
             s.rel);
    free (a);
    free (b);
  }
  for (int i = 0; i < 3; i++) {
    char p[4200];
    snprintf (p, sizeof p, "%s/%s", tmp, files[i]);
    unlink (p);
  }
  /* backend choice */
  char errfile[4200];
  snprintf (errfile, sizeof errfile, "%s/stderr.txt", tmp);
  {
    /* GPU_DEVICE_ID picks the device: the emulation has device 0 only */
    snprintf (cmd, sizeof cmd, "GPU_DEVICE_ID=1 '%s' --model '%s/model.ggml.bin' --audio "
              "'%s/../../audio/speech-sample.wav' --backend cuda-emu > /dev/null 2> '%s'", prog,
              dir, dir, errfile);
    int rc = run (cmd);
    char *out = read_text (errfile);
    TEST_OK (rc == 1 && out && strstr (out, "device 1"),
             "GPU_DEVICE_ID=1 with --backend cuda-emu exits 1 naming the device: %s",
             out ? out : "");
    free (out);
  }
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--backend tpu 2> /dev/null", prog, dir, dir);
  TEST_OK (run (cmd) == 2, "--backend tpu is a usage error");
  bool gpu = access ("/dev/nvidia0", F_OK) == 0;
  if (gpu) {
    printf ("ok %d # SKIP a GPU is present: --backend cuda can run\n", ++lmw_test_n);
    printf ("ok %d # SKIP a GPU is present: auto does not fall back\n", ++lmw_test_n);
  } else {
    snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio "
              "'%s/../../audio/speech-sample.wav' --backend cuda > /dev/null 2> '%s'", prog, dir,
              dir, errfile);
    int rc = run (cmd);
    char *out = read_text (errfile);
    TEST_OK (rc == 1 && out && strstr (out, "CUDA"), "--backend cuda without a GPU exits 1: %s",
             out ? out : "");
    free (out);
    snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio "
              "'%s/../../audio/speech-sample.wav' --max-tokens 4 --temperature-inc 0 --stats "
              "> /dev/null 2> '%s'", prog, dir, dir, errfile);
    rc = run (cmd);
    out = read_text (errfile);
    TEST_OK (rc == 0 && out && strstr (out, "backend cpu on CPU") &&
             strstr (out, "cuda not used: "), "auto computes on the CPU and --stats says why");
    free (out);
  }
  unlink (errfile);
  rmdir (tmp);
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--threads 2 > /dev/null", prog, dir, dir);
  TEST_OK (run (cmd) == 0, "transcription runs");
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--timestamps --word-timestamps --beam-size 3 --max-tokens 16 --temperature-inc 0 --stats "
            "> /dev/null 2>&1", prog, dir, dir);
  TEST_OK (run (cmd) == 0, "beam search with word timestamps runs");
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--beam-size 0 2> /dev/null", prog, dir, dir);
  TEST_OK (run (cmd) == 2, "--beam-size 0 is a usage error");
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio '%s/../../audio/speech-sample.wav' "
            "--temperature-inc x 2> /dev/null", prog, dir, dir);
  TEST_OK (run (cmd) == 2, "a non-numeric --temperature-inc is a usage error");
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/reference.json' --audio '%s/../../audio/speech-sample.wav' "
            "2> /dev/null", prog, dir, dir);
  TEST_OK (run (cmd) == 1, "a file that is not a model is refused");
  snprintf (cmd, sizeof cmd, "'%s' --model '%s/model.ggml.bin' --audio /nonexistent.wav 2> /dev/null",
            prog, dir);
  TEST_OK (run (cmd) == 1, "a missing audio file is refused");
  snprintf (cmd, sizeof cmd, "'%s' --model 2> /dev/null", prog);
  TEST_OK (run (cmd) == 2, "a usage error exits 2");
  free (json);
  return test_done ();
}
