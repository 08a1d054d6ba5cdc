#!/usr/bin/env bash
# The main job on the embedded defaults.
#
# With a display ($DISPLAY or $WAYLAND_DISPLAY): build and open the desktop
# app, the dashboard in a window over the API it serves on 127.0.0.1:8000
# (src-tauri/). Without one (a server, SSH, CI): build and serve the local
# API and the dashboard, and print the URL. AVATARIUM_HEADLESS=1 serves even
# where there is a display.
#
# Override with AVATARIUM_PORT / AVATARIUM_DATA_DIR, or pass flags after the
# script name: `serve`'s flags (e.g. --port 9000), or the app's --port and
# --data-dir.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
# The dashboard at / is compiled into the binary.
./scripts/ui-build.sh
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${AVATARIUM_HEADLESS:-}" ]; then
    cargo build --release -p avatarium-desktop
    exec ./target/release/avatarium-desktop "$@"
fi
cargo build --release -p avatarium-cli
exec ./target/release/avatarium serve "$@"
