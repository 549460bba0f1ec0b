#!/bin/sh
# SPDX-License-Identifier: MIT
# run-gpu-check-build.sh SCRIPT DIR — scripts/gpu-check.sh --build-only into DIR (what a GPU
# machine builds, with nvcc and cc alone), in TAP: it succeeded, and it made the kernel test
# and the benchmark.  The script's output goes to stderr.
"$1" --build-only --build-dir "$2" >&2
st=$?
if [ $st -eq 0 ]; then echo "ok 1 - gpu-check.sh --build-only succeeded"
else echo "not ok 1 - gpu-check.sh --build-only exited with $st"; fi
if [ -x "$2/test-cuda-kernels" ] && [ -x "$2/lmw-cuda-bench" ]; then
  echo "ok 2 - it built test-cuda-kernels and lmw-cuda-bench"
else
  echo "not ok 2 - test-cuda-kernels or lmw-cuda-bench missing from $2"
fi
echo "1..2"
