#!/usr/bin/env bash
# Regenerates the app icons from app-icon.svg (the dashboard's favicon) with
# the Tauri CLI: PNGs for Linux and the tray, icon.ico (Windows), icon.icns
# (macOS). Needs ImageMagick (scripts/deps.sh). Run after changing the SVG,
# then commit the results.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd ../src-tauri && npm ci --no-audit --no-fund >/dev/null && npx tauri icon ../icons/app-icon.svg -o "$out" >/dev/null)
# The store and mobile variants are not used by the desktop bundles.
cp "$out"/{32x32.png,64x64.png,128x128.png,128x128@2x.png,icon.png,icon.icns,icon.ico} .
# Tauri embeds PNG icons only as 8-bit RGBA; small sizes come out paletted.
for f in *.png; do convert "$f" PNG32:"$f"; done
echo "Icons written to $(pwd)"
