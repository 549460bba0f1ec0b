#!/bin/bash
# SPDX-License-Identifier: MIT
#
# body-rss.sh — the memory one client population can make lightning-mediad hold with request
# bodies (issue 21's repro), measured on loopback.
#
#   bench/body/body-rss.sh [BUILD_DIR]
#
# Scenario "flood": N_FLOOD (34) clients POST MB (99) MB each to /v1/listen at once (role all,
# no license).  Scenario "keyless": a license is configured (a key made with the build's
# lightning-license) and N_KEYLESS (20) clients POST MB MB each without a key.  For each, the
# daemon's /proc status is sampled every 50 ms: the peak VmRSS, RssAnon (heap) and RssFile
# (file-backed pages, e.g. a body mapped from its spool file), and VmHWM at the end; the
# clients' status codes are counted.  Every curl has a 120 s limit; the daemon is stopped at
# the end of each scenario.  Needs curl; uses MB MB of the temp directory.
set -eu

BUILD=$(cd "${1:-build}" && pwd)
N_FLOOD=${N_FLOOD:-34}
N_KEYLESS=${N_KEYLESS:-20}
MB=${MB:-99}
DAEMON="$BUILD/server/lightning-mediad"
export LD_LIBRARY_PATH="$BUILD/server:$BUILD/plugins/http:$BUILD/plugins/license:$BUILD/plugins/sphinx:$BUILD/plugins/gst-decoder"
export GIO_USE_PROXY_RESOLVER=dummy

tmp=$(mktemp -d)
pid=""
cleanup () {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

head -c $((MB * 1024 * 1024)) /dev/zero > "$tmp/body"

# start_daemon CONFIG_TEXT: sets pid and port
start_daemon () {
  printf '%s' "$1" > "$tmp/conf"
  rm -f "$tmp/port"
  "$DAEMON" --config "$tmp/conf" --port=0 --port-file="$tmp/port" 2> "$tmp/log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  port=$(cat "$tmp/port")
}

stop_daemon () {
  kill "$pid"; wait "$pid" || true; pid=""
}

# sample PID FLAG OUT: peaks of VmRSS, RssAnon, RssFile (kB) until FLAG exists
sample () {
  local max_rss=0 max_anon=0 max_file=0 rss anon file
  while [ ! -e "$2" ] && [ -e "/proc/$1/status" ]; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    file=$(awk '/^RssFile:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$max_rss" ] && max_rss=$rss
    [ "${anon:-0}" -gt "$max_anon" ] && max_anon=$anon
    [ "${file:-0}" -gt "$max_file" ] && max_file=$file
    sleep 0.05
  done
  echo "$max_rss $max_anon $max_file" > "$3"
}

# run NAME N [curl args...]
run () {
  local name=$1 n=$2; shift 2
  local base hwm
  base=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
  rm -f "$tmp/done" "$tmp/codes"
  sample "$pid" "$tmp/done" "$tmp/peak" &
  local sampler=$!
  local start=$(date +%s.%N) clients=()
  for _ in $(seq "$n"); do
    curl -s -o /dev/null -w '%{http_code}\n' -m 120 -H 'Content-Type: audio/wav' \
         --data-binary @"$tmp/body" "$@" "http://127.0.0.1:$port/v1/listen" >> "$tmp/codes" &
    clients+=($!)
  done
  wait "${clients[@]}" || true
  local end=$(date +%s.%N)
  touch "$tmp/done"; wait "$sampler"
  hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
  read -r peak anon file < "$tmp/peak"
  printf '%s: %d clients x %d MB in %.1f s; daemon VmRSS %d MB before, peak %d MB (RssAnon %d MB, RssFile %d MB), VmHWM %d MB; answers: %s\n' \
    "$name" "$n" "$MB" "$(echo "$end - $start" | bc)" $((base / 1024)) $((peak / 1024)) $((anon / 1024)) \
    $((file / 1024)) $((hwm / 1024)) "$(sort "$tmp/codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')"
}

echo "build: $BUILD"
start_daemon $'[plugins]\nload=http;gst-decoder;sphinx\n[limits]\nworkers=2\n'
run flood "$N_FLOOD"
stop_daemon

"$BUILD/plugins/license/lightning-license" keygen --out "$tmp/vendor" > /dev/null
key=$("$BUILD/plugins/license/lightning-license" issue --signing-key "$tmp/vendor.key" --licensee Bench --days 30)
mkdir -p "$tmp/state"
start_daemon "[plugins]
load=http;gst-decoder;sphinx;license
[limits]
workers=2
[license]
key=$key
public_keys=$tmp/vendor.pub
state_dir=$tmp/state
"
run keyless "$N_KEYLESS"
stop_daemon
