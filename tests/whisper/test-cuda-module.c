/* SPDX-License-Identifier: MIT */
/*
 * test-cuda-module.c — the CUDA backend module as built here (argv[1]: the path of
 * liblmw-backend-cuda.so), opened the way the registry opens it, on this machine.
 *
 * Asserts (TAP):
 *   - it opens with RTLD_NOW (every symbol it needs resolves: the CUDA runtime, cuBLAS, the
 *     kernels, the element types) and exports lmw_backend_cuda_entry;
 *   - the entry returns the "cuda" table for this contract version, complete (memory
 *     operations, status, create_on, no host-memory cap), and NULL for another version;
 *   - without a driver and a device its score is 0 and creating a context fails with a message
 *     (no crash, no exit); with a GPU the score is positive and a context names its device.
 */
#include "lmw-backend.h"
#include "lmw-test.h"

#include <dlfcn.h>
#include <unistd.h>

typedef const lmw_backend_ops *(*entry_fn) (int api_version);

int
main (int argc, char **argv)
{
  if (argc < 2) {
    printf ("1..0 # SKIP no module path\n");
    return 0;
  }
  void *mod = dlopen (argv[1], RTLD_NOW | RTLD_LOCAL);
  const char *e = mod ? NULL : dlerror ();
  TEST_OK (mod != NULL, "%s opens with every symbol resolved%s%s", argv[1], e ? ": " : "",
           e ? e : "");
  if (mod == NULL)
    return test_done ();
  entry_fn entry = (entry_fn) dlsym (mod, "lmw_backend_cuda_entry");
  TEST_OK (entry != NULL, "it exports lmw_backend_cuda_entry");
  if (entry == NULL)
    return test_done ();
  const lmw_backend_ops *ops = entry (LMW_BACKEND_VERSION);
  TEST_OK (ops && ops->version == LMW_BACKEND_VERSION && strcmp (ops->name, "cuda") == 0 &&
           ops->alloc && ops->free && ops->upload && ops->download && ops->copy &&
           ops->map_weight && ops->sync && ops->status && ops->create_on && ops->memory_used &&
           !(ops->caps & LMW_BACKEND_HOST_MEMORY), "the entry returns the complete cuda table");
  TEST_OK (entry (LMW_BACKEND_VERSION - 1) == NULL, "and nothing for contract version %d",
           LMW_BACKEND_VERSION - 1);
  if (ops == NULL)
    return test_done ();
  bool driver = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL) != NULL;
  int score = ops->score ();
  char err[200] = "";
  void *ctx = ops->create (1, err, sizeof err);
  if (score > 0) {
    TEST_OK (ctx != NULL, "a GPU is here: score %d, context on %s", score,
             ctx ? ops->device_name (ctx) : err);
    if (ctx)
      ops->destroy (ctx);
  } else {
    TEST_OK (score == 0, "no usable device (driver library %s): score 0",
             driver ? "present" : "absent");
    TEST_OK (ctx == NULL && err[0] != '\0', "create fails with a message: %s", err);
  }
  return test_done ();
}
