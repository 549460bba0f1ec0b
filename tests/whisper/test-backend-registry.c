/* SPDX-License-Identifier: MIT */
/*
 * test-backend-registry.c — choosing a compute backend by name (lmw_backend_find,
 * lmw_state_new_backend) on this machine.
 *
 * Asserts (TAP):
 *   - "cpu" is always found; "cuda-emu" is found and is not the CPU backend;
 *   - "auto" gives cuda where a driver and a device are present, else cpu with a reason that
 *     names what is missing (the line the server logs);
 *   - "cuda" without a driver or device is NULL with the same reason (counted as a skip
 *     where a GPU is present);
 *   - an unknown name is NULL with a reason listing the valid names, and lmw_state_new_backend
 *     fails with LMW_ERR_ARG and that reason; a device number the CPU backend lacks is refused;
 *   - every backend found has the contract's version (LMW_BACKEND_VERSION) and every required
 *     memory operation;
 *   - on the fixture model: an unknown backend and a device the CPU lacks are refused by
 *     lmw_state_new_backend; a cuda-emu stream reports device memory; two streams share one
 *     copy of the weights; a resident state holds the weights alone and lmw_encode refuses
 *     it; LMW_BACKEND names the backend of lmw_state_new; once every state is freed the
 *     backend holds no device memory.
 */
#include "lmw-backend.h"
#include "lmw-context.h"
#include "lmw-test.h"

static bool
complete (const lmw_backend_ops *b)
{
  return b->version == LMW_BACKEND_VERSION && b->score && b->create && b->destroy && b->matmul &&
         b->layernorm && b->gelu && b->softmax && b->conv1d_k3 && b->attention && b->add &&
         b->get_rows && b->alloc && b->free && b->upload && b->download && b->copy &&
         b->map_weight && b->sync;
}

int
main (void)
{
  char why[300];
  const lmw_backend_ops *cpu = lmw_backend_find ("cpu", why, sizeof why);
  TEST_OK (cpu != NULL && strcmp (cpu->name, "cpu") == 0 && complete (cpu) &&
           (cpu->caps & LMW_BACKEND_HOST_MEMORY), "cpu found, complete, host memory");
  const lmw_backend_ops *emu = lmw_backend_find ("cuda-emu", why, sizeof why);
  TEST_OK (emu != NULL && strcmp (emu->name, "cuda-emu") == 0 && complete (emu) &&
           !(emu->caps & LMW_BACKEND_HOST_MEMORY) && emu->status && emu->create_on,
           "cuda-emu found, complete, its memory not declared the host's (%s)",
           emu ? "ok" : why);

  char why_cuda[300] = "";
  const lmw_backend_ops *cuda = lmw_backend_find ("cuda", why_cuda, sizeof why_cuda);
  const lmw_backend_ops *any = lmw_backend_find ("auto", why, sizeof why);
  if (cuda != NULL) {
    TEST_OK (any == cuda && complete (cuda), "a GPU is present: auto chooses cuda");
    printf ("ok %d # SKIP the no-GPU path: this machine has a GPU\n", ++lmw_test_n);
  } else {
    TEST_OK (any == cpu && why[0] != '\0' && strcmp (why, why_cuda) == 0,
             "no GPU: auto falls back to cpu, saying why: %s", why);
    TEST_OK (strstr (why_cuda, "CUDA") != NULL && (strstr (why_cuda, "driver") != NULL ||
             strstr (why_cuda, "device") != NULL || strstr (why_cuda, "nvcc") != NULL),
             "cuda is not found, and the reason names what is missing");
  }
  TEST_OK (lmw_backend_find (NULL, NULL, 0) == any && lmw_backend_find ("", NULL, 0) == any,
           "NULL and \"\" mean auto (no reason wanted is fine)");

  const lmw_backend_ops *bad = lmw_backend_find ("tpu", why, sizeof why);
  TEST_OK (bad == NULL && strstr (why, "tpu") && strstr (why, "cuda-emu"),
           "an unknown name is refused: %s", why);

  /* through the engine's API, on the fixture model */
  char path[4300];
  snprintf (path, sizeof path, "%s/model.ggml.bin", fixture_dir ("tiny-en-random"));
  lmw_error err = { 0 };
  lmw_model *model = lmw_model_load_file (path, &err);
  TEST_OK (model != NULL, "fixture model loads");
  if (model == NULL)
    return test_done ();
  lmw_state *st = lmw_state_new_backend (model, 1, "tpu", 0, &err);
  TEST_OK (st == NULL && err.code == LMW_ERR_ARG && strstr (err.message, "tpu"),
           "lmw_state_new_backend refuses an unknown backend: %s", err.message);
  st = lmw_state_new_backend (model, 1, "cpu", 2, &err);
  TEST_OK (st == NULL && err.code == LMW_ERR_ARG, "the CPU backend has no device 2: %s",
           err.message);
  st = lmw_state_new_backend (model, 1, "cpu", 0, &err);
  TEST_OK (st && strcmp (lmw_state_backend_name (st), "cpu") == 0 &&
           strstr (lmw_state_device_name (st), "CPU") && lmw_state_memory_used (st) == 0,
           "cpu stream on %s, no device memory", st ? lmw_state_device_name (st) : err.message);
  lmw_state_free (st);
  st = lmw_state_new_backend (model, 1, "cuda-emu", 0, &err);
  lmw_state *st2 = lmw_state_new_backend (model, 1, "cuda-emu", 0, &err);
  size_t weights = lmw_model_weight_bytes (model);
  TEST_OK (st && st2 && strcmp (lmw_state_backend_name (st), "cuda-emu") == 0 &&
           lmw_state_memory_used (st) > weights / 2, "two cuda-emu streams: %zu bytes of "
           "device memory (the model's weights are %zu bytes in the file's types)",
           st ? lmw_state_memory_used (st) : 0, weights);
  size_t two = st ? lmw_state_memory_used (st) : 0;
  lmw_state_free (st);
  lmw_state_free (st2);
  /* the weights alone: less than a stream, and a stream created meanwhile adds only buffers */
  lmw_state *res = lmw_state_new_resident (model, "cuda-emu", 0, &err);
  size_t held = res ? lmw_state_memory_used (res) : 0;
  st = lmw_state_new_backend (model, 1, "cuda-emu", 0, &err);
  size_t with_stream = st ? lmw_state_memory_used (st) : 0;
  lmw_state_free (st);
  TEST_OK (res && held > weights / 2 && held < with_stream && two + held == 2 * with_stream,
           "a resident state holds the weights alone (%zu bytes), a stream adds its buffers "
           "(%zu in all), two streams held one copy of the weights (%zu in all)", held,
           with_stream, two);
  float mel[80] = { 0 };
  TEST_OK (res && lmw_encode (res, mel, 1, 0, &err) != 0 && err.code == LMW_ERR_ARG &&
           lmw_state_encoder_output (res) == NULL, "lmw_encode refuses a resident state: %s",
           err.message);
  lmw_state_free (res);
  setenv ("LMW_BACKEND", "cuda-emu", 1);
  st = lmw_state_new (model, 1, &err);
  TEST_OK (st && strcmp (lmw_state_backend_name (st), "cuda-emu") == 0,
           "LMW_BACKEND names the backend of lmw_state_new");
  lmw_state_free (st);
  TEST_OK (emu && emu->memory_used (NULL) == 0, "every state freed: cuda-emu holds no device "
           "memory (%zu bytes)", emu ? emu->memory_used (NULL) : 0);
  lmw_model_free (model);
  return test_done ();
}
