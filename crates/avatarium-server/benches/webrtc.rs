//! WebRTC streaming on this machine (Mesa's software Vulkan where there is
//! no GPU), through the real server and an independent receiving peer
//! (webrtc-rs, decoding with OpenH264 and libopus) on loopback:
//!
//! - glass to glass: from a viseme change (the instant on the session
//!   clock where the mouth's blend is half-way into the first open vowel
//!   of an utterance, taken from the `audio` event's timestamp and the
//!   voice's own viseme timeline) to the decoded frame that shows it (the
//!   first whose mouth is half-way open); the frame interval (40 ms at
//!   medium) is part of it;
//! - CPU per stream: the server's CPU time (every thread but the
//!   receiving peers') with 0, 1 and N WebRTC streams at medium quality,
//!   against one session streaming JPEG frames over its WebSocket.
//!
//! `cargo bench -p avatarium-server --bench webrtc`. Without `--bench`
//! (`cargo test --benches`) it runs each part briefly as a smoke test.

#[allow(dead_code)]
#[path = "../tests/api/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../tests/support/peer.rs"]
mod peer;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use avatarium_lipsync::Viseme;
use avatarium_tts::{SpeechRequest, TtsEngine, local::LocalTts};
use harness::TestServer;
use peer::{TestPeer, mouth_darkness};

const VOICE: &str = "en-us+f3";
const UTTERANCE: &str = "Ah, that is all.";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    // The server and the receiving peers run on separate runtimes with
    // named threads, so the server's CPU time can be told apart; blocking
    // threads are kept alive, since a thread that exits takes its CPU time
    // out of /proc mid-measurement.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-server")
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .expect("a runtime");
    let peer_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-peer")
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .expect("a runtime");
    let server = server_rt.block_on(TestServer::start());
    peer_rt.block_on(run(&server, full));
    drop(server);
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

async fn new_session(s: &TestServer) -> (String, String) {
    let r = s
        .post(
            "/v1/streaming.new",
            None,
            json!({"quality": "medium", "voice_id": VOICE}),
        )
        .await
        .expect(200);
    (
        r.body["session_id"].as_str().unwrap().to_string(),
        r.body["access_token"].as_str().unwrap().to_string(),
    )
}

async fn connect_peer(s: &TestServer, id: &str) -> TestPeer {
    let (p, _) = peer::connect(&s.base, id).await;
    assert!(p.wait_frames(5, Duration::from_secs(60)).await, "frames");
    p
}

async fn run(s: &TestServer, full: bool) {
    println!(
        "WebRTC streaming bench ({} run)",
        if full { "full" } else { "smoke" }
    );
    glass_to_glass(s, if full { 12 } else { 2 }).await;
    cpu_per_stream(s, full).await;
}

// ---------------------------------------------------------------------------

/// The time of the first frame, among `(time, mouth darkness)`, whose
/// mouth is half-way from rest to its widest around `change_at`.
fn first_half_open(seen: &[(f64, usize)], change_at: f64) -> Option<f64> {
    let rest = seen
        .iter()
        .filter(|(at, _)| *at < change_at - 0.15)
        .map(|(_, d)| *d)
        .max()
        .unwrap_or(0);
    let peak = seen.iter().map(|(_, d)| *d).max().unwrap_or(0);
    if peak <= rest + 20 {
        println!("  (an utterance whose mouth never opened was skipped: rest {rest}, peak {peak})");
        return None;
    }
    let half = rest + (peak - rest) / 2;
    seen.iter()
        .find(|(at, d)| *at > change_at - 0.2 && *d >= half)
        .map(|(at, _)| *at)
}

