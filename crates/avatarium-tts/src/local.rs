//! The offline voice: libespeak-ng in process, with phoneme and word
//! timings straight from its synthesis events, so the visemes are the ones
//! the audio was made from (`viseme_source` "engine").
//!
//! espeak-ng keeps global state and is not thread-safe, so one dedicated
//! worker thread per process owns it (see [`worker`]); every [`LocalTts`]
//! sends jobs there and awaits the reply, and the async runtime never
//! blocks on synthesis.

mod english;
mod ffi;
mod worker;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use avatarium_lipsync::phonemes::{PAUSE_MS, is_pause, timeline_from_phonemes};
use avatarium_lipsync::{PhonemeEvent, Timeline, Viseme, WordTiming};

use crate::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};
use ffi::{EVENT_PHONEME, EVENT_WORD, Event};
use worker::{Catalog, Job, Raw, Resolved};

/// espeak's normal rate; `speed` 1.0.
pub const BASE_RATE_WPM: f32 = 175.0;
pub const MIN_RATE_WPM: i32 = 80;
pub const MAX_RATE_WPM: i32 = 450;
pub const DEFAULT_VOICE: &str = "en-us";

/// Variants listed in [`TtsEngine::voices`] for the main English voices
/// (espeak's numbered male and female variants). Any `LANG+VARIANT` with a
/// variant espeak ships is accepted; listing every pair would bury the
/// languages under ~10,000 entries.
const LISTED_VARIANTS: &[&str] = &[
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
];
const LISTED_VARIANT_LANGS: &[&str] = &["en-us", "en-gb"];

/// The espeak-ng voice. Cheap to create and clone: every instance talks to
/// the same process-wide worker.
#[derive(Clone, Debug, Default)]
pub struct LocalTts {
    _private: (),
}

impl LocalTts {
    pub fn new() -> Self {
        Self::default()
    }

