//! Sentence-by-sentence synthesis, so the first audio plays long before a
//! long reply is synthesised, and joining the parts back into one
//! [`Speech`].

use futures::{Stream, StreamExt, TryStreamExt};

use avatarium_lipsync::{Cue, Timeline, WordTiming};

use crate::wav::resample_linear;
use crate::{Speech, SpeechRequest, TtsEngine, TtsError};

/// Sentences longer than this (in characters) are split at a clause break
/// near it: a sentence is synthesised as one job, and a very long one would
/// delay the first audio again.
pub const MAX_SENTENCE_CHARS: usize = 250;

/// Abbreviations whose full stop does not end a sentence, lowercase and
/// without the final dot. Titles are always followed by a name; the others
/// almost never end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "capt", "col", "gen", "gov",
    "lt", "sgt", "rev", "hon", "sen", "rep", "pres", "vs", "etc", "e.g", "i.e", "cf", "approx",
    "ca", "no", "nos", "vol", "fig", "figs", "p", "pp", "ch", "sec", "dept", "inc", "ltd", "co",
    "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "mon", "tue", "wed", "thu", "fri", "sat", "sun", "u.s", "u.k", "a.m", "p.m",
];

/// "etc." is an abbreviation that often does end a sentence; when the next
/// word is capitalised it is taken to.
const ENDS_WHEN_CAPITALISED: &[&str] = &["etc", "a.m", "p.m", "u.s", "u.k"];

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '。' | '！' | '？')
}

fn is_closing(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '»' | '”' | '’' | '」' | '』'
    )
}

/// Splits text into sentences for synthesis. A sentence ends at `.`, `!`,
/// `?` or `…` (with any closing quotes or brackets) before whitespace, at
/// CJK full stops, and at blank lines. Not split: abbreviations ("Dr.",
/// "e.g."), initials ("J. R. R."), decimals and URLs (no space after the
/// dot), and ellipses followed by a lowercase word. Sentences longer than
/// [`MAX_SENTENCE_CHARS`] are split at the last comma, semicolon, colon or
/// dash before the limit (else at a space). Whitespace inside a sentence is
/// collapsed.
pub fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            // A blank line ends a paragraph, and with it the sentence.
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\n' && chars[j].is_whitespace() {
                j += 1;
            }
            if j < chars.len() && chars[j] == '\n' {
                push_sentence(&mut sentences, &chars[start..i]);
                start = j + 1;
                i = j + 1;
                continue;
            }
        }
        if matches!(c, '。' | '！' | '？') {
            let mut end = i + 1;
            while end < chars.len() && (is_closing(chars[end]) || is_terminator(chars[end])) {
                end += 1;
            }
            push_sentence(&mut sentences, &chars[start..end]);
            start = end;
            i = end;
            continue;
        }
        if !is_terminator(c) {
            i += 1;
            continue;
        }
        // The whole run of terminators and closing marks: "?!", "...", ".)".
        let mut end = i + 1;
        while end < chars.len() && (is_terminator(chars[end]) || is_closing(chars[end])) {
            end += 1;
        }
        if end < chars.len() && !chars[end].is_whitespace() {
            i = end;
            continue;
        }
        let next = chars[end..].iter().copied().find(|c| !c.is_whitespace());
        if ends_sentence(&chars[start..i], &chars[i..end], next) {
            push_sentence(&mut sentences, &chars[start..end]);
            start = end;
        }
        i = end;
    }
    push_sentence(&mut sentences, &chars[start..]);
    sentences.into_iter().flat_map(|s| split_long(&s)).collect()
}

/// Whether the terminators `marks` after `before` end the sentence, given
/// the next non-space character.
fn ends_sentence(before: &[char], marks: &[char], next: Option<char>) -> bool {
    let Some(next) = next else { return true };
    let next_lower = next.is_lowercase();
    let ellipsis = marks.contains(&'…') || marks.iter().filter(|&&c| c == '.').count() >= 2;
    if ellipsis || marks.iter().any(|&c| matches!(c, '!' | '?')) {
        // "Wait... what?" and "Really?! no" go on; a capital starts anew.
        return !next_lower;
    }
    // A lone full stop: look at the word before it.
    let word_start = before
        .iter()
        .rposition(|c| c.is_whitespace() || *c == '(' || *c == '"')
        .map_or(0, |p| p + 1);
    let word: String = before[word_start..]
        .iter()
        .collect::<String>()
        .to_lowercase();
    if next_lower || (next.is_ascii_digit() && ABBREVIATIONS.contains(&word.as_str())) {
        // A lowercase word (or "No. 5") after the dot: same sentence.
        return false;
    }
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 1 && word.chars().next().is_some_and(char::is_alphabetic) {
        // An initial: "J. Smith".
        return false;
    }
    if ABBREVIATIONS.contains(&word.as_str()) {
        return ENDS_WHEN_CAPITALISED.contains(&word.as_str()) && next.is_uppercase();
    }
    true
}