/// Waits for the session's next `audio` event; its wall-clock timestamp.
/// Frames met on the way (`timestamp`, JPEG) are handed to `frame`.
async fn next_audio(ws: &mut harness::Ws, mut frame: impl FnMut(f64, &[u8])) -> f64 {
    use base64::Engine as _;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("an audio event")
            .expect("open socket")
            .expect("a message");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "audio" {
                return v["timestamp"].as_f64().unwrap();
            }
            if v["type"] == "frame" {
                let jpeg = base64::engine::general_purpose::STANDARD
                    .decode(v["data"].as_str().unwrap())
                    .unwrap();
                frame(v["timestamp"].as_f64().unwrap(), &jpeg);
            }
        }
    }
}

fn jpeg_darkness(jpeg: &[u8]) -> usize {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .expect("frames are JPEGs")
        .to_rgb8();
    mouth_darkness(img.width(), img.height(), img.as_raw())
}

/// The baseline: the same utterances on a session streaming JPEGs over its
/// WebSocket, timed by the clock instant each frame carries rather than by
/// its arrival: how far from the viseme change the first half-open frame's
/// own instant is (detection and frame spacing, no transport at all).
async fn rendered_instants(s: &TestServer, n: usize, change_offset_ms: f64) -> Vec<f64> {
    let (id, token) = new_session(s).await;
    let mut ws = s.session_ws(&id, &token).await;
    let mut out = Vec::new();
    for _ in 0..n {
        let mut seen: Vec<(f64, usize)> = Vec::new();
        s.post(
            "/v1/avatar.speak",
            None,
            json!({"session_id": id, "text": UTTERANCE}),
        )
        .await
        .expect(200);
        let audio_at = next_audio(&mut ws, |t, j| seen.push((t, jpeg_darkness(j)))).await;
        let change_at = audio_at + change_offset_ms / 1000.0;
        let until = tokio::time::Instant::now()
            + Duration::from_secs_f64((change_at - now_unix()).max(0.0) + 1.5);
        while let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout_at(until, ws.next()).await {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "frame" {
                use base64::Engine as _;
                let jpeg = base64::engine::general_purpose::STANDARD
                    .decode(v["data"].as_str().unwrap())
                    .unwrap();
                seen.push((v["timestamp"].as_f64().unwrap(), jpeg_darkness(&jpeg)));
            }
        }
        if let Some(at) = first_half_open(&seen, change_at) {
            out.push((at - change_at) * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    s.post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
    out
}

/// What each path pays to encode one real avatar frame: H.264 (the WebRTC
/// track) against JPEG + base64 (the WebSocket's `frame` event), on frames
/// the peer decoded.
async fn encode_costs(p: &TestPeer) {
    use base64::Engine as _;
    let frames: Vec<(u32, u32, Vec<u8>)> = p
        .got
        .frames
        .lock()
        .unwrap()
        .iter()
        .rev()
        .take(100)
        .map(|f| (f.width, f.height, f.rgb.clone()))
        .collect();
    let Some((w, h, _)) = frames.first().cloned() else {
        return;
    };
    let rgba: Vec<Vec<u8>> = frames
        .iter()
        .map(|(_, _, rgb)| {
            rgb.chunks(3)
                .flat_map(|c| [c[0], c[1], c[2], 255])
                .collect()
        })
        .collect();
    let (h264_ms, jpeg_ms) = tokio::task::spawn_blocking(move || {
        let mut enc = avatarium_media::H264Encoder::new(w, h, 25.0, 983_000).unwrap();
        let _ = enc.encode_rgba(&rgba[0], true);
        let t = Instant::now();
        for f in &rgba {
            let _ = enc.encode_rgba(f, false).unwrap();
        }
        let h264 = t.elapsed().as_secs_f64() * 1000.0 / rgba.len() as f64;
        let t = Instant::now();
        for f in &rgba {
            let img = image::RgbaImage::from_raw(w, h, f.clone()).unwrap();
            let rgb = image::DynamicImage::ImageRgba8(img).to_rgb8();
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
                .encode_image(&rgb)
                .unwrap();
            let _ = base64::engine::general_purpose::STANDARD.encode(&out);
        }
        let jpeg = t.elapsed().as_secs_f64() * 1000.0 / rgba.len() as f64;
        (h264, jpeg)
    })
    .await
    .unwrap();
    println!(
        "    encoding one {w}×{h} avatar frame ({} frames): H.264 {h264_ms:.2} ms, JPEG q80 + base64 {jpeg_ms:.2} ms ({:.2}×)",
        frames.len(),
        h264_ms / jpeg_ms
    );
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn glass_to_glass(s: &TestServer, n: usize) {
    // The voice's own timeline: where its first open vowel begins.
    let speech = LocalTts::shared()
        .synthesize(&SpeechRequest {
            text: UTTERANCE.into(),
            voice: Some(VOICE.into()),
            speed: None,
            pitch: None,
        })
        .await
        .expect("the local voice speaks");
    let open = speech
        .visemes
        .cues
        .iter()
        .find(|c| matches!(c.viseme, Viseme::Aa | Viseme::Oh | Viseme::E))
        .expect("an open vowel");
    let anticipation = f64::from(avatarium_lipsync::blend::BlendParams::default().anticipation_ms);
    let change_offset_ms = f64::from(open.start) - anticipation;

    let (id, token) = new_session(s).await;
    let mut ws = s.session_ws(&id, &token).await;
    let p = connect_peer(s, &id).await;
    let mut lat = Vec::new();
    for _ in 0..n {
        let before = p.got.frames.lock().unwrap().len();
        s.post(
            "/v1/avatar.speak",
            None,
            json!({"session_id": id, "text": UTTERANCE}),
        )
        .await
        .expect(200);
        // The audio event says when, on the wall clock, the speech starts.
        let audio_at = next_audio(&mut ws, |_, _| {}).await;
        let change_at = audio_at + change_offset_ms / 1000.0;
        let wait = (change_at - now_unix()).max(0.0) + 1.5;
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        let instant_now = Instant::now();
        let unix_now = now_unix();
        let seen: Vec<(f64, usize)> = p.got.frames.lock().unwrap()[before..]
            .iter()
            .map(|f| {
                let at = unix_now - (instant_now - f.decoded_at).as_secs_f64();
                (at, mouth_darkness(f.width, f.height, &f.rgb))
            })
            .collect();
        let rest = seen
            .iter()
            .filter(|(at, _)| *at < change_at - 0.15)
            .map(|(_, d)| *d)
            .max()
            .unwrap_or(0);
        let peak = seen.iter().map(|(_, d)| *d).max().unwrap_or(0);
        if peak <= rest + 20 {
            println!(
                "  (an utterance whose mouth never opened was skipped: rest {rest}, peak {peak})"
            );
            continue;
        }
        let half = rest + (peak - rest) / 2;
        if let Some((at, _)) = seen
            .iter()
            .find(|(at, d)| *at > change_at - 0.2 && *d >= half)
        {
            lat.push((at - change_at) * 1000.0);
        }
        // Let the utterance end before the next.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let _ = p.pc.close().await;
    s.post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
    let base = rendered_instants(s, n, change_offset_ms).await;
    if lat.is_empty() || base.is_empty() {
        println!("(a) glass to glass: no measurement");
        return;
    }
    let mean = lat.iter().sum::<f64>() / lat.len() as f64;
    println!(
        "(a) glass to glass, viseme change → decoded frame showing it, 512×512 at 25 fps, loopback, {} utterances: p50 {:.1} ms, p95 {:.1} ms, mean {mean:.1} ms, min {:.1}, max {:.1} (includes up to one 40 ms frame interval; each: {})",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        pct(&lat, 0.0),
        pct(&lat, 1.0),
        lat.iter()
            .map(|l| format!("{l:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "    baseline, the same detection on JPEG frames' own clock instants (a WebSocket session: rendering, detection and frame spacing, no transport): p50 {:.1} ms, mean {:.1} ms; difference of the medians {:+.1} ms (this method resolves about one frame interval)",
        pct(&base, 0.5),
        base.iter().sum::<f64>() / base.len() as f64,
        pct(&lat, 0.5) - pct(&base, 0.5)
    );
    encode_costs(&p).await;
}

// ---------------------------------------------------------------------------

/// CPU seconds used so far by this process's threads, split into the
/// receiving peers' and everyone else's (the server's).
fn cpu_split() -> (f64, f64) {
    let tick = 100.0; // USER_HZ on Linux
    let (mut server, mut peers) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else {
            continue;
        };
        let secs = (u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0)) / tick;
        if name.starts_with("bench-peer") {
            peers += secs;
        } else {
            server += secs;
        }
    }
    (server, peers)
}

/// The server's CPU (cores busy) over `d`, and the peers'.
async fn measure(d: Duration) -> (f64, f64) {
    let (s0, p0) = cpu_split();
    let t0 = Instant::now();
    tokio::time::sleep(d).await;
    let (s1, p1) = cpu_split();
    let secs = t0.elapsed().as_secs_f64();
    ((s1 - s0) / secs, (p1 - p0) / secs)
}

async fn cpu_per_stream(s: &TestServer, full: bool) {
    let window = Duration::from_secs(if full { 10 } else { 2 });
    let most = if full { 3 } else { 1 };
    let idle = measure(window).await.0;

    // Baseline: one session streaming JPEG frames over its WebSocket.
    let (id, token) = new_session(s).await;
    let mut ws = s.session_ws(&id, &token).await;
    let counting = tokio::spawn(async move {
        let mut frames = 0u64;
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m
                && t.contains("\"type\":\"frame\"")
            {
                frames += 1;
            }
        }
        frames
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let ws_cpu = measure(window).await.0;
    s.post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
    let ws_frames = counting.await.unwrap_or(0);

    let mut rows = Vec::new();
    let mut peers = Vec::new();
    let mut ids = Vec::new();
    for k in 1..=most {
        let (id, _) = new_session(s).await;
        peers.push(connect_peer(s, &id).await);
        ids.push(id);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counts: Vec<usize> = peers
            .iter()
            .map(|p| p.got.frames.lock().unwrap().len())
            .collect();
        let (server, peer) = measure(window).await;
        let fps: Vec<f64> = peers
            .iter()
            .zip(&counts)
            .map(|(p, c)| (p.got.frames.lock().unwrap().len() - c) as f64 / window.as_secs_f64())
            .collect();
        rows.push((k, server, peer, fps));
    }
    for p in &peers {
        let _ = p.pc.close().await;
    }
    for id in &ids {
        s.post("/v1/streaming.stop", None, json!({"session_id": id}))
            .await
            .expect(200);
    }
    println!(
        "(b) server CPU (cores busy; 1.00 = one core), medium 512×512 at 25 fps, {}-s windows:",
        window.as_secs()
    );
    println!("    idle server: {idle:.2}");
    println!(
        "    1 WebSocket session (JPEG frames, the baseline): {ws_cpu:.2} ({:.1} frames/s received)",
        ws_frames as f64 / (window.as_secs_f64() + 3.0)
    );
    let ws_fps = ws_frames as f64 / (window.as_secs_f64() + 3.0);
    let ws_per_frame = (ws_cpu - idle) * 1000.0 / ws_fps.max(1e-3);
    println!("    → {ws_per_frame:.1} ms of CPU per delivered WebSocket frame");
    for (k, server, peer, fps) in &rows {
        let total_fps: f64 = fps.iter().sum();
        let per_frame = (server - idle) * 1000.0 / total_fps.max(1e-3);
        println!(
            "    {k} WebRTC stream(s): {server:.2} → {:.2} per stream over idle; {per_frame:.1} ms of CPU per delivered frame ({:.2}× the WebSocket's); decoded at {} fps; the receiving peers used {peer:.2}",
            (server - idle) / *k as f64,
            per_frame / ws_per_frame.max(1e-3),
            fps.iter()
                .map(|f| format!("{f:.1}"))
                .collect::<Vec<_>>()
                .join("/")
        );
    }
}
