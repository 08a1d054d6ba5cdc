//! Trains the learned correction of espeak-ng's American English reading
//! shipped in `data/g2p_corrections.json` (see
//! `avatarium_lipsync::correction`), against the CMU Pronouncing Dictionary
//! (`../shared/data/cmudict.dict` from the repository root; read here only,
//! never at run time and never copied into the project).
//!
//! The words held out by `shared/cmu.rs` (the benchmark's evaluation words)
//! are never read. Of the rest, a development part (another hash bucket)
//! picks the rule threshold; the shipped table is then trained on all
//! training words.
//!
//! ```sh
//! cargo run --release -p avatarium-tts --example train_g2p_corrections
//! cargo run --release -p avatarium-tts --example train_g2p_corrections -- --cache /tmp/espeak.tsv --out /tmp/c.json
//! ```
//!
//! `--cache` keeps espeak's readings between runs (about 80 s to make);
//! `SHOW_MISSES=1` lists the development and training words still missed.

#[path = "shared/cmu.rs"]
mod cmu;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use avatarium_lipsync::Viseme;
use avatarium_lipsync::correction::{Corrections, Example, TrainOptions, train};
use avatarium_lipsync::phonemes::words_to_visemes;
use avatarium_tts::local::LocalTts;

/// Thresholds tried on the development words.
const MIN_GAINS: &[usize] = &[1, 2, 3, 5];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// espeak's uncorrected phonemes for every training word, read from (or
/// written to) `cache` when given: `word \t phonemes`.
async fn espeak_phonemes(words: &[&str], cache: Option<PathBuf>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(text) = cache.as_ref().and_then(|c| std::fs::read_to_string(c).ok()) {
        for line in text.lines() {
            if let Some((w, p)) = line.split_once('\t') {
                out.insert(w.to_owned(), p.split(' ').map(str::to_owned).collect());
            }
        }
        if words.iter().all(|w| out.contains_key(*w)) {
            eprintln!("espeak phonemes from the cache");
            return out;
        }
        out.clear();
    }
    let tts = LocalTts::new();
    let t = Instant::now();
    for w in words {
        let phones: Vec<String> = tts
            .phonemize_uncorrected(w, Some("en-us"))
            .await
            .expect("espeak-ng")
            .into_iter()
            .flat_map(|(_, p)| p)
            .collect();
        out.insert((*w).to_owned(), phones);
    }
    eprintln!(
        "espeak-ng read {} words in {:.1} s",
        words.len(),
        t.elapsed().as_secs_f64()
    );
    if let Some(c) = cache {
        let mut f = std::io::BufWriter::new(std::fs::File::create(c).unwrap());
        for w in words {
            writeln!(f, "{w}\t{}", out[*w].join(" ")).unwrap();
        }
    }
    out
}

fn exact_rate(model: &Corrections, dev: &[Example]) -> (f64, f64) {
    let corrector = model.corrector();
    let (mut raw, mut fixed) = (0usize, 0usize);
    for e in dev {
        let v = |p: &[String]| -> Vec<Viseme> { words_to_visemes(&[p.to_vec()]).remove(0) };
        raw += usize::from(v(&e.phonemes) == e.truth);
        let ours = v(&corrector.correct(&e.spelling, &e.phonemes));
        fixed += usize::from(ours == e.truth);
        if ours != e.truth && std::env::var_os("SHOW_MISSES").is_some() {
            let names = |v: &[Viseme]| v.iter().map(|v| v.name()).collect::<Vec<_>>().join(" ");
            eprintln!(
                "MISS {}: CMU {} | ours {} | espeak {}",
                e.spelling,
                names(&e.truth),
                names(&ours),
                e.phonemes.join(" ")
            );
        }
    }
    let n = dev.len().max(1) as f64;
    (raw as f64 / n, fixed as f64 / n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out_path = arg("--out").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/g2p_corrections.json"),
        PathBuf::from,
    );
    let dict_path = cmu::path().expect("../shared/data/cmudict.dict not found");
    let dict = std::fs::read_to_string(&dict_path).unwrap();
    let entries = cmu::entries(&dict);
    let training: Vec<&cmu::Entry> = entries
        .iter()
        .filter(|e| !cmu::is_held_out(&e.word))
        .collect();
    let words: Vec<&str> = training.iter().map(|e| e.word.as_str()).collect();
    let phonemes = espeak_phonemes(&words, arg("--cache").map(PathBuf::from)).await;
    let examples: Vec<(bool, Example)> = training
        .iter()
        .map(|e| {
            (
                cmu::is_dev(&e.word),
                Example {
                    spelling: e.word.clone(),
                    phonemes: phonemes[&e.word].clone(),
                    truth: cmu::visemes(&e.arpabet),
                },
            )
        })
        .filter(|(_, e)| !e.phonemes.is_empty())
        .collect();
    let (dev, fit): (Vec<_>, Vec<_>) = examples.iter().cloned().partition(|(d, _)| *d);
    let dev: Vec<Example> = dev.into_iter().map(|(_, e)| e).collect();
    let fit: Vec<Example> = fit.into_iter().map(|(_, e)| e).collect();
    println!(
        "{} alphabetic CMU entries; {} held out (never read here), {} training words: {} to fit, {} to pick the threshold",
        entries.len(),
        entries.len() - training.len(),
        examples.len(),
        fit.len(),
        dev.len()
    );

    let mut best = (0.0, MIN_GAINS[0]);
    for &min_gain in MIN_GAINS {
        let t = Instant::now();
        let opts = TrainOptions {
            min_gain,
            ..TrainOptions::default()
        };
        let model = train(&fit, &opts);
        let rules: usize = model.levels.iter().map(|l| l.rules.len()).sum();
        let (raw, fixed) = exact_rate(&model, &dev);
        println!(
            "  min_gain {min_gain}: {rules} rules, development words exact {:.1}% (espeak alone {:.1}%), {:.1} s",
            fixed * 100.0,
            raw * 100.0,
            t.elapsed().as_secs_f64()
        );
        if fixed > best.0 {
            best = (fixed, min_gain);
        }
    }

    let all: Vec<Example> = examples.into_iter().map(|(_, e)| e).collect();
    let opts = TrainOptions {
        min_gain: best.1,
        ..TrainOptions::default()
    };
    let mut model = train(&all, &opts);
    model.about = format!(
        "Learned corrections of espeak-ng's en-us phonemes toward the CMU Pronouncing Dictionary's visemes; generated by crates/avatarium-tts/examples/train_g2p_corrections.rs from {} training words (CMU words whose FNV-1a hash is not 0 mod {}), min_gain {}.",
        all.len(),
        cmu::HELD_OUT_MODULUS,
        best.1
    );
    let (raw, fixed) = exact_rate(&model, &all);
    let json = serde_json::to_string(&model).unwrap();
    std::fs::write(&out_path, &json).unwrap();
    let rules: usize = model.levels.iter().map(|l| l.rules.len()).sum();
    println!(
        "wrote {} ({} KB, {rules} rules, min_gain {}); training words exact {:.1}% (espeak alone {:.1}%)",
        out_path.display(),
        json.len() / 1024,
        best.1,
        fixed * 100.0,
        raw * 100.0
    );
}
