//! Realtime sessions on this machine (Mesa's software Vulkan where there is
//! no GPU), through the real server, sockets and renderer:
//!
//! - time from the LLM's first complete sentence to the first `audio` event
//!   with the local voice (goal ≤ 80 ms), against the baseline of this run:
//!   synthesising that sentence alone;
//! - audio/mouth sync: the session-clock offset between each sentence's
//!   first voiced sample and the first frame whose mouth opens, and the
//!   lag that best aligns mouth openness with the audio envelope (goal
//!   ≤ 45 ms); and how late frames and audio arrive after the instants
//!   they carry;
//! - frames per second of one session at each quality, against its target;
//! - how many concurrent low-quality sessions hold their full frame rate
//!   (1, 2, 4, 8… until one falls below 95% of 15 fps).
//!
//! `cargo bench -p avatarium-server --bench realtime`. Without `--bench`
//! (`cargo test --benches`) it runs each part briefly as a smoke test.

#[allow(dead_code)]
#[path = "../tests/api/harness.rs"]
mod harness;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use avatarium_core::config::{ProviderSettings, RateLimits, Secret};
use avatarium_tts::{SpeechRequest, TtsEngine, local::LocalTts};
use harness::{TestServer, Ws};

const FIRST: &str = "This is the first sentence of my answer.";
const SYNC_TEXT: &str = "Ah, I am here now. Oh, all of us are ready. \
    Ah, a happy hour at last. Aha, I see it all.";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(run(full));
}

// ---------------------------------------------------------------------------
// The fake LLM: the first sentence at once, then the token that completes
// it (its time recorded), then the rest after a pause.

#[derive(Clone, Default)]
struct Completions(Arc<Mutex<Vec<Instant>>>);

async fn fake_llm() -> (String, Completions) {
    let done = Completions::default();
    let seen = done.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let seen = seen.clone();
            async move {
                let stream = async_stream::stream! {
                    let chunk = |c: &str| {
                        let v = json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                            "choices": [{"index": 0, "delta": {"content": c}, "finish_reason": null}]});
                        Ok::<_, std::convert::Infallible>(format!("data: {v}\n\n"))
                    };
                    for (i, w) in FIRST.split(' ').enumerate() {
                        yield chunk(&if i == 0 { w.to_string() } else { format!(" {w}") });
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen.0.lock().unwrap().push(Instant::now());
                    yield chunk(" And");
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    yield chunk(" that is all.");
                    yield Ok("data: [DONE]\n\n".to_string());
                };
                ([("content-type", "text/event-stream")], Body::from_stream(stream)).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, done)
}

// ---------------------------------------------------------------------------
// A session client recording when everything arrived.

struct FrameSeen {
    ts: f64,
    recv_unix: f64,
    jpeg: Option<Vec<u8>>,
}

