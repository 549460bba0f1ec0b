#!/bin/sh
# Runs the benchmarks of bench/ against the build in $1 (default build) and prints their tables.
set -eu
BUILD=${1:-build}
export LMD_BUILD_DIR="$(cd "$BUILD" && pwd)"
for b in "$BUILD"/bench/*/bench-* "$BUILD"/bench/*/*-bench; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
  echo
done
