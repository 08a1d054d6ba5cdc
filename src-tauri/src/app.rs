//! The Tauri shell: the embedded server, the main window over it, the tray,
//! single-instance, the native audio commands and the pop-out avatar.
//!
//! Why the window loads `http://127.0.0.1:PORT/` (the embedded server)
//! rather than Tauri's own asset protocol: the dashboard is built to be
//! served by the server it talks to. Its API client uses the page's origin,
//! conversation sockets come back as `ws://` URLs on that same host, the
//! server's strict CSP names exactly that host, and the public avatar pages
//! and model files are server routes. Loaded from the server, the app's
//! webview behaves exactly like a browser tab on the dashboard: no CORS
//! allowances, no second copy of `ui/dist` inside this binary (the server
//! embeds it already), and no API base URL to inject. The cost is that
//! Tauri's IPC has to be granted to a remote origin; the `dashboard`
//! capability grants only the audio and pop-out commands, to the `main`
//! window only, and that window can only navigate within the server's
//! origin (anything else opens in the system browser). Tauri's own
//! protocol serves only `shell/`, the page shown when the server cannot
//! start, under the CSP in tauri.conf.json.

use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatarium_core::config::Config;
use avatarium_core::presets;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::webview::{NewWindowResponse, PageLoadEvent};
use tauri::{AppHandle, Emitter, Manager, RunEvent, State, Url, WebviewUrl, WebviewWindowBuilder};

use crate::args::DesktopArgs;
use crate::audio::{self, Audio, Cut, Mode, UtterancePayload};
use crate::avatar_window;
use crate::server::{self, Embedded};
use crate::single_instance;

/// The dashboard's window.
pub const MAIN: &str = "main";
pub const TITLE: &str = "Avatarium";
/// Hands-free mode: one event per utterance, payload [`UtterancePayload`].
pub const UTTERANCE_EVENT: &str = "avatarium://utterance";
/// Hands-free mode: speech began (`{ atMs }`).
pub const SPEECH_START_EVENT: &str = "avatarium://speech-start";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Set while the app runs.
struct Shell {
    server: Mutex<Option<Embedded>>,
    data_dir: std::path::PathBuf,
    /// Pop-out avatar windows started from here, closed with the app.
    children: Mutex<Vec<Child>>,
    /// The avatar the dashboard last popped out (the tray reuses it).
    last_avatar: Mutex<Option<String>>,
    failed: AtomicBool,
}

pub fn run(args: DesktopArgs) -> anyhow::Result<i32> {
    let context = tauri::generate_context!();
    if single_instance::hand_over(&context.config().identifier) {
        println!("Avatarium is already running; it has been brought to the front.");
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("avatarium-desktop")
        .build()?;
    // Tauri's async commands and the server share this runtime.
    tauri::async_runtime::set(runtime.handle().clone());

    let data_dir = args.data_dir();
    let speech_models = Config::new(&data_dir).speech_models_dir();
    let shell = Arc::new(Shell {
        server: Mutex::new(None),
        data_dir: data_dir.clone(),
        children: Mutex::new(Vec::new()),
        last_avatar: Mutex::new(None),
        failed: AtomicBool::new(false),
    });
    let port = args.port;

    let app = tauri::Builder::default()
        // A second launch (same user) focuses this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main(app);
        }))
        .manage(Arc::clone(&shell))
        .manage(Arc::new(Audio::new(speech_models)))
        .invoke_handler(tauri::generate_handler![
            start_listening,
            stop_listening,
            play_audio,
            stop_audio,
            audio_status,
            pop_out_avatar,
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let shell = Arc::clone(app.state::<Arc<Shell>>().inner());
            start(&handle, &shell, port);
            // The tray loads libayatana-appindicator when it is built (and
            // panics where that is missing); the app works without a tray.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build_tray(&handle))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "no tray icon"),
                Err(_) => tracing::warn!("no tray icon: the appindicator library is missing"),
            }
            watch_signals(handle);
            Ok(())
        })
        .build(context)?;

    let code = app.run_return(move |app, event| {
        if let RunEvent::Exit = event {
            let shell = app.state::<Arc<Shell>>();
            shutdown(&shell);
            let audio = app.state::<Arc<Audio>>();
            audio.stop_listening();
            audio.speaker.stop();
        }
    });
    let code = if shell.failed.load(Ordering::SeqCst) && code == 0 {
        1
    } else {
        code
    };
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(code)
}

