//! The pop-out avatar: a native Bevy window showing the avatar idling
//! (blinking, breathing), in its own process.
//!
//! Bevy (winit) and Tauri (tao) each need to own the main thread's event
//! loop, so they cannot share a process: the app starts itself again with
//! `--avatar-window --avatar ID`, which `main` handles before Tauri starts.
//! `avatarium view`'s window lives in the CLI crate and is not a library
//! function, so this is a small window of its own over the same public
//! renderer (`avatarium-render`'s plugins, `spawn_avatar`, the stage
//! camera). The server already links Bevy and the renderer, so this costs
//! the desktop build nothing extra, and the installed app needs no CLI.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use avatarium_core::{SqliteStore, Store, config, presets};
use avatarium_render::avatar::{AvatarAssets, spawn_avatar};
use avatarium_render::stage::{Framed, Stage};
use avatarium_render::{AvatarRenderPlugins, ModelSource, register_avatar_source};
use avatarium_server::assets::AvatarAssets as ShippedAvatars;
use bevy::core_pipeline::tonemapping::Tonemapping;
use bevy::prelude::*;
use bevy::window::{WindowResized, WindowResolution};

/// Which model to show for `spec`, in this order: a shipped avatar's id, a
/// .glb/.vrm file, one of your avatars (by id or short id) with an uploaded
/// model or a preset, in the data directory `data_dir`.
pub fn resolve(spec: &str, data_dir: &Path) -> anyhow::Result<ModelSource> {
    let spec = spec.trim();
    if spec.is_empty() {
        bail!("--avatar must not be empty");
    }
    if let Some(model) = shipped(spec)? {
        return Ok(model);
    }
    let path = Path::new(spec);
    if path.is_file() {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("glb" | "vrm")) {
            bail!("--avatar {spec}: expected a .glb or .vrm model file");
        }
        return ModelSource::from_path(path)
            .with_context(|| format!("cannot read the model {}", path.display()));
    }
    // Ids are generated names; never let one walk out of the models folder.
    let plain_id = spec
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain_id {
        let cfg = config::Config::new(data_dir);
        let uploaded = cfg.models_dir().join(spec).join("model.glb");
        if uploaded.is_file() {
            return ModelSource::from_path(&uploaded)
                .with_context(|| format!("cannot read the model {}", uploaded.display()));
        }
        if let Some(model) = from_store(spec, &cfg)? {
            return Ok(model);
        }
    }
    Err(anyhow!(
        "unknown avatar '{spec}': not one of the shipped avatars ({}), a model file, nor one of \
         your avatars in {}",
        presets::all()
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        data_dir.display()
    ))
}

fn shipped(id: &str) -> anyhow::Result<Option<ModelSource>> {
    let Some(preset) = presets::by_id(id) else {
        return Ok(None);
    };
    let file = ShippedAvatars::get(&preset.file)
        .with_context(|| format!("the avatar model {} is not in this build", preset.file))?;
    Ok(Some(ModelSource::new(
        preset.id.clone(),
        file.data.into_owned(),
    )))
}

/// One of the owner's avatars: its uploaded model, else its preset's.
fn from_store(id: &str, cfg: &config::Config) -> anyhow::Result<Option<ModelSource>> {
    let db = cfg.db_path();
    if !db.is_file() {
        return Ok(None);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let record = rt.block_on(async {
        let store = SqliteStore::open(&db).await?;
        let owner = store.owner().await?;
        let found = match store.avatar(&owner.id, id).await? {
            Some(a) => Some(a),
            None => store
                .avatar_by_short_id(id)
                .await?
                .filter(|a| a.account_id == owner.id),
        };
        store.close().await;
        anyhow::Ok(found)
    })?;
    let Some(avatar) = record else {
        return Ok(None);
    };
    let uploaded = cfg.models_dir().join(&avatar.id).join("model.glb");
    if uploaded.is_file() {
        let mut model = ModelSource::from_path(&uploaded)?;
        model.name = avatar.name;
        return Ok(Some(model));
    }
    let preset = avatar
        .settings
        .avatar_preset
        .as_deref()
        .unwrap_or(presets::DEFAULT_PRESET);
    Ok(shipped(preset)?.map(|mut m| {
        m.name = avatar.name;
        m
    }))
}

/// Shows `model` until the window is closed (or `exit_after` passes).
pub fn run(model: ModelSource, exit_after: Option<Duration>) -> anyhow::Result<()> {
    let failure = Arc::new(Mutex::new(None::<String>));
    let mut app = App::new();
    register_avatar_source(&mut app);
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: format!("Avatarium — {}", model.name),
            resolution: WindowResolution::new(560, 640),
            ..default()
        }),
        ..default()
    }))
    .add_plugins(AvatarRenderPlugins)
    .insert_resource(PopOut {
        model,
        exit_after,
        started: Instant::now(),
        failure: Arc::clone(&failure),
    })
    .add_systems(Startup, setup)
    .add_systems(Update, (reframe_on_resize, exit_when_due));
    let exit = app.run();
    if let Some(msg) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        bail!(msg);
    }
    if let AppExit::Error(code) = exit {
        bail!("the avatar window closed with an error (code {code})");
    }
    Ok(())
}

