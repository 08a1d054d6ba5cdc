//! `avatarium render`: speak a text with the offline voice and render the
//! avatar saying it, offscreen, into numbered PNG frames with the audio and
//! its viseme timeline beside them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use clap::Args;

use avatarium_core::presets;
use avatarium_render::{Emotion, Frame, ModelSource, Renderer, RendererOptions};
use avatarium_server::assets::AvatarAssets;
use avatarium_tts::local::LocalTts;
use avatarium_tts::{Speech, SpeechRequest, wav};

/// Frames keep going this long after the audio ends, so the mouth is seen
/// to close.
const TAIL_MS: u32 = 300;
/// The clip starts this far into the avatar's clock: an emotion set at
/// clock 0 has eased in by the first frame.
const CLIP_START_MS: f64 = 1_000.0;
/// How strongly `--emotion` shows.
const EMOTION_INTENSITY: f32 = 0.8;

#[derive(Args)]
pub struct RenderArgs {
    /// A shipped avatar's id (aria-001, male-01, …) or a .glb/.vrm file.
    #[arg(long)]
    avatar: String,
    /// What the avatar says.
    #[arg(long)]
    text: String,
    /// The folder frames, audio.wav and visemes.json are written to.
    #[arg(long)]
    out: PathBuf,
    /// Width and height of the frames, in pixels.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(16..=4096))]
    size: u32,
    /// Frames per second of the clip.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=120))]
    fps: u32,
    /// An espeak-ng voice, e.g. en-us, en-gb+f3 [default: the preset's voice].
    #[arg(long)]
    voice: Option<String>,
    /// The avatar's mood: neutral, happy, sad, angry, surprised or thinking.
    #[arg(long)]
    emotion: Option<String>,
}

/// A model to show and the voice that goes with it.
pub struct ResolvedAvatar {
    pub model: ModelSource,
    /// The preset's voice, for a shipped avatar.
    pub voice: Option<String>,
}

/// An `--avatar` value: an existing .glb/.vrm file, else a preset id.
pub fn resolve_avatar(spec: &str) -> anyhow::Result<ResolvedAvatar> {
    let path = Path::new(spec);
    if path.is_file() {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("glb" | "vrm" | "gltf")) {
            bail!("--avatar {spec}: expected a .glb or .vrm model file");
        }
        let model = ModelSource::from_path(path)
            .with_context(|| format!("cannot read the model {}", path.display()))?;
        return Ok(ResolvedAvatar { model, voice: None });
    }
    let preset = presets::by_id(spec).ok_or_else(|| {
        anyhow!(
            "unknown avatar '{spec}': not a model file, nor one of the shipped avatars: {}",
            preset_ids().join(", ")
        )
    })?;
    let file = AvatarAssets::get(&preset.file)
        .with_context(|| format!("the avatar model {} is not in this build", preset.file))?;
    Ok(ResolvedAvatar {
        model: ModelSource::new(preset.id.clone(), file.data.into_owned()),
        voice: Some(preset.voice_id.clone()).filter(|v| !v.is_empty()),
    })
}

fn preset_ids() -> Vec<&'static str> {
    presets::all().iter().map(|p| p.id.as_str()).collect()
}

pub fn parse_emotion(s: &str) -> anyhow::Result<Emotion> {
    Emotion::parse(s).ok_or_else(|| {
        anyhow!("unknown emotion '{s}'; expected neutral, happy, sad, angry, surprised or thinking")
    })
}

/// Speaks `text` with the offline voice.
pub async fn synthesize(text: &str, voice: Option<String>) -> anyhow::Result<Speech> {
    if text.trim().is_empty() {
        bail!("--text must not be empty");
    }
    avatarium_tts::sentences::synthesize_joined(
        LocalTts::shared(),
        SpeechRequest {
            text: text.to_string(),
            voice,
            speed: None,
            pitch: None,
        },
    )
    .await
    .context("speech synthesis failed")
}

