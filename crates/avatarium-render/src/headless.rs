//! The offscreen renderer: one Bevy app on its own thread, kept alive and
//! reused, rendering any number of stages (an avatar and its camera) into
//! images read back as RGBA frames. It runs on a GPU or, where there is
//! none, on Mesa's software Vulkan (lavapipe).
//!
//! Frames are rendered on request for an exact instant of the avatar's
//! clock, so the caller decides the frame rate (a session ticks it in real
//! time, `avatarium render` steps through a clip) and the same request
//! always gives the same picture.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use avatarium_lipsync::Timeline;
use bevy::app::PluginsState;
use bevy::camera::RenderTarget;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::image::ImageSampler;
use bevy::prelude::*;
use bevy::render::extract_resource::{ExtractResource, ExtractResourcePlugin};
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy::render::render_asset::RenderAssets;
use bevy::render::render_resource::{
    BufferDescriptor, BufferUsages, CommandEncoderDescriptor, MapMode, PollType,
    TexelCopyBufferInfo, TexelCopyBufferLayout, TextureFormat, TextureUsages,
};
use bevy::render::renderer::{RenderAdapterInfo, RenderDevice, RenderQueue};
use bevy::render::texture::GpuImage;
use bevy::render::view::Msaa;
use bevy::render::{Render, RenderApp, RenderSystems};
use bevy::window::ExitCondition;

use crate::avatar::{AvatarAssets, AvatarClock, FaceRig, ModelSource, Mood, spawn_avatar};
use crate::face::Speech;
use crate::presence::Emotion;
use crate::rig::MouthMode;
use crate::stage::Stage;

/// Errors of the offscreen renderer.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no graphics adapter: install a GPU driver or Mesa's software Vulkan (Debian: mesa-vulkan-drivers)"
    )]
    NoAdapter,
    #[error("the renderer has stopped")]
    Stopped,
    #[error("model: {0}")]
    Model(#[from] crate::vrm::ModelError),
    #[error("the model did not load within {0:?} (is it a valid glTF/VRM file?)")]
    LoadTimeout(Duration),
    #[error("no such stage: {0}")]
    UnknownStage(u64),
    #[error("frame readback failed: {0}")]
    Readback(String),
    #[error("frame size {0}x{1} is out of range (16..=4096)")]
    BadSize(u32, u32),
}

/// One rendered frame: tightly packed sRGB RGBA8 rows, top row first.
#[derive(Clone)]
pub struct Frame {
    pub stage: u64,
    /// The avatar clock instant it shows, in ms.
    pub t_ms: f64,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("stage", &self.stage)
            .field("t_ms", &self.t_ms)
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Frame {
    fn image(&self) -> image::RgbaImage {
        image::RgbaImage::from_raw(self.width, self.height, self.rgba.clone())
            .expect("frame buffer matches its size")
    }

    /// The frame as a PNG file.
    pub fn to_png(&self) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.image()
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("encoding to memory cannot fail");
        out.into_inner()
    }

    /// The frame as a JPEG file (`quality` 1–100).
    pub fn to_jpeg(&self, quality: u8) -> Vec<u8> {
        let rgb = image::DynamicImage::ImageRgba8(self.image()).to_rgb8();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
            .encode_image(&rgb)
            .expect("encoding to memory cannot fail");
        out
    }
}

/// What a stage knows about its avatar once loaded.
#[derive(Clone, Debug)]
pub struct StageInfo {
    pub id: u64,
    pub mouth: MouthMode,
    pub morph_targets: usize,
    pub warnings: Vec<String>,
}

/// Options for the renderer.
#[derive(Clone, Debug)]
pub struct RendererOptions {
    /// 4× multisampling: smoother edges, at about twice the frame time on
    /// the software renderer. `None` picks it on GPUs only.
    pub msaa: Option<bool>,
    /// Cheap shading instead of PBR (see [`crate::lite`]). `None` picks it
    /// on software renderers only.
    pub lite: Option<bool>,
    /// How long a model may take to load.
    pub load_timeout: Duration,
}

