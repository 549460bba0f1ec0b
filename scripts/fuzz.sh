#!/bin/sh
# Builds the fuzz targets of fuzz/ as libFuzzer programs (clang, -fsanitize=fuzzer with
# AddressSanitizer and UndefinedBehaviorSanitizer, every library instrumented for coverage) in
# a separate build directory, and runs each for a number of seconds.  Fails when a target
# crashes, leaks, times out on one input, or fails to build.
#
#   scripts/fuzz.sh [SECONDS]       default: $FUZZ_SECONDS, else 60
#   FUZZ_TARGETS="json job"         only these targets (default: all of fuzz/meson.build)
#   FUZZ_BUILD=build-fuzz           the build directory
#   FUZZ_RUNS=1000000               stop each target after this many executions (the seconds
#                                   still bound it); the long run is
#                                   FUZZ_RUNS=1000000 nice -n 19 scripts/fuzz.sh 7200
#
# Each target starts from its seeds in fuzz/corpus/NAME/ and the inputs earlier runs found
# (kept in $FUZZ_BUILD/corpus/NAME/, outside the tree).  A crashing input is written to
# $FUZZ_BUILD/artifacts/NAME-crash-... ; replay it with the target's program and the path.
# The last lines printed are one per target: executions, seconds, corpus size, result.
set -eu

cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-${FUZZ_SECONDS:-60}}
BUILD=${FUZZ_BUILD:-build-fuzz}
ALL="json request-body stream-control wav-header transcribe-options url-host job license-key wyoming-reader wyoming-audio pcm-converter model-loader
  vad-model"
TARGETS=${FUZZ_TARGETS:-$ALL}

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is needed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$BUILD" -Dfuzzing=true -Dcuda=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fsanitize=fuzzer-no-link -Dcpp_args=-fsanitize=fuzzer-no-link
fi
programs=""
for t in $TARGETS; do
  programs="$programs fuzz/fuzz-$t"
done
# shellcheck disable=SC2086
ninja -C "$BUILD" $programs

# fast_unwind_on_malloc stays on (the default): the slow unwinder on every allocation made the
# GLib-heavy targets twenty times slower; leak reports still have their stacks (frame pointers).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
export G_DEBUG=fatal-criticals
# GLib 2.74's slice allocator keeps freed blocks in its own magazines and takes new slabs from
# malloc now and then: an input that happens to take a slab looks to libFuzzer like one that
# leaks (more mallocs than frees), which costs a full leak scan of the heap, and after 1,000
# of those libFuzzer turns leak detection off for the rest of the run; the blocks themselves
# are invisible to AddressSanitizer.  Plain malloc for every block keeps both working.
export G_SLICE=always-malloc
mkdir -p "$BUILD/artifacts" "$BUILD/logs"
summary="$BUILD/fuzz-summary.txt"
printf '%-20s %12s %8s %8s %s\n' target executions seconds corpus result > "$summary"
failed=0
for t in $TARGETS; do
  mkdir -p "$BUILD/corpus/$t"
  log="$BUILD/logs/$t.log"
  start=$(date +%s)
  status=0
  # the largest input each target is given: its seeds' sizes by default; a target whose cost
  # grows with the input gets a bound past every limit it checks (see the target's comment)
  case $t in
    pcm-converter) max_len=512 ;;
    wyoming-audio) max_len=4096 ;;
    *) max_len=0 ;;
  esac
  # shellcheck disable=SC2086
  "$BUILD/fuzz/fuzz-$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -max_len=$max_len ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} \
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" \
    "$BUILD/corpus/$t" "fuzz/corpus/$t" > "$log" 2>&1 || status=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  units=$(find "$BUILD/corpus/$t" -type f | wc -l)
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $status, see $log)"
    failed=1
    tail -n 40 "$log" >&2
  fi
  printf '%-20s %12s %8s %8s %s\n' "$t" "${execs:-?}" "$took" "$units" "$result" >> "$summary"
done
cat "$summary"
exit $failed
