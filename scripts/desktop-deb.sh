#!/usr/bin/env bash
# Builds the desktop app's Debian package with the Tauri bundler (the Tauri
# CLI comes from npm, pinned in src-tauri/package-lock.json).
#
#   scripts/desktop-deb.sh                  # release build → target/release/bundle/deb/*.deb
#   scripts/desktop-deb.sh --debug          # debug build (quicker) → target/debug/bundle/deb/*.deb
#   scripts/desktop-deb.sh --install-test   # then dpkg -i it, smoke-test the installed
#                                           # app under Xvfb, and dpkg -r it again
#
# Release is the default because the package is what people install: an
# optimised, stripped binary (thin LTO) is a fraction of the debug one's size
# and renders and transcribes at full speed. --debug reuses the debug build
# the tests already made, for checking the packaging itself quickly.
#
# The same src-tauri/tauri.conf.json makes the Windows installer (.msi) and
# the macOS disk image (.dmg) on those systems: `npx tauri build --bundles msi`
# / `--bundles dmg` in src-tauri (the bundler cannot cross-build them here).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
debug=()
install_test=0
while (($#)); do
    case "$1" in
        --debug) profile=debug; debug=(--debug); shift ;;
        --install-test) install_test=1; shift ;;
        *) echo "usage: $0 [--debug] [--install-test]" >&2; exit 2 ;;
    esac
done

./scripts/deps.sh
# The server (inside the app) embeds the dashboard: build it first.
./scripts/ui-build.sh
(cd src-tauri && npm ci --no-audit --no-fund)

rm -rf "target/$profile/bundle/deb"
(cd src-tauri && npx tauri build --bundles deb "${debug[@]}" -- --locked)
deb=$(ls -t "target/$profile/bundle/deb/"*.deb | head -1)
echo "Built $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'

if ((install_test)); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    package=$(dpkg-deb --field "$deb" Package)
    if dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        echo "error: $package is already installed; not touching it" >&2
        exit 1
    fi
    $sudo dpkg -i "$deb"
    trap '$sudo dpkg -r "$package" >/dev/null' EXIT
    installed=$(dpkg -L "$package" | grep -E '/bin/avatarium-desktop$' | head -1)
    echo "Installed $package: $installed"
    ./scripts/desktop-test.sh --bin "$installed" --out target/desktop-test-deb
    $sudo dpkg -r "$package"
    trap - EXIT
    echo "Removed $package"
fi
