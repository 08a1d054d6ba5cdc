//! Visemes for audio that came without them (cloud engines), best source
//! first: the engine's own alignment (characters or words) with espeak's
//! phonemes fitted into each word; else espeak's phonemes for the text,
//! timed by aligning espeak's own reading of the text with the audio
//! (DTW over MFCCs), or, where that cannot run, fitted into the non-silent
//! part of the audio; else an estimate from the audio alone with the
//! shipped model.

use std::sync::OnceLock;

use avatarium_lipsync::audio::{self, Model};
use avatarium_lipsync::fit::fit_phonemes;
use avatarium_lipsync::phonemes::timeline_from_phonemes;
use avatarium_lipsync::{Cue, PhonemeEvent, Timeline, Viseme, WordTiming};

use crate::local::{LocalTts, Reading};

/// One character of an engine's character alignment (ElevenLabs style).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTiming {
    pub ch: char,
    pub start_ms: u32,
    pub end_ms: u32,
}

/// What timing, if any, an engine returned with its audio.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timing {
    Chars(Vec<CharTiming>),
    Words(Vec<WordTiming>),
    None,
}

/// Engine alignment → word spans → G2P fitted into them; else G2P timed
/// against the audio (espeak's reading of the text aligned to it, else
/// fitted to its non-silent span); else the audio estimator. Returns
/// (timeline, words, source) with source "alignment" | "g2p" | "audio".
///
/// G2P is the local espeak-ng voice's, on its worker thread, so this never
/// blocks the runtime. `voice_lang` is an espeak voice or language (`en`,
/// `de`, `en-gb`, `pt-BR`…); unknown or absent means American English.
pub async fn visemes_for(
    audio: &[i16],
    sample_rate: u32,
    text: Option<&str>,
    timing: Timing,
    voice_lang: Option<&str>,
) -> (Timeline, Vec<WordTiming>, &'static str) {
    let duration_ms = duration_ms(audio.len(), sample_rate);
    let aligned_words = match timing {
        Timing::Chars(chars) => Some(words_from_chars(&chars)),
        Timing::Words(words) => Some(words),
        Timing::None => None,
    }
    .filter(|w| !w.is_empty());

    // The alignment's own words are what was spoken; the request text may
    // have been rewritten by the engine (numbers, markup).
    let spoken: Option<String> = match (&aligned_words, text) {
        (Some(words), _) => Some(
            words
                .iter()
                .map(|w| w.word.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        (None, Some(t)) if !t.trim().is_empty() => Some(t.to_owned()),
        _ => None,
    };
    if let Some(spoken) = spoken {
        let lang = g2p_voice(voice_lang).await;
        if let Ok(reading) = LocalTts::shared().reading(&spoken, Some(&lang)).await
            && reading.words.iter().any(|w| !w.phonemes.is_empty())
        {
            if let Some(timings) = aligned_words {
                let words = phoneme_names(&reading);
                let (tl, w) = fit_phonemes(&words, duration_ms, Some(&timings), None);
                return (tl, w, "alignment");
            }
            let owned = audio.to_vec();
            let aligned =
                off_runtime(move || align_to_reading(&owned, sample_rate, &reading).ok_or(reading))
                    .await;
            return match aligned {
                Some(Ok((tl, w))) => (tl, w, "g2p"),
                Some(Err(reading)) => {
                    let span = speech_span(audio, sample_rate);
                    let (tl, w) = fit_phonemes(&phoneme_names(&reading), duration_ms, None, span);
                    (tl, w, "g2p")
                }
                None => (silent(duration_ms), Vec::new(), "audio"),
            };
        }
    }

    let words = aligned_words.unwrap_or_default();
    let owned = audio.to_vec();
    let timeline = off_runtime(move || estimate_from_audio(&owned, sample_rate))
        .await
        .unwrap_or_else(|| silent(duration_ms));
    (timeline, words, "audio")
}

/// Runs CPU-heavy work (alignment, the audio model: tens of ms per second
/// of audio) on tokio's blocking pool, so it does not hold up other tasks.
/// `None` if it panicked.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!("viseme estimation failed: {e}");
            None
        }
    }
}