#[derive(Resource)]
struct PopOut {
    model: ModelSource,
    exit_after: Option<Duration>,
    started: Instant,
    failure: Arc<Mutex<Option<String>>>,
}

fn setup(
    mut commands: Commands,
    state: Res<PopOut>,
    assets: Res<AvatarAssets>,
    server: Res<AssetServer>,
    mut exit: MessageWriter<AppExit>,
) {
    let avatar = match spawn_avatar(
        &mut commands,
        &assets,
        &server,
        &state.model,
        Transform::default(),
        1,
    ) {
        Ok(e) => e,
        Err(e) => {
            *state.failure.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("cannot show the avatar {}: {e}", state.model.name));
            exit.write(AppExit::error());
            return;
        }
    };
    commands.spawn((
        Name::new("pop-out camera"),
        Camera3d::default(),
        Tonemapping::TonyMcMapface,
        Transform::default(),
        Stage { avatar },
    ));
}

fn exit_when_due(state: Res<PopOut>, mut exit: MessageWriter<AppExit>) {
    if state
        .exit_after
        .is_some_and(|after| state.started.elapsed() >= after)
    {
        exit.write(AppExit::Success);
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

/// The command line that opens the pop-out window for `avatar`: this same
/// executable, in avatar-window mode.
pub fn command(exe: &Path, avatar: &str, data_dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--avatar-window")
        .arg("--avatar")
        .arg(avatar)
        .arg("--data-dir")
        .arg(data_dir);
    cmd
}

/// This executable, for [`command`].
pub fn current_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find this program's path to open the avatar window")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_avatars_resolve_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let m = resolve(presets::DEFAULT_PRESET, dir.path()).unwrap();
        assert_eq!(m.name, presets::DEFAULT_PRESET);
        assert!(m.bytes.starts_with(b"glTF"), "a GLB");
    }

    #[test]
    fn unknown_avatars_and_paths_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve("nobody-here", dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("unknown avatar 'nobody-here'") && e.contains("aria-001"),
            "{e}"
        );
        assert!(resolve("  ", dir.path()).is_err());
        // Not a plain id: never looked up under the models folder.
        assert!(resolve("../../etc/passwd", dir.path()).is_err());
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, "hi").unwrap();
        let e = resolve(txt.to_str().unwrap(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a .glb or .vrm"), "{e}");
    }

    #[test]
    fn uploaded_models_resolve_by_avatar_id() {
        let dir = tempfile::tempdir().unwrap();
        let glb = shipped(presets::DEFAULT_PRESET).unwrap().unwrap();
        let folder = dir.path().join("models").join("av_123");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("model.glb"), glb.bytes.as_slice()).unwrap();
        let m = resolve("av_123", dir.path()).unwrap();
        assert_eq!(m.bytes.len(), glb.bytes.len());
    }

    #[test]
    fn the_pop_out_command_re_runs_this_program_in_window_mode() {
        let cmd = command(
            Path::new("/opt/av/avatarium-desktop"),
            "aria-001",
            Path::new("/d"),
        );
        assert_eq!(cmd.get_program(), "/opt/av/avatarium-desktop");
        let args: Vec<_> = cmd.get_args().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "--avatar-window",
                "--avatar",
                "aria-001",
                "--data-dir",
                "/d"
            ]
        );
    }
}
