//! The CMU Pronouncing Dictionary as the text→viseme reference, and its one
//! split into training and held-out words, shared by the generator of the
//! learned English correction (`examples/train_g2p_corrections.rs`) and
//! the benchmark (`benches/speech.rs`), so they agree on which words were
//! held out.
//!
//! The dictionary is read from `../shared/data/cmudict.dict` (from the
//! repository root) at training and benchmark time only; nothing of it is
//! copied into the project.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use avatarium_lipsync::Viseme;
use avatarium_lipsync::phonemes::{arpabet_to_ipa, words_to_visemes};

/// A word is held out when the FNV-1a hash of its lower-case spelling is
/// 0 modulo this.
pub const HELD_OUT_MODULUS: u64 = 40;
/// Words with a remainder in this range are the development set the
/// generator tunes its settings on (then it retrains on them too): a tenth
/// of the training words.
pub const DEV_REMAINDERS: std::ops::RangeInclusive<u64> = 1..=4;

pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn is_held_out(word: &str) -> bool {
    fnv1a(&word.to_ascii_lowercase()).is_multiple_of(HELD_OUT_MODULUS)
}

pub fn is_dev(word: &str) -> bool {
    DEV_REMAINDERS.contains(&(fnv1a(&word.to_ascii_lowercase()) % HELD_OUT_MODULUS))
}

pub fn path() -> Option<PathBuf> {
    // The repository root is two levels above this crate.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let p = root.join("../shared/data/cmudict.dict");
    p.exists().then_some(p)
}

/// An entry: the word (lower case), its first pronunciation in ARPAbet and
/// any others the dictionary lists for it.
pub struct Entry {
    pub word: String,
    pub arpabet: Vec<String>,
    pub variants: Vec<Vec<String>>,
}

/// Purely alphabetic words in file order, each with its pronunciations
/// ("word(2)" lines are alternatives of "word"; "# …" are comments).
pub fn entries(dict: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut index = std::collections::HashMap::<String, usize>::new();
    for line in dict.lines() {
        let Some(line) = line.split(" #").next().map(str::trim) else {
            continue;
        };
        let Some((word, pron)) = line.split_once(' ') else {
            continue;
        };
        let (base, variant) = match word.split_once('(') {
            Some((base, n)) if n.ends_with(')') => (base, true),
            _ => (word, false),
        };
        if !base.chars().all(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        let base = base.to_ascii_lowercase();
        let arpabet: Vec<String> = pron.split_whitespace().map(str::to_owned).collect();
        match (variant, index.get(&base)) {
            (true, Some(&i)) => out[i].variants.push(arpabet),
            (true, None) => {}
            (false, _) => {
                index.insert(base.clone(), out.len());
                out.push(Entry {
                    word: base,
                    arpabet,
                    variants: Vec::new(),
                });
            }
        }
    }
    out
}

/// CMU's visemes for a pronunciation, through the product's own table.
pub fn visemes(arpabet: &[String]) -> Vec<Viseme> {
    let ipa: Vec<String> = arpabet
        .iter()
        .map(|p| {
            arpabet_to_ipa(p)
                .unwrap_or_else(|| panic!("unknown ARPAbet {p}"))
                .to_owned()
        })
        .collect();
    words_to_visemes(&[ipa]).remove(0)
}

impl Entry {
    /// Every listed pronunciation's visemes, the first listing first.
    pub fn listed(&self) -> Vec<Vec<Viseme>> {
        std::iter::once(&self.arpabet)
            .chain(&self.variants)
            .map(|p| visemes(p))
            .collect()
    }
}

/// Levenshtein distance.
pub fn edit_distance(a: &[Viseme], b: &[Viseme]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(x != y))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The listing closest to `ours` (the first on a tie): what a word is
/// scored against when the dictionary lists it more than one way, as
/// Sequitur G2P's evaluator scores a word with several references.
pub fn closest<'a>(ours: &[Viseme], listed: &'a [Vec<Viseme>]) -> &'a [Viseme] {
    listed
        .iter()
        .min_by_key(|t| edit_distance(ours, t))
        .expect("a pronunciation")
}