fn push_sentence(out: &mut Vec<String>, chars: &[char]) {
    let s: String = chars
        .iter()
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !s.is_empty() {
        out.push(s);
    }
}

/// Splits an over-long sentence at clause breaks (else spaces) so that no
/// piece is longer than [`MAX_SENTENCE_CHARS`] where avoidable.
fn split_long(sentence: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = sentence.chars().collect();
    while rest.len() > MAX_SENTENCE_CHARS {
        let window = &rest[..=MAX_SENTENCE_CHARS];
        // Not too early either, or the pieces get choppy.
        let min = MAX_SENTENCE_CHARS / 3;
        let after_space = |i: usize| window.get(i + 1).is_some_and(|c| c.is_whitespace());
        let clause = (min..window.len())
            .rev()
            .find(|&i| matches!(window[i], ',' | ';' | ':' | '—' | '–') && after_space(i))
            .map(|i| i + 1);
        let space = || {
            (min..window.len())
                .rev()
                .find(|&i| window[i].is_whitespace())
        };
        let cut = clause.or_else(space).unwrap_or(MAX_SENTENCE_CHARS);
        push_sentence(&mut out, &rest[..cut]);
        rest.drain(..cut);
    }
    push_sentence(&mut out, &rest);
    out
}

/// Synthesises `req.text` sentence by sentence: one [`Speech`] per sentence
/// of [`split_sentences`], in order. The next sentence is synthesised while
/// the caller handles the current one (at most two in flight), so playback
/// can start after the first sentence. The stream ends after the first
/// error. Text with no sentences yields the engine's answer for it (a bad
/// request).
pub fn synthesize_stream<'a>(
    engine: &'a dyn TtsEngine,
    req: SpeechRequest,
) -> impl Stream<Item = Result<Speech, TtsError>> + 'a {
    let mut sentences = split_sentences(&req.text);
    if sentences.is_empty() {
        sentences.push(req.text.clone());
    }
    futures::stream::iter(sentences)
        .map(move |text| {
            let req = SpeechRequest {
                text,
                ..req.clone()
            };
            async move { engine.synthesize(&req).await }
        })
        .buffered(2)
        .scan(false, |failed, item| {
            let item = if *failed { None } else { Some(item) };
            *failed = matches!(item, Some(Err(_)));
            futures::future::ready(item)
        })
}

/// Synthesises `req.text` sentence by sentence, as [`synthesize_stream`]
/// does, and joins the parts ([`concat`]) into one [`Speech`]: the next
/// sentence is synthesised while the last one's visemes and word timings
/// are worked out, so a long text is ready sooner than in one call.
pub async fn synthesize_joined(
    engine: &dyn TtsEngine,
    req: SpeechRequest,
) -> Result<Speech, TtsError> {
    synthesize_stream(engine, req)
        .try_collect()
        .await
        .map(concat)
}

/// How precise a viseme source is; joined speech reports its least precise
/// part's.
fn source_rank(source: &str) -> u8 {
    match source {
        "engine" => 0,
        "alignment" => 1,
        "g2p" => 2,
        _ => 3,
    }
}

