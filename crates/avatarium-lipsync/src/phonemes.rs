//! Phonemes (IPA, or the CMU dictionary's ARPAbet) to Oculus visemes, and
//! timed phonemes to a viseme [`Timeline`].
//!
//! # The viseme table
//!
//! Source: Meta, "Oculus Lipsync — Viseme Reference"
//! (developers.meta.com/horizon/documentation/unity/audio-ovrlipsync-viseme-reference),
//! itself derived from the MPEG-4 viseme set. Meta lists only a few example
//! phonemes per viseme:
//!
//! | viseme | Meta's phonemes | example words |
//! | --- | --- | --- |
//! | sil | (silence) | |
//! | PP | p b m | put, bat, mat |
//! | FF | f v | fat, vat |
//! | TH | θ ð | think, that |
//! | DD | t d | tip, doll |
//! | kk | k g | call, gas |
//! | CH | tʃ dʒ ʃ | chair, join, she |
//! | SS | s z | sir, zeal |
//! | nn | n l | lot, not |
//! | RR | r | red |
//! | aa | ɑː | car |
//! | E | e | bed |
//! | ih | ɪ | tip |
//! | oh | o | toe |
//! | ou | ʊ | book |
//!
//! Every other symbol is placed by the same visible features the reference
//! is built on (lip closure, lip–teeth contact, tongue between the teeth,
//! lip rounding, jaw opening), see [`IPA_TABLE`]:
//!
//! - ŋ goes to **kk**, not nn: it is made with the tongue body at the velum
//!   like k/g, so the mouth looks like kk; Microsoft's SAPI/Azure viseme set
//!   (based on the Disney visemes) groups "k, g, ng" the same way.
//! - The nasal flap ɾ̃ (American "winter") goes to **nn** (an alveolar nasal,
//!   like n), the plain flap ɾ to **DD**.
//! - Open vowels (ɑ a ɐ æ ʌ ɶ) are **aa**; mid unrounded vowels, schwa
//!   included (ɛ e ə ɘ ɜ ɤ), are **E**; close unrounded vowels and j are
//!   **ih**; mid rounded vowels (ɔ o ɒ ɵ ø œ ɞ) are **oh**; close rounded
//!   vowels and w (u ʊ ʉ y ʏ w ɥ ʍ) are **ou**. ɚ ɝ are **RR**.
//! - The uvular r of French and German (ʁ ʀ) is **kk**: it is made at the
//!   back of the mouth without the lip rounding of English ɹ.
//! - h ɦ ʔ ħ ʕ have no mouth shape of their own; in a timeline they take the
//!   shape of the phoneme that follows ([`ipa_to_visemes`] returns nothing).
//! - Diphthongs and triphthongs are split, one viseme per part (aɪ → aa ih,
//!   oʊ → oh ou); affricates (tʃ dʒ ts dz …) stay one viseme. əʊ (British
//!   "go") is oh ou, like oʊ, because its first part is rounded in practice.

use crate::{Cue, PhonemeEvent, Timeline, Viseme};

use Viseme as V;

