//! OpenAI against a loopback fake of `POST /v1/audio/speech`.

mod cloud_fakes;

use avatarium_tts::cloud::OpenAiTts;
use avatarium_tts::{SpeechRequest, TtsEngine};
use axum::response::Response;
use cloud_fakes::*;
use serde_json::json;

const RATE: u32 = 24_000;

fn engine(fake: &Fake, key: &str) -> OpenAiTts {
    // OpenAI's base URL includes the version, and so does the fake's path.
    OpenAiTts::new(key.to_owned(), Some(format!("{}/v1/", fake.base)), http())
}

fn say(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.to_owned(),
        ..Default::default()
    }
}

/// OpenAI as documented: Bearer auth, a JSON body, the audio as the reply,
/// streamed, so the WAV header carries no real lengths.
fn openai(seen: &Seen) -> Response {
    let error = |status, message: String, kind: &str, code: Option<&str>| {
        json_reply(
            status,
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}}),
        )
    };
    let sent = seen
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    if sent != KEY {
        return error(
            401,
            format!(
                "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
                masked(sent)
            ),
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    if seen.method != "POST" || seen.path != "/v1/audio/speech" {
        return error(
            404,
            format!("Invalid URL ({} {})", seen.method, seen.path),
            "invalid_request_error",
            None,
        );
    }
    let body = seen.json();
    let Some(input) = body["input"].as_str() else {
        return error(
            400,
            "Missing required parameter: 'input'.".into(),
            "invalid_request_error",
            None,
        );
    };
    if body["response_format"] != "wav" {
        return error(
            400,
            "only wav is faked".into(),
            "invalid_request_error",
            None,
        );
    }
    audio_reply(
        "audio/wav",
        streamed_wav(&vowel(spoken_ms(input), RATE), RATE),
    )
}

#[tokio::test]
async fn speaks_with_the_documented_request() {
    let fake = Fake::start(openai).await;
    let req = SpeechRequest {
        text: "The quick brown fox jumps over the lazy dog.".into(),
        voice: Some("nova".into()),
        speed: Some(1.25),
        pitch: Some(1.5),
    };
    let speech = engine(&fake, KEY).synthesize(&req).await.unwrap();

    let seen = fake.only_request();
    assert_eq!(seen.path, "/v1/audio/speech");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(seen.is_json());
    assert_eq!(
        seen.json(),
        json!({
            "model": "gpt-4o-mini-tts",
            "input": req.text,
            "voice": "nova",
            "response_format": "wav",
            "speed": 1.25,
        }),
        "OpenAI has no pitch control, so none is sent"
    );
    check_speech(&speech, "openai", RATE, spoken_ms(&req.text), "g2p");
    assert_eq!(speech.voice_id, "nova");
}

#[tokio::test]
async fn defaults_and_model_choice() {
    let fake = Fake::start(openai).await;
    let engine = engine(&fake, KEY);
    assert_eq!(engine.default_voice(), "alloy");
    engine.synthesize(&say("  Hello.  ")).await.unwrap();
    assert_eq!(
        fake.only_request().json(),
        json!({"model": "gpt-4o-mini-tts", "input": "Hello.", "voice": "alloy", "response_format": "wav"})
    );

    let fake = Fake::start(openai).await;
    OpenAiTts::new(KEY.into(), Some(format!("{}/v1", fake.base)), http())
        .with_model("tts-1")
        .synthesize(&say("Hi."))
        .await
        .unwrap();
    assert_eq!(fake.only_request().json()["model"], "tts-1");
}

#[tokio::test]
async fn errors_are_mapped_and_keys_stay_out() {
    let fake = Fake::start(openai).await;
    let wrong = engine(&fake, WRONG_KEY);
    assert_no_key(&format!("{wrong:?}"));
    let e = wrong.synthesize(&say("Hi.")).await.unwrap_err();
    check_error(&e, "Unauthorized", "Incorrect API key provided");

    let cases = [
        (
            429,
            json!({"error": {"message": "Rate limit reached for gpt-4o-mini-tts in organization org-x on requests per min (RPM): Limit 3, Used 3.", "type": "requests", "code": "rate_limit_exceeded"}}),
            "RateLimited",
            "Rate limit reached",
        ),
        (
            429,
            json!({"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "code": "insufficient_quota"}}),
            "RateLimited",
            "exceeded your current quota",
        ),
        (
            400,
            json!({"error": {"message": "[{'type': 'enum', 'loc': ('body', 'voice'), 'msg': \"Input should be 'alloy', 'ash'…\"}]", "type": "invalid_request_error"}}),
            "BadRequest",
            "Input should be 'alloy'",
        ),
        (
            403,
            json!({"error": {"message": "Country, region, or territory not supported", "type": "request_forbidden", "code": "unsupported_country_region_territory"}}),
            "Unauthorized",
            "not supported",
        ),
        (
            500,
            json!({"error": {"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error"}}),
            "Upstream",
            "The server had an error",
        ),
        (502, json!(null), "Upstream", "HTTP 502"),
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
    let bodies: [Vec<u8>; 3] = [
        b"ID3\x04\x00\x00\x00\x00\x00\x00mp3 bytes, not wav".to_vec(),
        Vec::new(),
        wav(&[], RATE),
    ];
    for body in bodies {
        let fake = Fake::start(move |_: &Seen| audio_reply("audio/wav", body.clone())).await;
        let e = engine(&fake, KEY)
            .synthesize(&say("Hi."))
            .await
            .unwrap_err();
        check_error(&e, "BadAudio", "OpenAI");
    }
}