    /// A process-wide instance, for callers without one of their own
    /// (alignment of cloud audio).
    pub fn shared() -> &'static LocalTts {
        static SHARED: LocalTts = LocalTts { _private: () };
        &SHARED
    }

    /// espeak's phonemes for `text`, per word, in IPA: `(word, phonemes)`
    /// with one entry per whitespace-separated word of `text` that has
    /// letters or digits (punctuation stays attached to its word, as
    /// `fit_phonemes` wants it). Async because espeak runs on its worker
    /// thread. `voice` picks the language (default `en-us`).
    ///
    /// Each word is converted within its clause, so context such as "the"
    /// before a vowel is honoured, and numbers are read out ("1990" gets
    /// the phonemes of "nineteen ninety"). For American English voices the
    /// phonemes carry the learned correction toward the CMU dictionary
    /// (one phoneme for one, so timings are unchanged), as the synthesised
    /// timeline does.
    pub async fn phonemize(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, TtsError> {
        self.words(text, voice, true).await
    }

    /// [`phonemize`](Self::phonemize) without the learned correction of
    /// American English (`data/g2p_corrections.json`, applied to `en-us`
    /// voices): espeak's own reading, as the correction is trained on and
    /// measured against.
    pub async fn phonemize_uncorrected(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, TtsError> {
        self.words(text, voice, false).await
    }

    async fn words(
        &self,
        text: &str,
        voice: Option<&str>,
        correct: bool,
    ) -> Result<Vec<(String, Vec<String>)>, TtsError> {
        Ok(self
            .reading_with(text, voice, correct)
            .await?
            .words
            .into_iter()
            .map(|w| (w.word, w.phonemes.into_iter().map(|p| p.phoneme).collect()))
            .collect())
    }

    /// espeak reading `text` at its normal rate: the audio, every phoneme
    /// span (pauses included) and the words with their phoneme spans. For
    /// timing other audio of the same text against it.
    pub(crate) async fn reading(
        &self,
        text: &str,
        voice: Option<&str>,
    ) -> Result<Reading, TtsError> {
        self.reading_with(text, voice, true).await
    }

    async fn reading_with(
        &self,
        text: &str,
        voice: Option<&str>,
        correct: bool,
    ) -> Result<Reading, TtsError> {
        let voice = self.resolve_voice(voice).await?;
        if text.trim().is_empty() {
            return Ok(Reading {
                samples: Vec::new(),
                sample_rate: 0,
                phonemes: Vec::new(),
                words: Vec::new(),
            });
        }
        let mut raw = self
            .run(|reply| Job::Synth {
                text: text.to_owned(),
                voice: voice.espeak,
                rate: rate_wpm(None),
                pitch: pitch_value(None),
                reply,
            })
            .await?;
        normalise_phonemes(&mut raw.events, &voice.id);
        if correct {
            english::correct_events(text, &mut raw.events, &voice.id);
        }
        let total = ms(raw.samples.len(), raw.sample_rate);
        let spans = phoneme_spans(&raw.events, total);
        let words = spoken_words(text, &raw.events, &spans);
        Ok(Reading {
            samples: raw.samples,
            sample_rate: raw.sample_rate,
            phonemes: spans.into_iter().map(|(_, p)| p).collect(),
            words,
        })
    }

    /// Whether `id` is a voice this engine accepts (`en-us`, `de`,
    /// `en-gb+f3`…).
    pub async fn has_voice(&self, id: &str) -> bool {
        self.resolve_voice(Some(id)).await.is_ok()
    }

    async fn catalog(&self) -> Result<Arc<Catalog>, TtsError> {
        static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
        if let Some(c) = CATALOG.get() {
            return Ok(c.clone());
        }
        let catalog = self.run(|reply| Job::Catalog { reply }).await?;
        Ok(CATALOG.get_or_init(|| catalog).clone())
    }

    /// The voice for a requested id (default: [`DEFAULT_VOICE`]), or
    /// UnknownVoice.
    async fn resolve_voice(&self, voice: Option<&str>) -> Result<Resolved, TtsError> {
        let requested = voice
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_VOICE);
        let catalog = self.catalog().await?;
        catalog
            .resolve(requested)
            .ok_or_else(|| TtsError::UnknownVoice(requested.to_owned()))
    }

    async fn run<T>(
        &self,
        job: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, TtsError>>) -> Job,
    ) -> Result<T, TtsError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        worker::submit(job(tx))?;
        rx.await
            .map_err(|_| TtsError::Engine("the espeak-ng worker stopped".into()))?
    }
}

#[async_trait]
impl TtsEngine for LocalTts {
    fn id(&self) -> &str {
        "local"
    }

    fn default_voice(&self) -> &str {
        DEFAULT_VOICE
    }

    async fn voices(&self) -> Vec<Voice> {
        let Ok(catalog) = self.catalog().await else {
            return Vec::new();
        };
        let mut out: Vec<Voice> = catalog
            .voices
            .iter()
            .map(|v| Voice {
                id: v.id.clone(),
                name: v.name.clone(),
                language: v.id.clone(),
                gender: gender(v.gender),
                provider: "local".into(),
                offline: true,
            })
            .collect();
        for lang in LISTED_VARIANT_LANGS {
            let Some(base) = catalog.voices.iter().find(|v| v.id == *lang) else {
                continue;
            };
            for variant in LISTED_VARIANTS {
                let Some(var) = catalog.variant(variant) else {
                    continue;
                };
                out.push(Voice {
                    id: format!("{}+{}", base.id, var.id),
                    name: format!("{} ({})", base.name, var.name),
                    language: base.id.clone(),
                    gender: gender(var.gender),
                    provider: "local".into(),
                    offline: true,
                });
            }
        }
        out
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        if req.text.trim().is_empty() {
            return Err(TtsError::BadRequest("there is no text to speak".into()));
        }
        let voice = self.resolve_voice(req.voice.as_deref()).await?;
        let rate = rate_wpm(req.speed);
        let pitch = pitch_value(req.pitch);
        let text = req.text.clone();
        let mut raw = self
            .run(|reply| Job::Synth {
                text,
                voice: voice.espeak,
                rate,
                pitch,
                reply,
            })
            .await?;
        normalise_phonemes(&mut raw.events, &voice.id);
        english::correct_events(&req.text, &mut raw.events, &voice.id);
        Ok(speech_from_raw(&req.text, raw, voice.id))
    }
}

