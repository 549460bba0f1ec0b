/* SPDX-License-Identifier: MIT */
/*
 * fuzz-model-loader.c — random mutations of a fixture model file fed to the loader.
 *
 *   fuzz-model-loader FIXTURE [ITERATIONS [SEED]]
 *
 * Each iteration copies the intact file and applies 1-4 mutations drawn with a fixed-seed
 * xorshift generator: overwrite an int32 field at a header boundary with an interesting value
 * (0, -1, +-1, INT32_MIN/MAX, 2^k), flip random bits near a header, truncate, or splice a
 * chunk from elsewhere.  The loader must either load the model (which is then used to read
 * the hyper-parameters and freed) or refuse it with a message; crashes and leaks are caught
 * by running it under ASan or valgrind.  TAP output: one line per 1000 iterations.
 *
 * Built with -DLMW_LIBFUZZER it is instead a libFuzzer target:
 *   clang -g -O1 -fsanitize=fuzzer,address -DLMW_LIBFUZZER -Iplugins/whisper/core -Ibackends \
 *     -Ibackends/cpu tests/whisper/fuzz-model-loader.c CORE BACKEND -lm -lpthread
 * where CORE and BACKEND are the .c files of plugins/whisper/core and backends/cpu.
 */
#include "lmw-context.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef LMW_LIBFUZZER
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  lmw_error err = { 0 };
  lmw_model *m = lmw_model_load_buffer (data, size, &err);
  lmw_model_free (m);
  return 0;
}
#else

#include "lmw-ggml-layout.h"
#include "lmw-test.h"
#include "lmw-test-random.h"

#include <limits.h>

static size_t
pick_boundary (const ggml_layout *L)
{
  switch (rand_u64 () % 5) {
  case 0: return 4 * (rand_u64 () % 14); /* magic, hparams, fb */
  case 1: return L->vocab;
  case 2: return L->token_off[rand_u64 () % (uint64_t) L->n_tokens];
  case 3: return L->tensor_hdr[rand_u64 () % (uint64_t) L->n_tensors] + 4 * (rand_u64 () % 7);
  default:
    return L->tensor_data[rand_u64 () % (uint64_t) L->n_tensors] - 4 * (1 + rand_u64 () % 4);
  }
}

int
main (int argc, char **argv)
{
  const char *name = argc > 1 ? argv[1] : "tiny-en-random";
  long iterations = argc > 2 ? atol (argv[2]) : 2000;
  lmw_test_rs = argc > 3 ? strtoull (argv[3], NULL, 0) : 0x2545f4914f6cdd1dull;
  if (lmw_test_rs == 0)
    lmw_test_rs = 1;
  const char *dir = fixture_dir (name);
  size_t size = 0;
  uint8_t *orig = read_file (dir, "model.ggml.bin", &size);
  ggml_layout L;
  TEST_OK (orig != NULL && layout_parse (&L, orig, size) == 0, "fixture %s parsed", name);
  if (orig == NULL)
    return test_done ();
  uint8_t *buf = malloc (size);
  static const int32_t interesting[] = {
    0, -1, 1, 2, 3, 4, 31, 32, 33, 64, 255, 256, 1500, 4096, 51864, 65535, 65536,
    1 << 20, 1 << 30, INT32_MAX, INT32_MIN, INT32_MIN + 1, -2, -32,
  };
  long loaded = 0, refused = 0, bad = 0;
  for (long it = 1; it <= iterations; it++) {
    memcpy (buf, orig, size);
    size_t len = size;
    int n_mut = 1 + (int) (rand_u64 () % 4);
    for (int k = 0; k < n_mut; k++) {
      switch (rand_u64 () % 4) {
      case 0: { /* interesting int32 at a boundary */
        size_t off = pick_boundary (&L);
        if (off + 4 <= len)
          layout_put_i32 (buf, off, interesting[rand_u64 () % (sizeof interesting / sizeof interesting[0])]);
        break;
      }
      case 1: { /* bit flips near a boundary */
        size_t off = pick_boundary (&L) + rand_u64 () % 16;
        if (off < len)
          buf[off] ^= (uint8_t) (1u << (rand_u64 () % 8));
        break;
      }
      case 2: /* truncate */
        len = (size_t) (rand_u64 () % (uint64_t) (len + 1));
        break;
      default: { /* splice 4..64 bytes from elsewhere */
        size_t n = 4 + rand_u64 () % 61;
        if (len > 2 * n) {
          size_t dst = pick_boundary (&L), src = rand_u64 () % (uint64_t) (len - n);
          if (dst + n <= len)
            memmove (buf + dst, orig + src, n);
        }
        break;
      }
      }
    }
    lmw_error err = { 0 };
    lmw_model *m = lmw_model_load_buffer (buf, len, &err);
    if (m) {
      loaded++;
      if (lmw_model_hparams (m)->n_vocab < 51864)
        bad++;
      lmw_model_free (m);
    } else {
      refused++;
      if (err.message[0] == '\0' || err.code == LMW_OK)
        bad++;
    }
    if (it % 1000 == 0 || it == iterations)
      TEST_OK (bad == 0, "%ld iterations: %ld loaded, %ld refused with a message", it, loaded, refused);
  }
  layout_free (&L);
  free (buf);
  free (orig);
  return test_done ();
}
#endif
