//! Loopback stand-ins for the cloud speech providers: an HTTP server on
//! 127.0.0.1 that records every request and answers as the test says, and
//! real audio to answer with.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::f32::consts::TAU;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatarium_tts::{Speech, TtsError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

/// Long enough that the redaction of masked echoes applies to it.
pub const KEY: &str = "test-key-4f9a2c7e1b8d3f6a0c5e9b2d7f1a";
pub const WRONG_KEY: &str = "wrong-key-9e8d7c6b5a4f3e2d1c0b9a8f7e6d";

/// One request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn is_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    }
}

type Handler = dyn Fn(&Seen) -> Response + Send + Sync;

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    handler: Arc<Handler>,
    delay: Duration,
}

/// A fake provider listening on a loopback port.
pub struct Fake {
    /// `http://127.0.0.1:PORT`, to pass as an engine's `base_url`.
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Fake {
    pub async fn start(handler: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Self {
        Self::start_slow(Duration::ZERO, handler).await
    }

    /// Waits `delay` before answering each request.
    pub async fn start_slow(
        delay: Duration,
        handler: impl Fn(&Seen) -> Response + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            seen: seen.clone(),
            handler: Arc::new(handler),
            delay,
        };
        let app = axum::Router::new().fallback(answer).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, seen, server }
    }

    /// The requests so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn only_request(&self) -> Seen {
        let seen = self.requests();
        assert_eq!(seen.len(), 1, "expected one request, got {seen:#?}");
        seen.into_iter().next().unwrap()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://x/?{q}"))
                .unwrap()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let seen = Seen {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body: body.to_vec(),
    };
    shared.seen.lock().unwrap().push(seen.clone());
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    (shared.handler)(&seen)
}

pub fn json_reply(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

pub fn audio_reply(content_type: &'static str, bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        bytes,
    )
        .into_response()
}

/// How long the fakes speak a text: a fixed lead-in plus a steady pace, so a
/// test can say what duration to expect.
pub fn spoken_ms(text: &str) -> u32 {
    200 + 45 * text.chars().count() as u32
}

/// Samples in `ms` at `rate`, as the fakes round them.
pub fn samples_for(ms: u32, rate: u32) -> usize {
    (u64::from(ms) * u64::from(rate) / 1000) as usize
}

/// A voiced, vowel-like sound: a 130 Hz voice whose harmonics are shaped by
/// the formants of an open /a/ (730, 1090, 2440 Hz), swelling and fading four
/// times a second like syllables, with short silences at both ends. Close
/// enough to speech for energy- and spectrum-based estimators.
pub fn vowel(ms: u32, rate: u32) -> Vec<i16> {
    let n = samples_for(ms, rate);
    let rate_f = rate as f32;
    let f0 = 130.0;
    let formants = [(730.0, 90.0), (1090.0, 110.0), (2440.0, 170.0)];
    let harmonics: Vec<(f32, f32)> = (1..)
        .map(|h| h as f32 * f0)
        .take_while(|&f| f < rate_f / 2.0 - 200.0 && f < 4000.0)
        .map(|f| {
            let gain: f32 = formants
                .iter()
                .map(|&(fc, bw)| 1.0 / (1.0 + ((f - fc) / bw).powi(2)))
                .sum::<f32>()
                + 0.02;
            (f, gain)
        })
        .collect();
    let norm: f32 = harmonics.iter().map(|&(_, g)| g).sum();
    let edge = (0.06 * rate_f) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / rate_f;
            let voice: f32 = harmonics
                .iter()
                .map(|&(f, g)| g * (TAU * f * t).sin())
                .sum::<f32>()
                / norm;
            let syllables = 0.55 - 0.45 * (TAU * 4.0 * t).cos();
            let ends = if i < edge || i + edge >= n { 0.0 } else { 1.0 };
            (voice * syllables * ends * 0.6 * f32::from(i16::MAX)) as i16
        })
        .collect()
}

/// Little-endian 16-bit PCM, no header.
pub fn pcm(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// A canonical 44-byte-header WAV file, mono 16-bit.
pub fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data = pcm(samples);
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// A WAV as OpenAI streams it: the header is sent before the length is
/// known, so both RIFF and `data` sizes are 0xFFFFFFFF.
pub fn streamed_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let mut out = wav(samples, rate);
    out[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    out[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    out
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Checks what every engine promises: the audio's rate and length, and a
/// viseme timeline that is non-empty, ordered, and inside the audio.
pub fn check_speech(speech: &Speech, provider: &str, rate: u32, ms: u32, viseme_source: &str) {
    assert_eq!(speech.provider, provider);
    assert_eq!(speech.sample_rate, rate);
    assert_eq!(speech.samples.len(), samples_for(ms, rate));
    assert!(
        speech.duration_ms().abs_diff(ms) <= 1,
        "{} ms, expected {ms}",
        speech.duration_ms()
    );
    assert!(
        speech.samples.iter().any(|&s| s.unsigned_abs() > 1000),
        "the audio is silent"
    );
    assert_eq!(speech.viseme_source, viseme_source);
    let cues = &speech.visemes.cues;
    assert!(!cues.is_empty(), "no visemes");
    let mut end = 0;
    for cue in cues {
        assert!(cue.start <= cue.end, "{cue:?} ends before it starts");
        assert!(
            cue.start >= end,
            "{cue:?} overlaps the cue before it: {cues:?}"
        );
        end = cue.end;
    }
    assert!(
        end <= speech.duration_ms(),
        "the visemes run to {end} ms, past the audio's {} ms",
        speech.duration_ms()
    );
    // The fakes' audio starts and ends with 60 ms of silence (and the
    // ElevenLabs fake's alignment with 100 ms): a timeline fitted to the
    // audio keeps the mouth shut there.
    let open: Vec<_> = cues.iter().filter(|c| c.viseme.name() != "sil").collect();
    assert!(!open.is_empty(), "the mouth never opens: {cues:?}");
    assert!(
        open[0].start >= 40,
        "the mouth opens in the lead-in silence: {cues:?}"
    );
    assert!(
        open[open.len() - 1].end + 40 <= speech.duration_ms(),
        "the mouth moves in the closing silence: {cues:?}"
    );
    let mut word_end = 0;
    for word in &speech.words {
        assert!(
            word.start <= word.end && word.start >= word_end,
            "{:?}",
            speech.words
        );
        word_end = word.end;
    }
    assert!(word_end <= speech.duration_ms(), "{:?}", speech.words);
}

/// The error must be of the expected kind, say `says`, and hold no key.
pub fn check_error(error: &TtsError, kind: &str, says: &str) {
    let text = error.to_string();
    let debug = format!("{error:?}");
    assert!(debug.starts_with(kind), "expected {kind}, got {debug}");
    assert!(text.contains(says), "{text:?} does not say {says:?}");
    assert_no_key(&text);
    assert_no_key(&debug);
}

/// Neither key nor a recognisable piece of one, masked echoes included.
pub fn assert_no_key(text: &str) {
    assert!(!text.contains("****"), "{text:?} holds a masked key");
    for key in [KEY, WRONG_KEY] {
        assert!(!text.contains(key), "{text:?} holds a key");
        assert!(
            !text.contains(&key[key.len() - 6..]),
            "{text:?} holds the end of a key"
        );
        assert!(
            !text.contains(&key[..12]),
            "{text:?} holds the start of a key"
        );
    }
}

/// How OpenAI-style APIs echo a wrong key: first and last characters only.
pub fn masked(key: &str) -> String {
    format!(
        "{}{}{}",
        &key[..3],
        "*".repeat(key.len() - 7),
        &key[key.len() - 4..]
    )
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}
