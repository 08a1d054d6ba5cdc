use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatarium_stt::cloud::{DeepgramStt, GoogleStt, GroqStt, engine_for, providers_info};
use avatarium_stt::{SttEngine, SttError, SttRequest};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::*;

const KEY: &str = "sk-test-0123456789abcdef";

/// What the fakes saw, for assertions on the wire format.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Value>>>);

impl Seen {
    fn last(&self) -> Value {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request reached the fake")
    }
}

/// Keys that make every fake misbehave the same way.
fn scripted_error(key: &str) -> Option<Response> {
    Some(match key {
        "bad-key" => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": "Invalid API Key bad-key"}})),
        )
            .into_response(),
        "limited" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "7")],
            axum::Json(json!({"error": {"message": "slow down"}})),
        )
            .into_response(),
        "broken" => (StatusCode::BAD_GATEWAY, "upstream exploded").into_response(),
        "rejects-audio" => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "could not process file"}})),
        )
            .into_response(),
        "echo-key-secret-1234" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error for key echo-key-secret-1234",
        )
            .into_response(),
        _ => return None,
    })
}

async fn maybe_slow(key: &str) {
    if key == "slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

async fn groq(State(seen): State<Seen>, headers: HeaderMap, mut form: Multipart) -> Response {
    let key = headers[header::AUTHORIZATION]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .expect("bearer auth")
        .to_string();
    let mut fields: HashMap<String, Vec<Value>> = HashMap::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap().to_string();
        let value = if name == "file" {
            let file_name = field.file_name().map(str::to_string);
            let content_type = field.content_type().map(str::to_string);
            let bytes = field.bytes().await.unwrap();
            json!({"fileName": file_name, "contentType": content_type, "len": bytes.len()})
        } else {
            json!(field.text().await.unwrap())
        };
        fields.entry(name).or_default().push(value);
    }
    seen.0
        .lock()
        .unwrap()
        .push(json!({"key": key, "fields": fields}));
    maybe_slow(&key).await;
    if let Some(r) = scripted_error(&key) {
        return r;
    }
    axum::Json(json!({
        "task": "transcribe",
        "language": "English",
        "duration": 11.0,
        "text": " And so my fellow Americans, ask not what your country can do for you.",
        "segments": [
            {"id": 0, "start": 0.0, "end": 4.0, "text": "And so my fellow Americans,", "avg_logprob": -0.1, "no_speech_prob": 0.01},
            {"id": 1, "start": 4.0, "end": 11.0, "text": "ask not...", "avg_logprob": -0.5, "no_speech_prob": 0.02}
        ],
        "words": [
            {"word": "And", "start": 0.3, "end": 0.5},
            {"word": "so", "start": 0.5, "end": 0.7},
            {"word": "ask", "start": 4.2, "end": 4.5}
        ],
        "x_groq": {"id": "req_1"}
    }))
    .into_response()
}

async fn deepgram(
    State(seen): State<Seen>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = headers[header::AUTHORIZATION].to_str().unwrap().to_string();
    let key = auth.strip_prefix("Token ").expect("Token auth").to_string();
    seen.0.lock().unwrap().push(json!({
        "key": key,
        "query": query,
        "contentType": headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()),
        "len": body.len(),
        "head": body.iter().take(4).copied().collect::<Vec<u8>>(),
    }));
    maybe_slow(&key).await;
    if let Some(r) = scripted_error(&key) {
        return r;
    }
    axum::Json(json!({
        "metadata": {"request_id": "x", "duration": 11.0, "channels": 1},
        "results": {"channels": [{
            "detected_language": "en",
            "alternatives": [{
                "transcript": "And so, my fellow Americans.",
                "confidence": 0.97,
                "words": [
                    {"word": "and", "start": 0.32, "end": 0.5, "confidence": 0.99, "punctuated_word": "And"},
                    {"word": "so", "start": 0.5, "end": 0.8, "confidence": 0.95, "punctuated_word": "so,"},
                    {"word": "americans", "start": 1.5, "end": 2.1, "confidence": 1.2}
                ]
            }]
        }]}
    }))
    .into_response()
}

async fn google(
    State(seen): State<Seen>,
    Query(query): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let key = query.get("key").cloned().unwrap_or_default();
    let content = body["audio"]["content"].as_str().unwrap_or_default();
    let pcm = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap();
    seen.0
        .lock()
        .unwrap()
        .push(json!({"key": key, "config": body["config"], "pcmBytes": pcm.len()}));
    maybe_slow(&key).await;
    if key == "bad-key" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}})),
        )
            .into_response();
    }
    if let Some(r) = scripted_error(&key) {
        return r;
    }
    axum::Json(json!({
        "results": [
            {"alternatives": [{"transcript": "and so my fellow Americans", "confidence": 0.9,
                "words": [
                    {"startTime": "0.300s", "endTime": "0.500s", "word": "and", "confidence": 0.95},
                    {"startTime": "0.500s", "endTime": "0.700s", "word": "so"}
                ]}],
             "resultEndTime": "4s", "languageCode": "en-us"},
            {"alternatives": [{"transcript": " ask not", "confidence": 0.7,
                "words": [{"startTime": "4.200s", "endTime": "4.500s", "word": "ask", "confidence": 0.6}]}],
             "resultEndTime": "11s", "languageCode": "en-us"}
        ],
        "totalBilledTime": "11s"
    }))
    .into_response()
}

