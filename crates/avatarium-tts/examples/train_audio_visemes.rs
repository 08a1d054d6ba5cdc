//! Trains the audio→viseme model shipped in `data/audio_viseme_model.json`:
//! synthesises the corpus of `shared/corpus.rs` with the local espeak-ng
//! voice (several English voices and variants, three rates), trains on the
//! engine's own viseme timelines, evaluates on the held-out sentences, and
//! writes the model.
//!
//! ```sh
//! cargo run --release -p avatarium-tts --example train_audio_visemes
//! cargo run --release -p avatarium-tts --example train_audio_visemes -- --epochs 5 --out /tmp/m.json
//! ```

#[path = "shared/corpus.rs"]
mod corpus;

use std::time::Instant;

use avatarium_lipsync::Timeline;
use avatarium_lipsync::audio::{self, TrainOptions};
use avatarium_tts::local::LocalTts;
use avatarium_tts::{SpeechRequest, TtsEngine};

struct Clip {
    samples: Vec<f32>,
    rate: u32,
    truth: Timeline,
}

async fn synthesise(tts: &LocalTts, items: &[corpus::Item]) -> Vec<Clip> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let req = SpeechRequest {
            text: item.text.clone(),
            voice: Some(item.voice.into()),
            speed: Some(item.speed),
            pitch: None,
        };
        let s = tts.synthesize(&req).await.expect("synthesis");
        out.push(Clip {
            samples: s.samples.iter().map(|&x| f32::from(x) / 32768.0).collect(),
            rate: s.sample_rate,
            truth: s.visemes,
        });
    }
    out
}

/// A copy of a clip as it might arrive from elsewhere: quieter or louder,
/// under steady background noise (white or low-passed) at 12–35 dB SNR,
/// sometimes muffled, so the model learns that noise is not a mouth shape
/// and that level alone does not mean speech. Seeded per clip.
fn augmented(clip: &Clip, seed: u64) -> Clip {
    let mut r = corpus::Rng::new(seed);
    let unit = |r: &mut corpus::Rng| (r.next_u64() >> 11) as f32 / (1u64 << 53) as f32;
    let gain = 10f32.powf((unit(&mut r) * 26.0 - 20.0) / 20.0);
    let rms =
        (clip.samples.iter().map(|x| x * x).sum::<f32>() / clip.samples.len().max(1) as f32).sqrt();
    let snr_db = 12.0 + unit(&mut r) * 23.0;
    let noise_rms = rms / 10f32.powf(snr_db / 20.0);
    let coloured = r.below(2) == 0;
    let muffled = r.below(3) == 0;
    let (mut lp_noise, mut lp_sig) = (0.0f32, 0.0f32);
    let samples = clip
        .samples
        .iter()
        .map(|&x| {
            let x = if muffled {
                lp_sig += 0.35 * (x - lp_sig);
                lp_sig
            } else {
                x
            };
            // Uniform noise has an RMS of 1/sqrt(3) of its peak.
            let mut n = (unit(&mut r) * 2.0 - 1.0) * 1.732 * noise_rms;
            if coloured {
                lp_noise += 0.1 * (n - lp_noise);
                n = lp_noise * 3.0;
            }
            ((x + n) * gain).clamp(-1.0, 1.0)
        })
        .collect();
    Clip {
        samples,
        rate: clip.rate,
        truth: clip.truth.clone(),
    }
}

/// Frame accuracy over all held-out audio, and the median onset error.
fn evaluate(model: &audio::Model, clips: &[Clip]) -> (f64, f32) {
    let (mut right, mut frames) = (0.0f64, 0.0f64);
    let mut onsets = Vec::new();
    for c in clips {
        let pred = audio::predict(model, &c.samples, c.rate);
        let n = c
            .truth
            .cues
            .last()
            .map_or(0, |l| l.end.div_ceil(audio::HOP_MS)) as f64;
        right += f64::from(audio::frame_accuracy(&pred, &c.truth, audio::HOP_MS)) * n;
        frames += n;
        onsets.extend(audio::onset_errors_ms(&pred, &c.truth));
    }
    onsets.sort_by(f32::total_cmp);
    let median = onsets
        .get(onsets.len() / 2)
        .copied()
        .unwrap_or(f32::INFINITY);
    (right / frames.max(1.0), median)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut opts = TrainOptions::default();
    if let Some(e) = arg("--epochs") {
        opts.epochs = e.parse().expect("--epochs N");
    }
    if let Some(h) = arg("--hidden") {
        opts.hidden = h.parse().expect("--hidden N");
    }
    let out = arg("--out").unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/data/audio_viseme_model.json").to_owned()
    });

    let (train_items, held_items) = corpus::corpus();
    let tts = LocalTts::new();
    let t = Instant::now();
    let train = synthesise(&tts, &train_items).await;
    let held = synthesise(&tts, &held_items).await;
    let secs = |clips: &[Clip]| {
        clips
            .iter()
            .map(|c| c.samples.len() as f64 / f64::from(c.rate))
            .sum::<f64>()
    };
    println!(
        "corpus: {} training sentences ({:.0} s of audio), {} held out ({:.0} s); voices {:?}, speeds {:?}; synthesised in {:.1} s",
        train.len(),
        secs(&train),
        held.len(),
        secs(&held),
        corpus::VOICES,
        corpus::SPEEDS,
        t.elapsed().as_secs_f64()
    );

    let augment = !args.iter().any(|a| a == "--no-augment");
    let mut train = train;
    if augment {
        let copies: Vec<Clip> = train
            .iter()
            .enumerate()
            .map(|(i, c)| augmented(c, 0xA0 + i as u64))
            .collect();
        train.extend(copies);
        println!(
            "augmented: every training sentence also with noise, gain and muffling ({} clips)",
            train.len()
        );
    }
    let held_noisy: Vec<Clip> = held
        .iter()
        .enumerate()
        .map(|(i, c)| augmented(c, 0xB0_0000 + i as u64))
        .collect();

    let t = Instant::now();
    let examples: Vec<(&[f32], u32, &Timeline)> = train
        .iter()
        .map(|c| (c.samples.as_slice(), c.rate, &c.truth))
        .collect();
    println!("training: {opts:?}");
    let model = audio::train(&examples, &opts);
    println!("trained in {:.1} s", t.elapsed().as_secs_f64());

    let (acc_train, onset_train) = evaluate(&model, &train[..train.len().min(150)]);
    let (acc, onset) = evaluate(&model, &held);
    let (acc_noisy, onset_noisy) = evaluate(&model, &held_noisy);
    println!(
        "training sentences (first 150): frame accuracy {:.1}%, median onset error {onset_train:.0} ms",
        acc_train * 100.0
    );
    println!(
        "held-out sentences: frame accuracy {:.1}% (goal >= 70%), median onset error {onset:.0} ms (goal <= 40 ms)",
        acc * 100.0
    );
    println!(
        "held-out sentences with noise: frame accuracy {:.1}%, median onset error {onset_noisy:.0} ms",
        acc_noisy * 100.0
    );

    let json = serde_json::to_string(&model).expect("model serialises");
    std::fs::write(&out, &json).expect("write the model");
    println!("wrote {out} ({} kB)", json.len() / 1024);
}
