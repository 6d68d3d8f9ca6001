#!/usr/bin/env bash
# Runs the keyring tests against a real Secret Service: a private D-Bus session with an
# unlocked gnome-keyring, in a temporary HOME (the person's own keyring is never used).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/trove-target}

# Build with the real HOME (cargo's registry lives there), then run the binary alone.
bin=$(cargo test -p trove-cli --features secret-service-tests --test keyring --no-run \
  --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "keyring" and m.get("executable"):
        print(m["executable"])')
[ -n "$bin" ] || { echo "keyring-test: could not build the keyring test" >&2; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/rt" "$T/.local/share" "$T/.config" "$T/.cache"
chmod 700 "$T/rt"
env -i PATH="$PATH" HOME="$T" XDG_DATA_HOME="$T/.local/share" XDG_CONFIG_HOME="$T/.config" \
  XDG_CACHE_HOME="$T/.cache" XDG_RUNTIME_DIR="$T/rt" NO_AT_BRIDGE=1 TEST_BIN="$bin" \
  dbus-run-session -- bash -c '
    set -euo pipefail
    eval "$(printf %s keyring-test-password | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    # Wait (bounded) until the Secret Service has an owner on the bus.
    for _ in $(seq 1 100); do
      if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
           org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; then
        break
      fi
      sleep 0.1
    done
    "$TEST_BIN" --test-threads=1
  '
