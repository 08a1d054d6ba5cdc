//! Trains the learned correction of espeak-ng's American English reading
//! shipped in `data/g2p_corrections.json` (see
//! `avatarium_lipsync::correction`), against the CMU Pronouncing Dictionary
//! (`../shared/data/cmudict.dict` from the repository root; read here only,
//! never at run time and never copied into the project).
//!
//! The words held out by `shared/cmu.rs` (the benchmark's evaluation words)
//! are never read. Of the rest, a development part (a tenth, by hash)
//! picks the model's size (the best that fits in `MAX_BYTES`) and is where
//! the features were chosen; the shipped table is then trained on all
//! training words. The earlier decision list is fitted too, for
//! comparison.
//!
//! ```sh
//! cargo run --release -p avatarium-tts --example train_g2p_corrections
//! cargo run --release -p avatarium-tts --example train_g2p_corrections -- --cache /tmp/espeak.tsv --out /tmp/c.json
//! ```
//!
//! `--cache` keeps espeak's readings between runs (about 80 s to make);
//! `SHOW_MISSES=1` lists the training words still missed.
//!
//! `G2P_EXPLORE=1` fits on the training words without the development
//! part, prints the development scores and the most frequent label errors
//! (with `SHOW_MISSES=1`, the words missed) and stops; `G2P_WEIGHTED=1`
//! makes it the weighted model, `G2P_TEMPLATES` / `G2P_EXTRA` (see
//! `parse_templates`), `G2P_MIN_GAIN`, `G2P_EPOCHS`, `G2P_MIN_COUNT`,
//! `G2P_MIN_LABEL`, `G2P_SCALE`, `G2P_KEEP` (`60000` or `200000,60000`),
//! `G2P_PRUNE`, `G2P_MODELS` (perceptrons averaged) and `G2P_MARGIN`
//! change its settings.

#[path = "shared/cmu.rs"]
mod cmu;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use avatarium_lipsync::Viseme;
use avatarium_lipsync::correction::{
    Corrections, Example, Feature, TrainOptions, WeightedOptions, train, train_weighted,
};
use avatarium_lipsync::phonemes::words_to_visemes;
use avatarium_tts::local::LocalTts;

/// Model sizes (features kept) tried on the development words; the best
/// whose table fits in `MAX_BYTES` is shipped. Development per-viseme
/// accuracy, one plain perceptron: 94.09% without the wide letter windows
/// at 66k features (1 MB), 94.41% with them at 300k (3.6 MB), 94.43% at
/// 400k (4.4 MB, too big): the windows, not the size, are what gained.
/// The mean of eight perceptrons trained with a margin (see
/// `WeightedOptions`): 94.59% at 300k (3.5 MB).
const KEEPS: &[usize] = &[300_000];
/// A few MB of JSON parse in tens of milliseconds, once, at first use.
const MAX_BYTES: usize = 4 << 20;

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

/// Templates written `P0 L-1 E2 B3 PL VI VW` (phone, letter, ending,
/// beginning, place, vowel index, vowels), `;` between templates.
fn parse_templates(spec: &str) -> Vec<Vec<Feature>> {
    spec.split(';')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            t.split_whitespace()
                .map(|f| match f {
                    "PL" => Feature::Place,
                    "VI" => Feature::VowelIndex,
                    "VW" => Feature::Vowels,
                    _ => {
                        let (kind, k) = f.split_at(1);
                        let k: i8 = k.parse().unwrap_or_else(|_| panic!("bad feature {f}"));
                        match kind {
                            "P" => Feature::Phone(k),
                            "L" => Feature::Letter(k),
                            "E" => Feature::Ending(k as u8),
                            "B" => Feature::Beginning(k as u8),
                            "V" => Feature::Vowel(k),
                            _ => panic!("bad feature {f}"),
                        }
                    }
                })
                .collect()
        })
        .collect()
}

