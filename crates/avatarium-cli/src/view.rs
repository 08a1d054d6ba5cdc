//! `avatarium view`: the avatar in a native window, idling (blinking,
//! breathing) and, with `--text`, speaking it aloud with its mouth in time
//! with the sound.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use avatarium_core::presets;
use avatarium_render::avatar::{Avatar, AvatarAssets, AvatarClock, FaceRig, spawn_avatar};
use avatarium_render::face::{FaceSystems, Speech};
use avatarium_render::lite::LiteShading;
use avatarium_render::stage::{Framed, Stage};
use avatarium_render::{AvatarRenderPlugins, ModelSource, register_avatar_source};
use avatarium_tts::Speech as Spoken;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::log::{DEFAULT_FILTER, Level, LogPlugin};
use bevy::prelude::*;
use bevy::render::renderer::RenderAdapterInfo;
use bevy::render::view::window::screenshot::{Screenshot, ScreenshotCaptured};
use bevy::window::{WindowResized, WindowResolution};

use crate::render::{resolve_avatar, synthesize};

/// How long after the avatar appears the speech starts: the first frames
/// after loading can stall while the last pipelines compile.
const SPEECH_DELAY: Duration = Duration::from_millis(800);
/// How long after the avatar appears `--screenshot` is taken.
const SCREENSHOT_DELAY: Duration = Duration::from_secs(2);
/// How long `--exit-after` waits past its time for a screenshot not yet saved.
const SCREENSHOT_GRACE: Duration = Duration::from_secs(60);

#[derive(Args)]
pub struct ViewArgs {
    /// A shipped avatar's id (aria-001, male-01, …) or a .glb/.vrm file.
    #[arg(long, default_value = presets::DEFAULT_PRESET)]
    avatar: String,
    /// Speak this aloud once the avatar is shown.
    #[arg(long)]
    text: Option<String>,
    /// An espeak-ng voice for --text [default: the preset's voice].
    #[arg(long)]
    voice: Option<String>,
    /// Close the window after this many seconds.
    #[arg(long, value_name = "SECS")]
    exit_after: Option<f64>,
    /// Save a PNG of the window a couple of seconds after the avatar appears.
    #[arg(long, value_name = "PATH")]
    screenshot: Option<PathBuf>,
}

pub fn view(args: ViewArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let avatar = resolve_avatar(&args.avatar)?;
    let exit_after = args
        .exit_after
        .map(|s| {
            if s.is_finite() && s > 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(anyhow::anyhow!(
                    "--exit-after must be a positive number of seconds"
                ))
            }
        })
        .transpose()?;
    if let Some(path) = &args.screenshot {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !ext.eq_ignore_ascii_case("png") {
            bail!("--screenshot {}: expected a .png path", path.display());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let speech = match &args.text {
        Some(text) => {
            Some(runtime.block_on(synthesize(text, args.voice.clone().or(avatar.voice)))?)
        }
        None => None,
    };
    let audio = if speech.is_some() { open_audio() } else { None };

    let failure = Arc::new(Mutex::new(None::<String>));
    let mut app = App::new();
    register_avatar_source(&mut app);
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: format!("Avatarium — {}", avatar.model.name),
                    resolution: WindowResolution::new(640, 640),
                    ..default()
                }),
                ..default()
            })
            // Warnings and errors only (RUST_LOG still overrides); winit's
            // complaints about odd X servers are not the user's concern.
            .set(LogPlugin {
                level: Level::WARN,
                filter: format!("{DEFAULT_FILTER},winit=error"),
                ..default()
            }),
    )
    .add_plugins(AvatarRenderPlugins)
    .insert_resource(ViewState {
        model: avatar.model,
        speech,
        audio,
        screenshot: args.screenshot,
        exit_after,
        epoch: Instant::now(),
        avatar: None,
        loaded_at: None,
        spoke: false,
        shot: Shot::None,
        failure: Arc::clone(&failure),
    })
    .add_systems(Startup, setup)
    .add_systems(
        Update,
        (
            drive_clock.before(FaceSystems::Clock),
            start_speech
                .after(FaceSystems::Clock)
                .before(FaceSystems::LipSync),
            (take_screenshot, exit_when_done).chain(),
            reframe_on_resize,
        ),
    );
    let exit = app.run();
    if let Some(msg) = failure.lock().expect("failure lock").take() {
        bail!(msg);
    }
    if let AppExit::Error(code) = exit {
        bail!("the window closed with an error (code {code})");
    }
    Ok(())
}

