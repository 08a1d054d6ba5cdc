//! Real rendering, offscreen, on whatever adapter the machine has (Mesa's
//! software Vulkan in CI). One renderer serves every test in this file, as
//! one renderer serves a whole server.

use std::path::PathBuf;

use base64::Engine;
use std::sync::OnceLock;

use avatarium_lipsync::{Cue, Timeline, Viseme};
use avatarium_render::presence::{BLINK_CLOSE_MS, BlinkSchedule};
use avatarium_render::{Frame, ModelSource, MouthMode, Renderer, RendererOptions};

const SIZE: u32 = 256;

fn renderer() -> &'static Renderer {
    static R: OnceLock<Renderer> = OnceLock::new();
    R.get_or_init(|| {
        let r = Renderer::start(RendererOptions::default())
            .expect("a graphics adapter (install mesa-vulkan-drivers for the software renderer)");
        eprintln!("adapter: {}", r.adapter());
        r
    })
}

fn avatars_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/avatars")
}

fn model(id: &str) -> ModelSource {
    ModelSource::from_path(&avatars_dir().join(format!("{id}.glb"))).unwrap()
}

/// A timeline holding one viseme from 0 to 2 s.
fn hold(v: Viseme) -> Timeline {
    Timeline {
        cues: vec![Cue {
            viseme: v,
            start: 0,
            end: 2_000,
        }],
    }
}

/// A stage whose avatar holds `v` at clock 1 s (mid-cue, well before the
/// first blink of its seed is checked by the caller).
fn frame_with(stage: u64, v: Viseme, t: f64) -> Frame {
    let r = renderer();
    r.speak(stage, hold(v), t - 1_000.0).unwrap();
    r.render_one(stage, t).unwrap()
}

/// A time in the stage's blink schedule with the eyes open and no blink
/// within 500 ms either side.
fn open_eyes_time(stage: u64) -> f64 {
    let onsets = BlinkSchedule::new(stage).onsets_until(60_000.0);
    for w in onsets.windows(2) {
        let mid = 0.5 * (w[0] + w[1]);
        if w[1] - w[0] > 1_500.0 && mid > 1_200.0 {
            return mid;
        }
    }
    panic!("no quiet gap in {onsets:?}");
}

/// Pixels that differ by more than `tol` in any channel, and their bounds.
fn diff(a: &Frame, b: &Frame, tol: u8) -> (usize, Option<(u32, u32, u32, u32)>) {
    let mut n = 0;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (i, (pa, pb)) in a.rgba.chunks(4).zip(b.rgba.chunks(4)).enumerate() {
        if pa.iter().zip(pb).any(|(x, y)| x.abs_diff(*y) > tol) {
            n += 1;
            let (x, y) = (i as u32 % a.width, i as u32 / a.width);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (n, (n > 0).then_some((x0, y0, x1, y1)))
}

fn luma(f: &Frame, x: u32, y: u32) -> f32 {
    let i = ((y * f.width + x) * 4) as usize;
    0.2126 * f32::from(f.rgba[i])
        + 0.7152 * f32::from(f.rgba[i + 1])
        + 0.0722 * f32::from(f.rgba[i + 2])
}

/// Pixels within a box that are much darker than in `rest`: the inside of
/// an opening mouth (the skin around it is far brighter).
fn darkened(f: &Frame, rest: &Frame, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> usize {
    let mut n = 0;
    for y in y0..=y1 {
        for x in x0..=x1 {
            if luma(f, x, y) < 0.6 * luma(rest, x, y) {
                n += 1;
            }
        }
    }
    n
}

fn save(name: &str, f: &Frame) {
    // Kept for a human to look at when a test fails.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("render-tests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), f.to_png()).unwrap();
}

#[test]
fn mouth_shapes_blinks_and_determinism() {
    let r = renderer();
    let info = r.add_stage(model("aria-001"), SIZE, SIZE).unwrap();
    assert_eq!(info.mouth, MouthMode::Visemes);
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    let stage = info.id;
    let t = open_eyes_time(stage);

    let sil = frame_with(stage, Viseme::Sil, t);
    let aa = frame_with(stage, Viseme::Aa, t);
    let pp = frame_with(stage, Viseme::PP, t);
    save("sil", &sil);
    save("aa", &aa);
    save("pp", &pp);
    assert_eq!(
        (sil.width, sil.height, sil.rgba.len()),
        (SIZE, SIZE, (SIZE * SIZE * 4) as usize)
    );

    // The picture is not empty: the avatar covers a good part of it.
    let backdrop = &sil.rgba[..4];
    let covered = sil
        .rgba
        .chunks(4)
        .filter(|p| p.iter().zip(backdrop).any(|(a, b)| a.abs_diff(*b) > 12))
        .count();
    assert!(
        covered > (SIZE * SIZE / 5) as usize,
        "avatar covers {covered} px"
    );

    // sil vs aa: they differ, and only around the mouth (lower middle).
    let (n, bounds) = diff(&sil, &aa, 24);
    let mouth = bounds.expect("aa must change the picture");
    assert!(n > 30, "aa changed only {n} px");
    let (x0, y0, x1, y1) = mouth;
    let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
    assert!(
        (SIZE * 3 / 10..SIZE * 7 / 10).contains(&cx),
        "mouth box {mouth:?} not centred"
    );
    assert!(cy > SIZE / 3, "mouth box {mouth:?} too high");
    assert!(
        x1 - x0 < SIZE / 2 && y1 - y0 < SIZE / 2,
        "mouth box {mouth:?} too large: the whole face moved"
    );

    // aa opens the mouth (dark inside); PP closes the lips: no inside shows.
    let open = darkened(&aa, &sil, mouth);
    let closed = darkened(&pp, &sil, mouth);
    assert!(open > 20, "aa shows {open} dark px");
    assert!(closed * 5 < open, "PP shows {closed} dark px vs aa {open}");

    // A blink closes the eyes: a change above the mouth, on both sides.
    let onset = BlinkSchedule::new(stage)
        .onsets_until(60_000.0)
        .into_iter()
        .find(|o| *o > 1_000.0)
        .unwrap();
    let shut_t = onset + BLINK_CLOSE_MS + 15.0;
    let shut = frame_with(stage, Viseme::Sil, shut_t);
    let open_again = frame_with(stage, Viseme::Sil, onset - 400.0);
    save("blink", &shut);
    // The head sways between the two instants, so compare what only open
    // eyes show, in a band above the mouth (clear of hair highlights): the
    // whites of the eyes.
    let band = (y0 - SIZE * 23 / 100)..(y0 - SIZE * 4 / 100);
    let white = |f: &Frame| {
        let mut n = 0;
        for y in band.clone() {
            for x in SIZE * 3 / 10..SIZE * 7 / 10 {
                let i = ((y * f.width + x) * 4) as usize;
                if f.rgba[i..i + 3].iter().all(|c| *c > 170) {
                    n += 1;
                }
            }
        }
        n
    };
    let (open_white, shut_white) = (white(&open_again), white(&shut));
    assert!(open_white >= 8, "open eyes show {open_white} white px");
    assert!(
        shut_white * 4 <= open_white,
        "shut eyes show {shut_white} white px vs {open_white} open"
    );

    // The same input renders the same picture.
    let again = frame_with(stage, Viseme::Aa, t);
    let (n, _) = diff(&aa, &again, 2);
    assert_eq!(n, 0, "two renders of one instant differ in {n} px");
    r.remove_stage(stage);
}

#[test]
fn every_shipped_avatar_loads_with_a_full_face() {
    let r = renderer();
    let mut ids: Vec<String> = std::fs::read_dir(avatars_dir())
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".glb")
                .map(String::from)
        })
        .collect();
    ids.sort();
    assert!(ids.len() >= 6, "{ids:?}");
    for id in ids {
        let info = r.add_stage(model(&id), 64, 64).unwrap();
        assert_eq!(info.mouth, MouthMode::Visemes, "{id}");
        assert!(
            info.morph_targets >= 30,
            "{id}: {} targets",
            info.morph_targets
        );
        assert!(info.warnings.is_empty(), "{id}: {:?}", info.warnings);
        r.remove_stage(info.id);
    }
}