/// Forgets the words whose corrections are remembered across calls, so a
/// benchmark that speaks the same text again measures it cold.
pub fn forget_remembered_words() {
    english::forget();
}

fn gender(g: u8) -> Option<String> {
    match g {
        1 => Some("male".into()),
        2 => Some("female".into()),
        _ => None,
    }
}

/// `speed` 1.0 is espeak's normal 175 words/min.
pub fn rate_wpm(speed: Option<f32>) -> i32 {
    let speed = speed.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(1.0);
    ((BASE_RATE_WPM * speed).round() as i32).clamp(MIN_RATE_WPM, MAX_RATE_WPM)
}

/// `pitch` 1.0 is espeak's normal 50 (of 0–100).
pub fn pitch_value(pitch: Option<f32>) -> i32 {
    let pitch = pitch.filter(|p| p.is_finite() && *p >= 0.0).unwrap_or(1.0);
    ((50.0 * pitch).round() as i32).clamp(0, 100)
}

fn ms(samples: usize, rate: u32) -> u32 {
    if rate == 0 {
        0
    } else {
        (samples as u64 * 1000 / u64::from(rate)) as u32
    }
}

/// Rewrites espeak's English-specific symbols into the IPA the viseme
/// table reads as they sound:
///
/// - `ɐ` and `ᵻ` are espeak's English reduced vowels (its phonemes `a#` and
///   `I#`, in "about" and "wanted"); spoken, they are a schwa, with a
///   half-open, neutral mouth, not the open jaw of `ɐ` in, say, Portuguese.
/// - `ɜː` ("bird") is r-coloured in American English, `ɝ`, so the lips
///   round as for r; British and other non-rhotic voices keep `ɜː`.
fn normalise_phonemes(events: &mut [Event], voice_id: &str) {
    let lang = voice_id.split('+').next().unwrap_or(voice_id);
    if lang != "en" && !lang.starts_with("en-") {
        return;
    }
    let rhotic = lang == "en-us";
    for e in events.iter_mut().filter(|e| e.kind == EVENT_PHONEME) {
        if e.phoneme.contains(['ɐ', 'ᵻ']) {
            e.phoneme = e.phoneme.replace(['ɐ', 'ᵻ'], "ə");
        }
        if rhotic && e.phoneme.contains("ɜː") {
            e.phoneme = e.phoneme.replace("ɜː", "ɝ");
        }
    }
}

/// Phoneme spans: each phoneme lasts until the next one starts; the last
/// until the end of the audio. Pauses (espeak reports them as phonemes with
/// an empty IPA name) are kept so they end the phoneme before them;
/// `timeline_from_phonemes` turns them into silence.
fn phoneme_spans(events: &[Event], total_ms: u32) -> Vec<(usize, PhonemeEvent)> {
    let phonemes: Vec<(usize, &Event)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EVENT_PHONEME)
        .collect();
    let at = |e: &Event| (e.audio_position.max(0) as u32).min(total_ms);
    phonemes
        .iter()
        .enumerate()
        .map(|(i, &(index, e))| {
            let start = at(e);
            let end = phonemes
                .get(i + 1)
                .map_or(total_ms, |&(_, n)| at(n))
                .max(start);
            (
                index,
                PhonemeEvent {
                    phoneme: e.phoneme.clone(),
                    start,
                    end,
                },
            )
        })
        .collect()
}

/// A word of the request text and the sounding phonemes espeak spoke for it.
pub(crate) struct SpokenWord {
    pub word: String,
    pub phonemes: Vec<PhonemeEvent>,
}

