#!/bin/sh
# SPDX-License-Identifier: MIT
#
# gpu-check.sh — the CUDA checks of a machine with an NVIDIA GPU, built with nvcc and cc alone
# (no meson, GLib, GStreamer or libsoup: the inference core and the backends are plain C).
#
#   scripts/gpu-check.sh [--build-only] [--dry-run] [--build-dir DIR] [--models LIST]
#                        [--reps N] [--no-bench] [--no-hf]
#
# Steps, each reported in the table printed last:
#   build     backends/cpu/*.c with $CC; every backends/cuda/*.cu with $NVCC for sm_80 and
#             sm_90 ($GPU_CHECK_ARCHS); the CUDA backend module liblmw-backend-cuda.so from
#             backends/cuda/*.c (not the *-emu.c twins) and the kernels; the inference core
#             (plugins/whisper/core/*.c, backends/lmw-backend-registry.c; needs zlib.h);
#             each tests/cuda/test-*.c (compiled with -DLMW_TEST_GPU, linked with the CPU
#             backend, the kernels, cuBLAS and the CUDA runtime); tests/whisper/
#             test-whisper-parity.c; bench/cuda/lmw-cuda-bench.c;
#   test      every tests/cuda program, TAP, on the GPU; then the parity test of the whole
#             CUDA backend (LMW_CUDA_MODULE=the module built here) on both fixtures
#             ($LMD_FIXTURES_DIR, default tests/fixtures when present, else ../shared/fixtures);
#   memcheck  the tests/cuda programs and the parity test on one fixture under
#             compute-sanitizer --tool memcheck, when it is installed;
#   bench     lmw-cuda-bench: encoder time per 30 s window at batch 1 and 16 (windows of
#             different requests in one pass) and its TFLOP/s next to the measured cuBLAS GEMM
#             peak, decoder time per token (1 and 5 beams) and per batched step of 1, 32 and 64
#             requests, for the tiny, base, small, medium and large-v3 shapes with random
#             weights; the batched step from the row table (lmw-cuda-step.h) issued directly
#             and replayed as a CUDA graph (the `graphs` lines); a beam step of 64 x 5 rows, its
#             logits downloaded and ranked on the host against the top-k kernel (`beams`); the audio-hours per hour of 64 concurrent 60 s requests of the base and
#             large-v3 shapes at 100 tokens per window, greedy;
#   hf        bench/cuda/hf-whisper-bench.py, the same throughput workload through Hugging
#             Face transformers (fp16, batched greedy generation, random weights of the same
#             shapes), where torch and transformers import: its audio-hours per hour and the
#             ratio ours / theirs.
# A GPU test is any tests/cuda/test-*.c: add a file there and this script builds and runs it.
# --build-only builds and stops (what CI without a GPU can check); --dry-run prints the
# commands without running them.  Exit status 0 when every step that ran passed; a parity
# test that skips while nvidia-smi lists a GPU counts as a failure (the module did not load).
# Time budget: the steps run in the order build, test, parity, bench, memcheck, hf (what the
# CUDA backend's correctness needs first), each under a timeout that ends by
# $GPU_CHECK_BUDGET_S seconds (default 400) after the start; a step with less than 20 s of
# the budget left is skipped ("skipped (time budget)"), so that the whole run ends within
# 7 minutes and one lease of a GPU machine can run it twice.  Each row of the table gives
# the step's seconds.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$CUDA_HOME/bin/nvcc}
CC=${CC:-cc}
ARCHS=${GPU_CHECK_ARCHS:-80 90}
B=$ROOT/build-gpu
DRY=0
BUILD_ONLY=0
BENCH=1
HF=1
MODELS=tiny,base,small,medium,large-v3
REPS=5

