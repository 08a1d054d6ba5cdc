//! Phoneme timing for engines that return audio but no timings: each
//! phoneme gets a relative length by its class, then the lengths are scaled
//! into the word spans (when the engine gives word timings) or into the
//! speech part of the audio.

use crate::phonemes::{is_pause, strip_marks, timeline_from_phonemes};
use crate::{PhonemeEvent, Timeline, WordTiming};

/// Relative lengths, in milliseconds at an average speaking rate; only their
/// ratios matter, since everything is scaled to the available time.
mod len {
    pub const VOWEL: f64 = 85.0;
    pub const LONG_VOWEL: f64 = 115.0;
    pub const DIPHTHONG: f64 = 140.0;
    pub const REDUCED_VOWEL: f64 = 50.0;
    pub const STOP: f64 = 60.0;
    pub const FLAP: f64 = 25.0;
    pub const AFFRICATE: f64 = 90.0;
    pub const FRICATIVE: f64 = 85.0;
    pub const H: f64 = 55.0;
    pub const NASAL: f64 = 65.0;
    pub const APPROXIMANT: f64 = 55.0;
    pub const OTHER: f64 = 60.0;
    /// Between words: connected speech barely pauses.
    pub const WORD_GAP: f64 = 12.0;
    /// After , ; : and dashes.
    pub const COMMA: f64 = 200.0;
    /// After . ! ? and ellipses.
    pub const SENTENCE: f64 = 320.0;
}

const VOWELS: &str = "aɑɐæʌɶɛeəɘɜɤɞɪiɨᵻɯɔoɒɵøœuʊʉyʏɚɝ";
const REDUCED: &str = "əɐᵻɚ";
const STOPS: &str = "pbtdkgɡcɟqɢʔʈɖɓɗ";
const FLAPS: &str = "ɾɽ";
const FRICATIVES: &str = "fvθðszʃʒçʝxɣχʁɕʑʂʐɸβħʕ";
const NASALS: &str = "mnŋɲɳɴɱ";

/// The relative length of one IPA phoneme (see [`len`]); `None` for a pause
/// symbol, which the punctuation of the words accounts for instead.
fn phone_len(ipa: &str) -> Option<f64> {
    if is_pause(ipa) {
        return None;
    }
    let s = strip_marks(ipa);
    let vowels = s.chars().filter(|c| VOWELS.contains(*c)).count();
    let first = s.chars().next().unwrap_or(' ');
    let second = s.chars().nth(1);
    Some(if vowels >= 2 {
        len::DIPHTHONG
    } else if vowels == 1 && ipa.contains('ː') {
        len::LONG_VOWEL
    } else if vowels == 1 && s.chars().any(|c| REDUCED.contains(c)) {
        len::REDUCED_VOWEL
    } else if vowels == 1 {
        len::VOWEL
    } else if STOPS.contains(first) && second.is_some_and(|c| FRICATIVES.contains(c)) {
        len::AFFRICATE
    } else if STOPS.contains(first) {
        len::STOP
    } else if FLAPS.contains(first) {
        len::FLAP
    } else if first == 'h' || first == 'ɦ' {
        len::H
    } else if FRICATIVES.contains(first) {
        len::FRICATIVE
    } else if NASALS.contains(first) {
        len::NASAL
    } else if "lɫɭʎʟɹɻrʀjwɥʍʋɬɮɺ".contains(first) {
        len::APPROXIMANT
    } else {
        len::OTHER
    })
}

/// The pause the punctuation at the end of a word (or a punctuation-only
/// token) asks for.
fn punctuation_pause(word: &str) -> f64 {
    let tail: String = word
        .chars()
        .rev()
        .take_while(|c| !c.is_alphanumeric())
        .collect();
    if tail.contains(['.', '!', '?', '…']) {
        len::SENTENCE
    } else if tail.contains([',', ';', ':', '—', '–']) || tail.trim() == "-" {
        len::COMMA
    } else {
        0.0
    }
}

/// Lowercase letters and digits only, to match words against an engine's
/// word timings.
fn norm(word: &str) -> String {
    word.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

struct Word<'a> {
    phones: &'a [String],
    lens: Vec<f64>,
    /// Sum of `lens`.
    len: f64,
}