/// A channel to the thread that owns the audio device.
struct Audio {
    tx: mpsc::Sender<(Vec<i16>, u32)>,
    /// How long a sample takes to reach the speaker: one device buffer.
    latency_ms: f64,
}

/// Opens the default audio output on its own thread (its stream lives
/// there); `None`, after one warning, where there is no device.
fn open_audio() -> Option<Audio> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel::<(Vec<i16>, u32)>();
    std::thread::Builder::new()
        .name("avatarium-audio".into())
        .spawn(move || {
            let mut sink = match rodio::DeviceSinkBuilder::open_default_sink() {
                Ok(sink) => sink,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            sink.log_on_drop(false);
            let config = sink.config();
            let latency_ms = match config.buffer_size() {
                rodio::cpal::BufferSize::Fixed(frames) => {
                    f64::from(*frames) * 1000.0 / f64::from(config.sample_rate().get())
                }
                _ => 0.0,
            };
            let _ = ready_tx.send(Ok(latency_ms));
            // Plays until the window closes and drops the sender.
            while let Ok((samples, rate)) = rx.recv() {
                let (Some(channels), Some(rate)) =
                    (std::num::NonZero::new(1u16), std::num::NonZero::new(rate))
                else {
                    continue;
                };
                let data: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
                sink.mixer()
                    .add(rodio::buffer::SamplesBuffer::new(channels, rate, data));
            }
        })
        .ok()?;
    match ready_rx.recv() {
        Ok(Ok(latency_ms)) => Some(Audio { tx, latency_ms }),
        Ok(Err(e)) => {
            eprintln!("warning: no audio output ({e}); the avatar speaks silently");
            None
        }
        Err(_) => {
            eprintln!("warning: no audio output; the avatar speaks silently");
            None
        }
    }
}

#[derive(Debug, PartialEq)]
enum Shot {
    None,
    Requested,
    Saved,
}

#[derive(Resource)]
struct ViewState {
    model: ModelSource,
    speech: Option<Spoken>,
    audio: Option<Audio>,
    screenshot: Option<PathBuf>,
    exit_after: Option<Duration>,
    /// The avatar clock's zero: the clock follows the wall clock, so speech
    /// started at a wall-clock instant stays in time with its audio however
    /// slowly frames come (a software renderer's `Time` would fall behind).
    epoch: Instant,
    avatar: Option<Entity>,
    loaded_at: Option<Instant>,
    spoke: bool,
    shot: Shot,
    /// Why the app gave up, reported once the window has closed.
    failure: Arc<Mutex<Option<String>>>,
}

impl ViewState {
    fn clock_ms(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() * 1000.0
    }

    fn fail(&self, msg: String) {
        self.failure
            .lock()
            .expect("failure lock")
            .get_or_insert(msg);
    }
}

fn setup(
    mut commands: Commands,
    mut state: ResMut<ViewState>,
    assets: Res<AvatarAssets>,
    server: Res<AssetServer>,
    adapter: Option<Res<RenderAdapterInfo>>,
    mut exit: MessageWriter<AppExit>,
) {
    // On a software renderer, the same cheap shading `avatarium render`
    // uses there: PBR would cost most of each frame.
    if adapter.is_some_and(|a| is_software(&a.name)) {
        commands.insert_resource(LiteShading);
    }
    let model = state.model.clone();
    let avatar = match spawn_avatar(
        &mut commands,
        &assets,
        &server,
        &model,
        Transform::default(),
        1,
    ) {
        Ok(e) => e,
        Err(e) => {
            state.fail(format!("cannot show the avatar {}: {e}", model.name));
            exit.write(AppExit::error());
            return;
        }
    };
    commands.spawn((
        Name::new("view camera"),
        Camera3d::default(),
        Tonemapping::TonyMcMapface,
        Transform::default(),
        Stage { avatar },
    ));
    state.avatar = Some(avatar);
}

