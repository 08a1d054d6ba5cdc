#!/usr/bin/env bash
# The main job on the embedded defaults: build and serve the local API on
# 127.0.0.1:8000 (override with AVATARIUM_PORT / AVATARIUM_DATA_DIR, or pass
# `serve` flags after the script name).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
# The dashboard at / is compiled into the binary.
./scripts/ui-build.sh
cargo build --release -p avatarium-cli
exec ./target/release/avatarium serve "$@"
