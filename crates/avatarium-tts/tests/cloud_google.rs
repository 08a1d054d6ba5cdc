//! Google Cloud Text-to-Speech against a loopback fake of
//! `POST /v1/text:synthesize`.

mod cloud_fakes;

use avatarium_tts::cloud::GoogleTts;
use avatarium_tts::{SpeechRequest, TtsEngine};
use axum::response::Response;
use cloud_fakes::*;
use serde_json::{Value, json};

fn engine(fake: &Fake, key: &str) -> GoogleTts {
    GoogleTts::new(key.to_owned(), Some(fake.base.clone()), http())
}

fn say(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.to_owned(),
        ..Default::default()
    }
}

fn google_error(code: u16, status: &str, message: &str, reason: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message, "status": status});
    if let Some(reason) = reason {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "texttospeech.googleapis.com"},
        }]);
    }
    json_reply(code, json!({ "error": error }))
}

/// Google as documented: the key in `X-Goog-Api-Key` (or `?key=`), a JSON
/// body of input, voice and audioConfig, and the audio as base64 in
/// `audioContent`; LINEAR16 comes with a WAV header.
fn google(seen: &Seen) -> Response {
    let key = seen.header("x-goog-api-key").or(seen.query("key"));
    if key != Some(KEY) {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            Some("API_KEY_INVALID"),
        );
    }
    if seen.method != "POST" || seen.path != "/v1/text:synthesize" {
        return google_error(404, "NOT_FOUND", "Not found", None);
    }
    let body = seen.json();
    let (Some(text), Some(name), Some(language)) = (
        body.pointer("/input/text").and_then(Value::as_str),
        body.pointer("/voice/name").and_then(Value::as_str),
        body.pointer("/voice/languageCode").and_then(Value::as_str),
    ) else {
        return google_error(400, "INVALID_ARGUMENT", "Invalid request", None);
    };
    if !name.starts_with(language) {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            &format!(
                "Requested language code '{language}' doesn't match the voice '{name}''s language code"
            ),
            None,
        );
    }
    if !name.contains("Neural2") {
        return google_error(
            400,
            "INVALID_ARGUMENT",
            &format!("Voice '{name}' does not exist."),
            None,
        );
    }
    if body.pointer("/audioConfig/audioEncoding") != Some(&json!("LINEAR16")) {
        return google_error(400, "INVALID_ARGUMENT", "only LINEAR16 is faked", None);
    }
    let rate = body
        .pointer("/audioConfig/sampleRateHertz")
        .and_then(Value::as_u64)
        .unwrap_or(24_000) as u32;
    let audio = wav(&vowel(spoken_ms(text), rate), rate);
    json_reply(200, json!({"audioContent": b64(&audio)}))
}

#[tokio::test]
async fn speaks_with_the_documented_request() {
    let fake = Fake::start(google).await;
    let engine = engine(&fake, KEY);
    assert_eq!(engine.default_voice(), "en-US-Neural2-F");
    let req = SpeechRequest {
        text: "Welcome back to the studio.".into(),
        voice: None,
        speed: Some(1.2),
        pitch: Some(0.5),
    };
    let speech = engine.synthesize(&req).await.unwrap();

    let seen = fake.only_request();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/text:synthesize");
    assert_eq!(seen.header("x-goog-api-key"), Some(KEY));
    assert!(
        seen.query.is_empty(),
        "the key stays out of the URL: {:?}",
        seen.query
    );
    assert!(seen.is_json());
    let body = seen.json();
    assert_eq!(body["input"], json!({"text": req.text}));
    assert_eq!(
        body["voice"],
        json!({"languageCode": "en-US", "name": "en-US-Neural2-F"})
    );
    assert_eq!(body["audioConfig"]["audioEncoding"], "LINEAR16");
    assert_eq!(body["audioConfig"]["sampleRateHertz"], 24_000);
    let rate = body["audioConfig"]["speakingRate"].as_f64().unwrap();
    assert!((rate - 1.2).abs() < 1e-6, "{rate}");
    let pitch = body["audioConfig"]["pitch"].as_f64().unwrap();
    assert!(
        (pitch + 12.0).abs() < 1e-6,
        "half the frequency is an octave down: {pitch}"
    );

    check_speech(&speech, "google", 24_000, spoken_ms(&req.text), "g2p");
    assert_eq!(speech.voice_id, "en-US-Neural2-F");
}

#[tokio::test]
async fn the_voice_names_its_language() {
    let fake = Fake::start(google).await;
    let req = SpeechRequest {
        voice: Some("de-DE-Neural2-B".into()),
        ..say("Guten Morgen.")
    };
    let speech = engine(&fake, KEY).synthesize(&req).await.unwrap();
    let body = fake.only_request().json();
    assert_eq!(
        body["voice"],
        json!({"languageCode": "de-DE", "name": "de-DE-Neural2-B"})
    );
    assert_eq!(
        body["audioConfig"],
        json!({"audioEncoding": "LINEAR16", "sampleRateHertz": 24_000}),
        "no rate or pitch unless asked for"
    );
    assert_eq!(speech.voice_id, "de-DE-Neural2-B");
    assert_eq!(
        speech.samples.len(),
        samples_for(spoken_ms("Guten Morgen."), 24_000)
    );
}

#[tokio::test]
async fn errors_are_mapped_and_keys_stay_out() {
    let fake = Fake::start(google).await;
    let wrong = engine(&fake, WRONG_KEY);
    assert_no_key(&format!("{wrong:?}"));
    // Google answers a wrong key with a 400; it is still the key's fault.
    let e = wrong.synthesize(&say("Hi.")).await.unwrap_err();
    check_error(&e, "Unauthorized", "API key not valid");

    let e = engine(&fake, KEY)
        .synthesize(&SpeechRequest {
            voice: Some("en-US-Nonexistent-Z".into()),
            ..say("Hi.")
        })
        .await
        .unwrap_err();
    check_error(
        &e,
        "BadRequest",
        "Voice 'en-US-Nonexistent-Z' does not exist.",
    );

    let cases = [
        (
            403,
            "PERMISSION_DENIED",
            "Cloud Text-to-Speech API has not been used in project 123 before or it is disabled.",
            "Unauthorized",
            "has not been used in project",
        ),
        (
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute'.",
            "RateLimited",
            "Quota exceeded",
        ),
        (
            500,
            "INTERNAL",
            "Internal error encountered.",
            "Upstream",
            "Internal error encountered.",
        ),
        (
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            "Upstream",
            "currently unavailable",
        ),
    ];
    for (code, status, message, kind, says) in cases {
        let fake = Fake::start(move |_: &Seen| google_error(code, status, message, None)).await;
        let e = engine(&fake, KEY)
            .synthesize(&say("Hi."))
            .await
            .unwrap_err();
        check_error(&e, kind, says);
    }
}

#[tokio::test]
async fn unreadable_audio_is_bad_audio() {
    let replies = [
        json!({"audioContent": "%%% not base64 %%%"}),
        json!({"audioContent": b64(b"definitely not a wav file")}),
        json!({"audioContent": ""}),
        json!({"somethingElse": 1}),
    ];
    for reply in replies {
        let fake = Fake::start(move |_: &Seen| json_reply(200, reply.clone())).await;
        let e = engine(&fake, KEY)
            .synthesize(&say("Hi."))
            .await
            .unwrap_err();
        check_error(&e, "BadAudio", "Google");
    }
}