/// See [`LocalTts::reading`].
pub(crate) struct Reading {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    /// Contiguous spans from the first phoneme to the end; pauses have an
    /// empty name.
    pub phonemes: Vec<PhonemeEvent>,
    pub words: Vec<SpokenWord>,
}

/// Pairs espeak's words with the request's words. Word events carry the
/// 1-based character position of the word; phonemes belong to the word
/// event before them. Text words are whitespace-separated tokens with a
/// letter or digit (punctuation stays attached, as `fit_phonemes` wants),
/// so a number read as several words stays one word. espeak joins some
/// unstressed words to their neighbour ("of the" is one word to it); the
/// joined phonemes are shared out between those words by letter count.
fn spoken_words(text: &str, events: &[Event], spans: &[(usize, PhonemeEvent)]) -> Vec<SpokenWord> {
    let chars: Vec<char> = text.chars().collect();
    let tokens = tokens(&chars);
    if tokens.is_empty() {
        return Vec::new();
    }

    // Phonemes per token, by the word event that precedes them.
    let mut owned: Vec<Vec<PhonemeEvent>> = vec![Vec::new(); tokens.len()];
    let mut current: Option<usize> = None;
    let mut spans = spans.iter().peekable();
    for (index, e) in events.iter().enumerate() {
        current = word_token(&tokens, e, current);
        while let Some((_, span)) = spans.next_if(|(i, _)| *i == index) {
            if !is_pause(&span.phoneme) {
                owned[current.unwrap_or(0)].push(span.clone());
            }
        }
    }

    let letters = |t: usize| {
        chars[tokens[t].0..tokens[t].1]
            .iter()
            .filter(|c| c.is_alphanumeric())
            .count()
    };
    let mut out = Vec::with_capacity(tokens.len());
    for (from, to) in joined(&owned) {
        let phonemes: Vec<PhonemeEvent> = (from..to)
            .flat_map(|k| std::mem::take(&mut owned[k]))
            .collect();
        let weights: Vec<usize> = (from..to).map(letters).collect();
        for (k, part) in (from..to).zip(share(&phonemes, &weights)) {
            out.push(SpokenWord {
                word: chars[tokens[k].0..tokens[k].1].iter().collect(),
                phonemes: part,
            });
        }
    }
    out
}

/// Whitespace-separated tokens of `chars` with a letter or digit, as
/// `(start, end)` character ranges.
fn tokens(chars: &[char]) -> Vec<(usize, usize)> {
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        if chars[start..i].iter().any(|c| c.is_alphanumeric()) {
            tokens.push((start, i));
        }
    }
    tokens
}

/// The token the phonemes after `e` belong to: a word event moves it on to
/// the token at or after the event's position (espeak may point at a quote
/// or bracket it skipped), never back.
fn word_token(tokens: &[(usize, usize)], e: &Event, current: Option<usize>) -> Option<usize> {
    if e.kind == EVENT_WORD && e.length > 0 {
        let pos = (e.text_position.max(1) - 1) as usize;
        // Tokens are in text order, so their ends rise: a binary search,
        // where a scan made long texts quadratic in their words.
        let t = tokens.partition_point(|&(_, end)| end <= pos);
        if t < tokens.len() {
            return Some(current.map_or(t, |c| c.max(t)));
        }
    }
    current
}

/// Groups of tokens read as one word, `[from, to)`: tokens without phonemes
/// of their own join the token before them (the one espeak joined them to);
/// leading ones, the first word.
fn joined<T>(owned: &[Vec<T>]) -> Vec<(usize, usize)> {
    let first = owned.iter().position(|p| !p.is_empty()).unwrap_or(0);
    let mut starts: Vec<usize> = vec![0];
    starts.extend((first + 1..owned.len()).filter(|&k| !owned[k].is_empty()));
    starts.push(owned.len());
    starts.windows(2).map(|g| (g[0], g[1])).collect()
}