impl Default for RendererOptions {
    fn default() -> Self {
        Self {
            msaa: None,
            lite: None,
            load_timeout: Duration::from_secs(60),
        }
    }
}

enum Cmd {
    AddStage {
        model: ModelSource,
        width: u32,
        height: u32,
        reply: mpsc::Sender<Result<StageInfo, RenderError>>,
    },
    RemoveStage(u64),
    Speak {
        stage: u64,
        timeline: Option<Timeline>,
        start_ms: f64,
    },
    Emotion {
        stage: u64,
        emotion: Emotion,
        intensity: f32,
        at_ms: f64,
    },
    Render {
        requests: Vec<(u64, f64)>,
        reply: mpsc::Sender<Result<Vec<Frame>, RenderError>>,
    },
}

/// A handle on the renderer thread. Cheap to clone; the thread stops when
/// the last handle is dropped.
#[derive(Clone)]
pub struct Renderer {
    tx: mpsc::Sender<Cmd>,
    adapter: String,
    _thread: std::sync::Arc<ThreadGuard>,
}

struct ThreadGuard(Option<JoinHandle<()>>);

impl Drop for ThreadGuard {
    fn drop(&mut self) {
        // The command channel is closed by now (the last sender went with
        // the last `Renderer`), so the loop ends; wait for Bevy to drop its
        // device cleanly.
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl Renderer {
    /// Starts the renderer thread and its graphics device.
    pub fn start(options: RendererOptions) -> Result<Self, RenderError> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("avatarium-render".into())
            .spawn(move || {
                let (mut app, frames) = match build_app() {
                    Ok(built) => built,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let adapter = app
                    .world()
                    .get_resource::<RenderAdapterInfo>()
                    .map(|i| format!("{} ({:?})", i.name, i.backend))
                    .unwrap_or_default();
                let _ = ready_tx.send(Ok(adapter.clone()));
                let mut options = options;
                options.msaa.get_or_insert(!is_software(&adapter));
                if *options.lite.get_or_insert(is_software(&adapter)) {
                    app.insert_resource(crate::lite::LiteShading);
                }
                run(app, rx, frames, options);
            })
            .expect("spawning a thread");
        let adapter = ready_rx.recv().map_err(|_| RenderError::NoAdapter)??;
        Ok(Self {
            tx,
            adapter,
            _thread: std::sync::Arc::new(ThreadGuard(Some(thread))),
        })
    }

    /// The graphics adapter in use, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)`.
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// Whether the adapter is a CPU (software) renderer.
    pub fn is_software(&self) -> bool {
        let a = self.adapter.to_ascii_lowercase();
        a.contains("llvmpipe")
            || a.contains("lavapipe")
            || a.contains("swiftshader")
            || a.contains("software")
    }

    /// Loads a model onto a new stage rendering at `width`×`height`.
    pub fn add_stage(
        &self,
        model: ModelSource,
        width: u32,
        height: u32,
    ) -> Result<StageInfo, RenderError> {
        if !(16..=4096).contains(&width) || !(16..=4096).contains(&height) {
            return Err(RenderError::BadSize(width, height));
        }
        let (reply, rx) = mpsc::channel();
        self.send(Cmd::AddStage {
            model,
            width,
            height,
            reply,
        })?;
        rx.recv().map_err(|_| RenderError::Stopped)?
    }

    pub fn remove_stage(&self, stage: u64) {
        let _ = self.tx.send(Cmd::RemoveStage(stage));
    }

    /// Plays a viseme timeline whose audio starts at clock time `start_ms`.
    pub fn speak(&self, stage: u64, timeline: Timeline, start_ms: f64) -> Result<(), RenderError> {
        self.send(Cmd::Speak {
            stage,
            timeline: Some(timeline),
            start_ms,
        })
    }

    /// Stops speech at once (barge-in).
    pub fn stop_speaking(&self, stage: u64) -> Result<(), RenderError> {
        self.send(Cmd::Speak {
            stage,
            timeline: None,
            start_ms: 0.0,
        })
    }

    /// Starts easing towards an emotion at clock time `at_ms`.
    pub fn set_emotion(
        &self,
        stage: u64,
        emotion: Emotion,
        intensity: f32,
        at_ms: f64,
    ) -> Result<(), RenderError> {
        self.send(Cmd::Emotion {
            stage,
            emotion,
            intensity,
            at_ms,
        })
    }

    /// Renders one frame of each `(stage, clock ms)` in one pass.
    pub fn render(&self, requests: &[(u64, f64)]) -> Result<Vec<Frame>, RenderError> {
        let (reply, rx) = mpsc::channel();
        self.send(Cmd::Render {
            requests: requests.to_vec(),
            reply,
        })?;
        rx.recv().map_err(|_| RenderError::Stopped)?
    }

    /// Renders one frame of one stage.
    pub fn render_one(&self, stage: u64, t_ms: f64) -> Result<Frame, RenderError> {
        self.render(&[(stage, t_ms)])?
            .pop()
            .ok_or(RenderError::UnknownStage(stage))
    }

    fn send(&self, cmd: Cmd) -> Result<(), RenderError> {
        self.tx.send(cmd).map_err(|_| RenderError::Stopped)
    }
}

fn is_software(adapter: &str) -> bool {
    let a = adapter.to_ascii_lowercase();
    ["llvmpipe", "lavapipe", "swiftshader", "software"]
        .iter()
        .any(|k| a.contains(k))
}

/// Which stages to read back this frame, extracted to the render world.
#[derive(Resource, Clone, Default)]
struct CaptureRequests(Vec<(u64, Handle<Image>)>);

impl ExtractResource for CaptureRequests {
    type Source = CaptureRequests;
    fn extract_resource(source: &Self::Source) -> Self {
        source.clone()
    }
}

type Captured = (u64, Result<(u32, u32, Vec<u8>), String>);

#[derive(Resource)]
struct CaptureSender(mpsc::Sender<Captured>);

struct CapturePlugin(mpsc::Sender<Captured>);

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CaptureRequests>()
            .add_plugins(ExtractResourcePlugin::<CaptureRequests>::default());
        app.sub_app_mut(RenderApp)
            .insert_resource(CaptureSender(self.0.clone()))
            .add_systems(
                Render,
                capture
                    .after(RenderSystems::Render)
                    .before(RenderSystems::Cleanup),
            );
    }
}