struct Client {
    ws: Ws,
    keep_jpeg: bool,
    frames: Vec<FrameSeen>,
    events: Vec<(Value, Instant, f64)>,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Client {
    async fn connect(s: &TestServer, id: &str, token: &str, keep_jpeg: bool) -> Self {
        let url = format!("ws://127.0.0.1:{}/ws/{id}?token={token}", s.port);
        Self {
            ws: harness::ws_connect(&url).await,
            keep_jpeg,
            frames: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Reads one message; false when closed or `deadline` passed.
    async fn read_one(&mut self, deadline: tokio::time::Instant) -> bool {
        let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
            Ok(Some(Ok(m))) => m,
            _ => return false,
        };
        let (at, unix) = (Instant::now(), unix_now());
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "frame" {
                let jpeg = self.keep_jpeg.then(|| {
                    base64::engine::general_purpose::STANDARD
                        .decode(v["data"].as_str().unwrap())
                        .unwrap()
                });
                self.frames.push(FrameSeen {
                    ts: v["timestamp"].as_f64().unwrap(),
                    recv_unix: unix,
                    jpeg,
                });
            } else {
                self.events.push((v, at, unix));
            }
        }
        true
    }

    async fn until(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> (Value, Instant) {
        let deadline = tokio::time::Instant::now() + within;
        let from = self.events.len();
        loop {
            if let Some((v, at, _)) = self.events[from..].iter().find(|(v, ..)| pred(v)) {
                return (v.clone(), *at);
            }
            assert!(
                self.read_one(deadline).await,
                "no matching event within {within:?}"
            );
        }
    }

    async fn drain(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while self.read_one(deadline).await {}
    }

    async fn send(&mut self, v: Value) {
        harness::ws_send(&mut self.ws, v).await;
    }
}

async fn new_session(s: &TestServer, quality: &str) -> (String, String) {
    let r = s
        .post(
            "/v1/streaming.new",
            None,
            json!({"quality": quality, "avatar_id": "aria-001"}),
        )
        .await
        .expect(200);
    (
        r.body["session_id"].as_str().unwrap().to_string(),
        r.body["access_token"].as_str().unwrap().to_string(),
    )
}

async fn stop(s: &TestServer, id: &str) {
    s.post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

// ---------------------------------------------------------------------------

async fn run(full: bool) {
    let (llm, completions) = fake_llm().await;
    let s = TestServer::with_config(move |c| {
        c.rate_limits = RateLimits::unlimited();
        c.providers.insert(
            "openai".into(),
            ProviderSettings {
                api_key: Some(Secret("sk-bench".into())),
                base_url: Some(llm),
                model: None,
            },
        );
        c.default_provider = Some("openai".into());
    })
    .await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "realtime benchmark ({} mode), {cores} cores",
        if full { "full" } else { "smoke" }
    );

    // Warm-up: the renderer starts with the first session.
    let started = Instant::now();
    let (id, token) = new_session(&s, "low").await;
    let mut c = Client::connect(&s, &id, &token, false).await;
    while c.frames.is_empty() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        assert!(c.read_one(deadline).await, "no first frame");
    }
    let m = s.get("/metrics", None).await.body;
    println!(
        "renderer: {} (first frame {} ms after the first session)",
        m["renderer"]["adapter"].as_str().unwrap_or("none"),
        started.elapsed().as_millis()
    );

    first_audio(&s, &mut c, &completions, if full { 12 } else { 2 }).await;
    drop(c);
    stop(&s, &id).await;

    let fps_window = if full { 5.0 } else { 1.5 };
    let mut low_fps = 0.0;
    for q in ["low", "medium", "high"] {
        let got = single_fps(&s, q, fps_window).await;
        if q == "low" {
            low_fps = got;
        }
    }
    sync(&s, if full { 2 } else { 1 }).await;
    capacity(&s, full, fps_window, low_fps).await;
}

/// LLM's first complete sentence → first `audio` event.
async fn first_audio(s: &TestServer, c: &mut Client, completions: &Completions, turns: usize) {
    // Baseline: the same sentence synthesised alone by the same voice.
    let tts = LocalTts::shared();
    let req = SpeechRequest {
        text: FIRST.into(),
        voice: Some("en-us+f3".into()),
        ..Default::default()
    };
    // One warm-up call loads the voice.
    tts.synthesize(&req).await.unwrap();
    let mut alone = Vec::new();
    for _ in 0..turns.max(3) {
        let t = Instant::now();
        tts.synthesize(&req).await.unwrap();
        alone.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut lat = Vec::new();
    for i in 0..turns {
        c.send(json!({"type": "chat", "content": format!("Question {i}?")}))
            .await;
        let (_, at) = c
            .until(Duration::from_secs(30), |v| v["type"] == "audio")
            .await;
        let completed = *completions
            .0
            .lock()
            .unwrap()
            .last()
            .expect("the LLM was called");
        lat.push(at.duration_since(completed).as_secs_f64() * 1000.0);
        c.send(json!({"type": "interrupt"})).await;
        c.until(Duration::from_secs(30), |v| {
            v["type"] == "chat" && v["role"] == "agent"
        })
        .await;
    }
    let lead = s.get("/metrics", None).await.body["render_lead_ms"]
        .as_f64()
        .unwrap_or(0.0);
    let (med, p95) = (median(&mut lat.clone()), percentile(&mut lat, 0.95));
    let tts_med = median(&mut alone);
    println!(
        "first sentence → first audio: median {med:.1} ms, p95 {p95:.1} ms over {turns} turns (goal ≤ 80 ms)"
    );
    println!(
        "  baseline, synthesising the sentence alone: {tts_med:.1} ms → {:.2}× the baseline; \
         of the rest, {lead:.1} ms is the render-ahead the audio waits for so the mouth is in \
         step, {:.1} ms the pipeline",
        med / tts_med,
        (med - tts_med - lead).max(0.0)
    );
}

/// Frames per second one session of `quality` receives.
async fn single_fps(s: &TestServer, quality: &str, window: f64) -> f64 {
    let (id, token) = new_session(s, quality).await;
    let mut c = Client::connect(s, &id, &token, false).await;
    while c.frames.is_empty() {
        assert!(
            c.read_one(tokio::time::Instant::now() + Duration::from_secs(60))
                .await
        );
    }
    c.drain(Duration::from_millis(700)).await;
    let before = s.get("/metrics", None).await.body["frames_skipped"]
        .as_u64()
        .unwrap();
    let n0 = c.frames.len();
    c.drain(Duration::from_secs_f64(window)).await;
    let got = (c.frames.len() - n0) as f64 / window;
    let skipped = s.get("/metrics", None).await.body["frames_skipped"]
        .as_u64()
        .unwrap()
        - before;
    let target = match quality {
        "low" => 15.0,
        "medium" => 25.0,
        _ => 30.0,
    };
    let size = match quality {
        "low" => 256,
        "medium" => 512,
        _ => 768,
    };
    println!(
        "one {quality} session ({size}×{size}): {got:.1} fps of {target} ({:.0}% of target), {skipped} frames skipped",
        100.0 * got / target
    );
    drop(c);
    stop(s, &id).await;
    got
}

/// Dark pixels where the mouth is (as the tests measure it).
fn mouth(jpeg: &[u8]) -> f64 {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let mut n = 0usize;
    for y in h * 55 / 100..h * 70 / 100 {
        for x in w * 40 / 100..w * 60 / 100 {
            let p = img.get_pixel(x, y).0;
            let l = 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]);
            if l < 40.0 {
                n += 1;
            }
        }
    }
    // Scale-free: the fraction of the box.
    n as f64 / f64::from((w * 20 / 100) * (h * 15 / 100))
}