/// Starts the server, waits for `/health`, then opens the dashboard; or
/// opens the page that says why it could not.
fn start(app: &AppHandle, shell: &Shell, port: u16) {
    let started = tauri::async_runtime::block_on(async {
        let server = server::start(shell.data_dir.clone(), port).await?;
        server::wait_healthy(server.addr, HEALTH_TIMEOUT).await?;
        anyhow::Ok(server)
    });
    let opened = started.and_then(|server| {
        // Like `avatarium serve`: the URL on stdout for launchers and tests.
        println!("Avatarium API listening on http://{}", server.addr);
        println!("Data directory: {}", server.data_dir.display());
        if let Some(note) = &server.port_note {
            println!("Note: {note}");
            tracing::warn!("{note}");
        }
        let url = Url::parse(&server.url())?;
        *shell.server.lock().unwrap_or_else(|p| p.into_inner()) = Some(server);
        open_main(app, url)?;
        anyhow::Ok(())
    });
    if let Err(e) = opened {
        let reason = format!("{e:#}");
        eprintln!("error: {reason}");
        shell.failed.store(true, Ordering::SeqCst);
        let page = format!("index.html#{}", percent_encode(&reason));
        let shown = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App(page.into()))
            .title(TITLE)
            .inner_size(720.0, 420.0)
            .build();
        if shown.is_err() {
            app.exit(1);
        }
    }
}

fn open_main(app: &AppHandle, url: Url) -> tauri::Result<()> {
    let origin = url.origin();
    let nav_origin = origin.clone();
    WebviewWindowBuilder::new(app, MAIN, WebviewUrl::External(url))
        .title(TITLE)
        .inner_size(1280.0, 840.0)
        .min_inner_size(900.0, 600.0)
        .center()
        // Let the page take dropped files itself (knowledge uploads).
        .disable_drag_drop_handler()
        .on_navigation(move |target| {
            if target.origin() == nav_origin || target.scheme() == "about" {
                return true;
            }
            open_in_browser(target);
            false
        })
        .on_new_window(move |target, _features| {
            if target.origin() != origin {
                open_in_browser(&target);
            }
            NewWindowResponse::Deny
        })
        .on_page_load(|window, payload| {
            if payload.event() == PageLoadEvent::Finished && std::env::var_os(PROBE_ENV).is_some() {
                probe(window);
            }
        })
        .build()?;
    Ok(())
}

/// Test hook for scripts/desktop-test.sh: with this set, the dashboard page,
/// once loaded, calls the native commands through its own IPC (as
/// platform-tauri.ts does; the pop-out is the tray's code path too) plus one
/// it is not granted, and the answers are logged as `ipc probe: {...}`.
const PROBE_ENV: &str = "AVATARIUM_DESKTOP_PROBE";