/// The IPA symbols this crate knows, after stress, length and diacritics are
/// stripped. An empty viseme list means "no shape of its own: borrow the next
/// phoneme's". Two-character entries are matched before one-character ones.
pub const IPA_TABLE: &[(&str, &[Viseme])] = &[
    // Affricates first, so they are not read as stop + fricative.
    ("tʃ", &[V::CH]),
    ("dʒ", &[V::CH]),
    ("tɕ", &[V::CH]),
    ("dʑ", &[V::CH]),
    ("tʂ", &[V::CH]),
    ("dʐ", &[V::CH]),
    ("ts", &[V::SS]),
    ("dz", &[V::SS]),
    ("pf", &[V::FF]),
    ("ɾ̃", &[V::Nn]),
    ("əʊ", &[V::Oh, V::Ou]),
    // Bilabials.
    ("p", &[V::PP]),
    ("b", &[V::PP]),
    ("m", &[V::PP]),
    ("ɓ", &[V::PP]),
    // Labiodentals and bilabial fricatives (lips narrowed, not closed).
    ("f", &[V::FF]),
    ("v", &[V::FF]),
    ("ɱ", &[V::FF]),
    ("ʋ", &[V::FF]),
    ("ɸ", &[V::FF]),
    ("β", &[V::FF]),
    // Dentals.
    ("θ", &[V::TH]),
    ("ð", &[V::TH]),
    // Alveolar and retroflex stops, flaps.
    ("t", &[V::DD]),
    ("d", &[V::DD]),
    ("ʈ", &[V::DD]),
    ("ɖ", &[V::DD]),
    ("ɗ", &[V::DD]),
    ("ɾ", &[V::DD]),
    ("ɽ", &[V::DD]),
    // Velars, palatal and uvular stops and fricatives.
    ("k", &[V::Kk]),
    ("g", &[V::Kk]),
    ("ɡ", &[V::Kk]),
    ("ŋ", &[V::Kk]),
    ("c", &[V::Kk]),
    ("ɟ", &[V::Kk]),
    ("q", &[V::Kk]),
    ("ɢ", &[V::Kk]),
    ("ɴ", &[V::Kk]),
    ("x", &[V::Kk]),
    ("ɣ", &[V::Kk]),
    ("χ", &[V::Kk]),
    ("ʁ", &[V::Kk]),
    ("ʀ", &[V::Kk]),
    // Postalveolar, alveolo-palatal, retroflex and palatal fricatives.
    ("ʃ", &[V::CH]),
    ("ʒ", &[V::CH]),
    ("ɕ", &[V::CH]),
    ("ʑ", &[V::CH]),
    ("ʂ", &[V::CH]),
    ("ʐ", &[V::CH]),
    ("ç", &[V::CH]),
    ("ʝ", &[V::CH]),
    // Alveolar sibilants.
    ("s", &[V::SS]),
    ("z", &[V::SS]),
    // Alveolar, palatal and retroflex nasals and laterals.
    ("n", &[V::Nn]),
    ("l", &[V::Nn]),
    ("ɫ", &[V::Nn]),
    ("ɲ", &[V::Nn]),
    ("ɳ", &[V::Nn]),
    ("ɭ", &[V::Nn]),
    ("ʎ", &[V::Nn]),
    ("ʟ", &[V::Nn]),
    ("ɬ", &[V::Nn]),
    ("ɮ", &[V::Nn]),
    ("ɺ", &[V::Nn]),
    // Rhotics.
    ("ɹ", &[V::RR]),
    ("r", &[V::RR]),
    ("ɻ", &[V::RR]),
    ("ɚ", &[V::RR]),
    ("ɝ", &[V::RR]),
    // Open vowels.
    ("ɑ", &[V::Aa]),
    ("a", &[V::Aa]),
    ("ɐ", &[V::Aa]),
    ("æ", &[V::Aa]),
    ("ʌ", &[V::Aa]),
    ("ɶ", &[V::Aa]),
    // Mid unrounded vowels.
    ("ɛ", &[V::E]),
    ("e", &[V::E]),
    ("ə", &[V::E]),
    ("ɘ", &[V::E]),
    ("ɜ", &[V::E]),
    ("ɤ", &[V::E]),
    // Close unrounded vowels and the palatal glide.
    ("ɪ", &[V::Ih]),
    ("i", &[V::Ih]),
    ("ɨ", &[V::Ih]),
    ("ᵻ", &[V::Ih]),
    ("ɯ", &[V::Ih]),
    ("j", &[V::Ih]),
    // Mid rounded vowels.
    ("ɔ", &[V::Oh]),
    ("o", &[V::Oh]),
    ("ɒ", &[V::Oh]),
    ("ɵ", &[V::Oh]),
    ("ø", &[V::Oh]),
    ("œ", &[V::Oh]),
    ("ɞ", &[V::Oh]),
    // Close rounded vowels and labial glides.
    ("u", &[V::Ou]),
    ("ʊ", &[V::Ou]),
    ("ʉ", &[V::Ou]),
    ("y", &[V::Ou]),
    ("ʏ", &[V::Ou]),
    ("w", &[V::Ou]),
    ("ɥ", &[V::Ou]),
    ("ʍ", &[V::Ou]),
    // Glottals and pharyngeals: shape of the next phoneme.
    ("h", &[]),
    ("ɦ", &[]),
    ("ʔ", &[]),
    ("ħ", &[]),
    ("ʕ", &[]),
];

/// A stretch without phonemes at least this long shows the mouth at rest;
/// shorter gaps are bridged, because the lips do not close between words in
/// connected speech.
pub const PAUSE_MS: u32 = 60;

/// How long before a p/b/m the lips are already closed: the closure is
/// silent, so the engine's timing marks only the release.
pub const BILABIAL_LEAD_MS: u32 = 50;

/// What one phoneme event does to the mouth.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    /// A pause symbol (`_`, `|`, punctuation, empty).
    Pause,
    /// h, ʔ …: no shape of its own.
    Borrow,
    /// Nothing we recognise: holds the neighbour's shape.
    Unknown,
    Visemes(Vec<Viseme>),
}

/// Marks a pause rather than a phoneme: empty, or only prosodic and
/// punctuation symbols (espeak-style `_`, `_:`, IPA `|` `‖`).
pub fn is_pause(ipa: &str) -> bool {
    ipa.chars()
        .all(|c| c.is_whitespace() || "_|‖,.;:!?…-–—".contains(c))
}

