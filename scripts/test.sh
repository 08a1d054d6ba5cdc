#!/usr/bin/env bash
# Everything CI checks: formatting, lints, and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh

if [ ! -d ../shared/data ]; then
    echo "note: ../shared/data is missing; tests that need it will say so" >&2
fi

# The server embeds the built web UI, so build it before the Rust crates.
./scripts/ui-build.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The UI's type-check, unit tests and end-to-end tests in Chromium against
# the real server binary.
./scripts/ui-test.sh

# The desktop app under Xvfb: window, dashboard, embedded server, clean exit.
./scripts/desktop-test.sh
