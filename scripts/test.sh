#!/usr/bin/env bash
# Runs every Trove test, installing what is missing first:
#   scripts/test.sh        lint, Rust tests, keyring, UI unit + svelte-check, end to end, fuzz smoke
#   scripts/test.sh lint   formatting and clippy only
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/trove-target}
export CARGO_TERM_COLOR=never

step() { printf '\n== %s ==\n' "$*"; }

step "dependencies"
scripts/install-deps.sh test

# The desktop crate embeds ui/dist at compile time: build the UI before any cargo step.
if [ -f ui/package.json ]; then
  step "ui build"
  scripts/ui-build.sh
fi

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "nothing that ships has the bench feature (unaudited engine, unencrypted baseline)"
if cargo tree -e features -i trove-core -p trove-cli -p trove-desktop -p trove-share -p trove-client |
  grep -q 'feature "bench"'; then
  echo "trove-core's bench feature is enabled in a shipped crate; only trove-bench may use it" >&2
  exit 1
fi
step "nothing that ships has the test-clock feature (a clock tests can move)"
if cargo tree -e normal,build,features -i trove-core -p trove-cli -p trove-desktop -p trove-share -p trove-client |
  grep -q 'feature "test-clock"'; then
  echo "trove-core's test-clock feature is enabled in a shipped crate; only dev-dependencies may use it" >&2
  exit 1
fi
step "ts-rs only in the app: the CLI, the server and the core alone build without it"
if cargo tree -e normal -p trove-core -p trove-share -p trove-cli | grep -q ' ts-rs '; then
  echo "ts-rs is a normal dependency outside the desktop app; only trove-desktop may turn on the ts features" >&2
  exit 1
fi
step "trove-core layering: no module imports a higher layer, no import cycle"
cargo test -q -p trove-core --test layering
[ "${1:-}" = lint ] && exit 0

step "rust tests"
cargo test --workspace

step "keyring (real Secret Service)"
scripts/keyring-test.sh

if [ -f ui/package.json ]; then
  step "ui unit tests and type check"
  (cd ui && npm test && npm run check)
fi
if [ -x scripts/e2e.sh ]; then
  step "desktop app end to end"
  scripts/e2e.sh
fi
if [ -x scripts/fuzz-smoke.sh ]; then
  step "fuzz smoke"
  scripts/fuzz-smoke.sh
fi
step "all tests passed"