async fn start() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/openai/v1/audio/transcriptions", post(groq))
        .route("/v1/listen", post(deepgram))
        .route("/v1/speech:recognize", post(google))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn webm_request() -> SttRequest {
    SttRequest {
        audio: webm_opus(&jfk_pcm()[..16_000 * 3]),
        filename: Some("blob".into()),
        mime: Some("audio/webm;codecs=opus".into()),
        language: Some("en-US".into()),
        include_words: true,
    }
}

#[tokio::test]
async fn groq_speaks_openai_multipart() {
    let (base, seen) = start().await;
    let engine = GroqStt::new(
        KEY.into(),
        Some(format!("{base}/openai/v1/")),
        reqwest::Client::new(),
    );
    assert_eq!(engine.id(), "groq");
    let t = engine.transcribe(webm_request()).await.unwrap();

    let req = seen.last();
    assert_eq!(req["key"], KEY);
    let f = &req["fields"];
    assert_eq!(f["model"], json!(["whisper-large-v3-turbo"]));
    assert_eq!(f["response_format"], json!(["verbose_json"]));
    assert!(
        f["timestamp_granularities[]"]
            .as_array()
            .unwrap()
            .contains(&json!("word"))
    );
    assert_eq!(f["language"], json!(["en"]));
    assert_eq!(
        f["file"][0]["fileName"], "audio.webm",
        "the upload needs an extension Groq accepts"
    );
    assert_eq!(f["file"][0]["contentType"], "audio/webm;codecs=opus");
    assert!(f["file"][0]["len"].as_u64().unwrap() > 1000);

    assert_eq!(
        t.text,
        "And so my fellow Americans, ask not what your country can do for you."
    );
    assert_eq!(t.language.as_deref(), Some("en"));
    assert_eq!(t.duration_s, 11.0);
    assert_eq!(t.words.len(), 3);
    assert_eq!(t.words[0].word, "And");
    assert!((t.words[0].confidence - (-0.1f32).exp()).abs() < 1e-4);
    assert!((t.words[2].confidence - (-0.5f32).exp()).abs() < 1e-4);
    let expected = ((-0.1f32).exp() * 4.0 + (-0.5f32).exp() * 7.0) / 11.0;
    assert!((t.confidence - expected).abs() < 1e-4, "{}", t.confidence);

    // Without words, only segment timestamps are requested.
    let t = engine
        .transcribe(SttRequest {
            include_words: false,
            ..webm_request()
        })
        .await
        .unwrap();
    assert!(t.words.is_empty());
    assert_eq!(
        seen.last()["fields"]["timestamp_granularities[]"],
        json!(["segment"])
    );
}

#[tokio::test]
async fn deepgram_sends_raw_audio_with_token_auth() {
    let (base, seen) = start().await;
    let engine = DeepgramStt::new(KEY.into(), Some(base), reqwest::Client::new());
    let req = webm_request();
    let len = req.audio.len();
    let t = engine.transcribe(req).await.unwrap();

    let r = seen.last();
    assert_eq!(r["key"], KEY);
    assert_eq!(r["query"]["model"], "nova-2");
    assert_eq!(r["query"]["smart_format"], "true");
    assert_eq!(r["query"]["language"], "en-US");
    assert_eq!(r["contentType"], "audio/webm;codecs=opus");
    assert_eq!(r["len"], len);
    assert_eq!(r["head"], json!([0x1a, 0x45, 0xdf, 0xa3]));

    assert_eq!(t.text, "And so, my fellow Americans.");
    assert_eq!(t.confidence, 0.97);
    assert_eq!(t.language.as_deref(), Some("en"));
    assert_eq!(t.words[1].word, "so,");
    assert_eq!(
        (t.words[1].start, t.words[1].end, t.words[1].confidence),
        (0.5, 0.8, 0.95)
    );
    assert_eq!(t.words[2].confidence, 1.0, "clamped");

    // No language: Deepgram is asked to detect it; no MIME: sniffed from the bytes.
    let wav = jfk_wav()[..32_044].to_vec();
    engine.transcribe(SttRequest::new(wav)).await.unwrap();
    let r = seen.last();
    assert_eq!(r["query"]["detect_language"], "true");
    assert_eq!(r["contentType"], "audio/wav");
}