/// Copies each requested target to a buffer and waits for it: the frame is
/// complete when `App::update` returns, which keeps frames and the instants
/// they show in lock-step.
fn capture(
    requests: Res<CaptureRequests>,
    images: Res<RenderAssets<GpuImage>>,
    device: Res<RenderDevice>,
    queue: Res<RenderQueue>,
    sender: Res<CaptureSender>,
) {
    if requests.0.is_empty() {
        return;
    }
    let mut encoder = device.create_command_encoder(&CommandEncoderDescriptor {
        label: Some("avatarium capture"),
    });
    let mut pending = Vec::new();
    for (stage, handle) in &requests.0 {
        let Some(gpu) = images.get(handle) else {
            let _ = sender
                .0
                .send((*stage, Err("target image not on the GPU yet".into())));
            continue;
        };
        let size = gpu.texture_descriptor.size;
        let row = size.width as usize * 4;
        let padded = RenderDevice::align_copy_bytes_per_row(row);
        let buffer = device.create_buffer(&BufferDescriptor {
            label: Some("avatarium capture"),
            size: (padded * size.height as usize) as u64,
            usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            gpu.texture.as_image_copy(),
            TexelCopyBufferInfo {
                buffer: &buffer,
                layout: TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded as u32),
                    rows_per_image: None,
                },
            },
            size,
        );
        pending.push((*stage, size, row, padded, buffer));
    }
    queue.submit([encoder.finish()]);
    for (_, _, _, _, buffer) in &pending {
        buffer.slice(..).map_async(MapMode::Read, |_| {});
    }
    if let Err(e) = device.poll(PollType::wait_indefinitely()) {
        for (stage, ..) in &pending {
            let _ = sender.0.send((*stage, Err(e.to_string())));
        }
        return;
    }
    for (stage, size, row, padded, buffer) in pending {
        let data = buffer.slice(..).get_mapped_range();
        let mut rgba = Vec::with_capacity(row * size.height as usize);
        for y in 0..size.height as usize {
            rgba.extend_from_slice(&data[y * padded..y * padded + row]);
        }
        drop(data);
        buffer.unmap();
        let _ = sender.0.send((stage, Ok((size.width, size.height, rgba))));
    }
}