/// Joins speech parts into one: audio appended, visemes and word timings
/// shifted by the running offset (one timeline covering the whole audio,
/// neighbouring equal visemes merged). Parts at another sample rate than
/// the first are resampled to it. Voice and provider are the first part's;
/// the viseme source is the least precise part's.
pub fn concat(parts: Vec<Speech>) -> Speech {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Speech {
            samples: Vec::new(),
            sample_rate: 0,
            visemes: Timeline::default(),
            words: Vec::new(),
            voice_id: String::new(),
            provider: String::new(),
            viseme_source: "engine",
        };
    };
    let rate = first.sample_rate;
    let mut out = Speech {
        samples: Vec::new(),
        visemes: Timeline::default(),
        words: Vec::new(),
        ..first.clone()
    };
    for part in std::iter::once(first).chain(parts) {
        let offset = out.duration_ms();
        let old_ms = part.duration_ms();
        let converted = part.sample_rate != rate && rate != 0;
        if converted {
            out.samples
                .extend(resample_linear(&part.samples, part.sample_rate, rate));
        } else {
            out.samples.extend_from_slice(&part.samples);
        }
        let end = out.duration_ms();
        let new_ms = end - offset;
        if source_rank(part.viseme_source) > source_rank(out.viseme_source) {
            out.viseme_source = part.viseme_source;
        }
        // Rate conversion can change the length by a sample; times are
        // scaled to the span the part now occupies.
        let scale = |t: u32| -> u32 {
            let t = if converted && old_ms > 0 {
                (u64::from(t) * u64::from(new_ms) / u64::from(old_ms)) as u32
            } else {
                t
            };
            (offset + t).min(end)
        };
        for cue in &part.visemes.cues {
            push_cue(
                &mut out.visemes,
                Cue {
                    viseme: cue.viseme,
                    start: scale(cue.start),
                    end: scale(cue.end),
                },
            );
        }
        out.words.extend(part.words.iter().map(|w| WordTiming {
            word: w.word.clone(),
            start: scale(w.start),
            end: scale(w.end),
        }));
        // Parts' timelines end at their own audio end; rounding can leave
        // a millisecond uncovered.
        if let Some(last) = out.visemes.cues.last_mut()
            && last.end < end
            && last.end + 2 >= end
        {
            last.end = end;
        }
    }
    out
}

/// Appends a cue so that the timeline stays contiguous and merged.
fn push_cue(timeline: &mut Timeline, mut cue: Cue) {
    if let Some(last) = timeline.cues.last_mut() {
        cue.start = cue.start.max(last.end);
        if cue.start > last.end {
            // Gaps of rounding size: the previous shape holds.
            last.end = cue.start;
        }
        if cue.end <= cue.start {
            return;
        }
        if last.viseme == cue.viseme {
            last.end = cue.end;
            return;
        }
    } else if cue.end <= cue.start {
        return;
    }
    timeline.cues.push(cue);
}

#[cfg(test)]
mod tests {
    use super::*;
    use avatarium_lipsync::Viseme;

    fn speech(ms: u32, cues: &[(Viseme, u32, u32)], words: &[(&str, u32, u32)]) -> Speech {
        Speech {
            samples: vec![0; (ms * 16) as usize],
            sample_rate: 16000,
            visemes: Timeline {
                cues: cues
                    .iter()
                    .map(|&(viseme, start, end)| Cue { viseme, start, end })
                    .collect(),
            },
            words: words
                .iter()
                .map(|&(w, start, end)| WordTiming {
                    word: w.into(),
                    start,
                    end,
                })
                .collect(),
            voice_id: "v".into(),
            provider: "p".into(),
            viseme_source: "engine",
        }
    }

    #[test]
    fn concat_shifts_and_merges() {
        use Viseme::*;
        let a = speech(
            100,
            &[(Sil, 0, 10), (Aa, 10, 90), (Sil, 90, 100)],
            &[("a", 10, 90)],
        );
        let b = speech(
            50,
            &[(Sil, 0, 5), (PP, 5, 45), (Sil, 45, 50)],
            &[("b", 5, 45)],
        );
        let mut b2 = b.clone();
        b2.viseme_source = "g2p";
        let joined = concat(vec![a, b2]);
        assert_eq!(joined.duration_ms(), 150);
        assert_eq!(joined.viseme_source, "g2p");
        let cues: Vec<_> = joined
            .visemes
            .cues
            .iter()
            .map(|c| (c.viseme, c.start, c.end))
            .collect();
        assert_eq!(
            cues,
            vec![
                (Sil, 0, 10),
                (Aa, 10, 90),
                (Sil, 90, 105),
                (PP, 105, 145),
                (Sil, 145, 150)
            ]
        );
        assert_eq!((joined.words[1].start, joined.words[1].end), (105, 145));
    }
}