/// Removes what does not change the viseme: stress (ˈ ˌ and ASCII ' ,),
/// length (ː ˑ), tie bars and every combining diacritic, modifier letters
/// (ʰ ʲ ʷ ˠ ˤ ⁿ ˡ ʼ ˞), tone letters and digits, syllable breaks. A superscript
/// schwa ᵊ is kept as ə, since it is sounded.
pub(crate) fn strip_marks(ipa: &str) -> String {
    let mut out = String::with_capacity(ipa.len());
    for c in ipa.chars() {
        let u = c as u32;
        let drop = matches!(
            c,
            'ˈ' | 'ˌ'
                | 'ː'
                | 'ˑ'
                | '\''
                | ','
                | '.'
                | '-'
                | '‿'
                | 'ʰ'
                | 'ʱ'
                | 'ʲ'
                | 'ʷ'
                | 'ˠ'
                | 'ˤ'
                | 'ⁿ'
                | 'ˡ'
                | 'ʼ'
                | '˞'
        ) || (0x0300..=0x036F).contains(&u)
            || (0x1DC0..=0x1DFF).contains(&u)
            || (0x02E5..=0x02E9).contains(&u)
            || c.is_ascii_digit()
            || c.is_whitespace();
        if c == 'ᵊ' {
            out.push('ə');
        } else if !drop {
            out.push(c);
        }
    }
    out
}

/// Splits a stripped phoneme into table entries (longest match first);
/// unknown characters are skipped.
fn units(stripped: &str) -> Vec<&'static [Viseme]> {
    let mut out = Vec::new();
    let mut rest = stripped;
    'outer: while let Some(c) = rest.chars().next() {
        for (sym, vis) in IPA_TABLE.iter().filter(|(s, _)| s.chars().count() == 2) {
            if rest.starts_with(sym) {
                out.push(*vis);
                rest = &rest[sym.len()..];
                continue 'outer;
            }
        }
        if let Some((_, vis)) = IPA_TABLE.iter().find(|(s, _)| {
            let mut it = s.chars();
            it.next() == Some(c) && it.next().is_none()
        }) {
            out.push(*vis);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The nasal flap is the one case where a stripped diacritic changes the
/// viseme, so it is recognised before stripping.
fn normalise(ipa: &str) -> String {
    strip_marks(&ipa.replace("ɾ̃", "\u{E000}")).replace('\u{E000}', "ɾ̃")
}

pub(crate) fn classify(ipa: &str) -> Shape {
    if is_pause(ipa) {
        return Shape::Pause;
    }
    let parts = units(&normalise(ipa));
    if parts.is_empty() {
        return Shape::Unknown;
    }
    let mut vis: Vec<Viseme> = Vec::new();
    for v in parts.iter().flat_map(|p| p.iter().copied()) {
        if vis.last() != Some(&v) {
            vis.push(v);
        }
    }
    if vis.is_empty() {
        Shape::Borrow
    } else {
        Shape::Visemes(vis)
    }
}

/// The visemes of one IPA phoneme, in order: one for most phonemes, two for
/// a diphthong (aɪ → aa ih), three for a triphthong (aɪə → aa ih E).
/// Stress, length, tie bars and diacritics are ignored. Empty for pauses,
/// unknown symbols, and h/ʔ (whose shape comes from the next phoneme; see
/// [`timeline_from_phonemes`]).
pub fn ipa_to_visemes(ipa: &str) -> Vec<Viseme> {
    match classify(ipa) {
        Shape::Visemes(v) => v,
        _ => Vec::new(),
    }
}

/// The IPA for one of the CMU dictionary's 39 ARPAbet phonemes
/// (case-insensitive; stress digits are ignored except that unstressed AH0
/// is ə and ER0 is ɚ).
pub fn arpabet_to_ipa(ph: &str) -> Option<&'static str> {
    let upper = ph.trim().to_ascii_uppercase();
    match upper.as_str() {
        "AH0" => return Some("ə"),
        "ER0" => return Some("ɚ"),
        _ => {}
    }
    let base = upper.trim_end_matches(|c: char| c.is_ascii_digit());
    Some(match base {
        "AA" => "ɑ",
        "AE" => "æ",
        "AH" => "ʌ",
        "AO" => "ɔ",
        "AW" => "aʊ",
        "AY" => "aɪ",
        "EH" => "ɛ",
        "ER" => "ɝ",
        "EY" => "eɪ",
        "IH" => "ɪ",
        "IY" => "i",
        "OW" => "oʊ",
        "OY" => "ɔɪ",
        "UH" => "ʊ",
        "UW" => "u",
        "B" => "b",
        "CH" => "tʃ",
        "D" => "d",
        "DH" => "ð",
        "F" => "f",
        "G" => "ɡ",
        "HH" => "h",
        "JH" => "dʒ",
        "K" => "k",
        "L" => "l",
        "M" => "m",
        "N" => "n",
        "NG" => "ŋ",
        "P" => "p",
        "R" => "ɹ",
        "S" => "s",
        "SH" => "ʃ",
        "T" => "t",
        "TH" => "θ",
        "V" => "v",
        "W" => "w",
        "Y" => "j",
        "Z" => "z",
        "ZH" => "ʒ",
        _ => return None,
    })
}

