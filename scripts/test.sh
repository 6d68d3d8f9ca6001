#!/usr/bin/env bash
# Runs every Trove test, installing what is missing first:
#   scripts/test.sh        lint, Rust tests, keyring, UI unit, end to end, fuzz smoke
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
[ "${1:-}" = lint ] && exit 0

step "rust tests"
cargo test --workspace

step "keyring (real Secret Service)"
scripts/keyring-test.sh

if [ -f ui/package.json ]; then
  step "ui unit tests"
  (cd ui && npm test)
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
