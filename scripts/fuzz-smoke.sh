#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a short, bounded time (default 20 s each) on the
# stable toolchain (--sanitizer none). Installs cargo-fuzz first if it is missing.
# A crash leaves its input in fuzz/artifacts/TARGET/; add it as a regression test.
#
#   scripts/fuzz-smoke.sh            # every target, 20 s each
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh manifest csv
set -euo pipefail

cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-20}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz (cargo install, ~3 min)" >&2
  cargo install cargo-fuzz --locked --quiet
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(manifest member_name vcard csv bundle_import)
fi

mkdir -p fuzz/corpus
for t in "${targets[@]}"; do
  echo "fuzz-smoke: $t for ${secs}s" >&2
  mkdir -p "fuzz/corpus/$t"
  cargo fuzz run --sanitizer none "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=0
done
echo "fuzz-smoke: ${#targets[@]} targets ran ${secs}s each without a crash" >&2
