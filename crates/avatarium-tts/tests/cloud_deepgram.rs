//! Deepgram Aura against a loopback fake of `POST /v1/speak`.

mod cloud_fakes;

use avatarium_tts::cloud::DeepgramTts;
use avatarium_tts::{SpeechRequest, TtsEngine};
use axum::response::Response;
use cloud_fakes::*;
use serde_json::json;

fn engine(fake: &Fake, key: &str) -> DeepgramTts {
    DeepgramTts::new(key.to_owned(), Some(fake.base.clone()), http())
}

fn say(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.to_owned(),
        ..Default::default()
    }
}

/// Deepgram as documented: `Authorization: Token …`, the voice as the
/// `model` query parameter, `{"text"}` as the body, WAV at the asked rate.
fn deepgram(seen: &Seen) -> Response {
    if seen.header("authorization") != Some(format!("Token {KEY}").as_str()) {
        return json_reply(
            401,
            json!({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "7b1e0c2a"}),
        );
    }
    if seen.method != "POST" || seen.path != "/v1/speak" {
        return json_reply(
            404,
            json!({"err_code": "NOT_FOUND", "err_msg": "Not found", "request_id": "1"}),
        );
    }
    let model = seen.query("model").unwrap_or("aura-asteria-en");
    if !model.starts_with("aura-") {
        return json_reply(
            400,
            json!({"err_code": "INVALID_QUERY_PARAMETER", "err_msg": "No such model/version/tier combination found.", "request_id": "2"}),
        );
    }
    if seen.query("encoding") != Some("linear16") || seen.query("container") != Some("wav") {
        return json_reply(
            400,
            json!({"err_code": "Bad Request", "err_msg": "only linear16 WAV is faked", "request_id": "3"}),
        );
    }
    let rate: u32 = seen
        .query("sample_rate")
        .and_then(|r| r.parse().ok())
        .unwrap_or(24_000);
    let body = seen.json();
    let Some(text) = body["text"].as_str() else {
        return json_reply(
            400,
            json!({"category": "INVALID_JSON", "message": "Invalid JSON submitted.", "details": "Json deserialize error: missing field `text` at line 1 column 2", "request_id": "4"}),
        );
    };
    audio_reply("audio/wav", wav(&vowel(spoken_ms(text), rate), rate))
}

#[tokio::test]
async fn speaks_with_the_documented_request() {
    let fake = Fake::start(deepgram).await;
    let engine = engine(&fake, KEY);
    assert_eq!(engine.default_voice(), "aura-2-thalia-en");
    let text = "Good morning! How can I help you today?";
    let speech = engine.synthesize(&say(text)).await.unwrap();

    let seen = fake.only_request();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/speak");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Token {KEY}").as_str())
    );
    assert_eq!(seen.query("model"), Some("aura-2-thalia-en"));
    assert_eq!(seen.query("encoding"), Some("linear16"));
    assert_eq!(seen.query("sample_rate"), Some("24000"));
    assert_eq!(seen.query("container"), Some("wav"));
    assert_eq!(seen.query("speed"), None);
    assert!(seen.is_json());
    assert_eq!(seen.json(), json!({"text": text}));
    check_speech(&speech, "deepgram", 24_000, spoken_ms(text), "g2p");
    assert_eq!(speech.voice_id, "aura-2-thalia-en");
}

#[tokio::test]
async fn speed_goes_to_aura_2_only() {
    let fake = Fake::start(deepgram).await;
    let req = SpeechRequest {
        text: "Slowly now.".into(),
        voice: Some("aura-2-orion-en".into()),
        speed: Some(0.5),
        pitch: None,
    };
    engine(&fake, KEY).synthesize(&req).await.unwrap();
    let seen = fake.only_request();
    assert_eq!(seen.query("model"), Some("aura-2-orion-en"));
    assert_eq!(
        seen.query("speed"),
        Some("0.7"),
        "clamped to Aura-2's 0.7–1.5"
    );

    // Aura-1 voices have no speed control; sending one would be refused.
    let fake = Fake::start(deepgram).await;
    let req = SpeechRequest {
        voice: Some("aura-asteria-en".into()),
        ..req
    };
    engine(&fake, KEY).synthesize(&req).await.unwrap();
    assert_eq!(fake.only_request().query("speed"), None);
}

#[tokio::test]
async fn errors_are_mapped_and_keys_stay_out() {
    let fake = Fake::start(deepgram).await;
    let wrong = engine(&fake, WRONG_KEY);
    assert_no_key(&format!("{wrong:?}"));
    let e = wrong.synthesize(&say("Hi.")).await.unwrap_err();
    check_error(&e, "Unauthorized", "Invalid credentials.");

    let e = engine(&fake, KEY)
        .synthesize(&SpeechRequest {
            voice: Some("nova-3".into()),
            ..say("Hi.")
        })
        .await
        .unwrap_err();
    check_error(
        &e,
        "BadRequest",
        "No such model/version/tier combination found.",
    );

    let cases = [
        (
            429,
            json!({"err_code": "TOO_MANY_REQUESTS", "err_msg": "Too many requests. Please try again later", "request_id": "5"}),
            "RateLimited",
            "Too many requests",
        ),
        (
            400,
            json!({"category": "INVALID_JSON", "message": "Invalid JSON submitted.", "details": "Json deserialize error: expected `:` at line 3 column 13", "request_id": "6"}),
            "BadRequest",
            "Invalid JSON submitted. Json deserialize error",
        ),
        (
            403,
            json!({"err_code": "FORBIDDEN", "err_msg": format!("Insufficient permissions for key {KEY}."), "request_id": "7"}),
            "Unauthorized",
            "Insufficient permissions",
        ),
        (
            500,
            json!({"err_code": "INTERNAL_SERVER_ERROR", "err_msg": "We encountered an internal error.", "request_id": "8"}),
            "Upstream",
            "internal error",
        ),
    ];
    for (status, body, kind, says) in cases {
        let fake = Fake::start(move |_: &Seen| json_reply(status, body.clone())).await;
        let e = engine(&fake, KEY)
            .synthesize(&say("Hi."))
            .await
            .unwrap_err();
        check_error(&e, kind, says);
    }
}

#[tokio::test]
async fn unreadable_audio_is_bad_audio() {
    let bodies = [b"OggS\x00\x02not wav".to_vec(), b"{\"ok\":true}".to_vec()];
    for body in bodies {
        let fake = Fake::start(move |_: &Seen| audio_reply("audio/wav", body.clone())).await;
        let e = engine(&fake, KEY)
            .synthesize(&say("Hi."))
            .await
            .unwrap_err();
        check_error(&e, "BadAudio", "Deepgram");
    }
}
