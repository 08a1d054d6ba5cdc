//! Renders `assets/avatars/<id>.png` for every shipped avatar: a 512×512
//! portrait, smiling, eyes open, mouth at rest.
//!
//! `cargo run -p avatarium-render --example thumbnails`

use std::path::PathBuf;

use avatarium_render::presence::BlinkSchedule;
use avatarium_render::{Emotion, ModelSource, Renderer, RendererOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/avatars");
    // Thumbnails get the full look: PBR and multisampling, whatever the adapter.
    let renderer = Renderer::start(RendererOptions {
        msaa: Some(true),
        lite: Some(false),
        ..Default::default()
    })?;
    println!("adapter: {}", renderer.adapter());
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("glb"))
        .collect();
    paths.sort();
    for path in paths {
        let info = renderer.add_stage(ModelSource::from_path(&path)?, 512, 512)?;
        renderer.set_emotion(info.id, Emotion::Happy, 0.8, 0.0)?;
        // An instant well after the smile has eased in, between blinks.
        let onsets = BlinkSchedule::new(info.id).onsets_until(20_000.0);
        let t = onsets
            .windows(2)
            .find(|w| w[0] > 1_000.0 && w[1] - w[0] > 1_000.0)
            .map_or(5_000.0, |w| w[0] + 600.0);
        let frame = renderer.render_one(info.id, t)?;
        let out = path.with_extension("png");
        std::fs::write(&out, frame.to_png())?;
        println!("{}", out.display());
        renderer.remove_stage(info.id);
    }
    Ok(())
}
