//! The learned correction of espeak-ng's American English reading toward
//! the CMU Pronouncing Dictionary, in viseme terms: a table of context rules
//! (`data/g2p_corrections.json`, made by
//! `examples/train_g2p_corrections.rs`; the method is in
//! `avatarium_lipsync::correction`). It relabels espeak's phoneme events in
//! place, one for one, so the audio and the timings stay espeak's and only
//! the mouth shapes change.
//!
//! Only American voices (`en-us`, `en-us+VARIANT`) are corrected: the
//! dictionary is American, and its vowels and r's would be wrong for
//! British and other English voices.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use avatarium_lipsync::correction::{Corrections, Corrector};
use avatarium_lipsync::phonemes::is_pause;

use super::ffi::{EVENT_PHONEME, Event};
use super::{joined, tokens, word_token};

/// The shipped table, parsed once; `None` if it is unreadable.
pub(crate) fn corrector() -> Option<&'static Corrector<'static>> {
    static MODEL: OnceLock<Option<Corrections>> = OnceLock::new();
    static CORRECTOR: OnceLock<Option<Corrector<'static>>> = OnceLock::new();
    CORRECTOR
        .get_or_init(|| {
            MODEL
                .get_or_init(|| {
                    Corrections::from_json(include_str!("../../data/g2p_corrections.json"))
                        .map_err(|e| {
                            tracing::warn!("the shipped G2P corrections are unreadable: {e}")
                        })
                        .ok()
                })
                .as_ref()
                .map(Corrections::corrector)
        })
        .as_ref()
}

/// Whether `voice_id` (`en-us`, `en-us+f3`) is an American English voice.
pub(crate) fn is_american(voice_id: &str) -> bool {
    let lang = voice_id.split('+').next().unwrap_or(voice_id);
    lang.eq_ignore_ascii_case("en-us") || lang.to_ascii_lowercase().starts_with("en-us-")
}

/// Rewrites the phoneme events of each word of `text` with the learned
/// corrections, for American English voices. Words are found as
/// `spoken_words` finds them; words espeak joined ("of the") are corrected
/// as one, and words with digits (read out as numbers) are left alone.
pub(super) fn correct_events(text: &str, events: &mut [Event], voice_id: &str) {
    if !is_american(voice_id) {
        return;
    }
    let Some(corrector) = corrector() else {
        return;
    };
    let chars: Vec<char> = text.chars().collect();
    let tokens = tokens(&chars);
    if tokens.is_empty() {
        return;
    }
    let mut owned: Vec<Vec<usize>> = vec![Vec::new(); tokens.len()];
    let mut current: Option<usize> = None;
    for (index, e) in events.iter().enumerate() {
        current = word_token(&tokens, e, current);
        if e.kind == EVENT_PHONEME && !is_pause(&e.phoneme) {
            owned[current.unwrap_or(0)].push(index);
        }
    }
    for (from, to) in joined(&owned) {
        let spelling: String = tokens[from..to]
            .iter()
            .flat_map(|&(s, e)| chars[s..e].iter())
            .collect();
        let indices: Vec<usize> = owned[from..to].iter().flatten().copied().collect();
        if indices.is_empty() || spelling.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        let phonemes: Vec<String> = indices.iter().map(|&i| events[i].phoneme.clone()).collect();
        for (&i, p) in indices
            .iter()
            .zip(corrected(corrector, &spelling, &phonemes))
        {
            events[i].phoneme = p;
        }
    }
}

/// Words remembered by [`corrected`]; past this many it starts afresh, so
/// the memory stays bounded (a few MB) whatever is spoken.
const REMEMBERED_WORDS: usize = 20_000;

fn remembered() -> &'static Mutex<HashMap<String, Vec<String>>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

/// See [`super::forget_remembered_words`].
pub(super) fn forget() {
    remembered()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
}

