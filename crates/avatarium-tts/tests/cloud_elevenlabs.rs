//! ElevenLabs against a loopback fake of `POST /v1/text-to-speech/{voice_id}/with-timestamps`.

mod cloud_fakes;

use avatarium_tts::cloud::elevenlabs::FLASH_MODEL;
use avatarium_tts::cloud::{ElevenLabsTts, VoiceSettings};
use avatarium_tts::{SpeechRequest, TtsEngine};
use axum::response::Response;
use cloud_fakes::*;
use serde_json::{Value, json};

const RATE: u32 = 22_050;

fn engine(fake: &Fake, key: &str) -> ElevenLabsTts {
    ElevenLabsTts::new(key.to_owned(), Some(fake.base.clone()), http())
}

fn say(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.to_owned(),
        ..Default::default()
    }
}

/// Evenly paced characters after a 100 ms lead-in, in ElevenLabs' shape.
fn alignment(text: &str, ms: u32) -> Value {
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let lead = 0.1;
    let step = (f64::from(ms) / 1000.0 - lead - 0.08) / chars.len() as f64;
    let starts: Vec<f64> = (0..chars.len()).map(|i| lead + i as f64 * step).collect();
    let ends: Vec<f64> = starts.iter().map(|s| s + step).collect();
    json!({
        "characters": chars,
        "character_start_times_seconds": starts,
        "character_end_times_seconds": ends,
    })
}

/// ElevenLabs as documented: the key in `xi-api-key`, the voice in the path,
/// the format in `output_format`, base64 PCM and the alignment in the reply.
fn elevenlabs(seen: &Seen) -> Response {
    if seen.header("xi-api-key") != Some(KEY) {
        return json_reply(
            401,
            json!({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}),
        );
    }
    let parts: Vec<&str> = seen.path.split('/').collect();
    let ["", "v1", "text-to-speech", voice, "with-timestamps"] = parts[..] else {
        return json_reply(404, json!({"detail": "Not Found"}));
    };
    if seen.method != "POST" {
        return json_reply(405, json!({"detail": "Method Not Allowed"}));
    }
    if !voice.chars().all(|c| c.is_ascii_alphanumeric()) || voice == "missingvoice" {
        return json_reply(
            404,
            json!({"detail": {"status": "voice_not_found", "message": format!("A voice with voice_id {voice} does not exist.")}}),
        );
    }
    let Some(rate) = seen
        .query("output_format")
        .and_then(|f| f.strip_prefix("pcm_"))
        .and_then(|r| r.parse::<u32>().ok())
    else {
        return json_reply(
            400,
            json!({"detail": {"status": "invalid_output_format", "message": "Only PCM is faked"}}),
        );
    };
    let body = seen.json();
    let Some(text) = body["text"].as_str() else {
        return json_reply(
            422,
            json!({"detail": [{"type": "missing", "loc": ["body", "text"], "msg": "Field required", "input": body}]}),
        );
    };
    let ms = spoken_ms(text);
    let audio = vowel(ms, rate);
    json_reply(
        200,
        json!({
            "audio_base64": b64(&pcm(&audio)),
            "alignment": alignment(text, ms),
            "normalized_alignment": alignment(text, ms),
        }),
    )
}

#[tokio::test]
async fn speaks_with_character_alignment() {
    let fake = Fake::start(elevenlabs).await;
    let text = "Hello there, I am Sarah.";
    let speech = engine(&fake, KEY).synthesize(&say(text)).await.unwrap();

    let seen = fake.only_request();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.path,
        "/v1/text-to-speech/EXAVITQu4vr4xnSDxMaL/with-timestamps"
    );
    assert_eq!(seen.query("output_format"), Some("pcm_22050"));
    assert_eq!(seen.header("xi-api-key"), Some(KEY));
    assert!(seen.header("authorization").is_none());
    assert!(seen.is_json());
    assert_eq!(
        seen.json(),
        json!({"text": text, "model_id": "eleven_multilingual_v2"}),
        "no voice_settings unless asked for"
    );

    check_speech(&speech, "elevenlabs", RATE, spoken_ms(text), "alignment");
    assert_eq!(speech.voice_id, "EXAVITQu4vr4xnSDxMaL");
    // The words are the alignment's, to the millisecond.
    let words: Vec<&str> = speech.words.iter().map(|w| w.word.as_str()).collect();
    assert_eq!(words.len(), 5, "{:?}", speech.words);
    assert!(
        words[0].starts_with("Hello") && words[4].starts_with("Sarah"),
        "{words:?}"
    );
    assert_eq!(speech.words[0].start, 100, "{:?}", speech.words);
    let first = speech
        .visemes
        .cues
        .iter()
        .find(|c| c.viseme.name() != "sil");
    assert!(
        first.is_some_and(|c| c.start >= 90),
        "the mouth opens before the alignment's first character at 100 ms: {:?}",
        speech.visemes.cues
    );
}

