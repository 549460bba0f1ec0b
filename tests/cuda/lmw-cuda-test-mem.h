/* SPDX-License-Identifier: MIT */
/*
 * lmw-cuda-test-mem.h — device memory for the tests of tests/cuda, the same source on a GPU
 * and under emulation, and the skip of a GPU build on a machine without a device.
 *
 * Built with -DLMW_TEST_GPU (scripts/gpu-check.sh) these are cudaMalloc/cudaMemcpy/cudaFree;
 * otherwise (the emulated kernels read host memory) exact-size malloc and memcpy, so ASan and
 * valgrind see every byte a kernel reads or writes past a buffer.  Every failure ends the
 * test program with a TAP "Bail out!" line.
 */
#ifndef LMW_CUDA_TEST_MEM_H
#define LMW_CUDA_TEST_MEM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LMW_TEST_GPU
#include <cuda_runtime_api.h>
#endif

static inline void
die (const char *what)
{
  printf ("Bail out! %s\n", what);
  exit (1);
}

/* Built with -DLMW_TEST_GPU and no CUDA device found: reports the whole program as skipped (a
 * TAP plan of 0 with SKIP, which meson counts as skipped) and exits 0.  Otherwise nothing. */
static inline void
skip_without_device (void)
{
#ifdef LMW_TEST_GPU
  int n_devices = 0;
  cudaError_t e = cudaGetDeviceCount (&n_devices);
  if (e != cudaSuccess || n_devices == 0) {
    printf ("1..0 # SKIP no CUDA device (%s)\n",
            e != cudaSuccess ? cudaGetErrorString (e) : "none found");
    exit (0);
  }
#endif
}

/* n bytes of device memory (at least 1); never NULL */
static inline void *
dev_alloc (size_t n)
{
  void *p = NULL;
#ifdef LMW_TEST_GPU
  if (cudaMalloc (&p, n ? n : 1) != cudaSuccess)
    die ("cudaMalloc failed");
#else
  p = malloc (n ? n : 1);
  if (p == NULL)
    die ("out of memory");
#endif
  return p;
}

static inline void
dev_free (void *p)
{
#ifdef LMW_TEST_GPU
  cudaFree (p);
#else
  free (p);
#endif
}

static inline void
to_dev (void *d, const void *h, size_t n)
{
#ifdef LMW_TEST_GPU
  if (cudaMemcpy (d, h, n, cudaMemcpyHostToDevice) != cudaSuccess)
    die ("cudaMemcpy to the device failed");
#else
  memcpy (d, h, n);
#endif
}

static inline void
from_dev (void *h, const void *d, size_t n)
{
#ifdef LMW_TEST_GPU
  cudaError_t e = cudaMemcpy (h, d, n, cudaMemcpyDeviceToHost);
  if (e != cudaSuccess) {
    printf ("Bail out! cudaMemcpy from the device: %s\n", cudaGetErrorString (e));
    exit (1);
  }
#else
  memcpy (h, d, n);
#endif
}

/* a device copy of n bytes of h */
static inline void *
dev_dup (const void *h, size_t n)
{
  void *d = dev_alloc (n);
  to_dev (d, h, n);
  return d;
}

#endif /* LMW_CUDA_TEST_MEM_H */
