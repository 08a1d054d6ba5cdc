#!/usr/bin/env bash
# The web UI's checks, from a clean clone: install the locked npm packages,
# build the UI, type-check, unit tests, build the server binary (which embeds
# the UI), then the end-to-end tests in Chromium against that binary.
# Needs Node.js 20.19+ with npm, and Chromium (scripts/deps.sh installs it;
# CHROMIUM=/path/to/chrome overrides /usr/bin/chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

started=$SECONDS
timings=()
step() {
    local name=$1
    shift
    echo "==> $name"
    local t0=$SECONDS
    "$@"
    timings+=("$(printf '%-28s %4ds' "$name" $((SECONDS - t0)))")
}

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
    echo "error: no Chromium at $chromium: run ./scripts/deps.sh or set CHROMIUM" >&2
    exit 1
fi

step "npm ci" bash -c 'cd ui && npm ci --no-audit --no-fund'
step "build the UI" bash -c 'cd ui && npm run build'
step "type-check" bash -c 'cd ui && npx --no-install tsc --noEmit'
step "unit tests" bash -c 'cd ui && npm test'
step "build the server" cargo build -p avatarium-cli --locked

target=${CARGO_TARGET_DIR:-$root/target}
artifacts=${E2E_ARTIFACTS:-$target/ui-e2e}
rm -rf "$target/ui-e2e"
step "end-to-end tests" env AVATARIUM_BIN="${AVATARIUM_BIN:-$target/debug/avatarium}" CHROMIUM="$chromium" \
    E2E_ARTIFACTS="$artifacts" node ui/tests/e2e/run.mjs

echo
echo "ui-test timings:"
printf '  %s\n' "${timings[@]}"
printf '  %-28s %4ds\n' "total" $((SECONDS - started))
