#!/usr/bin/env bash
# Builds the UI into ui/dist (the desktop app embeds it at compile time), first
# (re)installing its npm packages when they are missing or older than the lockfile.
set -euo pipefail
cd "$(dirname "$0")/../ui"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
npm run build --silent