/// Splits `items` into consecutive parts sized in proportion to `weights`,
/// each non-empty while there are items to go round.
fn share<T: Clone>(items: &[T], weights: &[usize]) -> Vec<Vec<T>> {
    let total: usize = weights.iter().sum::<usize>().max(1);
    let n = weights.len();
    let mut out = Vec::with_capacity(n);
    let mut taken = 0;
    let mut acc = 0;
    for (k, w) in weights.iter().enumerate() {
        acc += w;
        let left_parts = n - k - 1;
        let ideal = (items.len() * acc + total / 2) / total;
        // At least one item per part, leaving one for each part after when
        // there are enough; earlier parts first when there are not.
        let lo = (taken + 1).min(items.len());
        let hi = items.len().saturating_sub(left_parts);
        let end = if hi >= lo { ideal.clamp(lo, hi) } else { lo };
        out.push(items[taken..end].to_vec());
        taken = end;
    }
    if let Some(last) = out.last_mut() {
        last.extend_from_slice(&items[taken..]);
    }
    out
}

/// Silence put before speech whose first sound is a lip closure (p, b, m),
/// so the timeline starts at rest like every other and the lips have time
/// to close before the burst.
const LEAD_IN_MS: u32 = PAUSE_MS;

fn timings(text: &str, raw: &Raw) -> (Timeline, Vec<WordTiming>) {
    let total = ms(raw.samples.len(), raw.sample_rate);
    let spans = phoneme_spans(&raw.events, total);
    let mut words = Vec::new();
    let mut last_end = 0;
    for w in spoken_words(text, &raw.events, &spans) {
        let (start, end) = match (w.phonemes.first(), w.phonemes.last()) {
            (Some(f), Some(l)) => (f.start, l.end),
            _ => (last_end, last_end),
        };
        last_end = end;
        // Word timings name words, not tokens: "map." is the word "map".
        let word = w
            .word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_string();
        if word.is_empty() {
            continue;
        }
        words.push(WordTiming { word, start, end });
    }
    let events: Vec<PhonemeEvent> = spans.into_iter().map(|(_, p)| p).collect();
    (timeline_from_phonemes(&events, total), words)
}

fn speech_from_raw(text: &str, mut raw: Raw, voice_id: String) -> Speech {
    let (mut visemes, mut words) = timings(text, &raw);
    if visemes
        .cues
        .first()
        .is_some_and(|c| c.viseme != Viseme::Sil)
    {
        let pad = (raw.sample_rate * LEAD_IN_MS / 1000) as usize;
        raw.samples.splice(0..0, std::iter::repeat_n(0, pad));
        for e in &mut raw.events {
            e.audio_position += LEAD_IN_MS as i32;
        }
        (visemes, words) = timings(text, &raw);
    }
    Speech {
        samples: raw.samples,
        sample_rate: raw.sample_rate,
        visemes,
        words,
        voice_id,
        provider: "local".into(),
        viseme_source: "engine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_weights() {
        let items = [1, 2, 3, 4];
        assert_eq!(share(&items, &[2, 3]), vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(share(&items, &[1]), vec![vec![1, 2, 3, 4]]);
        assert_eq!(share(&[1], &[1, 1]), vec![vec![1], vec![]]);
        assert_eq!(
            share(&[1, 2, 3], &[1, 10, 1]),
            vec![vec![1], vec![2], vec![3]]
        );
    }

    #[test]
    fn rate_and_pitch_are_clamped() {
        assert_eq!(rate_wpm(None), 175);
        assert_eq!(rate_wpm(Some(2.0)), 350);
        assert_eq!(rate_wpm(Some(0.1)), MIN_RATE_WPM);
        assert_eq!(rate_wpm(Some(9.0)), MAX_RATE_WPM);
        assert_eq!(pitch_value(Some(1.5)), 75);
        assert_eq!(pitch_value(Some(3.0)), 100);
    }
}