fn probe(window: tauri::WebviewWindow) {
    let wav = audio::wav::to_base64(&audio::wav::encode_pcm16(&[0.0; 1600], 16_000));
    let script = format!(
        r#"window.__avatariumProbe = null;
(async () => {{
  const t = window.__TAURI_INTERNALS__;
  if (!t) {{ window.__avatariumProbe = {{ ipc: 'missing' }}; return; }}
  const r = {{ ipc: 'present' }};
  const run = async (name, cmd, args) => {{
    try {{ await t.invoke(cmd, args); r[name] = 'ok'; }} catch (e) {{ r[name] = 'error: ' + e; }}
  }};
  await run('audio_status', 'audio_status');
  await run('start_listening', 'start_listening', {{ mode: 'push-to-talk' }});
  await run('stop_listening', 'stop_listening');
  await run('play_audio', 'play_audio', {{ wav: '{wav}' }});
  await run('stop_audio', 'stop_audio');
  await run('pop_out_avatar', 'pop_out_avatar', {{ avatar: 'aria-001' }});
  await run('not_granted', 'plugin:window|close');
  window.__avatariumProbe = r;
}})();"#
    );
    std::thread::spawn(move || {
        if let Err(e) = window.eval(script) {
            tracing::warn!(error = %e, "ipc probe: cannot run");
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            let tx = tx.clone();
            let asked = window.eval_with_callback(
                "JSON.stringify(window.__avatariumProbe)",
                move |answer| {
                    let _ = tx.send(answer);
                },
            );
            if asked.is_err() {
                break;
            }
            match rx.recv_timeout(Duration::from_secs(2)) {
                Ok(answer) if answer.contains("ipc") => {
                    tracing::info!("ipc probe: {answer}");
                    return;
                }
                _ => {}
            }
        }
        tracing::warn!("ipc probe: no answer");
    });
}

/// Opens http(s) links in the system browser, never in the app.
fn open_in_browser(url: &Url) {
    if !matches!(url.scheme(), "http" | "https" | "mailto") {
        tracing::warn!(%url, "refused to open a link with this scheme");
        return;
    }
    #[cfg(target_os = "linux")]
    let mut cmd = std::process::Command::new("xdg-open");
    #[cfg(target_os = "macos")]
    let mut cmd = std::process::Command::new("open");
    #[cfg(windows)]
    let mut cmd = {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    };
    #[cfg(any(target_os = "linux", target_os = "macos", windows))]
    if let Err(e) = cmd.arg(url.as_str()).spawn() {
        tracing::warn!(%url, error = %e, "cannot open the system browser");
    }
}

fn show_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

fn build_tray(app: &AppHandle) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open", true, None::<&str>)?;
    let pop = MenuItem::with_id(app, "pop-out", "Pop-out avatar", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &pop, &quit])?;
    let mut tray = TrayIconBuilder::with_id("avatarium")
        .tooltip(TITLE)
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => show_main(app),
            "pop-out" => {
                let shell = app.state::<Arc<Shell>>();
                let avatar = shell
                    .last_avatar
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .unwrap_or_else(|| presets::DEFAULT_PRESET.to_string());
                if let Err(e) = spawn_pop_out(&shell, &avatar) {
                    tracing::warn!(error = %e, "cannot open the avatar window");
                }
            }
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

fn spawn_pop_out(shell: &Shell, avatar: &str) -> anyhow::Result<()> {
    let exe = avatar_window::current_exe()?;
    let child = avatar_window::command(&exe, avatar, &shell.data_dir).spawn()?;
    tracing::info!(pid = child.id(), avatar, "opened the avatar window");
    let mut children = shell.children.lock().unwrap_or_else(|p| p.into_inner());
    // Forget the ones already closed.
    children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    children.push(child);
    Ok(())
}

/// Stops the server (letting requests finish) and closes pop-out windows.
fn shutdown(shell: &Shell) {
    let server = shell
        .server
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(mut server) = server {
        tauri::async_runtime::block_on(server.stop(STOP_GRACE));
    }
    let mut children = shell.children.lock().unwrap_or_else(|p| p.into_inner());
    for mut child in children.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// SIGTERM/SIGINT close the app as Quit does (server stopped cleanly).
fn watch_signals(app: AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot watch for SIGTERM/SIGINT");
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutting down");
        app.exit(0);
    });
    #[cfg(not(unix))]
    tauri::async_runtime::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            app.exit(0);
        }
    });
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~ ".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect::<String>()
        .replace(' ', "%20")
}

// ---------------------------------------------------------------------------
// Commands. Errors are plain sentences the dashboard can show.

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Listening {
    mode: Mode,
    device: String,
}