#[tokio::test]
async fn google_gets_base64_linear16_at_16k() {
    let (base, seen) = start().await;
    let engine = GoogleStt::new(KEY.into(), Some(base), reqwest::Client::new());
    let t = engine.transcribe(webm_request()).await.unwrap();

    let r = seen.last();
    assert_eq!(r["key"], KEY);
    let c = &r["config"];
    assert_eq!(c["encoding"], "LINEAR16");
    assert_eq!(c["sampleRateHertz"], 16_000);
    assert_eq!(c["languageCode"], "en-US");
    assert_eq!(c["enableWordTimeOffsets"], true);
    assert_eq!(c["enableWordConfidence"], true);
    // Three seconds of 16-bit samples at 16 kHz, give or take the codec's edges.
    let bytes = r["pcmBytes"].as_u64().unwrap();
    assert!((94_000..=98_000).contains(&bytes), "{bytes} bytes of PCM");

    assert_eq!(t.text, "and so my fellow Americans ask not");
    assert!((t.confidence - 0.8).abs() < 1e-5);
    assert_eq!(t.language.as_deref(), Some("en"));
    assert!((t.duration_s - 3.0).abs() < 0.1);
    assert_eq!(t.words.len(), 3);
    assert_eq!((t.words[0].start, t.words[0].end), (0.3, 0.5));
    assert_eq!(
        t.words[1].confidence, 0.9,
        "falls back to the alternative's confidence"
    );

    let long = SttRequest::new(wav_bytes(&vec![0.0; 16_000 * 61], 1, 16_000));
    assert!(
        matches!(engine.transcribe(long).await, Err(SttError::TooLong { max_s }) if max_s == 60.0)
    );
    let garbage = SttRequest::new(b"garbage".to_vec());
    assert!(matches!(
        engine.transcribe(garbage).await,
        Err(SttError::BadAudio(_))
    ));
}

fn engines(base: &str, key: &str) -> Vec<Box<dyn SttEngine>> {
    let http = reqwest::Client::new();
    vec![
        Box::new(
            GroqStt::new(key.into(), Some(format!("{base}/openai/v1")), http.clone())
                .with_timeout(Duration::from_millis(500)),
        ),
        Box::new(
            DeepgramStt::new(key.into(), Some(base.into()), http.clone())
                .with_timeout(Duration::from_millis(500)),
        ),
        Box::new(
            GoogleStt::new(key.into(), Some(base.into()), http)
                .with_timeout(Duration::from_millis(500)),
        ),
    ]
}

#[tokio::test]
async fn errors_are_mapped_for_every_provider() {
    let (base, _) = start().await;
    type Check = fn(&SttError) -> bool;
    let cases: [(&str, Check); 5] = [
        ("bad-key", |e| matches!(e, SttError::Unauthorized(_))),
        (
            "limited",
            |e| matches!(e, SttError::RateLimited(m) if m.contains("retry after 7")),
        ),
        (
            "broken",
            |e| matches!(e, SttError::Upstream(m) if m.contains("502")),
        ),
        ("rejects-audio", |e| matches!(e, SttError::BadAudio(_))),
        ("slow", |e| matches!(e, SttError::Timeout)),
    ];
    for (key, expected) in cases {
        for engine in engines(&base, key) {
            let err = engine.transcribe(webm_request()).await.unwrap_err();
            assert!(expected(&err), "{} with key {key}: {err:?}", engine.id());
        }
    }
}

#[tokio::test]
async fn keys_never_leak() {
    let (base, _) = start().await;
    let key = "echo-key-secret-1234";
    for engine in engines(&base, key) {
        let err = engine.transcribe(webm_request()).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains(key),
            "{} leaked the key: {text}",
            engine.id()
        );
        assert!(text.contains("[redacted]"), "{text}");
    }
    // Transport errors: Google's key sits in the URL, which reqwest errors normally print.
    for engine in engines("http://127.0.0.1:9", key) {
        let err = engine.transcribe(webm_request()).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            matches!(err, SttError::Upstream(_) | SttError::Timeout),
            "{text}"
        );
        assert!(
            !text.contains(key),
            "{} leaked the key: {text}",
            engine.id()
        );
    }
    let http = reqwest::Client::new();
    let debug = format!(
        "{:?} {:?} {:?}",
        GroqStt::new(key.into(), None, http.clone()),
        DeepgramStt::new(key.into(), None, http.clone()),
        GoogleStt::new(key.into(), None, http)
    );
    assert!(!debug.contains(key), "{debug}");
}

#[test]
fn engine_for_and_provider_info() {
    let http = reqwest::Client::new();
    for id in ["groq", "deepgram", "google", "Google"] {
        let e = engine_for(id, KEY.into(), None, http.clone()).unwrap();
        assert_eq!(e.id(), id.to_lowercase());
    }
    assert!(engine_for("groq", "  ".into(), None, http.clone()).is_none());
    assert!(engine_for("local", KEY.into(), None, http.clone()).is_none());
    assert!(engine_for("acme", KEY.into(), None, http).is_none());

    let info = providers_info();
    let ids: Vec<&str> = info.iter().map(|p| p.id).collect();
    assert_eq!(ids, ["local", "groq", "deepgram", "google"]);
    assert!(info[0].offline && !info[0].requires_key && info[0].word_timestamps);
    assert!(
        info.iter()
            .all(|p| p.languages.contains(&"en") && p.latency_estimate_ms > 0)
    );
    let v = serde_json::to_value(&info[0]).unwrap();
    assert_eq!(v["requiresKey"], false);
    assert!(v["latencyEstimateMs"].is_number());
}
