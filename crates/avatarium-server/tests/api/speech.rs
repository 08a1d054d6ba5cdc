use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::TestServer;

fn shared_data(file: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(file);
    assert!(
        p.exists(),
        "test data missing: {} (../shared/data beside the project)",
        p.display()
    );
    p
}

fn wav_of(data: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(data["audio"].as_str().unwrap())
        .unwrap()
}

#[track_caller]
fn assert_timeline(data: &Value) {
    let duration = data["durationMs"].as_u64().unwrap();
    let cues = data["visemes"].as_array().unwrap();
    assert!(!cues.is_empty());
    let mut last_end = 0;
    for c in cues {
        let (s, e) = (c["start"].as_u64().unwrap(), c["end"].as_u64().unwrap());
        assert!(
            s >= last_end && s < e && e <= duration,
            "{c} in {duration} ms"
        );
        last_end = e;
    }
}

#[tokio::test]
async fn local_tts_returns_audio_with_visemes_and_words() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/tts",
            s.owner(),
            json!({"text": "Bob bought a big map. Then he went home."}),
        )
        .await
        .expect(200);
    let d = r.data();
    assert_eq!(d["provider"], "local");
    assert!(d["voiceId"].as_str().unwrap().starts_with("en"));
    let wav = wav_of(d);
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(d["sampleRate"], 22050);
    let ms = d["durationMs"].as_u64().unwrap();
    assert!((1000..6000).contains(&ms), "{ms}");
    // 16-bit mono: the WAV holds exactly the reported duration.
    assert!(((wav.len() as u64 - 44) / 2 * 1000 / 22050).abs_diff(ms) <= 1);
    assert_timeline(d);
    let names: Vec<&str> = d["visemes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["viseme"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"PP"), "{names:?}");
    assert_eq!(names[0], "sil");
    let words: Vec<&str> = d["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["word"].as_str().unwrap())
        .collect();
    assert!(
        words.iter().any(|w| w.eq_ignore_ascii_case("map")),
        "{words:?}"
    );
    assert!(d["latencyMs"].is_u64());
}

#[tokio::test]
async fn tts_validates_its_input() {
    let s = TestServer::start().await;
    let cases = [
        json!({}),
        json!({"text": "   "}),
        json!({"text": "x".repeat(5001)}),
        json!({"text": "hi", "speed": 3.0}),
        json!({"text": "hi", "voiceId": "xx-nonexistent"}),
        json!({"text": "hi", "provider": "mystery"}),
        json!({"text": "hi", "provider": "elevenlabs"}),
    ];
    for body in cases {
        let r = s.post("/v1/tts", s.owner(), body.clone()).await.expect(400);
        assert_eq!(r.error_code(), "BAD_REQUEST", "{body}");
    }
    s.post("/v1/tts", None, json!({"text": "hi"}))
        .await
        .expect(401);
    let r = s
        .post("/v1/tts/elevenlabs", s.owner(), json!({"text": "hi"}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ELEVENLABS_API_KEY")
    );
}

#[tokio::test]
async fn long_text_streams_sentence_by_sentence() {
    let s = TestServer::start().await;
    let res = s
        .client
        .post(s.url("/v1/tts"))
        .bearer_auth(&s.owner_token)
        .json(&json!({"text": "First sentence here. Second one follows. And a third.", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = res.text().await.unwrap();
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            let mut v: Value = serde_json::from_str(data).unwrap();
            v["event"] = json!(event);
            Some(v)
        })
        .collect();
    let audio: Vec<&Value> = events.iter().filter(|e| e["event"] == "audio").collect();
    assert_eq!(audio.len(), 3, "{text}");
    assert_eq!(audio[1]["offsetMs"], audio[0]["durationMs"]);
    for a in &audio {
        assert_timeline(a);
    }
    assert_eq!(events.last().unwrap()["event"], "done");
}

#[tokio::test]
async fn voices_and_preview() {
    let s = TestServer::start().await;
    let r = s.get("/v1/tts/voices", None).await.expect(200);
    let voices = r.data().as_array().unwrap();
    let local: Vec<&Value> = voices.iter().filter(|v| v["provider"] == "local").collect();
    assert!(
        local
            .iter()
            .any(|v| v["id"] == "en-us" && v["offline"] == true)
    );
    assert!(
        local
            .iter()
            .any(|v| v["language"].as_str().unwrap().starts_with("de"))
    );
    let eleven: Vec<&Value> = voices
        .iter()
        .filter(|v| v["provider"] == "elevenlabs")
        .collect();
    assert!(
        !eleven.is_empty()
            && eleven
                .iter()
                .all(|v| v["offline"] == false && v["configured"] == false)
    );

    let p = s
        .post("/v1/tts/preview", s.owner(), json!({"voiceId": "en-gb"}))
        .await
        .expect(200);
    assert_eq!(p.data()["voiceId"], "en-gb");
    assert_timeline(p.data());
}

async fn transcribe(s: &TestServer, form: reqwest::multipart::Form) -> crate::harness::Res {
    let res = s
        .client
        .post(s.url("/v1/stt/transcribe"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    TestServer::read(res).await
}

fn audio_part(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_string())
}

#[tokio::test]
async fn local_transcription_runs_the_whisper_model() {
    let model = shared_data("for-tests-ggml-tiny.en.bin");
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.whisper_model = Some(model.to_string_lossy().into_owned());
    })
    .await;
    let jfk = std::fs::read(shared_data("jfk.wav")).unwrap();
    let form = reqwest::multipart::Form::new()
        .part("audio", audio_part(jfk, "jfk.wav"))
        .text("includeWords", "true");
    let r = transcribe(&s, form).await.expect(200);
    let d = r.data();
    assert_eq!(d["provider"], "local");
    assert!(d["transcript"].is_string());
    let c = d["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    assert!((d["durationS"].as_f64().unwrap() - 11.0).abs() < 0.5);
    for w in d["words"].as_array().unwrap() {
        assert!(w["start"].as_f64().unwrap() <= w["end"].as_f64().unwrap());
    }
    let providers = s.get("/v1/stt/providers", None).await.expect(200);
    let local = providers
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "local")
        .cloned()
        .unwrap();
    assert_eq!(local["available"], true);
    assert_eq!(local["offline"], true);
}

#[tokio::test]
async fn bad_audio_is_a_4xx_in_the_envelope() {
    let model = shared_data("for-tests-ggml-tiny.en.bin");
    let s =
        TestServer::with_config(|c| c.whisper_model = Some(model.to_string_lossy().into_owned()))
            .await;
    let jfk = std::fs::read(shared_data("jfk.wav")).unwrap();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "empty.wav"),
        (b"definitely not audio at all, just text".to_vec(), "x.wav"),
        (jfk[..60].to_vec(), "truncated.wav"),
        (
            (0..4096).map(|i| (i * 37 % 251) as u8).collect(),
            "noise.mp3",
        ),
    ];
    for (bytes, name) in cases {
        let r = transcribe(
            &s,
            reqwest::multipart::Form::new().part("audio", audio_part(bytes, name)),
        )
        .await;
        assert!(
            r.status.is_client_error(),
            "{name}: {} {}",
            r.status,
            r.body
        );
        r.error_code();
    }
    let r = transcribe(
        &s,
        reqwest::multipart::Form::new().text("provider", "local"),
    )
    .await
    .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audio")
    );
}

#[tokio::test]
async fn without_a_model_local_transcription_names_the_fix() {
    let s = TestServer::start().await;
    let jfk = std::fs::read(shared_data("jfk.wav")).unwrap();
    let r = transcribe(
        &s,
        reqwest::multipart::Form::new().part("audio", audio_part(jfk, "jfk.wav")),
    )
    .await
    .expect(503);
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("avatarium models download"), "{msg}");
    let providers = s.get("/v1/stt/providers", None).await.expect(200);
    let local = providers
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "local")
        .cloned()
        .unwrap();
    assert_eq!(local["available"], false);
}