/// The mouth at rest throughout.
fn silent(duration_ms: u32) -> Timeline {
    let cues = if duration_ms == 0 {
        Vec::new()
    } else {
        vec![Cue {
            viseme: Viseme::Sil,
            start: 0,
            end: duration_ms,
        }]
    };
    Timeline { cues }
}

fn phoneme_names(reading: &Reading) -> Vec<(String, Vec<String>)> {
    reading
        .words
        .iter()
        .map(|w| {
            (
                w.word.clone(),
                w.phonemes.iter().map(|p| p.phoneme.clone()).collect(),
            )
        })
        .collect()
}

/// DTW works on 10 ms frames: this many each side of the (length-scaled)
/// diagonal at least …
const DTW_MIN_BAND: usize = 150;
/// … or this fraction of the longer input, for pauses placed differently.
const DTW_BAND_FRACTION: f32 = 0.25;
/// Beyond this many cells (about 2 minutes of speech) the fit is used.
const DTW_MAX_CELLS: usize = 40_000_000;
/// The two readings may differ in pace by this factor at most; beyond it
/// they are hardly the same text.
const DTW_MAX_RATIO: f32 = 3.0;
/// Silences in the audio at least this long close the mouth even if
/// espeak's reading runs on through them (a speaker's hesitation); shorter
/// ones are stop closures.
const DTW_MIN_PAUSE_MS: u32 = 150;

/// Per frame: c1…c12 normalised over the utterance (so voice and channel
/// matter less than what is said), and the log energy relative to the
/// utterance's loud frames, which makes silence match silence.
fn dtw_features(samples: &[i16], sample_rate: u32) -> Vec<[f32; 13]> {
    let x: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let frames = audio::mfcc(&x, sample_rate);
    if frames.is_empty() {
        return Vec::new();
    }
    let n = frames.len() as f32;
    let mut mean = [0.0f32; 12];
    let mut var = [0.0f32; 12];
    for f in &frames {
        for k in 0..12 {
            mean[k] += f[k + 1] / n;
        }
    }
    for f in &frames {
        for k in 0..12 {
            var[k] += (f[k + 1] - mean[k]).powi(2) / n;
        }
    }
    let mut energies: Vec<f32> = frames.iter().map(|f| f[audio::N_MFCC - 1]).collect();
    energies.sort_by(f32::total_cmp);
    let loud = energies[energies.len() * 95 / 100];
    frames
        .iter()
        .map(|f| {
            let mut out = [0.0f32; 13];
            for k in 0..12 {
                out[k] = (f[k + 1] - mean[k]) / var[k].sqrt().max(1e-3);
            }
            // Natural-log energy: 8 below the loud frames is silence.
            out[12] = (f[audio::N_MFCC - 1] - loud).clamp(-8.0, 0.0) * 0.75;
            out
        })
        .collect()
}

