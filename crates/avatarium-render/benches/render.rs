//! Headless rendering speed on this machine's adapter (Mesa's software
//! Vulkan where there is no GPU):
//! - frames per second at 512×512 and 1024×1024, talking avatar (mouth,
//!   blinks and head motion changing every frame), including readback;
//! - the same for a one-triangle scene, the baseline of this run: the fixed
//!   cost of a frame (submit, readback, sync) on this adapter;
//! - the time from a viseme change to the frame that shows it;
//! - several stages rendered in one pass.
//!
//! `cargo bench -p avatarium-render --bench render` (`BENCH_FRAMES`, default
//! 120). Without `--bench` it renders a few frames as a smoke test.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use avatarium_lipsync::{Cue, Timeline, Viseme};
use avatarium_render::{ModelSource, Renderer, RendererOptions};

fn talking() -> Timeline {
    let shapes = [
        Viseme::Aa,
        Viseme::PP,
        Viseme::E,
        Viseme::Ou,
        Viseme::SS,
        Viseme::Oh,
        Viseme::FF,
    ];
    let cues = (0..600)
        .map(|i| Cue {
            viseme: shapes[i % shapes.len()],
            start: (i * 90) as u32,
            end: ((i + 1) * 90) as u32,
        })
        .collect();
    Timeline { cues }
}

fn triangle() -> ModelSource {
    use base64::Engine;
    let positions: [f32; 9] = [0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.3, 0.0];
    let bin: Vec<u8> = positions.iter().flat_map(|f| f.to_le_bytes()).collect();
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    let doc = serde_json::json!({
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}], "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                       "min": [0.0, 0.0, 0.0], "max": [0.3, 0.3, 0.0]}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "buffers": [{"byteLength": 36, "uri": uri}]
    });
    ModelSource::new("triangle", serde_json::to_vec(&doc).unwrap())
}

/// Frames per second rendering `frames` consecutive 30 fps instants.
fn fps(r: &Renderer, stage: u64, frames: usize) -> f64 {
    // Warm-up: pipelines compile on first use.
    r.render_one(stage, 0.0).unwrap();
    let t0 = Instant::now();
    for i in 0..frames {
        r.render_one(stage, 1_000.0 + i as f64 * 1000.0 / 30.0)
            .unwrap();
    }
    frames as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let frames: usize = if full {
        std::env::var("BENCH_FRAMES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120)
    } else {
        3
    };
    let r = match Renderer::start(RendererOptions::default()) {
        Ok(r) => r,
        Err(e) => {
            println!("render bench skipped: {e}");
            return;
        }
    };
    let kind = if r.is_software() {
        "CPU (software)"
    } else {
        "GPU"
    };
    println!("adapter: {} — {kind}", r.adapter());
    let avatar = ModelSource::from_path(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/avatars/aria-001.glb"),
    )
    .unwrap();

    let mut rows = Vec::new();
    for size in [512u32, 1024] {
        let base = r.add_stage(triangle(), size, size).unwrap();
        let base_fps = fps(&r, base.id, frames);
        r.remove_stage(base.id);
        let s = r.add_stage(avatar.clone(), size, size).unwrap();
        r.speak(s.id, talking(), 0.0).unwrap();
        let avatar_fps = fps(&r, s.id, frames);
        r.remove_stage(s.id);
        println!(
            "{size}x{size}: talking avatar {avatar_fps:.1} fps ({:.2} ms/frame), one-triangle baseline {base_fps:.1} fps; avatar/baseline {:.2}{}",
            1000.0 / avatar_fps,
            avatar_fps / base_fps,
            if size == 512 && r.is_software() {
                "  (goal >= 30 fps on the CPU renderer)"
            } else if size == 512 {
                "  (goal >= 500 fps on a GPU)"
            } else {
                ""
            }
        );
        rows.push((size, avatar_fps));
    }

    // Viseme change → frame showing it: the change is sent, then the next
    // frame is requested at the instant the new shape holds.
    let s = r.add_stage(avatar.clone(), 512, 512).unwrap();
    let sil = Timeline {
        cues: vec![Cue {
            viseme: Viseme::Sil,
            start: 0,
            end: 100_000,
        }],
    };
    r.speak(s.id, sil, 0.0).unwrap();
    r.render_one(s.id, 500.0).unwrap();
    let mut lat = Vec::new();
    for i in 0..frames.min(60) {
        let t = 1_000.0 + i as f64 * 100.0;
        let change = Timeline {
            cues: vec![Cue {
                viseme: Viseme::Aa,
                start: 0,
                end: 100_000,
            }],
        };
        let t0 = Instant::now();
        // Start the aa cue 200 ms before the frame's instant so the blend
        // has fully reached it: the frame must show the open mouth.
        r.speak(s.id, change, t - 200.0).unwrap();
        r.render_one(s.id, t).unwrap();
        lat.push(t0.elapsed());
    }
    lat.sort();
    let p50 = lat[lat.len() / 2];
    let p99 = lat[(lat.len() * 99 / 100).min(lat.len() - 1)];
    println!(
        "viseme change → frame showing it, 512x512: p50 {:.1} ms, p99 {:.1} ms (one frame of render + readback; the blend itself eases over ~60 ms of clock time)",
        ms(p50),
        ms(p99)
    );
    r.remove_stage(s.id);

    // Several stages in one pass: what a server with several sessions does.
    let n = 4;
    let ids: Vec<u64> = (0..n)
        .map(|_| r.add_stage(avatar.clone(), 256, 256).unwrap().id)
        .collect();
    for id in &ids {
        r.speak(*id, talking(), 0.0).unwrap();
    }
    let reqs = |k: usize| {
        ids.iter()
            .map(|id| (*id, 1_000.0 + k as f64 * 33.3))
            .collect::<Vec<_>>()
    };
    r.render(&reqs(0)).unwrap();
    let t0 = Instant::now();
    for k in 0..frames {
        r.render(&reqs(k + 1)).unwrap();
    }
    let per = frames as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{n} stages of 256x256 in one pass: {per:.1} passes/s = {:.1} frames/s in all",
        per * n as f64
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