fn is_software(adapter: &str) -> bool {
    let a = adapter.to_ascii_lowercase();
    ["llvmpipe", "lavapipe", "swiftshader", "software"]
        .iter()
        .any(|s| a.contains(s))
}

fn drive_clock(state: Res<ViewState>, mut clocks: Query<&mut AvatarClock, With<Avatar>>) {
    let t = state.clock_ms();
    for mut clock in &mut clocks {
        clock.external = true;
        clock.t_ms = t;
    }
}

/// Once the avatar is up, plays the audio and starts the timeline at the
/// clock time the audio starts.
fn start_speech(
    mut state: ResMut<ViewState>,
    rigs: Query<(), With<FaceRig>>,
    mut speech: Query<&mut Speech>,
) {
    let Some(avatar) = state.avatar else {
        return;
    };
    if state.loaded_at.is_none() && rigs.contains(avatar) {
        state.loaded_at = Some(Instant::now());
    }
    let Some(loaded_at) = state.loaded_at else {
        return;
    };
    if state.spoke || loaded_at.elapsed() < SPEECH_DELAY {
        return;
    }
    state.spoke = true;
    let Some(spoken) = state.speech.as_ref() else {
        return;
    };
    let (samples, rate, timeline) = (
        spoken.samples.clone(),
        spoken.sample_rate,
        spoken.visemes.clone(),
    );
    let mut start = state.clock_ms();
    if let Some(audio) = &state.audio
        && audio.tx.send((samples, rate)).is_ok()
    {
        start += audio.latency_ms;
    }
    if let Ok(mut speech) = speech.get_mut(avatar) {
        speech.play(timeline, start);
    }
}

fn take_screenshot(mut commands: Commands, mut state: ResMut<ViewState>) {
    let Some(path) = state.screenshot.clone() else {
        return;
    };
    let due = state
        .loaded_at
        .is_some_and(|at| at.elapsed() >= SCREENSHOT_DELAY);
    if state.shot != Shot::None || !due {
        return;
    }
    state.shot = Shot::Requested;
    commands.spawn(Screenshot::primary_window()).observe(
        move |shot: On<ScreenshotCaptured>, mut state: ResMut<ViewState>| {
            let saved = shot
                .image
                .clone()
                .try_into_dynamic()
                .map_err(|e| e.to_string())
                .and_then(|img| img.to_rgb8().save(&path).map_err(|e| e.to_string()));
            match saved {
                Ok(()) => {
                    println!("Saved a screenshot to {}", path.display());
                    state.shot = Shot::Saved;
                }
                Err(e) => {
                    state.fail(format!(
                        "cannot save the screenshot {}: {e}",
                        path.display()
                    ));
                    state.shot = Shot::Saved;
                }
            }
        },
    );
}

fn exit_when_done(state: Res<ViewState>, mut exit: MessageWriter<AppExit>) {
    let Some(after) = state.exit_after else {
        return;
    };
    let elapsed = state.epoch.elapsed();
    if elapsed < after {
        return;
    }
    let waiting = state.screenshot.is_some() && state.shot != Shot::Saved;
    if !waiting {
        exit.write(AppExit::Success);
    } else if elapsed > after + SCREENSHOT_GRACE {
        state.fail(if state.loaded_at.is_none() {
            format!("the avatar {} did not appear in time", state.model.name)
        } else {
            "the screenshot was not captured in time".to_string()
        });
        exit.write(AppExit::error());
    }
}

/// Frames the avatar again for the window's new shape.
fn reframe_on_resize(
    mut commands: Commands,
    mut resized: MessageReader<WindowResized>,
    cameras: Query<Entity, (With<Stage>, With<Framed>)>,
) {
    if resized.read().last().is_some() {
        for cam in &cameras {
            commands.entity(cam).remove::<Framed>();
        }
    }
}