/// The visemes of each word, for previews and tests: h/ʔ take the next
/// phoneme's shape within the word, pauses and unknown symbols are dropped,
/// and repeats of the same viseme are merged (the mouth does not move).
pub fn words_to_visemes(word_phonemes: &[Vec<String>]) -> Vec<Vec<Viseme>> {
    word_phonemes
        .iter()
        .map(|word| {
            let shapes: Vec<Shape> = word.iter().map(|p| classify(p)).collect();
            let mut out: Vec<Viseme> = Vec::new();
            for (i, shape) in shapes.iter().enumerate() {
                let vis: Vec<Viseme> = match shape {
                    Shape::Visemes(v) => v.clone(),
                    Shape::Borrow => shapes[i + 1..]
                        .iter()
                        .find_map(|s| match s {
                            Shape::Visemes(v) => Some(vec![v[0]]),
                            _ => None,
                        })
                        .unwrap_or_default(),
                    Shape::Pause | Shape::Unknown => Vec::new(),
                };
                for v in vis {
                    if out.last() != Some(&v) {
                        out.push(v);
                    }
                }
            }
            out
        })
        .collect()
}

/// How a diphthong's (or triphthong's) span is shared between its parts:
/// the first target is held longest, the glide is shorter.
fn part_shares(n: usize) -> &'static [f32] {
    match n {
        1 => &[1.0],
        2 => &[0.6, 0.4],
        3 => &[0.45, 0.3, 0.25],
        _ => &[],
    }
}

#[derive(Clone, Copy, Debug)]
struct Seg {
    start: u32,
    end: u32,
    viseme: Viseme,
}

