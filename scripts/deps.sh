#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only if missing, so
# it is cheap to run every time and works on a fresh machine.
set -euo pipefail

# espeak-ng: the offline voice (linked, GPL); libclang + cmake: bindings and
# whisper.cpp; sox: test audio. mesa-vulkan-drivers: the renderer's software
# Vulkan (lavapipe) where there is no GPU; xvfb/xauth: a display for the
# window tests; libasound2-dev: audio devices (cpal/rodio); chromium: the UI's
# end-to-end tests. The desktop app (Tauri 2, src-tauri/): the WebKitGTK
# webview, GTK, the tray (ayatana appindicator), SVG icons, libxdo (menu
# accelerators) and OpenSSL headers; its smoke test finds the window with
# xdotool and screenshots it with ImageMagick, on a private D-Bus session
# (dbus-daemon); `file` is used by the bundler. nasm: OpenH264's SIMD
# assembly (WebRTC video encoding; without it OpenH264 builds in plain C).
packages=(build-essential pkg-config ca-certificates curl cmake libclang-dev
    libespeak-ng-dev espeak-ng sox mesa-vulkan-drivers libvulkan1 xvfb xauth
    libasound2-dev libxkbcommon-x11-0 chromium
    libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev
    librsvg2-dev libxdo-dev libssl-dev file xdotool imagemagick dbus-daemon nasm)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "Installing system packages: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is missing: install Rust from https://rustup.rs (1.85 or newer)" >&2
    exit 1
fi
