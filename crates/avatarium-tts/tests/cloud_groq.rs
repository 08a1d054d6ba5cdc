//! Groq (Orpheus) against a loopback fake of its OpenAI-compatible
//! `POST /openai/v1/audio/speech`.

mod cloud_fakes;

use avatarium_tts::cloud::GroqTts;
use avatarium_tts::{SpeechRequest, TtsEngine};
use axum::response::Response;
use cloud_fakes::*;
use serde_json::json;

/// Orpheus on Groq answers at 48 kHz.
const RATE: u32 = 48_000;
const ENGLISH: &str = "canopylabs/orpheus-v1-english";
const ARABIC: &str = "canopylabs/orpheus-arabic-saudi";

fn engine(fake: &Fake, key: &str) -> GroqTts {
    GroqTts::new(
        key.to_owned(),
        Some(format!("{}/openai/v1", fake.base)),
        http(),
    )
}

fn say(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.to_owned(),
        ..Default::default()
    }
}

/// Groq as documented: Bearer auth, OpenAI's request, the voice checked
/// against the model, and a 200-character cap on the input.
fn groq(seen: &Seen) -> Response {
    let error = |status, message: &str, code: &str| {
        json_reply(
            status,
            json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
        )
    };
    if seen.header("authorization") != Some(format!("Bearer {KEY}").as_str()) {
        return error(401, "Invalid API Key", "invalid_api_key");
    }
    if seen.method != "POST" || seen.path != "/openai/v1/audio/speech" {
        return error(404, "Unknown request URL", "unknown_url");
    }
    let body = seen.json();
    let (Some(model), Some(input), Some(voice)) = (
        body["model"].as_str(),
        body["input"].as_str(),
        body["voice"].as_str(),
    ) else {
        return error(
            400,
            "'model', 'input' and 'voice' are required",
            "invalid_request",
        );
    };
    if input.chars().count() > 200 {
        return error(
            400,
            "'input' : length must be at most 200 characters",
            "invalid_request",
        );
    }
    let english = ["autumn", "diana", "hannah", "austin", "daniel", "troy"];
    let arabic = ["abdullah", "fahad", "sultan", "lulwa", "noura", "aisha"];
    let known = match model {
        ENGLISH => english.contains(&voice),
        ARABIC => arabic.contains(&voice),
        _ => {
            return error(
                404,
                &format!("The model `{model}` does not exist"),
                "model_not_found",
            );
        }
    };
    if !known {
        return error(
            400,
            &format!("voice '{voice}' is not available for {model}"),
            "invalid_request",
        );
    }
    if body["response_format"] != "wav" {
        return error(400, "only wav is faked", "invalid_request");
    }
    audio_reply("audio/wav", wav(&vowel(spoken_ms(input), RATE), RATE))
}

#[tokio::test]
async fn speaks_with_the_documented_request() {
    let fake = Fake::start(groq).await;
    let engine = engine(&fake, KEY);
    assert_eq!(engine.default_voice(), "autumn");
    let text = "Hi! I'm your avatar, speaking through Groq.";
    let speech = engine.synthesize(&say(text)).await.unwrap();

    let seen = fake.only_request();
    assert_eq!(seen.path, "/openai/v1/audio/speech");
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert!(seen.is_json());
    assert_eq!(
        seen.json(),
        json!({"model": ENGLISH, "input": text, "voice": "autumn", "response_format": "wav"})
    );
    check_speech(&speech, "groq", RATE, spoken_ms(text), "g2p");
    assert_eq!(speech.voice_id, "autumn");
}

#[tokio::test]
async fn voices_pick_their_model_and_speed_is_sent() {
    let fake = Fake::start(groq).await;
    let req = SpeechRequest {
        text: "مرحبا بك".into(),
        voice: Some("fahad".into()),
        speed: Some(1.5),
        pitch: None,
    };
    let speech = engine(&fake, KEY).synthesize(&req).await.unwrap();
    let body = fake.only_request().json();
    assert_eq!(body["model"], ARABIC);
    assert_eq!(body["voice"], "fahad");
    assert_eq!(body["speed"], 1.5);
    assert_eq!(
        speech.samples.len(),
        samples_for(spoken_ms("مرحبا بك"), RATE)
    );

    let fake = Fake::start(groq).await;
    engine(&fake, KEY)
        .with_model(ENGLISH)
        .synthesize(&SpeechRequest {
            voice: Some("troy".into()),
            ..say("Fixed model.")
        })
        .await
        .unwrap();
    assert_eq!(fake.only_request().json()["model"], ENGLISH);
}

