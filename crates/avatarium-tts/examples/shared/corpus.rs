//! A deterministic corpus of varied English sentences, from templates and
//! word lists, for training the audio→viseme model
//! (`examples/train_audio_visemes.rs`) and for the held-out evaluation in
//! `benches/speech.rs`. Both include this file, so they agree on which
//! sentences were held out.
//!
//! The word lists cover every English phoneme in several positions (th,
//! sh, ch/j, zh in "measure", ng, the diphthongs, r-coloured vowels), and
//! the templates mix statements, questions, exclamations, lists, numbers
//! and pauses, so the model sees the mouth shapes in many contexts.

#![allow(dead_code)]

/// The sentences, how many of them train the model (the rest are held out),
/// and the voices and rates they are spoken with.
pub const TOTAL_SENTENCES: usize = 900;
pub const HELD_OUT: usize = 120;
pub const VOICES: &[&str] = &[
    "en-us", "en-gb", "en-us+f3", "en-us+m3", "en-gb+f2", "en-us+f5", "en-gb+m1", "en-us+m7",
];
/// Voices never used in training, to see how the model carries over.
pub const UNSEEN_VOICES: &[&str] = &["en-us+f4", "en-gb-x-rp", "en-029+m5"];
/// espeak's `speed` multipliers (1.0 = 175 words per minute).
pub const SPEEDS: &[f32] = &[0.85, 1.0, 1.2];

const NAMES: &[&str] = &[
    "Anna",
    "Bob",
    "Charlotte",
    "David",
    "Eve",
    "Frank",
    "George",
    "Hannah",
    "Isaac",
    "Julia",
    "Kevin",
    "Laura",
    "Michael",
    "Nora",
    "Oliver",
    "Paula",
    "Quentin",
    "Rachel",
    "Samuel",
    "Thomas",
    "Ursula",
    "Victor",
    "William",
    "Yvonne",
    "Zachary",
    "Joy",
    "Shaun",
    "Theo",
    "Vivian",
    "Martha",
];
const ADJECTIVES: &[&str] = &[
    "quiet",
    "bright",
    "heavy",
    "shiny",
    "yellow",
    "enormous",
    "tiny",
    "cheerful",
    "gloomy",
    "thoughtful",
    "careful",
    "broken",
    "smooth",
    "rough",
    "warm",
    "frozen",
    "ancient",
    "modern",
    "pleasant",
    "strange",
    "busy",
    "lazy",
    "lovely",
    "royal",
    "purple",
    "golden",
    "noisy",
    "fresh",
    "juicy",
    "thirsty",
    "curious",
    "usual",
    "vivid",
    "beautiful",
    "awkward",
    "foolish",
    "wooden",
    "bitter",
    "sweet",
    "sharp",
];
const NOUNS: &[&str] = &[
    "cat", "dog", "house", "garden", "engine", "window", "bottle", "mountain", "river", "teacher",
    "doctor", "machine", "picture", "bridge", "village", "feather", "voice", "judge", "church",
    "sheep", "thunder", "measure", "treasure", "orange", "boy", "cloud", "mouth", "book", "foot",
    "moon", "boat", "nurse", "bird", "car", "chair", "square", "ring", "song", "kitchen", "violin",
    "umbrella", "zebra", "vision", "pleasure", "oyster", "jacket", "whistle", "wagon", "yacht",
    "fountain",
];
const PLURALS: &[&str] = &[
    "apples", "letters", "pebbles", "houses", "shoes", "friends", "horses", "clocks", "boxes",
    "matches", "thoughts", "ideas", "windows", "coins", "toys", "flowers", "books", "chairs",
    "birds", "mirrors",
];
const VERBS: &[&str] = &[
    "bring", "carry", "watch", "fix", "paint", "open", "close", "measure", "judge", "push", "pull",
    "throw", "catch", "share", "wash", "visit", "move", "check", "choose", "join", "thank",
    "borrow", "follow", "enjoy", "remember",
];
const PAST: &[&str] = &[
    "found",
    "bought",
    "brought",
    "painted",
    "opened",
    "watched",
    "fixed",
    "pushed",
    "pulled",
    "threw",
    "caught",
    "shared",
    "washed",
    "visited",
    "moved",
    "checked",
    "chose",
    "joined",
    "thanked",
    "borrowed",
    "followed",
    "enjoyed",
    "remembered",
    "measured",
    "judged",
    "sold",
    "lost",
    "took",
    "gave",
    "saw",
];
const PLACES: &[&str] = &[
    "in the kitchen",
    "near the station",
    "behind the church",
    "under the bridge",
    "at the market",
    "on the roof",
    "by the river",
    "in the garage",
    "across the street",
    "through the forest",
    "beside the fountain",
    "inside the museum",
    "at the edge of town",
    "on the ship",
    "in the valley",
];
const TIMES: &[&str] = &[
    "yesterday",
    "this morning",
    "last Thursday",
    "every evening",
    "at midnight",
    "on Sunday",
    "tomorrow",
    "in the summer",
    "twice a week",
    "right now",
    "at half past seven",
    "in June",
];
const ADVERBS: &[&str] = &[
    "quickly",
    "slowly",
    "happily",
    "carefully",
    "quietly",
    "loudly",
    "gently",
    "rarely",
    "usually",
    "honestly",
    "suddenly",
    "smoothly",
];
const EXCLAMATIONS: &[&str] = &[
    "Oh no",
    "Wow",
    "Look out",
    "Good heavens",
    "Well done",
    "Oh my",
    "Hooray",
    "Watch out",
    "Thank you",
    "Hey",
];

