//! Realtime avatar sessions (003) end to end: a real server on loopback,
//! real WebSockets, real rendering (Mesa's software Vulkan where there is no
//! GPU), the offline voice, and loopback fakes for the LLM and the
//! speech-to-text provider.

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use avatarium_core::config::{ProviderSettings, RateLimits, Secret};
use harness::{TestServer, Ws, ws_refused};

// ---------------------------------------------------------------------------
// Fakes: an OpenAI-compatible LLM streaming a chosen answer at a chosen pace,
// and Groq's transcription endpoint.

#[derive(Clone)]
struct Script {
    chunks: Vec<String>,
    pause: Duration,
}

#[derive(Clone)]
struct Fake {
    base: String,
    script: Arc<Mutex<Script>>,
    transcript: Arc<Mutex<String>>,
    stt_calls: Arc<AtomicUsize>,
    stt_bytes: Arc<AtomicUsize>,
}

impl Fake {
    async fn start() -> Self {
        let fake = Self {
            base: String::new(),
            script: Arc::new(Mutex::new(Script {
                chunks: words("Hello there. I am the fake model."),
                pause: Duration::from_millis(5),
            })),
            transcript: Arc::new(Mutex::new("What do you offer?".into())),
            stt_calls: Arc::new(AtomicUsize::new(0)),
            stt_bytes: Arc::new(AtomicUsize::new(0)),
        };
        let llm = fake.clone();
        let stt = fake.clone();
        let app = axum::Router::new()
            .route(
                "/v1/chat/completions",
                post(move || {
                    let script = llm.script.lock().unwrap().clone();
                    async move { sse(script) }
                }),
            )
            .route(
                "/v1/audio/transcriptions",
                post(move |body: axum::body::Bytes| {
                    let stt = stt.clone();
                    async move {
                        stt.stt_calls.fetch_add(1, Ordering::SeqCst);
                        stt.stt_bytes.fetch_add(body.len(), Ordering::SeqCst);
                        let text = stt.transcript.lock().unwrap().clone();
                        axum::Json(json!({"text": text, "language": "en", "duration": 1.0,
                            "segments": [{"start": 0.0, "end": 1.0, "avg_logprob": -0.1}]}))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, ..fake }
    }

    fn answer(&self, text: &str, pause: Duration) {
        *self.script.lock().unwrap() = Script {
            chunks: words(text),
            pause,
        };
    }
}

/// Word-sized deltas, as models stream them.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in text.split(' ').enumerate() {
        out.push(if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        });
    }
    out
}

fn sse(script: Script) -> axum::response::Response {
    let stream = async_stream::stream! {
        for c in script.chunks {
            tokio::time::sleep(script.pause).await;
            let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                "choices": [{"index": 0, "delta": {"content": c}, "finish_reason": null}]});
            yield Ok::<_, std::convert::Infallible>(format!("data: {chunk}\n\n"));
        }
        yield Ok("data: [DONE]\n\n".to_string());
    };
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn server(fake: &Fake) -> TestServer {
    server_with(fake, |_| {}).await
}

async fn server_with(fake: &Fake, tweak: impl FnOnce(&mut avatarium_core::Config)) -> TestServer {
    let base = fake.base.clone();
    TestServer::with_config(move |c| {
        c.rate_limits = RateLimits::unlimited();
        for id in ["openai", "groq"] {
            c.providers.insert(
                id.into(),
                ProviderSettings {
                    api_key: Some(Secret("sk-test".into())),
                    base_url: Some(base.clone()),
                    model: None,
                },
            );
        }
        c.default_provider = Some("openai".into());
        tweak(c);
    })
    .await
}

// ---------------------------------------------------------------------------
// A session client: events in order, frames kept aside.

struct SeenFrame {
    id: u64,
    timestamp: f64,
    jpeg: Vec<u8>,
}

struct Client {
    ws: Ws,
    frames: Vec<SeenFrame>,
    /// Every non-frame event, in order.
    events: Vec<Value>,
}

async fn new_session(s: &TestServer, body: Value) -> (String, String) {
    let r = s.post("/v1/streaming.new", None, body).await.expect(200);
    (
        r.body["session_id"].as_str().unwrap().to_string(),
        r.body["access_token"].as_str().unwrap().to_string(),
    )
}

impl Client {
    async fn connect(s: &TestServer, id: &str, token: &str) -> Self {
        Self {
            ws: s.session_ws(id, token).await,
            frames: Vec::new(),
            events: Vec::new(),
        }
    }