fn build_app() -> Result<(App, mpsc::Receiver<Captured>), RenderError> {
    let (tx, rx) = mpsc::channel();
    let mut app = App::new();
    crate::avatar::register_avatar_source(&mut app);
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: None,
                exit_condition: ExitCondition::DontExit,
                close_when_requested: false,
                ..default()
            })
            .disable::<bevy::winit::WinitPlugin>()
            // Frames must be read back in the update that renders them.
            .disable::<PipelinedRenderingPlugin>()
            // The host process owns logging.
            .disable::<bevy::log::LogPlugin>()
            .set(bevy::render::RenderPlugin {
                // Compile pipelines before the first frame rather than
                // showing nothing until they are ready.
                synchronous_pipeline_compilation: true,
                ..default()
            }),
    )
    .add_plugins((crate::AvatarRenderPlugins, CapturePlugin(tx)));
    // Bevy's default runner does this dance; a hand-driven app must too.
    while app.plugins_state() == PluginsState::Adding {
        bevy::tasks::tick_global_task_pools_on_main_thread();
    }
    app.finish();
    app.cleanup();
    if app.world().get_resource::<RenderDevice>().is_none() {
        return Err(RenderError::NoAdapter);
    }
    Ok((app, rx))
}

struct StageEntry {
    avatar: Entity,
    camera: Entity,
    image: Handle<Image>,
}

fn run(
    mut app: App,
    rx: mpsc::Receiver<Cmd>,
    frames: mpsc::Receiver<Captured>,
    options: RendererOptions,
) {
    let mut stages: std::collections::HashMap<u64, StageEntry> = Default::default();
    let mut next_id = 1u64;
    while let Ok(cmd) = rx.recv() {
        match cmd {
            Cmd::AddStage {
                model,
                width,
                height,
                reply,
            } => {
                let id = next_id;
                next_id += 1;
                let res = add_stage(&mut app, id, &model, width, height, &options).map(
                    |(entry, info)| {
                        stages.insert(id, entry);
                        info
                    },
                );
                let _ = reply.send(res);
            }
            Cmd::RemoveStage(id) => {
                if let Some(s) = stages.remove(&id) {
                    let world = app.world_mut();
                    world.entity_mut(s.camera).despawn();
                    world.entity_mut(s.avatar).despawn();
                    world.resource_mut::<Assets<Image>>().remove(&s.image);
                }
            }
            Cmd::Speak {
                stage,
                timeline,
                start_ms,
            } => {
                if let Some(s) = stages.get(&stage)
                    && let Some(mut speech) = app.world_mut().get_mut::<Speech>(s.avatar)
                {
                    match timeline {
                        Some(tl) => speech.play(tl, start_ms),
                        None => speech.stop(),
                    }
                }
            }
            Cmd::Emotion {
                stage,
                emotion,
                intensity,
                at_ms,
            } => {
                if let Some(s) = stages.get(&stage)
                    && let Some(mut mood) = app.world_mut().get_mut::<Mood>(s.avatar)
                {
                    mood.set(emotion, intensity, at_ms);
                }
            }
            Cmd::Render { requests, reply } => {
                let _ = reply.send(render(&mut app, &frames, &stages, &requests));
            }
        }
    }
}

