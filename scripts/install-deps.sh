#!/bin/sh
# Installs the Debian packages lightning-mediad needs to build, run and test.
# Idempotent and quick when everything is already installed.
set -eu

PACKAGES="
  gcc clang pkg-config meson ninja-build python3
  libglib2.0-dev libsoup-3.0-dev libjson-glib-dev libcurl4-openssl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx-testdata pocketsphinx
  gstreamer1.0-pocketsphinx
  libopenblas-dev
  valgrind
  libsodium-dev
  libhiredis-dev redis-server zlib1g-dev
  chromium
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

# Node.js runs the tests that drive the server with official client SDKs and a browser.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing="$missing nodejs npm"
fi

if [ -n "$missing" ]; then
  echo "installing:$missing"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# The npm packages of every test folder that pins some (tests/*/package-lock.json).
here=$(dirname "$0")
for lock in "$here"/../tests/*/package-lock.json; do
  [ -f "$lock" ] || continue
  "$here/install-node-deps.sh" "$(dirname "$lock")"
done