/// Dynamic time warping of `a` onto `b` within a band around the diagonal:
/// for each frame of `a`, the first frame of `b` matched to it. `None` if
/// the band would be too large.
fn dtw(a: &[[f32; 13]], b: &[[f32; 13]]) -> Option<Vec<usize>> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return None;
    }
    let band = DTW_MIN_BAND.max((n.max(m) as f32 * DTW_BAND_FRACTION) as usize);
    let width = 2 * band + 1;
    if n.saturating_mul(width) > DTW_MAX_CELLS {
        return None;
    }
    let slope = if n > 1 {
        (m - 1) as f64 / (n - 1) as f64
    } else {
        0.0
    };
    let lo = |i: usize| ((i as f64 * slope).round() as usize).saturating_sub(band);
    let hi = |i: usize| (((i as f64 * slope).round() as usize) + band).min(m - 1);
    let dist = |x: &[f32; 13], y: &[f32; 13]| {
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f32>()
            .sqrt()
    };

    // back[i * width + (j - lo(i))]: 0 diagonal, 1 from above, 2 from left.
    let mut back = vec![0u8; n * width];
    let mut prev = vec![f32::INFINITY; width];
    let mut cur = vec![f32::INFINITY; width];
    for i in 0..n {
        let (l, h) = (lo(i), hi(i));
        cur.fill(f32::INFINITY);
        for j in l..=h {
            let d = dist(&a[i], &b[j]);
            let up = if i > 0 && j >= lo(i - 1) && j <= hi(i - 1) {
                prev[j - lo(i - 1)]
            } else {
                f32::INFINITY
            };
            let diag = if i > 0 && j > 0 && j > lo(i - 1) && j - 1 <= hi(i - 1) {
                prev[j - 1 - lo(i - 1)]
            } else {
                f32::INFINITY
            };
            let left = if j > l { cur[j - 1 - l] } else { f32::INFINITY };
            let (best, from) = if i == 0 && j == 0 {
                (0.0, 0)
            } else if diag <= up && diag <= left {
                (diag, 0)
            } else if up <= left {
                (up, 1)
            } else {
                (left, 2)
            };
            cur[j - l] = best + d;
            back[i * width + (j - l)] = from;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    if !prev[(m - 1) - lo(n - 1)].is_finite() {
        return None;
    }
    let mut first = vec![0usize; n];
    let (mut i, mut j) = (n - 1, m - 1);
    loop {
        first[i] = j;
        if i == 0 && j == 0 {
            break;
        }
        match back[i * width + (j - lo(i))] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    Some(first)
}

/// Times espeak's reading of the text onto `audio` by aligning the two
/// recordings (synthesis-based alignment, as aeneas does): each phoneme of
/// the reading starts where its audio frame lands in `audio`. Long
/// silences in `audio` close the mouth even where the reading had no
/// pause. `None` when the recordings are too long or too unlike in length
/// to align.
fn align_to_reading(
    audio: &[i16],
    sample_rate: u32,
    reading: &Reading,
) -> Option<(Timeline, Vec<WordTiming>)> {
    let total = duration_ms(audio.len(), sample_rate);
    let reading_ms = duration_ms(reading.samples.len(), reading.sample_rate);
    if total < 100 || reading_ms < 100 {
        return None;
    }
    let ratio = total as f32 / reading_ms as f32;
    if !(1.0 / DTW_MAX_RATIO..=DTW_MAX_RATIO).contains(&ratio) {
        return None;
    }
    let a = dtw_features(&reading.samples, reading.sample_rate);
    let b = dtw_features(audio, sample_rate);
    let first = dtw(&a, &b)?;
    let hop = audio::HOP_MS;
    let map = |t: u32| -> u32 {
        let i = ((t / hop) as usize).min(first.len() - 1);
        (first[i] as u32 * hop).min(total)
    };
    // Before and after the speech the mouth is shut however short the
    // silence; inside, only pauses long enough not to be stop closures.
    let mut pauses = silences(audio, sample_rate, DTW_MIN_PAUSE_MS);
    if let Some((s, e)) = speech_span(audio, sample_rate) {
        pauses.retain(|&(ps, pe)| ps >= s && pe <= e);
        if s > 0 {
            pauses.insert(0, (0, s));
        }
        if e < total {
            pauses.push((e, total));
        }
    }
    let in_pause = |t: u32| pauses.iter().find(|&&(s, e)| t >= s && t < e).copied();

    // Mapped phoneme spans, cut where the audio is silent.
    let mut events: Vec<PhonemeEvent> = Vec::new();
    for (k, p) in reading.phonemes.iter().enumerate() {
        let start = map(p.start);
        let end = reading
            .phonemes
            .get(k + 1)
            .map_or(total, |n| map(n.start))
            .max(start);
        for (s, e) in cut(start, end, &pauses) {
            events.push(PhonemeEvent {
                phoneme: p.phoneme.clone(),
                start: s,
                end: e,
            });
        }
    }
    let timeline = timeline_from_phonemes(&events, total);

    let mut words = Vec::with_capacity(reading.words.len());
    let mut last_end = 0;
    for w in &reading.words {
        let (start, end) = match (w.phonemes.first(), w.phonemes.last()) {
            (Some(f), Some(l)) => {
                let end_src = reading
                    .phonemes
                    .iter()
                    .find(|p| p.start == l.start)
                    .map_or(l.end, |p| p.end);
                let mut s = map(f.start).max(last_end);
                let mut e = map(end_src).max(s);
                if let Some((_, pe)) = in_pause(s) {
                    s = pe.min(e.max(pe));
                }
                if let Some((ps, _)) = in_pause(e.saturating_sub(1)) {
                    e = ps.max(s);
                }
                (s, e.max(s))
            }
            _ => (last_end, last_end),
        };
        last_end = end;
        words.push(WordTiming {
            word: w.word.clone(),
            start,
            end,
        });
    }
    Some((timeline, words))
}

/// `[start, end)` minus the silences.
fn cut(start: u32, end: u32, silences: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut s = start;
    for &(ps, pe) in silences {
        if pe <= s || ps >= end {
            continue;
        }
        if ps > s {
            out.push((s, ps));
        }
        s = pe.max(s);
    }
    if s < end {
        out.push((s, end));
    }
    out
}

/// An espeak voice for G2P in `voice_lang`: the tag itself when espeak has
/// it, else its base language (`pt-PT` → `pt`), else `en-us`.
async fn g2p_voice(voice_lang: Option<&str>) -> String {
    let Some(lang) = voice_lang.map(str::trim).filter(|l| !l.is_empty()) else {
        return "en-us".into();
    };
    let tts = LocalTts::shared();
    let lower = lang.to_ascii_lowercase().replace('_', "-");
    // espeak's plain "en" is British; cloud voices tagged "en" are mostly
    // American.
    if lower == "en" {
        return "en-us".into();
    }
    let base = lower.split('-').next().unwrap_or("").to_owned();
    for candidate in [lower, base] {
        if !candidate.is_empty() && tts.has_voice(&candidate).await {
            return candidate;
        }
    }
    "en-us".into()
}

/// Words of a character alignment: runs of non-space characters, each from
/// its first character's start to its last character's end.
fn words_from_chars(chars: &[CharTiming]) -> Vec<WordTiming> {
    let mut words = Vec::new();
    let mut current: Option<WordTiming> = None;
    for c in chars {
        if c.ch.is_whitespace() {
            words.extend(current.take());
            continue;
        }
        match current.as_mut() {
            Some(w) => {
                w.word.push(c.ch);
                w.end = w.end.max(c.end_ms);
            }
            None => {
                current = Some(WordTiming {
                    word: c.ch.to_string(),
                    start: c.start_ms,
                    end: c.end_ms.max(c.start_ms),
                })
            }
        }
    }
    words.extend(current);
    // Punctuation-only "words" (a lone dash) carry no sound of their own.
    words.retain(|w| w.word.chars().any(char::is_alphanumeric));
    words
}

fn duration_ms(samples: usize, sample_rate: u32) -> u32 {
    if sample_rate == 0 {
        return 0;
    }
    (samples as u64 * 1000 / u64::from(sample_rate)) as u32
}

/// Frame for energy measurements; short enough to find word edges.
const SPAN_FRAME_MS: u32 = 10;
/// Frames quieter than the loudest by this factor (amplitude, about 30 dB)
/// count as silence …
const SPAN_RELATIVE: f64 = 0.03;
/// … and so do frames within this factor of the noise floor (the 10th
/// percentile frame: recordings are rarely more than 90% speech) …
const SPAN_ABOVE_NOISE: f64 = 3.0;
/// … and anything under about -55 dBFS whatever the rest is, so a file of
/// hiss is not all "speech".
const SPAN_FLOOR: f64 = 60.0;
/// Speech starts and ends with this many loud frames in a row: a click is
/// not a word.
const SPAN_MIN_RUN: usize = 3;

/// Whether each 10 ms frame is louder than silence: above the loudest
/// frame's level less 30 dB, three times the noise floor, and -55 dBFS.
fn loud_frames(audio: &[i16], sample_rate: u32) -> Vec<bool> {
    let frame = (sample_rate * SPAN_FRAME_MS / 1000).max(1) as usize;
    let rms: Vec<f64> = audio
        .chunks(frame)
        .map(|c| (c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let loudest = rms.iter().copied().fold(0.0, f64::max);
    let mut sorted = rms.clone();
    sorted.sort_by(f64::total_cmp);
    let noise = sorted.get(sorted.len() / 10).copied().unwrap_or(0.0);
    let threshold = (loudest * SPAN_RELATIVE)
        .max(noise * SPAN_ABOVE_NOISE)
        .max(SPAN_FLOOR);
    rms.iter().map(|&r| r > threshold).collect()
}

/// The non-silent part of the audio in ms (start, end), by frame energy
/// against the loudest frame and the noise floor; `None` when nothing
/// stands out from silence.
pub fn speech_span(audio: &[i16], sample_rate: u32) -> Option<(u32, u32)> {
    let loud = loud_frames(audio, sample_rate);
    let run = SPAN_MIN_RUN.min(loud.len());
    let first = (0..=loud.len() - run).find(|&i| loud[i..i + run].iter().all(|&l| l))?;
    let last = (0..=loud.len() - run)
        .rev()
        .find(|&i| loud[i..i + run].iter().all(|&l| l))?
        + run
        - 1;
    let total = duration_ms(audio.len(), sample_rate);
    Some((
        first as u32 * SPAN_FRAME_MS,
        ((last as u32 + 1) * SPAN_FRAME_MS).min(total),
    ))
}

/// Stretches of at least `min_ms` without a loud frame, in ms.
fn silences(audio: &[i16], sample_rate: u32, min_ms: u32) -> Vec<(u32, u32)> {
    let loud = loud_frames(audio, sample_rate);
    let total = duration_ms(audio.len(), sample_rate);
    let mut out = Vec::new();
    let mut start = None;
    for (i, &l) in loud.iter().chain(std::iter::once(&true)).enumerate() {
        match (l, start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                let (s_ms, e_ms) = (
                    s as u32 * SPAN_FRAME_MS,
                    (i as u32 * SPAN_FRAME_MS).min(total),
                );
                if e_ms - s_ms >= min_ms {
                    out.push((s_ms, e_ms));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The audio→viseme model trained by `examples/train_audio_visemes.rs` on
/// the local voice; `None` if the shipped file holds no model.
pub fn audio_model() -> Option<&'static Model> {
    static MODEL: OnceLock<Option<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            serde_json::from_str::<Option<Model>>(include_str!("../data/audio_viseme_model.json"))
                .unwrap_or_else(|e| {
                    tracing::warn!("the shipped audio viseme model is unreadable: {e}");
                    None
                })
        })
        .as_ref()
}

/// Visemes from the audio alone: the shipped model, or, without one, an
/// open mouth wherever there is speech.
fn estimate_from_audio(audio: &[i16], sample_rate: u32) -> Timeline {
    let total = duration_ms(audio.len(), sample_rate);
    if total == 0 {
        return Timeline::default();
    }
    if let Some(model) = audio_model() {
        let samples: Vec<f32> = audio.iter().map(|&s| f32::from(s) / 32768.0).collect();
        return audio::predict(model, &samples, sample_rate);
    }
    let mut cues = Vec::new();
    let mut push = |viseme, start, end| {
        if start < end {
            cues.push(Cue { viseme, start, end });
        }
    };
    match speech_span(audio, sample_rate) {
        Some((s, e)) => {
            push(Viseme::Sil, 0, s);
            push(Viseme::Aa, s, e);
            push(Viseme::Sil, e, total);
        }
        None => push(Viseme::Sil, 0, total),
    }
    Timeline { cues }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars_become_words() {
        let chars: Vec<CharTiming> = "Hi, you - there"
            .chars()
            .enumerate()
            .map(|(i, ch)| CharTiming {
                ch,
                start_ms: i as u32 * 10,
                end_ms: i as u32 * 10 + 10,
            })
            .collect();
        let words = words_from_chars(&chars);
        let names: Vec<&str> = words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(names, ["Hi,", "you", "there"]);
        assert_eq!((words[0].start, words[0].end), (0, 30));
        assert_eq!((words[2].start, words[2].end), (100, 150));
    }

    #[test]
    fn span_skips_leading_and_trailing_silence() {
        let rate = 16000;
        let mut audio = vec![0i16; rate as usize / 2];
        audio.extend((0..rate).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16));
        audio.extend(vec![3i16; rate as usize / 4]);
        let (s, e) = speech_span(&audio, rate).unwrap();
        assert!((490..=510).contains(&s), "{s}");
        assert!((1490..=1510).contains(&e), "{e}");
        assert_eq!(speech_span(&vec![0; 1600], rate), None);
    }
}