while [ $# -gt 0 ]; do
  case $1 in
  --build-only) BUILD_ONLY=1 ;;
  --dry-run) DRY=1 ;;
  --no-bench) BENCH=0 ;;
  --no-hf) HF=0 ;;
  --build-dir) B=$2; shift ;;
  --models) MODELS=$2; shift ;;
  --reps) REPS=$2; shift ;;
  -h | --help) sed -n '3,41p' "$0"; exit 0 ;;
  *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -x "$NVCC" ]; then
  NVCC=$(command -v nvcc || true)
  if [ -z "$NVCC" ]; then
    echo "gpu-check: nvcc not found (set CUDA_HOME or NVCC)" >&2
    exit 2
  fi
  CUDA_HOME=$(dirname "$(dirname "$NVCC")")
fi
CUDA_LIB=$CUDA_HOME/lib64
[ -d "$CUDA_LIB" ] || CUDA_LIB=$CUDA_HOME/lib

SUMMARY=""
FAILED=0
BUDGET=${GPU_CHECK_BUDGET_S:-400}
START=$(date +%s)
STEP_START=$START
# record NAME RESULT: one row of the final table, with the seconds since the previous row
record() {
  now=$(date +%s)
  SUMMARY="$SUMMARY$(printf '%-40s %4ss  %s' "$1" "$((now - STEP_START))" "$2")
"
  STEP_START=$now
  case $2 in ok* | skipped* | dry-run*) ;; *) FAILED=1 ;; esac
}

# left: seconds of the budget left
left() {
  echo $((BUDGET - ($(date +%s) - START)))
}

# limit CAP: "timeout N" with N = CAP or what the budget leaves, whichever is less; empty when
# there is no timeout(1).  Returns 1 (and prints nothing) when less than 20 s are left.
limit() {
  l=$(left)
  [ "$l" -lt 20 ] && return 1
  [ -z "$HAVE_TIMEOUT" ] && return 0
  [ "$1" -lt "$l" ] && l=$1
  echo "timeout $l"
}

# run COMMAND...: echoed on stderr; not run with --dry-run
run() {
  echo "+ $*" >&2
  [ $DRY = 1 ] && return 0
  "$@"
}

CFLAGS="-std=gnu11 -O2 -g -fPIC -Wall -Wno-unused-parameter -Wno-missing-field-initializers -fno-strict-aliasing"
INC="-I$ROOT/backends -I$ROOT/backends/cpu -I$ROOT/backends/cuda -I$ROOT/plugins/whisper/core -I$ROOT/tests/whisper -I$CUDA_HOME/include"
GENCODE=""
for a in $ARCHS; do
  GENCODE="$GENCODE -gencode=arch=compute_$a,code=sm_$a"
done

