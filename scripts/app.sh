#!/usr/bin/env bash
# `make app`: installs what is missing (Debian packages, npm packages), builds the UI and
# the desktop app, and launches it. The first time, when there is no vault yet, the app
# opens on its first-run screen, where "Open the demo vault" creates the demo vault
# (passphrase shown on screen); TROVE_DEMO=1 creates it before launching instead.
# Idempotent: re-running only rebuilds what changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh build

scripts/ui-build.sh

cargo build -p trove-desktop
target=${CARGO_TARGET_DIR:-$root/target}
app="$target/debug/trove-desktop"

if [ "${TROVE_DEMO:-1}" = 1 ]; then
  # Creates the demo vault only when no vault exists at the default location (or
  # TROVE_VAULT); never touches an existing vault.
  "$app" --create-demo-if-missing
fi

exec "$app" "$@"