    async fn send(&mut self, v: Value) {
        harness::ws_send(&mut self.ws, v).await;
    }

    /// The next non-frame event (frames are collected on the way); None
    /// when the socket closes.
    async fn next(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}; saw {:?}", self.kinds()));
            let text = match msg {
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == "frame" {
                self.frames.push(SeenFrame {
                    id: v["frame_id"].as_u64().unwrap(),
                    timestamp: v["timestamp"].as_f64().unwrap(),
                    jpeg: base64::engine::general_purpose::STANDARD
                        .decode(v["data"].as_str().unwrap())
                        .unwrap(),
                });
                continue;
            }
            self.events.push(v.clone());
            return Some(v);
        }
    }

    /// Waits for an event matching `pred`.
    async fn until(&mut self, within: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left.max(Duration::from_millis(1))).await {
                Some(v) if pred(&v) => return v,
                Some(_) => {}
                None => panic!("socket closed; saw {:?}", self.kinds()),
            }
        }
    }

    /// Reads for `d`, collecting frames and events.
    async fn drain(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Message::Text(text) = msg {
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["type"] == "frame" {
                    self.frames.push(SeenFrame {
                        id: v["frame_id"].as_u64().unwrap(),
                        timestamp: v["timestamp"].as_f64().unwrap(),
                        jpeg: base64::engine::general_purpose::STANDARD
                            .decode(v["data"].as_str().unwrap())
                            .unwrap(),
                    });
                } else {
                    self.events.push(v);
                }
            }
        }
    }

    fn kinds(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| match e["type"].as_str().unwrap_or("?") {
                "status" => format!("status:{}", e["status"].as_str().unwrap_or("?")),
                "chat" => format!("chat:{}", e["role"].as_str().unwrap_or("?")),
                "error" => format!("error:{}", e["code"].as_str().unwrap_or("?")),
                k => k.to_string(),
            })
            .collect()
    }
}

fn is(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == kind
}

fn jfk() -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/jfk.wav");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the shared test data (../shared/data from the project root) is needed",
            path.display()
        )
    })
}