#[test]
fn a_model_without_mouth_morphs_still_loads_and_says_so() {
    // The smallest valid glTF with one triangle and no morph targets.
    let r = renderer();
    let positions: [f32; 9] = [0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.0, 0.3, 0.0];
    let bin: Vec<u8> = positions.iter().flat_map(|f| f.to_le_bytes()).collect();
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    let doc = serde_json::json!({
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "Plain"}],
        "meshes": [{"name": "Plain", "primitives": [{"attributes": {"POSITION": 0}}]}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                       "min": [0.0, 0.0, 0.0], "max": [0.3, 0.3, 0.0]}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "buffers": [{"byteLength": 36, "uri": uri}]
    });
    let info = r
        .add_stage(
            ModelSource::new("plain", serde_json::to_vec(&doc).unwrap()),
            64,
            64,
        )
        .unwrap();
    assert_eq!(info.mouth, MouthMode::None);
    assert!(
        info.warnings.iter().any(|w| w.contains("no morph targets")),
        "{:?}",
        info.warnings
    );
    // It still renders.
    let f = r.render_one(info.id, 0.0).unwrap();
    assert_eq!(f.rgba.len(), 64 * 64 * 4);
    r.remove_stage(info.id);
}

#[test]
fn bad_bytes_are_refused_clearly() {
    let err = renderer()
        .add_stage(
            ModelSource::new("junk", b"PK\x03\x04 not a model".to_vec()),
            64,
            64,
        )
        .unwrap_err();
    assert!(err.to_string().contains("glTF"), "{err}");
    let err = renderer().add_stage(model("aria-001"), 8, 64).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn frames_encode_as_png_and_jpeg() {
    let f = Frame {
        stage: 0,
        t_ms: 0.0,
        width: 2,
        height: 1,
        rgba: vec![255, 0, 0, 255, 0, 0, 255, 255],
    };
    let png = image::load_from_memory(&f.to_png()).unwrap().to_rgba8();
    assert_eq!(png.as_raw(), &f.rgba);
    let jpeg = f.to_jpeg(90);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 2);
}

#[test]
fn the_full_pbr_path_renders_mouth_shapes_too() {
    // The GPU look (PBR, multisampling) on whatever adapter this is, small.
    let r = Renderer::start(RendererOptions {
        msaa: Some(true),
        lite: Some(false),
        ..Default::default()
    })
    .unwrap();
    let info = r.add_stage(model("male-01"), 96, 96).unwrap();
    let t = open_eyes_time(info.id);
    r.speak(info.id, hold(Viseme::Sil), t - 1_000.0).unwrap();
    let sil = r.render_one(info.id, t).unwrap();
    r.speak(info.id, hold(Viseme::Aa), t - 1_000.0).unwrap();
    let aa = r.render_one(info.id, t).unwrap();
    let (n, bounds) = diff(&sil, &aa, 24);
    let (_, y0, _, _) = bounds.expect("aa must change the PBR picture");
    assert!(n > 10 && y0 > 96 / 3, "{n} px changed, box {bounds:?}");
}