pub async fn render(args: RenderArgs) -> anyhow::Result<()> {
    // Everything that can be wrong with the arguments is found before the
    // slow parts start.
    let avatar = resolve_avatar(&args.avatar)?;
    let emotion = args.emotion.as_deref().map(parse_emotion).transpose()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let probe = args.out.join(".avatarium-write-test");
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write into {}", args.out.display()))?;
    let _ = std::fs::remove_file(&probe);

    let speech = synthesize(&args.text, args.voice.clone().or(avatar.voice.clone())).await?;
    let audio = args.out.join("audio.wav");
    std::fs::write(&audio, wav::encode_wav(&speech.samples, speech.sample_rate))
        .with_context(|| format!("cannot write {}", audio.display()))?;
    let visemes = args.out.join("visemes.json");
    std::fs::write(&visemes, serde_json::to_vec_pretty(&speech.visemes)?)
        .with_context(|| format!("cannot write {}", visemes.display()))?;

    let duration_ms = speech.duration_ms();
    let job = Job {
        model: avatar.model,
        size: args.size,
        fps: args.fps,
        emotion,
        speech,
        out: args.out.clone(),
    };
    let done = tokio::task::spawn_blocking(move || render_frames(job)).await??;
    println!(
        "Rendered {} frames ({}x{}) of {duration_ms} ms audio at {} fps in {:.1} s: {:.1} frames/s on {} -> {}",
        done.frames,
        args.size,
        args.size,
        args.fps,
        done.seconds,
        done.frames as f64 / done.seconds.max(1e-9),
        done.adapter,
        args.out.display()
    );
    Ok(())
}

struct Job {
    model: ModelSource,
    size: u32,
    fps: u32,
    emotion: Option<Emotion>,
    speech: Speech,
    out: PathBuf,
}

struct Done {
    frames: usize,
    seconds: f64,
    adapter: String,
}

/// How many frames cover `duration_ms` of audio plus the tail at `fps`.
fn frame_count(duration_ms: u32, fps: u32) -> usize {
    (u64::from(duration_ms + TAIL_MS) * u64::from(fps)).div_ceil(1000) as usize
}

fn frame_path(out: &Path, index: usize) -> PathBuf {
    out.join(format!("frame_{:05}.png", index + 1))
}

/// Renders the clip on this thread while a few workers encode and write the
/// frames: the renderer is the bottleneck, so it never waits on encoding.
fn render_frames(job: Job) -> anyhow::Result<Done> {
    let renderer = Renderer::start(RendererOptions::default())?;
    let stage = renderer
        .add_stage(job.model.clone(), job.size, job.size)
        .with_context(|| format!("cannot show the avatar {}", job.model.name))?;
    for w in &stage.warnings {
        eprintln!("warning: {}: {w}", job.model.name);
    }
    if let Some(emotion) = job.emotion {
        renderer.set_emotion(stage.id, emotion, EMOTION_INTENSITY, 0.0)?;
    }
    renderer.speak(stage.id, job.speech.visemes.clone(), CLIP_START_MS)?;

    let count = frame_count(job.speech.duration_ms(), job.fps);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    // A short queue: frames are ~1 MB each at 512², and if encoding ever
    // falls behind, rendering should wait rather than memory grow.
    let (tx, rx) = mpsc::sync_channel::<(usize, Frame)>(workers * 2);
    let rx = Arc::new(Mutex::new(rx));
    let started = Instant::now();
    let rendered = std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let out = job.out.as_path();
                scope.spawn(move || -> anyhow::Result<()> {
                    loop {
                        let next = rx.lock().expect("queue lock").recv();
                        let Ok((index, frame)) = next else {
                            return Ok(());
                        };
                        let path = frame_path(out, index);
                        std::fs::write(&path, frame.to_png())
                            .with_context(|| format!("cannot write {}", path.display()))?;
                    }
                })
            })
            .collect();
        // The workers hold the only receivers now: if they all stop on an
        // error, sending fails rather than blocking.
        drop(rx);
        let mut result = Ok(());
        for index in 0..count {
            let t = CLIP_START_MS + index as f64 * 1000.0 / f64::from(job.fps);
            let frame = match renderer.render_one(stage.id, t) {
                Ok(f) => f,
                Err(e) => {
                    result = Err(anyhow::Error::from(e).context(format!("frame {}", index + 1)));
                    break;
                }
            };
            // A send fails only when every worker has stopped on an error,
            // which joining them reports.
            if tx.send((index, frame)).is_err() {
                break;
            }
        }
        drop(tx);
        for h in handles {
            h.join().expect("encoder thread panicked")?;
        }
        result
    });
    rendered?;
    Ok(Done {
        frames: count,
        seconds: started.elapsed().as_secs_f64(),
        adapter: renderer.adapter().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cover_the_audio_and_the_tail() {
        assert_eq!(frame_count(0, 30), 9);
        assert_eq!(frame_count(1_000, 15), 20);
        assert_eq!(frame_count(2_701, 10), 31);
    }

    #[test]
    fn presets_resolve_and_unknown_ids_list_them() {
        let a = resolve_avatar("aria-001").unwrap();
        assert!(a.model.bytes.starts_with(b"glTF"));
        assert_eq!(a.voice.as_deref(), Some("en-us+f3"));
        let err = resolve_avatar("nobody-99").err().unwrap().to_string();
        for id in ["aria-001", "avatar_1", "female-01", "male-02"] {
            assert!(err.contains(id), "{err}");
        }
    }
}
