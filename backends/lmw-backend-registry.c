/* SPDX-License-Identifier: MIT */
/*
 * lmw-backend-registry.c — the backends this build knows and how one is chosen.
 *
 *   cpu       the reference, always present;
 *   cuda-emu  the CUDA backend's host code and kernels run on the CPU (built with the kernels
 *             under the emulation header and a host twin of cuBLAS); chosen only by name;
 *   cuda      the CUDA backend proper, a separate module (liblmw-backend-cuda.so, linked with
 *             the CUDA runtime and cuBLAS) opened on first use, and only after the driver
 *             library (libcuda.so.1) has been opened and reports a device, so a build made
 *             with nvcc runs on machines without a GPU.
 *
 * "auto" takes the usable backend with the highest score (cuda 100, cpu 1) and records why a
 * better one was passed over, for the one log line the server writes.
 *
 * Environment: LMW_CUDA_MODULE, the path of the CUDA module (default: where the build installs
 * it, then where the build made it, then the name alone through the dynamic linker's path).
 */
#include "lmw-backend.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LMW_HAVE_CUDA_EMU
const lmw_backend_ops *lmw_backend_cuda_emu (void);
#endif

#define CUDA_MODULE_NAME "liblmw-backend-cuda.so"
#define CUDA_ENTRY "lmw_backend_cuda_entry"

typedef const lmw_backend_ops *(*cuda_entry_fn) (int api_version);

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static const lmw_backend_ops *cuda_ops; /* set once by load_cuda */
static char cuda_why[240];

/* the driver API's first two calls, looked up by name so that nothing links libcuda */
typedef int (*cu_init_fn) (unsigned flags);
typedef int (*cu_count_fn) (int *count);

static void
load_cuda (void)
{
#ifdef LMW_HAVE_CUDA_MODULE
  void *drv = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (drv == NULL) {
    const char *e = dlerror ();
    snprintf (cuda_why, sizeof cuda_why, "no CUDA driver (%s)", e ? e : "libcuda.so.1 not found");
    return;
  }
  cu_init_fn cu_init = (cu_init_fn) dlsym (drv, "cuInit");
  cu_count_fn cu_count = (cu_count_fn) dlsym (drv, "cuDeviceGetCount");
  int count = 0, rc = cu_init ? cu_init (0) : -1;
  if (rc == 0 && cu_count != NULL)
    rc = cu_count (&count);
  if (rc != 0 || count < 1) {
    if (rc != 0)
      snprintf (cuda_why, sizeof cuda_why, "the CUDA driver found no usable device (cuInit or "
                "cuDeviceGetCount: error %d)", rc);
    else
      snprintf (cuda_why, sizeof cuda_why, "the CUDA driver reports no device");
    return; /* the driver stays open: unloading it is not supported */
  }
  const char *path = getenv ("LMW_CUDA_MODULE");
  void *mod = NULL;
  char first_error[200] = "";
  if (path != NULL && path[0] != '\0') {
    mod = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  } else {
#ifdef LMW_CUDA_MODULE_PATH
#ifndef LMW_CUDA_MODULE_BUILD_PATH
#define LMW_CUDA_MODULE_BUILD_PATH LMW_CUDA_MODULE_PATH
#endif
    const char *builtin[] = { LMW_CUDA_MODULE_PATH, LMW_CUDA_MODULE_BUILD_PATH };
    for (size_t i = 0; mod == NULL && i < sizeof builtin / sizeof builtin[0]; i++) {
      path = builtin[i];
      mod = dlopen (path, RTLD_NOW | RTLD_LOCAL);
      if (mod == NULL && i == 0) {
        const char *e = dlerror ();
        snprintf (first_error, sizeof first_error, "%s", e ? e : "");
      }
    }
#endif
    if (mod == NULL) {
      path = CUDA_MODULE_NAME;
      mod = dlopen (path, RTLD_NOW | RTLD_LOCAL);
    }
  }
  if (mod == NULL) {
    const char *e = dlerror ();
    snprintf (cuda_why, sizeof cuda_why, "%d CUDA device%s, but the CUDA module can't be opened "
              "(%s%s%s)", count, count == 1 ? "" : "s", first_error, first_error[0] ? "; " : "",
              e ? e : path);
    return;
  }
  cuda_entry_fn entry = (cuda_entry_fn) dlsym (mod, CUDA_ENTRY);
  const lmw_backend_ops *ops = entry ? entry (LMW_BACKEND_VERSION) : NULL;
  if (ops == NULL || ops->version != LMW_BACKEND_VERSION) {
    snprintf (cuda_why, sizeof cuda_why, "%s: %s", path, entry ? "built for another backend "
              "version" : "no entry point " CUDA_ENTRY);
    return;
  }
  if (ops->score () <= 0) {
    snprintf (cuda_why, sizeof cuda_why, "%s: the CUDA runtime can't use the device (GPU_DEVICE_ID "
              "or a driver older than the runtime)", path);
    return;
  }
  cuda_ops = ops;
#else
  snprintf (cuda_why, sizeof cuda_why, "this build has no CUDA backend (nvcc was not found)");
#endif
}

static const lmw_backend_ops *
backend_cuda (void)
{
  pthread_once (&cuda_once, load_cuda);
  return cuda_ops;
}

static void
set_why (char *why, size_t len, const char *fmt, const char *arg)
{
  if (why != NULL && len > 0)
    snprintf (why, len, fmt, arg);
}

const lmw_backend_ops *
lmw_backend_find (const char *name, char *why, size_t why_len)
{
  set_why (why, why_len, "%s", "");
  if (name == NULL || name[0] == '\0' || strcmp (name, "auto") == 0) {
    const lmw_backend_ops *cuda = backend_cuda ();
    if (cuda != NULL)
      return cuda;
    set_why (why, why_len, "%s", cuda_why);
    return lmw_backend_cpu ();
  }
  if (strcmp (name, "cpu") == 0)
    return lmw_backend_cpu ();
  if (strcmp (name, "cuda") == 0) {
    const lmw_backend_ops *cuda = backend_cuda ();
    if (cuda == NULL)
      set_why (why, why_len, "%s", cuda_why);
    return cuda;
  }
  if (strcmp (name, "cuda-emu") == 0) {
#ifdef LMW_HAVE_CUDA_EMU
    return lmw_backend_cuda_emu ();
#else
    set_why (why, why_len, "%s", "this build has no cuda-emu backend (it needs a C++ compiler)");
    return NULL;
#endif
  }
  set_why (why, why_len, "unknown backend \"%s\" (auto, cpu, cuda or cuda-emu)", name);
  return NULL;
}
