//! `avatarium render` and `avatarium view` against the real binary, on
//! whatever graphics adapter the machine has (Mesa's software Vulkan in CI).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_avatarium");
const PRESET_IDS: [&str; 6] = [
    "aria-001",
    "avatar_1",
    "female-01",
    "female-02",
    "male-01",
    "male-02",
];

fn avatarium(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// The number before `suffix` in `line`, e.g. `number(l, " frames")`.
fn number_before(line: &str, suffix: &str) -> u64 {
    let head = &line[..line
        .find(suffix)
        .unwrap_or_else(|| panic!("no '{suffix}' in {line}"))];
    let digits: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number before '{suffix}' in {line}"))
}

#[test]
fn render_writes_frames_audio_and_visemes() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("clip");
    let out = avatarium(&[
        "render",
        "--avatar",
        "aria-001",
        "--text",
        "Hello there, nice to meet you.",
        "--out",
        out_dir.to_str().unwrap(),
        "--size",
        "128",
        "--fps",
        "15",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "render failed: {}{stdout}",
        text(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    let frames_said = number_before(summary, " frames (");
    let duration_ms = number_before(summary, " ms audio");
    assert!(summary.contains("frames/s"), "{summary}");
    assert!(
        (1_000..10_000).contains(&duration_ms),
        "a short sentence: {summary}"
    );

    // Frames: numbered from 1, covering the audio and its 300 ms tail.
    let mut frames: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("frame_") && n.ends_with(".png"))
        .collect();
    frames.sort();
    assert_eq!(frames.len() as u64, frames_said, "{summary}");
    let expected = (duration_ms + 300) as f64 * 15.0 / 1000.0;
    assert!(
        (frames.len() as f64 - expected).abs() <= 1.0,
        "{} frames for {duration_ms} ms at 15 fps",
        frames.len()
    );
    for (i, name) in frames.iter().enumerate() {
        assert_eq!(name, &format!("frame_{:05}.png", i + 1));
    }
    let images: Vec<image::RgbaImage> = frames
        .iter()
        .map(|n| {
            image::open(out_dir.join(n))
                .unwrap_or_else(|e| panic!("{n}: {e}"))
                .to_rgba8()
        })
        .collect();
    for (img, name) in images.iter().zip(&frames) {
        assert_eq!(img.dimensions(), (128, 128), "{name}");
    }
    // The mouth moves: the lower middle of the frame changes while it talks.
    let mouth = |img: &image::RgbaImage| -> Vec<u8> {
        let mut px = Vec::new();
        for y in 70..96 {
            for x in 48..80 {
                px.extend_from_slice(&img.get_pixel(x, y).0[..3]);
            }
        }
        px
    };
    let first = mouth(&images[0]);
    let changed = images
        .iter()
        .map(mouth)
        .map(|m| {
            m.iter()
                .zip(&first)
                .filter(|(a, b)| a.abs_diff(**b) > 24)
                .count()
        })
        .max()
        .unwrap();
    assert!(
        changed >= 100,
        "the mouth region never changes ({changed} values)"
    );

    // The audio is as long as the summary says.
    let wav = std::fs::read(out_dir.join("audio.wav")).unwrap();
    let (samples, rate) = avatarium_tts::wav::decode_wav(&wav).unwrap();
    let wav_ms = samples.len() as u64 * 1000 / u64::from(rate);
    assert!(wav_ms.abs_diff(duration_ms) <= 1, "{wav_ms} vs {summary}");

    // Visemes: [{viseme, start, end}], in order, within the audio.
    let visemes: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("visemes.json")).unwrap()).unwrap();
    let cues = visemes.as_array().expect("an array of cues");
    assert!(cues.len() > 5, "{visemes}");
    let mut last_end = 0;
    for cue in cues {
        let v = cue["viseme"].as_str().expect("a viseme name");
        let (start, end) = (cue["start"].as_u64().unwrap(), cue["end"].as_u64().unwrap());
        assert!(!v.is_empty());
        assert!(start >= last_end && end >= start, "{cue} after {last_end}");
        assert!(end <= duration_ms + 1, "{cue} past {duration_ms} ms");
        last_end = end;
    }
}

#[test]
fn bad_sizes_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = avatarium(&[
        "render",
        "--avatar",
        "aria-001",
        "--text",
        "Hi.",
        "--out",
        dir.path().to_str().unwrap(),
        "--size",
        "3",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("--size") && err.contains("16..=4096"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn unknown_avatars_list_the_presets() {
    let dir = tempfile::tempdir().unwrap();
    let out = avatarium(&[
        "render",
        "--avatar",
        "nobody-42",
        "--text",
        "Hi.",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("nobody-42"), "{err}");
    for id in PRESET_IDS {
        assert!(err.contains(id), "{id} not listed: {err}");
    }
}

#[test]
fn unknown_emotions_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = avatarium(&[
        "render",
        "--avatar",
        "male-01",
        "--text",
        "Hi.",
        "--emotion",
        "gleeful",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("gleeful") && err.contains("happy"), "{err}");
}

#[test]
fn unwritable_output_folders_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let out = avatarium(&[
        "render",
        "--avatar",
        "aria-001",
        "--text",
        "Hi.",
        "--out",
        file.join("clip").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("cannot create the output folder"), "{err}");
}

/// An X server of our own, stopped when dropped.
struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Xvfb on a free display (it picks one and reports it once it is
/// ready to connect); `None` where Xvfb is not installed.
fn xvfb() -> Option<(Xvfb, String)> {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1024x768x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take().unwrap();
    let server = Xvfb(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let display = line.trim();
    assert!(
        display.parse::<u32>().is_ok(),
        "Xvfb reported no display: {line:?}"
    );
    Some((server, format!(":{display}")))
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String) {
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`avatarium view` still running after {limit:?}: {}",
                reader.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, reader.join().unwrap())
}

#[test]
fn view_opens_a_window_and_saves_a_screenshot() {
    let Some((_xvfb, display)) = xvfb() else {
        eprintln!("skipped: Xvfb is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    let child = Command::new(BIN)
        .args([
            "view",
            "--avatar",
            "aria-001",
            "--exit-after",
            "6",
            "--screenshot",
        ])
        .arg(&shot)
        .env("DISPLAY", &display)
        .env("WGPU_BACKEND", "vulkan")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr) = wait_with_timeout(child, Duration::from_secs(240));
    assert!(status.success(), "view failed ({status}): {stderr}");
    let img = image::open(&shot)
        .unwrap_or_else(|e| panic!("{}: {e}; {stderr}", shot.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    assert!(w >= 64 && h >= 64, "{w}x{h}");
    // Not one flat colour: the avatar stands out from the backdrop, which
    // fills the corners.
    let backdrop = *img.get_pixel(2, 2);
    let differ = img
        .pixels()
        .filter(|p| p.0.iter().zip(backdrop.0).any(|(a, b)| a.abs_diff(b) > 30))
        .count();
    let share = differ as f64 / f64::from(w * h);
    assert!(
        (0.05..0.95).contains(&share),
        "{:.0}% of pixels differ from the backdrop",
        share * 100.0
    );
    let centre = *img.get_pixel(w / 2, h / 2);
    assert!(
        centre
            .0
            .iter()
            .zip(backdrop.0)
            .any(|(a, b)| a.abs_diff(b) > 30),
        "the centre shows the backdrop: {centre:?}"
    );
}