fn add_stage(
    app: &mut App,
    id: u64,
    model: &ModelSource,
    width: u32,
    height: u32,
    options: &RendererOptions,
) -> Result<(StageEntry, StageInfo), RenderError> {
    let world = app.world_mut();
    let assets = world.resource::<AvatarAssets>().clone();
    let server = world.resource::<AssetServer>().clone();
    let mut image = Image::new_target_texture(width, height, TextureFormat::Rgba8UnormSrgb, None);
    image.texture_descriptor.usage |= TextureUsages::COPY_SRC;
    image.sampler = ImageSampler::linear();
    let image = world.resource_mut::<Assets<Image>>().add(image);
    // Stages stand far apart so no camera sees another stage's avatar.
    let place = Transform::from_xyz(id as f32 * 50.0, 0.0, 0.0);
    let mut commands = world.commands();
    let avatar = spawn_avatar(&mut commands, &assets, &server, model, place, id)?;
    let camera = commands
        .spawn((
            Name::new(format!("stage {id}")),
            Camera3d::default(),
            RenderTarget::Image(image.clone().into()),
            Tonemapping::TonyMcMapface,
            if options.msaa == Some(true) {
                Msaa::Sample4
            } else {
                Msaa::Off
            },
            Transform::default(),
            Stage { avatar },
        ))
        .id();
    world.flush();
    world
        .entity_mut(avatar)
        .get_mut::<AvatarClock>()
        .expect("spawned with a clock")
        .external = true;
    let started = Instant::now();
    loop {
        app.update();
        // Ready once the rig is bound and the camera framed for it; one more
        // update then carries the camera's new transform to the renderer.
        if app.world().get::<crate::stage::Framed>(camera).is_some()
            && app.world().get::<FaceRig>(avatar).is_some()
        {
            app.update();
            let rig = app.world().get::<FaceRig>(avatar).expect("still there");
            let info = StageInfo {
                id,
                mouth: rig.mouth,
                morph_targets: rig.morph_targets,
                warnings: rig.warnings.clone(),
            };
            return Ok((
                StageEntry {
                    avatar,
                    camera,
                    image,
                },
                info,
            ));
        }
        if started.elapsed() > options.load_timeout {
            let world = app.world_mut();
            world.entity_mut(camera).despawn();
            world.entity_mut(avatar).despawn();
            return Err(RenderError::LoadTimeout(options.load_timeout));
        }
        // Loading happens on Bevy's IO threads; don't spin on them.
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn render(
    app: &mut App,
    rx: &mpsc::Receiver<Captured>,
    stages: &std::collections::HashMap<u64, StageEntry>,
    requests: &[(u64, f64)],
) -> Result<Vec<Frame>, RenderError> {
    for (id, _) in requests {
        if !stages.contains_key(id) {
            return Err(RenderError::UnknownStage(*id));
        }
    }
    let world = app.world_mut();
    let mut capture = Vec::new();
    // Every stage renders every pass; only the requested ones are read back
    // and have their clocks set. Bevy caches a mesh's morph-weight slot
    // while it is visible, and a stage whose camera was switched off comes
    // back with stale mouth shapes, so cameras stay on.
    for (id, s) in stages {
        if let Some((_, t)) = requests.iter().find(|(r, _)| r == id) {
            world
                .get_mut::<AvatarClock>(s.avatar)
                .expect("avatar clock")
                .t_ms = *t;
            capture.push((*id, s.image.clone()));
        }
    }
    world.resource_mut::<CaptureRequests>().0 = capture;
    app.update();
    let mut frames = Vec::with_capacity(requests.len());
    for _ in requests {
        let (stage, res) = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| RenderError::Readback("no frame came back".into()))?;
        let (width, height, rgba) = res.map_err(RenderError::Readback)?;
        let t_ms = requests
            .iter()
            .find(|(r, _)| *r == stage)
            .map_or(0.0, |r| r.1);
        frames.push(Frame {
            stage,
            t_ms,
            width,
            height,
            rgba,
        });
    }
    app.world_mut().resource_mut::<CaptureRequests>().0.clear();
    frames.sort_by_key(|f| requests.iter().position(|(r, _)| *r == f.stage));
    Ok(frames)
}