/// The PCM16 payload of a canonical WAV file (the data chunk).
fn pcm_of(wav: &[u8]) -> &[u8] {
    let mut i = 12;
    while i + 8 <= wav.len() {
        let size = u32::from_le_bytes(wav[i + 4..i + 8].try_into().unwrap()) as usize;
        if &wav[i..i + 4] == b"data" {
            return &wav[i + 8..(i + 8 + size).min(wav.len())];
        }
        i += 8 + size + (size & 1);
    }
    panic!("no data chunk");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Dark pixels in the lower middle of a frame, where the mouth is: an open
/// mouth shows its dark inside; closed lips and skin are far brighter.
fn mouth_darkness(jpeg: &[u8]) -> usize {
    let (max_luma, (x0, x1, y0, y1)) = (40.0, (40, 60, 55, 70));
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .expect("frames are valid JPEGs")
        .to_rgb8();
    let (w, h) = img.dimensions();
    let mut n = 0;
    for y in h * y0 / 100..h * y1 / 100 {
        for x in w * x0 / 100..w * x1 / 100 {
            let p = img.get_pixel(x, y).0;
            let luma =
                0.2126 * f32::from(p[0]) + 0.7152 * f32::from(p[1]) + 0.0722 * f32::from(p[2]);
            if luma < max_luma {
                n += 1;
            }
        }
    }
    n
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_whole_loop_speech_in_answer_out_with_a_moving_mouth() {
    let fake = Fake::start().await;
    fake.answer(
        "We offer avatars that talk. Ask me anything about them!",
        Duration::from_millis(5),
    );
    *fake.transcript.lock().unwrap() = "And so my fellow Americans, what do you offer?".into();
    let s = server(&fake).await;
    let (id, token) = new_session(&s, json!({"quality": "low", "avatar_id": "aria-001"})).await;
    let mut c = Client::connect(&s, &id, &token).await;
    let hello = c.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(hello["type"], "status");
    assert_eq!(hello["status"], "idle");

    // Idle frames flow (blinks, breathing) before anyone speaks.
    let started = Instant::now();
    while c.frames.len() < 12 {
        c.drain(Duration::from_millis(200)).await;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no frames: {:?}",
            c.kinds()
        );
    }
    let idle_frames = c.frames.len();
    let first = &c.frames[0];
    let img = image::load_from_memory(&first.jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (256, 256));

    // Speech in: the WAV as one append, then a commit.
    let wav = jfk();
    c.send(json!({"type": "audio_buffer_append", "data": {"audio": b64(&wav)}}))
        .await;
    c.send(json!({"type": "audio_buffer_commit"})).await;
    let user = c
        .until(Duration::from_secs(30), |v| {
            v["type"] == "chat" || v["type"] == "error"
        })
        .await;
    assert_eq!(user["role"], "user", "{user}");
    assert_eq!(
        user["content"],
        "And so my fellow Americans, what do you offer?"
    );
    assert_eq!(fake.stt_calls.load(Ordering::SeqCst), 1);
    // The whole 11 s reached the STT provider (as 16 kHz PCM16 WAV).
    assert!(fake.stt_bytes.load(Ordering::SeqCst) > 340_000);

    let audio = c.until(Duration::from_secs(30), is("audio")).await;
    let wav_out = base64::engine::general_purpose::STANDARD
        .decode(audio["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(&wav_out[..4], b"RIFF");
    assert!(audio["duration"].as_f64().unwrap() > 0.3);
    assert!(audio["sample_rate"].as_u64().unwrap() >= 16_000);
    assert_eq!(audio["text"], "We offer avatars that talk.");
    let agent = c
        .until(Duration::from_secs(30), |v| v["type"] == "chat")
        .await;
    assert_eq!(agent["role"], "agent");
    assert_eq!(
        agent["content"],
        "We offer avatars that talk. Ask me anything about them!"
    );
    assert_eq!(agent["interrupted"], false);
    c.drain(Duration::from_millis(500)).await;
    let kinds = c.kinds();
    let audios: Vec<&Value> = c.events.iter().filter(|e| e["type"] == "audio").collect();
    assert_eq!(audios.len(), 2, "{kinds:?}");
    let speaking = kinds.iter().position(|k| k == "status:speaking").unwrap();
    let idle_again = kinds.iter().rposition(|k| k == "status:idle").unwrap();
    assert!(speaking < idle_again, "{kinds:?}");

    // Frames: valid JPEGs with increasing ids, and the mouth opens while the
    // audio plays and not while idle.
    let ids: Vec<u64> = c.frames.iter().map(|f| f.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let spans: Vec<(f64, f64)> = audios
        .iter()
        .map(|a| {
            let t = a["timestamp"].as_f64().unwrap();
            (t, t + a["duration"].as_f64().unwrap())
        })
        .collect();
    let during: Vec<usize> = c
        .frames
        .iter()
        .filter(|f| {
            spans
                .iter()
                .any(|(a, b)| f.timestamp > a + 0.1 && f.timestamp < b - 0.1)
        })
        .map(|f| mouth_darkness(&f.jpeg))
        .collect();
    let idle: Vec<usize> = c.frames[..idle_frames]
        .iter()
        .map(|f| mouth_darkness(&f.jpeg))
        .collect();
    // REALTIME_TEST_FRAMES=<dir> keeps the frames as PNGs for a human to
    // look at (named by id, and whether audio was playing).
    if let Some(dir) = std::env::var_os("REALTIME_TEST_FRAMES") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in &c.frames {
            let speaking = spans
                .iter()
                .any(|(a, b)| f.timestamp > *a && f.timestamp < *b);
            let name = format!(
                "{:04}-{}.png",
                f.id,
                if speaking { "speech" } else { "idle" }
            );
            image::load_from_memory(&f.jpeg)
                .unwrap()
                .save(dir.join(name))
                .unwrap();
        }
    }
    assert!(
        during.len() >= 10,
        "only {} frames during speech",
        during.len()
    );
    let idle_max = *idle.iter().max().unwrap();
    let open = during.iter().filter(|d| **d > idle_max + 30).count();
    assert!(
        open * 3 >= during.len(),
        "the mouth opened in {open} of {} speech frames (idle max {idle_max}): {during:?}",
        during.len()
    );

    // The turn is stored, and the counters moved.
    let list = s.get("/v1/streaming.sessions", None).await.expect(200);
    let conv = list.body["sessions"][0]["thread"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = s
        .get(&format!("/v1/conversations/{conv}"), s.owner())
        .await
        .expect(200);
    let msgs = stored.data()["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(
        msgs[1]["content"],
        "We offer avatars that talk. Ask me anything about them!"
    );
    let m = s.get("/metrics", None).await.expect(200);
    assert!(
        m.body["active_sessions"].as_i64().unwrap() >= 1,
        "{}",
        m.body
    );
    assert!(m.body["websocket_connections"].as_i64().unwrap() >= 1);
    assert!(m.body["average_turn_latency"].as_f64().unwrap() > 0.0);
    assert!(m.body["frames_sent"].as_u64().unwrap() >= 12);
}

/// The stored messages of a preset session's conversation.
async fn stored(s: &TestServer, session_id: &str) -> Vec<Value> {
    let list = s.get("/v1/streaming.sessions", None).await.expect(200);
    let entry = list.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["session_id"] == session_id)
        .unwrap()
        .clone();
    let conv = entry["thread"]["conversation_id"].as_str().unwrap();
    let r = s
        .get(&format!("/v1/conversations/{conv}"), s.owner())
        .await
        .expect(200);
    r.data()["messages"].as_array().unwrap().clone()
}

const STORY: &str = "Once upon a time there was a small robot. It lived in a quiet town by the sea. \
Every morning it walked to the harbour to watch the boats. One day a storm came and the boats did not return. \
The robot waited on the pier all night long. At dawn it saw the first sail on the horizon. \
The whole town cheered when the boats came home.";

#[tokio::test]
async fn interrupting_mid_answer_keeps_only_what_was_heard() {
    let fake = Fake::start().await;
    // Slow and long: the model is still writing when the user interrupts.
    fake.answer(STORY, Duration::from_millis(40));
    let s = server(&fake).await;
    let (id, token) = new_session(&s, json!({"quality": "low"})).await;
    let mut c = Client::connect(&s, &id, &token).await;
    c.send(json!({"type": "chat", "content": "Tell me a story"}))
        .await;
    let user = c.until(Duration::from_secs(10), is("chat")).await;
    assert_eq!(user["role"], "user");
    let first = c.until(Duration::from_secs(30), is("audio")).await;
    assert_eq!(first["text"], "Once upon a time there was a small robot.");
    // Into the second sentence, then interrupt.
    let second = c.until(Duration::from_secs(30), is("audio")).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    c.send(json!({"type": "interrupt"})).await;
    let interrupted_at = c.events.len();
    let status = c.until(Duration::from_secs(5), is("status")).await;
    assert_eq!(status["status"], "idle");
    let agent = c.until(Duration::from_secs(10), is("chat")).await;
    assert_eq!(agent["role"], "agent");
    assert_eq!(agent["interrupted"], true);
    let heard = agent["content"].as_str().unwrap().to_string();
    let first_two = format!(
        "{} {}",
        first["text"].as_str().unwrap(),
        second["text"].as_str().unwrap()
    );
    assert!(
        heard.starts_with("Once upon a time there was a small robot. It"),
        "{heard:?}"
    );
    assert!(
        first_two.starts_with(&heard) && heard.len() < first_two.len(),
        "{heard:?}"
    );
    // Nothing more is said.
    c.drain(Duration::from_millis(1500)).await;
    assert!(
        !c.events[interrupted_at..]
            .iter()
            .any(|e| e["type"] == "audio"),
        "{:?}",
        c.kinds()
    );
    let msgs = stored(&s, &id).await;
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[1]["content"], heard.as_str());

    // The session still answers afterwards.
    fake.answer("Sure thing.", Duration::from_millis(1));
    c.send(json!({"type": "text", "text": "Thanks"})).await;
    let agent = c
        .until(Duration::from_secs(30), |v| {
            v["type"] == "chat" && v["role"] == "agent"
        })
        .await;
    assert_eq!(agent["content"], "Sure thing.");
}

#[tokio::test]
async fn while_listening_the_vad_commits_utterances_and_user_speech_barges_in() {
    let fake = Fake::start().await;
    fake.answer(STORY, Duration::from_millis(5));
    *fake.transcript.lock().unwrap() = "Ask not what your country can do for you".into();
    let s = server(&fake).await;
    let (id, token) = new_session(&s, json!({"quality": "low"})).await;
    let mut c = Client::connect(&s, &id, &token).await;
    c.send(json!({"type": "start_listening"})).await;
    let st = c
        .until(Duration::from_secs(5), |v| {
            v["type"] == "status" && v["status"] == "listening"
        })
        .await;
    assert_eq!(st["status"], "listening");

    // The avatar talks; the user talks over it.
    c.send(json!({"type": "chat", "content": "Tell me a story"}))
        .await;
    c.until(Duration::from_secs(30), is("audio")).await;
    let wav = jfk();
    let pcm = pcm_of(&wav);
    for chunk in pcm.chunks(3_200) {
        c.send(json!({"type": "audio_buffer_append", "data": {"audio": b64(chunk)}}))
            .await;
    }
    // A second of silence ends the last utterance.
    let silence = vec![0u8; 32_000];
    c.send(json!({"type": "audio_buffer_append", "data": {"audio": b64(&silence)}}))
        .await;
    let cut = c.until(Duration::from_secs(20), is("chat")).await;
    assert_eq!(cut["role"], "agent", "{:?}", c.kinds());
    assert_eq!(cut["interrupted"], true);
    assert!(
        c.events
            .iter()
            .any(|e| e["type"] == "status" && e["status"] == "listening"),
        "{:?}",
        c.kinds()
    );
    let user = c
        .until(Duration::from_secs(30), |v| {
            v["type"] == "chat" && v["role"] == "user"
        })
        .await;
    // The VAD cut the speech at its pauses; each piece was transcribed, in
    // order, and a turn overtaken by the next piece hands its words on, so
    // the answered turn holds them all.
    let calls = fake.stt_calls.load(Ordering::SeqCst);
    assert!(calls >= 1);
    let said = "Ask not what your country can do for you";
    let content = user["content"].as_str().unwrap();
    assert!(
        (1..=calls).any(|k| content == vec![said; k].join(" ")),
        "{content:?} after {calls} transcriptions"
    );
    c.send(json!({"type": "stop_listening"})).await;
    c.until(Duration::from_secs(5), |v| {
        v["type"] == "status" && v["status"] != "listening"
    })
    .await;
    c.send(json!({"type": "interrupt"})).await;

    // Bad events get 003's error codes.
    c.send(json!({"type": "audio_buffer_append", "data": {"audio": "%%%"}}))
        .await;
    let e = c.until(Duration::from_secs(5), is("error")).await;
    assert_eq!(e["code"], "AUDIO_PROCESSING_ERROR");
    c.send(json!({"type": "audio_buffer_commit"})).await;
    let e = c.until(Duration::from_secs(5), is("error")).await;
    assert_eq!(e["code"], "AUDIO_PROCESSING_ERROR");
    c.send(json!({"type": "dance"})).await;
    let e = c.until(Duration::from_secs(5), is("error")).await;
    assert_eq!(e["code"], "INVALID_EVENT");
    c.ws.send(Message::Text("not json".into())).await.unwrap();
    let e = c.until(Duration::from_secs(5), is("error")).await;
    assert_eq!(e["code"], "INVALID_EVENT");
}

fn secret_of(s: &TestServer) -> Vec<u8> {
    std::fs::read(s.data_dir.join("jwt-secret")).unwrap()
}

#[tokio::test]
async fn tokens_are_checked_and_stopped_sessions_refuse_everything() {
    let fake = Fake::start().await;
    let s = server(&fake).await;
    let (a, token_a) = new_session(&s, json!({"quality": "low"})).await;
    let (b, token_b) = new_session(&s, json!({"quality": "low"})).await;
    let url = |id: &str, t: &str| format!("ws://127.0.0.1:{}/ws/{id}?token={t}", s.port);

    assert_eq!(ws_refused(&url(&a, &token_b)).await, 401);
    assert_eq!(ws_refused(&url(&a, "garbage")).await, 401);
    assert_eq!(ws_refused(&url(&a, &s.owner_token)).await, 401);
    assert_eq!(
        ws_refused(&format!("ws://127.0.0.1:{}/ws/{a}", s.port)).await,
        401
    );
    // An expired token of the right session.
    let now = chrono::Utc::now().timestamp() as u64;
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &avatarium_server::auth::Claims {
            sub: a.clone(),
            iat: now - 7200,
            exp: now - 3600,
            iss: "avatarium-local".into(),
            typ: "session".into(),
            sid: Some(a.clone()),
        },
        &jsonwebtoken::EncodingKey::from_secret(&secret_of(&s)),
    )
    .unwrap();
    assert_eq!(ws_refused(&url(&a, &expired)).await, 401);

    // The token in a header works too.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://127.0.0.1:{}/ws/{a}", s.port)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {token_a}").parse().unwrap(),
    );
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut c = Client {
        ws,
        frames: Vec::new(),
        events: Vec::new(),
    };
    c.until(Duration::from_secs(5), is("status")).await;

    // Stopping closes its sockets and refuses new ones.
    let r = s
        .post("/v1/streaming.stop", None, json!({"session_id": a}))
        .await
        .expect(200);
    assert_eq!(r.body["status"], "stopped");
    assert!(r.body["duration"].as_f64().unwrap() >= 0.0);
    let e = c.until(Duration::from_secs(5), is("error")).await;
    assert_eq!(e["code"], "SESSION_STOPPED");
    assert!(c.next(Duration::from_secs(5)).await.is_none(), "still open");
    let refused = tokio_tungstenite::connect_async(url(&a, &token_a)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 404);
            let body: Value = serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "SESSION_NOT_FOUND");
        }
        other => panic!("a stopped session was accepted: {other:?}"),
    }
    let again = s
        .post("/v1/streaming.stop", None, json!({"session_id": a}))
        .await
        .expect(404);
    assert_eq!(again.error_code(), "SESSION_NOT_FOUND");
    // The other session is untouched.
    let mut other = Client::connect(&s, &b, &token_b).await;
    other.until(Duration::from_secs(5), is("status")).await;
}

