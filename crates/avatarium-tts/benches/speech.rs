//! One run, four measurements (`cargo bench -p avatarium-tts --bench speech`;
//! `SPEECH_BENCH=ab` for some of them):
//!
//! (a) speed of the local voice, visemes and word timings included, against
//!     the bare `espeak-ng` CLI on the same ~2,000-word passage;
//! (b) text→viseme accuracy of espeak's G2P, alone and with the learned
//!     American English correction, against the CMU Pronouncing Dictionary
//!     (`../shared/data/cmudict.dict` from the repository root) on held-out
//!     words (`examples/shared/cmu.rs`). A word the dictionary lists more
//!     than one way is scored against the listing closest to ours, as
//!     Sequitur G2P's evaluator (Bisani & Ney) scores words with several
//!     references; the score against first listings alone is printed too;
//! (c) audio→viseme accuracy of the shipped model on held-out speech;
//! (d) visemes for audio that comes with its text but no timings (most
//!     cloud engines): espeak's reading aligned to the audio, against the
//!     plain fit of the phonemes into the speech span.

#[path = "../examples/shared/cmu.rs"]
mod cmu;
#[path = "../examples/shared/corpus.rs"]
mod corpus;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use avatarium_lipsync::audio::{self, HOP_MS};
use avatarium_lipsync::fit::fit_phonemes;
use avatarium_lipsync::phonemes::words_to_visemes;
use avatarium_lipsync::{Timeline, Viseme};
use avatarium_tts::align::{Timing, audio_model, speech_span, visemes_for};
use avatarium_tts::local::LocalTts;
use avatarium_tts::sentences::{synthesize_joined, synthesize_stream};
use avatarium_tts::wav::decode_wav;
use avatarium_tts::{SpeechRequest, TtsEngine};
use futures::StreamExt;

const RUNS: usize = 3;
const PASSAGE_WORDS: usize = 2000;
/// The older bench's sample size; see `cmu_accuracy`.
const OLD_RULE_SAMPLE: usize = 1500;

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        let d = t.elapsed();
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, out));
        }
    }
    best.expect("at least one run")
}

/// A passage of about `PASSAGE_WORDS` words in paragraphs of five
/// sentences, from the corpus generator (deterministic).
fn passage() -> String {
    let (train, held) = corpus::corpus();
    let mut out = String::new();
    let mut words = 0;
    for (i, item) in train.iter().chain(&held).enumerate() {
        if words >= PASSAGE_WORDS {
            break;
        }
        words += item.text.split_whitespace().count();
        out.push_str(&item.text);
        out.push_str(if i % 5 == 4 { "\n\n" } else { " " });
    }
    out
}