/// SplitMix64, so the corpus is the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn sentence(r: &mut Rng) -> String {
    match r.below(14) {
        0 => format!(
            "The {} {} {} the {} {} {}.",
            r.pick(ADJECTIVES),
            r.pick(NOUNS),
            r.pick(PAST),
            r.pick(ADJECTIVES),
            r.pick(NOUNS),
            r.pick(PLACES)
        ),
        1 => format!(
            "{} {} {} {} {}.",
            r.pick(NAMES),
            r.pick(PAST),
            2 + r.below(97),
            r.pick(PLURALS),
            r.pick(TIMES)
        ),
        2 => format!(
            "Could you {} the {} {}, please?",
            r.pick(VERBS),
            r.pick(NOUNS),
            r.pick(PLACES)
        ),
        3 => format!(
            "{}, {}! The {} is {}.",
            r.pick(EXCLAMATIONS),
            r.pick(NAMES),
            r.pick(NOUNS),
            r.pick(ADJECTIVES)
        ),
        4 => format!(
            "I think {} should {} the {} {}.",
            r.pick(NAMES),
            r.pick(VERBS),
            r.pick(NOUNS),
            r.pick(ADVERBS)
        ),
        5 => format!(
            "Why did the {} {} {} {}?",
            r.pick(NOUNS),
            r.pick(VERBS),
            r.pick(PLURALS),
            r.pick(TIMES)
        ),
        6 => format!(
            "We need {}, {}, and a {} {}.",
            r.pick(PLURALS),
            r.pick(PLURALS),
            r.pick(ADJECTIVES),
            r.pick(NOUNS)
        ),
        7 => format!(
            "{} {} said that the {} was {} {}.",
            capitalise(r.pick(TIMES)),
            r.pick(NAMES),
            r.pick(NOUNS),
            r.pick(ADVERBS),
            r.pick(ADJECTIVES)
        ),
        8 => format!(
            "Please {} my {} {} before {} arrives.",
            r.pick(VERBS),
            r.pick(ADJECTIVES),
            r.pick(NOUNS),
            r.pick(NAMES)
        ),
        9 => format!(
            "There were {} {} {} and nobody {} them.",
            3 + r.below(40),
            r.pick(ADJECTIVES),
            r.pick(PLURALS),
            r.pick(PAST)
        ),
        10 => format!(
            "{} and {} {} a {} {} {}.",
            r.pick(NAMES),
            r.pick(NAMES),
            r.pick(PAST),
            r.pick(ADJECTIVES),
            r.pick(NOUNS),
            r.pick(TIMES)
        ),
        11 => format!(
            "Is the {} really {}, or is it just {}?",
            r.pick(NOUNS),
            r.pick(ADJECTIVES),
            r.pick(ADJECTIVES)
        ),
        12 => format!(
            "{}, the {} {} {} {}.",
            capitalise(r.pick(ADVERBS)),
            r.pick(ADJECTIVES),
            r.pick(NOUNS),
            r.pick(PAST),
            r.pick(PLACES)
        ),
        _ => format!(
            "{} {} the {}. Then {} {} it {}.",
            r.pick(NAMES),
            r.pick(PAST),
            r.pick(NOUNS),
            r.pick(NAMES),
            r.pick(PAST),
            r.pick(PLACES)
        ),
    }
}

/// One spoken example: the text, the voice and the speed.
#[derive(Clone, Debug)]
pub struct Item {
    pub text: String,
    pub voice: &'static str,
    pub speed: f32,
}

/// `TOTAL_SENTENCES` distinct sentences, each with a voice and speed, split
/// into (training, held out). The held-out sentences never occur in
/// training.
pub fn corpus() -> (Vec<Item>, Vec<Item>) {
    let mut r = Rng::new(0xA7A7_2026);
    let mut seen = std::collections::HashSet::new();
    let mut items = Vec::with_capacity(TOTAL_SENTENCES);
    while items.len() < TOTAL_SENTENCES {
        let text = sentence(&mut r);
        if !seen.insert(text.clone()) {
            continue;
        }
        let i = items.len();
        items.push(Item {
            text,
            voice: VOICES[i % VOICES.len()],
            speed: SPEEDS[(i / VOICES.len()) % SPEEDS.len()],
        });
    }
    let held = items.split_off(TOTAL_SENTENCES - HELD_OUT);
    (items, held)
}
