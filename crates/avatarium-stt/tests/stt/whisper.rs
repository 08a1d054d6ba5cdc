use std::sync::OnceLock;

use avatarium_stt::whisper::LocalWhisper;
use avatarium_stt::{SttEngine, SttError, SttRequest, Transcript};

use crate::common::*;

/// Loaded once: the test suite also checks that one context serves many requests.
fn model() -> &'static LocalWhisper {
    static MODEL: OnceLock<LocalWhisper> = OnceLock::new();
    MODEL.get_or_init(|| {
        LocalWhisper::load(&data_file("for-tests-ggml-tiny.en.bin")).expect("load the test model")
    })
}

fn check_transcript(t: &Transcript, duration: f32) {
    assert!(
        (t.duration_s - duration).abs() < 0.05,
        "duration {}",
        t.duration_s
    );
    assert!(
        (0.0..=1.0).contains(&t.confidence),
        "confidence {}",
        t.confidence
    );
    assert_eq!(t.language.as_deref(), Some("en"));
    for w in &t.words {
        assert!(!w.word.is_empty());
        assert!(
            w.start >= 0.0 && w.start <= w.end && w.end <= duration + 0.01,
            "{w:?}"
        );
        assert!((0.0..=1.0).contains(&w.confidence), "{w:?}");
    }
}

#[test]
fn test_model_runs_on_jfk_with_words() {
    let pcm = jfk_pcm();
    let t = model().transcribe_pcm(pcm, Some("en"), true).unwrap();
    check_transcript(&t, pcm.len() as f32 / 16_000.0);
    // An untrained model's text is meaningless; only its shape can be checked.
    if !t.words.is_empty() {
        assert!(!t.text.is_empty());
    }
}

#[tokio::test]
async fn engine_decodes_and_transcribes_uploads() {
    let engine: &dyn SttEngine = model();
    assert_eq!(engine.id(), "local");
    let req = SttRequest {
        audio: ogg_opus(&jfk_pcm()[..16_000 * 4]),
        mime: Some("audio/ogg;codecs=opus".into()),
        language: Some("en-US".into()),
        include_words: false,
        ..SttRequest::default()
    };
    let t = engine.transcribe(req).await.unwrap();
    check_transcript(&t, 4.0);
    assert!(t.words.is_empty(), "words were not asked for");

    let err = engine
        .transcribe(SttRequest::new(b"not audio".to_vec()))
        .await
        .unwrap_err();
    assert!(matches!(err, SttError::BadAudio(_)), "{err:?}");
}

#[test]
fn empty_and_overlong_pcm_are_rejected() {
    assert!(matches!(
        model().transcribe_pcm(&[], None, false),
        Err(SttError::BadAudio(_))
    ));
    assert!(matches!(
        model().transcribe_pcm(&vec![0.0; 16_000 * 601], None, false),
        Err(SttError::TooLong { .. })
    ));
}

#[test]
fn missing_model_hints_at_download() {
    let dir = tempfile::tempdir().unwrap();
    match LocalWhisper::load(&dir.path().join("ggml-tiny.en.bin")) {
        Err(SttError::ModelMissing { name, hint }) => {
            assert_eq!(name, "tiny.en");
            assert!(hint.contains("avatarium models download tiny.en"), "{hint}");
        }
        other => panic!("{other:?}"),
    }
    match LocalWhisper::load(&dir.path().join("my-model.bin")) {
        Err(SttError::ModelMissing { hint, .. }) => {
            assert!(hint.contains("models download"), "{hint}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupt_models_are_model_errors() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("ggml-garbage.bin");
    std::fs::write(&garbage, b"this is not a model, just some text").unwrap();
    assert!(matches!(
        LocalWhisper::load(&garbage),
        Err(SttError::Model(_))
    ));

    // Cut in the hyper-parameters and in the vocabulary (as an interrupted copy would be), and
    // a tensor header with an impossible rank: whisper.cpp's loader would read garbage.
    let real = std::fs::read(data_file("for-tests-ggml-tiny.en.bin")).unwrap();
    let mut bad_tensor = real.clone();
    for v in [9i32, 4, 0] {
        bad_tensor.extend_from_slice(&v.to_le_bytes());
    }
    for (name, bytes) in [
        ("ggml-cut-header.bin", real[..30].to_vec()),
        ("ggml-cut-vocab.bin", real[..real.len() / 2].to_vec()),
        ("ggml-bad-tensor.bin", bad_tensor),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        match LocalWhisper::load(&path) {
            Err(SttError::Model(msg)) => {
                assert!(msg.contains("not a usable whisper model"), "{msg}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    let empty = dir.path().join("ggml-empty.bin");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        LocalWhisper::load(&empty),
        Err(SttError::Model(_))
    ));

    assert!(matches!(
        LocalWhisper::load(dir.path()),
        Err(SttError::Model(_))
    ));
}
