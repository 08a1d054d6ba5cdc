#!/usr/bin/env bash
# Smoke test of the desktop app (src-tauri/) on a virtual display, as CI
# runs it: the app starts the embedded API with a fresh data dir on a free
# port, opens a window titled "Avatarium" showing the dashboard, answers
# /health on that port, lets the dashboard's page use the native audio
# commands (and nothing else), refuses a second instance (which focuses the
# first), opens the pop-out avatar window, and closes cleanly on SIGTERM.
#
#   scripts/desktop-test.sh                 # builds the debug app (as the test suite does), tests it
#   scripts/desktop-test.sh --bin PATH      # tests that binary (e.g. the installed one)
#
# The screenshot and logs are kept in target/desktop-test/ (or --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=""
out="${CARGO_TARGET_DIR:-target}/desktop-test"
while (($#)); do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "usage: $0 [--bin PATH] [--out DIR]" >&2; exit 2 ;;
    esac
done

for tool in Xvfb xdotool import convert curl dbus-daemon; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing; run ./scripts/deps.sh" >&2; exit 1; }
done

if [ -z "$bin" ]; then
    # The dashboard is compiled into the server; build it if it is not there.
    [ -f ui/dist/index.html ] || ./scripts/ui-build.sh
    # The app as `cargo test --workspace` builds it (src-tauri/tests/ makes
    # the suite build the binary): after scripts/test.sh's test run this is
    # a no-op, where `cargo build -p avatarium-desktop` would compile most of
    # the workspace again with a different feature set.
    cargo test --workspace --locked --no-run
    bin="${CARGO_TARGET_DIR:-target}/debug/avatarium-desktop"
fi
[ -x "$bin" ] || { echo "error: no executable at $bin" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/*.out "$out"/*.log "$out"/*.png
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }
fail() {
    echo "FAIL: $*" >&2
    echo "--- app log (last 40 lines) ---" >&2
    tail -n 40 "$out/app.log" >&2 || true
    exit 1
}

step "virtual display"
# -displayfd: Xvfb picks a free display number and writes it once it is ready.
Xvfb -displayfd 3 -screen 0 1440x960x24 -nolisten tcp 3>"$work/display" 2>"$out/xvfb.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || fail "Xvfb did not start"
export DISPLAY=":$(tr -d '[:space:]' <"$work/display")"
echo "DISPLAY=$DISPLAY"

# A private session bus: single-instance uses D-Bus, and the test must not
# find (and hand over to) an app the user has open.
dbus-daemon --session --fork --nopidfile --print-address=4 --print-pid=5 4>"$work/bus" 5>"$work/bus.pid"
pids+=("$(cat "$work/bus.pid")")
export DBUS_SESSION_BUS_ADDRESS="$(head -1 "$work/bus")"
export XDG_RUNTIME_DIR="$work/run"
mkdir -m 700 -p "$XDG_RUNTIME_DIR"
# No GPU on CI: WebKit draws in software, the avatar window on lavapipe.
export WEBKIT_DISABLE_DMABUF_RENDERER=1
export LIBGL_ALWAYS_SOFTWARE=1
export NO_AT_BRIDGE=1

free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        if ! (exec 6<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    echo 0
}
port=$(free_port)
data="$work/data"

step "start $bin --port $port"
start=$SECONDS
# The probe: once the dashboard is loaded, its page calls the native audio
# commands through its own IPC (plus one it is not granted) and the app logs
# the answers.
AVATARIUM_DESKTOP_PROBE=1 "$bin" --port "$port" --data-dir "$data" >"$out/app.out" 2>"$out/app.log" &
app=$!
pids+=("$app")

# The app prints the URL once the server is healthy (the port may differ if
# it was taken meanwhile).
url=""
for _ in $(seq 600); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out/app.out" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && break
    kill -0 "$app" 2>/dev/null || fail "the app exited early"
    sleep 0.1
done
[ -n "$url" ] || fail "the app did not report its URL"
echo "server: $url ($((SECONDS - start))s)"
[ "$url" = "http://127.0.0.1:$port" ] || echo "note: the app moved to another port: $(grep Note "$out/app.out" || true)"

step "window titled Avatarium"
wid=""
for _ in $(seq 300); do
    wid=$(xdotool search --onlyvisible --name '^Avatarium$' 2>/dev/null | head -1 || true)
    [ -n "$wid" ] && break
    kill -0 "$app" 2>/dev/null || fail "the app exited before its window appeared"
    sleep 0.1
done
[ -n "$wid" ] || fail "no window titled Avatarium"
echo "window $wid: $(xdotool getwindowname "$wid"), $(xdotool getwindowgeometry "$wid" | tr '\n' ' ')"

step "the dashboard renders"
# Screenshot the window until the page has drawn: not one flat colour, and a
# good share of pixels unlike the background (the most common colour).
shot="$out/desktop.png"
rendered=""
for _ in $(seq 60); do
    # Nothing may cover it (the pop-out the probe opens appears on top).
    xdotool windowraise "$wid" 2>/dev/null || true
    if import -window "$wid" "$shot" 2>/dev/null; then
        total=$(convert "$shot" -format '%w %h' info: | awk '{print $1 * $2}')
        colours=$(convert "$shot" -format '%k' info:)
        top=$(convert "$shot" -format '%c' histogram:info:- | awk -F: '$1+0 > m {m = $1+0} END {print m+0}')
        share=$(( (total - top) * 1000 / total ))
        if [ "$colours" -ge 64 ] && [ "$share" -ge 30 ]; then
            rendered="$colours colours, $((share / 10)).$((share % 10))% not background"
            break
        fi
    fi
    sleep 0.5
done
[ -n "$rendered" ] || fail "the window stayed blank (last: ${colours:-?} colours, share ${share:-?}/1000); see $shot"
echo "screenshot $shot: $rendered"

step "health on the app's port"
curl -fsS --max-time 5 "$url/health" | tee "$work/health.json"
echo
grep -q '"status"' "$work/health.json" || fail "/health did not answer as expected"
# The dashboard itself is served at / to a browser.
curl -fsS --max-time 5 -H 'Accept: text/html' "$url/" | grep -q '<title>Avatarium</title>' ||
    fail "the server does not serve the dashboard at /"

step "native audio through the dashboard's IPC"
probe=""
for _ in $(seq 200); do
    probe=$(grep -o 'ipc probe: .*' "$out/app.log" | tail -1 || true)
    [ -n "$probe" ] && break
    sleep 0.1
done
[ -n "$probe" ] || fail "the IPC probe did not answer"
echo "$probe"
case "$probe" in *'ipc probe: no answer'*|*'cannot run'*) fail "the IPC probe did not run" ;; esac
grep -q 'audio_status[^,]*ok' <<<"$probe" || fail "audio_status was refused"
# Each audio command either works or says plainly why not (no device on CI).
grep -Eq 'start_listening[^,]*(ok|microphone)' <<<"$probe" || fail "start_listening gave no clear answer"
grep -Eq 'play_audio[^,]*(ok|audio output)' <<<"$probe" || fail "play_audio gave no clear answer"
grep -Eq 'not_granted[^,]*error' <<<"$probe" || fail "a command outside the capability was allowed"

step "a second launch hands over to the first"
# A few times: handing over must be reliable, not just usually right.
for i in 1 2 3 4 5; do
    set +e
    timeout 60 "$bin" --port "$port" --data-dir "$data" >"$out/second.out" 2>"$out/second.log"
    second=$?
    set -e
    [ "$second" -eq 0 ] || fail "second launch $i exited with $second"
    grep -q 'already running' "$out/second.out" || fail "second launch $i did not hand over"
    grep -q 'listening on' "$out/second.out" && fail "second launch $i started its own server"
done
[ "$(xdotool search --onlyvisible --name '^Avatarium$' | wc -l)" -eq 1 ] || fail "more than one Avatarium window"
kill -0 "$app" || fail "the first instance died"
echo "5 second launches handed over and exited 0; one window"

step "pop-out avatar window"
# The probe asked for it (pop_out_avatar, the tray's code path): the app ran
# itself as `--avatar-window --avatar aria-001`.
grep -Eq 'pop_out_avatar[^,]*ok' <<<"$probe" || fail "pop_out_avatar was refused"
awid=""
for _ in $(seq 600); do
    awid=$(xdotool search --name 'Avatarium .* aria-001' 2>/dev/null | head -1 || true)
    [ -n "$awid" ] && break
    sleep 0.1
done
[ -n "$awid" ] || fail "the avatar window did not open"
# Drawn: the stage's dark backdrop (until then the capture shows whatever is
# under the window, e.g. the light dashboard) with a shaded avatar on it.
drawn=""
for _ in $(seq 60); do
    # No window manager: bring it in front of the dashboard (a second launch
    # raised that) so the capture shows this window.
    xdotool windowraise "$awid" 2>/dev/null || true
    if import -window "$awid" "$out/avatar.png" 2>/dev/null; then
        colours=$(convert "$out/avatar.png" -format '%k' info:)
        dark=$(convert "$out/avatar.png" -colorspace Gray -format '%[fx:mean < 0.5 ? 1 : 0]' info:)
        if [ "$colours" -ge 256 ] && [ "$dark" = 1 ]; then
            drawn="$colours colours"
            break
        fi
    fi
    sleep 0.5
done
[ -n "$drawn" ] || fail "the avatar window showed no avatar; see $out/avatar.png"
echo "screenshot $out/avatar.png: $drawn"

step "close cleanly"
kill -TERM "$app"
rc=""
for _ in $(seq 200); do
    if ! kill -0 "$app" 2>/dev/null; then
        set +e
        wait "$app"
        rc=$?
        set -e
        break
    fi
    sleep 0.1
done
[ -n "$rc" ] || fail "the app did not exit within 20 s of SIGTERM"
[ "$rc" -eq 0 ] || fail "the app exited with $rc"
grep -q 'the API server stopped' "$out/app.log" || fail "the server was not stopped cleanly"
if xdotool search --name 'Avatarium .* aria-001' >/dev/null 2>&1; then fail "the avatar window outlived the app"; fi
if curl -fsS --max-time 2 "$url/health" >/dev/null 2>&1; then fail "the server still answers after exit"; fi
echo "exited 0; server stopped; avatar window closed"

printf '\nPASS desktop smoke test in %ss (screenshot: %s)\n' "$SECONDS" "$shot"
