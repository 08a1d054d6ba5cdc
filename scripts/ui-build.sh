#!/usr/bin/env bash
# Build the web UI into ui/dist: the dashboard and the public avatar pages.
# avatarium-server compiles ui/dist into the binary, so build the server
# after this (`cargo build -p avatarium-cli`; it notices the new build by
# itself). The Rust build never needs this script: without ui/dist the
# server still builds, and its pages say how to add the UI.
set -euo pipefail
cd "$(dirname "$0")/../ui"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "error: the UI needs Node.js 20.19 or later with npm (https://nodejs.org)" >&2
    exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    echo "error: the UI needs Node.js 20.19 or later; this is $(node --version)" >&2
    exit 1
fi

npm ci --no-audit --no-fund
npm run build
echo "Built $(pwd)/dist; now rebuild the server: cargo build -p avatarium-cli"