# ---- build ------------------------------------------------------------------------------
# objects: $CPU (the CPU backend), $KERNELS (every backends/cuda/*.cu), $CORE (the inference
# core and, when present, the backend registry); $MODULE: the CUDA backend module
build() {
  run mkdir -p "$B/obj" || return 1
  CPU=""
  for f in "$ROOT"/backends/cpu/*.c; do
    o=$B/obj/cpu-$(basename "$f" .c).o
    run $CC $CFLAGS $INC -c "$f" -o "$o" || return 1
    CPU="$CPU $o"
  done
  KERNELS=""
  for f in "$ROOT"/backends/cuda/*.cu; do
    [ -e "$f" ] || continue
    o=$B/obj/cuda-$(basename "$f" .cu).o
    run "$NVCC" -std=c++17 -O3 $GENCODE -Xcompiler=-fPIC $INC -c "$f" -o "$o" || return 1
    KERNELS="$KERNELS $o"
  done
  CUDA_LIBS="-L$CUDA_LIB -Wl,-rpath,$CUDA_LIB -lcublasLt -lcublas -lcudart -lstdc++ -lm -lpthread -ldl"

  # the CUDA backend module: backends/cuda/*.c but their emulated twins (*-emu.c), with the
  # kernels, opened by the registry at run time (LMW_CUDA_MODULE)
  MODULE=""
  host=""
  for f in "$ROOT"/backends/cuda/*.c; do
    case $f in *-emu.c) continue ;; esac
    [ -e "$f" ] && host="$host $f"
  done
  if [ -n "$host" ]; then
    MODULE=$B/liblmw-backend-cuda.so
    run $CC $CFLAGS -fvisibility=hidden $INC -shared -Wl,-Bsymbolic -Wl,--no-undefined $host \
      "$ROOT/backends/cpu/lmw-types.c" $KERNELS $CUDA_LIBS -o "$MODULE" || return 1
  fi

  CORE=""
  if [ -e "$ROOT/backends/lmw-backend-registry.c" ]; then
    o=$B/obj/lmw-backend-registry.o
    reg=""
    [ -n "$MODULE" ] && reg="-DLMW_HAVE_CUDA_MODULE=1"
    run $CC $CFLAGS $reg $INC -c "$ROOT/backends/lmw-backend-registry.c" -o "$o" || return 1
    CORE="$o"
  fi
  LIBZ=""
  ZINC=""
  if printf '#include <zlib.h>\n' | $CC -E - >/dev/null 2>&1; then
    LIBZ=-lz
  elif printf 'int main (void) { return 0; }\n' | $CC -x c - -l:libz.so.1 -o "$B/zlib-probe" 2>/dev/null; then
    # no zlib headers (no -dev package), but the library: the two functions the core calls
    # (lmw_compression_ratio), declared as zlib declares them
    echo "gpu-check: zlib.h not found: declaring compressBound and compress2 of libz.so.1" >&2
    run mkdir -p "$B/zlib-decl" || return 1
    [ $DRY = 1 ] || cat >"$B/zlib-decl/zlib.h" <<'ZEOF'
typedef unsigned char Bytef;
typedef unsigned long uLong;
typedef uLong uLongf;
#define Z_OK 0
#define Z_DEFAULT_COMPRESSION (-1)
uLong compressBound (uLong sourceLen);
int compress2 (Bytef *dest, uLongf *destLen, const Bytef *source, uLong sourceLen, int level);
ZEOF
    ZINC="-I$B/zlib-decl"
    LIBZ=-l:libz.so.1
  fi
  if [ -n "$LIBZ" ]; then
    for f in "$ROOT"/plugins/whisper/core/*.c; do
      o=$B/obj/core-$(basename "$f" .c).o
      run $CC $CFLAGS $INC $ZINC -c "$f" -o "$o" || return 1
      CORE="$CORE $o"
    done
  else
    echo "gpu-check: neither zlib.h nor libz.so.1: the inference core and the parity tests are left out" >&2
    CORE=""
  fi

  PROGRAMS=""
  for f in "$ROOT"/tests/cuda/test-*.c; do
    [ -e "$f" ] || continue
    p=$B/$(basename "$f" .c)
    if run $CC $CFLAGS -DLMW_TEST_GPU=1 $INC "$f" $CPU $KERNELS $CUDA_LIBS -o "$p"; then
      PROGRAMS="$PROGRAMS $p"
    else
      record "build $(basename "$f" .c)" "FAILED"
    fi
  done
  PARITY=""
  if [ -n "$CORE" ] && [ -n "$MODULE" ] && [ -e "$ROOT/tests/whisper/test-whisper-parity.c" ]; then
    PARITY=$B/test-whisper-parity
    run $CC $CFLAGS $INC "$ROOT/tests/whisper/test-whisper-parity.c" $CORE $CPU \
      -lm -lpthread -ldl $LIBZ -o "$PARITY" || return 1
  fi
  run $CC $CFLAGS $INC "$ROOT/bench/cuda/lmw-cuda-bench.c" $CPU $KERNELS $CUDA_LIBS \
    -o "$B/lmw-cuda-bench" || return 1
  return 0
}

if build; then
  record "build (nvcc $(echo $ARCHS | tr ' ' ','), cc)" "ok"
else
  record "build (nvcc $(echo $ARCHS | tr ' ' ','), cc)" "FAILED"
  printf '\n%s' "$SUMMARY"
  exit 1
fi

if [ $BUILD_ONLY = 1 ] || [ $DRY = 1 ]; then
  [ $DRY = 1 ] && record "test, memcheck, bench" "dry-run: not run"
  [ $BUILD_ONLY = 1 ] && record "test, memcheck, bench" "skipped (--build-only)"
  printf '\n%s' "$SUMMARY"
  exit $FAILED
fi

# ---- test ---------------------------------------------------------------------------------
if [ -z "${LMD_FIXTURES_DIR:-}" ]; then
  if [ -d "$ROOT/tests/fixtures/whisper" ]; then
    LMD_FIXTURES_DIR=$ROOT/tests/fixtures
  else
    LMD_FIXTURES_DIR=$ROOT/../shared/fixtures
  fi
fi
export LMD_FIXTURES_DIR

HAVE_TIMEOUT=""
command -v timeout >/dev/null 2>&1 && HAVE_TIMEOUT=1
OVER="skipped (time budget of ${BUDGET} s spent)"
GPU_LISTED=0
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU' && GPU_LISTED=1

# tap_result LOG STATUS: "ok (N passed)", "skipped (...)" or "FAILED (...)"
tap_result() {
  pass=$(grep -c '^ok ' "$1")
  fail=$(grep -c '^not ok ' "$1")
  if [ "$2" -ne 0 ] || [ "$fail" -ne 0 ]; then
    echo "FAILED ($fail of $((pass + fail)) failed, exit $2)"
  elif grep -q '^1\.\.0 # SKIP' "$1"; then
    echo "skipped ($(sed -n 's/^1\.\.0 # SKIP //p' "$1" | head -n 1))"
  else
    echo "ok ($pass passed)"
  fi
}

SANITIZER=$(command -v compute-sanitizer || true)
[ -z "$SANITIZER" ] && [ -x "$CUDA_HOME/bin/compute-sanitizer" ] && SANITIZER=$CUDA_HOME/bin/compute-sanitizer
[ -z "$SANITIZER" ] && [ -x "$CUDA_HOME/compute-sanitizer/compute-sanitizer" ] &&
  SANITIZER=$CUDA_HOME/compute-sanitizer/compute-sanitizer

for p in $PROGRAMS; do
  name=$(basename "$p")
  echo "== $name" >&2
  if ! TO=$(limit 120); then
    record "test $name" "$OVER"
    continue
  fi
  $TO "$p" >"$p.log" 2>"$p.err"
  st=$?
  grep -E '^(not ok|#)' "$p.log" >&2
  record "test $name" "$(tap_result "$p.log" $st)"
done

# the whole CUDA backend against the fixtures and the CPU backend, on the GPU
if [ -n "${PARITY:-}" ]; then
  export LMW_CUDA_MODULE=$MODULE
  for fixture in tiny-en-random tiny-v3-random; do
    name="parity cuda $fixture"
    echo "== $name" >&2
    log=$B/parity-$fixture.log
    if ! TO=$(limit 150); then
      record "$name" "FAILED (the time budget was spent before it ran)"
      continue
    fi
    $TO "$PARITY" "$fixture" cuda >"$log" 2>"$log.err"
    st=$?
    grep -E '^(not ok|#)' "$log" >&2
    res=$(tap_result "$log" $st)
    case $res in
    skipped*) [ $GPU_LISTED = 1 ] && res="FAILED (${res#skipped } while nvidia-smi lists a GPU)" ;;
    esac
    record "$name" "$res"
  done
else
  record "parity (CUDA backend)" "FAILED (no backend module, core or zlib in this tree)"
fi

# ---- bench --------------------------------------------------------------------------------
BENCH_TABLE=""
if [ $BENCH = 1 ]; then
  echo "== lmw-cuda-bench" >&2
  if ! TO=$(limit 150); then
    record "bench ($MODELS)" "$OVER"
  elif BENCH_TABLE=$($TO "$B/lmw-cuda-bench" --models "$MODELS" --reps "$REPS" 2>"$B/bench.err"); then
    record "bench ($MODELS)" "ok"
  else
    cat "$B/bench.err" >&2
    record "bench ($MODELS)" "FAILED (see $B/bench.err)"
  fi
fi

# ---- memcheck: the kernel tests, then the parity test on one fixture ----------------------
# memcheck_run NAME LOG COMMAND...: one row
memcheck_run() {
  name=$1 log=$2
  shift 2
  echo "== memcheck $name" >&2
  if [ -z "$SANITIZER" ]; then
    record "memcheck $name" "skipped (no compute-sanitizer)"
    return
  fi
  if ! TO=$(limit 120); then
    record "memcheck $name" "$OVER"
    return
  fi
  $TO "$SANITIZER" --tool memcheck --error-exitcode 99 --print-limit 20 "$@" >"$log" 2>&1
  st=$?
  if [ $st -eq 0 ]; then
    record "memcheck $name" "ok ($(grep -c '^ok ' "$log") passed, no errors)"
  elif [ $st -eq 124 ] && ! grep -Eq '^========= +(Invalid|Program hit|Error|Out-of-range)' "$log"; then
    # the limit stopped it: what ran was clean, the rest is unchecked
    record "memcheck $name" "skipped (stopped by its time limit after $(grep -c '^ok ' "$log") passed; no error reported until then)"
  else
    tail -n 30 "$log" >&2
    record "memcheck $name" "FAILED (exit $st, log $log)"
  fi
}
for p in $PROGRAMS; do
  memcheck_run "$(basename "$p")" "$p.memcheck.log" "$p"
done
if [ -n "${PARITY:-}" ]; then
  memcheck_run "parity tiny-en-random" "$B/parity.memcheck.log" "$PARITY" tiny-en-random cuda
fi

# ---- the same workload through transformers ------------------------------------------------
HF_TABLE=""
PY=$(command -v python3 || true)
if [ $BENCH = 1 ] && [ $HF = 1 ] && [ -n "$PY" ] && [ -n "$BENCH_TABLE" ]; then
  if "$PY" -c 'import torch, transformers' 2>/dev/null; then
    echo "== hf-whisper-bench" >&2
    if ! TO=$(limit 420); then
      record "hf transformers (base, large-v3)" "$OVER"
    elif HF_OUT=$($TO "$PY" "$ROOT/bench/cuda/hf-whisper-bench.py" \
        --models base,large-v3 --requests 64 --seconds 60 --tokens 100 2>"$B/hf.err"); then
      record "hf transformers (base, large-v3)" "ok"
      # ratio ours / theirs from the two "audio-hours/hour" figures of each shape
      HF_TABLE=$(printf '%s\n' "$HF_OUT"
        for m in base large-v3; do
          ours=$(printf '%s\n' "$BENCH_TABLE" | sed -n "s/^throughput $m .* \([0-9][0-9]*\) audio-hours\/hour$/\1/p")
          theirs=$(printf '%s\n' "$HF_OUT" | sed -n "s/^hf $m .* \([0-9][0-9]*\) audio-hours\/hour$/\1/p")
          if [ -n "$ours" ] && [ -n "$theirs" ] && [ "$theirs" -gt 0 ]; then
            awk -v m="$m" -v o="$ours" -v t="$theirs" \
              'BEGIN { printf "ratio %-9s ours / transformers: %.2f\n", m, o / t }'
          fi
        done)
    else
      cat "$B/hf.err" >&2
      record "hf transformers (base, large-v3)" "FAILED (see $B/hf.err)"
    fi
  else
    record "hf transformers" "skipped (torch or transformers do not import)"
  fi
fi

SUMMARY="$SUMMARY$(printf '%-40s %4ss  %s' total "$(($(date +%s) - START))" "of a ${BUDGET} s budget")
"
printf '\n%s' "$SUMMARY"
[ -n "$BENCH_TABLE" ] && printf '\n%s\n' "$BENCH_TABLE"
[ -n "$HF_TABLE" ] && printf '%s\n' "$HF_TABLE"
exit $FAILED
