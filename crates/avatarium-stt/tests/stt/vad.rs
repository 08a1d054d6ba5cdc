use avatarium_stt::SttError;
use avatarium_stt::vad::{StreamingVad, VadBackend, VadConfig, VadEvent, segments};

use crate::common::*;

fn silero() -> VadConfig {
    VadConfig::default().with_model(data_file("for-tests-silero-v6.2.0-ggml.bin"))
}

fn total_ms(segs: &[(u32, u32)]) -> u32 {
    segs.iter().map(|(s, e)| e - s).sum()
}

/// jfk.wav between stretches of digital silence.
fn padded_jfk(before_s: usize, after_s: usize) -> Vec<f32> {
    let mut pcm = vec![0.0; before_s * 16_000];
    pcm.extend_from_slice(jfk_pcm());
    pcm.extend(vec![0.0; after_s * 16_000]);
    pcm
}

#[test]
fn silero_finds_the_speech_in_jfk() {
    let segs = segments(jfk_pcm(), &silero()).unwrap();
    assert!(!segs.is_empty());
    assert!(
        segs[0].0 < 500,
        "first segment starts at {} ms: {segs:?}",
        segs[0].0
    );
    assert!(
        total_ms(&segs) > 6_000,
        "only {} ms of speech: {segs:?}",
        total_ms(&segs)
    );
    let last_end = segs.last().unwrap().1;
    assert!(last_end <= 11_000 + 10, "{segs:?}");
    for pair in segs.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlap: {segs:?}");
    }
}

#[test]
fn silero_finds_nothing_in_silence() {
    assert!(
        segments(&vec![0.0; 16_000 * 5], &silero())
            .unwrap()
            .is_empty()
    );
    // Faint noise is not speech either.
    let mut x = 1u32;
    let noise: Vec<f32> = (0..16_000 * 3)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 16) as f32 / 65_536.0 * 0.002 - 0.001
        })
        .collect();
    assert!(segments(&noise, &silero()).unwrap().is_empty());
}

#[test]
fn pre_roll_moves_the_start_back() {
    let pcm = padded_jfk(1, 1);
    let without = segments(
        &pcm,
        &VadConfig {
            pre_roll_ms: 0,
            ..silero()
        },
    )
    .unwrap();
    let with = segments(
        &pcm,
        &VadConfig {
            pre_roll_ms: 300,
            ..silero()
        },
    )
    .unwrap();
    assert!(without[0].0 >= 1_000, "{without:?}");
    assert_eq!(with[0].0 + 300, without[0].0, "{with:?} vs {without:?}");
    assert_eq!(with[0].1, without[0].1);
}

#[test]
fn energy_fallback_also_finds_jfk() {
    let segs = segments(&padded_jfk(1, 1), &VadConfig::default()).unwrap();
    assert!(!segs.is_empty());
    assert!((700..1_600).contains(&segs[0].0), "{segs:?}");
    assert!(total_ms(&segs) > 6_000, "{segs:?}");
}

#[test]
fn streaming_silero_emits_start_then_end_with_pre_roll() {
    let pcm = padded_jfk(1, 2);
    let cfg = silero();
    let offline = segments(&pcm, &cfg).unwrap();
    let mut vad = StreamingVad::new(cfg).unwrap();
    assert_eq!(vad.backend(), VadBackend::Silero);
    let mut events = Vec::new();
    for chunk in pcm.chunks(320) {
        events.extend(vad.push(chunk));
    }
    // Two seconds of trailing silence end the last utterance without `finish`.
    assert!(vad.finish().is_empty());
    assert!(events.len() >= 2, "{} events", events.len());

    let mut open: Option<u32> = None;
    let mut utterances = Vec::new();
    for ev in &events {
        match ev {
            VadEvent::SpeechStart { at_ms } => {
                assert!(open.is_none(), "two starts in a row");
                open = Some(*at_ms);
            }
            VadEvent::SpeechEnd {
                utterance,
                start_ms,
                end_ms,
            } => {
                let at = open.take().expect("end without start");
                assert!(*start_ms <= at && at < *end_ms);
                let expected = (end_ms - start_ms) as usize * 16;
                assert!(
                    utterance.len().abs_diff(expected) <= 16,
                    "{} vs {expected}",
                    utterance.len()
                );
                utterances.push((*start_ms, *end_ms, at, utterance.clone()));
            }
        }
    }
    let (start, end, onset, first) = &utterances[0];
    assert_eq!(
        onset - start,
        300,
        "the first utterance carries the full pre-roll"
    );
    assert!((1_000..1_800).contains(onset), "speech found at {onset} ms");
    // The utterance is exactly the input audio from the pre-roll on.
    let expected = &pcm[*start as usize * 16..*start as usize * 16 + first.len()];
    assert_eq!(first.as_slice(), expected);
    assert!(first.len() >= (*end - *start) as usize * 16 - 16);
    let spoken: u32 = utterances.iter().map(|(s, e, _, _)| e - s).sum();
    assert!(spoken > 6_000, "{spoken} ms");
    assert!(
        start.abs_diff(offline[0].0) <= 200,
        "streaming {start} ms vs offline {:?}",
        offline[0]
    );
}

#[test]
fn streaming_finish_closes_an_open_utterance() {
    let mut vad = StreamingVad::new(silero()).unwrap();
    let pcm = padded_jfk(1, 0);
    let mut events = Vec::new();
    for chunk in pcm.chunks(1_000) {
        events.extend(vad.push(chunk));
    }
    let tail = vad.finish();
    assert!(
        matches!(tail.last(), Some(VadEvent::SpeechEnd { .. })),
        "{tail:?}"
    );
    assert!(!vad.in_speech());
    events.extend(tail);
    assert!(matches!(events[0], VadEvent::SpeechStart { .. }));
}

#[test]
fn missing_or_corrupt_vad_models() {
    let dir = tempfile::tempdir().unwrap();
    match StreamingVad::new(VadConfig::default().with_model(dir.path().join("nope.bin"))) {
        Err(SttError::ModelMissing { hint, .. }) => {
            assert!(hint.contains("models download"), "{hint}")
        }
        other => panic!("{other:?}"),
    }
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, b"garbage, not ggml").unwrap();
    assert!(matches!(
        segments(&[0.0; 16_000], &VadConfig::default().with_model(&bad)),
        Err(SttError::Model(_))
    ));
}
