#!/bin/sh
# Runs the benchmarks of bench/ against the build in $1 (default build) and prints their tables.
set -eu
BUILD=${1:-build}
export LMD_BUILD_DIR="$(cd "$BUILD" && pwd)"
for b in "$BUILD"/bench/*/bench-* "$BUILD"/bench/*/*-bench; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  case "$(basename "$b")" in
    # an hour by default: here SOAK_MINUTES (5) of it
    bench-soak) "$b" --minutes "${SOAK_MINUTES:-5}" --warmup 1 ;;
    *) "$b" ;;
  esac
  echo
done