#[tokio::test]
async fn voice_settings_and_speed_pass_through() {
    let fake = Fake::start(elevenlabs).await;
    // What the server holds per avatar (003's voice_settings).
    let stored = json!({"stability": 0.3, "similarity_boost": 0.8, "unknown_field": true});
    let settings: VoiceSettings = serde_json::from_value(stored).unwrap();
    let engine = engine(&fake, KEY)
        .with_voice_settings(settings)
        .with_model(FLASH_MODEL);
    let req = SpeechRequest {
        text: "Faster, please.".into(),
        voice: Some("JBFqnCBsd6RMkjVDRZzb".into()),
        speed: Some(1.1),
        pitch: None,
    };
    let speech = engine.synthesize(&req).await.unwrap();
    let body = fake.only_request().json();
    assert_eq!(body["model_id"], "eleven_flash_v2_5");
    assert_eq!(
        body["voice_settings"],
        json!({"stability": 0.3, "similarity_boost": 0.8, "speed": 1.1})
    );
    assert_eq!(speech.voice_id, "JBFqnCBsd6RMkjVDRZzb");
    assert_eq!(
        fake.only_request().path,
        "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/with-timestamps"
    );

    // Out of ElevenLabs' 0.7–1.2 range: clamped rather than refused.
    let fake = Fake::start(elevenlabs).await;
    let req = SpeechRequest {
        speed: Some(2.0),
        ..say("Very fast.")
    };
    ElevenLabsTts::new(KEY.into(), Some(fake.base.clone()), http())
        .synthesize(&req)
        .await
        .unwrap();
    assert_eq!(
        fake.only_request().json()["voice_settings"],
        json!({"speed": 1.2})
    );
}

#[tokio::test]
async fn without_alignment_the_text_is_fitted() {
    let fake = Fake::start(|seen: &Seen| {
        let text = seen.json()["text"].as_str().unwrap_or_default().to_owned();
        let audio = vowel(spoken_ms(&text), RATE);
        json_reply(
            200,
            json!({"audio_base64": b64(&pcm(&audio)), "alignment": null}),
        )
    })
    .await;
    let speech = engine(&fake, KEY)
        .synthesize(&say("No timing today."))
        .await
        .unwrap();
    check_speech(
        &speech,
        "elevenlabs",
        RATE,
        spoken_ms("No timing today."),
        "g2p",
    );
}

#[tokio::test]
async fn errors_are_mapped_and_keys_stay_out() {
    // A wrong key: ElevenLabs' own 401.
    let fake = Fake::start(elevenlabs).await;
    let engine_with_wrong_key = engine(&fake, WRONG_KEY);
    assert_no_key(&format!("{engine_with_wrong_key:?}"));
    let e = engine_with_wrong_key
        .synthesize(&say("Hi."))
        .await
        .unwrap_err();
    check_error(&e, "Unauthorized", "Invalid API key");

    let e = engine(&fake, KEY)
        .synthesize(&SpeechRequest {
            voice: Some("missingvoice".into()),
            ..say("Hi.")
        })
        .await
        .unwrap_err();
    check_error(&e, "UnknownVoice", "missingvoice");

    // A voice id that would change the URL never leaves the engine.
    let e = engine(&fake, KEY)
        .synthesize(&SpeechRequest {
            voice: Some("../../v1/user".into()),
            ..say("Hi.")
        })
        .await
        .unwrap_err();
    check_error(&e, "UnknownVoice", "../../v1/user");
    assert_eq!(fake.requests().len(), 2);

    let cases = [
        (
            401,
            json!({"detail": {"status": "quota_exceeded", "message": "This request exceeds your quota of 10000."}}),
            "RateLimited",
            "exceeds your quota",
        ),
        (
            429,
            json!({"detail": {"status": "too_many_concurrent_requests", "message": "Too many concurrent requests."}}),
            "RateLimited",
            "Too many concurrent requests",
        ),
        (
            422,
            json!({"detail": [{"type": "string_too_long", "loc": ["body", "text"], "msg": "String should have at most 10000 characters"}]}),
            "BadRequest",
            "text: String should have at most 10000 characters",
        ),
        (
            400,
            json!({"detail": {"status": "invalid_api_key", "message": format!("Key {KEY} is malformed")}}),
            "BadRequest",
            "is malformed",
        ),
        (
            500,
            json!({"detail": "Internal Server Error"}),
            "Upstream",
            "HTTP 500",
        ),
        (503, json!(null), "Upstream", "HTTP 503"),
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
    let replies = [
        json!({"audio_base64": "this is *not* base64!", "alignment": null}),
        json!({"audio_base64": "", "alignment": null}),
        json!({"audio": "wrong shape"}),
    ];
    for reply in replies {
        let fake = Fake::start(move |_: &Seen| json_reply(200, reply.clone())).await;
        let e = engine(&fake, KEY)
            .synthesize(&say("Hi."))
            .await
            .unwrap_err();
        check_error(&e, "BadAudio", "ElevenLabs");
    }
    let fake = Fake::start(|_: &Seen| audio_reply("audio/mpeg", b"ID3\x04garbage".to_vec())).await;
    let e = engine(&fake, KEY)
        .synthesize(&say("Hi."))
        .await
        .unwrap_err();
    check_error(&e, "BadAudio", "ElevenLabs");
}

#[tokio::test]
async fn empty_text_costs_no_request() {
    let fake = Fake::start(elevenlabs).await;
    let e = engine(&fake, KEY)
        .synthesize(&say("  \n "))
        .await
        .unwrap_err();
    check_error(&e, "BadRequest", "no text");
    assert!(fake.requests().is_empty());
}
