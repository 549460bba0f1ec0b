#!/bin/sh
# Installs the npm packages that a test folder's package-lock.json pins, into node_modules/
# beside it.  Quick when they are already installed and the lock file has not changed.
# Usage: install-node-deps.sh DIR...
set -eu

for dir in "$@"; do
  stamp="$dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ]; then
    continue
  fi
  echo "installing npm packages in $dir"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done