#[tokio::test]
async fn session_endpoints_answer_in_003_shapes() {
    let fake = Fake::start().await;
    let s = server_with(&fake, |c| {
        c.ice_servers = vec![json!({"urls": "stun:stun.example.org:3478"})];
    })
    .await;
    let before = s.get("/metrics", None).await.expect(200).body;
    let r = s
        .post(
            "/v1/streaming.new",
            None,
            json!({"quality": "low", "avatar_id": "avatar_1"}),
        )
        .await
        .expect(200);
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "ice_servers", "meta", "session_id"]);
    assert_eq!(
        r.body["ice_servers"],
        json!([{"urls": "stun:stun.example.org:3478"}])
    );
    assert_eq!(
        r.body["access_token"].as_str().unwrap().split('.').count(),
        3
    );
    let id = r.body["session_id"].as_str().unwrap().to_string();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().to_string(), id);

    // Defaults: medium quality, avatar_1. Credentials are optional, and
    // bad ones are refused.
    let d = s
        .post("/v1/streaming.new", s.owner(), json!({}))
        .await
        .expect(200);
    let d_id = d.body["session_id"].as_str().unwrap().to_string();
    let bad = s
        .post("/v1/streaming.new", Some("av_live_nope"), json!({}))
        .await
        .expect(401);
    assert_eq!(bad.error_code(), "UNAUTHORIZED");
    let e = s
        .post("/v1/streaming.new", None, json!({"quality": "ultra"}))
        .await
        .expect(400);
    assert_eq!(e.error_code(), "BAD_REQUEST");
    let e = s
        .post("/v1/streaming.new", None, json!({"avatar_id": "nobody"}))
        .await
        .expect(404);
    assert_eq!(e.error_code(), "NOT_FOUND");

    let list = s.get("/v1/streaming.sessions", None).await.expect(200);
    assert_eq!(list.body["total"], 2);
    let first = &list.body["sessions"][0];
    assert_eq!(first["session_id"], id.as_str());
    assert_eq!(first["status"], "active");
    assert_eq!(first["quality"], "low");
    assert_eq!(first["avatar_id"], "avatar_1");
    assert!(first["duration"].is_number());
    assert!(chrono::DateTime::parse_from_rfc3339(first["created_at"].as_str().unwrap()).is_ok());
    assert_eq!(list.body["sessions"][1]["quality"], "medium");
    // Another account sees only its own.
    let other = s.signup("other@example.com").await;
    let theirs = s
        .get("/v1/streaming.sessions", Some(&other))
        .await
        .expect(200);
    assert_eq!(theirs.body["total"], 0);
    let e = s
        .post(
            "/v1/streaming.stop",
            Some(&other),
            json!({"session_id": id}),
        )
        .await
        .expect(404);
    assert_eq!(e.error_code(), "SESSION_NOT_FOUND");

    // streaming.start needs a real offer (WebRTC itself: tests/webrtc.rs).
    let e = s
        .post(
            "/v1/streaming.start",
            None,
            json!({"session_id": id, "sdp": {"type": "offer", "sdp": "v=0"}}),
        )
        .await
        .expect(400);
    assert_eq!(e.error_code(), "BAD_REQUEST");
    assert!(
        e.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no audio or video"),
        "{}",
        e.body
    );

    // chat.completions knows live sessions.
    let ok = s
        .post(
            "/v1/chat.completions",
            None,
            json!({"session_id": id, "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    // Unknown sessions: 003's error body, exactly.
    let unknown = "550e8400-e29b-41d4-a716-446655440000";
    for (path, body) in [
        ("/v1/streaming.stop", json!({"session_id": unknown})),
        ("/v1/streaming.start", json!({"session_id": unknown})),
        (
            "/v1/avatar.speak",
            json!({"session_id": unknown, "text": "Hi"}),
        ),
        (
            "/v1/chat.completions",
            json!({"session_id": unknown, "messages": [{"role": "user", "content": "Hi"}]}),
        ),
    ] {
        let r = s.post(path, None, body).await.expect(404);
        assert_eq!(
            r.body["error"],
            json!({
                "code": "SESSION_NOT_FOUND",
                "message": "The specified session does not exist",
                "details": {"session_id": unknown},
            }),
            "{path}"
        );
    }

    // Stopping answers the duration; counters follow.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = s
        .post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
    assert_eq!(r.body["status"], "stopped");
    assert!(r.body["duration"].as_f64().unwrap() >= 0.1, "{}", r.body);
    let list = s.get("/v1/streaming.sessions", None).await.expect(200);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["sessions"][0]["session_id"], d_id.as_str());
    let after = s.get("/metrics", None).await.expect(200).body;
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap();
    assert_eq!(
        n(&after, "total_sessions") - n(&before, "total_sessions"),
        2
    );
    assert_eq!(
        n(&after, "active_sessions") - n(&before, "active_sessions"),
        1
    );
}

#[tokio::test]
async fn avatar_speak_is_a_task_that_completes_or_is_interrupted() {
    let fake = Fake::start().await;
    let s = server(&fake).await;
    let (id, token) = new_session(&s, json!({"quality": "low"})).await;
    let mut c = Client::connect(&s, &id, &token).await;
    let text = "Welcome to our interactive AI avatar system! It is nice to meet you.";
    let r = s
        .post(
            "/v1/avatar.speak",
            None,
            json!({"session_id": id, "text": text}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "processing");
    let task = r.body["task_id"].as_str().unwrap().to_string();
    let estimate = r.body["duration_estimate"].as_f64().unwrap();
    assert!((2.0..8.0).contains(&estimate), "{estimate}");
    let path = format!("/v1/avatar.speak/{task}");
    let early = s.get(&path, None).await.expect(200);
    assert_eq!(early.body["status"], "processing");
    let audio = c.until(Duration::from_secs(30), is("audio")).await;
    assert_eq!(audio["task_id"], task.as_str());
    assert_eq!(
        audio["text"],
        "Welcome to our interactive AI avatar system!"
    );
    let said = c.until(Duration::from_secs(30), is("chat")).await;
    assert_eq!(said["role"], "agent");
    assert_eq!(said["content"], text);
    let done = s.get(&path, None).await.expect(200);
    assert_eq!(done.body["status"], "completed", "{}", done.body);
    let duration = done.body["duration"].as_f64().unwrap();
    assert!(
        duration > estimate * 0.5 && duration < estimate * 2.0,
        "took {duration} s, estimated {estimate} s"
    );

    // The session's own token may make it speak; an interrupt ends the task.
    let long = STORY;
    let r = s
        .post(
            "/v1/avatar.speak",
            Some(&token),
            json!({"session_id": id, "text": long, "voice_settings": {"speed": 1.2, "stability": 0.5}}),
        )
        .await
        .expect(200);
    let task2 = r.body["task_id"].as_str().unwrap().to_string();
    c.until(Duration::from_secs(30), is("audio")).await;
    c.send(json!({"type": "interrupt"})).await;
    c.until(Duration::from_secs(10), |v| {
        v["type"] == "status" && v["status"] == "idle"
    })
    .await;
    let started = Instant::now();
    let t = loop {
        let t = s
            .get(&format!("/v1/avatar.speak/{task2}"), None)
            .await
            .expect(200);
        if t.body["status"] != "processing" || started.elapsed() > Duration::from_secs(10) {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(t.body["status"], "interrupted", "{}", t.body);
    assert!(STORY.starts_with(t.body["spoken_text"].as_str().unwrap()));

    let e = s.get("/v1/avatar.speak/task_nope", None).await.expect(404);
    assert_eq!(e.error_code(), "NOT_FOUND");
    let e = s
        .post(
            "/v1/avatar.speak",
            None,
            json!({"session_id": id, "text": "  "}),
        )
        .await
        .expect(400);
    assert_eq!(e.error_code(), "BAD_REQUEST");
    let e = s
        .post(
            "/v1/avatar.speak",
            None,
            json!({"session_id": id, "text": "Hi", "voice_settings": {"speed": 9}}),
        )
        .await
        .expect(400);
    assert_eq!(e.error_code(), "BAD_REQUEST");
}

#[tokio::test]
async fn get_access_token_needs_a_key_and_opens_a_session() {
    let fake = Fake::start().await;
    let s = server(&fake).await;
    let body = json!({"avatarId": "female-01", "voiceId": "en-gb"});
    let r = s
        .post("/api/get-access-token", None, body.clone())
        .await
        .expect(401);
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    let (_, key) = s.create_key(&s.owner_token.clone(), "backend").await;
    let r = s
        .post("/api/get-access-token", Some(&key), body)
        .await
        .expect(200);
    let token = r.body["token"].as_str().unwrap().to_string();
    let session = r.body["sessionId"].as_str().unwrap().to_string();
    let expires = chrono::DateTime::parse_from_rfc3339(r.body["expiresAt"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let left = expires - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(50) && left <= chrono::Duration::minutes(61),
        "{left}"
    );
    let list = s
        .get("/v1/streaming.sessions", Some(&key))
        .await
        .expect(200);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["sessions"][0]["quality"], "medium");
    assert_eq!(list.body["sessions"][0]["avatar_id"], "female-01");
    let mut c = Client::connect(&s, &session, &token).await;
    let hello = c.until(Duration::from_secs(5), is("status")).await;
    assert_eq!(hello["session_id"], session.as_str());
    // The token is scoped: it is no account credential.
    let e = s.get("/v1/auth/me", Some(&token)).await.expect(401);
    assert_eq!(e.error_code(), "UNAUTHORIZED");
}

#[tokio::test]
async fn the_websocket_port_serves_only_session_sockets() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let fake = Fake::start().await;
    let s = server_with(&fake, |c| c.ws_port = Some(port)).await;
    let (id, token) = new_session(&s, json!({"quality": "low"})).await;
    let url = format!("ws://127.0.0.1:{port}/ws/{id}?token={token}");
    let mut ws = harness::ws_connect(&url).await;
    let hello = harness::ws_next(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "status");
    assert_eq!(
        ws_refused(&format!("ws://127.0.0.1:{port}/ws/{id}?token=nope")).await,
        401
    );
    let r = s
        .client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}

#[tokio::test]
async fn a_consumer_avatars_session_counts_in_its_analytics() {
    let fake = Fake::start().await;
    fake.answer("Basic costs ten dollars.", Duration::from_millis(1));
    let s = server(&fake).await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "streamer").await;
    let short = a["shortId"].as_str().unwrap();
    let (id, token) = new_session(&s, json!({"quality": "low", "avatar_id": short})).await;
    let list = s.get("/v1/streaming.sessions", None).await.expect(200);
    assert_eq!(list.body["sessions"][0]["avatar_id"], a["id"]);
    assert!(list.body["sessions"][0]["thread"]["avatar_session_id"].is_string());
    let mut c = Client::connect(&s, &id, &token).await;
    c.send(json!({"type": "chat", "content": "What does it cost?"}))
        .await;
    let agent = c
        .until(Duration::from_secs(30), |v| {
            v["type"] == "chat" && v["role"] == "agent"
        })
        .await;
    assert_eq!(agent["content"], "Basic costs ten dollars.");
    s.post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
    let path = format!(
        "/v1/consumer-avatars/{}/analytics?days=7",
        a["id"].as_str().unwrap()
    );
    let started = Instant::now();
    loop {
        let r = s.get(&path, Some(&tok)).await.expect(200);
        // Summed over the days: a session that spans midnight (UTC) counts
        // on the day it started and its messages on the days they came.
        let daily = r.data()["daily"].as_array().unwrap().clone();
        let sum = |k: &str| daily.iter().map(|d| d[k].as_i64().unwrap()).sum::<i64>();
        if sum("conversations") == 1 && sum("messages") == 2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
