#!/bin/sh
# SPDX-License-Identifier: MIT
# run-bench-emu.sh BENCH — runs the GPU benchmark built on the emulated kernels (tiny shape, 48
# audio positions, 1 and 5 beams) and checks, in TAP, that every launch succeeded (exit 0) and
# that the table has the tiny row with its three times.  The benchmark's output goes to stderr.
out=$("$1" --models tiny --reps 1 --audio-ctx 48 --beams 1,5 --position 40)
st=$?
printf '%s\n' "$out" >&2
if [ $st -eq 0 ]; then echo "ok 1 - lmw-cuda-bench ran to the end on the emulated kernels"
else echo "not ok 1 - lmw-cuda-bench exited with $st"; fi
if printf '%s\n' "$out" | grep -Eq '^tiny +[0-9.]+ +[0-9.]+ +[0-9.]+$'; then
  echo "ok 2 - its table has the tiny row: encoder, decoder with 1 and with 5 beams"
else
  echo "not ok 2 - no tiny row with three times in its table"
fi
echo "1..2"
