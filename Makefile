# Trove: `make app` launches the desktop app, `make test` runs every test.
# Both install what is missing first (scripts/install-deps.sh).

# Build outside the clone so warm runs reuse it; a cold run works the same.
CARGO_TARGET_DIR ?= $(HOME)/.cache/trove-target
export CARGO_TARGET_DIR

.PHONY: app test lint deps screenshots bench-vault bench-share bench-bundle bench-app bench-remote bench-staged bench-import bench-share-during-import

## Install what is missing, build, and launch the desktop app (demo vault the first time).
app:
	scripts/app.sh

## Every test: Rust unit/integration/CLI snapshots, keyring, UI unit, real-app end to end, fuzz smoke.
test:
	scripts/test.sh

## Formatting and clippy with warnings as errors.
lint:
	scripts/test.sh lint

## Run the end-to-end tests and update the committed screenshots in docs/screenshots/.
screenshots:
	SCREENSHOT_DIR=docs/screenshots scripts/e2e.sh

## Debian packages and tools for building and testing.
deps:
	scripts/install-deps.sh test

bench-vault bench-share bench-bundle bench-app bench-remote bench-staged bench-import bench-share-during-import:
	cargo run --release -p trove-bench -- $(@:bench-%=%)
