#!/bin/sh
# SPDX-License-Identifier: MIT
# run-bench-emu.sh BENCH — runs the GPU benchmark built on the emulated kernels (tiny shape, 48
# audio positions; encoder batches 1 and 3, 1 and 5 beams, decoder batches of 1 and 4
# requests, a 64^3 GEMM for the peak, the throughput of 4 requests of 60 s at 8 tokens per
# window) and checks, in TAP, that every launch succeeded (exit 0), that the table has the
# tiny row with its seven figures, the GEMM peak, the throughput line, the front end's line
# (the log-mel kernel's two passes over a window) and the graphs lines (the row-table step
# directly and as a captured graph), the cross_kv lines (the step's cross-attention on f16
# and on int8 K/V) and the beams line (a beam step of 2 x 5 rows: the bytes of its logits
# against those of its candidates chosen on the device).  The benchmark's
# output goes to stderr.
out=$("$1" --models tiny --reps 1 --audio-ctx 48 --beams 1,5 --position 40 --enc-batch 1,3 \
  --dec-batch 1,4 --peak 64 --requests 4 --seconds 60 --tokens 8 --throughput tiny \
  --beam-requests 2 --beam-width 5)
st=$?
printf '%s\n' "$out" >&2
if [ $st -eq 0 ]; then echo "ok 1 - lmw-cuda-bench ran to the end on the emulated kernels"
else echo "not ok 1 - lmw-cuda-bench exited with $st"; fi
if printf '%s\n' "$out" | grep -Eq '^tiny( +[0-9.]+){7}$'; then
  echo "ok 2 - its table has the tiny row: encoder at batch 1 and 3, TFLOP/s, decoder with 1 and 5 beams, at 1 and 4 requests"
else
  echo "not ok 2 - no tiny row with seven figures in its table"
fi
if printf '%s\n' "$out" | grep -Eq 'cuBLAS f16 GEMM 64\^3: [0-9.]+ TFLOP/s'; then
  echo "ok 3 - the GEMM peak is measured"
else
  echo "not ok 3 - no GEMM peak"
fi
if printf '%s\n' "$out" | grep -Eq '^throughput tiny +4 x 60 s, 8 tokens/window: [0-9.]+ s of GPU work, [0-9]+ audio-hours/hour$'; then
  echo "ok 4 - the throughput line of 4 requests of 60 s"
else
  echo "not ok 4 - no throughput line"
fi
if printf '%s\n' "$out" | grep -Eq '^front end: log-mel of one [0-9]+-frame window from its samples \(maximum \+ frames\): [0-9.]+ ms with 80 bands, [0-9.]+ ms with 128$'; then
  echo "ok 5 - the front end's line"
else
  echo "not ok 5 - no front end line"
fi
if printf '%s\n' "$out" | grep -Eq '^graphs tiny +R=1 +table step [0-9.]+ ms direct, [0-9.]+ ms as a CUDA graph' &&
   printf '%s\n' "$out" | grep -Eq '^graphs tiny +R=4 +table step [0-9.]+ ms direct'; then
  echo "ok 6 - the row-table step of 1 and 4 requests, directly and replayed as a CUDA graph"
else
  echo "not ok 6 - no graphs lines for R=1 and R=4"
fi
if printf '%s\n' "$out" | grep -Eq '^cross_kv f16  tiny +4 x 5 beams: cross-attention [0-9.]+ ms per step \(4 layers\), [0-9.]+ MB of K/V read' &&
   printf '%s\n' "$out" | grep -Eq '^cross_kv int8 tiny +4 x 5 beams: cross-attention [0-9.]+ ms per step \(4 layers\), [0-9.]+ MB of K/V read'; then
  echo "ok 7 - the step's cross-attention of 4 requests of 5 beams on f16 and on int8 K/V"
else
  echo "not ok 7 - no cross_kv lines for f16 and int8"
fi
if printf '%s\n' "$out" | grep -Eq '^beams 2 x 5 \(10 rows\): logits 2074600 bytes/step, download [0-9.]+ ms \+ host top-6 [0-9.]+ ms; on the device 480 bytes/step, top-6 kernel [0-9.]+ ms \+ download [0-9.]+ ms$'; then
  echo "ok 8 - the beam step's line: 2 x 5 rows, 2074600 bytes of logits against 480 bytes of candidates"
else
  echo "not ok 8 - no beams line for 2 x 5 rows"
fi
echo "1..8"
