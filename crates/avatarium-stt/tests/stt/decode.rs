use avatarium_stt::SttError;
use avatarium_stt::decode::{MAX_SECONDS, decode_to_mono_16k};

use crate::common::*;

fn seconds(pcm: &[f32]) -> f32 {
    pcm.len() as f32 / 16_000.0
}

#[test]
fn jfk_wav_decodes_unchanged() {
    let pcm = decode_to_mono_16k(jfk_wav(), Some("audio/wav")).unwrap();
    assert_eq!(pcm.len(), jfk_pcm().len());
    assert!((seconds(&pcm) - 11.0).abs() < 0.1, "{} s", seconds(&pcm));
    let max_diff = pcm
        .iter()
        .zip(jfk_pcm())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-4, "samples differ by {max_diff}");
}

#[test]
fn stereo_44k1_wav_is_mixed_down_and_resampled() {
    let mono44 = naive_resample(jfk_pcm(), 16_000, 44_100);
    // Opposite-polarity noise on the two channels cancels in a correct mix-down.
    let stereo: Vec<f32> = mono44
        .iter()
        .enumerate()
        .flat_map(|(i, &s)| {
            let n = if i % 2 == 0 { 0.05 } else { -0.05 };
            [s + n, s - n]
        })
        .collect();
    let wav = wav_bytes(&stereo, 2, 44_100);
    let pcm = decode_to_mono_16k(&wav, None).unwrap();
    let expected = jfk_pcm().len() as f32;
    assert!(
        (pcm.len() as f32 - expected).abs() / expected < 0.01,
        "{} samples, expected about {expected}",
        pcm.len()
    );
    let r = best_correlation(jfk_pcm(), &pcm, 64);
    assert!(r > 0.95, "correlation with the original {r}");
}

#[test]
fn ogg_opus_decodes() {
    let ogg = ogg_opus(jfk_pcm());
    let pcm = decode_to_mono_16k(&ogg, Some("audio/ogg;codecs=opus")).unwrap();
    let expected = jfk_pcm().len() as f32;
    assert!(
        (pcm.len() as f32 - expected).abs() / expected < 0.02,
        "{} samples, expected about {expected}",
        pcm.len()
    );
    let r = best_correlation(jfk_pcm(), &pcm, 320);
    assert!(r > 0.8, "correlation with the original {r}");
}

#[test]
fn webm_opus_from_media_recorder_decodes() {
    let webm = webm_opus(jfk_pcm());
    let expected = jfk_pcm().len() as f32;
    for hint in [Some("audio/webm;codecs=opus"), Some("recording.webm"), None] {
        let pcm = decode_to_mono_16k(&webm, hint).unwrap_or_else(|e| panic!("hint {hint:?}: {e}"));
        assert!(
            (pcm.len() as f32 - expected).abs() / expected < 0.03,
            "{} samples, expected about {expected}",
            pcm.len()
        );
        if hint.is_none() {
            let r = best_correlation(jfk_pcm(), &pcm, 320);
            assert!(r > 0.8, "correlation with the original {r}");
        }
    }
}

#[test]
fn mp3_decodes() {
    let mp3 = mp3(&naive_resample(jfk_pcm(), 16_000, 22_050), 22_050);
    let pcm = decode_to_mono_16k(&mp3, Some("audio/mpeg")).unwrap();
    let expected = jfk_pcm().len() as f32;
    assert!(
        (pcm.len() as f32 - expected).abs() / expected < 0.03,
        "{} samples, expected about {expected}",
        pcm.len()
    );
    let r = best_correlation(jfk_pcm(), &pcm, 1600);
    assert!(r > 0.8, "correlation with the original {r}");
}

#[test]
fn empty_audio_is_bad_audio() {
    assert!(matches!(
        decode_to_mono_16k(&[], None),
        Err(SttError::BadAudio(_))
    ));
}

#[test]
fn random_bytes_are_bad_audio() {
    // A fixed xorshift stream: reproducible, and no accidental container magic.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for len in [17usize, 4096, 200_000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for hint in [None, Some("audio/webm"), Some("clip.mp3")] {
            match decode_to_mono_16k(&bytes, hint) {
                Err(SttError::BadAudio(_)) => {}
                other => panic!(
                    "{len} random bytes, hint {hint:?}: {:?}",
                    other.map(|p| p.len())
                ),
            }
        }
    }
}

#[test]
fn truncated_files_are_bad_audio() {
    let wav = jfk_wav();
    // Cut inside the header, then halfway through the samples.
    for cut in [20, wav.len() / 2] {
        match decode_to_mono_16k(&wav[..cut], None) {
            Err(SttError::BadAudio(msg)) => assert!(msg.contains("truncated") || cut < 44, "{msg}"),
            other => panic!("cut at {cut}: {:?}", other.map(|p| p.len())),
        }
    }
    // A container cut before its first complete audio packet.
    let ogg = ogg_opus(jfk_pcm());
    match decode_to_mono_16k(&ogg[..120], None) {
        Err(SttError::BadAudio(_)) => {}
        other => panic!("truncated ogg: {:?}", other.map(|p| p.len())),
    }
}

#[test]
fn twenty_minutes_is_too_long() {
    let wav = silent_wav(20 * 60, 16_000);
    match decode_to_mono_16k(&wav, Some("long.wav")) {
        Err(SttError::TooLong { max_s }) => assert_eq!(max_s, MAX_SECONDS),
        other => panic!("{:?}", other.map(|p| p.len())),
    }
}

#[test]
fn exactly_the_limit_is_accepted() {
    let wav = silent_wav(MAX_SECONDS as usize, 16_000);
    let pcm = decode_to_mono_16k(&wav, None).unwrap();
    assert!((seconds(&pcm) - MAX_SECONDS).abs() < 0.1);
}
