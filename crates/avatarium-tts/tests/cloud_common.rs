//! What every cloud engine shares: the registry, static voice lists,
//! timeouts, unreachable hosts, and keys kept out of Debug output.

mod cloud_fakes;

use std::time::{Duration, Instant};

use avatarium_tts::cloud::{
    CLOUD_PROVIDERS, DeepgramTts, ElevenLabsTts, GoogleTts, GroqTts, OpenAiTts, engine_for,
    static_voices,
};
use avatarium_tts::{SpeechRequest, TtsEngine};
use cloud_fakes::*;

fn say(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_provider_has_an_engine_and_a_voice_list() {
    assert_eq!(
        CLOUD_PROVIDERS,
        ["elevenlabs", "groq", "deepgram", "openai", "google"]
    );
    for &provider in CLOUD_PROVIDERS {
        let engine = engine_for(provider, KEY.into(), None, http()).unwrap();
        assert_eq!(engine.id(), provider);

        let voices = static_voices(provider);
        assert!(voices.len() >= 5, "{provider}: {voices:?}");
        assert_eq!(engine.voices().await, voices);
        assert!(
            voices.iter().any(|v| v.id == engine.default_voice()),
            "{provider}'s default voice is listed"
        );
        for voice in &voices {
            assert_eq!(voice.provider, provider);
            assert!(!voice.offline);
            assert!(!voice.id.is_empty() && !voice.name.is_empty() && !voice.language.is_empty());
        }
        let mut ids: Vec<&str> = voices.iter().map(|v| v.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), voices.len(), "{provider} lists a voice twice");
    }
    assert!(engine_for("local", KEY.into(), None, http()).is_none());
    assert!(engine_for("azure", KEY.into(), None, http()).is_none());
    assert!(static_voices("azure").is_empty());
}

#[test]
fn debug_output_hides_the_key() {
    let base = Some("http://127.0.0.1:9".to_owned());
    let shown = [
        format!("{:?}", ElevenLabsTts::new(KEY.into(), base.clone(), http())),
        format!("{:?}", GroqTts::new(KEY.into(), base.clone(), http())),
        format!("{:?}", DeepgramTts::new(KEY.into(), base.clone(), http())),
        format!("{:?}", OpenAiTts::new(KEY.into(), base.clone(), http())),
        format!("{:?}", GoogleTts::new(KEY.into(), base, http())),
    ];
    for text in shown {
        assert_no_key(&text);
        assert!(text.contains("<redacted>"), "{text}");
        assert!(
            text.contains("127.0.0.1:9"),
            "the base URL is worth showing: {text}"
        );
    }
}

#[tokio::test]
async fn a_stuck_provider_times_out() {
    // Answers only after the engines have given up.
    let fake = Fake::start_slow(Duration::from_secs(5), |_: &Seen| {
        json_reply(200, serde_json::json!({}))
    })
    .await;
    let base = Some(fake.base.clone());
    let limit = Duration::from_millis(300);
    let engines: Vec<Box<dyn TtsEngine>> = vec![
        Box::new(ElevenLabsTts::new(KEY.into(), base.clone(), http()).with_timeout(limit)),
        Box::new(GroqTts::new(KEY.into(), base.clone(), http()).with_timeout(limit)),
        Box::new(DeepgramTts::new(KEY.into(), base.clone(), http()).with_timeout(limit)),
        Box::new(OpenAiTts::new(KEY.into(), base.clone(), http()).with_timeout(limit)),
        Box::new(GoogleTts::new(KEY.into(), base, http()).with_timeout(limit)),
    ];
    for engine in engines {
        let started = Instant::now();
        let e = engine.synthesize(&say("Hello?")).await.unwrap_err();
        assert!(
            matches!(e, avatarium_tts::TtsError::Timeout),
            "{}: {e:?}",
            engine.id()
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{}",
            engine.id()
        );
    }
    assert_eq!(fake.requests().len(), 5);
}

#[tokio::test]
async fn an_unreachable_provider_is_an_upstream_error() {
    // A port that was free a moment ago: connecting is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    for &provider in CLOUD_PROVIDERS {
        let engine = engine_for(provider, KEY.into(), Some(base.clone()), http()).unwrap();
        let e = engine.synthesize(&say("Hello?")).await.unwrap_err();
        assert!(
            matches!(e, avatarium_tts::TtsError::Upstream(_)),
            "{provider}: {e:?}"
        );
        assert_no_key(&e.to_string());
        assert_no_key(&format!("{e:?}"));
    }
}