/// A viseme timeline from timed IPA phonemes, covering `[0, total_ms]`
/// exactly: ordered, contiguous cues with `start < end`, no two neighbours
/// with the same viseme.
///
/// - Each phoneme becomes its visemes; a diphthong's span is split 60/40
///   (a triphthong's 45/30/25).
/// - h and ʔ take the shape of the phoneme that follows them (the lips are
///   already moving to the vowel during the aspiration); unknown symbols hold
///   the shape before them.
/// - p/b/m start up to [`BILABIAL_LEAD_MS`] early, taken from the previous
///   cue (at most half of it, unless that is silence), never before 0: the
///   engine marks the burst, but the lips must already be closed.
/// - Stretches of at least [`PAUSE_MS`] without phonemes (gaps, pause
///   symbols), and the start and end, are `sil`; shorter gaps are bridged by
///   the phoneme before them.
/// - Times are clamped to `[0, total_ms]`; overlapping events are trimmed to
///   the end of the previous one. `total_ms == 0` gives an empty timeline.
pub fn timeline_from_phonemes(events: &[PhonemeEvent], total_ms: u32) -> Timeline {
    if total_ms == 0 {
        return Timeline::default();
    }
    let mut ev: Vec<(u32, u32, Shape)> = events
        .iter()
        .map(|e| {
            (
                e.start.min(total_ms),
                e.end.min(total_ms),
                classify(&e.phoneme),
            )
        })
        .filter(|(s, e, _)| s < e)
        .collect();
    ev.sort_by_key(|(s, e, _)| (*s, *e));
    let mut prev_end = 0;
    ev.retain_mut(|(s, e, _)| {
        *s = (*s).max(prev_end);
        if *s >= *e {
            return false;
        }
        prev_end = *e;
        true
    });

    // Whether events i and i+1 are in the same stretch of speech.
    let joined = |ev: &[(u32, u32, Shape)], i: usize| {
        ev[i + 1].0 - ev[i].1 < PAUSE_MS && ev[i].2 != Shape::Pause && ev[i + 1].2 != Shape::Pause
    };
    let forward = |ev: &[(u32, u32, Shape)], i: usize| -> Option<Viseme> {
        let mut j = i;
        while j + 1 < ev.len() && joined(ev, j) {
            j += 1;
            if let Shape::Visemes(v) = &ev[j].2 {
                return Some(v[0]);
            }
        }
        None
    };
    let backward = |ev: &[(u32, u32, Shape)], i: usize| -> Option<Viseme> {
        let mut j = i;
        while j > 0 && joined(ev, j - 1) {
            j -= 1;
            if let Shape::Visemes(v) = &ev[j].2 {
                return v.last().copied();
            }
        }
        None
    };

    let mut segs: Vec<Seg> = Vec::new();
    for (i, (start, end, shape)) in ev.iter().enumerate() {
        let vis: Vec<Viseme> = match shape {
            Shape::Pause => continue,
            Shape::Visemes(v) => v.clone(),
            Shape::Borrow => match forward(&ev, i).or_else(|| backward(&ev, i)) {
                Some(v) => vec![v],
                None => continue,
            },
            Shape::Unknown => match backward(&ev, i).or_else(|| forward(&ev, i)) {
                Some(v) => vec![v],
                None => continue,
            },
        };
        let shares = part_shares(vis.len().min(3));
        let span = (end - start) as f32;
        let mut acc = 0.0;
        let mut s = *start;
        for (k, v) in vis.iter().take(shares.len()).enumerate() {
            acc += shares[k];
            let e = if k + 1 == shares.len() {
                *end
            } else {
                start + (span * acc).round() as u32
            };
            if e > s {
                segs.push(Seg {
                    start: s,
                    end: e,
                    viseme: *v,
                });
            }
            s = e;
        }
    }

    // Fill the holes: silence where the speaker pauses, otherwise bridge.
    let mut filled: Vec<Seg> = Vec::with_capacity(segs.len() * 2 + 2);
    let mut cursor = 0;
    for seg in segs {
        if seg.start > cursor {
            if seg.start - cursor >= PAUSE_MS || filled.is_empty() {
                filled.push(Seg {
                    start: cursor,
                    end: seg.start,
                    viseme: V::Sil,
                });
            } else if let Some(last) = filled.last_mut() {
                last.end = seg.start;
            }
        }
        filled.push(seg);
        cursor = seg.end;
    }
    if cursor < total_ms {
        filled.push(Seg {
            start: cursor,
            end: total_ms,
            viseme: V::Sil,
        });
    }

    for i in 1..filled.len() {
        let (prev, cur) = (filled[i - 1], filled[i]);
        if cur.viseme == V::PP && prev.viseme != V::PP {
            let len = prev.end - prev.start;
            let available = if prev.viseme == V::Sil { len } else { len / 2 };
            let take = BILABIAL_LEAD_MS.min(available);
            filled[i - 1].end -= take;
            filled[i].start -= take;
        }
    }

    let mut cues: Vec<Cue> = Vec::with_capacity(filled.len());
    for seg in filled.into_iter().filter(|s| s.start < s.end) {
        match cues.last_mut() {
            Some(last) if last.viseme == seg.viseme => last.end = seg.end,
            _ => cues.push(Cue {
                viseme: seg.viseme,
                start: seg.start,
                end: seg.end,
            }),
        }
    }
    Timeline { cues }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Rng;

    fn ev(phoneme: &str, start: u32, end: u32) -> PhonemeEvent {
        PhonemeEvent {
            phoneme: phoneme.into(),
            start,
            end,
        }
    }

    fn cue(viseme: Viseme, start: u32, end: u32) -> Cue {
        Cue { viseme, start, end }
    }

    fn assert_well_formed(t: &Timeline, total: u32) {
        if total == 0 {
            assert!(t.cues.is_empty());
            return;
        }
        assert_eq!(t.cues.first().unwrap().start, 0, "{t:?}");
        assert_eq!(t.cues.last().unwrap().end, total, "{t:?}");
        for c in &t.cues {
            assert!(c.start < c.end, "{t:?}");
        }
        for w in t.cues.windows(2) {
            assert_eq!(w[0].end, w[1].start, "{t:?}");
            assert_ne!(w[0].viseme, w[1].viseme, "{t:?}");
        }
    }

    /// The whole table, written out independently of `IPA_TABLE`, so that a
    /// change to either shows up here.
    #[test]
    fn ipa_table_is_complete() {
        let expected: &[(&str, &str)] = &[
            ("tʃ", "CH"),
            ("dʒ", "CH"),
            ("tɕ", "CH"),
            ("dʑ", "CH"),
            ("tʂ", "CH"),
            ("dʐ", "CH"),
            ("ts", "SS"),
            ("dz", "SS"),
            ("pf", "FF"),
            ("ɾ̃", "nn"),
            ("əʊ", "oh ou"),
            ("p", "PP"),
            ("b", "PP"),
            ("m", "PP"),
            ("ɓ", "PP"),
            ("f", "FF"),
            ("v", "FF"),
            ("ɱ", "FF"),
            ("ʋ", "FF"),
            ("ɸ", "FF"),
            ("β", "FF"),
            ("θ", "TH"),
            ("ð", "TH"),
            ("t", "DD"),
            ("d", "DD"),
            ("ʈ", "DD"),
            ("ɖ", "DD"),
            ("ɗ", "DD"),
            ("ɾ", "DD"),
            ("ɽ", "DD"),
            ("k", "kk"),
            ("g", "kk"),
            ("ɡ", "kk"),
            ("ŋ", "kk"),
            ("c", "kk"),
            ("ɟ", "kk"),
            ("q", "kk"),
            ("ɢ", "kk"),
            ("ɴ", "kk"),
            ("x", "kk"),
            ("ɣ", "kk"),
            ("χ", "kk"),
            ("ʁ", "kk"),
            ("ʀ", "kk"),
            ("ʃ", "CH"),
            ("ʒ", "CH"),
            ("ɕ", "CH"),
            ("ʑ", "CH"),
            ("ʂ", "CH"),
            ("ʐ", "CH"),
            ("ç", "CH"),
            ("ʝ", "CH"),
            ("s", "SS"),
            ("z", "SS"),
            ("n", "nn"),
            ("l", "nn"),
            ("ɫ", "nn"),
            ("ɲ", "nn"),
            ("ɳ", "nn"),
            ("ɭ", "nn"),
            ("ʎ", "nn"),
            ("ʟ", "nn"),
            ("ɬ", "nn"),
            ("ɮ", "nn"),
            ("ɺ", "nn"),
            ("ɹ", "RR"),
            ("r", "RR"),
            ("ɻ", "RR"),
            ("ɚ", "RR"),
            ("ɝ", "RR"),
            ("ɑ", "aa"),
            ("a", "aa"),
            ("ɐ", "aa"),
            ("æ", "aa"),
            ("ʌ", "aa"),
            ("ɶ", "aa"),
            ("ɛ", "E"),
            ("e", "E"),
            ("ə", "E"),
            ("ɘ", "E"),
            ("ɜ", "E"),
            ("ɤ", "E"),
            ("ɪ", "ih"),
            ("i", "ih"),
            ("ɨ", "ih"),
            ("ᵻ", "ih"),
            ("ɯ", "ih"),
            ("j", "ih"),
            ("ɔ", "oh"),
            ("o", "oh"),
            ("ɒ", "oh"),
            ("ɵ", "oh"),
            ("ø", "oh"),
            ("œ", "oh"),
            ("ɞ", "oh"),
            ("u", "ou"),
            ("ʊ", "ou"),
            ("ʉ", "ou"),
            ("y", "ou"),
            ("ʏ", "ou"),
            ("w", "ou"),
            ("ɥ", "ou"),
            ("ʍ", "ou"),
            ("h", ""),
            ("ɦ", ""),
            ("ʔ", ""),
            ("ħ", ""),
            ("ʕ", ""),
        ];
        assert_eq!(expected.len(), IPA_TABLE.len());
        for ((sym, names), (tsym, tvis)) in expected.iter().zip(IPA_TABLE) {
            assert_eq!(sym, tsym);
            let want: Vec<Viseme> = names
                .split_whitespace()
                .map(|n| Viseme::from_name(n).unwrap())
                .collect();
            assert_eq!(&want[..], *tvis, "{sym}");
            assert_eq!(ipa_to_visemes(sym), want, "{sym}");
        }
        // Every viseme but sil is reachable.
        for v in Viseme::ALL.into_iter().skip(1) {
            assert!(IPA_TABLE.iter().any(|(_, t)| t.contains(&v)), "{v:?}");
        }
    }

    #[test]
    fn marks_are_stripped() {
        assert_eq!(ipa_to_visemes("ˈɑː"), vec![V::Aa]);
        assert_eq!(ipa_to_visemes("ˌiː"), vec![V::Ih]);
        assert_eq!(ipa_to_visemes("t͡ʃ"), vec![V::CH]);
        assert_eq!(ipa_to_visemes("d͜ʒ"), vec![V::CH]);
        assert_eq!(ipa_to_visemes("tʰ"), vec![V::DD]);
        assert_eq!(ipa_to_visemes("n̩"), vec![V::Nn]);
        assert_eq!(ipa_to_visemes("ɑ̃"), vec![V::Aa]);
        assert_eq!(ipa_to_visemes("ɾ̃"), vec![V::Nn]);
        assert_eq!(ipa_to_visemes("ɾ"), vec![V::DD]);
        assert_eq!(ipa_to_visemes("ᵊ"), vec![V::E]);
        assert_eq!(ipa_to_visemes("ɚ"), vec![V::RR]);
    }

    #[test]
    fn diphthongs_split_and_affricates_do_not() {
        let cases: &[(&str, &[Viseme])] = &[
            ("aɪ", &[V::Aa, V::Ih]),
            ("ˈaɪ", &[V::Aa, V::Ih]),
            ("eɪ", &[V::E, V::Ih]),
            ("ɔɪ", &[V::Oh, V::Ih]),
            ("aʊ", &[V::Aa, V::Ou]),
            ("oʊ", &[V::Oh, V::Ou]),
            ("əʊ", &[V::Oh, V::Ou]),
            ("ɪə", &[V::Ih, V::E]),
            ("eə", &[V::E]),
            ("ʊə", &[V::Ou, V::E]),
            ("aɪə", &[V::Aa, V::Ih, V::E]),
            ("tʃ", &[V::CH]),
            ("dʒ", &[V::CH]),
            ("ts", &[V::SS]),
        ];
        for (ipa, want) in cases {
            assert_eq!(ipa_to_visemes(ipa), *want, "{ipa}");
        }
    }

    #[test]
    fn unknown_and_pauses_are_empty() {
        for s in ["", " ", "_", "_:", "|", "‖", ",", "?", "#", "ˈ", "☃", "ˈː"] {
            assert!(ipa_to_visemes(s).is_empty(), "{s:?}");
        }
        assert!(ipa_to_visemes("h").is_empty());
        assert!(ipa_to_visemes("ʔ").is_empty());
        assert!(is_pause("_"));
        assert!(!is_pause("a"));
    }

    #[test]
    fn arpabet_covers_the_cmu_set() {
        let all = [
            ("AA1", "ɑ"),
            ("AE", "æ"),
            ("AH1", "ʌ"),
            ("AH0", "ə"),
            ("AO", "ɔ"),
            ("AW", "aʊ"),
            ("AY2", "aɪ"),
            ("EH", "ɛ"),
            ("ER1", "ɝ"),
            ("ER0", "ɚ"),
            ("EY", "eɪ"),
            ("IH", "ɪ"),
            ("IY", "i"),
            ("OW", "oʊ"),
            ("OY", "ɔɪ"),
            ("UH", "ʊ"),
            ("UW", "u"),
            ("B", "b"),
            ("CH", "tʃ"),
            ("D", "d"),
            ("DH", "ð"),
            ("F", "f"),
            ("G", "ɡ"),
            ("HH", "h"),
            ("JH", "dʒ"),
            ("K", "k"),
            ("L", "l"),
            ("M", "m"),
            ("N", "n"),
            ("NG", "ŋ"),
            ("P", "p"),
            ("R", "ɹ"),
            ("S", "s"),
            ("SH", "ʃ"),
            ("T", "t"),
            ("TH", "θ"),
            ("V", "v"),
            ("W", "w"),
            ("Y", "j"),
            ("Z", "z"),
            ("ZH", "ʒ"),
        ];
        for (a, ipa) in all {
            assert_eq!(arpabet_to_ipa(a), Some(ipa), "{a}");
            // Every ARPAbet phoneme has a viseme (or borrows one, HH).
            assert!(!ipa_to_visemes(ipa).is_empty() || a == "HH", "{a}");
        }
        assert_eq!(arpabet_to_ipa("ow0"), Some("oʊ"));
        assert_eq!(arpabet_to_ipa("XX"), None);
        assert_eq!(arpabet_to_ipa(""), None);
    }

    #[test]
    fn words_to_visemes_borrows_and_merges() {
        let words = vec![
            vec!["h".to_string(), "ə".into(), "l".into(), "ˈoʊ".into()],
            vec!["m".to_string(), "ˈɑː".into(), "m".into(), "ə".into()],
            vec!["ʔ".to_string()],
        ];
        assert_eq!(
            words_to_visemes(&words),
            vec![
                vec![V::E, V::Nn, V::Oh, V::Ou],
                vec![V::PP, V::Aa, V::PP, V::E],
                vec![],
            ]
        );
    }

    #[test]
    fn timeline_splits_diphthong_60_40() {
        let t = timeline_from_phonemes(&[ev("aɪ", 100, 300)], 400);
        assert_eq!(
            t.cues,
            vec![
                cue(V::Sil, 0, 100),
                cue(V::Aa, 100, 220),
                cue(V::Ih, 220, 300),
                cue(V::Sil, 300, 400),
            ]
        );
    }

    #[test]
    fn h_takes_the_following_vowel() {
        // "hello": h ə l oʊ
        let t = timeline_from_phonemes(
            &[
                ev("h", 100, 160),
                ev("ə", 160, 220),
                ev("l", 220, 280),
                ev("ˈoʊ", 280, 480),
            ],
            600,
        );
        assert_eq!(
            t.cues,
            vec![
                cue(V::Sil, 0, 100),
                cue(V::E, 100, 220),
                cue(V::Nn, 220, 280),
                cue(V::Oh, 280, 400),
                cue(V::Ou, 400, 480),
                cue(V::Sil, 480, 600),
            ]
        );
        // Glottal stop before a vowel, and h at the very end borrows backwards.
        let t = timeline_from_phonemes(&[ev("ʔ", 0, 40), ev("ɑ", 40, 140), ev("h", 140, 180)], 180);
        assert_eq!(t.cues, vec![cue(V::Aa, 0, 180)]);
    }

    #[test]
    fn bilabials_get_a_closure_lead_in() {
        // "a map": ə m æ p
        let t = timeline_from_phonemes(
            &[
                ev("ə", 100, 180),
                ev("m", 180, 260),
                ev("æ", 260, 400),
                ev("p", 400, 460),
            ],
            500,
        );
        assert_eq!(
            t.cues,
            vec![
                cue(V::Sil, 0, 100),
                cue(V::E, 100, 140),
                cue(V::PP, 140, 260),
                cue(V::Aa, 260, 350),
                cue(V::PP, 350, 460),
                cue(V::Sil, 460, 500),
            ]
        );
        // From silence the full lead is taken, but never before 0.
        let t = timeline_from_phonemes(&[ev("b", 200, 260), ev("i", 260, 400)], 400);
        assert_eq!(t.cues[0], cue(V::Sil, 0, 150));
        assert_eq!(t.cues[1], cue(V::PP, 150, 260));
        let t = timeline_from_phonemes(&[ev("b", 20, 80), ev("i", 80, 200)], 200);
        assert_eq!(t.cues[0], cue(V::PP, 0, 80));
    }

    #[test]
    fn pauses_and_ends_are_silence() {
        let t = timeline_from_phonemes(
            &[
                ev("s", 50, 150),
                ev("ɛ", 150, 250),
                // A 40 ms gap is bridged …
                ev("n", 290, 350),
                ev("_", 350, 420),
                // … a 100 ms pause symbol (plus gap) is not.
                ev("t", 450, 500),
            ],
            700,
        );
        assert_eq!(
            t.cues,
            vec![
                cue(V::Sil, 0, 50),
                cue(V::SS, 50, 150),
                cue(V::E, 150, 290),
                cue(V::Nn, 290, 350),
                cue(V::Sil, 350, 450),
                cue(V::DD, 450, 500),
                cue(V::Sil, 500, 700),
            ]
        );
        assert_eq!(
            timeline_from_phonemes(&[], 300).cues,
            vec![cue(V::Sil, 0, 300)]
        );
        assert!(timeline_from_phonemes(&[ev("a", 0, 10)], 0).cues.is_empty());
    }

    #[test]
    fn clamps_and_merges() {
        let t = timeline_from_phonemes(
            &[
                ev("s", 0, 100),
                ev("z", 100, 200),
                // Overlaps the previous one and runs past the end.
                ev("ɑ", 150, 900),
            ],
            500,
        );
        assert_eq!(t.cues, vec![cue(V::SS, 0, 200), cue(V::Aa, 200, 500)]);
        // Unknown symbols hold the shape before them.
        let t = timeline_from_phonemes(
            &[ev("i", 0, 100), ev("#", 100, 200), ev("u", 200, 300)],
            300,
        );
        assert_eq!(t.cues, vec![cue(V::Ih, 0, 200), cue(V::Ou, 200, 300)]);
    }

    #[test]
    fn random_inputs_give_well_formed_timelines() {
        let symbols = [
            "p", "b", "m", "aɪ", "oʊ", "h", "ʔ", "_", "", "s", "ə", "tʃ", "ŋ", "#", "ˈɑː", "aɪə",
            "ɹ", "w", "θ",
        ];
        let mut rng = Rng::new(7);
        for round in 0..500 {
            let total = rng.below(3000) as u32;
            let n = rng.below(30);
            let mut events = Vec::new();
            let mut t = rng.below(200) as u32;
            for _ in 0..n {
                let len = rng.below(250) as u32;
                let start = if rng.below(10) == 0 {
                    t.saturating_sub(rng.below(100) as u32)
                } else {
                    t + rng.below(120) as u32
                };
                events.push(ev(symbols[rng.below(symbols.len())], start, start + len));
                t = start + len;
            }
            if round % 3 == 0 {
                // Unsorted input.
                events.reverse();
            }
            let tl = timeline_from_phonemes(&events, total);
            assert_well_formed(&tl, total);
        }
    }

    #[test]
    fn timeline_serialises_as_a_list_of_cues() {
        let t = Timeline {
            cues: vec![cue(V::PP, 0, 80), cue(V::Aa, 80, 200)],
        };
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"[{"viseme":"PP","start":0,"end":80},{"viseme":"aa","start":80,"end":200}]"#
        );
        let back: Timeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