#[tokio::test]
async fn long_text_goes_in_pieces_within_the_cap() {
    let fake = Fake::start(groq).await;
    let sentences = [
        "Welcome to the studio, where every avatar gets a voice of its own.",
        "Pick a face, pick a voice, and write what it should say; the mouth will follow each sound.",
        "Long answers are split between sentences, so nothing is cut off mid-word.",
        "That is all for now.",
    ];
    let text = sentences.join(" ");
    assert!(text.chars().count() > 200);
    let speech = engine(&fake, KEY).synthesize(&say(&text)).await.unwrap();

    let inputs: Vec<String> = fake
        .requests()
        .iter()
        .map(|s| s.json()["input"].as_str().unwrap().to_owned())
        .collect();
    assert!(inputs.len() >= 2, "{inputs:?}");
    assert!(
        inputs.iter().all(|i| i.chars().count() <= 200),
        "{inputs:?}"
    );
    assert!(
        inputs.iter().all(|i| i.ends_with('.')),
        "pieces end at sentence ends: {inputs:?}"
    );
    assert_eq!(inputs.join(" "), text);
    let total: usize = inputs.iter().map(|i| samples_for(spoken_ms(i), RATE)).sum();
    assert_eq!(speech.samples.len(), total);
    assert_eq!(speech.sample_rate, RATE);
    let ms = speech.duration_ms();
    check_speech(&speech, "groq", RATE, ms, "g2p");
}

#[tokio::test]
async fn errors_are_mapped_and_keys_stay_out() {
    let fake = Fake::start(groq).await;
    let wrong = engine(&fake, WRONG_KEY);
    assert_no_key(&format!("{wrong:?}"));
    let e = wrong.synthesize(&say("Hi.")).await.unwrap_err();
    check_error(&e, "Unauthorized", "Invalid API Key");

    let e = engine(&fake, KEY)
        .synthesize(&SpeechRequest {
            voice: Some("alloy".into()),
            ..say("Hi.")
        })
        .await
        .unwrap_err();
    check_error(&e, "BadRequest", "voice 'alloy' is not available");

    let cases = [
        (
            429,
            json!({"error": {"message": "Rate limit reached for model `canopylabs/orpheus-v1-english` on tokens per minute (TPM): Limit 1200, Used 1200. Please try again in 20s.", "type": "tokens", "code": "rate_limit_exceeded"}}),
            "RateLimited",
            "Please try again in 20s",
        ),
        (
            400,
            json!({"error": {"message": "The model `canopylabs/orpheus-v1-english` requires terms acceptance. Please have the org admin accept the terms at https://console.groq.com/playground?model=canopylabs%2Forpheus-v1-english", "type": "invalid_request_error", "code": "model_terms_required"}}),
            "BadRequest",
            "requires terms acceptance",
        ),
        (
            500,
            json!({"error": {"message": "Internal Server Error", "type": "internal_server_error"}}),
            "Upstream",
            "Internal Server Error",
        ),
        (
            503,
            json!({"error": {"message": "Service Unavailable", "type": "internal_server_error"}}),
            "Upstream",
            "HTTP 503",
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
    let fake =
        Fake::start(|_: &Seen| audio_reply("audio/wav", b"RIFF\x00\x00\x00\x00WAVEjunk".to_vec()))
            .await;
    let e = engine(&fake, KEY)
        .synthesize(&say("Hi."))
        .await
        .unwrap_err();
    check_error(&e, "BadAudio", "Groq");

    // Parts of one reply that disagree on the rate cannot be joined.
    let fake = Fake::start(|seen: &Seen| {
        let input = seen.json()["input"].as_str().unwrap_or_default().to_owned();
        let rate = if input.starts_with("First") {
            48_000
        } else {
            24_000
        };
        audio_reply("audio/wav", wav(&vowel(spoken_ms(&input), rate), rate))
    })
    .await;
    let text = format!("First {}. Second sentence.", "word ".repeat(40).trim());
    let e = engine(&fake, KEY)
        .synthesize(&say(&text))
        .await
        .unwrap_err();
    check_error(&e, "BadAudio", "sample rate");
}