fn wav_samples(b64: &str) -> (Vec<f64>, f64) {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let (samples, rate) = avatarium_tts::wav::decode_wav(&bytes).unwrap();
    (
        samples.iter().map(|s| f64::from(*s) / 32768.0).collect(),
        f64::from(rate),
    )
}

/// Audio/mouth sync of avatar.speak on a low-quality session.
async fn sync(s: &TestServer, rounds: usize) {
    let (id, token) = new_session(s, "low").await;
    let mut c = Client::connect(s, &id, &token, true).await;
    c.drain(Duration::from_millis(1500)).await;
    let idle: Vec<f64> = c
        .frames
        .iter()
        .filter_map(|f| f.jpeg.as_deref().map(mouth))
        .collect();
    let idle_max = idle.iter().copied().fold(0.0, f64::max);
    let mut offsets = Vec::new();
    let mut audio = Vec::new();
    for _ in 0..rounds {
        s.post(
            "/v1/avatar.speak",
            None,
            json!({"session_id": id, "text": SYNC_TEXT}),
        )
        .await
        .expect(200);
        c.until(Duration::from_secs(60), |v| v["type"] == "chat")
            .await;
        c.drain(Duration::from_millis(600)).await;
    }
    let frames: Vec<(f64, f64)> = c
        .frames
        .iter()
        .filter_map(|f| f.jpeg.as_deref().map(|j| (f.ts, mouth(j))))
        .collect();
    let mut delivery_audio = Vec::new();
    for (v, _, recv_unix) in &c.events {
        if v["type"] != "audio" {
            continue;
        }
        let ts = v["timestamp"].as_f64().unwrap();
        delivery_audio.push((recv_unix - ts) * 1000.0);
        let (samples, rate) = wav_samples(v["data"].as_str().unwrap());
        let peak = samples.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        let first = samples
            .iter()
            .position(|s| s.abs() > 0.1 * peak)
            .unwrap_or(0);
        let onset = ts + first as f64 / rate;
        audio.push((ts, samples, rate));
        // The mouth's opening: where openness first crosses 30% of its
        // rise in this sentence, interpolated between frames.
        let window: Vec<&(f64, f64)> = frames
            .iter()
            .filter(|(t, _)| *t >= onset - 0.25 && *t <= onset + 0.8)
            .collect();
        let top = window.iter().map(|(_, m)| *m).fold(idle_max, f64::max);
        if top <= idle_max {
            continue;
        }
        let thr = idle_max + 0.3 * (top - idle_max);
        if let Some(i) = window.iter().position(|(_, m)| *m > thr)
            && i > 0
        {
            let (t0, m0) = *window[i - 1];
            let (t1, m1) = *window[i];
            let cross = t0 + (thr - m0) / (m1 - m0) * (t1 - t0);
            offsets.push((cross - onset) * 1000.0);
        }
    }
    // Lag of best correlation between mouth openness and the audio
    // envelope (positive: the mouth follows the audio).
    let envelope = |t: f64| -> f64 {
        let mut sum = 0.0;
        let mut n = 0.0;
        for (start, samples, rate) in &audio {
            let a = ((t - 0.02 - start) * rate).max(0.0) as usize;
            let b = (((t + 0.02 - start) * rate).max(0.0) as usize).min(samples.len());
            for s in samples.get(a..b).unwrap_or(&[]) {
                sum += s * s;
                n += 1.0;
            }
        }
        if n > 0.0 { (sum / n).sqrt() } else { 0.0 }
    };
    let speech_frames: Vec<(f64, f64)> = frames
        .iter()
        .copied()
        .filter(|(t, _)| {
            audio
                .iter()
                .any(|(s, x, r)| *t > s - 0.3 && *t < s + x.len() as f64 / r + 0.3)
        })
        .collect();
    let mut best = (0.0, f64::MIN);
    for lag_ms in (-150..=150).step_by(5) {
        let lag = f64::from(lag_ms) / 1000.0;
        let xs: Vec<f64> = speech_frames.iter().map(|(_, m)| *m).collect();
        let ys: Vec<f64> = speech_frames
            .iter()
            .map(|(t, _)| envelope(t - lag))
            .collect();
        let r = pearson(&xs, &ys);
        if r > best.1 {
            best = (f64::from(lag_ms), r);
        }
    }
    let delivery_frames: Vec<f64> = c
        .frames
        .iter()
        .map(|f| (f.recv_unix - f.ts) * 1000.0)
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let abs_mean = mean(&offsets.iter().map(|o| o.abs()).collect::<Vec<_>>());
    println!(
        "audio ↔ mouth (low, 15 fps, {} sentence onsets): first open frame {:.1} ms after the \
         first voiced sample on average (|mean| {abs_mean:.1} ms, each: {}) (goal ≤ 45 ms)",
        offsets.len(),
        mean(&offsets),
        offsets
            .iter()
            .map(|o| format!("{o:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  best-aligning lag of mouth openness vs the audio envelope: {:+.0} ms (r = {:.2})",
        best.0, best.1
    );
    println!(
        "  delivery: frames arrive {:.1} ms after the instant they show, audio {:.1} ms after \
         its start instant: a client that plays both on arrival sees the mouth {:+.1} ms off",
        mean(&delivery_frames),
        mean(&delivery_audio),
        mean(&delivery_frames) - mean(&delivery_audio)
    );
    drop(c);
    stop(s, &id).await;
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// Concurrent low-quality sessions at full frame rate.
async fn capacity(s: &TestServer, full: bool, window: f64, single: f64) {
    let target = 15.0;
    let steps: &[usize] = if full { &[1, 2, 4, 8, 16, 32] } else { &[1, 2] };
    let mut held = 0;
    for &n in steps {
        let mut sessions = Vec::new();
        for _ in 0..n {
            sessions.push(new_session(s, "low").await);
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel(n);
        let start = Arc::new(tokio::sync::Barrier::new(n + 1));
        for (id, token) in &sessions {
            let url = format!("ws://127.0.0.1:{}/ws/{id}?token={token}", s.port);
            let tx = tx.clone();
            let start = start.clone();
            tokio::spawn(async move {
                let mut ws = harness::ws_connect(&url).await;
                // Wait for the first frame (the stage is loaded), then
                // count frames over the window.
                let first = tokio::time::timeout(Duration::from_secs(120), async {
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) if t.contains("\"type\":\"frame\"") => {
                                return true;
                            }
                            Some(Ok(_)) => {}
                            _ => return false,
                        }
                    }
                })
                .await;
                start.wait().await;
                if !matches!(first, Ok(true)) {
                    let _ = tx.send(0.0).await;
                    return;
                }
                // Settle, reading as a client does (unread frames would be
                // counted in the window).
                let settle = tokio::time::Instant::now() + Duration::from_millis(700);
                while let Ok(Some(Ok(_))) = tokio::time::timeout_at(settle, ws.next()).await {}
                let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(window);
                let mut frames = 0usize;
                while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
                    if let Message::Text(t) = m
                        && t.contains("\"type\":\"frame\"")
                    {
                        frames += 1;
                    }
                }
                let _ = tx.send(frames as f64 / window).await;
            });
        }
        drop(tx);
        start.wait().await;
        let mut fps = Vec::new();
        while let Some(f) = rx.recv().await {
            fps.push(f);
        }
        let min = fps.iter().copied().fold(f64::MAX, f64::min);
        let mean = fps.iter().sum::<f64>() / fps.len().max(1) as f64;
        let ok = fps.len() == n && min >= 0.95 * target;
        println!(
            "{n:>2} low sessions: {mean:.1} fps each on average, slowest {min:.1} ({:.0}% of \
             target; aggregate {:.0} frames/s, {:.1}× one session's) {}",
            100.0 * min / target,
            mean * n as f64,
            mean * n as f64 / single.max(0.1),
            if ok { "holds" } else { "falls behind" }
        );
        for (id, _) in &sessions {
            stop(s, id).await;
        }
        if !ok {
            break;
        }
        held = n;
    }
    println!(
        "concurrent low-quality sessions at full frame rate: {held}{}",
        if full && held == *steps.last().unwrap() {
            " (or more: the ramp stopped there)"
        } else {
            ""
        }
    );
}
