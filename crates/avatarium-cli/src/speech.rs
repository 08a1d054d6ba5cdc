//! `say`, `transcribe` and `models`: the speech engines from the command line.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;

use avatarium_core::Config;
use avatarium_stt::models;
use avatarium_stt::whisper::LocalWhisper;
use avatarium_tts::local::LocalTts;
use avatarium_tts::{SpeechRequest, sentences, wav};

use crate::ModelsCommand;

pub async fn say(
    text: String,
    out: PathBuf,
    visemes: Option<PathBuf>,
    voice: Option<String>,
    speed: Option<f32>,
) -> anyhow::Result<()> {
    let speech = sentences::synthesize_joined(
        LocalTts::shared(),
        SpeechRequest {
            text,
            voice,
            speed,
            pitch: None,
        },
    )
    .await?;
    std::fs::write(&out, wav::encode_wav(&speech.samples, speech.sample_rate))
        .with_context(|| format!("cannot write {}", out.display()))?;
    if let Some(path) = visemes {
        let doc = json!({
            "sampleRate": speech.sample_rate,
            "durationMs": speech.duration_ms(),
            "voiceId": speech.voice_id,
            "visemes": speech.visemes,
            "words": speech.words,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!(
        "Wrote {} ({} ms, {} visemes, voice {})",
        out.display(),
        speech.duration_ms(),
        speech.visemes.cues.len(),
        speech.voice_id
    );
    Ok(())
}

pub async fn transcribe(
    cfg: Config,
    file: PathBuf,
    model: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let dir = cfg.speech_models_dir();
    let wanted = match model {
        Some(m) => m,
        None => models::installed(&dir)
            .into_iter()
            .min_by_key(|m| m.size_bytes)
            .map(|m| m.path.to_string_lossy().into_owned())
            .unwrap_or_else(|| "base.en".into()),
    };
    let path = models::resolve(&dir, &wanted)?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let hint = file.extension().and_then(|e| e.to_str()).map(str::to_owned);
    let transcript = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let pcm = avatarium_stt::decode::decode_to_mono_16k(&bytes, hint.as_deref())?;
        let whisper = LocalWhisper::load(&path)?;
        Ok(whisper.transcribe_pcm(&pcm, None, json)?)
    })
    .await??;
    if json {
        println!("{}", serde_json::to_string_pretty(&transcript)?);
    } else {
        println!("{}", transcript.text.trim());
    }
    Ok(())
}

pub async fn models(cfg: Config, command: ModelsCommand) -> anyhow::Result<()> {
    let dir = cfg.speech_models_dir();
    match command {
        ModelsCommand::List => {
            let installed = models::installed(&dir);
            for m in models::catalog() {
                let here = installed.iter().any(|i| i.name == m.name);
                println!(
                    "{:<16} {:>6} MB  {}",
                    m.name,
                    m.size_mb,
                    if here { "installed" } else { "" }
                );
            }
            for i in installed.iter().filter(|i| i.info.is_none()) {
                println!(
                    "{:<16} {:>6} MB  installed ({})",
                    i.name,
                    i.size_bytes / 1_000_000,
                    i.path.display()
                );
            }
            println!("Models directory: {}", dir.display());
        }
        ModelsCommand::Download { name, base_url } => {
            if models::find(&name).is_none() {
                bail!(
                    "unknown model '{name}'; known: {}",
                    models::catalog()
                        .iter()
                        .map(|m| m.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let http = reqwest::Client::builder()
                .user_agent(concat!("avatarium/", env!("CARGO_PKG_VERSION")))
                .build()?;
            let mut last_pct = u64::MAX;
            let path = models::download(&http, &base_url, &name, &dir, |done, total| {
                let pct = total.map_or(0, |t| done * 100 / t.max(1));
                if pct != last_pct {
                    last_pct = pct;
                    let mb = done as f64 / 1e6;
                    match total {
                        Some(t) => {
                            eprint!("\r{name}: {pct:>3}%  {mb:.1} / {:.1} MB", t as f64 / 1e6)
                        }
                        None => eprint!("\r{name}: {mb:.1} MB"),
                    }
                    let _ = std::io::stderr().flush();
                }
            })
            .await?;
            eprintln!();
            println!("{}", path.display());
        }
    }
    Ok(())
}