/// Opens the microphone. `mode`: `push-to-talk` (default; the utterance
/// comes back from `stop_listening`) or `hands-free` (each utterance is an
/// `avatarium://utterance` event as soon as the speaker pauses).
#[tauri::command]
async fn start_listening(
    app: AppHandle,
    audio: State<'_, Arc<Audio>>,
    mode: Option<String>,
) -> Result<Listening, String> {
    let mode = match mode.as_deref() {
        None => Mode::PushToTalk,
        Some(m) => Mode::parse(m)
            .ok_or_else(|| format!("unknown listening mode '{m}': push-to-talk or hands-free"))?,
    };
    let on_cut: audio::capture::OnCut = Box::new(move |cut| {
        let sent = match cut {
            Cut::SpeechStarted { at_ms } => {
                app.emit(SPEECH_START_EVENT, serde_json::json!({ "atMs": at_ms }))
            }
            Cut::Utterance(u) => app.emit(UTTERANCE_EVENT, UtterancePayload::from(u)),
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot send an utterance to the dashboard");
        }
    });
    let audio = Arc::clone(audio.inner());
    let device = tauri::async_runtime::spawn_blocking(move || audio.start_listening(mode, on_cut))
        .await
        .map_err(|e| format!("the microphone task failed: {e}"))??;
    Ok(Listening { mode, device })
}

/// Closes the microphone: push-to-talk's utterance (null if nothing was
/// recorded), or a hands-free utterance that was still in progress.
#[tauri::command]
async fn stop_listening(audio: State<'_, Arc<Audio>>) -> Result<Option<UtterancePayload>, String> {
    let audio = Arc::clone(audio.inner());
    let utterance = tauri::async_runtime::spawn_blocking(move || audio.stop_listening())
        .await
        .map_err(|e| format!("the microphone task failed: {e}"))?;
    Ok(utterance.map(UtterancePayload::from))
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Playing {
    duration_ms: u64,
}

/// Plays a base64 WAV (the API's speech), replacing what was playing;
/// resolves once it has started.
#[tauri::command]
async fn play_audio(audio: State<'_, Arc<Audio>>, wav: String) -> Result<Playing, String> {
    let audio = Arc::clone(audio.inner());
    tauri::async_runtime::spawn_blocking(move || {
        let pcm = audio::wav::decode(&audio::wav::from_base64(&wav)?)?;
        let duration_ms = pcm.duration_ms();
        audio.speaker.play(pcm)?;
        Ok(Playing { duration_ms })
    })
    .await
    .map_err(|e| format!("the audio task failed: {e}"))?
}

#[tauri::command]
fn stop_audio(audio: State<'_, Arc<Audio>>) {
    audio.speaker.stop();
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AudioStatus {
    /// The default microphone's name; null where there is none.
    input: Option<String>,
    listening: Option<Mode>,
    playing: bool,
    position_ms: u64,
}

#[tauri::command]
async fn audio_status(audio: State<'_, Arc<Audio>>) -> Result<AudioStatus, String> {
    let audio = Arc::clone(audio.inner());
    tauri::async_runtime::spawn_blocking(move || {
        let playback = audio.speaker.status();
        AudioStatus {
            input: audio::capture::default_input_name(),
            listening: audio.listening(),
            playing: playback.playing,
            position_ms: playback.position_ms,
        }
    })
    .await
    .map_err(|e| format!("the audio task failed: {e}"))
}

/// Opens the native avatar window for `avatar` (a preset id or one of your
/// avatars' ids; default: the last one, else the default preset).
#[tauri::command]
fn pop_out_avatar(shell: State<'_, Arc<Shell>>, avatar: Option<String>) -> Result<(), String> {
    let avatar = {
        let mut last = shell.last_avatar.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = avatar.filter(|a| !a.trim().is_empty()) {
            *last = Some(a);
        }
        last.clone()
            .unwrap_or_else(|| presets::DEFAULT_PRESET.to_string())
    };
    spawn_pop_out(&shell, &avatar).map_err(|e| format!("cannot open the avatar window: {e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_fragment_safe() {
        assert_eq!(percent_encode("port 80: taken"), "port%2080%3A%20taken");
        assert_eq!(percent_encode("<b>"), "%3Cb%3E");
    }
}
