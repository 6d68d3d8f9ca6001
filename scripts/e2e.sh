#!/usr/bin/env bash
# End-to-end tests of the real desktop app: builds the UI and the debug app, then runs
# tests/e2e/app.test.mjs through tauri-driver + WebKitWebDriver under Xvfb with a private
# session bus, in a throwaway HOME. Saves screenshots of the main screens into
# $CARGO_TARGET_DIR/screenshots/ (never into the repository: `make screenshots` runs this
# with SCREENSHOT_DIR=docs/screenshots to update the committed ones). The organization in the story is trove-client's example `org`; the
# `trove` CLI and the reference `age` check exported bundles independently of the app.
# Remote sharing is read by `trove-org` through an iroh relay on loopback (trove-client's
# example `local_relay`) and staged grants from an s3s-fs server on loopback (trove-client's
# example `s3_server`): nothing contacts a public relay or a real storage service.
# Exits non-zero when anything fails; always stops what it started.
#
#   scripts/e2e.sh                                  # screenshots under the target dir
#   SCREENSHOT_DIR=docs/screenshots scripts/e2e.sh  # what `make screenshots` does
#   E2E_ONLY="the demo vault" scripts/e2e.sh        # only the describe blocks (or tests)
#                                                   # whose name matches (node --test-name-pattern)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh test

# The UI first: generate_context! embeds ui/dist into the binary at compile time.
scripts/ui-build.sh
if [ ! -d tests/e2e/node_modules ]; then (cd tests/e2e && npm install --no-audit --no-fund); fi

target=${CARGO_TARGET_DIR:-$root/target}
cargo build -p trove-desktop
# Separate invocations: building them together would unify features across the three
# and rebuild tauri's dependency tree (PLATFORM.md, "Keep one build scope").
# The organization's side: the example `org` (loopback HTTP), `trove-org` (share links,
# live over iroh or from staged storage) and an iroh relay on loopback (`test-utils`).
cargo build -p trove-client --example org --example local_relay --example s3_server --bin trove-org --features test-utils,local-s3
cargo build -p trove-cli
app="$target/debug/trove-desktop"
# Relative SCREENSHOT_DIR values are taken from the repository root.
shots=${SCREENSHOT_DIR:-$target/screenshots}
case $shots in /*) ;; *) shots="$root/$shots" ;; esac
mkdir -p "$shots"
driver=$(command -v tauri-driver)

tmp=$(mktemp -d /tmp/trove-e2e.XXXXXX)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

# Hermetic: nothing touches the real home, keyring or data dir.
mkdir -p "$tmp/home" "$tmp/data" "$tmp/config" "$tmp/cache" "$tmp/rt" "$tmp/vaults"
chmod 700 "$tmp/rt"
export HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" \
  XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/rt" NO_AT_BRIDGE=1 \
  TROVE_VAULT="$tmp/vaults/default" TROVE_APP="$app" E2E_TMP="$tmp/vaults" \
  TROVE_ORG="$target/debug/examples/org" TROVE_CLI="$target/debug/trove" \
  TROVE_ORG_BIN="$target/debug/trove-org" TROVE_RELAY="$target/debug/examples/local_relay" \
  TROVE_S3="$target/debug/examples/s3_server" \
  SCREENSHOT_DIR="$shots" TROVE_E2E_DRIVER="$driver" E2E_ONLY="${E2E_ONLY:-}"
# Free ports, so several checkouts can run this at once.
E2E_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
E2E_NATIVE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
E2E_SHARE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export E2E_PORT E2E_NATIVE_PORT E2E_SHARE_PORT

dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  set -u
  "$TROVE_E2E_DRIVER" --port "$E2E_PORT" --native-port "$E2E_NATIVE_PORT" >"$E2E_TMP/../tauri-driver.log" 2>&1 &
  driver_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$E2E_PORT") 2>/dev/null && break
    sleep 0.1
  done
  cd tests/e2e && node --test --test-concurrency=1 ${E2E_ONLY:+--test-name-pattern="$E2E_ONLY"} app.test.mjs
  rc=$?
  kill "$driver_pid" 2>/dev/null
  wait "$driver_pid" 2>/dev/null
  [ $rc -ne 0 ] && { echo "--- tauri-driver log"; tail -n 50 "$E2E_TMP/../tauri-driver.log"; }
  exit $rc
'