/// `corrector.correct`, remembered. A word's correction depends on its
/// spelling and espeak's phonemes alone, and costs tens of table lookups
/// per phoneme, while running text says the same words again and again
/// ("the", "and", "of"…).
fn corrected(corrector: &Corrector<'_>, spelling: &str, phonemes: &[String]) -> Vec<String> {
    let seen = remembered();
    let mut key = String::with_capacity(spelling.len() + 4 * phonemes.len());
    key.push_str(spelling);
    for p in phonemes {
        // Neither spellings nor IPA contain it, so keys cannot collide.
        key.push('\u{1}');
        key.push_str(p);
    }
    // A panic elsewhere while holding the lock leaves the map whole.
    let lock = || seen.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = lock().get(&key) {
        return hit.clone();
    }
    let out = corrector.correct(spelling, phonemes);
    let mut map = lock();
    if map.len() >= REMEMBERED_WORDS {
        map.clear();
    }
    map.insert(key, out.clone());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::ffi::EVENT_WORD;

    fn word(pos: i32, len: i32) -> Event {
        Event {
            kind: EVENT_WORD,
            text_position: pos,
            length: len,
            audio_position: 0,
            phoneme: String::new(),
        }
    }

    fn ph(p: &str) -> Event {
        Event {
            kind: EVENT_PHONEME,
            text_position: 0,
            length: 0,
            audio_position: 0,
            phoneme: p.into(),
        }
    }

    #[test]
    fn the_shipped_table_loads() {
        let c = corrector().expect("data/g2p_corrections.json parses");
        // One for one, whatever it changes.
        let p: Vec<String> = ["k", "æ", "t"].map(String::from).to_vec();
        assert_eq!(c.correct("cat", &p).len(), 3);
    }

    #[test]
    fn remembered_corrections_are_the_corrections() {
        let c = corrector().expect("data/g2p_corrections.json parses");
        let words: [(&str, &[&str]); 3] = [
            ("wishes", &["w", "ˈɪ", "ʃ", "ᵻ", "z"]),
            ("waited", &["w", "ˈeɪ", "ɾ", "ᵻ", "d"]),
            // The same spelling read otherwise is another word.
            ("wishes", &["w", "ˈɪ", "ʃ", "z"]),
        ];
        for _ in 0..2 {
            for (spelling, phonemes) in words {
                let phonemes: Vec<String> = phonemes.iter().map(|p| p.to_string()).collect();
                assert_eq!(
                    corrected(c, spelling, &phonemes),
                    c.correct(spelling, &phonemes),
                    "{spelling} {phonemes:?}"
                );
            }
        }
    }

    #[test]
    fn only_american_voices() {
        assert!(is_american("en-us"));
        assert!(is_american("en-us+f3"));
        assert!(!is_american("en-gb"));
        assert!(!is_american("en"));
        assert!(!is_american("de"));
        // Other voices keep espeak's phonemes untouched.
        let mut events = vec![word(1, 4), ph("ɪ"), ph(""), ph("d")];
        let before = events.clone();
        correct_events("xxid", &mut events, "en-gb");
        assert_eq!(events, before);
    }

    #[test]
    fn numbers_and_pauses_are_left_alone() {
        let mut events = vec![word(1, 4), ph("n"), ph("aɪ"), ph("n"), ph("_")];
        let before = events.clone();
        correct_events("1999", &mut events, "en-us");
        assert_eq!(events, before);
    }

    fn names(p: &[String]) -> String {
        avatarium_lipsync::phonemes::words_to_visemes(&[p.to_vec()])
            .remove(0)
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// espeak reads "-es"/"-ed" with a schwa; the dictionary (and the
    /// table learned from it) often with ɪ, as in these two (it has ə in
    /// "boxes" and "added"). The product paths, phonemes and the
    /// synthesised timeline, get the corrected shapes for American voices
    /// and espeak's own for British ones.
    #[tokio::test]
    async fn american_voices_get_the_corrected_shapes() {
        use crate::local::LocalTts;
        use crate::{SpeechRequest, TtsEngine};
        let tts = LocalTts::new();
        let phones = |w: Vec<(String, Vec<String>)>| -> Vec<String> {
            w.into_iter().flat_map(|(_, p)| p).collect()
        };
        for (word, cmu) in [("wishes", "ou ih CH ih SS"), ("waited", "ou E ih DD ih DD")] {
            let raw = phones(tts.phonemize_uncorrected(word, None).await.unwrap());
            let fixed = phones(tts.phonemize(word, Some("en-us")).await.unwrap());
            assert_ne!(names(&raw), cmu, "{raw:?}");
            assert_eq!(names(&fixed), cmu, "{fixed:?}");
            assert_eq!(raw.len(), fixed.len());
            let gb = tts.phonemize(word, Some("en-gb")).await.unwrap();
            assert_eq!(
                gb,
                tts.phonemize_uncorrected(word, Some("en-gb"))
                    .await
                    .unwrap()
            );
        }
        let speech = tts
            .synthesize(&SpeechRequest {
                text: "wishes".into(),
                voice: Some("en-us+f3".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let shapes: Vec<&str> = speech
            .visemes
            .cues
            .iter()
            .map(|c| c.viseme.name())
            .filter(|n| *n != "sil")
            .collect();
        assert_eq!(shapes.join(" "), "ou ih CH ih SS");
    }
}