/// Exact words and per-viseme accuracy (1 - edit distance / reference
/// length), as the benchmark counts them; with `confusions`, the most
/// frequent (espeak phoneme, ours, reference) label errors.
fn scores(
    model: &Corrections,
    dev: &[Example],
    listed: &HashMap<String, Vec<Vec<Viseme>>>,
    confusions: usize,
) -> (f64, f64, f64) {
    let corrector = model.corrector();
    if confusions > 0 {
        let best = (0..5)
            .map(|_| {
                let t = Instant::now();
                for e in dev {
                    std::hint::black_box(corrector.correct(&e.spelling, &e.phonemes));
                }
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!(
            "  correction: {:.1} µs a word (best of 5)",
            best * 1e6 / dev.len().max(1) as f64
        );
    }
    let (mut exact, mut dist, mut len) = (0usize, 0usize, 0usize);
    let (mut any_dist, mut any_len) = (0usize, 0usize);
    let mut conf: HashMap<(String, String, String), usize> = HashMap::new();
    for e in dev {
        let fixed = corrector.correct(&e.spelling, &e.phonemes);
        let ours = words_to_visemes(std::slice::from_ref(&fixed)).remove(0);
        let d = cmu::edit_distance(&ours, &e.truth);
        exact += usize::from(d == 0);
        if d > 0 && confusions > 0 && std::env::var_os("SHOW_MISSES").is_some() {
            let names = |v: &[Viseme]| v.iter().map(|v| v.name()).collect::<Vec<_>>().join(" ");
            eprintln!(
                "MISS {}: CMU {} | ours {} | espeak {}",
                e.spelling,
                names(&e.truth),
                names(&ours),
                e.phonemes.join(" ")
            );
        }
        dist += d;
        len += e.truth.len();
        if let Some(all) = listed.get(&e.spelling) {
            let closest = cmu::closest(&ours, all);
            any_dist += cmu::edit_distance(&ours, closest);
            any_len += closest.len();
        }
        if confusions > 0 && d > 0 {
            let refs = avatarium_lipsync::correction::reference_labels(&e.phonemes, &e.truth);
            for ((p, f), r) in e.phonemes.iter().zip(&fixed).zip(refs) {
                let names = |v: &[Viseme]| v.iter().map(|v| v.name()).collect::<Vec<_>>().join(" ");
                let o = names(&avatarium_lipsync::phonemes::ipa_to_visemes(f));
                let r = names(&r);
                if o != r {
                    *conf.entry((p.clone(), o, r)).or_default() += 1;
                }
            }
        }
    }
    if confusions > 0 {
        let mut v: Vec<_> = conf.into_iter().collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.1));
        let total: usize = v.iter().map(|x| x.1).sum();
        println!("  label errors: {total}");
        for ((p, o, r), n) in v.into_iter().take(confusions) {
            println!("    {n:5}  {p:6} ours [{o}] cmu [{r}]");
        }
    }
    let n = dev.len().max(1) as f64;
    (
        exact as f64 / n,
        1.0 - dist as f64 / len.max(1) as f64,
        1.0 - any_dist as f64 / any_len.max(1) as f64,
    )
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
    // Development words are scored as the benchmark scores held-out ones:
    // against the first pronunciation, and against the closest listed.
    let by_word: HashMap<&str, &cmu::Entry> =
        training.iter().map(|e| (e.word.as_str(), *e)).collect();
    let dev_listed: HashMap<String, Vec<Vec<Viseme>>> = dev
        .iter()
        .map(|d| (d.spelling.clone(), by_word[d.spelling.as_str()].listed()))
        .collect();
    let fit: Vec<Example> = fit.into_iter().map(|(_, e)| e).collect();
    println!(
        "{} alphabetic CMU entries; {} held out (never read here), {} training words: {} to fit, {} to pick the threshold",
        entries.len(),
        entries.len() - training.len(),
        examples.len(),
        fit.len(),
        dev.len()
    );

    if std::env::var_os("G2P_EXPLORE").is_some() {
        let t = Instant::now();
        let mut opts = TrainOptions::default();
        // The weighted model starts from its own templates, as it ships.
        if std::env::var_os("G2P_WEIGHTED").is_some() {
            opts.templates = avatarium_lipsync::correction::weighted_templates();
        }
        if let Ok(spec) = std::env::var("G2P_TEMPLATES") {
            opts.templates = parse_templates(&spec);
        }
        if let Ok(extra) = std::env::var("G2P_EXTRA") {
            opts.templates.extend(parse_templates(&extra));
        }
        if let Some(g) = std::env::var("G2P_MIN_GAIN")
            .ok()
            .and_then(|g| g.parse().ok())
        {
            opts.min_gain = g;
        }
        let model = if std::env::var_os("G2P_WEIGHTED").is_some() {
            let mut w = WeightedOptions {
                templates: opts.templates.clone(),
                ..WeightedOptions::default()
            };
            let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f32>().ok());
            if let Some(v) = env("G2P_EPOCHS") {
                w.epochs = v as usize;
            }
            if let Some(v) = env("G2P_MIN_COUNT") {
                w.min_count = v as u32;
            }
            if let Some(v) = env("G2P_MIN_LABEL") {
                w.min_label = v as u32;
            }
            if let Some(v) = env("G2P_SCALE") {
                w.scale = v;
            }
            if let Ok(v) = std::env::var("G2P_KEEP") {
                w.keep = v.split(',').map(|k| k.parse().unwrap()).collect();
            }
            if let Some(v) = env("G2P_KEEP_POWER") {
                w.keep_power = v;
            }
            if let Some(v) = env("G2P_MAX_PAIRS") {
                w.max_pairs = v as usize;
            }
            if let Some(v) = env("G2P_PRUNE") {
                w.prune = v as i32;
            }
            if let Some(v) = env("G2P_MODELS") {
                w.models = v as usize;
            }
            if let Some(v) = env("G2P_MARGIN") {
                w.margin = v;
            }
            train_weighted(&fit, &w)
        } else {
            train(&fit, &opts)
        };
        let rules: usize = model.levels.iter().map(|l| l.rules.len()).sum::<usize>()
            + model
                .weighted
                .as_ref()
                .map_or(0, |w| w.tables.iter().map(|t| t.keys).sum());
        println!(
            "  json {} KB",
            serde_json::to_string(&model).unwrap().len() / 1024
        );
        let (e0, v0, a0) = scores(&Corrections::default(), &dev, &dev_listed, 0);
        let (e, v, a) = scores(&model, &dev, &dev_listed, 40);
        println!(
            "explore: {rules} rules, {:.1} s; dev exact {:.2}% per-viseme {:.2}%, closest listed {:.2}% (espeak alone {:.2}% / {:.2}% / {:.2}%)",
            t.elapsed().as_secs_f64(),
            e * 100.0,
            v * 100.0,
            a * 100.0,
            e0 * 100.0,
            v0 * 100.0,
            a0 * 100.0
        );
        return;
    }

    // The decision list (the earlier method) for comparison, then the
    // weighted model, both fitted without the development words.
    let t = Instant::now();
    let list = train(&fit, &TrainOptions::default());
    let (e, v, _) = scores(&list, &dev, &dev_listed, 0);
    println!(
        "  decision list (min_gain 2): development words exact {:.1}%, per-viseme {:.2}%, {:.1} s",
        e * 100.0,
        v * 100.0,
        t.elapsed().as_secs_f64()
    );
    let (e0, v0, _) = scores(&Corrections::default(), &dev, &dev_listed, 0);
    let opts = WeightedOptions::default();
    let mut best: Option<(f64, usize)> = None;
    for &keep in KEEPS {
        let t = Instant::now();
        let model = train_weighted(
            &fit,
            &WeightedOptions {
                keep: vec![keep],
                ..opts.clone()
            },
        );
        let size = serde_json::to_string(&model).unwrap().len();
        let (e, v, a) = scores(&model, &dev, &dev_listed, 0);
        let a_pct = a * 100.0;
        println!(
            "  weighted, {keep} features: {} KB, development words exact {:.1}%, per-viseme {:.2}%, closest listed {a_pct:.2}% (espeak alone {:.1}%, {:.2}%), {:.1} s",
            size / 1024,
            e * 100.0,
            v * 100.0,
            e0 * 100.0,
            v0 * 100.0,
            t.elapsed().as_secs_f64()
        );
        if size <= MAX_BYTES && best.is_none_or(|(b, _)| v > b) {
            best = Some((v, keep));
        }
    }
    let keep = best.map_or(KEEPS[0], |(_, k)| k);

    let all: Vec<Example> = examples.into_iter().map(|(_, e)| e).collect();
    let mut model = train_weighted(
        &all,
        &WeightedOptions {
            keep: vec![keep],
            ..opts.clone()
        },
    );
    model.about = format!(
        "Learned corrections of espeak-ng's en-us phonemes toward the CMU Pronouncing Dictionary's visemes: the mean of {} averaged perceptrons over context features, {keep} features kept; generated by crates/avatarium-tts/examples/train_g2p_corrections.rs from {} training words (CMU words whose FNV-1a hash is not 0 mod {}).",
        opts.models,
        all.len(),
        cmu::HELD_OUT_MODULUS,
    );
    let (raw, fixed) = exact_rate(&model, &all);
    let json = serde_json::to_string(&model).unwrap();
    std::fs::write(&out_path, &json).unwrap();
    println!(
        "wrote {} ({} KB, {keep} features); training words exact {:.1}% (espeak alone {:.1}%)",
        out_path.display(),
        json.len() / 1024,
        fixed * 100.0,
        raw * 100.0
    );
}