async fn speed(rt: &tokio::runtime::Handle) {
    let _ = rt;
    let text = passage();
    let words = text.split_whitespace().count();
    let tts = LocalTts::new();
    let req = SpeechRequest {
        text: text.clone(),
        voice: Some("en-us".into()),
        ..Default::default()
    };
    // Warm-up: starts the worker and loads the voice, as a running app has.
    tts.synthesize(&SpeechRequest {
        text: "Warm up.".into(),
        ..req.clone()
    })
    .await
    .unwrap();

    // The product path (`POST /v1/tts`, `avatarium say`): sentence by
    // sentence, the next synthesised while the last one's visemes are
    // worked out, then joined. The whole passage in one engine call and the
    // streamed sentences are timed too; the three alternate, each run as
    // the first (words said again inside the passage may be remembered,
    // words of an earlier run may not).
    let (mut joined, mut single, mut streamed) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut first_stream = Duration::MAX;
    let mut audio_s = 0.0;
    let mut cues = 0;
    for _ in 0..RUNS {
        avatarium_tts::local::forget_remembered_words();
        let t = Instant::now();
        let s = synthesize_joined(&tts, req.clone()).await.unwrap();
        let d = t.elapsed();
        if d < joined {
            joined = d;
            audio_s = s.samples.len() as f64 / f64::from(s.sample_rate);
            cues = s.visemes.cues.len();
        }

        avatarium_tts::local::forget_remembered_words();
        let t = Instant::now();
        tts.synthesize(&req).await.unwrap();
        single = single.min(t.elapsed());

        avatarium_tts::local::forget_remembered_words();
        let t = Instant::now();
        let mut stream = Box::pin(synthesize_stream(&tts, req.clone()));
        let mut first = None;
        while let Some(part) = stream.next().await {
            part.unwrap();
            first.get_or_insert(t.elapsed());
        }
        streamed = streamed.min(t.elapsed());
        first_stream = first_stream.min(first.unwrap_or_default());
    }
    let ours = audio_s / joined.as_secs_f64();

    println!(
        "(a) speed: {words}-word passage, {audio_s:.1} s of audio, voice en-us, best of {RUNS}"
    );
    println!(
        "    local, the product path (POST /v1/tts, `avatarium say`: libespeak-ng in process, sentence by sentence, joined, with {cues} viseme cues and word timings): {:.3} s = {ours:.0}x realtime (goal >= 100x)",
        joined.as_secs_f64()
    );
    println!(
        "    local, the whole passage in one engine call (LocalTts::synthesize): {:.3} s = {:.0}x realtime",
        single.as_secs_f64(),
        audio_s / single.as_secs_f64()
    );
    println!(
        "    local, streamed (synthesize_stream, as `stream: true` sends it): {:.3} s in all = {:.0}x realtime; first sentence after {:.1} ms",
        streamed.as_secs_f64(),
        audio_s / streamed.as_secs_f64(),
        first_stream.as_secs_f64() * 1000.0
    );

    let dir = std::env::temp_dir().join(format!("avatarium-speech-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let txt = dir.join("passage.txt");
    let wav = dir.join("x.wav");
    std::fs::write(&txt, &text).unwrap();
    let cli = |wav: &Path, txt: &Path| {
        Command::new("espeak-ng")
            .args(["-v", "en-us", "-w"])
            .arg(wav)
            .arg("-f")
            .arg(txt)
            .status()
    };
    match cli(&wav, &txt) {
        Ok(status) if status.success() => {
            let (d, _) = best_of(RUNS, || cli(&wav, &txt).unwrap());
            let (samples, rate) = decode_wav(&std::fs::read(&wav).unwrap()).unwrap();
            let cli_audio = samples.len() as f64 / f64::from(rate);
            let theirs = cli_audio / d.as_secs_f64();
            println!(
                "    espeak-ng CLI (`espeak-ng -v en-us -w x.wav -f passage.txt`, process start included): {:.3} s for {cli_audio:.1} s of audio = {theirs:.0}x realtime",
                d.as_secs_f64()
            );
            println!("    ours/CLI: {:.2} (goal >= 0.9)", ours / theirs);
        }
        other => println!("    espeak-ng CLI not available ({other:?}): no comparison"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The consonant shapes of a sequence, repeats merged.
fn consonants(v: &[Viseme]) -> Vec<Viseme> {
    use Viseme::*;
    let mut out: Vec<Viseme> = v
        .iter()
        .copied()
        .filter(|v| matches!(v, PP | FF | TH | DD | Kk | CH | SS | Nn | RR))
        .collect();
    out.dedup();
    out
}

fn names(v: &[Viseme]) -> String {
    v.iter().map(|v| v.name()).collect::<Vec<_>>().join(" ")
}

/// Exact words, summed edit distance, summed CMU length, exact consonants.
#[derive(Default)]
struct Score {
    exact: usize,
    dist: usize,
    len: usize,
    consonants: usize,
}

impl Score {
    fn add(&mut self, ours: &[Viseme], truth: &[Viseme]) -> usize {
        let d = cmu::edit_distance(ours, truth);
        self.exact += usize::from(d == 0);
        self.consonants += usize::from(consonants(ours) == consonants(truth));
        self.dist += d;
        self.len += truth.len();
        d
    }

    /// Scores against the closest listing ([`cmu::closest`]): saying a
    /// word one listed way is not an error.
    fn add_closest(&mut self, ours: &[Viseme], truths: &[Vec<Viseme>]) -> usize {
        self.add(ours, cmu::closest(ours, truths))
    }

    fn print(&self, what: &str, n: usize, goal: bool) {
        println!(
            "    {what}: words whose viseme sequence (repeats merged) equals CMU's {}/{n} = {:.1}%; per-viseme accuracy (1 - edit distance / CMU length) {:.1}%{}; consonant visemes (lips, teeth, tongue; vowels left out) equal {:.1}%",
            self.exact,
            self.exact as f64 * 100.0 / n as f64,
            (1.0 - self.dist as f64 / self.len.max(1) as f64) * 100.0,
            if goal { " (goal >= 95%)" } else { "" },
            self.consonants as f64 * 100.0 / n as f64
        );
    }
}

async fn cmu_accuracy() {
    let Some(path) = cmu::path() else {
        println!("(b) text→viseme accuracy: ../shared/data/cmudict.dict not found, skipped");
        return;
    };
    let dict = std::fs::read_to_string(&path).unwrap();
    let entries = cmu::entries(&dict);
    // espeak's English reduced vowels were normalised (local.rs) after
    // looking at the entries half-way between every `step`th one; they are
    // not evaluated on either.
    let step = (entries.len() / OLD_RULE_SAMPLE).max(1);
    let looked_at = |i: usize| i % step == step / 2 && i / step < OLD_RULE_SAMPLE;
    let held: Vec<&cmu::Entry> = entries
        .iter()
        .enumerate()
        .filter(|(i, e)| cmu::is_held_out(&e.word) && !looked_at(*i))
        .map(|(_, e)| e)
        .collect();
    let held_total = entries.iter().filter(|e| cmu::is_held_out(&e.word)).count();

    let tts = LocalTts::new();
    let (mut raw, mut fixed) = (Score::default(), Score::default());
    let (mut raw_any, mut fixed_any) = (Score::default(), Score::default());
    let mut with_variants = 0usize;
    let mut misses = Vec::new();
    let mut changed = 0usize;
    for e in &held {
        let truths = e.listed();
        let truth = &truths[0];
        with_variants += usize::from(!e.variants.is_empty());
        let phones = |w: Vec<(String, Vec<String>)>| -> Vec<String> {
            w.into_iter().flat_map(|(_, p)| p).collect()
        };
        let espeak = phones(
            tts.phonemize_uncorrected(&e.word, Some("en-us"))
                .await
                .unwrap(),
        );
        let corrected = phones(tts.phonemize(&e.word, Some("en-us")).await.unwrap());
        let before = words_to_visemes(std::slice::from_ref(&espeak)).remove(0);
        let after = words_to_visemes(std::slice::from_ref(&corrected)).remove(0);
        raw.add(&before, truth);
        let d = fixed.add(&after, truth);
        raw_any.add_closest(&before, &truths);
        fixed_any.add_closest(&after, &truths);
        changed += usize::from(before != after);
        if d > 0 && misses.len() < 12 {
            misses.push(format!(
                "{}: CMU {} | corrected {} | espeak {} ({})",
                e.word,
                names(truth),
                names(&after),
                names(&before),
                espeak.join(" ")
            ));
        }
    }
    let n = held.len();
    println!(
        "(b) text→viseme accuracy against the CMU dictionary ({} alphabetic entries): split by FNV-1a hash of the word, held out = hash % {} == 0 ({held_total} words, of which {} the older vowel normalisation was looked up on are left out: {n} evaluated); training = all other words ({}), read only by examples/train_g2p_corrections.rs",
        entries.len(),
        cmu::HELD_OUT_MODULUS,
        held_total - n,
        entries.len() - held_total
    );
    println!("  scored against each word's first listed pronunciation:");
    raw.print("espeak-ng alone (baseline)", n, false);
    fixed.print(
        "espeak-ng + learned correction (LocalTts::phonemize, the product path)",
        n,
        false,
    );
    println!(
        "  scored against the closest of each word's listed pronunciations, as Sequitur G2P's evaluator scores a word with several references (the goal's scoring; {with_variants} of the {n} words list more than one, e.g. \"either\"):"
    );
    raw_any.print("espeak-ng alone (baseline)", n, false);
    fixed_any.print(
        "espeak-ng + learned correction (LocalTts::phonemize, the product path)",
        n,
        true,
    );
    println!(
        "    the correction changed the visemes of {changed}/{n} words; exact words {:+.1} points, per-viseme {:+.1} points",
        (fixed.exact as f64 - raw.exact as f64) * 100.0 / n as f64,
        (raw.dist as f64 - fixed.dist as f64) * 100.0 / raw.len.max(1) as f64
    );
    println!("    first differences (corrected vs CMU):");
    for m in misses {
        println!("      {m}");
    }
}

struct Clip {
    samples: Vec<f32>,
    rate: u32,
    truth: Timeline,
}

async fn clips(items: &[corpus::Item], voice: Option<&'static str>) -> Vec<Clip> {
    let tts = LocalTts::new();
    let mut out = Vec::new();
    for item in items {
        let req = SpeechRequest {
            text: item.text.clone(),
            voice: Some(voice.unwrap_or(item.voice).into()),
            speed: Some(item.speed),
            pitch: None,
        };
        let s = tts.synthesize(&req).await.unwrap();
        out.push(Clip {
            samples: s.samples.iter().map(|&x| f32::from(x) / 32768.0).collect(),
            rate: s.sample_rate,
            truth: s.visemes,
        });
    }
    out
}

fn score(model: &audio::Model, clips: &[Clip]) -> (f64, f32) {
    let (mut right, mut frames) = (0.0f64, 0.0f64);
    let mut onsets = Vec::new();
    for c in clips {
        let pred = audio::predict(model, &c.samples, c.rate);
        let n = c.truth.cues.last().map_or(0, |l| l.end.div_ceil(HOP_MS)) as f64;
        right += f64::from(audio::frame_accuracy(&pred, &c.truth, HOP_MS)) * n;
        frames += n;
        onsets.extend(audio::onset_errors_ms(&pred, &c.truth));
    }
    onsets.sort_by(f32::total_cmp);
    (
        right / frames.max(1.0),
        onsets
            .get(onsets.len() / 2)
            .copied()
            .unwrap_or(f32::INFINITY),
    )
}

async fn audio_accuracy() {
    let Some(model) = audio_model() else {
        println!(
            "(c) audio→viseme accuracy: no model in data/audio_viseme_model.json; run examples/train_audio_visemes"
        );
        return;
    };
    let (_, held) = corpus::corpus();
    let same = clips(&held, None).await;
    let audio_s: f64 = same
        .iter()
        .map(|c| c.samples.len() as f64 / f64::from(c.rate))
        .sum();
    let t = Instant::now();
    let (acc, onset) = score(model, &same);
    let took = t.elapsed().as_secs_f64();
    println!(
        "(c) audio→viseme, shipped model, {} held-out sentences ({audio_s:.0} s; never in training), truth = the engine's own timeline:",
        held.len()
    );
    println!(
        "    training voices: frame accuracy {:.1}% (goal >= 70%), median onset error {onset:.0} ms (goal <= 40 ms); {:.0}x realtime",
        acc * 100.0,
        audio_s / took
    );
    for voice in corpus::UNSEEN_VOICES {
        let other = clips(&held, Some(voice)).await;
        let (acc, onset) = score(model, &other);
        println!(
            "    unseen voice {voice}: frame accuracy {:.1}%, median onset error {onset:.0} ms",
            acc * 100.0
        );
    }

    // Real speech has no true timeline here; the transcript timed to the
    // audio (see (d)) is a rough stand-in, so this is only a hint of how far
    // the synthetic training carries.
    let jfk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/jfk.wav");
    if let Ok(bytes) = std::fs::read(&jfk) {
        let (samples, rate) = decode_wav(&bytes).unwrap();
        let text = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.";
        let (fitted, _, _) =
            visemes_for(&samples, rate, Some(text), Timing::None, Some("en-us")).await;
        let clip = Clip {
            samples: samples.iter().map(|&x| f32::from(x) / 32768.0).collect(),
            rate,
            truth: fitted,
        };
        let (acc, onset) = score(model, std::slice::from_ref(&clip));
        println!(
            "    real speech (jfk.wav, 11 s), against the transcript timed to the audio by visemes_for (a stand-in, not a true timeline): agreement {:.1}%, median onset distance {onset:.0} ms",
            acc * 100.0
        );
    }
}

/// Held-out sentences spoken by other voices at other rates, after 300 ms
/// of silence, stand in for cloud audio whose true timeline is known.
async fn text_alignment() {
    let (_, held) = corpus::corpus();
    let tts = LocalTts::new();
    println!(
        "(d) audio with text but no timings (the cloud path, viseme_source \"g2p\"), {} held-out sentences per voice, truth = that voice's own timeline:",
        held.len()
    );
    for (voice, speed) in [("en-gb+f3", 1.25f32), ("en-us+m3", 0.8), ("en-029", 1.0)] {
        let (mut dtw_right, mut fit_right, mut total) = (0.0, 0.0, 0.0);
        let (mut dtw_onsets, mut fit_onsets) = (Vec::new(), Vec::new());
        for item in &held {
            let req = SpeechRequest {
                text: item.text.clone(),
                voice: Some(voice.into()),
                speed: Some(speed),
                pitch: None,
            };
            let s = tts.synthesize(&req).await.unwrap();
            let lead = s.sample_rate as usize * 3 / 10;
            let mut samples = vec![0i16; lead];
            samples.extend(&s.samples);
            let mut truth = s.visemes.clone();
            for c in &mut truth.cues {
                c.start += 300;
                c.end += 300;
            }
            truth.cues[0].start = 0;
            let dur = (samples.len() as u64 * 1000 / u64::from(s.sample_rate)) as u32;
            let (aligned, _, _) = visemes_for(
                &samples,
                s.sample_rate,
                Some(&item.text),
                Timing::None,
                Some("en"),
            )
            .await;
            let words = tts.phonemize(&item.text, Some("en-us")).await.unwrap();
            let (fitted, _) = fit_phonemes(&words, dur, None, speech_span(&samples, s.sample_rate));
            let w = f64::from(dur);
            dtw_right += f64::from(audio::frame_accuracy(&aligned, &truth, HOP_MS)) * w;
            fit_right += f64::from(audio::frame_accuracy(&fitted, &truth, HOP_MS)) * w;
            total += w;
            dtw_onsets.extend(audio::onset_errors_ms(&aligned, &truth));
            fit_onsets.extend(audio::onset_errors_ms(&fitted, &truth));
        }
        let median = |v: &mut Vec<f32>| {
            v.sort_by(f32::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f32::INFINITY)
        };
        println!(
            "    {voice} at {speed}x: aligned to espeak's reading {:.1}% frames, median onset error {:.0} ms; phonemes fitted to the speech span {:.1}%, {:.0} ms",
            dtw_right / total * 100.0,
            median(&mut dtw_onsets),
            fit_right / total * 100.0,
            median(&mut fit_onsets)
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // `SPEECH_BENCH=ab` runs parts (a) and (b) only: what a change to the
    // G2P correction needs, without the minutes of the audio parts.
    let parts = std::env::var("SPEECH_BENCH").unwrap_or_else(|_| "abcd".into());
    rt.block_on(async {
        if parts.contains('a') {
            speed(&tokio::runtime::Handle::current()).await;
        }
        if parts.contains('b') {
            cmu_accuracy().await;
        }
        if parts.contains('c') {
            audio_accuracy().await;
        }
        if parts.contains('d') {
            text_alignment().await;
        }
    });
}