/// Pairs words with the engine's timings: by position when the counts
/// agree, else by text in order (looking a few timings ahead, so an engine
/// that splits or drops a word does not derail the rest).
fn align(words: &[(String, Vec<String>)], timings: &[WordTiming]) -> Vec<Option<(u32, u32)>> {
    if words.len() == timings.len() {
        return timings.iter().map(|t| Some((t.start, t.end))).collect();
    }
    let mut next = 0;
    words
        .iter()
        .map(|(w, _)| {
            let key = norm(w);
            if key.is_empty() {
                return None;
            }
            let found =
                (next..timings.len().min(next + 4)).find(|&k| norm(&timings[k].word) == key)?;
            next = found + 1;
            Some((timings[found].start, timings[found].end))
        })
        .collect()
}

/// Timeline and word timings for speech whose audio is known only by its
/// length.
///
/// `words` are (word, IPA phonemes). Each phoneme gets a relative length by
/// class (vowels and diphthongs long, stops short, fricatives medium);
/// punctuation at the end of a word (or a punctuation-only word) adds a
/// pause. The lengths are then scaled:
///
/// - with `word_timings`, into each word's span (words are matched by
///   position when the counts agree, else by text; unmatched words share the
///   time between their matched neighbours);
/// - otherwise into `speech_span` (the non-silent part of the audio, as the
///   caller measured it) or the whole `duration_ms`, with short gaps
///   between words.
///
/// Returns the timeline (from [`timeline_from_phonemes`], so silences,
/// lookahead and lip closures are handled there) and one timing per input
/// word, in input order.
pub fn fit_phonemes(
    words: &[(String, Vec<String>)],
    duration_ms: u32,
    word_timings: Option<&[WordTiming]>,
    speech_span: Option<(u32, u32)>,
) -> (Timeline, Vec<WordTiming>) {
    let parsed: Vec<Word> = words
        .iter()
        .map(|(_, phones)| {
            let lens: Vec<f64> = phones.iter().map(|p| phone_len(p).unwrap_or(0.0)).collect();
            Word {
                phones,
                len: lens.iter().sum(),
                lens,
            }
        })
        .collect();
    let (span_start, span_end) = match speech_span {
        Some((s, e)) if s.min(duration_ms) < e.min(duration_ms) => {
            (s.min(duration_ms), e.min(duration_ms))
        }
        _ => (0, duration_ms),
    };

    let anchors: Vec<Option<(u32, u32)>> = match word_timings {
        Some(t) => align(words, t)
            .into_iter()
            .map(|a| {
                a.map(|(s, e)| {
                    let (s, e) = (s.min(duration_ms), e.min(duration_ms));
                    (s.min(e), s.max(e))
                })
            })
            .collect(),
        None => vec![None; words.len()],
    };

    // Words without a timing share the stretch between the timed words
    // around them (the whole span when none is timed), in proportion to their
    // phoneme lengths plus the gaps and pauses after them.
    let gap_after = |k: usize| -> f64 {
        if !parsed[k + 1..].iter().any(|w| w.len > 0.0) {
            return 0.0;
        }
        let gap = if parsed[k].len > 0.0 {
            len::WORD_GAP
        } else {
            0.0
        };
        gap + punctuation_pause(&words[k].0)
    };
    let mut spans: Vec<(u32, u32)> = vec![(0, 0); words.len()];
    let mut i = 0;
    while i < words.len() {
        if let Some(a) = anchors[i] {
            spans[i] = a;
            i += 1;
            continue;
        }
        let run_end = (i..words.len())
            .find(|&k| anchors[k].is_some())
            .unwrap_or(words.len());
        let from = if i == 0 { span_start } else { spans[i - 1].1 };
        let to = if run_end == words.len() {
            span_end
        } else {
            anchors[run_end].map_or(span_end, |a| a.0)
        }
        .max(from);
        let units: Vec<(f64, f64)> = (i..run_end)
            .map(|k| (parsed[k].len, gap_after(k)))
            .collect();
        let lead = if i > 0 { gap_after(i - 1) } else { 0.0 };
        let total: f64 = lead + units.iter().map(|(l, g)| l + g).sum::<f64>();
        let scale = if total > 0.0 {
            f64::from(to - from) / total
        } else {
            0.0
        };
        let mut pos = f64::from(from) + lead * scale;
        for (k, (l, g)) in (i..run_end).zip(units) {
            let s = pos.round() as u32;
            pos += l * scale;
            let e = (pos.round() as u32).max(s);
            spans[k] = (s.min(to), e.min(to));
            pos += g * scale;
        }
        i = run_end;
    }

    // Punctuation-only tokens are shown as the pause they cause.
    for k in 0..words.len() {
        if parsed[k].len == 0.0 && anchors[k].is_none() && norm(&words[k].0).is_empty() {
            let prev_end = if k > 0 { spans[k - 1].1 } else { span_start };
            let next_start = spans.get(k + 1).map_or(prev_end, |s| s.0);
            spans[k] = (prev_end, next_start.max(prev_end));
        }
    }

    let mut events: Vec<PhonemeEvent> = Vec::new();
    for (w, &(s, e)) in parsed.iter().zip(&spans) {
        if e <= s || w.len <= 0.0 {
            continue;
        }
        let scale = f64::from(e - s) / w.len;
        let mut pos = f64::from(s);
        for (p, l) in w.phones.iter().zip(&w.lens) {
            let ps = pos.round() as u32;
            pos += l * scale;
            let pe = pos.round() as u32;
            if pe > ps && *l > 0.0 {
                events.push(PhonemeEvent {
                    phoneme: p.clone(),
                    start: ps,
                    end: pe,
                });
            }
        }
    }

    let timings = words
        .iter()
        .zip(spans)
        .map(|((word, _), (start, end))| WordTiming {
            word: word.clone(),
            start,
            end,
        })
        .collect();
    (timeline_from_phonemes(&events, duration_ms), timings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Rng;
    use crate::{Timeline, Viseme};

    fn words(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(w, p)| (w.to_string(), p.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn well_formed(t: &Timeline, total: u32) {
        assert_eq!(t.cues.first().unwrap().start, 0);
        assert_eq!(t.cues.last().unwrap().end, total);
        for w in t.cues.windows(2) {
            assert_eq!(w[0].end, w[1].start);
            assert!(w[0].start < w[0].end);
        }
    }

    fn viseme_at(t: &Timeline, ms: u32) -> Viseme {
        t.cues
            .iter()
            .find(|c| c.start <= ms && ms < c.end)
            .map_or(Viseme::Sil, |c| c.viseme)
    }

    #[test]
    fn phoneme_classes_have_sensible_lengths() {
        let l = |p| phone_len(p).unwrap();
        assert!(l("aɪ") > l("ɑ"));
        assert!(l("ɑː") > l("ɑ"));
        assert!(l("ɑ") > l("ə"));
        assert!(l("s") > l("t"));
        assert!(l("tʃ") > l("t"));
        assert!(l("ɑ") > l("p"));
        assert_eq!(phone_len("_"), None);
        assert_eq!(punctuation_pause("hello,"), len::COMMA);
        assert_eq!(punctuation_pause("end."), len::SENTENCE);
        assert_eq!(punctuation_pause("?"), len::SENTENCE);
        assert_eq!(punctuation_pause("word"), 0.0);
    }

    #[test]
    fn fits_into_the_whole_duration() {
        let w = words(&[
            ("hello", &["h", "ə", "l", "ˈoʊ"]),
            ("world", &["w", "ˈɜː", "l", "d"]),
        ]);
        let (t, timings) = fit_phonemes(&w, 1000, None, None);
        well_formed(&t, 1000);
        assert_eq!(timings.len(), 2);
        assert_eq!(timings[0].start, 0);
        assert_eq!(timings[1].end, 1000);
        assert!(timings[0].end <= timings[1].start);
        // The gap between words is short, so no silence in the middle.
        assert!(timings[1].start - timings[0].end < 30);
        assert!(t.cues.iter().all(|c| c.viseme != Viseme::Sil));
        // "hello" opens on the schwa (h borrows it) and ends rounded.
        assert_eq!(t.cues[0].viseme, Viseme::E);
        assert_eq!(viseme_at(&t, timings[0].end - 5), Viseme::Ou);
    }

    #[test]
    fn fits_into_the_speech_span_with_punctuation_pauses() {
        let w = words(&[
            ("Yes,", &["j", "ˈɛ", "s"]),
            ("I", &["ˈaɪ"]),
            ("see", &["s", "ˈiː"]),
            (".", &[]),
        ]);
        let (t, timings) = fit_phonemes(&w, 2000, None, Some((300, 1500)));
        well_formed(&t, 2000);
        assert_eq!(timings[0].start, 300);
        assert_eq!(timings[2].end, 1500);
        assert_eq!(viseme_at(&t, 100), Viseme::Sil);
        assert_eq!(viseme_at(&t, 1800), Viseme::Sil);
        // The comma pause is long enough to rest the mouth.
        let gap = timings[1].start - timings[0].end;
        assert!(gap >= 100, "{timings:?}");
        assert_eq!(
            viseme_at(&t, (timings[0].end + timings[1].start) / 2),
            Viseme::Sil
        );
        // The final full stop falls after the last word.
        assert_eq!(timings[3].start, timings[2].end);
    }

    #[test]
    fn fits_into_word_timings() {
        let w = words(&[("big", &["b", "ˈɪ", "ɡ"]), ("dog", &["d", "ˈɒ", "ɡ"])]);
        let wt = vec![
            WordTiming {
                word: "big".into(),
                start: 100,
                end: 400,
            },
            WordTiming {
                word: "dog".into(),
                start: 600,
                end: 900,
            },
        ];
        let (t, timings) = fit_phonemes(&w, 1000, Some(&wt), None);
        well_formed(&t, 1000);
        assert_eq!(timings, wt);
        // The 200 ms between the words is a pause.
        assert_eq!(viseme_at(&t, 500), Viseme::Sil);
        assert_eq!(viseme_at(&t, 250), Viseme::Ih);
        assert_eq!(viseme_at(&t, 750), Viseme::Oh);
        // Lips close before "big" (lead-in from the silence).
        assert_eq!(viseme_at(&t, 60), Viseme::PP);
        assert_eq!(viseme_at(&t, 40), Viseme::Sil);
        // Every phoneme stays inside its word's span (apart from the lead-in).
        assert_eq!(viseme_at(&t, 395), Viseme::Kk);
        assert_eq!(viseme_at(&t, 905), Viseme::Sil);
    }

    #[test]
    fn word_timings_matched_by_text_when_counts_differ() {
        let w = words(&[
            ("Hi", &["h", "ˈaɪ"]),
            (",", &[]),
            ("Bob", &["b", "ˈɒ", "b"]),
        ]);
        let wt = vec![
            WordTiming {
                word: "hi".into(),
                start: 0,
                end: 300,
            },
            WordTiming {
                word: "Bob".into(),
                start: 500,
                end: 800,
            },
        ];
        let (t, timings) = fit_phonemes(&w, 800, Some(&wt), None);
        well_formed(&t, 800);
        assert_eq!((timings[0].start, timings[0].end), (0, 300));
        assert_eq!((timings[1].start, timings[1].end), (300, 500));
        assert_eq!((timings[2].start, timings[2].end), (500, 800));
        // An unmatched word is placed between its neighbours.
        let w = words(&[
            ("one", &["w", "ʌ", "n"]),
            ("two", &["t", "u"]),
            ("three", &["θ", "ɹ", "i"]),
        ]);
        let wt = vec![
            WordTiming {
                word: "one".into(),
                start: 0,
                end: 200,
            },
            WordTiming {
                word: "three".into(),
                start: 600,
                end: 900,
            },
        ];
        let (t, timings) = fit_phonemes(&w, 900, Some(&wt), None);
        well_formed(&t, 900);
        assert!(
            timings[1].start >= 200 && timings[1].end <= 600 && timings[1].start < timings[1].end
        );
        assert_eq!(timings[2].start, 600);
    }

    #[test]
    fn random_inputs_are_well_formed() {
        let phones = ["p", "aɪ", "s", "ˈɑː", "h", "ŋ", "ə", "tʃ", "_", "#"];
        let mut rng = Rng::new(11);
        for _ in 0..300 {
            let n = rng.below(8);
            let w: Vec<(String, Vec<String>)> = (0..n)
                .map(|i| {
                    let k = rng.below(5);
                    let p = (0..k)
                        .map(|_| phones[rng.below(phones.len())].to_string())
                        .collect();
                    let word = if rng.below(4) == 0 {
                        format!("w{i},")
                    } else {
                        format!("w{i}")
                    };
                    (word, p)
                })
                .collect();
            let duration = 1 + rng.below(3000) as u32;
            let span = (rng.below(2) == 0).then(|| {
                let a = rng.below(duration as usize) as u32;
                (a, a + rng.below(3000) as u32)
            });
            let (t, timings) = fit_phonemes(&w, duration, None, span);
            well_formed(&t, duration);
            assert_eq!(timings.len(), w.len());
            for pair in timings.windows(2) {
                assert!(pair[0].start <= pair[0].end);
                assert!(pair[0].end <= pair[1].start, "{timings:?}");
            }
            assert!(timings.iter().all(|t| t.end <= duration));
        }
    }
}
